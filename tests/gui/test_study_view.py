"""File > Open study shows a study folder's plot and table; a folder that is no study is an error dialog."""

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QMessageBox  # noqa: E402

from nervplayer.study import StudyRunner, get_study  # noqa: E402
from nervplayer.train import FitConfig  # noqa: E402

pytestmark = pytest.mark.gui


def test_open_study_shows_its_plot_and_table(make_window, qtbot, tmp_path, shapes_clip):
    base = FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=1, lr=5e-3, end=8, model={"fc_c": 8})
    events = list(StudyRunner(get_study("lr"), base, tmp_path / "study", ["5e-3", "1e-2"]).run())
    rows = events[-1].outputs.rows
    window = make_window([str(shapes_clip)])
    dialog = window.open_study(str(tmp_path / "study"))
    qtbot.waitUntil(dialog.isVisible, timeout=10_000)
    assert "Study 'lr'" in dialog.windowTitle()
    assert not dialog.plot.pixmap().isNull() and dialog.plot.pixmap().width() > 500
    table = dialog.table
    assert table.rowCount() == 2
    assert [table.item(r, 0).text() for r in range(2)] == ["lr 0.005", "lr 0.01"]
    assert [table.item(r, 4).text() for r in range(2)] == [f"{r['psnr']:.2f}" for r in rows]


def test_a_folder_that_is_no_study_is_an_error_dialog(make_window, qtbot, tmp_path, shapes_clip):
    window = make_window([str(shapes_clip)])
    assert window.open_study(str(tmp_path)) is None

    def dialog():
        boxes = [b for b in window.findChildren(QMessageBox) if b.objectName() == "error-dialog" and b.isVisible()]
        return boxes[0] if boxes else None

    qtbot.waitUntil(lambda: dialog() is not None, timeout=10_000)
    assert "not a study folder" in dialog().informativeText() and window.isVisible()
