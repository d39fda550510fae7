"""The player's commands that the action table names and that only change what is shown: jumping to the worst
frame, speed, loops, compare modes, zoom, the stats and help overlays, screenshots. Each says what it did on the
on-screen display. A mixin of :class:`~nervplayer.gui.player.PlayerWidget`, kept apart from playback itself."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .canvas import to_qimage
from .state import CompareMode
from .stats import unused_path

if TYPE_CHECKING:
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QAction

    from ..video.source import FrameSource
    from .canvas import Canvas
    from .state import CompareState, PlaybackState
    from .timeline import Timeline


class PlayerCommands:
    state: PlaybackState
    compare: CompareState
    canvas: Canvas
    timeline: Timeline
    truth: FrameSource | None
    named_actions: dict[str, QAction]  # by action id (QWidget.actions() is Qt's list)
    name: str
    screenshot_dir: Path
    _stats_timer: QTimer
    _update_stats: Callable[[], None]  # the widget's: the stats read the whole player

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
        text = (
            f"Loop A–B: {s.loop_a}–{s.loop_b}"
            if s.has_ab
            else f"Loop A: frame {s.loop_a}"
            if s.loop_a is not None
            else "Loop A–B cleared"
        )
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
        text = (
            f"Difference: {self.compare.diff_mode.value}"
            if mode is CompareMode.DIFFERENCE
            else f"Compare: {mode.value}"
        )
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
        self.named_actions["stats"].setChecked(on)
        if on:
            self._stats_timer.start()
            self._update_stats()
        else:
            self._stats_timer.stop()
            self.canvas.set_stats(None)

    def toggle_help(self) -> None:
        self.canvas.help.setVisible(not self.canvas.help.isVisible())
        self.named_actions["help"].setChecked(self.canvas.help.isVisible())

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
        return unused_path(self.screenshot_dir, f"{self.name}-{self.state.frame:06d}{suffix}", ".png")
