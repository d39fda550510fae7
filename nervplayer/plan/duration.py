"""Durations as people write them: ``90s``, ``10m``, ``1h30m``, ``1.5h``, ``45`` (seconds), ``2m30s``."""

from __future__ import annotations

import re

from ..errors import ConfigError

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)([hms])")
_SHORTEST = 1.0  # a budget below a second is a typo, not a plan


def parse_duration(text: str) -> float:
    """Seconds of ``text``: one or more ``<number><h|m|s>`` parts, each unit at most once and in that order, or
    a bare number of seconds. Anything else is a :class:`ConfigError` naming the accepted forms."""
    s = text.strip().lower().replace(" ", "")
    try:
        seconds = float(s)
        units = ""
    except ValueError:
        parts = _PART.findall(s)
        units = "".join(u for _, u in parts)
        ok = parts and "".join(n + u for n, u in parts) == s and units in ("hms", "hm", "hs", "ms", "h", "m", "s")
        if not ok:
            raise ConfigError(f"cannot read {text!r} as a duration; write e.g. 90s, 10m, 1h30m or 1.5h") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not (seconds >= _SHORTEST and seconds < float("inf")):
        raise ConfigError(f"a time budget must be at least {_SHORTEST:g} s, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``seconds`` as the plan line writes it: ``45 s``, ``9 min``, ``1 h 30 min``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h {m} min" if m else f"{h} h"
