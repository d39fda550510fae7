"""The main window: opening files, errors as dialogs, remembered state, the plugins dialog."""

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QMessageBox

from nervplayer.gui.dialogs import PluginsDialog
from nervplayer.gui.state import CompareMode
from nervplayer.sample import sample_nerv
from nervplayer.sample import sample_video as sample_path
from nervplayer.video.source import ArraySource

SAMPLE = sample_path()
needs_sample = pytest.mark.skipif(SAMPLE is None, reason="resources/sample.mp4 is missing")


def error_dialogs(window) -> list[QMessageBox]:
    return [b for b in window.findChildren(QMessageBox) if b.objectName() == "error-dialog" and b.isVisible()]


@pytest.mark.skipif(sample_nerv() is None, reason="resources/sample.nerv is missing")
def test_no_arguments_plays_the_sample_nerv_with_its_ground_truth_one_key_away(make_window, qtbot):
    window = make_window([])
    player = window.player
    qtbot.waitUntil(lambda: player.canvas.displayed_index is not None, timeout=30_000)
    assert window.session.nerv is not None and Path(window.session.path) == sample_nerv()
    assert player.truth is not None and player.state.playing and player.state.loop_all
    assert player.state.num_frames == 48
    first = player.canvas.displayed_index
    qtbot.waitUntil(lambda: player.canvas.displayed_index != first, timeout=30_000)  # it plays
    hint = window.statusBar().currentMessage()
    assert "neural network" in hint and "G shows the original" in hint and "Ctrl+O a video of your own" in hint
    qtbot.keyClick(player.canvas, Qt.Key.Key_G)  # the ground truth, one key away
    assert player.compare.mode is not CompareMode.OFF
    assert not error_dialogs(window)


@needs_sample
def test_a_video_opens_ready_to_fit(make_window, qtbot):
    window = make_window([str(SAMPLE)])
    qtbot.waitUntil(lambda: window.player.canvas.frame is not None, timeout=30_000)
    assert window.session.video is not None and Path(window.session.video.path) == SAMPLE
    assert window.fit_panel.state == "ready" and window.fit_panel.controls.start_button.isEnabled()
    assert window.player.state.num_frames == window.session.video.num_frames
    assert window.named_actions["fit_start"].isEnabled()
    assert not error_dialogs(window)


def test_a_corrupt_nerv_shows_an_error_and_the_window_stays_alive(make_window, qtbot, tmp_path, clip):
    bad = tmp_path / "bad.nerv"
    bad.write_bytes(b"NERV" + bytes(range(256)) * 4)
    window = make_window([str(bad)])
    qtbot.waitUntil(lambda: bool(error_dialogs(window)), timeout=30_000)
    box = error_dialogs(window)[0]
    assert "bad.nerv" in box.informativeText() or "nerv" in box.informativeText().lower()
    box.accept()
    assert window.isVisible()
    window.player.set_source(ArraySource(clip))  # still plays
    qtbot.waitUntil(lambda: window.player.canvas.displayed_index == 0, timeout=3000)
    window.open_path(str(tmp_path / "missing.mp4"))
    assert error_dialogs(window)


def test_open_recent_drops_missing_paths(make_window, settings, tmp_path):
    kept, gone = tmp_path / "kept.mp4", tmp_path / "gone.mp4"
    kept.write_bytes(b"x")
    gone.write_bytes(b"x")
    settings.add_recent(str(gone))
    settings.add_recent(str(kept))
    gone.unlink()
    window = make_window([str(kept)])  # not a real video: an error dialog, and the recent list is unchanged
    window._fill_recent()
    names = [a.text() for a in window.recent_menu.actions()]
    assert names == ["kept.mp4"]


def test_last_frame_and_layout_are_remembered(make_window, settings, qtbot, tmp_path, kit):
    window = make_window(["--frame", "0", str(tmp_path / "none.mp4")])
    window.charts_dock.hide()
    window.session.path = str(tmp_path / "clip.mp4")
    (tmp_path / "clip.mp4").write_bytes(b"x")
    window.player.set_source(ArraySource(kit.synthetic_clip()))
    window.player.state.frame = 7
    window.close()
    assert settings.last_frame(str(tmp_path / "clip.mp4")) == 7
    again = make_window([str(tmp_path / "none.mp4")])
    assert not again.charts_dock.isVisible() and again.fit_dock.isVisible()


def test_closing_with_unsaved_work_asks_first(make_window, monkeypatch):
    window = make_window([])
    window.session.unsaved = True
    answers = []
    monkeypatch.setattr(type(window), "ask_unsaved", lambda self: answers.append(1) or "cancel")
    assert not window.close()
    assert answers and window.isVisible()
    monkeypatch.setattr(type(window), "ask_unsaved", lambda self: "discard")
    assert window.close()


def test_dropping_a_file_opens_it(make_window, qtbot, tmp_path):
    window = make_window([str(tmp_path / "none.mp4")])
    opened = []
    window.open_path = lambda path, *a, **k: opened.append(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "clip.nerv"))])
    enter = QDragEnterEvent(
        QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    window.dropEvent(
        QDropEvent(
            QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        )
    )
    assert opened == [str(tmp_path / "clip.nerv")]


def test_plugins_dialog_lists_every_plugin_and_failures(qtbot):
    from nervplayer.plugins import LoadRecord, get_registry

    reg = get_registry()
    reg.report.append(
        LoadRecord(
            name="broken",
            source="user:/x/broken.py",
            status="failed",
            error="ImportError: no module named 'nope' (broken.py:1)",
        )
    )
    try:
        dialog = PluginsDialog(reg)
        qtbot.addWidget(dialog)
        rows = {
            dialog.tree.topLevelItem(i).text(0): dialog.tree.topLevelItem(i)
            for i in range(dialog.tree.topLevelItemCount())
        }
        assert rows["broken"].text(1) == "failed" and "nope" in rows["broken"].text(3)
        assert rows["activations"].text(1) == "ok" and rows["activations"].childCount() == len(
            reg.entries("activation")
        )
        children = [rows["activations"].child(i).text(0) for i in range(rows["activations"].childCount())]
        assert "activation:silu" in children
    finally:
        reg.report.pop()


def test_window_keys_reach_the_player(make_window, qtbot, kit):
    window = make_window(["/nonexistent.mp4"])
    for box in error_dialogs(window):
        box.accept()
    window.player.set_source(ArraySource(kit.synthetic_clip()))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    qtbot.waitUntil(lambda: window.player.canvas.displayed_index == 0, timeout=3000)
    qtbot.keyClick(window.player.canvas, Qt.Key.Key_Period)
    assert window.player.state.frame == 1
    qtbot.keyClick(window.player.canvas, Qt.Key.Key_F)
    assert window.isFullScreen() and not window.menuBar().isVisible()
    qtbot.keyClick(window.player.canvas, Qt.Key.Key_Escape)
    assert not window.isFullScreen() and window.menuBar().isVisible()


def test_command_line_file_ground_truth_and_frame(make_window, monkeypatch):
    from nervplayer.gui.main_window import MainWindow

    calls = []
    monkeypatch.setattr(MainWindow, "open_path", lambda self, *a, **k: calls.append((a, k)))
    make_window(["clip.nerv", "--gt", "clip.mp4", "--frame", "12"])
    assert calls == [(("clip.nerv",), {"truth": "clip.mp4", "frame": 12})]


def test_plugin_failures_at_start_up_show_a_dialog(make_window, monkeypatch):
    from nervplayer.plugins import LoadRecord, get_registry

    reg = get_registry()
    monkeypatch.setattr(
        reg,
        "report",
        [*reg.report, LoadRecord("broken", "user:/x/broken.py", "failed", "SyntaxError: invalid syntax (broken.py:3)")],
    )
    window = make_window(["/nonexistent.mp4"])
    texts = [b.informativeText() for b in error_dialogs(window)]
    assert any("broken" in t and "SyntaxError" in t for t in texts)


def test_a_failing_fit_shows_an_error_and_the_panel_is_ready_again(make_window, qtbot, monkeypatch, shapes_clip):
    from nervplayer import session
    from nervplayer.errors import DeviceError

    def out_of_memory(*args, **kwargs):
        raise DeviceError("out of memory on cuda at batch size 64: try a smaller --batch-size")

    monkeypatch.setattr(session, "Fitter", out_of_memory)
    window = make_window([str(shapes_clip)])
    window.session.fit_in_child = False  # the fit in this thread, where the patched Fitter is (test_fit_process)
    qtbot.waitUntil(lambda: window.fit_panel.state == "ready", timeout=30_000)
    window.start_fit()
    qtbot.waitUntil(lambda: bool(error_dialogs(window)), timeout=10_000)
    assert "out of memory" in error_dialogs(window)[0].informativeText()
    assert window.fit_panel.state == "ready" and window.fit_panel.controls.start_button.isEnabled()


def test_cache_size_is_configurable_and_remembered(make_window, settings):
    window = make_window(["/nonexistent.mp4"])
    window.set_cache_mb(64)
    assert window.player.decoder.cache.budget_bytes == 64 << 20 and settings.cache_mb == 64
