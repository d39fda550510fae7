"""Playing a ``.nerv``, the lower panel tells what the file knows (its stored curves and per-frame PSNR, size and
bits per frame, architecture and recipe) or folds away when there is nothing to show; a damaged story plays and
says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QMessageBox  # noqa: E402

from nervplayer.codec import container  # noqa: E402

pytestmark = pytest.mark.gui

OLD = Path(__file__).parent.parent / "data" / "format1-tiny.nerv"  # 16 frames, written before stories existed
STORY = {
    "curves": {"epoch": [1, 2, 3], "loss": [0.3, 0.2, 0.15], "psnr": [18.0, 21.0, 22.5], "lr": [1e-3] * 3},
    "frame_psnr": [20.0 + i / 4 for i in range(16)],
    "recipe": {"epochs": 3, "loss": "fusion6"},
}


def with_story(tmp_path: Path, story: object, name: str = "told.nerv") -> Path:
    """The old fixture with ``story`` in its header (checksum fixed)."""
    header, sections = container.read(OLD)
    header["story"] = story
    path = tmp_path / name
    path.write_bytes(container.pack(header, [(t, sections[t]) for t in header["sections"]]))
    return path


def playing(window, qtbot, path: Path):
    qtbot.waitUntil(lambda: window.session.path == str(path) and window.session.nerv is not None, timeout=30_000)
    qtbot.waitUntil(lambda: window.player.canvas.displayed_index is not None, timeout=30_000)  # it plays
    return window


def no_errors(window) -> bool:
    return not [b for b in window.findChildren(QMessageBox) if b.objectName() == "error-dialog" and b.isVisible()]


def test_a_nerv_shows_its_story_in_the_lower_panel(make_window, qtbot, tmp_path):
    told = with_story(tmp_path, STORY)
    window = playing(make_window([str(told)]), qtbot, told)
    dock, story = window.charts_dock, window.story
    assert not dock.isHidden() and window.lower_panel.currentWidget() is story and dock.windowTitle() == "This file"
    text = story.facts.text()
    assert "kbit per frame" in text and "<b>nerv</b> network" in text
    assert "<b>fitted</b> 3 epochs · fusion6 loss" in text
    assert "unreadable" not in text and "press Start" not in text
    assert not story.frames_chart.isHidden() and len(story.frame_curve.getOriginalDataset()[1]) == 16
    assert list(story.psnr_curve.getOriginalDataset()[1]) == [18.0, 21.0, 22.5] and not story.loss_chart.isHidden()
    assert np.allclose(window.player.timeline.psnr, STORY["frame_psnr"])  # the timeline's strip too
    window.player.state.frame = 5
    assert story.frame_marker.value() == 5
    assert no_errors(window)


def test_an_old_nerv_folds_the_panel_away_and_a_video_brings_the_charts_back(make_window, qtbot, tmp_path, shapes_clip):
    told = with_story(tmp_path, STORY)
    window = playing(make_window([str(told)]), qtbot, told)
    assert not window.charts_dock.isHidden()
    window.open_path(str(OLD))
    playing(window, qtbot, OLD)
    assert window.charts_dock.isHidden()  # nothing to chart: no empty "press Start" charts
    assert "kbit per frame" in window.fit_panel.video_label.text()  # what it has, on the right
    with qtbot.waitSignal(window.session.opened, timeout=30_000):
        window.open_path(str(shapes_clip))
    assert not window.charts_dock.isHidden() and window.lower_panel.currentWidget() is window.charts
    assert window.charts_dock.windowTitle() == "Training" and "press Start" in window.charts.summary.text()


def test_a_nerv_whose_curves_are_damaged_plays_and_says_they_are_unreadable(make_window, qtbot, tmp_path):
    damaged = with_story(tmp_path, dict(STORY, curves={"epoch": [1, 2], "psnr": "garbage"}), "damaged.nerv")
    window = playing(make_window([str(damaged)]), qtbot, damaged)
    assert window.session.nerv is not None and no_errors(window)
    assert not window.charts_dock.isHidden()
    assert "the stored training curves are unreadable (psnr is not a list)" in window.story.facts.text()
    assert "training curves are unreadable" in window.statusBar().currentMessage()
    assert window.story.psnr_chart.isHidden() and not window.story.frames_chart.isHidden()  # the rest still shows
