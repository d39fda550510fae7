"""Transport icons drawn with QPainter, so they are crisp on any style and readable on the dark theme."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap, QPolygonF

_SIZE = 64


def _triangle(p: QPainter, x0: float, x1: float) -> None:
    p.drawPolygon(QPolygonF([QPointF(x0, 12), QPointF(x1, 32), QPointF(x0, 52)]))


def _paint(name: str, p: QPainter) -> None:
    if name == "play":
        _triangle(p, 18, 50)
    elif name == "pause":
        p.drawRoundedRect(QRectF(16, 12, 11, 40), 2, 2)
        p.drawRoundedRect(QRectF(37, 12, 11, 40), 2, 2)
    elif name == "next":
        _triangle(p, 14, 42)
        p.drawRoundedRect(QRectF(43, 12, 7, 40), 2, 2)
    elif name == "previous":
        p.drawPolygon(QPolygonF([QPointF(50, 12), QPointF(22, 32), QPointF(50, 52)]))
        p.drawRoundedRect(QRectF(14, 12, 7, 40), 2, 2)
    elif name == "stop":
        p.drawRoundedRect(QRectF(16, 16, 32, 32), 3, 3)
    elif name == "save":
        p.drawRect(QRectF(28, 8, 8, 22))
        p.drawPolygon(QPolygonF([QPointF(18, 28), QPointF(46, 28), QPointF(32, 42)]))
        p.drawRoundedRect(QRectF(10, 46, 44, 8), 2, 2)
    else:
        raise KeyError(name)


@cache
def icon(name: str, color: str = "#e3e5e8") -> QIcon:
    """``play``, ``pause``, ``next``, ``previous``, ``stop`` or ``save``; disabled states are drawn dimmed."""
    result = QIcon()
    for mode, alpha in ((QIcon.Mode.Normal, 255), (QIcon.Mode.Disabled, 90)):
        pixmap = QPixmap(_SIZE, _SIZE)
        pixmap.fill(Qt.GlobalColor.transparent)
        p = QPainter(pixmap)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        c = QColor(color)
        c.setAlpha(alpha)
        p.setBrush(c)
        _paint(name, p)
        p.end()
        result.addPixmap(pixmap, mode)
    return result
