"""The player's state as plain Python objects that widgets bind to (napari style): testable without pixels.

Every change goes through a method or property that clamps it and emits the matching
:class:`~nervplayer.observable.Event`.
"""

from __future__ import annotations

import enum

from ..observable import Event

MIN_SPEED, MAX_SPEED = 1 / 16, 16.0


class PlaybackState:
    """Position (a frame index), play/pause, speed and loops of one clip."""

    def __init__(self, num_frames: int = 1, fps: float = 25.0) -> None:
        self.frame_changed = Event()
        self.playing_changed = Event()
        self.speed_changed = Event()
        self.loop_changed = Event()
        self.clip_changed = Event()
        self._frame = 0
        self._playing = False
        self._speed = 1.0
        self.loop_a: int | None = None
        self.loop_b: int | None = None
        self.loop_all = False
        self.num_frames, self.fps = max(1, num_frames), fps

    def set_clip(self, num_frames: int, fps: float, frame: int = 0) -> None:
        self.num_frames, self.fps = max(1, num_frames), fps if fps > 0 else 25.0
        self.loop_a = self.loop_b = None
        self.playing = False
        self.clip_changed.emit()
        self.loop_changed.emit()
        self._frame = -1
        self.frame = frame

    @property
    def frame(self) -> int:
        return self._frame

    @frame.setter
    def frame(self, index: int) -> None:
        index = min(max(int(index), 0), self.num_frames - 1)
        if index != self._frame:
            self._frame = index
            self.frame_changed.emit(index)

    @property
    def last_frame(self) -> int:
        return self.num_frames - 1

    @property
    def playing(self) -> bool:
        return self._playing

    @playing.setter
    def playing(self, value: bool) -> None:
        if value != self._playing:
            self._playing = value
            self.playing_changed.emit(value)

    def toggle_playing(self) -> None:
        if not self._playing and self._frame >= self.range()[1] and not self.looping:
            self.frame = self.range()[0]  # play at the end starts over, as players do
        self.playing = not self._playing

    def step(self, frames: int) -> None:
        """Frame step: pauses, then moves exactly ``frames`` indices."""
        self.playing = False
        self.frame = self._frame + frames

    def seek_seconds(self, seconds: float) -> None:
        self.frame = self._frame + round(seconds * self.fps)

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        value = min(max(value, MIN_SPEED), MAX_SPEED)
        if abs(value - 1.0) < 1e-9:
            value = 1.0
        if value != self._speed:
            self._speed = value
            self.speed_changed.emit(value)

    # Loops: "l" sets A, then B, then clears; "L" loops the whole clip.
    def cycle_ab_loop(self) -> None:
        if self.loop_a is None:
            self.loop_a = self._frame
        elif self.loop_b is None:
            self.loop_a, self.loop_b = sorted((self.loop_a, self._frame))
        else:
            self.loop_a = self.loop_b = None
        self.loop_changed.emit()

    def toggle_loop_all(self) -> None:
        self.loop_all = not self.loop_all
        self.loop_changed.emit()

    @property
    def has_ab(self) -> bool:
        return self.loop_a is not None and self.loop_b is not None

    @property
    def looping(self) -> bool:
        return self.has_ab or self.loop_all

    def range(self) -> tuple[int, int]:
        """First and last frame (inclusive) that playback runs over: the A–B loop if set, else the clip."""
        if self.loop_a is not None and self.loop_b is not None:  # has_ab
            return self.loop_a, self.loop_b
        return 0, self.num_frames - 1


class CompareMode(enum.Enum):
    OFF = "off"
    WIPE = "wipe"
    SIDE_BY_SIDE = "side by side"
    DIFFERENCE = "difference"
    FLICKER = "flicker"


class DiffMode(enum.Enum):
    ABS_1 = "|error| ×1"
    ABS_4 = "|error| ×4"
    ABS_16 = "|error| ×16"
    SIGNED = "signed error ×4"

    @property
    def gain(self) -> int:
        return {"ABS_1": 1, "ABS_4": 4, "ABS_16": 16, "SIGNED": 4}[self.name]


_CYCLE = (CompareMode.WIPE, CompareMode.SIDE_BY_SIDE, CompareMode.DIFFERENCE, CompareMode.FLICKER)


class CompareState:
    """How the reconstruction is shown against the ground truth."""

    def __init__(self) -> None:
        self.changed = Event()
        self.mode = CompareMode.OFF
        self.last_mode = CompareMode.WIPE  # what "g" brings back
        self.diff_mode = DiffMode.ABS_4
        self.wipe = 0.5  # divider position, fraction of the frame width
        self.holding_truth = False  # flicker: the hold key is down

    def set_mode(self, mode: CompareMode) -> None:
        if mode is not CompareMode.OFF:
            self.last_mode = mode
        if mode is not self.mode:
            self.mode = mode
            self.changed.emit()

    def toggle(self) -> None:
        self.set_mode(self.last_mode if self.mode is CompareMode.OFF else CompareMode.OFF)

    def cycle(self) -> None:
        i = _CYCLE.index(self.mode) + 1 if self.mode in _CYCLE else 0
        self.set_mode(_CYCLE[i % len(_CYCLE)])

    def cycle_diff(self) -> None:
        """Show the difference view; when it is already shown, go to the next difference mode."""
        if self.mode is not CompareMode.DIFFERENCE:
            self.set_mode(CompareMode.DIFFERENCE)
            return
        modes = list(DiffMode)
        self.diff_mode = modes[(modes.index(self.diff_mode) + 1) % len(modes)]
        self.changed.emit()

    def set_wipe(self, fraction: float) -> None:
        self.wipe = min(max(fraction, 0.0), 1.0)
        self.changed.emit()

    def set_holding(self, held: bool) -> None:
        if held != self.holding_truth:
            self.holding_truth = held
            self.changed.emit()

    @property
    def shows_truth_only(self) -> bool:
        return self.mode is CompareMode.FLICKER and self.holding_truth
