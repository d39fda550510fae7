"""Natural order for names people read: ``fusion2`` before ``fusion12``, ``frame_9.png`` before ``frame_10.png``."""

from __future__ import annotations

import re


def natural_key(name: str) -> list[int | str]:
    """Sort key splitting ``name`` into text (case-folded) and numbers (compared as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]
