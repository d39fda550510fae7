"""The window's fit runs in a child process: the live model plays from the child's weights, pause / resume /
cancel and Save as .nerv work, an error in the child is a dialog, and no child outlives the window."""

import multiprocessing

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox

from nervplayer.codec import CompressOptions
from nervplayer.train import FitConfig, Paused, decoder, remote
from nervplayer.train.remote import RemoteFitter
from nervplayer.video.source import LiveSource


def children() -> list[int]:
    """The fit's processes running (its own, its decode process), but the spares started ahead for the next fit."""
    spares = {remote.spare_pid(), decoder.spare_pid()}
    return [p.pid for p in multiprocessing.active_children() if p.pid is not None and p.pid not in spares]


def error_dialogs(window) -> list[QMessageBox]:
    return [b for b in window.findChildren(QMessageBox) if b.objectName() == "error-dialog" and b.isVisible()]


def start_long_fit(window, qtbot) -> RemoteFitter:
    panel = window.fit_panel
    qtbot.waitUntil(lambda: panel.state == "ready", timeout=30_000)
    panel.last.setValue(3)
    panel.epochs.setValue(500)
    panel.eval_every.setValue(100)
    qtbot.mouseClick(panel.controls.start_button, Qt.MouseButton.LeftButton)
    assert panel.state == "starting"
    qtbot.waitUntil(lambda: window.charts.history.steps > 2, timeout=120_000)
    fitter = window.session.fitter
    assert isinstance(fitter, RemoteFitter) and fitter.pid in children()
    return fitter


def test_the_live_model_of_a_child_process_plays_pauses_cancels_and_saves(
    make_window, qtbot, tmp_path, kit, shapes_clip
):
    window = make_window([str(shapes_clip)])
    panel, player = window.fit_panel, window.player
    fitter = start_long_fit(window, qtbot)
    assert isinstance(player.source, LiveSource) and player.truth is not None and player.state.num_frames == 4

    paused = []
    window.session.fit_event.connect(lambda e: paused.append(e) if isinstance(e, Paused) else None)
    qtbot.mouseClick(panel.controls.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(paused), timeout=60_000)
    steps = window.charts.history.steps
    # Paused, the parent holds the child's latest weights: the pixels shown are that model's frame.
    player.refresh()
    qtbot.mouseClick(player.timeline, Qt.MouseButton.LeftButton, pos=QPoint(round(player.timeline.x_of(2)), 10))
    qtbot.waitUntil(
        lambda: player.canvas.displayed_index == 2 and player.canvas.frame.generation == player.decoder.generation,
        timeout=10_000,
    )
    assert np.array_equal(kit.shown(player), fitter.decode([2])[0])
    assert window.charts.history.steps == steps

    qtbot.mouseClick(panel.controls.pause_button, Qt.MouseButton.LeftButton)
    assert panel.state == "running"
    qtbot.waitUntil(lambda: window.charts.history.steps > steps + 2, timeout=60_000)
    qtbot.mouseClick(panel.controls.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state == "finished", timeout=60_000)
    assert "cancelled" in panel.controls.bar.format() and window.session.unsaved
    qtbot.waitUntil(lambda: fitter.pid not in children(), timeout=30_000)

    out = tmp_path / "child.nerv"
    window.save_nerv_to(out, CompressOptions(prune=0.0, finetune_epochs=0, device="cpu", evaluate=False))
    qtbot.waitUntil(lambda: panel.state == "finished" and out.is_file(), timeout=120_000)
    assert not window.session.unsaved, panel.controls.bar.format()


def test_closing_the_window_ends_the_child(make_window, qtbot, shapes_clip):
    window = make_window([str(shapes_clip)])
    fitter = start_long_fit(window, qtbot)
    window.close()  # the fixture answers "discard": the fit is cancelled, and its child ends on its own
    qtbot.waitUntil(lambda: fitter.pid not in children(), timeout=60_000)


def test_an_error_in_the_child_shows_the_dialog(make_window, qtbot, shapes_clip):
    window = make_window([str(shapes_clip)])
    qtbot.waitUntil(lambda: window.fit_panel.state == "ready", timeout=30_000)
    window.session.start_fit(
        FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", loss="nope")
    )  # in the child
    qtbot.waitUntil(lambda: bool(error_dialogs(window)), timeout=60_000)
    assert "unknown loss 'nope'" in error_dialogs(window)[0].informativeText()
    assert window.fit_panel.state == "ready" and window.fit_panel.controls.start_button.isEnabled()
    assert not children()
