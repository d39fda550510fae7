"""Buffering a source that decodes slower than it plays, as a streaming player does: how much to buffer before it
can play smoothly, and the player's side of it (a mixin of :class:`~nervplayer.gui.player.PlayerWidget`).

Decoding runs on while playback plays the buffer. With ``b`` frames ready, frame ``k`` is due at ``k / play``
seconds and decoded at ``(k - b) / decode``; playback never catches up over ``n`` frames when
``b >= n * (1 - decode / play)``. A small margin covers a rate that wobbles; the cache bounds ``b``, and a clip
longer than the cache plays a cache-sized window and buffers again.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from PySide6.QtCore import QTimer, SignalInstance

    from ..video.source import FrameSource
    from .canvas import Canvas
    from .clock import PlaybackClock
    from .decoder import FrameDecoder
    from .state import PlaybackState
    from .timeline import Timeline

MARGIN = 1.1  # the rate is a moving average: buffer a tenth more than it says
SPARE_FRAMES = 2


def frames_to_buffer(remaining: int, decode_fps: float, play_fps: float, room: int) -> int:
    """Frames that must be ready before playing on, so that ``remaining`` frames play without catching up with
    decoding; at most ``room`` (the cache's frames), at least 1 (0 when decoding keeps up)."""
    if remaining <= 0 or decode_fps >= play_fps:
        return 0
    need = math.ceil(remaining * (1 - decode_fps / play_fps) * MARGIN) + SPARE_FRAMES
    return max(1, min(need, remaining, room))


def ready_run(order: Sequence[int], is_ready: Callable[[int], bool]) -> int:
    """How many frames of ``order`` are ready before the first missing one."""
    for count, index in enumerate(order):
        if not is_ready(index):
            return count
    return len(order)


def rate_text(decode_fps: float, play_fps: float) -> str:
    """``decode 1.2 fps · plays at 25 fps``"""
    return f"decode {_fps(decode_fps)} fps · plays at {_fps(play_fps)} fps"


def _fps(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


class BufferedPlayback:
    """The player's buffering: whether the source needs it, playing a buffered source frame by frame, and the
    buffering state (``buffer_progress``, the ``buffering`` signal, the canvas card and the timeline's loaded bar)."""

    state: PlaybackState
    source: FrameSource | None
    truth: FrameSource | None
    decoder: FrameDecoder
    canvas: Canvas
    timeline: Timeline
    clock: PlaybackClock
    buffering: SignalInstance
    decode_failed: SignalInstance
    buffer_progress: float | None
    _bufferable: bool
    _timer: QTimer
    _ahead: Callable[[int], list[int]]
    _schedule: Callable[[], None]
    _advance_to: Callable[[int], None]
    update_labels: Callable[[], None]

    def _cache_frames(self) -> int:
        """How many decoded frames (with their ground truth) the cache holds."""
        if self.source is None:
            return 0
        frame_bytes = self.source.size[0] * self.source.size[1] * 3 * (2 if self.truth is not None else 1)
        return self.decoder.cache.budget_bytes // max(frame_bytes, 1)

    def _buffer_room(self) -> int:
        """Frames a buffer may fill: the cache less the shown frame and one spare."""
        return self._cache_frames() - 2

    def decode_rate(self) -> float | None:
        """The decoder's measured frames per second for this source (None before its first decode)."""
        return self.decoder.decode_fps()

    def buffers(self) -> bool:
        """Whether playback buffers: the source decodes slower than it plays, is not live and the cache has room."""
        rate = self.decoder.decode_fps()
        s = self.state
        return self._bufferable and rate is not None and rate < s.fps * s.speed and self._buffer_room() > 0

    def _on_failed(self, index: int, error: BaseException) -> None:
        """A frame playback needs cannot be decoded: a buffered source stops there rather than buffer forever."""
        if self.buffer_progress is not None or self.state.playing and self.buffers():
            self.state.playing = False
        self.decode_failed.emit(index, error)

    def _on_stored(self, generation: int, index: int) -> None:
        if generation != self.decoder.generation:
            return
        if self.buffer_progress is not None:
            self._update_buffering()
        self._show_loaded()

    def _show_loaded(self) -> None:
        """The frames ready ahead on the timeline (a streaming player's loaded bar), for a buffered source."""
        self.timeline.set_loaded(self.decoder.cached_indices() if self.buffers() else None)

    def _tick_in_order(self) -> None:
        """Show the next frame if it is ready, else buffer: a buffered source never skips a frame. A late tick
        restarts the clock from the frame it shows (playback slips rather than skips)."""
        s = self.state
        lo, hi = s.range()
        end = hi if s.frame <= hi else s.last_frame
        following = s.frame + 1
        if following > end:
            if not s.looping:
                s.playing = False
                return
            following = lo
        if not self.decoder.is_cached(following):
            self._start_buffering()
            return
        if following == lo or self.clock.target() > following:
            self.clock.start(following, s.fps, s.speed)
        self._advance_to(following)

    def _start_buffering(self) -> None:
        """Stop the clock and buffer from the shown frame on (again from a new position after a seek)."""
        self._timer.stop()
        self.buffer_progress = 0.0
        self.buffering.emit(0.0)
        self.decoder.read_ahead(self._ahead(self.state.frame))
        self._update_buffering()

    def _update_buffering(self) -> None:
        """Report the progress, or play on once enough frames are ready (or the source no longer needs it)."""
        s = self.state
        rate = self.decoder.decode_fps()
        if rate is None or not self.buffers():
            self._play_on()
            return
        lo, hi = s.range()
        past_b = s.frame > hi  # a seek past B plays on to the end of the clip
        remaining = s.last_frame - s.frame if past_b else hi - lo if s.looping else hi - s.frame
        order = self._ahead(s.frame)
        need = frames_to_buffer(remaining, rate, s.fps * s.speed, len(order))
        ready = ready_run(order, self.decoder.is_cached)
        if ready >= need:
            self._play_on()
            return
        # The need shrinks or grows with the measured rate; the bar shown only moves forwards.
        progress = max(self.buffer_progress or 0.0, ready / need)
        detail = rate_text(rate, s.fps * s.speed) + f" · ready in about {(need - ready) / rate:.0f} s"
        if need < frames_to_buffer(remaining, rate, s.fps * s.speed, remaining):  # the cache bounds the buffer
            detail += f" · the cache holds {len(order)} frames ahead (Preferences)"
        changed, self.buffer_progress = progress != self.buffer_progress, progress
        self.canvas.set_buffering(progress, detail)
        self.update_labels()
        if changed:
            self.buffering.emit(progress)

    def _play_on(self) -> None:
        self._stop_buffering()
        if self.state.playing:
            self.clock.start(self.state.frame, self.state.fps, self.state.speed)
            self._schedule()

    def _stop_buffering(self) -> None:
        if self.buffer_progress is None:
            return
        self.buffer_progress = None
        self.canvas.set_buffering(None)
        self.update_labels()
        self.buffering.emit(None)
