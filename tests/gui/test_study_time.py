"""The study window says which run is on (k of n) and how long the study has left, estimated from the runs
finished so far and the current run's pace, pauses left out."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from nervplayer.gui.study_live import StudyWindow, describe_remaining, remaining_seconds  # noqa: E402
from nervplayer.study import RunStarting, StudyRunner, get_study  # noqa: E402
from nervplayer.train import Finished, FitConfig, Paused, Resumed, Started, Step  # noqa: E402

pytestmark = pytest.mark.gui


def test_the_estimate_goes_by_the_finished_runs_and_the_current_pace():
    assert remaining_seconds([], 2, 0.0, 0.0, 1.0) is None  # no pace yet
    assert remaining_seconds([], 2, 10.0, 0.2, 0.8) == pytest.approx(40 + 2 * 50)  # 50 s a run, this run's pace
    assert remaining_seconds([60.0, 80.0], 1, 20.0, 0.5, 0.5) == pytest.approx(20 + 70)  # later runs: the mean
    assert remaining_seconds([60.0], 0, 0.0, 0.0, 1.0) == pytest.approx(60)  # a run not yet stepping: the mean
    assert remaining_seconds([], 0, 30.0, 0.3, 0.0) == 0  # the last run at its end
    assert describe_remaining(None) == "estimating the time left…"
    assert [describe_remaining(s) for s in (3, 42, 150, 4000)] == [
        "about 5 s left",
        "about 40 s left",
        "about 2 min left",
        "about 1 h 07 min left",
    ]


def started(epochs: int = 10, start_epoch: float = 0.0) -> Started:
    return Started(1000, "cpu", "fp32", 8, 8, 64, 64, epochs, start_epoch, 8, "memory")


def done() -> Finished:
    return Finished("completed", 10.0, 80, 1.0, None, None)


def test_the_study_window_shows_run_k_of_n_and_the_time_left(qtbot, tmp_path, shapes_clip):
    base = FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=10, end=8, device="cpu")
    runner = StudyRunner(get_study("lr"), base, tmp_path / "study", ["5e-3", "1e-2", "2e-2"])
    window = StudyWindow(runner, lambda folder: None)
    qtbot.addWidget(window)
    now = [0.0]
    window.clock = lambda: now[0]

    def at(t: float, *events: object) -> None:
        now[0] = t
        for e in events:
            window._event(e)

    def starting(i: int, resumed: bool = False) -> RunStarting:
        return RunStarting(i, 3, runner.variants[i], tmp_path / str(i), resumed)

    at(0, starting(0))
    assert "Run 1 of 3" in window.current.text() and window.bar.format() == "run 1 / 3 · estimating the time left…"
    at(0, started())
    at(10, Step(2.0, 16, 0.1, 1e-3))
    assert window.remaining == pytest.approx(40 + 2 * 50)
    assert window.bar.format() == "run 1 / 3 · epoch 2.0 / 10 · about 2 min left"
    at(60, done())
    at(60, starting(1))
    assert window.bar.format() == "run 2 / 3 · about 2 min left"  # two runs of 60 s to go, by the first
    at(60, started())
    at(62, Step(5.0, 40, 0.1, 1e-3))  # half the run in 2 s: 4 s to go, then a run of 60 s (the first)
    assert window.remaining == pytest.approx(2 + 60) and "run 2 / 3" in window.bar.format()
    at(62, Paused(5.0))
    at(962, Resumed(5.0))  # 900 s away: not fitting time
    at(964, Step(6.0, 48, 0.1, 1e-3))
    assert window.remaining == pytest.approx(4 / 0.6 * 0.4 + 60)
    at(970, done())  # a run of 10 s
    at(970, starting(2, resumed=True), started(start_epoch=5.0))
    at(975, Step(7.5, 60, 0.1, 1e-3))  # resumed at 5: 2.5 epochs in 5 s, the last run
    assert window.remaining == pytest.approx(5.0)
    assert window.bar.format() == "run 3 / 3 · epoch 7.5 / 10 · about 5 s left"
