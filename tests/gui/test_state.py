"""The player's logic without pixels: state, clock, zoom geometry, cache and compare maths."""

import numpy as np
import pytest

from nervplayer.gui.cache import FrameCache
from nervplayer.gui.clock import PlaybackClock
from nervplayer.gui.compare import SIGNED_LUT, difference, error_range, psnr
from nervplayer.gui.state import CompareMode, CompareState, DiffMode, PlaybackState
from nervplayer.gui.timecode import timecode
from nervplayer.gui.view import ViewTransform


def test_position_is_clamped_and_steps_pause():
    s = PlaybackState(10, 25)
    seen = []
    s.frame_changed.connect(seen.append)
    s.frame = 99
    assert s.frame == 9
    s.playing = True
    s.step(-3)
    assert (s.frame, s.playing) == (6, False)
    s.seek_seconds(-10)
    assert s.frame == 0 and seen == [9, 6, 0]


def test_ab_loop_cycles_and_orders_points():
    s = PlaybackState(100, 25)
    s.frame = 40
    s.cycle_ab_loop()
    s.frame = 10
    s.cycle_ab_loop()
    assert (s.loop_a, s.loop_b, s.range()) == (10, 40, (10, 40))
    s.cycle_ab_loop()
    assert (s.loop_a, s.loop_b, s.range()) == (None, None, (0, 99))
    s.toggle_loop_all()
    assert s.looping


def test_speed_is_clamped_and_snaps_to_one():
    s = PlaybackState()
    for _ in range(3):
        s.speed *= 1.1
    for _ in range(3):
        s.speed *= 1 / 1.1
    assert s.speed == 1.0
    s.speed = 1000
    assert s.speed == 16.0


def test_play_at_the_end_starts_over():
    s = PlaybackState(10, 25)
    s.frame = 9
    s.toggle_playing()
    assert s.playing and s.frame == 0


def test_compare_keys():
    c = CompareState()
    c.toggle()
    assert c.mode is CompareMode.WIPE
    c.cycle()
    assert c.mode is CompareMode.SIDE_BY_SIDE
    c.toggle()
    assert c.mode is CompareMode.OFF
    c.toggle()
    assert c.mode is CompareMode.SIDE_BY_SIDE  # g brings back the last mode
    c.cycle_diff()
    assert (c.mode, c.diff_mode) == (CompareMode.DIFFERENCE, DiffMode.ABS_4)
    c.cycle_diff()
    assert c.diff_mode is DiffMode.ABS_16


def test_clock_follows_wall_time_not_displayed_frames():
    now = [100.0]
    clock = PlaybackClock(lambda: now[0])
    clock.start(5, fps=25, speed=2)
    assert clock.target() == 5
    now[0] += 1.0
    assert clock.target() == 55  # one second at 50 frames/s, however few were shown
    assert clock.seconds_until(56) == pytest.approx(0.02)


def test_zoom_keeps_the_point_under_the_cursor():
    v = ViewTransform()
    v.layout(800, 600, 320, 180)
    assert v.fit and v.scale == pytest.approx(2.5)
    before = v.to_image(300, 250)
    v.zoom_at(300, 250, 1.7)
    assert v.to_image(300, 250) == pytest.approx(before)
    assert not v.fit
    v.one_to_one()
    assert v.scale == 1.0 and v.ox == round(v.ox)
    v.fit_view()
    assert v.scale == pytest.approx(2.5)


class Blob:
    def __init__(self, nbytes):
        self.nbytes = nbytes


def test_cache_is_bounded_in_bytes_and_least_recent_goes_first():
    cache = FrameCache(budget_bytes=100)
    for i in range(5):
        cache.put(i, Blob(30))
        if i == 2:
            cache.get(0)  # touch 0: it is now more recent than 1 and 2
    assert cache.nbytes <= 100 and len(cache) == 3
    assert 0 in cache and 1 not in cache and 4 in cache
    assert not cache.put("big", Blob(101))
    assert not cache.put("no-evict", Blob(30), evict=False)
    cache.resize(40)
    assert len(cache) == 1 and 4 in cache


def test_psnr_and_difference():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + 16, 0, 255).astype(np.uint8)
    expected = -10 * np.log10(np.mean(((a / 255.0) - (b / 255.0)) ** 2))
    assert psnr(a, b) == pytest.approx(expected, abs=1e-6)
    assert psnr(a, a) == 100.0
    for mode in DiffMode:
        assert not difference(a, a, mode).any()  # no error is black in every mode
    assert SIGNED_LUT[255].tolist() == [0, 0, 0]
    up = difference(np.full((1, 1, 3), 110, np.uint8), np.full((1, 1, 3), 100, np.uint8), DiffMode.SIGNED)
    down = difference(np.full((1, 1, 3), 90, np.uint8), np.full((1, 1, 3), 100, np.uint8), DiffMode.SIGNED)
    assert up[0, 0, 0] > up[0, 0, 2] and down[0, 0, 2] > down[0, 0, 0]  # brighter is red, darker is blue
    assert error_range(DiffMode.ABS_16) == (0, 255 / 16)


def test_timecode():
    assert timecode(0, 25) == "00:00:00.000"
    assert timecode(3725 * 30 + 15, 30) == "01:02:05.500"
