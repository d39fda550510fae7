"""The user's preferences, Qt-free: default device and precision of a fit, the decoded-frame cache size and key
bindings. The player's Preferences dialog and ``nervplayer settings`` both read and write them.

They live in one JSON file (:func:`nervplayer.paths.settings_file`), written atomically. A file that cannot be
read is reported in one line and the defaults are used; saving over it first keeps it as ``settings.json.bad``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .errors import ConfigError
from .paths import settings_file

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
MIN_CACHE_MB, MAX_CACHE_MB = 0, 1 << 20


@dataclass(frozen=True)
class Preferences:
    device: str = "auto"  # the fit panel's default device: auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # the fit panel's default precision: auto | fp32 | bf16 | fp16
    cache_mb: int = 512  # memory for decoded frames in the player
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)  # action id -> keys, where not the default

    def to_json(self) -> str:
        data = asdict(self)
        data["keys"] = {k: list(v) for k, v in sorted(self.keys.items())}
        return json.dumps(data, indent=2) + "\n"


def check(prefs: Preferences) -> Preferences:
    """``prefs`` if every value is valid; otherwise :class:`ConfigError` naming the first bad one."""
    if not _DEVICE.match(prefs.device):
        raise ConfigError(f"device {prefs.device!r}: use auto, cpu, cuda, cuda:N or mps")
    if prefs.precision not in PRECISIONS:
        raise ConfigError(f"precision {prefs.precision!r}: use one of {', '.join(PRECISIONS)}")
    if isinstance(prefs.cache_mb, bool) or not isinstance(prefs.cache_mb, int):
        raise ConfigError(f"cache_mb {prefs.cache_mb!r}: a whole number of megabytes")
    if not MIN_CACHE_MB <= prefs.cache_mb <= MAX_CACHE_MB:
        raise ConfigError(f"cache_mb {prefs.cache_mb}: between {MIN_CACHE_MB} and {MAX_CACHE_MB} MB")
    for action, keys in prefs.keys.items():
        if not isinstance(keys, tuple) or not all(isinstance(k, str) and k.strip() for k in keys):
            raise ConfigError(f"keys of {action!r}: a list of key names such as ['Space', 'P']")
    return prefs


def from_dict(data: Any) -> Preferences:
    """Preferences from parsed JSON; :class:`ConfigError` if it is not an object of valid values."""
    if not isinstance(data, dict):
        raise ConfigError("not a JSON object")
    known = {f.name for f in fields(Preferences)}
    values = {k: v for k, v in data.items() if k in known}  # keys of a newer version are ignored
    keys = values.get("keys", {})
    if not isinstance(keys, dict) or not all(isinstance(v, list) for v in keys.values()):
        raise ConfigError("keys: an object of action id -> list of keys")
    values["keys"] = {str(k): tuple(v) for k, v in keys.items()}
    return check(Preferences(**values))


def load(path: str | os.PathLike | None = None) -> tuple[Preferences, str | None]:
    """The saved preferences (defaults if there is no file) and, if the file is unusable, a line saying why
    (the defaults are then returned)."""
    path = Path(path) if path is not None else settings_file()
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # never saved (or its folder cannot exist: saving says so)
        return Preferences(), None
    except (OSError, UnicodeDecodeError) as e:
        return Preferences(), f"cannot read the settings file {path} ({e}); using the defaults"
    try:
        return from_dict(json.loads(text)), None
    except (ValueError, ConfigError) as e:  # JSONDecodeError is a ValueError
        return Preferences(), f"the settings file {path} is damaged ({e}); using the defaults"


def save(prefs: Preferences, path: str | os.PathLike | None = None) -> Path:
    """Write ``prefs`` atomically; an existing file that does not load is kept beside it as ``*.bad``."""
    path = Path(path) if path is not None else settings_file()
    check(prefs)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and load(path)[1] is not None:
        os.replace(path, path.with_name(path.name + ".bad"))
    atomic_write_text(path, prefs.to_json())
    return path


def parse_assignment(prefs: Preferences, assignment: str) -> Preferences:
    """Apply ``KEY=VALUE`` (``device=cuda``, ``cache_mb=1024``, ``keys.play=Space K``: keys separated by
    spaces) to ``prefs``; :class:`ConfigError` if the key or the value is not valid."""
    name, sep, value = assignment.partition("=")
    name, value = name.strip(), value.strip()
    if not sep:
        raise ConfigError(f"{assignment!r}: use KEY=VALUE, e.g. device=cpu")
    if name.startswith("keys."):
        keys = tuple(value.split())
        if not keys:
            raise ConfigError(f"{name}: give at least one key, or --unset {name} for the default")
        return check(replace(prefs, keys={**prefs.keys, name[5:]: keys}))
    if name == "cache_mb":
        try:
            return check(replace(prefs, cache_mb=int(value)))
        except ValueError:
            raise ConfigError(f"cache_mb {value!r}: a whole number of megabytes") from None
    if name == "device":
        return check(replace(prefs, device=value))
    if name == "precision":
        return check(replace(prefs, precision=value))
    raise ConfigError(f"unknown setting {name!r}; settings: device, precision, cache_mb, keys.ACTION")


def unset(prefs: Preferences, name: str) -> Preferences:
    """``name`` back to its default (``keys.ACTION``: the action table's keys)."""
    if name.startswith("keys."):
        return replace(prefs, keys={k: v for k, v in prefs.keys.items() if k != name[5:]})
    if name not in ("device", "precision", "cache_mb"):
        raise ConfigError(f"unknown setting {name!r}; settings: device, precision, cache_mb, keys.ACTION")
    return replace(prefs, **{name: getattr(Preferences(), name)})
