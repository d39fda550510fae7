"""What the live charts plot: smoothing, spike-proof autoscale, best marker, labels (no drawing needed)."""

import math

import pytest

from nervplayer.gui.charts import log_label
from nervplayer.gui.history import FitHistory
from nervplayer.train import Evaluated, Step


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
