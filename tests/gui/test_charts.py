"""What the live charts plot: smoothing, spike-proof autoscale, best marker, labels, the envelope of long fits and
axes that move rarely (no drawing needed)."""

import math

import numpy as np
import pytest

from nervplayer.gui.charts import PANELS, FitCharts, log_label, settled_range
from nervplayer.gui.history import FitHistory, envelope
from nervplayer.train import Evaluated, Started, Step


def evaluated(epoch: int, psnr: float) -> Evaluated:
    return Evaluated(epoch, epoch * 10, psnr, 0.5, psnr, None, 0.5, None, [psnr], 1.0, 1.0)


def test_smoothing_is_debiased_and_adjustable():
    h = FitHistory(smoothing=0.6)
    for i, loss in enumerate([1.0, 1.0, 1.0]):
        h.add(Step((i + 1) / 10, i + 1, loss, 1e-3))
    assert h.smoothed_loss()[1].tolist() == pytest.approx([1.0, 1.0, 1.0])  # no bias towards 0 at the start
    h.add(Step(0.4, 4, 0.0, 1e-3))
    w = 0.6
    expected = (w * (1 - w**3) + (1 - w) * 0.0) / (1 - w**4)
    assert h.smoothed_loss()[1][-1] == pytest.approx(expected)
    h.smoothing = 0.0
    assert h.smoothed_loss()[1].tolist() == h.loss()[1].tolist()


def test_loss_range_ignores_first_step_spikes():
    h = FitHistory()
    h.add(Step(0.01, 1, 50.0, 1e-3))  # a first-step spike
    for i in range(2, 200):
        h.add(Step(i / 100, i, 0.5 - i / 1000, 1e-3))
    lo, hi = h.loss_range()
    assert hi < 0.5 and lo == pytest.approx(0.301)


def test_best_evaluation_and_events_other_than_metrics():
    h = FitHistory()
    for epoch, value in ((5, 20.0), (10, 24.5), (15, 24.1)):
        h.add(evaluated(epoch, value))
    h.add(object())  # other events leave the history alone
    assert h.best() == (10.0, 24.5) and h.evaluations == 3 and h.version == 3


def test_log_labels():
    labels = [log_label(v) for v in (0.2, 3.0, 5e-4, 1e-5, 2.5e6)]
    assert labels == ["0.2", "3", "5·10⁻⁴", "10⁻⁵", "2.5·10⁶"]
    assert math.isclose(float(log_label(0.05)), 0.05)


def test_envelope_keeps_spikes_and_the_last_point():
    x = np.arange(10_000) / 100
    y = np.ones(10_000)
    y[4321] = 50.0  # one spike among ten thousand steps
    ex, ey = envelope(x, y, 100)
    assert len(ex) == len(ey) <= 2 * 100 + 100
    assert ey.max() == 50.0 and ey.min() == 1.0 and (ex[-1], ey[-1]) == (x[-1], y[-1])
    assert np.all(np.diff(ex) >= 0)  # still drawn left to right
    short = np.arange(50.0)
    assert envelope(short, short, 100)[1] is short  # nothing to reduce


def test_long_fits_are_drawn_from_a_bounded_number_of_points():
    h = FitHistory()
    for i in range(1, 20_001):
        h.add(Step(i / 1000, i, 1.0 / i, 1e-3))
    assert h.steps == 20_000 and len(h.loss()[1]) == 20_000
    x, loss = h.loss(500)
    assert len(loss) <= 1_500 and x[-1] == 20.0 and loss[-1] == 1.0 / 20_000


def test_axes_move_only_when_the_data_leaves_them():
    assert settled_range(None, 0.0, 1.0, step=0.5, floor=1.0) == (-0.5, 1.5)  # twice the span, centred
    assert settled_range((-0.5, 1.5), 0.1, 1.2, step=0.5, floor=1.0) is None  # still inside: the axis stays
    assert settled_range((-0.5, 1.5), 0.0, 1.6, step=0.5, floor=1.0) == (-1.0, 2.5)  # past the top: out to steps
    assert settled_range((0.0, 100.0), 20.0, 21.0, step=0.5, floor=1.0) == (19.5, 21.5)  # far too wide: zoom in
    assert settled_range(None, 0.5, 0.5, step=0.5, floor=1.0) == (-0.5, 1.5)  # one point: ``floor`` wide
    assert settled_range((-0.5, 1.5), 0.4, 0.7, step=0.5, floor=1.0) is None  # no zooming in under ``floor``


def test_a_growing_curve_moves_its_axis_a_few_times_onto_round_numbers():
    """A move repaints the axis's labels (the costliest thing the charts draw): a curve whose span grows a
    hundredfold, redrawn at every point, moves its axis about log₁.₅(100) ≈ 11 times, never at every point."""
    shown, moves = None, []
    for hi in np.linspace(1.0, 100.0, 2000):
        new = settled_range(shown, 0.0, float(hi), step=0.5, floor=1.0)
        if new is not None:
            shown = new
            moves.append(new)
        assert shown[0] <= 0.0 and hi <= shown[1]
    assert 5 <= len(moves) <= 13
    assert all(lo % 0.5 == 0 and hi % 0.5 == 0 for lo, hi in moves)


def test_a_whole_fit_moves_the_axes_rarely(qtbot):
    """Warm-up then cosine decay to 0 of the learning rate, a falling loss, a rising PSNR, drawn every 4 steps:
    each axis moves a handful of times (before: the learning rate's axis followed its decay at nearly every
    redraw), and the learning rate's axis stops three decades under its peak."""
    charts = FitCharts()
    qtbot.addWidget(charts)
    charts.add(Started(1000, "cpu", "fp32", 10, 10, 45, 80, 40, 0.0, 10, "memory"))
    ranges = []
    for step in range(1, 401):
        lr = 5e-4 * min(1.0, step / 40) * 0.5 * (1 + math.cos(math.pi * step / 400))
        charts.add(Step(step / 10, step, 0.1 * math.exp(-step / 100) + 1e-3, lr))
        if step % 10 == 0:
            charts.add(evaluated(step // 10, 12 + 16 * (1 - math.exp(-step / 150))))
        if step % 4 == 0:
            charts.redraw()
            ranges.append(
                [tuple(plot.viewRange()[1]) for plot in (charts.loss_plot, charts.quality_plot, charts.lr_plot)]
            )
    for panel in range(3):
        moves = sum(a[panel] != b[panel] for a, b in zip(ranges, ranges[1:]))
        assert moves <= 3, (panel, moves)  # before: 5 for the loss, 6 for PSNR, more for the learning rate
    lr_low, lr_high = ranges[-1][2]
    assert lr_high - lr_low <= 4.0  # decades: not down to the last steps' 10⁻¹⁰


def test_each_panel_is_drawn_on_its_own(qtbot):
    """The timer draws one panel a tick: each draw paints a third of the charts."""
    charts = FitCharts()
    qtbot.addWidget(charts)
    for i in range(1, 21):
        charts.add(Step(i / 10, i, 1.0 / i, 1e-3))
    charts.draw_panel(PANELS.index("loss"))
    assert len(charts.loss_raw.getData()[0]) == 20
    x, _ = charts.lr_curve.getData()
    assert x is None or len(x) == 0  # not drawn yet
    charts.draw_panel(PANELS.index("lr"))
    assert len(charts.lr_curve.getData()[0]) == 20 and charts.redraws == 2
    charts.draw_panel(PANELS.index("lr"))
    assert charts.redraws == 2  # nothing new: not drawn again


def test_the_charts_show_the_planned_epochs_and_keep_their_axes(qtbot):
    charts = FitCharts()
    qtbot.addWidget(charts)
    charts.add(Started(1000, "cpu", "fp32", 10, 10, 45, 80, 30, 0.0, 10, "memory"))
    for i in range(1, 51):
        charts.add(Step(i / 10, i, 1.0 / i, 1e-3))
    charts.redraw()
    assert charts.loss_plot.viewRange()[0] == pytest.approx([0.0, 30.0])  # the whole fit, not the steps so far
    loss_range = charts.loss_plot.viewRange()[1]
    for i in range(51, 56):
        charts.add(Step(i / 10, i, 1.0 / 50, 1e-3))
    charts.redraw()
    assert (
        charts.redraws == 2 * len(PANELS) and charts.loss_plot.viewRange()[1] == loss_range
    )  # a redraw that moved no axis
    assert charts.history.planned == (0.0, 30.0)


def test_a_new_fit_keeps_the_axes_until_its_data_leaves_them(qtbot):
    """Start again: the axes stay where the last fit left them (moving them all at the new fit's first redraw
    repainted every label as it started); a new file's charts start from the empty axes."""
    charts = FitCharts()
    qtbot.addWidget(charts)

    def fit() -> list[list[float]]:
        charts.add(Started(1000, "cpu", "fp32", 10, 10, 45, 80, 30, 0.0, 10, "memory"))
        for i in range(1, 51):
            charts.add(Step(i / 10, i, 1.0 / i, 1e-3))
        charts.redraw()
        return [charts.loss_plot.viewRange()[0], charts.loss_plot.viewRange()[1], charts.lr_plot.viewRange()[1]]

    first = fit()
    charts.clear(keep_axes=True)
    x, _ = charts.loss_raw.getData()
    assert charts.history.steps == 0 and (x is None or len(x) == 0)  # the curves are gone
    assert [charts.loss_plot.viewRange()[0], charts.loss_plot.viewRange()[1], charts.lr_plot.viewRange()[1]] == first
    assert fit() == first
    charts.clear()
    assert charts.loss_plot.viewRange()[0] == pytest.approx([0.0, 1.0])  # a new file: the empty axes
