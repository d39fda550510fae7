"""A check that the Qt binding is usable before any window opens.

PySide6 6.12.0 on Python < 3.12 returns None from every void method without taking a reference to it (on 3.12+
None is immortal, so it does not matter there). Each call such as ``QPainter.setPen`` takes one reference away
from None; after a few minutes of painting the interpreter aborts with "Fatal Python error: none_dealloc".
"""

from __future__ import annotations

import sys

from ..errors import NervError


def check_binding() -> None:
    """Raise :class:`NervError` naming the fix if the installed PySide6 drops references to None."""
    if sys.version_info >= (3, 12):
        return
    import PySide6
    from PySide6.QtCore import QPointF

    point = QPointF()
    before = sys.getrefcount(None)
    for _ in range(64):
        point.setX(1.0)
    if sys.getrefcount(None) < before - 32:
        raise NervError(
            f"PySide6 {PySide6.__version__} corrupts Python {sys.version_info.major}."
            f"{sys.version_info.minor}'s reference counts and would crash the player; install another "
            "version: pip install 'PySide6-Essentials>=6.6,<6.12'"
        )
