"""How much the player buffers before a slow source plays smoothly (the arithmetic; playback is in test_player)."""

import pytest

from nervplayer.gui.buffering import frames_to_buffer, rate_text, ready_run


def test_a_source_that_keeps_up_needs_no_buffer():
    assert frames_to_buffer(100, decode_fps=30, play_fps=25, room=500) == 0
    assert frames_to_buffer(0, decode_fps=1, play_fps=25, room=500) == 0


@pytest.mark.parametrize("remaining,decode,play", [(132, 12.5, 25), (50, 20, 25), (300, 5, 24)])
def test_playback_from_the_buffer_never_catches_up_with_decoding(remaining, decode, play):
    ready = frames_to_buffer(remaining, decode, play, room=10_000)
    for k in range(ready, remaining + 1):  # frame k is due at k / play, decoded at (k - ready) / decode
        assert (k - ready) / decode <= k / play


def test_the_buffer_is_bounded_by_the_clip_and_the_cache():
    assert frames_to_buffer(132, decode_fps=1, play_fps=25, room=500) == 132  # all of it, at 1 fps
    assert frames_to_buffer(132, decode_fps=1, play_fps=25, room=40) == 40  # a cache-sized window
    assert frames_to_buffer(132, decode_fps=24.9, play_fps=25, room=500) >= 1


def test_ready_run_counts_up_to_the_first_missing_frame():
    assert ready_run([5, 6, 7, 8], {5, 6, 8}.__contains__) == 2
    assert ready_run([5, 6], {5, 6}.__contains__) == 2
    assert ready_run([], set().__contains__) == 0


def test_rate_text():
    assert rate_text(1.234, 25.0) == "decode 1.2 fps · plays at 25 fps"
    assert rate_text(12.6, 23.976) == "decode 13 fps · plays at 24 fps"
