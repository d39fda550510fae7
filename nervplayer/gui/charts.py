"""Live training charts (pyqtgraph): loss per step on a log axis (raw faint, smoothed on top), PSNR and MS-SSIM
per evaluation with the best so far marked, and the learning rate. x is the epoch in every panel.

Events only update :class:`FitHistory`; a timer redraws from the GUI thread, only while the charts are visible,
one panel a tick in turn, each at most ``MAX_FPS`` times a second: the charts are the window's largest piece of
work while fitting, and three pieces of a few milliseconds keep the event loop's ticks on time where one of 10–15
ms did not (benches/gui_stall.py, p99 of the lateness).

A redraw repaints only the curves: the axes repaint when their range changes, and ranges change a few times a fit
(:func:`settled_range`). Painting an axis means drawing its tick labels, the most expensive thing in a panel with
software rendering, which is also why there is no grid: pyqtgraph draws a grid as part of the axes, so with one
every new point repainted every axis (a redraw took about 100 ms on a 2-core CPU, then about 10 ms, now 1–4 ms a
panel; benches/gui_stall.py).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDoubleSpinBox, QGraphicsItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .history import FitHistory

MAX_FPS = 5  # redraws of each panel a second, at most
PANELS = ("loss", "quality", "lr")  # drawn in turn, one a timer tick: each paint is a third of the charts
BUCKETS = 800  # per-step curves are drawn as their envelope over this many columns (wider than a panel)
# per panel, the narrowest span of data an axis zooms to and the step its ends are multiples of (log axes in
# decades): a decade of loss or learning rate, 4 dB, 0.05 of MS-SSIM, an epoch
AXIS_SPAN_STEP = {"x": (1.0, 1.0), "loss": (1.0, 0.5), "lr": (1.0, 1.0), "psnr": (4.0, 2.0), "ssim": (0.05, 0.05)}
LR_DECADES = 3  # the learning rate's axis goes at most this far below its peak (a cosine schedule ends at 0)
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
    shown: tuple[float, float] | None, lo: float, hi: float, step: float, floor: float
) -> tuple[float, float] | None:
    """The range to show data spanning [lo, hi], or None to keep ``shown``: it is kept while it holds the data and
    is at most four times the data's span (at least ``floor``); a new one is twice that span, centred on the data
    and widened to multiples of ``step`` (``step`` ≤ ``floor``: the new range is kept at once). A growing curve
    thus moves its axis each time its span grows by half, a few times a fit, never at every redraw: a move
    repaints the axis's labels, the costliest thing the charts draw (benches/gui_stall.py)."""
    span = max(hi - lo, floor)
    if shown is not None and shown[0] <= lo and hi <= shown[1] and shown[1] - shown[0] <= 4 * span:
        return None
    middle = (lo + hi) / 2
    return math.floor((middle - span) / step) * step, math.ceil((middle + span) / step) * step


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
        self._drawn = [-1] * len(PANELS)  # the history's version each panel shows
        self._next = 0  # the panel the timer draws next
        self.redraws = 0  # panels drawn
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

        self._timer = QTimer(self, interval=1000 // (MAX_FPS * len(PANELS)))
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

    def _follow(self, panel: str, lo: float, hi: float, bounds: tuple[float, float] = (-math.inf, math.inf)) -> None:
        """Move ``panel``'s axis to hold [lo, hi] when it no longer does (see :func:`settled_range`, with the
        panel's :data:`AXIS_SPAN_STEP`), never past ``bounds``."""
        floor, step = AXIS_SPAN_STEP[panel]
        shown = settled_range(self._shown.get(panel), lo, hi, step, floor)
        if shown is not None:
            self._set_range(panel, (max(shown[0], bounds[0]), min(shown[1], bounds[1])))

    def add(self, event: object) -> None:
        """Record a fit event; drawing happens on the next timer tick."""
        self.history.add(event)

    def clear(self, keep_axes: bool = False) -> None:
        """Forget the curves; ``keep_axes``: the axes stay as they are until the new data leaves them (a new fit
        of the same clip: moving every axis at its first redraw repainted all their labels as it started)."""
        self.history.clear()
        self._drawn = [-1] * len(PANELS)
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
            self.draw_panel(self._next)
            self._next = (self._next + 1) % len(PANELS)

    def redraw(self) -> None:
        """Every panel now (the timer draws one panel a tick)."""
        for panel in range(len(PANELS)):
            self.draw_panel(panel)

    def draw_panel(self, panel: int) -> None:
        """Draw ``PANELS[panel]`` if the history changed since it was last drawn."""
        if self._drawn[panel] == self.history.version:
            return
        self._drawn[panel] = self.history.version
        self.redraws += 1
        (self._draw_loss, self._draw_quality, self._draw_lr)[panel]()

    def _draw_loss(self) -> None:
        h = self.history
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
            self._follow("loss", math.log10(lo), math.log10(max(hi, lo * 1.01)))
        self._write_summary(smooth)

    def _draw_quality(self) -> None:
        h = self.history
        if h.evaluations == self._evaluations_drawn:  # most redraws bring steps only: the symbols stay as they are
            return
        self._evaluations_drawn = h.evaluations
        ex, psnr = h.psnr()
        _, ssim = h.ms_ssim()
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

    def _draw_lr(self) -> None:
        lx, lr = self.history.lr(BUCKETS)
        keep = lr > 0
        self.lr_curve.setData(lx[keep], lr[keep])
        if keep.any():
            top = math.log10(float(lr[keep].max()))
            low = top - LR_DECADES
            self._follow("lr", max(math.log10(float(lr[keep].min())), low), top, (math.floor(low), math.ceil(top)))

    def _write_summary(self, smooth: np.ndarray) -> None:
        h = self.history
        parts = []
        if h.steps:
            parts.append(f"step {h.steps}   loss {smooth[-1]:.4g}")
        best = h.best()
        if best is not None:
            _, psnr = h.psnr()
            _, ssim = h.ms_ssim()
            parts.append(f"PSNR {psnr[-1]:.2f} dB (best {best[1]:.2f})   MS-SSIM {ssim[-1]:.4f}")
        if parts:
            self.summary.setText("   ·   ".join(parts))
