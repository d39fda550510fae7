"""The whole story on the bundled sample: fit a few epochs, watch the charts, compare, save as .nerv, reopen it
with its source, and check the event loop never stalls."""

import re
import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from nervplayer.codec import CompressOptions, NervVideo
from nervplayer.gui.charts import MAX_FPS, PANELS
from nervplayer.gui.state import CompareMode
from nervplayer.sample import sample_video as sample_path
from nervplayer.train import Paused, Resumed, Step
from nervplayer.video.source import LiveSource

SAMPLE = sample_path()
pytestmark = pytest.mark.skipif(SAMPLE is None, reason="resources/sample.mp4 is missing")


def click_frame(qtbot, player, k):
    qtbot.mouseClick(player.timeline, Qt.MouseButton.LeftButton, pos=QPoint(round(player.timeline.x_of(k)), 10))
    qtbot.waitUntil(
        lambda: player.canvas.displayed_index == k and player.canvas.frame.generation == player.decoder.generation,
        timeout=10_000,
    )


def test_fit_the_sample_then_save_and_compare(make_window, qtbot, tmp_path, kit):
    window = make_window([str(SAMPLE)])
    panel, charts, player = window.fit_panel, window.charts, window.player
    qtbot.waitUntil(lambda: panel.state == "ready", timeout=120_000)
    panel.arch.setCurrentIndex(panel.arch.findData("nerv"))
    panel.preset.setCurrentIndex(panel.preset.findData("nerv-xs"))
    panel.scale.setCurrentIndex(panel.scale.findData(0.25))  # 80×45: a CPU test, not a benchmark
    panel.last.setValue(7)
    panel.epochs.setValue(2)
    panel.eval_every.setValue(1)

    qtbot.mouseClick(panel.controls.start_button, Qt.MouseButton.LeftButton)
    assert panel.state == "starting"
    qtbot.waitUntil(lambda: charts.history.steps > 0, timeout=120_000)
    assert isinstance(player.source, LiveSource) and player.truth is not None
    qtbot.waitUntil(lambda: panel.controls.bar.value() > 0, timeout=180_000)
    qtbot.waitUntil(lambda: panel.state == "finished", timeout=300_000)
    # how long the event loop stalls while fitting is measured by benches/gui_stall.py, not asserted here

    charts.redraw()
    x, loss = charts.loss_raw.getOriginalDataset()
    assert len(loss) == charts.history.steps == 16  # 8 frames × 2 epochs, batch 1
    assert len(charts.psnr_curve.getOriginalDataset()[1]) == 2 and len(charts.best_marker.data) == 1
    assert len(charts.lr_curve.getOriginalDataset()[1]) > 0
    assert panel.controls.bar.value() == 1000 and "completed" in panel.controls.bar.format()
    assert window.session.unsaved and window.named_actions["save_nerv"].isEnabled()
    assert not np.isnan(player.timeline.psnr).any() and len(player.timeline.psnr) == 8

    # Scrub to frame k: the pixels shown are the live decoder's frame k.
    click_frame(qtbot, player, 5)
    assert np.array_equal(kit.shown(player), window.session.fitter.decode([5])[0])
    # The ground-truth overlay works on the fit: the wipe shows the source on the left.
    qtbot.keyClick(player.canvas, Qt.Key.Key_G)
    assert player.compare.mode is CompareMode.WIPE and player.current_psnr() is not None

    # Save as .nerv, through the compression pipeline in a worker.
    out = tmp_path / "sample.nerv"
    window.save_nerv_to(out, CompressOptions(prune=0.2, finetune_epochs=1, device="cpu"))
    assert panel.state == "saving"
    qtbot.waitUntil(lambda: panel.state == "finished", timeout=300_000)
    assert out.is_file() and not window.session.unsaved, panel.controls.bar.format()
    assert "bpp" in panel.controls.result.text() and "dB" in panel.controls.result.text()

    # Reopen it with its source: frames come from the file, the PSNR strip fills in the background.
    window.open_path(str(out), truth=str(SAMPLE))
    qtbot.waitUntil(lambda: window.session.nerv is not None and player.truth is not None, timeout=60_000)
    assert (player.state.num_frames, player.source.size) == (8, (45, 80))
    qtbot.waitUntil(lambda: not np.isnan(player.timeline.psnr).any(), timeout=30_000)
    click_frame(qtbot, player, 3)
    player.compare.set_mode(CompareMode.OFF)
    assert np.array_equal(kit.shown(player), NervVideo.open(out).frame(3))
    player.compare.set_mode(CompareMode.DIFFERENCE)
    assert kit.shown(player).any()


def test_pause_resume_and_cancel(make_window, qtbot):
    window = make_window([str(SAMPLE)])
    panel, charts = window.fit_panel, window.charts
    qtbot.waitUntil(lambda: panel.state == "ready", timeout=30_000)
    panel.scale.setCurrentIndex(panel.scale.findData(0.25))
    panel.last.setValue(3)
    panel.epochs.setValue(500)
    panel.eval_every.setValue(100)
    events = []
    window.session.fit_event.connect(lambda e: events.append(e) if isinstance(e, (Step, Paused, Resumed)) else None)
    window.start_fit()
    qtbot.waitUntil(lambda: charts.history.steps > 3, timeout=120_000)
    started, redraws = time.perf_counter(), charts.redraws
    qtbot.mouseClick(panel.controls.pause_button, Qt.MouseButton.LeftButton)
    assert panel.state == "paused" and panel.controls.pause_button.text() == "Resume"
    # The step in flight ends, then the fit says it waits: the steps before it have all arrived by then.
    qtbot.waitUntil(lambda: any(isinstance(e, Paused) for e in events), timeout=60_000)
    steps = charts.history.steps
    qtbot.mouseClick(panel.controls.pause_button, Qt.MouseButton.LeftButton)
    assert panel.state == "running"
    qtbot.waitUntil(lambda: charts.history.steps > steps + 2, timeout=60_000)
    # The fit's own account, in the order it happened: no step between its Paused and its Resumed, and the
    # first step after it is the one after the last before it (none lost, none taken while paused).
    kinds = [type(e) for e in events]
    paused_at, resumed_at = kinds.index(Paused), kinds.index(Resumed)
    assert paused_at < resumed_at and Step not in kinds[paused_at:resumed_at]
    before = [e.step for e in events[:paused_at] if isinstance(e, Step)]
    after = [e.step for e in events[resumed_at:] if isinstance(e, Step)]
    assert len(before) == steps and after[0] == before[-1] + 1
    qtbot.mouseClick(panel.controls.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state == "finished", timeout=60_000)
    assert "cancelled" in panel.controls.bar.format()
    assert window.session.unsaved  # the checkpoint of a cancelled fit can still be saved as .nerv
    assert window.named_actions["save_nerv"].isEnabled()
    elapsed = time.perf_counter() - started
    assert charts.redraws - redraws <= (elapsed * MAX_FPS + 2) * len(PANELS)  # throttled, however many steps come


def test_plugin_parameters_become_form_fields(make_window):
    window = make_window(["/nonexistent.mp4"])
    panel = window.fit_panel
    panel.scheduler.set_choice("step")
    labels = [
        panel.scheduler.form.itemAt(i, panel.scheduler.form.ItemRole.LabelRole).widget().text()
        for i in range(panel.scheduler.form.rowCount())
    ]
    assert labels == ["step size", "gamma"]
    panel.activation.set_choice("gelu")  # a parameter with choices becomes a combo box
    assert panel.activation.values() == {"approximate": "none"}
    panel.loss.set_choice("l1")
    assert panel.loss.params.isHidden() and not panel.activation.params.isHidden()
    from nervplayer.video import VideoInfo

    panel.set_video(VideoInfo("clip.mp4", "video", 30, 25.0, 64, 48))
    config = panel.config()
    assert (config.scheduler, config.scheduler_params) == ("step", {"step_size": 100, "gamma": 0.5})
    assert (config.activation, config.loss, config.end) == ("gelu", "l1", 30)
    assert (config.arch, config.preset, config.budget) == ("grid", "grid-s", None)
    assert (config.lr, config.qat, config.rate_lambda) == (5e-3, True, 0.002)  # the grid's recipe, as the fit's


def test_the_panel_chooses_the_architecture_and_its_size_and_shows_the_cost(make_window):
    from nervplayer.errors import ConfigError
    from nervplayer.model.architectures import describe
    from nervplayer.plugins.api import Frames
    from nervplayer.video import VideoInfo

    window = make_window(["/nonexistent.mp4"])
    panel = window.fit_panel
    panel.set_video(VideoInfo("clip.mp4", "video", 16, 25.0, 160, 96))
    assert {"nerv", "hnerv", "grid"} <= {panel.arch.itemData(i) for i in range(panel.arch.count())}
    # the default: the grid at its own size, a preset (not a typed budget), trained rate-aware at its own rate
    assert (panel.arch.currentData(), panel.preset.currentData()) == ("grid", "grid-s")
    assert (panel.lr.text(), panel.rate_lambda.text(), panel.loss.choice) == ("0.005", "0.002", "l2")
    params = int(panel.cost.text().split(" parameters")[0].replace(",", ""))
    assert params == describe("grid", Frames(96, 160, 16), preset="grid-s").params and not panel.budget.isEnabled()
    panel.arch.setCurrentIndex(panel.arch.findData("hnerv"))  # its laptop size and the paper's recipe
    assert (panel.preset.currentData(), panel.lr.text(), panel.rate_lambda.text()) == ("hnerv-xs", "0.0005", "0")
    assert panel.loss.choice == "fusion6"
    assert (panel.config().qat, panel.config().rate_lambda) == (False, 0.0)
    panel.arch.setCurrentIndex(panel.arch.findData("grid"))
    panel.preset.setCurrentIndex(panel.preset.findData("budget"))  # sized to a typed budget
    panel.budget.setText("50k")
    panel.budget.editingFinished.emit()
    assert panel.budget.isEnabled()
    params = int(panel.cost.text().split(" parameters")[0].replace(",", ""))
    assert abs(params - 50_000) <= 2_500 and "multiply-adds per pixel" in panel.cost.text()
    config = panel.config()
    assert (config.arch, config.preset, config.budget) == ("grid", None, 50_000)
    panel.budget.setText("lots")
    panel.budget.editingFinished.emit()
    assert "300k" in panel.cost.text()  # the error says what a count looks like
    assert not panel.controls.start_button.isEnabled()  # nothing to start until the size means a network
    with pytest.raises(ConfigError):
        panel.config()
    panel.budget.setText("500")  # 16 frames of 160×96: below the smallest grid, whose size is named
    panel.budget.editingFinished.emit()
    assert re.search(r"is too small: the smallest 'grid' model there has \d[\d,]* parameters", panel.cost.text())
    assert not panel.controls.start_button.isEnabled()
    panel.budget.setText("50k")
    panel.budget.editingFinished.emit()
    assert panel.controls.start_button.isEnabled()


def test_opening_another_file_discards_the_running_fit(make_window, qtbot, shapes_clip):
    window = make_window([str(SAMPLE)])
    panel, charts = window.fit_panel, window.charts
    qtbot.waitUntil(lambda: panel.state == "ready", timeout=30_000)
    panel.scale.setCurrentIndex(panel.scale.findData(0.25))
    panel.last.setValue(3)
    panel.epochs.setValue(500)
    window.start_fit()
    qtbot.waitUntil(lambda: charts.history.steps > 0, timeout=120_000)
    fit_thread = window.session._jobs["fit"][1]
    window.open_path(str(shapes_clip))  # the user is asked (the fixture answers "discard")
    session = window.session
    qtbot.waitUntil(lambda: session.video is not None and session.video.path == str(shapes_clip), timeout=30_000)
    # Once the stopped fit's thread has ended, everything it sent is in the event queue: deliver it, and it
    # must be dropped.
    qtbot.waitUntil(lambda: not fit_thread.isRunning(), timeout=60_000)
    QApplication.processEvents()
    assert panel.state == "ready" and charts.history.steps == 0 and not window.session.unsaved
    assert window.player.state.num_frames == 16
