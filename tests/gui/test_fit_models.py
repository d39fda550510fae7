"""Every content-adaptive / latent architecture through the window: fit it from the fit panel on a tiny clip,
play and compare the live fit, save it as .nerv, and reopen the file with its source."""

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from nervplayer.codec import CompressOptions, NervVideo
from nervplayer.gui.dialogs import SaveDialog
from nervplayer.gui.fit_panel import BUDGET
from nervplayer.gui.state import CompareMode
from nervplayer.video.source import LiveSource


def show_frame(qtbot, player, k):
    qtbot.mouseClick(player.timeline, Qt.MouseButton.LeftButton, pos=QPoint(round(player.timeline.x_of(k)), 10))
    qtbot.waitUntil(
        lambda: player.canvas.displayed_index == k and player.canvas.frame.generation == player.decoder.generation,
        timeout=10_000,
    )


@pytest.mark.parametrize("arch", ["hnerv", "grid"])
def test_fit_play_compare_save_and_reopen(arch, make_window, qtbot, tmp_path, shapes_clip, kit):
    window = make_window([str(shapes_clip)])
    panel, player = window.fit_panel, window.player
    qtbot.waitUntil(lambda: panel.state == "ready", timeout=30_000)
    panel.arch.setCurrentIndex(panel.arch.findData(arch))
    panel.preset.setCurrentIndex(panel.preset.findData(BUDGET))  # hnerv's own default is a preset (hnerv-xs)
    panel.last.setValue(7)
    panel.budget.setText("25k")
    panel.budget.editingFinished.emit()
    params = int(panel.cost.text().split(" parameters")[0].replace(",", ""))
    assert abs(params - 25_000) <= 1_250 and "multiply-adds per pixel" in panel.cost.text()
    panel.epochs.setValue(3)
    panel.eval_every.setValue(1)
    panel.lr.setText("1e-2")
    qtbot.mouseClick(panel.controls.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state == "finished", timeout=300_000)
    assert "completed" in panel.controls.bar.format()
    fitter = window.session.fitter
    assert fitter.spec.arch == arch and isinstance(player.source, LiveSource)
    assert player.state.num_frames == 8 and player.source.size == (64, 64)

    # Play: the pixels shown are the live model's frame; compare against the ground truth.
    show_frame(qtbot, player, 5)
    assert np.array_equal(kit.shown(player), fitter.decode([5])[0])
    qtbot.keyClick(player.canvas, Qt.Key.Key_G)
    assert player.compare.mode is CompareMode.WIPE and player.current_psnr() is not None
    player.compare.set_mode(CompareMode.OFF)

    # the grid trained rate-aware (its recipe): Save offers only a target, its file being the steps it learned
    window.ask_save_options()
    dialog = window.findChild(SaveDialog)
    learned = arch == "grid"
    assert (dialog.note.isHidden(), dialog.prune.isEnabled(), dialog.bits.isEnabled()) == (not learned,) * 3
    dialog.reject()
    out = tmp_path / f"{arch}.nerv"
    window.save_nerv_to(out, CompressOptions(prune=0.2, finetune_epochs=1, device="cpu"))
    qtbot.waitUntil(lambda: panel.state == "finished" and out.is_file(), timeout=300_000)
    assert not window.session.unsaved and "bpp" in panel.controls.result.text(), panel.controls.bar.format()

    window.open_path(str(out), truth=str(shapes_clip))
    qtbot.waitUntil(lambda: window.session.nerv is not None and player.truth is not None, timeout=60_000)
    assert window.session.nerv.file.model.arch == arch
    assert (player.state.num_frames, player.source.size) == (8, (64, 64))
    qtbot.waitUntil(lambda: not np.isnan(player.timeline.psnr).any(), timeout=30_000)
    show_frame(qtbot, player, 3)
    assert np.array_equal(kit.shown(player), NervVideo.open(out).frame(3))
    player.compare.set_mode(CompareMode.DIFFERENCE)
    assert kit.shown(player).any()
