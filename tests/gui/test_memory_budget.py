"""A .nerv too large to decode within the memory budget becomes an error dialog; the window stays up."""

import pytest

pytest.importorskip("PySide6")

from codec.conftest import huge_all_pruned_nerv  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from nervplayer.codec import nervfile, reader  # noqa: E402

pytestmark = pytest.mark.gui


def test_over_budget_nerv_is_a_dialog_and_the_window_stays(make_window, qtbot, tmp_path, monkeypatch):
    path = tmp_path / "huge.nerv"
    nervfile.save(huge_all_pruned_nerv(), path)
    monkeypatch.setattr(reader, "default_budget_bytes", lambda device: 64 << 20)  # a small machine
    window = make_window([str(path)])

    def dialog() -> QMessageBox | None:
        boxes = [b for b in window.findChildren(QMessageBox) if b.objectName() == "error-dialog" and b.isVisible()]
        return boxes[0] if boxes else None

    qtbot.waitUntil(lambda: dialog() is not None, timeout=30_000)
    text = dialog().informativeText()
    assert "memory budget of 64.0 MiB" in text and "needs" in text
    assert window.isVisible() and window.session.nerv is None
