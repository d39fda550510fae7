"""Frame index ↔ clock time. Positions are frame indices; time is only ever derived from them."""

from __future__ import annotations


def timecode(index: int, fps: float) -> str:
    """``HH:MM:SS.mmm`` of the start of frame ``index``."""
    ms = int(round(index * 1000 / fps)) if fps > 0 else 0
    s, ms = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"
