"""File > New study: a study started from the player runs in a child process with live charts per run, opens its summary
at the end, continues after a cancel without refitting, and refuses bad values with a one-line dialog."""

import multiprocessing

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QDialogButtonBox, QMessageBox  # noqa: E402

from nervplayer.study import RunSkipped, RunStarting  # noqa: E402

pytestmark = pytest.mark.gui


def fill(dialog, clip, out, values="5e-3,1e-2", epochs=2):
    """The form as a user fills it: study, video, then the folder (a video change suggests a folder)."""
    dialog.study.setCurrentIndex(dialog.study.findData("lr"))
    dialog.video.setText(str(clip))
    dialog.output.setText(str(out))
    dialog.values.setText(values)
    dialog.params.setText("20k")
    dialog.epochs.setValue(epochs)
    dialog.eval_every.setValue(1)
    dialog.frames.setText("0:8")
    dialog.device.setCurrentText("cpu")


def ok(dialog):
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()


def start(window, qtbot, clip, out, **kw):
    dialog = window.new_study_dialog()
    fill(dialog, clip, out, **kw)
    with qtbot.waitSignal(dialog.ready, timeout=60_000):
        ok(dialog)
    assert not dialog.isVisible()
    return window.study_window


def test_a_study_started_from_the_player_shows_live_charts_per_run_and_its_summary(
    make_window, qtbot, tmp_path, shapes_clip
):
    window = make_window([str(shapes_clip)])
    study = start(window, qtbot, shapes_clip, tmp_path / "study")
    assert study.isVisible() and "Study 'lr'" in study.windowTitle()
    with qtbot.waitSignal(study.ended, timeout=300_000) as ended:
        pass
    assert ended.args == ["completed"]
    assert [(e.index, e.total, e.variant.label) for e in study.events if isinstance(e, RunStarting)] == [
        (0, 2, "lr 0.005"),
        (1, 2, "lr 0.01"),
    ]
    assert study.tabs.count() == 2 and study.tabs.tabText(1) == "2. lr 0.01"
    for index in (0, 1):  # every run drew the fit's charts: a loss point per step, a PSNR point per epoch
        charts = study.charts[index]
        assert charts.history.steps == 2 * 8 and charts.history.evaluations == 2
        charts.redraw()
        assert (
            len(charts.psnr_curve.getOriginalDataset()[1]) == 2 and len(charts.loss_raw.getOriginalDataset()[1]) == 16
        )
        assert study.runs.item(index, 1).text() == "done" and float(study.runs.item(index, 2).text()) > 0
    summary = study.summary
    qtbot.waitUntil(summary.isVisible, timeout=10_000)
    assert summary.table.rowCount() == 2 and not summary.plot.pixmap().isNull()
    assert [summary.table.item(r, 1).text() for r in range(2)] == ["done", "done"]
    assert not study.pause_button.isEnabled() and not study.continue_button.isEnabled()


def test_cancel_then_continue_never_refits_a_finished_run(make_window, qtbot, tmp_path, shapes_clip):
    window = make_window([str(shapes_clip)])
    out = tmp_path / "study"
    # runs of 160 steps: the study's process sends each step as it happens (at a lower priority than the window's,
    # so a long first run takes minutes on a loaded machine), and the pause lands early in the second run; the
    # cancel below cuts the second run short
    study = start(window, qtbot, shapes_clip, out, epochs=20)
    qtbot.waitUntil(lambda: 1 in study.charts and study.charts[1].history.steps >= 2, timeout=300_000)
    # the runs train in the study's own process, not in the window's
    assert [p.name for p in multiprocessing.active_children()].count("nervplayer-study") == 1
    study.pause_button.click()  # pause and resume the current run on the way
    qtbot.waitUntil(lambda: study.runs.item(1, 1).text() == "paused", timeout=60_000)
    assert study.pause_button.text() == "Resume"
    study.pause_button.click()
    qtbot.waitUntil(lambda: study.runs.item(1, 1).text() == "fitting", timeout=60_000)
    with qtbot.waitSignal(study.ended, timeout=120_000) as ended:
        study.cancel_button.click()
    assert ended.args == ["cancelled"] and study.continue_button.isEnabled() and study.summary is None
    first = out / "runs" / "lr-0.005" / "model.safetensors"
    finished_at = first.stat().st_mtime_ns
    assert not (out / "runs" / "lr-0.01" / "model.safetensors").exists()
    assert (out / "runs" / "lr-0.01" / "checkpoint.pt").exists()

    with qtbot.waitSignal(study.ended, timeout=300_000) as ended:
        study.continue_button.click()
    assert ended.args == ["completed"]
    assert [type(e) for e in study.events[:2]] == [RunSkipped, RunStarting] and study.events[1].resumed
    assert first.stat().st_mtime_ns == finished_at  # the finished run was not refitted
    assert study.runs.item(0, 1).text() == "done earlier" and study.runs.item(1, 1).text() == "done"
    assert list(study.charts) == [1] and study.charts[1].history.steps > 0  # only the resumed run trained
    qtbot.waitUntil(study.summary.isVisible, timeout=10_000)


@pytest.mark.parametrize(
    "field, text, message",
    [
        ("values", "fast", "learning rates must be numbers, got 'fast'"),
        ("lr", "quick", "learning rate must be a number, got 'quick'"),
        ("params", "lots", "a parameter count looks like 300k"),
    ],
)
def test_bad_values_are_a_one_line_dialog_and_nothing_starts(
    field, text, message, make_window, qtbot, tmp_path, shapes_clip
):
    window = make_window([str(shapes_clip)])
    dialog = window.new_study_dialog()
    fill(dialog, shapes_clip, tmp_path / "study")
    getattr(dialog, field).setText(text)
    ok(dialog)

    def error():
        boxes = [b for b in dialog.findChildren(QMessageBox) if b.objectName() == "error-dialog" and b.isVisible()]
        return boxes[0] if boxes else None

    qtbot.waitUntil(lambda: error() is not None, timeout=10_000)
    assert error().informativeText().startswith(message) and len(error().informativeText().splitlines()) == 1
    assert dialog.isVisible() and window.study_window is None
    assert not (tmp_path / "study").exists()


def test_the_study_dialog_starts_from_the_fit_panels_architecture(make_window, shapes_clip):
    """`nervplayer study`, the fit panel and File > New study all start from the same default architecture."""
    from nervplayer.train.config import DEFAULT_ARCH

    window = make_window([str(shapes_clip)])
    dialog = window.new_study_dialog()
    assert dialog.arch.currentData() == window.fit_panel.arch.currentData() == DEFAULT_ARCH
    dialog.reject()
