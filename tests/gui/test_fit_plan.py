"""The fit panel's time budget: the plan is shown before Start, Start uses it, and the time left follows the clock."""

import re

import pytest

from nervplayer.gui.dialogs import SaveDialog
from nervplayer.gui.progress import FitProgress
from nervplayer.sample import sample_video as sample_path

SAMPLE = sample_path()


@pytest.mark.skipif(SAMPLE is None, reason="resources/sample.mp4 is missing")
def test_choosing_a_time_shows_the_plan_before_start(make_window, qtbot):
    window = make_window([str(SAMPLE)])
    panel = window.fit_panel
    qtbot.waitUntil(lambda: panel.state == "ready", timeout=30_000)
    panel.scale.setCurrentIndex(panel.scale.findData(0.25))
    assert panel.plan_label.text() == "" and panel.epochs.isEnabled() and "parameters" in panel.cost.text()
    panel.time.setCurrentText("10 min")
    assert "plan" in panel.cost.text() and "parameters" not in panel.cost.text()  # not the form's network
    assert not panel.controls.start_button.isEnabled()  # until the plan is made
    assert not panel.epochs.isEnabled() and not panel.arch.isEnabled()  # the plan chooses them
    qtbot.waitUntil(lambda: panel.planned is not None, timeout=120_000)
    line = panel.plan_label.text()
    assert line.startswith("about ") and re.search(r" epochs? · expect ≈ ", line) and "measured in" in line
    assert panel.controls.start_button.isEnabled()
    config = panel.config()
    plan = panel.planned.plan
    assert config.time_limit is not None and 0 < config.time_limit < 600
    assert (config.arch, config.budget, config.size) == (plan.arch, plan.params, (plan.height, plan.width))
    # a target joins the plan (nervplayer fit --time T --target-size S); one that means nothing is said so
    panel.target.setText("2 MBs")
    panel.target.editingFinished.emit()
    assert panel.planned is None and "2 MBs" in panel.plan_label.text() and not panel.controls.start_button.isEnabled()
    panel.target.setText("50KB")
    panel.target.editingFinished.emit()
    qtbot.waitUntil(lambda: panel.planned is not None, timeout=120_000)
    assert panel.planned.target.text() == "50000B" and panel.planned.plan.expected_bytes <= 50_000
    assert "· target 50,000 bytes" in panel.plan_label.text() and panel.controls.start_button.isEnabled()
    window.ask_save_options()  # a fit planned for a target is saved to it unless the user changes it
    dialog = window.findChild(SaveDialog)
    assert dialog.target.text() == "50000B"
    dialog.reject()
    panel.time.setCurrentText("no limit")
    assert not panel.target.isEnabled()
    assert panel.planned is None and panel.plan_label.text() == "" and panel.epochs.isEnabled()
    assert panel.config().time_limit is None and "parameters" in panel.cost.text()


def test_time_left_follows_the_clock_under_a_time_limit():
    now = [0.0]
    progress = FitProgress(lambda: now[0])
    progress.start(100, 0.0, time_limit=60.0)
    now[0] = 15.0
    progress.update(2.0)  # 7.5 s per epoch: by the epochs, 735 s left; the limit stops it at 60 s
    assert progress.eta() == pytest.approx(45.0) and progress.fraction() == pytest.approx(0.25)
    progress.pause()
    now[0] = 100.0  # paused time is not training time
    assert progress.eta() == pytest.approx(45.0)
    plain = FitProgress(lambda: now[0])
    plain.start(10, 0.0)
    now[0] = 130.0
    plain.update(3.0)  # from the measured rate: 10 s per epoch
    assert plain.eta() == pytest.approx(70.0) and plain.fraction() == pytest.approx(0.3)
