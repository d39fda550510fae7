"""The multi-start warm-up (``--starts N``, Cool-chic 5.0's recipe): before the fit, N random draws of the
network each train briefly on the same batches at the same learning rates; the fit goes on from the one with the
lowest loss.

How long: :data:`SHARE` of the fit's planned steps (or of its time limit) in all, split over the starts, at least
:data:`MIN_STEPS` each. The score is the objective itself (loss and rate term) averaged over the last half of a
start's steps: every start saw the same frames in the same order, and it costs no extra forward pass. The chosen
start keeps its optimizer state: its moments were estimated on these very weights, and a fresh state would
repeat the bias-corrected first steps the warm-up has already taken. The fit (train/fit.py) runs the steps;
this module holds the plan and the choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .config import FitConfig

SHARE = 0.03  # of the planned steps (or the time limit) the whole warm-up takes
MIN_STEPS = 8  # each start's: fewer say little beyond the draw's first loss
SEED_STRIDE = 1_000_003  # start i draws from seed + i·stride (start 0 is the fit's own draw)


def start_seeds(seed: int, starts: int) -> list[int]:
    """The seeds of the starts, derived from the fit's: the first is the fit's own."""
    return [seed + i * SEED_STRIDE for i in range(starts)]


def warmup_steps(config: FitConfig, steps_per_epoch: int, time_limit: float | None = None) -> tuple[int, float]:
    """Steps each start trains (at most) and, under ``time_limit``, the seconds the first may take (after
    :data:`MIN_STEPS`; the others then run as many steps as it did)."""
    steps = max(MIN_STEPS, round(SHARE * config.epochs * steps_per_epoch / config.starts))
    return steps, math.inf if time_limit is None else SHARE * time_limit / config.starts


@dataclass
class WarmUp:
    """The starts' seeds, how long each trains, and the scores as they come in."""

    seeds: list[int]
    steps: int  # each start's (the first's under a time limit, once it has run)
    seconds: float  # the first start's under a time limit (inf without)
    scores: list[float] = field(default_factory=list)

    def out_of_time(self, steps: int, seconds: float) -> bool:
        """Whether the first start stops here under a time limit."""
        return steps >= MIN_STEPS and seconds >= self.seconds

    def score(self, losses: list[torch.Tensor]) -> bool:
        """Score the next start by its losses (the mean of the last half; a diverged or untrained start scores
        inf); whether it is the best so far (ties keep the earlier start)."""
        tail = losses[len(losses) // 2 :]
        value = float(torch.stack(tail).float().mean()) if tail else math.inf
        value = value if math.isfinite(value) else math.inf
        best = all(value < s for s in self.scores)
        self.scores.append(value)
        return best

    @property
    def chosen(self) -> int:
        """The seed of the best start."""
        return self.seeds[self.scores.index(min(self.scores))]

    def record(self) -> dict[str, Any]:
        """What config.json and the checkpoints keep of the warm-up."""
        scores = [s if math.isfinite(s) else None for s in self.scores]  # JSON has no inf
        return {"seeds": self.seeds[: len(scores)], "scores": scores, "steps": self.steps, "chosen": self.chosen}
