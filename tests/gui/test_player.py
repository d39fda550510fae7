"""The playback widget on synthetic clips: exact frames, keys, compare modes, decoding off the GUI thread."""

import re
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from nervplayer.gui.state import CompareMode
from nervplayer.video.source import ArraySource, LiveSource


def wait_shown(qtbot, player, index, timeout=3000):
    qtbot.waitUntil(lambda: player.canvas.displayed_index == index, timeout=timeout)


def test_scrub_shows_exactly_the_decoders_frame(make_player, clip, qtbot, kit):
    source = ArraySource(clip)
    player = make_player(source)
    timeline = player.timeline
    for k in (11, 3, 15):
        qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, pos=QPoint(round(timeline.x_of(k)), 10))
        wait_shown(qtbot, player, k)
        assert player.state.frame == k
        assert np.array_equal(kit.shown(player), source.frame(k))
    assert player.transport.time_label.text().startswith("00:00:00.600")  # frame 15 at 25 fps


KEYS = [  # key, modifier, expected frame from frame 8 of 16 at 4 fps
    (Qt.Key.Key_Period, 9),
    (Qt.Key.Key_Comma, 7),
    (Qt.Key.Key_Right, 9),
    (Qt.Key.Key_Left, 7),
    (Qt.Key.Key_Up, 15),
    (Qt.Key.Key_Down, 0),
    (Qt.Key.Key_Home, 0),
    (Qt.Key.Key_End, 15),
]


@pytest.mark.parametrize("key,expected", KEYS)
def test_frame_step_and_seek_keys(make_player, clip, qtbot, key, expected):
    player = make_player(ArraySource(clip, fps=4), frame=8)
    wait_shown(qtbot, player, 8)
    qtbot.keyClick(player.canvas, key)
    assert player.state.frame == expected
    wait_shown(qtbot, player, expected)


def test_speed_loop_and_overlay_keys(make_player, clip, qtbot):
    player = make_player(ArraySource(clip))
    c = player.canvas
    for key in (Qt.Key.Key_BracketRight, Qt.Key.Key_BraceRight):
        qtbot.keyClick(c, key)
    assert player.state.speed == pytest.approx(2.2)
    qtbot.keyClick(c, Qt.Key.Key_Backspace)
    assert player.state.speed == 1.0
    qtbot.keyClick(c, Qt.Key.Key_L)
    player.state.frame = 5
    qtbot.keyClick(c, Qt.Key.Key_L)
    assert player.state.range() == (0, 5)
    qtbot.keyClick(c, Qt.Key.Key_L, Qt.KeyboardModifier.ShiftModifier)
    assert player.state.loop_all
    qtbot.keyClick(c, Qt.Key.Key_Question)
    assert c.help.isVisible()
    qtbot.keyClick(c, Qt.Key.Key_I)
    assert c.stats_lines and c.stats_lines[0].startswith("frame   5 / 15")


def test_compare_modes_change_the_image_as_they_should(make_player, clip, qtbot, kit):
    recon = kit.noisy(clip)
    player = make_player(ArraySource(recon), ArraySource(clip), frame=4)
    wait_shown(qtbot, player, 4)
    c = player.canvas
    assert np.array_equal(kit.shown(player), recon[4])

    qtbot.keyClick(c, Qt.Key.Key_G)  # wipe: truth left of the divider, reconstruction right of it
    assert player.compare.mode is CompareMode.WIPE
    shown = kit.shown(player)
    # (the divider and its handle cover ±10 px around x = 32)
    assert np.array_equal(shown[:, :22], clip[4][:, :22]) and np.array_equal(shown[:, 42:], recon[4][:, 42:])

    player.compare.set_wipe(0.25)  # dragging the divider is covered below; here the state drives it
    shown = kit.shown(player)
    assert np.array_equal(shown[:, :6], clip[4][:, :6]) and np.array_equal(shown[:, 26:], recon[4][:, 26:])

    qtbot.keyClick(c, Qt.Key.Key_C)  # side by side, shared zoom: truth in the left pane, reconstruction right
    assert player.compare.mode is CompareMode.SIDE_BY_SIDE
    c.zoom_native()
    full = kit.grab(c)
    x, y, half = round(c.view.ox), round(c.view.oy), c.width() // 2
    assert np.array_equal(full[y : y + 64, x : x + 64], clip[4])
    assert np.array_equal(full[y : y + 64, half + x : half + x + 64], recon[4])

    qtbot.keyClick(c, Qt.Key.Key_D)  # difference: not black where the frames differ
    assert player.compare.mode is CompareMode.DIFFERENCE
    assert kit.shown(player).max() > 50

    qtbot.keyClick(c, Qt.Key.Key_C)  # flicker: the reconstruction, the truth while X is held
    assert player.compare.mode is CompareMode.FLICKER
    assert np.array_equal(kit.shown(player), recon[4])
    qtbot.keyPress(c, Qt.Key.Key_X)
    assert np.array_equal(kit.shown(player), clip[4])
    qtbot.keyRelease(c, Qt.Key.Key_X)
    assert np.array_equal(kit.shown(player), recon[4])

    qtbot.keyClick(c, Qt.Key.Key_G)
    assert player.compare.mode is CompareMode.OFF
    assert player.current_psnr() == pytest.approx(player.canvas.frame.psnr)


def test_difference_of_a_frame_against_itself_is_black(make_player, clip, qtbot, kit):
    player = make_player(ArraySource(clip), ArraySource(clip), frame=2)
    wait_shown(qtbot, player, 2)
    for _ in range(4):  # ×1, ×4, ×16, signed
        qtbot.keyClick(player.canvas, Qt.Key.Key_D)
        assert player.compare.mode is CompareMode.DIFFERENCE
        assert not kit.shown(player).any()


def test_wipe_divider_drags(make_player, clip, qtbot, kit):
    player = make_player(ArraySource(kit.noisy(clip)), ArraySource(clip))
    wait_shown(qtbot, player, 0)
    player.compare.set_mode(CompareMode.WIPE)
    c = player.canvas
    c.zoom_fit()
    c.repaint()
    x0 = round(c._divider_x())
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=QPoint(x0, c.height() // 2))
    qtbot.mouseMove(c, QPoint(x0 + round(c.view.scale * 16), c.height() // 2))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=QPoint(x0 + round(c.view.scale * 16), c.height() // 2))
    assert player.compare.wipe == pytest.approx(0.75, abs=0.02)


def test_worst_frame_key_and_psnr_strip(make_player, clip, qtbot, kit):
    recon = clip.copy()
    recon[9] = kit.noisy(clip[9:10], amount=60)[0]
    recon[3] = kit.noisy(clip[3:4], amount=10)[0]
    player = make_player(ArraySource(recon), ArraySource(clip))
    qtbot.waitUntil(lambda: not np.isnan(player.timeline.psnr).any(), timeout=5000)  # the idle scan
    qtbot.keyClick(player.canvas, Qt.Key.Key_W)
    assert player.state.frame == 9
    wait_shown(qtbot, player, 9)


def test_latest_request_wins_while_scrubbing(make_player, clip, qtbot, kit):
    source = kit.SlowSource(clip)
    player = make_player(source)
    wait_shown(qtbot, player, 0)
    source.gate.clear()  # the decoder is slower than the drag: it holds the first frame it starts on
    before = len(source.decoded)
    for k in range(1, 16):  # a fast drag across the clip
        player._scrub(k)
    source.gate.set()
    wait_shown(qtbot, player, 15)
    assert np.array_equal(kit.shown(player), clip[15])
    # The frame in flight when the drag began, then the last one asked for: the requests between were dropped.
    decoded = source.decoded[before:]
    assert len(decoded) <= 2 and decoded[-1] == 15, decoded


def test_cached_frames_show_without_the_decoder(make_player, clip, qtbot, kit):
    source = kit.SlowSource(clip, delay=0.0)
    player = make_player(source)
    wait_shown(qtbot, player, 0)
    qtbot.waitUntil(lambda: player.decoder.cached(3) is not None, timeout=3000)  # read ahead
    player.state.frame = 3
    assert player.canvas.displayed_index == 3  # synchronously, from the cache


def test_cache_stays_within_its_budget(make_player, qtbot, kit):
    big = kit.synthetic_clip(40, 256, 256)  # 192 KiB per frame
    player = make_player(ArraySource(big), cache_mb=1)
    for k in range(0, 40, 3):
        player.state.frame = k
        wait_shown(qtbot, player, k)
    assert player.decoder.cache.nbytes <= 1 << 20
    assert len(player.decoder.cache) >= 3


class _StuckFit:
    """A stand-in for a running fit (``LiveSource`` decodes through it) whose decoder is stuck on any frame but
    the first until ``release`` is set."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.num_frames = len(frames)
        self.store = SimpleNamespace(height=frames.shape[1], width=frames.shape[2])
        self.release = threading.Event()
        self.decoded: list[int] = []

    def decode(self, indices):
        if list(indices) != [0]:
            self.release.wait(30)
        self.decoded.extend(indices)
        return self.frames[indices]


def test_a_live_fit_drops_frames_rather_than_buffer(make_player, clip, qtbot):
    fit = _StuckFit(np.repeat(clip, 8, axis=0))
    player = make_player(LiveSource(fit, fps=100))
    wait_shown(qtbot, player, 0)
    reports = []
    player.buffering.connect(reports.append)
    player.toggle_play()
    # The playhead keeps to the clock while the decoder is stuck: no waiting for it, no buffering.
    qtbot.waitUntil(lambda: player.state.frame >= 40, timeout=10_000)
    assert set(fit.decoded) == {0} and player.canvas.displayed_index == 0 and player.buffer_progress is None
    fit.release.set()
    qtbot.waitUntil(lambda: (player.canvas.displayed_index or 0) >= 40, timeout=10_000)
    # The frames it could not decode in time were dropped, not shown late one by one.
    assert player.dropped >= 30
    assert not reports and not player.buffers()


def play_recording(player):
    """Start playback; returns the frames shown and the buffering reports, as they come."""
    shown, reports = [], []
    player.frame_shown.connect(shown.append)
    player.buffering.connect(reports.append)
    player.toggle_play()
    return shown, reports


def test_a_slow_source_buffers_then_plays_every_frame_in_order(make_player, qtbot, kit):
    frames = kit.synthetic_clip(48)
    source = kit.SlowSource(frames, fps=50, delay=0.04)  # decodes at 25 fps or less, plays at 50
    player = make_player(source)
    wait_shown(qtbot, player, 0)
    shown, reports = play_recording(player)
    qtbot.waitUntil(lambda: player.buffer_progress is not None, timeout=3000)
    assert "Buffering" in player.transport.info_label.text()
    assert player.canvas.buffering is not None and "plays at 50 fps" in player.canvas.buffering[1]
    qtbot.waitUntil(lambda: not player.state.playing, timeout=20000)
    assert shown == list(range(1, 48))  # every frame, in order
    assert player.dropped == 0
    first = reports[: reports.index(None)]  # (a loaded machine may decode slower later and buffer again)
    assert first[0] == 0 and len(first) > 2 and first == sorted(set(first)) and first[-1] < 1  # rising, then plays
    assert reports[-1] is None and player.canvas.buffering is None


def test_the_decode_rate_is_measured_and_shown(make_player, qtbot, kit):
    source = kit.SlowSource(kit.synthetic_clip(48), fps=50, delay=0.04)
    player = make_player(source)
    wait_shown(qtbot, player, 0)
    play_recording(player)
    qtbot.waitUntil(lambda: player.buffer_progress is not None and player.buffer_progress > 0, timeout=5000)
    percent = f"Buffering {player.buffer_progress * 100:.0f} %"
    assert percent in player.transport.info_label.text() and player.canvas.buffering[0] == player.buffer_progress
    rate = player.decode_rate()
    assert 2 < rate <= 25.5  # a 40 ms decode: at most 25 fps, less on a loaded machine
    shown = re.search(r"decode ([\d.]+) fps · plays at 50 fps", player.transport.info_label.text())
    assert shown and 2 < float(shown.group(1)) <= 25.5
    player.toggle_stats()
    assert any(line.startswith("rate ") and "buffering" in line for line in player.canvas.stats_lines)


def test_the_decode_rate_starts_again_with_the_source(make_player, qtbot, kit):
    player = make_player(kit.SlowSource(kit.synthetic_clip(8), delay=0.02))
    wait_shown(qtbot, player, 0)
    assert 0 < player.decode_rate() <= 51
    player.set_source(None)  # nothing to decode: nothing measured
    assert player.decode_rate() is None
    player.set_source(kit.SlowSource(kit.synthetic_clip(8), delay=0.0))
    wait_shown(qtbot, player, 0)
    player.decoder.invalidate()
    assert player.decode_rate() is None


def test_a_fast_source_plays_without_buffering(make_player, clip, qtbot):
    player = make_player(ArraySource(clip, fps=25))
    wait_shown(qtbot, player, 0)
    shown, reports = play_recording(player)
    qtbot.waitUntil(lambda: not player.state.playing, timeout=5000)
    assert not reports and not player.buffers() and player.timeline.loaded is None
    assert shown[-1] == 15 and "decode" not in player.transport.info_label.text()


def test_scrubbing_while_buffering_shows_the_asked_frame(make_player, qtbot, kit):
    frames = kit.synthetic_clip(64)
    source = kit.SlowSource(frames, fps=100, delay=0.05)
    player = make_player(source)
    wait_shown(qtbot, player, 0)
    shown, _ = play_recording(player)
    qtbot.waitUntil(lambda: player.buffer_progress is not None, timeout=3000)
    player._scrub(40)
    wait_shown(qtbot, player, 40)
    assert np.array_equal(player.canvas.frame.image, frames[40])  # (the buffering card covers the middle)
    qtbot.waitUntil(lambda: not player.state.playing, timeout=20000)
    assert shown[shown.index(40) :] == list(range(40, 64))  # buffered from there, then every frame


def test_pause_and_a_new_source_end_buffering(make_player, clip, qtbot, kit):
    player = make_player(kit.SlowSource(kit.synthetic_clip(64), fps=100, delay=0.05))
    wait_shown(qtbot, player, 0)
    player.toggle_play()
    qtbot.waitUntil(lambda: player.buffer_progress is not None, timeout=3000)
    with qtbot.waitSignal(player.buffering, timeout=1000) as ended:
        player.toggle_play()
    assert ended.args == [None] and player.canvas.buffering is None
    assert "Buffering" not in player.transport.info_label.text()
    player.toggle_play()
    qtbot.waitUntil(lambda: player.buffer_progress is not None, timeout=3000)
    with qtbot.waitSignal(player.buffering, timeout=1000) as ended:
        player.set_source(ArraySource(clip))
    assert ended.args == [None] and player.timeline.loaded is None
    wait_shown(qtbot, player, 0)
    assert not player.buffers()


def test_a_buffered_ab_loop_plays_on_after_a_seek_past_b(make_player, qtbot, kit):
    player = make_player(kit.SlowSource(kit.synthetic_clip(24), fps=50, delay=0.04))
    player.state.frame = 4
    player.cycle_ab_loop()
    player.state.frame = 8
    player.cycle_ab_loop()
    wait_shown(qtbot, player, 8)
    shown, _ = play_recording(player)
    player.state.frame = 16  # past B: on to the end, then the loop
    qtbot.waitUntil(lambda: len(shown) > 20, timeout=20000)
    player.toggle_play()
    start = shown.index(16)
    assert shown[start : start + 13] == [16, 17, 18, 19, 20, 21, 22, 23, 4, 5, 6, 7, 8]


def test_a_frame_that_cannot_be_decoded_stops_buffered_playback(make_player, qtbot, kit):
    class Broken(kit.SlowSource):
        def frame(self, index):
            if index == 20:
                raise RuntimeError("bad frame")
            return super().frame(index)

    player = make_player(Broken(kit.synthetic_clip(48), fps=50, delay=0.03))
    wait_shown(qtbot, player, 0)
    with qtbot.waitSignal(player.decode_failed, timeout=5000) as failed:
        player.toggle_play()
    assert failed.args[0] == 20 and "bad frame" in str(failed.args[1])
    qtbot.waitUntil(lambda: not player.state.playing, timeout=5000)  # not buffering forever
    assert player.buffer_progress is None and player.state.frame < 20


def test_a_clip_longer_than_the_cache_buffers_a_window_at_a_time(make_player, qtbot, kit):
    frames = kit.synthetic_clip(200)  # 12 KiB a frame: 1 MiB of cache holds 85
    source = kit.SlowSource(frames, fps=100, delay=0.03)
    player = make_player(source, cache_mb=1)
    wait_shown(qtbot, player, 0)
    shown, reports = play_recording(player)
    qtbot.waitUntil(lambda: player.buffer_progress is not None, timeout=3000)
    assert "the cache holds 83 frames ahead" in player.canvas.buffering[1]
    qtbot.waitUntil(lambda: not player.state.playing, timeout=30000)
    assert shown == list(range(1, 200))
    assert reports.count(None) >= 2  # buffered, played the window, buffered again
    assert player.decoder.cache.nbytes <= 1 << 20


def test_a_cache_too_small_to_buffer_plays_as_before(make_player, qtbot, kit):
    big = kit.synthetic_clip(8, 512, 512)  # 768 KiB per frame, 1 MiB of cache: no room to buffer
    player = make_player(kit.SlowSource(big, fps=100, delay=0.02), cache_mb=1)
    wait_shown(qtbot, player, 0)
    _, reports = play_recording(player)
    qtbot.waitUntil(lambda: not player.state.playing, timeout=5000)
    assert not reports and player.decode_rate() is not None and not player.buffers()


def test_playback_at_the_source_rate_and_loop(make_player, clip, qtbot):
    from nervplayer.gui.clock import PlaybackClock

    player = make_player(ArraySource(np.repeat(clip, 4, axis=0), fps=50))
    wait_shown(qtbot, player, 0)
    now = [0.0]
    player.clock = PlaybackClock(now=lambda: now[0])  # the test moves the wall clock, one frame at a time
    player.state.toggle_loop_all()
    player.toggle_play()
    for k in range(1, 100):  # 64 frames: wraps once, at 1.28 s
        now[0] = (k + 0.5) / 50
        wait_shown(qtbot, player, k % 64)
        assert player.state.playing and player.state.frame == k % 64
    assert player.dropped == 0
    player.toggle_play()


def test_ab_loop_playback_stays_inside(make_player, clip, qtbot):
    player = make_player(ArraySource(clip, fps=50))
    player.state.frame = 4
    player.cycle_ab_loop()
    player.state.frame = 8
    player.cycle_ab_loop()
    wait_shown(qtbot, player, 8)  # (no late frame from before the loop on the way)
    player.toggle_play()
    shown = []
    player.frame_shown.connect(shown.append)
    qtbot.waitUntil(lambda: len(shown) >= 12 and set(shown) >= set(range(4, 9)), timeout=10_000)  # round twice
    player.toggle_play()
    assert set(shown) == set(range(4, 9)), shown


def test_playback_stops_at_the_end(make_player, clip, qtbot):
    player = make_player(ArraySource(clip, fps=100), frame=10)
    player.toggle_play()
    qtbot.waitUntil(lambda: not player.state.playing, timeout=2000)
    assert player.state.frame == 15


def test_screenshots(make_player, clip, qtbot, tmp_path, kit):
    from PIL import Image

    player = make_player(ArraySource(kit.noisy(clip)), ArraySource(clip), frame=6, name="clip")
    player.screenshot_dir = tmp_path
    wait_shown(qtbot, player, 6)
    qtbot.keyClick(player.canvas, Qt.Key.Key_S)
    native = tmp_path / "clip-000006.png"
    assert np.array_equal(np.asarray(Image.open(native).convert("RGB")), player.canvas.frame.image)
    qtbot.keyClick(player.canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ShiftModifier)
    view = Image.open(tmp_path / "clip-000006-view.png")
    assert view.size == (player.canvas.width(), player.canvas.height())


def test_decode_errors_are_reported_and_the_player_survives(make_player, clip, qtbot):
    class Broken(ArraySource):
        def frame(self, index):
            if index == 5:
                raise RuntimeError("bad frame")
            return super().frame(index)

    player = make_player(Broken(clip))
    wait_shown(qtbot, player, 0)
    with qtbot.waitSignal(player.decode_failed, timeout=3000) as blocker:
        player.state.frame = 5
    assert blocker.args[0] == 5 and "bad frame" in str(blocker.args[1])
    player.state.frame = 6
    wait_shown(qtbot, player, 6)


def test_zoom_and_pan(make_player, clip, qtbot):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    player = make_player(ArraySource(clip))
    wait_shown(qtbot, player, 0)
    c = player.canvas
    c.repaint()
    fit = c.view.scale
    pos = QPointF(c.width() / 2 + 30, c.height() / 2 - 10)
    before = c.view.to_image(pos.x(), pos.y())
    wheel = QWheelEvent(
        pos,
        c.mapToGlobal(pos),
        QPoint(),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(c, wheel)
    assert c.view.scale == pytest.approx(fit * 1.44)
    assert c.view.to_image(pos.x(), pos.y()) == pytest.approx(before)
    start = c.view.ox
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(c, QPoint(140, 100))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=QPoint(140, 100))
    assert c.view.ox == pytest.approx(start + 40)
    qtbot.keyClick(c, Qt.Key.Key_1)
    assert c.view.scale == 1.0
    qtbot.keyClick(c, Qt.Key.Key_0)
    assert c.view.fit and c.view.scale == pytest.approx(fit)
