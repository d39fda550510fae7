"""What the app remembers between sessions: recent files, the last frame of each and the window layout (an ini
file kept by QSettings), and the user's preferences (:mod:`nervplayer.settings`, a JSON file beside it).
Both live in platformdirs' config folder (``nervplayer paths``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from .. import settings as preferences
from ..paths import window_state_file
from ..settings import Preferences

MAX_RECENT = 10
MAX_POSITIONS = 200


class Settings:
    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store or QSettings(str(window_state_file()), QSettings.Format.IniFormat)
        self.prefs_file = Path(self.store.fileName()).with_name("settings.json")
        self.prefs, self.problem = preferences.load(self.prefs_file)  # problem: why the file was unusable

    def save_prefs(self, prefs: Preferences) -> None:
        """Keep ``prefs`` and write them (atomically); :class:`~nervplayer.errors.ConfigError` if not valid."""
        preferences.save(prefs, self.prefs_file)
        self.prefs = prefs

    # --- recent files: the newest first, paths that no longer exist dropped ---------------------------------
    def recent_files(self) -> list[str]:
        paths = [p for p in self._list("recent") if Path(p).exists()]
        self.store.setValue("recent", paths)
        return paths

    def add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        paths = [path] + [p for p in self._list("recent") if p != path]
        self.store.setValue("recent", paths[:MAX_RECENT])

    def _list(self, key: str) -> list[str]:
        value = self.store.value(key, [])
        if isinstance(value, str):  # QSettings gives a lone string for one-element lists
            value = [value]
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else []

    # --- the last frame shown of each file ------------------------------------------------------------------
    def _positions(self) -> dict[str, int]:
        try:
            return dict(json.loads(str(self.store.value("positions", "{}"))))
        except (ValueError, TypeError):
            return {}

    def last_frame(self, path: str) -> int:
        return int(self._positions().get(str(Path(path).resolve()), 0))

    def set_last_frame(self, path: str, frame: int) -> None:
        positions = self._positions()
        key = str(Path(path).resolve())
        positions.pop(key, None)
        positions[key] = int(frame)  # insertion order: the oldest are dropped first
        while len(positions) > MAX_POSITIONS:
            positions.pop(next(iter(positions)))
        self.store.setValue("positions", json.dumps(positions))

    # --- window layout --------------------------------------------------------------------------------------
    def layout(self) -> tuple[QByteArray | None, QByteArray | None]:
        return self.store.value("window/geometry"), self.store.value("window/state")

    def save_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)

    # --- options --------------------------------------------------------------------------------------------
    @property
    def cache_mb(self) -> int:
        return self.prefs.cache_mb

    @cache_mb.setter
    def cache_mb(self, megabytes: int) -> None:
        self.save_prefs(replace(self.prefs, cache_mb=int(megabytes)))
