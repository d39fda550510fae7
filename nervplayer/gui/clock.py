"""The playback clock: which frame should be on screen now. Frames come from wall-clock time, never from
counting displayed frames, so a source that is late makes playback drop frames instead of drifting behind (the
player restarts the clock after buffering a slow source, see :mod:`~nervplayer.gui.buffering`)."""

from __future__ import annotations

import math
import time
from typing import Callable


class PlaybackClock:
    def __init__(self, now: Callable[[], float] = time.perf_counter) -> None:
        self._now = now
        self._t0 = 0.0
        self._f0 = 0
        self._rate = 25.0  # frames per second of wall time: fps × speed

    def start(self, frame: int, fps: float, speed: float) -> None:
        """Start (or restart, after a seek, a loop or a speed change) counting from ``frame`` at this moment."""
        self._t0, self._f0, self._rate = self._now(), frame, fps * speed

    def target(self) -> int:
        """The frame due now."""
        return self._f0 + math.floor((self._now() - self._t0) * self._rate + 1e-9)

    def seconds_until(self, frame: int) -> float:
        return self._t0 + (frame - self._f0) / self._rate - self._now()
