"""Scene cuts and the splitter (nervplayer/video/cuts.py, nervplayer/segments/split.py)."""

import numpy as np
import pytest
from clips import moving_shapes, write_video

from nervplayer.errors import ConfigError
from nervplayer.segments.split import auto_length, length_bounds, split
from nervplayer.video import probe
from nervplayer.video.cuts import scene_cuts


def two_scenes(n1: int, n2: int, h: int = 48, w: int = 64) -> np.ndarray:
    """A clip of moving shapes, then a hard cut to the same shapes in other colours moving the other way."""
    second = moving_shapes(n2, h, w)[::-1][..., ::-1]  # reversed in time, channels swapped: another scene
    return np.concatenate([moving_shapes(n1, h, w), second])


def test_the_hard_cut_is_found_and_nothing_else(tmp_path):
    clip = write_video(tmp_path / "cut.mp4", two_scenes(23, 17))
    cuts = scene_cuts(probe(clip))
    assert [c.frame for c in cuts] == [23]
    assert cuts[0].score > 0.25


def test_fast_motion_alone_is_no_cut(tmp_path):
    clip = write_video(tmp_path / "motion.mp4", moving_shapes(12, 48, 64)[::2].repeat(2, axis=0))
    assert scene_cuts(probe(clip)) == []


def test_a_boundary_lands_on_the_cut():
    assert split(40, 20, cuts=[23]) == [(0, 23), (23, 40)]
    assert split(40, 20) == [(0, 20), (20, 40)]


@pytest.mark.parametrize("n", [2, 3, 5, 17, 40, 101, 333])
@pytest.mark.parametrize("target", [2, 3, 7, 16, 30])
def test_segments_tile_the_clip_within_the_bounds(n, target):
    if target > n:
        with pytest.raises(ConfigError, match="longer than the clip"):
            split(n, target)
        return
    cuts = [i for i in range(1, n) if i % 11 == 0]
    segments = split(n, target, cuts)
    low, high = length_bounds(target)
    assert segments[0][0] == 0 and segments[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(segments, segments[1:]))
    assert all(low <= e - s <= high for s, e in segments)


def test_a_segment_under_two_frames_is_refused():
    with pytest.raises(ConfigError, match="at least 2 frames"):
        split(10, 1)


def test_auto_length_follows_the_frame_size():
    assert auto_length(1000, 180, 320) == 75
    assert auto_length(1000, 720, 1280) == 30
    assert auto_length(100, 180, 320) == 100  # shorter than two segments: one


def test_the_control_file_holds_a_job_while_paused_and_releases_it_on_resume_or_cancel(tmp_path):
    import threading

    from nervplayer.segments.control import CANCEL, PAUSE, RUN, Control, write_control

    assert Control(tmp_path, interval=0.01).state() == RUN  # no file yet
    for release in (RUN, CANCEL):
        write_control(tmp_path, PAUSE)
        control = Control(tmp_path, interval=0.01)  # a fresh reader: a reused one may answer from its last read
        ended: list[str] = []
        waiter = threading.Thread(target=lambda: ended.append(control.wait_while_paused()))
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive() and not ended  # still held
        write_control(tmp_path, release)
        waiter.join(10)
        assert ended == [release]
    (tmp_path / "control").write_text("garbage")
    assert Control(tmp_path).state() == RUN
