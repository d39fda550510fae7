"""The playback widget: canvas, timeline and transport bar over a frame decoder, driven by the player state.

Frames are only ever asked for by index. A cached frame is shown at once; any other goes to the decode thread
(the latest request wins). Playback follows a wall clock and reads ahead in the play direction, so a decoder that
is slower than real time makes it skip frames rather than fall behind.
"""
from __future__ import annotations

import collections
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSize, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QKeySequence
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QToolButton, QVBoxLayout,
                               QWidget)

from .actions import create_actions, hold_keys
from .canvas import Canvas, to_qimage
from .clock import PlaybackClock
from .decoder import MB, Decoded, FrameDecoder
from .icons import icon
from .source import FrameSource
from .state import CompareMode, CompareState, PlaybackState
from .timecode import timecode
from .timeline import Timeline

PAUSED_READ_AHEAD = 4
SETTLE_MS = 150  # a paused position unchanged this long is worth reading ahead from


class PlayerWidget(QWidget):
    frame_shown = Signal(int)  # a newly decoded frame is on the canvas
    decode_failed = Signal(int, object)  # frame index, exception

    def __init__(self, cache_mb: int = 512, read_ahead: int = 16, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("player")
        self.state = PlaybackState()
        self.compare = CompareState()
        self.source: FrameSource | None = None
        self.truth: FrameSource | None = None
        self.name = "frame"
        self.read_ahead = read_ahead
        self.screenshot_dir = Path(QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.PicturesLocation) or Path.home())
        self._direction = 1
        self._ticking = False
        self._shown_at: collections.deque[float] = collections.deque(maxlen=240)
        self._last_shown: int | None = None
        self.dropped = 0

        self.decoder = FrameDecoder(cache_mb, self)
        self.decoder.ready.connect(self._on_ready)
        self.decoder.failed.connect(self.decode_failed)
        self.decoder.psnr_measured.connect(self._on_psnr)
        self.decoder.start()
        QCoreApplication.instance().aboutToQuit.connect(self.shutdown)

        self.canvas = Canvas(self.compare, self)
        self.timeline = Timeline(self.state, self)
        self.timeline.scrubbed.connect(self._scrub)
        self.clock = PlaybackClock()
        self._timer = QTimer(self, singleShot=True, timerType=Qt.TimerType.PreciseTimer, timeout=self._tick)
        self._stats_timer = QTimer(self, interval=250, timeout=self._update_stats)
        self._settle_timer = QTimer(self, singleShot=True, interval=SETTLE_MS, timeout=self._read_ahead_when_settled)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.timeline)
        layout.addWidget(self._transport())

        self.actions = create_actions(self, "player", self)
        self._hold = hold_keys("flicker")
        self.canvas.installEventFilter(self)
        self.installEventFilter(self)

        self.state.frame_changed.connect(self._on_frame_changed)
        self.state.playing_changed.connect(self._on_playing_changed)
        self.state.speed_changed.connect(self._on_speed_changed)
        self.state.loop_changed.connect(self._update_labels)
        self.state.clip_changed.connect(self._on_clip_changed)
        self.compare.changed.connect(self._update_labels)
        self._update_labels()

    # --- transport bar -------------------------------------------------------------------------------------
    def _transport(self) -> QWidget:
        bar = QWidget(self)
        bar.setObjectName("transport")
        row = QHBoxLayout(bar)
        row.setContentsMargins(8, 4, 8, 6)
        def button(name: str, tip: str, slot) -> QToolButton:
            b = QToolButton(bar)
            b.setIcon(icon(name))
            b.setIconSize(QSize(18, 18))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(slot)
            row.addWidget(b)
            return b

        button("previous", "Previous frame (,)", lambda: self.step(-1))
        self.play_button = button("play", "Play / pause (Space)", self.toggle_play)
        button("next", "Next frame (.)", lambda: self.step(1))
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.frame_box = QSpinBox(bar)
        self.frame_box.setObjectName("frame-box")
        self.frame_box.setFont(mono)
        self.frame_box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.frame_box.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)
        self.frame_box.setToolTip("Frame index: type one and press Enter to go there")
        self.frame_box.editingFinished.connect(self._frame_box_entered)
        row.addSpacing(6)
        row.addWidget(QLabel("frame", bar))
        row.addWidget(self.frame_box)
        self.count_label = QLabel(bar)
        self.count_label.setFont(mono)
        row.addWidget(self.count_label)
        self.time_label = QLabel(bar)
        self.time_label.setFont(mono)
        self.time_label.setObjectName("timecode")
        row.addSpacing(12)
        row.addWidget(self.time_label)
        row.addStretch(1)
        self.info_label = QLabel(bar)
        self.info_label.setObjectName("info")
        row.addWidget(self.info_label)
        self.psnr_label = QLabel(bar)
        self.psnr_label.setFont(mono)
        self.psnr_label.setObjectName("psnr")
        row.addSpacing(12)
        row.addWidget(self.psnr_label)
        self.mode_box = QComboBox(bar)
        self.mode_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.mode_box.setToolTip("Compare with the ground truth (g toggles, c cycles, d difference modes)")
        for mode in CompareMode:
            self.mode_box.addItem(mode.value.capitalize() if mode is not CompareMode.OFF else "No compare", mode)
        self.mode_box.activated.connect(lambda i: self.compare.set_mode(self.mode_box.itemData(i)))
        self.mode_box.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        row.addSpacing(12)
        row.addWidget(self.mode_box)
        return bar

    def _frame_box_entered(self) -> None:
        self.state.frame = self.frame_box.value()
        self.canvas.setFocus()

    def _update_labels(self, *_) -> None:
        s = self.state
        self.frame_box.setRange(0, s.last_frame)
        self.frame_box.blockSignals(True)
        self.frame_box.setValue(s.frame)
        self.frame_box.blockSignals(False)
        digits = len(str(s.last_frame))
        self.frame_box.setFixedWidth(self.frame_box.fontMetrics().horizontalAdvance("0" * digits) + 16)
        self.count_label.setText(f"/ {s.last_frame}")
        self.time_label.setText(f"{timecode(s.frame, s.fps)} / {timecode(s.num_frames, s.fps)}")
        parts = []
        if s.speed != 1.0:
            parts.append(f"{s.speed:.2f}×")
        if s.has_ab:
            parts.append(f"loop {s.loop_a}–{s.loop_b}")
        elif s.loop_a is not None:
            parts.append(f"loop A {s.loop_a}–…")
        elif s.loop_all:
            parts.append("loop all")
        self.info_label.setText("   ".join(parts))
        value = self.current_psnr()
        self.psnr_label.setText(f"PSNR {value:6.2f} dB" if value is not None else "")
        self.mode_box.setCurrentIndex(list(CompareMode).index(self.compare.mode))
        self.play_button.setIcon(icon("pause" if s.playing else "play"))
        self.actions["loop_all"].setChecked(s.loop_all)

    # --- sources -------------------------------------------------------------------------------------------
    def set_source(self, source: FrameSource | None, truth: FrameSource | None = None, *, frame: int = 0,
                   name: str = "frame", label: str = "reconstruction", scan_psnr: bool = True) -> None:
        """Play ``source``, compared against ``truth``; ``scan_psnr`` measures every frame's PSNR when idle."""
        self.source, self.truth, self.name = source, truth, name
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
        self._update_labels()

    # --- frames --------------------------------------------------------------------------------------------
    def _ahead(self, index: int) -> list[int]:
        """The frames to decode next, in the order playback or stepping will want them."""
        s = self.state
        if self.source is None:
            return []
        count = self.read_ahead if s.playing else PAUSED_READ_AHEAD
        frame_bytes = self.source.size[0] * self.source.size[1] * 3 * (2 if self.truth is not None else 1)
        count = min(count, self.decoder.cache.budget_bytes // max(frame_bytes, 1) // 2)
        lo, hi = s.range() if s.looping and s.playing else (0, s.last_frame)
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
        self._update_labels()
        self.frame_shown.emit(decoded.index)

    def _on_frame_changed(self, index: int) -> None:
        if self.state.playing and not self._ticking:
            self.clock.start(index, self.state.fps, self.state.speed)  # a seek while playing
        self._update_labels()
        self._show_or_request(index)

    def _scrub(self, index: int) -> None:
        if index != self.state.frame:
            self._direction = 1 if index > self.state.frame else -1
        self.state.frame = index

    # --- playback ------------------------------------------------------------------------------------------
    def _on_playing_changed(self, playing: bool) -> None:
        self._update_labels()
        if playing:
            self._direction = 1
            self._shown_at.clear()
            self._last_shown = self.canvas.displayed_index
            self.clock.start(self.state.frame, self.state.fps, self.state.speed)
            self._schedule()
        else:
            self._timer.stop()

    def _on_speed_changed(self, speed: float) -> None:
        if self.state.playing:
            self.clock.start(self.state.frame, self.state.fps, speed)
            self._schedule()
        self._update_labels()

    def _schedule(self) -> None:
        wait = self.clock.seconds_until(self.state.frame + 1)
        self._timer.start(max(1, round(wait * 1000)))

    def _tick(self) -> None:
        s = self.state
        if not s.playing:
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
        self._ticking = True
        try:
            s.frame = target
        finally:
            self._ticking = False
        self._schedule()

    def display_fps(self) -> float:
        """Distinct frames shown per second over the last second of playback."""
        now = time.perf_counter()
        recent = [t for t in self._shown_at if now - t <= 1.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    # --- key hold (flicker) --------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and not event.isAutoRepeat():
            pressed = QKeySequence(event.keyCombination())
            if any(pressed.matches(k) == QKeySequence.SequenceMatch.ExactMatch for k in self._hold):
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

    def jump_to_worst(self) -> None:
        worst = self.timeline.worst_frame()
        if worst is None:
            self.canvas.show_osd("No per-frame PSNR yet")
            return
        self.state.playing = False
        self.state.frame = worst
        self.canvas.show_osd(f"Worst frame: {worst} ({self.timeline.psnr[worst]:.2f} dB)")

    def scale_speed(self, factor: float) -> None:
        self.state.speed = self.state.speed * factor
        self.canvas.show_osd(f"Speed {self.state.speed:.2f}×")

    def reset_speed(self) -> None:
        self.state.speed = 1.0
        self.canvas.show_osd("Speed 1.00×")

    def cycle_ab_loop(self) -> None:
        self.state.cycle_ab_loop()
        s = self.state
        text = (f"Loop A–B: {s.loop_a}–{s.loop_b}" if s.has_ab else
                f"Loop A: frame {s.loop_a}" if s.loop_a is not None else "Loop A–B cleared")
        self.canvas.show_osd(text)

    def toggle_loop_all(self) -> None:
        self.state.toggle_loop_all()
        self.canvas.show_osd("Loop all: on" if self.state.loop_all else "Loop all: off")

    def toggle_compare(self) -> None:
        self.compare.toggle()
        self._compare_osd()

    def cycle_compare(self) -> None:
        self.compare.cycle()
        self._compare_osd()

    def cycle_diff(self) -> None:
        self.compare.cycle_diff()
        self._compare_osd()

    def _compare_osd(self) -> None:
        mode = self.compare.mode
        text = f"Difference: {self.compare.diff_mode.value}" if mode is CompareMode.DIFFERENCE else \
            f"Compare: {mode.value}"
        if mode is not CompareMode.OFF and self.truth is None:
            text += " (no ground truth)"
        self.canvas.show_osd(text)

    def hold_truth(self, held: bool) -> None:
        if held and self.compare.mode is not CompareMode.FLICKER:
            self.compare.set_mode(CompareMode.FLICKER)
        self.compare.set_holding(held)

    def zoom_fit(self) -> None:
        self.canvas.zoom_fit()

    def zoom_native(self) -> None:
        self.canvas.zoom_native()
        self.canvas.show_osd("Zoom 1:1")

    def zoom_step(self, factor: float) -> None:
        self.canvas.zoom_step(factor)
        self.canvas.show_osd(f"Zoom {self.canvas.view.scale * 100:.0f}%")

    def toggle_stats(self) -> None:
        on = self.canvas.stats_lines is None
        self.actions["stats"].setChecked(on)
        if on:
            self._stats_timer.start()
            self._update_stats()
        else:
            self._stats_timer.stop()
            self.canvas.set_stats(None)

    def toggle_help(self) -> None:
        self.canvas.help.setVisible(not self.canvas.help.isVisible())
        self.actions["help"].setChecked(self.canvas.help.isVisible())

    def screenshot_frame(self) -> Path | None:
        """Save the decoded frame at its native size (``s``)."""
        frame = self.canvas.frame
        if frame is None:
            return None
        path = self._screenshot_path("")
        image = np.ascontiguousarray(frame.image)
        to_qimage(image).save(str(path))
        self.canvas.show_osd(f"Saved {path.name}")
        return path

    def screenshot_view(self) -> Path | None:
        """Save the view as composited on screen, overlays included (``S``)."""
        if self.canvas.frame is None:
            return None
        path = self._screenshot_path("-view")
        self.canvas.grab().save(str(path))
        self.canvas.show_osd(f"Saved {path.name}")
        return path

    def _screenshot_path(self, suffix: str) -> Path:
        self.screenshot_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{self.name}-{self.state.frame:06d}{suffix}"
        path, n = self.screenshot_dir / f"{stem}.png", 1
        while path.exists():
            path, n = self.screenshot_dir / f"{stem}-{n}.png", n + 1
        return path

    # --- stats overlay -------------------------------------------------------------------------------------
    def stats_lines(self) -> list[str]:
        s, frame = self.state, self.canvas.frame
        lines = [f"frame   {s.frame} / {s.last_frame}   {timecode(s.frame, s.fps)}"]
        if frame is not None:
            h, w, _ = frame.image.shape
            lines.append(f"decode  {frame.decode_ms:6.1f} ms   paint {self.canvas.paint_ms:.1f} ms   {w}×{h}")
        target = s.fps * s.speed
        shown = f"{self.display_fps():5.1f}" if s.playing else "  -  "
        lines.append(f"fps     {shown} shown / {target:.2f} target   dropped {self.dropped}")
        cache = self.decoder.cache
        lines.append(f"cache   {len(cache)} frames   {cache.nbytes / MB:.0f} / {cache.budget_bytes / MB:.0f} MB")
        value = self.current_psnr()
        if value is not None:
            lines.append(f"PSNR    {value:.2f} dB")
        return lines

    def _update_stats(self) -> None:
        self.canvas.set_stats(self.stats_lines())

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the decode thread (idempotent)."""
        self._timer.stop()
        if self.decoder.isRunning():
            self.decoder.stop()
