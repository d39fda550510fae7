"""The timeline: one cell per frame (so every position is an exact index), the A–B loop, the frames decoded
ahead (a streaming player's loaded bar, while a slow source buffers) and under it the per-frame PSNR strip (worst
frame per pixel column, taller and greener is better). A segmented file or fit adds a segment strip between the two:
one cell per segment, coloured by its PSNR once done (:data:`SEGMENT_DB`), grey while pending, blue while fitting,
dark red when failed; its tooltip names the segment's frames, size and PSNR. One segment shows no strip."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from ..segments.status import DONE, FAILED, FITTING, SegmentStatus
from .state import PlaybackState
from .timecode import timecode

_MARGIN = 8
_TRACK_H = 12
_STRIP_H = 18
_SEG_H = 8  # the segment strip, when shown
SEGMENT_DB = (20.0, 40.0)  # a segment's PSNR from red to green: absolute, so that segments of one file compare
_SEG_COLORS = {FITTING: QColor(66, 133, 244), FAILED: QColor(140, 30, 30)}
_PENDING = QColor(78, 80, 88)


def psnr_colors(t: np.ndarray) -> np.ndarray:
    """Red (worst) through amber to green (best) for ``t`` in [0, 1]; uint8 [..., 3]."""
    stops = np.array([[220, 60, 50], [240, 180, 60], [80, 190, 110]], dtype=np.float32)
    x = np.clip(t, 0, 1) * 2
    i = np.minimum(x.astype(int), 1)
    f = (x - i)[..., None]
    return (stops[i] * (1 - f) + stops[i + 1] * f).astype(np.uint8)


class Timeline(QWidget):
    scrubbed = Signal(int)

    def __init__(self, state: PlaybackState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.state = state
        self.psnr = np.full(state.num_frames, np.nan)
        self._strip: tuple[tuple, QImage, np.ndarray] | None = None
        self.loaded: np.ndarray | None = None  # bool per frame: decoded and ready to play
        self.segments: list[SegmentStatus] = []  # shown when there are two or more
        for event in (state.frame_changed, state.loop_changed):
            event.connect(lambda *_: self.update())
        state.clip_changed.connect(self._clip_changed)
        self.setMouseTracking(True)
        self.setFixedHeight(_TRACK_H + _STRIP_H + 16)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def _clip_changed(self) -> None:
        self.set_psnr(None)
        self.set_segments(None)

    # --- segment strip -------------------------------------------------------------------------------------
    def set_segments(self, segments: list[SegmentStatus] | None) -> None:
        """The segments of what plays (None or one segment: no strip)."""
        self.segments = list(segments or [])
        self.setFixedHeight(_TRACK_H + _STRIP_H + 16 + (_SEG_H + 4 if self.shows_segments else 0))
        self.update()

    def set_segment(self, k: int, status: SegmentStatus) -> None:
        """Segment ``k`` changed state (a segmented fit: pending, fitting, done with its PSNR, failed)."""
        if 0 <= k < len(self.segments) and self.segments[k] != status:
            self.segments[k] = status
            self.update()

    @property
    def shows_segments(self) -> bool:
        return len(self.segments) > 1

    def segment_at(self, frame: int) -> int | None:
        """The segment holding ``frame``, when the strip is shown."""
        if self.shows_segments:
            for k, s in enumerate(self.segments):
                if s.start <= frame < s.end:
                    return k
        return None

    def segment_color(self, k: int) -> QColor:
        s = self.segments[k]
        if s.state == DONE and s.psnr is not None:
            lo, hi = SEGMENT_DB
            r, g, b = psnr_colors(np.array((s.psnr - lo) / (hi - lo))).tolist()
            return QColor(r, g, b)
        if s.state == DONE:
            return QColor(150, 154, 164)
        return _SEG_COLORS.get(s.state, _PENDING)

    def tooltip(self, frame: int) -> str:
        value = self.psnr[frame] if frame < len(self.psnr) else np.nan
        text = f"frame {frame} · {timecode(frame, self.state.fps)}" + ("" if np.isnan(value) else f" · {value:.2f} dB")
        k = self.segment_at(frame)
        return text if k is None else f"{text}\n{self.segments[k].describe(k)}"

    # --- PSNR strip ----------------------------------------------------------------------------------------
    def set_psnr(self, values: np.ndarray | list[float] | None) -> None:
        """Per-frame PSNR (NaN where unknown); None clears it."""
        self.psnr = np.full(self.state.num_frames, np.nan)
        if values is not None:
            v = np.asarray(values, dtype=float)[: self.state.num_frames]
            self.psnr[: len(v)] = v
        self._strip = None
        self.update()

    def set_psnr_value(self, index: int, value: float) -> None:
        if 0 <= index < len(self.psnr) and self.psnr[index] != value:
            self.psnr[index] = value
            self._strip = None
            self.update()

    def set_loaded(self, indices: list[int] | None) -> None:
        """Mark the frames ready to play (None hides the loaded bar)."""
        if indices is None:
            if self.loaded is not None:
                self.loaded = None
                self.update()
            return
        loaded = np.zeros(self.state.num_frames, dtype=bool)
        kept = [i for i in indices if 0 <= i < len(loaded)]
        loaded[kept] = True
        if self.loaded is None or not np.array_equal(loaded, self.loaded):
            self.loaded = loaded
            self.update()

    def worst_frame(self) -> int | None:
        if np.all(np.isnan(self.psnr)):
            return None
        return int(np.nanargmin(self.psnr))

    # --- geometry ------------------------------------------------------------------------------------------
    def _usable(self) -> float:
        return max(self.width() - 2 * _MARGIN, 1)

    def x_of(self, frame: float) -> float:
        return _MARGIN + (frame + 0.5) * self._usable() / self.state.num_frames

    def frame_at(self, x: float) -> int:
        i = math.floor((x - _MARGIN) / self._usable() * self.state.num_frames)
        return min(max(i, 0), self.state.num_frames - 1)

    # --- input ---------------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.scrubbed.emit(self.frame_at(event.position().x()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        i = self.frame_at(event.position().x())
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.scrubbed.emit(i)
        QToolTip.showText(event.globalPosition().toPoint(), self.tooltip(i), self)

    # --- painting ------------------------------------------------------------------------------------------
    def _strip_image(self, width: int) -> QImage:
        key = (width, len(self.psnr))
        if self._strip is None or self._strip[0] != key:
            n = len(self.psnr)
            cols = np.arange(width)
            first = np.minimum((cols * n) // width, n - 1)
            last = np.maximum(((cols + 1) * n + width - 1) // width, first + 1)
            known = ~np.isnan(self.psnr)
            lo, hi = (np.nanmin(self.psnr), np.nanmax(self.psnr)) if known.any() else (0.0, 1.0)
            # each column's worst frame, NaN where none is known: one vectorized pass (a nanmin per column took
            # tens of ms of the GUI thread at each evaluation of a fit)
            span = np.arange(int((last - first).max()))[:, None]
            worst = np.fmin.reduce(self.psnr[np.minimum(first[None, :] + span, last[None, :] - 1)], axis=0)
            t = np.where(np.isnan(worst), 0, (worst - lo) / max(hi - lo, 1e-6))
            rgba = np.zeros((_STRIP_H, width, 4), dtype=np.uint8)
            heights = np.where(np.isnan(worst), 0, np.round(4 + t * (_STRIP_H - 4))).astype(int)
            rows = np.arange(_STRIP_H)[:, None]
            filled = rows >= _STRIP_H - heights[None, :]
            rgba[..., :3] = psnr_colors(t)[None, :, :]
            rgba[..., 3] = np.where(filled, 255, 0)
            rgba[:, np.isnan(worst), :] = (48, 50, 56, 255)
            image = QImage(rgba.data, width, _STRIP_H, 4 * width, QImage.Format.Format_RGBA8888)
            self._strip = key, image, rgba
        return self._strip[1]

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w = self._usable()
        track = QRectF(_MARGIN, 4, w, _TRACK_H)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(48, 50, 56))
        p.drawRoundedRect(track, 4, 4)
        cell = w / self.state.num_frames
        if self.loaded is not None and len(self.loaded) == self.state.num_frames:
            rounded = QPainterPath()
            rounded.addRoundedRect(track, 4, 4)
            p.save()
            p.setClipPath(rounded)
            p.setBrush(QColor(112, 116, 128))
            for first, last in _runs(self.loaded):
                p.drawRect(QRectF(_MARGIN + first * cell, 4, (last - first) * cell, _TRACK_H))
            p.restore()
        played = QRectF(_MARGIN, 4, (self.state.frame + 0.5) * cell, _TRACK_H)
        p.setBrush(QColor(66, 133, 244))
        p.drawRoundedRect(played, 4, 4)
        if self.state.loop_a is not None:
            a = _MARGIN + self.state.loop_a * cell
            b = _MARGIN + ((self.state.loop_b if self.state.loop_b is not None else self.state.loop_a) + 1) * cell
            p.setBrush(QColor(255, 212, 121, 90))
            p.drawRect(QRectF(a, 1, b - a, _TRACK_H + 6))
            p.setPen(QPen(QColor(255, 212, 121), 2))
            p.drawLine(QRectF(a, 1, 0, _TRACK_H + 6).topLeft(), QRectF(a, 1, 0, _TRACK_H + 6).bottomLeft())
            if self.state.loop_b is not None:
                p.drawLine(round(b), 1, round(b), _TRACK_H + 7)
            p.setPen(Qt.PenStyle.NoPen)
        strip_top = 4 + _TRACK_H + 6
        if self.shows_segments:
            self._paint_segments(p, strip_top, cell)
            strip_top += _SEG_H + 4
        if self.width() > 2 * _MARGIN and not np.isnan(self.psnr).all():
            p.drawImage(_MARGIN, strip_top, self._strip_image(int(w)))
        x = self.x_of(self.state.frame)
        p.setPen(QPen(QColor(255, 255, 255), 2))
        p.drawLine(round(x), strip_top, round(x), strip_top + _STRIP_H)
        p.setBrush(QColor(255, 255, 255))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(QRectF(x - 7, 4 + _TRACK_H / 2 - 7, 14, 14))

    def _paint_segments(self, p: QPainter, top: float, cell: float) -> None:
        """One cell per segment, a gap of a pixel at each boundary."""
        for k, s in enumerate(self.segments):
            p.setBrush(self.segment_color(k))
            x0, x1 = _MARGIN + s.start * cell, _MARGIN + s.end * cell
            p.drawRect(QRectF(x0, top, max(x1 - x0 - 1, 1), _SEG_H))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[first, stop)`` of each run of True in ``mask``."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))
