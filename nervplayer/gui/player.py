"""The playback widget: canvas, timeline and transport bar over a frame decoder, driven by the player state.

Frames are only ever asked for by index. A cached frame is shown at once; any other goes to the decode thread
(the latest request wins). Playback follows a wall clock and reads ahead in the play direction.

A source that decodes slower than it plays (the decoder's measured rate against fps × speed; a heavy model on a
CPU) is buffered as a streaming player does: the clock stops, the decoder fills the cache ahead of the position
(:mod:`~nervplayer.gui.buffering` says how far) while the canvas shows the progress, then every frame plays in
order and decoding runs on ahead. A source that keeps up, a live fit (it changes every step, there is nothing to
buffer) and a cache of fewer than three frames play as before: on the wall clock, skipping frames the decoder has
not delivered rather than drifting behind.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ..video.source import FrameSource, LiveSource
from .actions import create_actions, hold_keys
from .buffering import BufferedPlayback
from .canvas import Canvas
from .clock import PlaybackClock
from .decoder import MB, Decoded, FrameDecoder
from .player_commands import PlayerCommands
from .state import CompareState, PlaybackState
from .stats import stats_lines
from .timeline import Timeline
from .transport import TransportBar

PAUSED_READ_AHEAD = 4
SETTLE_MS = 150  # a paused position unchanged this long is worth reading ahead from


class PlayerWidget(BufferedPlayback, PlayerCommands, QWidget):
    frame_shown = Signal(int)  # a newly decoded frame is on the canvas
    decode_failed = Signal(int, object)  # frame index, exception
    buffering = Signal(object)  # progress in [0, 1] while playback waits for frames; None when it plays on

    def __init__(self, cache_mb: int = 512, read_ahead: int = 16, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("player")
        self.state = PlaybackState()
        self.compare = CompareState()
        self.source: FrameSource | None = None
        self.truth: FrameSource | None = None
        self.name = "frame"
        self.read_ahead = read_ahead
        self.screenshot_dir = Path(
            QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation) or Path.home()
        )
        self._direction = 1
        self._ticking = False
        self._shown_at: collections.deque[float] = collections.deque(maxlen=240)
        self._last_shown: int | None = None
        self.dropped = 0
        self.buffer_progress: float | None = None  # while buffering
        self._bufferable = False

        self.decoder = FrameDecoder(cache_mb, self)
        self.decoder.ready.connect(self._on_ready)
        self.decoder.failed.connect(self._on_failed)
        self.decoder.psnr_measured.connect(self._on_psnr)
        self.decoder.stored.connect(self._on_stored)
        self.decoder.start()
        app = QCoreApplication.instance()
        assert app is not None  # a widget exists only inside an application
        app.aboutToQuit.connect(self.shutdown)

        self.canvas = Canvas(self.compare, self)
        self.timeline = Timeline(self.state, self)
        self.timeline.scrubbed.connect(self._scrub)
        self.clock = PlaybackClock()
        self._timer = QTimer(self, singleShot=True, timerType=Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._stats_timer = QTimer(self, interval=250)
        self._stats_timer.timeout.connect(self._update_stats)
        self._settle_timer = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle_timer.timeout.connect(self._read_ahead_when_settled)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.timeline)
        self.transport = TransportBar(self)
        layout.addWidget(self.transport)

        self.named_actions = create_actions(self, "player", self)
        self.canvas.installEventFilter(self)
        self.installEventFilter(self)

        self.state.frame_changed.connect(self._on_frame_changed)
        self.state.playing_changed.connect(self._on_playing_changed)
        self.state.speed_changed.connect(self._on_speed_changed)
        self.state.loop_changed.connect(self.update_labels)
        self.state.clip_changed.connect(self._on_clip_changed)
        self.compare.changed.connect(self.update_labels)
        self.update_labels()

    def update_labels(self, *_: object) -> None:
        """Redraw the transport bar's texts from the state (the shown PSNR, frame, time, speed and loops)."""
        self.transport.update_labels()

    # --- sources -------------------------------------------------------------------------------------------
    def set_source(
        self,
        source: FrameSource | None,
        truth: FrameSource | None = None,
        *,
        frame: int = 0,
        name: str = "frame",
        label: str = "reconstruction",
        scan_psnr: bool = True,
    ) -> None:
        """Play ``source``, compared against ``truth``; ``scan_psnr`` measures every frame's PSNR when idle."""
        self._stop_buffering()
        self.source, self.truth, self.name = source, truth, name
        self._bufferable = source is not None and not isinstance(source, LiveSource)
        self.timeline.set_loaded(None)
        self.canvas.recon_label = label
        self.canvas.set_frame(None)
        self._last_shown = None
        self.decoder.set_sources(source, truth, scan_psnr=scan_psnr)
        if source is None:
            self.state.set_clip(1, 25.0)
            return
        self.state.set_clip(source.num_frames, source.fps, frame)
        self.canvas.view.fit = True

    def refresh(self) -> None:
        """The source now decodes differently (the live model trained on): decode the shown frame again."""
        self.decoder.invalidate()
        self._last_shown = None
        self._show_or_request(self.state.frame)

    def set_cache_mb(self, megabytes: int) -> None:
        self.decoder.cache.resize(megabytes * MB)

    def current_psnr(self) -> float | None:
        frame = self.canvas.frame
        if frame is not None and frame.psnr is not None and frame.index == self.state.frame:
            return frame.psnr
        i = self.state.frame
        if i < len(self.timeline.psnr) and not np.isnan(self.timeline.psnr[i]):
            return float(self.timeline.psnr[i])
        return None

    def _on_psnr(self, generation: int, index: int, value: float) -> None:
        if generation == self.decoder.generation:
            self.timeline.set_psnr_value(index, value)

    def _on_clip_changed(self) -> None:
        self.dropped = 0
        self._shown_at.clear()
        self.update_labels()

    # --- frames --------------------------------------------------------------------------------------------
    def _ahead(self, index: int) -> list[int]:
        """The frames to decode next, in the order playback or stepping will want them."""
        s = self.state
        if self.source is None:
            return []
        if not s.playing:
            count = min(PAUSED_READ_AHEAD, self._cache_frames() // 2)
        elif self.buffers():
            count = self._buffer_room()
        else:
            count = min(self.read_ahead, self._cache_frames() // 2)
        lo, hi = s.range() if s.looping and s.playing else (0, s.last_frame)
        if index > hi:  # a seek past B plays on to the end of the clip
            hi = s.last_frame
        if s.looping and s.playing:
            count = min(count, hi - lo)  # each frame of the loop once
        out, i = [], index
        for _ in range(count):
            i += self._direction
            if i > hi:
                if not (s.playing and s.looping):
                    break
                i = lo
            if i < 0:
                break
            out.append(i)
        return out

    def _show_or_request(self, index: int) -> None:
        # While paused, read-ahead waits until the position settles: during a scrub it would only take the CPU
        # from the frames the user is asking for.
        ahead = self._ahead(index) if self.state.playing else []
        cached = self.decoder.cached(index)
        if cached is not None:
            self._display(cached)
            self.decoder.read_ahead(ahead)
        else:
            self.decoder.request(index, ahead)
        if not self.state.playing:
            self._settle_timer.start()

    def _read_ahead_when_settled(self) -> None:
        self.decoder.read_ahead(self._ahead(self.state.frame))

    def _on_ready(self, decoded: Decoded) -> None:
        # Drop stale results: an older request is only worth showing while the wanted frame is still missing.
        if decoded.generation != self.decoder.generation:
            return
        if decoded.index == self.state.frame or self.canvas.displayed_index != self.state.frame:
            self._display(decoded)

    def _display(self, decoded: Decoded) -> None:
        if self.state.playing and self._last_shown is not None:
            jump = decoded.index - self._last_shown
            if jump > 1:
                self.dropped += jump - 1
            self._shown_at.append(time.perf_counter())
        self._last_shown = decoded.index
        self.canvas.set_frame(decoded)
        self.update_labels()
        self._show_loaded()
        self.frame_shown.emit(decoded.index)

    def _on_frame_changed(self, index: int) -> None:
        if self.state.playing and not self._ticking:
            self.clock.start(index, self.state.fps, self.state.speed)  # a seek while playing
        self.update_labels()
        self._show_or_request(index)
        if self.buffer_progress is not None:  # a seek while buffering: buffer from there
            self._start_buffering()

    def _scrub(self, index: int) -> None:
        if index != self.state.frame:
            self._direction = 1 if index > self.state.frame else -1
        self.state.frame = index

    # --- playback ------------------------------------------------------------------------------------------
    def _on_playing_changed(self, playing: bool) -> None:
        self.update_labels()
        if playing:
            self._direction = 1
            self._shown_at.clear()
            self._last_shown = self.canvas.displayed_index
            self.clock.start(self.state.frame, self.state.fps, self.state.speed)
            self._schedule()
        else:
            self._timer.stop()
            self._stop_buffering()

    def _on_speed_changed(self, speed: float) -> None:
        if self.buffer_progress is not None:
            self._update_buffering()
        elif self.state.playing:
            self.clock.start(self.state.frame, self.state.fps, speed)
            self._schedule()
        self.update_labels()

    def _schedule(self) -> None:
        wait = self.clock.seconds_until(self.state.frame + 1)
        self._timer.start(max(1, round(wait * 1000)))

    def _tick(self) -> None:
        s = self.state
        if not s.playing or self.buffer_progress is not None:
            return
        if self.buffers():
            self._tick_in_order()
            return
        target = self.clock.target()
        lo, hi = s.range()
        end = hi if s.frame <= hi else s.last_frame  # a seek past B plays on to the end of the clip
        if target > end:
            if not s.looping:
                s.frame = end
                s.playing = False
                return
            self.clock.start(lo, s.fps, s.speed)
            target = lo
        self._advance_to(target)

    def _advance_to(self, frame: int) -> None:
        """Playback moves to ``frame`` (marked as the clock's own move, not a seek), then asks for what follows."""
        self._ticking = True
        try:
            self.state.frame = frame
        finally:
            self._ticking = False
        self._schedule()

    def _update_stats(self) -> None:
        self.canvas.set_stats(stats_lines(self))

    def display_fps(self) -> float:
        """Distinct frames shown per second over the last second of playback."""
        now = time.perf_counter()
        recent = [t for t in self._shown_at if now - t <= 1.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    # --- key hold (flicker) --------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease)
            and isinstance(event, QKeyEvent)
            and not event.isAutoRepeat()
        ):
            pressed = QKeySequence(event.keyCombination())
            if any(pressed.matches(k) == QKeySequence.SequenceMatch.ExactMatch for k in hold_keys("flicker")):
                self.hold_truth(event.type() == QEvent.Type.KeyPress)
                return True
        return super().eventFilter(watched, event)

    # --- action handlers (named in the action table) -------------------------------------------------------
    def toggle_play(self) -> None:
        self.state.toggle_playing()

    def step(self, frames: int) -> None:
        self._direction = 1 if frames > 0 else -1
        self.state.step(frames)

    def seek(self, seconds: float) -> None:
        self._direction = 1 if seconds > 0 else -1
        self.state.seek_seconds(seconds)

    def seek_or_step(self, sign: int) -> None:
        if self.state.playing:
            self.seek(sign)
        else:
            self.step(sign)

    def go_to(self, index: int) -> None:
        self.state.frame = index if index >= 0 else self.state.last_frame

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the decode thread (idempotent)."""
        self._timer.stop()
        if self.decoder.isRunning():
            self.decoder.stop()
