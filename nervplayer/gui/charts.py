"""Live training charts (pyqtgraph): loss per step on a log axis (raw faint, smoothed on top), PSNR and MS-SSIM
per evaluation with the best so far marked, and the learning rate. x is the epoch in every panel.

Events only update :class:`FitHistory`; a timer redraws from the GUI thread at most ``MAX_FPS`` times a second, and
only while the charts are visible (a redraw of the four panels is the window's largest piece of work while fitting).

A redraw repaints only the curves: the axes repaint when their range changes, and ranges change rarely
(:func:`settled_range` leaves headroom). Painting an axis means drawing its tick labels, the most expensive thing
in a panel with software rendering, which is also why there is no grid: pyqtgraph draws a grid as part of the
axes, so with one every new point repainted every axis (a redraw took about 100 ms on a 2-core CPU, now
about 10 ms; benches/gui_stall.py).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDoubleSpinBox, QGraphicsItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .history import FitHistory

MAX_FPS = 5
BUCKETS = 800  # per-step curves are drawn as their envelope over this many columns (wider than a panel)
# the narrowest range an axis zooms to: a decade of loss or learning rate (log axes), 4 dB, 0.05 of MS-SSIM
LEAST_SPAN = {"loss": 1.0, "lr": 1.0, "psnr": 4.0, "ssim": 0.05}
BLUE, ORANGE, GREEN, GOLD = "#4f8ef7", "#f5a142", "#5cc98a", "#ffd479"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def log_label(value: float) -> str:
    """``0.2``, ``3``, ``5·10⁻⁴``: plain between 0.01 and 1000, else a power of ten."""
    if 1e-2 <= value < 1e3:
        return f"{value:.3g}"
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = round(value / 10**exponent, 2)
    power = f"10{str(exponent).translate(_SUPERSCRIPT)}"
    return power if mantissa == 1 else f"{mantissa:g}·{power}"


class LogAxis(pg.AxisItem):
    """A log axis that labels only 1, 2 and 5 × 10ⁿ when at least three of them are in view: pyqtgraph labels
    every minor tick of a range under two decades, which piles the labels of a small panel on top of each other."""

    def logTickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        lo, hi = sorted(self.range)
        mantissas = [10 ** (v - math.floor(v + 1e-9)) for v in values]
        nice = [abs(m - round(m)) < 1e-6 and round(m) in (1, 2, 5) for m in mantissas]
        keep_all = sum(n for n, v in zip(nice, values) if lo <= v <= hi) < 3
        return [log_label(10**v) if keep_all or n else "" for v, n in zip(values, nice)]


def settled_range(
    shown: tuple[float, float] | None, lo: float, hi: float, headroom: float = 0.25, floor: float = 1e-6
) -> tuple[float, float] | None:
    """The range to show data spanning [lo, hi], or None to keep ``shown``: it is kept while it holds the data and
    is at most twice the data's span (at least ``floor``); a new one is centred on the data, at least ``floor``
    wide, and leaves ``headroom`` × that span free above and below, so that a growing or falling curve moves its
    axis a few times, not at every point."""
    span = max(hi - lo, floor)
    if shown is not None and shown[0] <= lo and hi <= shown[1] and shown[1] - shown[0] <= 2 * span:
        return None
    pad = headroom * span + (span - (hi - lo)) / 2
    return lo - pad, hi + pad


def _plot(layout: pg.GraphicsLayoutWidget, col: int, label: str, units: str = "", log: bool = False) -> pg.PlotItem:
    plot = layout.addPlot(row=0, col=col, axisItems={"left": LogAxis("left")} if log else None)
    plot.setLabel("left", label, units=units)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.getAxis("left").setWidth(58)
    for side in ("left", "bottom", "right"):
        axis = plot.getAxis(side)
        axis.enableAutoSIPrefix(False)
        # painted from a pixmap while its range stays: a curve's repaint also repaints the axes it overlaps,
        # and replaying their labels in Python cost more than the curves
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return plot


class FitCharts(QWidget):
    def __init__(self, history: FitHistory | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("charts")
        self.history = history or FitHistory()
        self._drawn = -1
        self.redraws = 0
        self._shown: dict[str, tuple[float, float]] = {}  # the ranges set, by panel

        header = QHBoxLayout()
        header.setContentsMargins(8, 4, 8, 0)
        self.summary = QLabel("No fit yet: press Start to train the model and watch it learn.")
        self.summary.setObjectName("chart-summary")
        header.addWidget(self.summary, 1)
        header.addWidget(QLabel("smoothing"))
        self.smoothing = QDoubleSpinBox(minimum=0.0, maximum=0.99, singleStep=0.05, decimals=2)
        self.smoothing.setValue(self.history.smoothing)
        self.smoothing.setToolTip("Weight of the loss's exponential moving average (TensorBoard's smoothing)")
        self.smoothing.valueChanged.connect(self._set_smoothing)
        header.addWidget(self.smoothing)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setSpacing(4)
        self.loss_plot = _plot(self.graphics, 0, "loss", log=True)
        self.loss_plot.setLogMode(y=True)
        self.loss_raw = self.loss_plot.plot(pen=pg.mkPen(BLUE + "55", width=1))
        self.loss_smooth = self.loss_plot.plot(pen=pg.mkPen(BLUE, width=2))
        self.loss_plot.enableAutoRange(y=False)

        self.quality_plot = _plot(self.graphics, 1, "PSNR", "dB")
        self.quality_plot.getAxis("left").setLabel("PSNR", units="dB", color=GREEN)
        self.psnr_curve = self.quality_plot.plot(
            pen=pg.mkPen(GREEN, width=2), symbol="o", symbolSize=6, symbolBrush=GREEN, symbolPen=None, name="PSNR"
        )
        self.best_marker = pg.ScatterPlotItem(symbol="star", size=16, brush=pg.mkBrush(GOLD), pen=None)
        self.best_label = pg.TextItem(color=GOLD, anchor=(1.05, -0.15))  # below left of the star
        self.quality_plot.addItem(self.best_marker)
        self.quality_plot.addItem(self.best_label)
        self.ssim_view = pg.ViewBox()
        self.quality_plot.showAxis("right")
        self.quality_plot.scene().addItem(self.ssim_view)
        self.quality_plot.getAxis("right").linkToView(self.ssim_view)
        self.quality_plot.getAxis("right").setLabel("MS-SSIM", color=ORANGE)
        self.quality_plot.getAxis("right").setWidth(50)
        self.ssim_view.setXLink(self.quality_plot)
        self.ssim_curve = pg.PlotDataItem(
            pen=pg.mkPen(ORANGE, width=1.5, style=Qt.PenStyle.DashLine),
            symbol="t",
            symbolSize=6,
            symbolBrush=ORANGE,
            symbolPen=None,
        )
        self.ssim_view.addItem(self.ssim_curve)
        self.quality_plot.vb.sigResized.connect(
            lambda: self.ssim_view.setGeometry(self.quality_plot.vb.sceneBoundingRect())
        )

        self.lr_plot = _plot(self.graphics, 2, "learning rate", log=True)
        self.lr_plot.setLogMode(y=True)
        self.lr_curve = self.lr_plot.plot(pen=pg.mkPen("#b48ef7", width=1.5))
        for plot in (self.loss_plot, self.quality_plot, self.lr_plot):
            plot.setLabel("bottom", "epoch")
        for plot in (self.quality_plot, self.lr_plot):
            plot.setXLink(self.loss_plot)
        self._best: tuple[float, float] | None = None
        self._evaluations_drawn = 0
        self._empty_ranges()
        self.graphics.ci.layout.setColumnStretchFactor(0, 5)
        self.graphics.ci.layout.setColumnStretchFactor(1, 5)
        self.graphics.ci.layout.setColumnStretchFactor(2, 3)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.graphics, 1)

        self._timer = QTimer(self, interval=1000 // MAX_FPS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _empty_ranges(self) -> None:
        """Axes before any data: epochs 0–1, loss 0.01–1, PSNR 10–40 dB, MS-SSIM 0.5–1, lr 1e-5–1e-3."""
        self._shown = {}
        for panel, lo, hi in (("x", 0, 1), ("loss", -2, 0), ("psnr", 10, 40), ("ssim", 0.5, 1), ("lr", -5, -3)):
            self._set_range(panel, (lo, hi))

    def _set_range(self, panel: str, shown: tuple[float, float]) -> None:
        self._shown[panel] = shown
        if panel == "x":
            self.loss_plot.setXRange(*shown, padding=0)
        else:
            view = {"loss": self.loss_plot, "psnr": self.quality_plot, "ssim": self.ssim_view, "lr": self.lr_plot}
            view[panel].setYRange(*shown, padding=0)

    def _follow(
        self,
        panel: str,
        lo: float,
        hi: float,
        headroom: float = 0.25,
        bounds: tuple[float, float] = (-math.inf, math.inf),
    ) -> None:
        """Move ``panel``'s axis to hold [lo, hi] when it no longer does (see :func:`settled_range`), never past
        ``bounds``, never narrower than the panel's :data:`LEAST_SPAN` (a fit's first points would move it at
        every redraw)."""
        shown = settled_range(self._shown.get(panel), lo, hi, headroom, LEAST_SPAN.get(panel, 1e-6))
        if shown is not None:
            self._set_range(panel, (max(shown[0], bounds[0]), min(shown[1], bounds[1])))

    def add(self, event: object) -> None:
        """Record a fit event; drawing happens on the next timer tick."""
        self.history.add(event)

    def clear(self, keep_axes: bool = False) -> None:
        """Forget the curves; ``keep_axes``: the axes stay as they are until the new data leaves them (a new fit
        of the same clip: moving every axis at its first redraw repainted all their labels as it started)."""
        self.history.clear()
        self._drawn = -1
        self._best = None
        self._evaluations_drawn = 0
        for item in (
            self.loss_raw,
            self.loss_smooth,
            self.psnr_curve,
            self.ssim_curve,
            self.lr_curve,
            self.best_marker,
        ):
            item.setData([], [])
        self.best_label.setText("")
        if not keep_axes:
            self._empty_ranges()
        self.summary.setText("Waiting for the first steps…")

    def _set_smoothing(self, value: float) -> None:
        self.history.smoothing = value

    def _tick(self) -> None:
        if self.isVisible():
            self.redraw()

    def redraw(self) -> None:
        h = self.history
        if h.version == self._drawn:
            return
        self._drawn = h.version
        self.redraws += 1
        x, loss = h.loss(BUCKETS)
        _, smooth = h.smoothed_loss(BUCKETS)
        self.loss_raw.setData(x, loss)
        self.loss_smooth.setData(x, smooth)
        if h.planned is not None and len(x) and x[-1] <= h.planned[1]:  # the whole fit's epochs, from the start
            if self._shown["x"] != h.planned:
                self._set_range("x", h.planned)
        elif len(x):
            self._follow("x", float(x[0]), float(x[-1]), bounds=(math.floor(x[0]), math.inf))
        span = h.loss_range()
        if span is not None:
            lo, hi = span
            self._follow("loss", math.log10(lo), math.log10(max(hi, lo * 1.01)), headroom=0.1)
        ex, psnr = h.psnr()
        _, ssim = h.ms_ssim()
        if len(psnr) != self._evaluations_drawn:  # most redraws bring steps only: the symbols stay as they are
            self._evaluations_drawn = len(psnr)
            self.psnr_curve.setData(ex, psnr)
            self.ssim_curve.setData(ex, ssim)
        if len(psnr):
            self._follow("psnr", float(np.min(psnr)) - 1, float(np.max(psnr)) + 1)
            self._follow("ssim", float(np.min(ssim)) - 0.01, min(1.0, float(np.max(ssim)) + 0.01), bounds=(0, 1))
        best = h.best()
        if best is not None and best != self._best:  # the marker and its label repaint only when the best moves
            self._best = best
            self.best_marker.setData([best[0]], [best[1]])
            self.best_label.setText(f"best {best[1]:.2f} dB")
            self.best_label.setPos(best[0], best[1])
        lx, lr = h.lr(BUCKETS)
        keep = lr > 0
        self.lr_curve.setData(lx[keep], lr[keep])
        if keep.any():
            top = math.log10(float(lr[keep].max()))
            self._follow("lr", min(math.log10(float(lr[keep].min())), top - 1), top, headroom=0.05)
        parts = []
        if h.steps:
            parts.append(f"step {h.steps}   loss {smooth[-1]:.4g}")
        if best is not None:
            parts.append(f"PSNR {psnr[-1]:.2f} dB (best {best[1]:.2f})   MS-SSIM {ssim[-1]:.4f}")
        if parts:
            self.summary.setText("   ·   ".join(parts))
