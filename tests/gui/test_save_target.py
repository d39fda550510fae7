"""The target field of Save as .nerv: parsed as the command line parses it, refused with the reason under the form,
and handed to the compression (rate control chooses pruning and width, so their fields are disabled)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog

from nervplayer.codec.ratecontrol import Target
from nervplayer.gui.dialogs import SaveDialog


def test_a_target_is_parsed_refused_with_its_reason_or_passed_on(qtbot, tmp_path):
    dialog = SaveDialog(tmp_path / "clip.nerv", 100)
    qtbot.addWidget(dialog)
    dialog.open()
    assert dialog.options("cpu").target is None and dialog.bits.isEnabled()
    dialog.target.setText("2 MBs")
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted and dialog.isVisible()
    assert not dialog.error.isHidden() and "not a size: '2 MBs'" in dialog.error.text()
    dialog.target.setText("psnr:32")
    assert dialog.error.isHidden() and not dialog.bits.isEnabled() and not dialog.prune.isEnabled()
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.accept()
    assert dialog.options("cpu").target == Target("psnr", 32.0)
    dialog.target.setText("200KB")
    assert dialog.options("cpu").target == Target("size", 200_000)


def test_a_fit_that_learned_its_quantization_is_saved_with_its_steps_or_to_a_target(qtbot, tmp_path):
    dialog = SaveDialog(tmp_path / "clip.nerv", 100, learned=True)
    qtbot.addWidget(dialog)
    dialog.open()
    assert not dialog.note.isHidden() and "do not apply" in dialog.note.text()
    assert not any(w.isEnabled() for w in (dialog.prune, dialog.finetune, dialog.bits))
    dialog.target.setText("200KB")
    dialog.target.setText("")  # clearing the target gives back nothing that does not apply
    assert not dialog.prune.isEnabled() and not dialog.bits.isEnabled() and dialog.target.isEnabled()
