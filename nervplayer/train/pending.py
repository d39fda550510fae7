"""Training steps whose losses are still on the device, read back in groups.

On the CPU every step is reported at once; on an accelerator the losses are read back every 25 steps, which keeps
a host sync out of each step. Under ``torchrun`` a read-back is the one collective that also agrees on stopping,
so every process stops before the same step (train/distributed.py ``global_losses``).
"""

from __future__ import annotations

import math
from typing import Generator, NamedTuple

import torch

from ..errors import NervError
from .distributed import World, global_losses
from .events import Step


class PendingStep(NamedTuple):
    at: float  # the fractional epoch after the step
    step: int
    loss: torch.Tensor  # on the device, not yet read back
    lr: float
    share: float  # this process's share of the global batch


class PendingSteps:
    def __init__(self, device: torch.device, world: World) -> None:
        self.world = world
        self.every = 1 if device.type == "cpu" else 25
        self.steps: list[PendingStep] = []

    def add(self, step: PendingStep) -> bool:
        """Hold a step; whether a read-back is due."""
        self.steps.append(step)
        return len(self.steps) >= self.every

    def flush(self, cancelled: bool, losses: list[float]) -> Generator[Step, None, bool]:
        """Report the held steps' losses (appended to ``losses`` too; under torchrun the global batch's, reduced
        across the processes); return whether the fit stops: cancelled, in any process under torchrun."""
        if not self.steps:
            return cancelled and not self.world.distributed
        shares = [p.share for p in self.steps]
        read, stop = global_losses(torch.stack([p.loss for p in self.steps]).float(), shares, cancelled, self.world)
        for p, loss in zip(self.steps, read.cpu().tolist()):
            if not math.isfinite(loss):
                raise NervError(f"training diverged at step {p.step} (loss {loss}); lower the learning rate")
            losses.append(loss)
            yield Step(p.at, p.step, loss, p.lr)
        self.steps.clear()
        return stop
