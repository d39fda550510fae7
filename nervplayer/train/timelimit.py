"""A fit's time limit (``--time``, ``FitConfig.time_limit``): the learning-rate schedule follows the share of the
time used, so that a fit stopped by the time has annealed; the training stops within half a step of its limit;
and the work after the fit (``time_after_steps``: its last evaluation, a compression's decodes and fine-tune) is
reserved at the step time measured so far."""

from __future__ import annotations

import time

from .config import FitConfig


class TimeLimit:
    """The limit of a fit of ``num_frames`` frames under ``config`` (whose ``time_limit`` is set)."""

    def __init__(self, config: FitConfig, num_frames: int) -> None:
        assert config.time_limit is not None
        self.limit, self.epochs, self.batch_size = config.time_limit, config.epochs, config.batch_size
        self.after_frames = config.time_after_steps * num_frames  # training steps' worth of frames after the fit
        self.untimed = 0.0  # seconds spent that are not the fit's steps (the multi-start warm-up)
        self._last_step_end = 0.0  # when the last step ended (perf_counter): the length of a step

    def training(self, spent: float, steps: int) -> float:
        """Seconds the training may take: the limit less the work after it, at the mean step time so far."""
        per_frame = (spent - self.untimed) / max(steps, 1) / self.batch_size
        return self.limit - self.after_frames * per_frame

    def progress(self, at: float, spent: float, steps: int) -> float:
        """The schedule's position in epochs: ``at`` (the epochs done), or further, the share of the time used."""
        used = spent / max(self.training(spent, steps), 1e-9)
        return max(at, min(used, 1.0) * self.epochs)

    def is_up(self, elapsed: float, t0: float, steps: int) -> bool:
        """After a step (``elapsed`` seconds before this epoch's ``t0``): whether the next step would end nearer
        past the training limit than this one ends before it (the steps being as long as the last one)."""
        now = time.perf_counter()
        step, self._last_step_end = now - max(self._last_step_end, t0), now
        spent = elapsed + now - t0
        return spent + step / 2 >= self.training(spent, steps)
