"""A fit's progress as the fit panel shows it: seconds per epoch (or per segment of a segmented fit) and the time
left, over the time actually spent training (pauses excluded), following the clock under a time limit. Qt-free."""

from __future__ import annotations

import time
from typing import Callable


def clock_text(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class FitProgress:
    """Seconds per epoch and time left, over the time actually spent training (pauses excluded)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.start(1, 0.0)

    def start(self, epochs: int, start_epoch: float, time_limit: float | None = None) -> None:
        """``time_limit``: the fit's (seconds of training); the progress and time left then follow the clock."""
        self.epochs, self.first, self.epoch = epochs, start_epoch, start_epoch
        self.time_limit = time_limit
        self._active = 0.0
        self._since: float | None = self._clock()  # None while paused

    def update(self, epoch: float) -> None:
        self.epoch = epoch

    def pause(self) -> None:
        if self._since is not None:
            self._active += self._clock() - self._since
            self._since = None

    def resume(self) -> None:
        if self._since is None:
            self._since = self._clock()

    def elapsed(self) -> float:
        return self._active + (self._clock() - self._since if self._since is not None else 0.0)

    def seconds_per_epoch(self) -> float | None:
        done = self.epoch - self.first
        return self.elapsed() / done if done > 0.02 else None

    def eta(self) -> float | None:
        spe = self.seconds_per_epoch()
        by_steps = None if spe is None else spe * max(self.epochs - self.epoch, 0)
        if self.time_limit is None:
            return by_steps
        by_time = max(self.time_limit - self.elapsed(), 0.0)
        return by_time if by_steps is None else min(by_time, by_steps)

    def fraction(self) -> float:
        """How far the fit is: by the epochs, or by the time when it has a limit (whichever is further)."""
        done = self.epoch / max(self.epochs, 1)
        return done if self.time_limit is None else max(done, min(self.elapsed() / self.time_limit, 1.0))
