"""The video canvas: one decoded frame (and its ground truth) drawn with zoom and pan in a compare mode, plus
the on-screen display (transient messages, the stats box, buffering progress, the key help)."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetrics,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from .compare import difference, error_range, lut
from .decoder import Decoded
from .help import HelpOverlay
from .state import CompareMode, CompareState, DiffMode
from .view import ViewTransform

BACKGROUND = QColor(17, 18, 21)
_GRAB_PX = 6  # how close to the wipe divider a press grabs it


def to_qimage(array: np.ndarray) -> QImage:
    """A QImage viewing ``array`` (uint8 H×W×3, C-contiguous): the caller keeps the array alive."""
    h, w, _ = array.shape
    return QImage(array.data, w, h, 3 * w, QImage.Format.Format_RGB888)


class _Picture:
    """An array and the QImage that views it, kept together so the memory outlives the image."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = np.ascontiguousarray(array)
        self.image = to_qimage(self.array)


class Canvas(QWidget):
    double_clicked = Signal()

    def __init__(self, compare: CompareState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas")
        self.compare = compare
        compare.changed.connect(self._compare_changed)
        self.view = ViewTransform()
        self.frame: Decoded | None = None
        self._recon: _Picture | None = None
        self._truth: _Picture | None = None
        self._diff: tuple[tuple, _Picture] | None = None
        self.recon_label = "reconstruction"
        self.placeholder = "Drop a video or a .nerv file here"
        self.stats_lines: list[str] | None = None
        self.buffering: tuple[float, str] | None = None  # progress in [0, 1] and a line under it
        self.paint_ms = 0.0
        self._osd = ""
        self._osd_timer = QTimer(self, singleShot=True, interval=1600)
        self._osd_timer.timeout.connect(self._clear_osd)
        self._drag: str | None = None
        self._pane_count = 1
        self._last = QPointF()
        self.help = HelpOverlay(self)
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(160, 90)

    # --- content -------------------------------------------------------------------------------------------
    def set_frame(self, decoded: Decoded | None) -> None:
        self.frame = decoded
        self._recon = _Picture(decoded.image) if decoded is not None else None
        self._truth = _Picture(decoded.truth) if decoded is not None and decoded.truth is not None else None
        self._diff = None
        self.update()

    @property
    def displayed_index(self) -> int | None:
        return self.frame.index if self.frame is not None else None

    def show_osd(self, text: str) -> None:
        """A message over the video that fades after a moment (mpv's OSD)."""
        self._osd = text
        self._osd_timer.start()
        self.update()

    def _clear_osd(self) -> None:
        self._osd = ""
        self.update()

    def set_stats(self, lines: list[str] | None) -> None:
        self.stats_lines = lines
        self.update()

    def set_buffering(self, progress: float | None, detail: str = "") -> None:
        """Show buffering progress over the frame (None hides it)."""
        self.buffering = None if progress is None else (progress, detail)
        self.update()

    def _compare_changed(self) -> None:
        panes = len(self._panes())
        if panes != self._pane_count:  # one pane ↔ two: the old zoom and pan no longer mean the same
            self._pane_count = panes
            self.view.fit = True
        self.update()

    # --- zoom and pan --------------------------------------------------------------------------------------
    def zoom_fit(self) -> None:
        self.view.fit_view()
        self.update()

    def zoom_native(self) -> None:
        self._layout_view()
        self.view.one_to_one()
        self.update()

    def zoom_step(self, factor: float) -> None:
        pane = self._panes()[0]
        self._layout_view()
        self.view.zoom_at(pane.width() / 2, pane.height() / 2, factor)
        self.update()

    def _side_by_side(self) -> bool:
        return self.compare.mode is CompareMode.SIDE_BY_SIDE and self._truth is not None

    def _panes(self) -> list[QRect]:
        r = self.rect()
        if self._side_by_side():
            half = r.width() // 2
            return [QRect(0, 0, half, r.height()), QRect(half, 0, r.width() - half, r.height())]
        return [r]

    def _layout_view(self) -> None:
        if self._recon is not None:
            pane = self._panes()[0]
            h, w, _ = self._recon.array.shape
            self.view.layout(pane.width(), pane.height(), w, h)

    def _pane_at(self, pos: QPointF) -> QRect:
        return next((p for p in self._panes() if p.contains(pos.toPoint())), self._panes()[0])

    def _divider_x(self) -> float:
        w = self._recon.array.shape[1] if self._recon is not None else 0
        return self.view.to_view(self.compare.wipe * w, 0)[0]

    def _near_divider(self, pos: QPointF) -> bool:
        return (
            self.compare.mode is CompareMode.WIPE
            and self._truth is not None
            and abs(pos.x() - self._divider_x()) <= _GRAB_PX
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._recon is not None:
            self._drag = "wipe" if self._near_divider(event.position()) else "pan"
            self._last = event.position()
            if self._drag == "pan":
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag == "wipe" and self._recon is not None:
            ix, _ = self.view.to_image(pos.x(), 0)
            self.compare.set_wipe(ix / self._recon.array.shape[1])
        elif self._drag == "pan":
            self.view.pan(pos.x() - self._last.x(), pos.y() - self._last.y())
            self._last = pos
            self.update()
        else:
            shape = Qt.CursorShape.SplitHCursor if self._near_divider(pos) else Qt.CursorShape.ArrowCursor
            self.setCursor(shape)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None
        self.unsetCursor()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.double_clicked.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self._recon is None:
            return
        pane = self._pane_at(event.position())
        self._layout_view()
        steps = event.angleDelta().y() / 120
        self.view.zoom_at(event.position().x() - pane.x(), event.position().y() - pane.y(), 1.2**steps)
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        self.help.setGeometry(self.rect())

    # --- painting ------------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        started = time.perf_counter()
        self._paint(QPainter(self))
        self.paint_ms = (time.perf_counter() - started) * 1000

    def _paint(self, p: QPainter) -> None:
        p.fillRect(self.rect(), BACKGROUND)
        if self._recon is None:
            p.setPen(QColor(140, 146, 156))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            self._paint_osd(p)
            return
        self._layout_view()
        mode = self.compare.mode
        truth = self._truth
        if truth is None or mode is CompareMode.OFF:
            self._draw(p, self.rect(), self._recon.image)
            self._tag(
                p, self.rect(), self.recon_label if mode is CompareMode.OFF else "no ground truth to compare with"
            )
        elif mode is CompareMode.WIPE:
            x = round(self._divider_x())
            self._draw(p, self.rect(), truth.image, QRect(0, 0, x, self.height()))
            self._draw(p, self.rect(), self._recon.image, QRect(x, 0, self.width() - x, self.height()))
            self._paint_divider(p, x)
            self._tag(p, self.rect(), "ground truth")
            self._tag(p, self.rect(), self.recon_label, right=True)
        elif mode is CompareMode.SIDE_BY_SIDE:
            left, right = self._panes()
            self._draw(p, left, truth.image)
            self._draw(p, right, self._recon.image)
            p.fillRect(QRect(right.x() - 1, 0, 2, self.height()), QColor(0, 0, 0))
            self._tag(p, left, "ground truth")
            self._tag(p, right, self.recon_label)
        elif mode is CompareMode.DIFFERENCE:
            self._draw(p, self.rect(), self._difference(self._recon, truth).image)
            self._tag(p, self.rect(), f"difference · {self.compare.diff_mode.value}")
            self._paint_colorbar(p)
        else:  # flicker
            held = self.compare.holding_truth
            self._draw(p, self.rect(), truth.image if held else self._recon.image)
            self._tag(p, self.rect(), "ground truth" if held else f"{self.recon_label} · hold X for the ground truth")
        self._paint_stats(p)
        self._paint_buffering(p)
        self._paint_osd(p)

    def _difference(self, recon: _Picture, truth: _Picture) -> _Picture:
        key = (id(self.frame), self.compare.diff_mode)
        if self._diff is None or self._diff[0] != key:
            self._diff = key, _Picture(difference(recon.array, truth.array, self.compare.diff_mode))
        return self._diff[1]

    def _draw(self, p: QPainter, pane: QRect, image: QImage, clip: QRect | None = None) -> None:
        v = self.view
        p.save()
        p.setClipRect(pane if clip is None else clip.intersected(pane))
        p.translate(pane.x() + v.ox, pane.y() + v.oy)
        p.scale(v.scale, v.scale)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, v.scale < 3)
        p.drawImage(0, 0, image)
        p.restore()

    def _image_rect(self, pane: QRect) -> QRectF:
        """Where the frame lies in ``pane``, clipped to it."""
        h, w = self._recon.array.shape[:2] if self._recon is not None else (0, 0)
        v = self.view
        return QRectF(pane.x() + v.ox, pane.y() + v.oy, w * v.scale, h * v.scale).intersected(QRectF(pane))

    def _tag(self, p: QPainter, pane: QRect, text: str, right: bool = False) -> None:
        """A small label in a dark pill under a bottom corner of the frame (over it when there is no room)."""
        fm = p.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 16, fm.height() + 6
        area = self._image_rect(pane)
        x = area.right() - w if right else area.left()
        x = min(max(x, pane.x() + 8), pane.right() - w - 8)
        below = area.bottom() + 8
        y = below if below + h <= pane.bottom() - 4 else max(area.bottom() - h - 10, area.top() + 4)
        rect = QRectF(x, y, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(rect, 4, 4)
        p.setPen(QColor(235, 235, 235))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_divider(self, p: QPainter, x: int) -> None:
        area = self._image_rect(self.rect())
        p.setPen(QPen(QColor(255, 255, 255, 220), 1.5))
        p.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
        cy = area.center().y()
        p.setBrush(QColor(255, 255, 255, 230))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(QPointF(x, cy), 9, 9)
        p.setPen(QPen(QColor(40, 40, 40), 1.5))
        p.drawLine(QPointF(x - 4, cy), QPointF(x - 1, cy - 3))
        p.drawLine(QPointF(x - 4, cy), QPointF(x - 1, cy + 3))
        p.drawLine(QPointF(x + 4, cy), QPointF(x + 1, cy - 3))
        p.drawLine(QPointF(x + 4, cy), QPointF(x + 1, cy + 3))

    def _paint_colorbar(self, p: QPainter) -> None:
        mode: DiffMode = self.compare.diff_mode
        colors = lut(mode)
        bar = np.ascontiguousarray(np.repeat(colors[::-1, None, :], 2, axis=1))
        height = min(220, self.height() - 90)
        if height < 40:
            return
        fm = p.fontMetrics()
        rect = QRect(self.width() - 72, (self.height() - height) // 2, 14, height)
        panel = rect.adjusted(-22, -30, 58, 14)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(panel, 5, 5)
        p.drawImage(rect, to_qimage(bar))
        p.setPen(QColor(220, 220, 220))
        p.drawText(
            QRect(panel.x(), panel.y() + 6, panel.width(), fm.height()), Qt.AlignmentFlag.AlignCenter, "pixel error"
        )
        low, high = error_range(mode)
        for value in (high, (low + high) / 2, low):
            y = rect.bottom() - (value - low) / (high - low) * rect.height()
            p.drawLine(rect.right() + 1, round(y), rect.right() + 5, round(y))
            p.drawText(rect.right() + 8, round(y + fm.ascent() / 2 - 1), f"{value:+.0f}" if low < 0 else f"{value:.0f}")

    def _paint_stats(self, p: QPainter) -> None:
        if not self.stats_lines:
            return
        p.save()
        p.setFont(self._mono)
        fm = p.fontMetrics()
        w = max(fm.horizontalAdvance(s) for s in self.stats_lines) + 20
        h = fm.lineSpacing() * len(self.stats_lines) + 14
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 170))
        p.drawRoundedRect(QRectF(12, 12, w, h), 5, 5)
        p.setPen(QColor(230, 230, 230))
        for i, line in enumerate(self.stats_lines):
            p.drawText(22, 19 + fm.ascent() + i * fm.lineSpacing(), line)
        p.restore()

    def _paint_buffering(self, p: QPainter) -> None:
        """A streaming player's buffering card: the percentage, a bar and the decode rate, centred on the frame."""
        if self.buffering is None:
            return
        progress, detail = self.buffering
        p.save()
        small = p.fontMetrics()
        big = QFont(p.font())
        big.setPointSizeF(big.pointSizeF() * 1.5)
        big.setBold(True)
        title = f"Buffering {progress * 100:.0f} %"
        w = max(QFontMetrics(big).horizontalAdvance(title), small.horizontalAdvance(detail)) + 48
        h = QFontMetrics(big).height() + small.height() + 44
        card = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 185))
        p.drawRoundedRect(card, 8, 8)
        p.setFont(big)
        p.setPen(QColor(255, 255, 255))
        top = card.top() + 12
        p.drawText(QRectF(card.left(), top, w, QFontMetrics(big).height()), Qt.AlignmentFlag.AlignCenter, title)
        bar = QRectF(card.left() + 24, top + QFontMetrics(big).height() + 8, w - 48, 5)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(255, 255, 255, 60))
        p.drawRoundedRect(bar, 2.5, 2.5)
        p.setBrush(QColor(66, 133, 244))
        p.drawRoundedRect(QRectF(bar.left(), bar.top(), bar.width() * min(progress, 1.0), bar.height()), 2.5, 2.5)
        p.setFont(self.font())
        p.setPen(QColor(200, 204, 212))
        p.drawText(QRectF(card.left(), bar.bottom() + 8, w, small.height()), Qt.AlignmentFlag.AlignCenter, detail)
        p.restore()

    def _paint_osd(self, p: QPainter) -> None:
        if not self._osd:
            return
        p.save()
        font = QFont(p.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        p.setFont(font)
        fm = p.fontMetrics()
        w, h = fm.horizontalAdvance(self._osd) + 28, fm.height() + 14
        rect = QRectF((self.width() - w) / 2, 48, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 175))
        p.drawRoundedRect(rect, 6, 6)
        p.setPen(QColor(255, 255, 255))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, self._osd)
        p.restore()
