"""A segmented .nerv in the player: it opens, plays and scrubs across segment boundaries showing each segment's
exact frames, keeps a bounded number of segment networks built, and its lower panel lists the segments and marks
the boundaries on the per-frame PSNR chart (a seam in orange)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from segmented_files import segmented_nerv  # noqa: E402

from nervplayer.codec import NervVideo  # noqa: E402
from nervplayer.gui.story import WARN  # noqa: E402

pytestmark = pytest.mark.gui

# per-frame PSNR stored by each segment: segment 1 starts 1.5 dB below its mean (a seam at frame 5)
PSNR = {0: [30.0] * 5, 1: [28.5] + [30.0] * 6, 2: [31.0] * 4}


def test_a_segmented_file_plays_and_scrubs_across_its_boundaries(make_window, qtbot, tmp_path, kit):
    path, parts = segmented_nerv(tmp_path, [0, 5, 12, 16], frame_psnr=lambda i: PSNR[i])
    window = make_window([str(path)])
    qtbot.waitUntil(lambda: window.session.nerv is not None, timeout=30_000)
    player, nerv = window.player, window.session.nerv
    alone = [NervVideo.open(p.path) for p in parts]
    for k in (4, 5, 11, 12, 0, 15, 6):  # both sides of each boundary, back and forth
        player.state.frame = k
        qtbot.waitUntil(lambda k=k: player.canvas.displayed_index == k, timeout=10_000)
        seg = next(i for i, p in enumerate(parts) if p.start <= k < p.end)
        assert np.array_equal(kit.shown(player), alone[seg].frame(k - parts[seg].start))
        assert nerv.built_count <= nerv.built_bound
    story = window.story
    assert "<b>3 segments</b>" in story.facts.text() and "frames 5–11" in story.facts.text()
    assert [line.value() for line in story.boundaries] == [4.5, 11.5]
    colors = [line.pen.color().name() for line in story.boundaries]
    assert colors[0] == WARN and colors[1] != WARN  # the seam at frame 5, not at 12
    assert len(story.frame_curve.getOriginalDataset()[1]) == 16


def test_the_timeline_shows_a_segment_strip_of_a_segmented_file_and_none_for_one_model(make_window, qtbot, tmp_path):
    metrics = {0: {"psnr": 22.0}, 1: {"psnr": 38.0}, 2: {"psnr": 30.0}}
    path, parts = segmented_nerv(tmp_path, [0, 5, 12, 16], metrics=lambda i: metrics[i])
    window = make_window([str(path)])
    qtbot.waitUntil(lambda: window.session.nerv is not None, timeout=30_000)
    timeline = window.player.timeline
    qtbot.waitUntil(lambda: timeline.shows_segments, timeout=10_000)
    assert [(s.start, s.end, s.psnr) for s in timeline.segments] == [(0, 5, 22.0), (5, 12, 38.0), (12, 16, 30.0)]
    assert [s.bytes for s in timeline.segments] == [p.path.stat().st_size for p in parts]
    tip = timeline.tooltip(7)
    assert "frame 7" in tip and "segment 1: frames 5–11" in tip and "38.00 dB" in tip and "kB" in tip
    red, green = timeline.segment_color(0), timeline.segment_color(1)
    assert red.red() > red.green() and green.green() > green.red()  # worse segment redder, better greener
    # painted: the strip's cells take the segments' colours, under the track
    image = timeline.grab().toImage()
    y = 4 + 12 + 6 + 4
    assert image.pixelColor(round(timeline.x_of(2)), y).name() == red.name()
    assert image.pixelColor(round(timeline.x_of(8)), y).name() == green.name()
    # a one-model file: no strip
    single, _ = segmented_nerv(tmp_path / "one", [0, 16])
    window.session.open(str(single))
    qtbot.waitUntil(lambda: window.session.path == str(single), timeout=30_000)
    assert not timeline.shows_segments and "segment" not in timeline.tooltip(7)


def test_the_segment_strip_follows_each_segment_of_a_fit_from_pending_to_done_or_failed(qtbot):
    from nervplayer.gui.state import PlaybackState
    from nervplayer.gui.timeline import Timeline
    from nervplayer.segments.status import DONE, FAILED, FITTING, PENDING, SegmentStatus

    timeline = Timeline(PlaybackState(20))
    qtbot.addWidget(timeline)
    timeline.resize(400, timeline.height())
    height = timeline.height()
    timeline.set_segments([SegmentStatus(0, 10, PENDING), SegmentStatus(10, 20, PENDING)])
    assert timeline.shows_segments and timeline.height() > height
    pending = timeline.segment_color(0).name()
    timeline.set_segment(0, timeline.segments[0].with_state(FITTING))
    fitting = timeline.segment_color(0).name()
    timeline.set_segment(0, timeline.segments[0].with_state(DONE, psnr=31.5, size=2048))
    timeline.set_segment(1, timeline.segments[1].with_state(FAILED))
    done, failed = timeline.segment_color(0).name(), timeline.segment_color(1).name()
    assert len({pending, fitting, done, failed}) == 4
    assert "segment 0: frames 0–9 · 2.0 kB · 31.50 dB · done" in timeline.tooltip(3)
    assert "segment 1: frames 10–19 · failed" in timeline.tooltip(15)
    image = timeline.grab().toImage()
    assert image.pixelColor(round(timeline.x_of(15)), 4 + 12 + 6 + 4).name() == failed
    timeline.state.set_clip(20, 25.0)  # another clip: the strip goes
    assert not timeline.shows_segments and timeline.height() == height
