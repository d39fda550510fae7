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
