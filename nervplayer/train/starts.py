"""The multi-start warm-up (``--starts N``, Cool-chic 5.0's recipe): before the fit, N random draws of the
network each train briefly on the same batches at the same learning rates; the fit goes on from the one with the
lowest loss.

How long: :data:`SHARE` of the fit's planned steps (or of its time limit) in all, split over the starts, at least
:data:`MIN_STEPS` each. The score is the objective itself (loss and rate term) averaged over the last half of a
start's steps: every start saw the same frames in the same order, and it costs no extra forward pass. The chosen
start keeps its optimizer state: its moments were estimated on these very weights, and a fresh state would
repeat the bias-corrected first steps the warm-up has already taken. :func:`warm_up` runs it for a
:class:`~nervplayer.train.fit.Fitter`, with the fit's own training step as the first start.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

import torch

from .config import FitConfig
from .events import Event
from .network import FitNetwork
from .optim import build_optimizer
from .order import epoch_order
from .step import TrainingStep, out_of_memory_hint

if TYPE_CHECKING:
    from .fit import Fitter

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


def warm_up(fit: Fitter) -> Iterator[Event]:
    """Run the warm-up of ``fit``: train each start on the same batches at the same rates, keep the best
    (weights, learned steps and optimizer state) in the fit, checkpoint it. Its steps are not reported (the fit's
    step and epoch counters start after it) and its time counts against a time limit."""
    cfg, t0 = fit.config, time.perf_counter()
    warm = WarmUp(start_seeds(cfg.seed, fit.starts), *warmup_steps(cfg, fit.steps_per_epoch, cfg.time_limit))
    best: TrainingStep | None = None
    for i, seed in enumerate(warm.seeds):
        step = fit.train_step if i == 0 else start_step(fit, seed)
        losses: list[torch.Tensor] = []
        started = time.perf_counter()
        for indices, frames, lr in warmup_batches(fit, warm.steps):
            if fit.paused:
                paused = time.perf_counter()
                yield from fit.hold()
                started += time.perf_counter() - paused
                t0 += time.perf_counter() - paused
            if fit.cancelled:
                break
            # start 0 trains the fit's own network, which a decode may read
            with fit.network.lock, out_of_memory_hint(fit.device, cfg.batch_size, fit.store):
                losses.append(step(indices, frames, lr))
            if i == 0 and warm.out_of_time(len(losses), time.perf_counter() - started):
                break
        if i == 0:
            warm.steps = len(losses)  # the other starts run as many as the first (under a time limit)
        if warm.score(losses) and i > 0:
            best = step
        if fit.cancelled:
            break
    if best is not None:
        with fit.network.lock:
            fit.model.load_state_dict(best.model.state_dict())
            if fit.quantizer is not None and best.network.quantizer is not None:
                fit.quantizer.load_state_dict(best.network.quantizer.state_dict())
            if fit.network.windows is not None and best.network.windows is not None:
                fit.network.windows.load(best.network.windows.state())
            fit.optimizer.load_state_dict(best.optimizer.state_dict())
    seconds = time.perf_counter() - t0
    fit.warmup, fit.elapsed = {**warm.record(), "seconds": seconds}, fit.elapsed + seconds
    if fit.time_limit is not None:
        fit.time_limit.untimed = seconds
    fit.folder.write_config(fit.record())
    if not fit.cancelled and (saved := fit.save_checkpoint()):
        yield saved  # a fit resumed from here has the chosen start


def start_step(fit: Fitter, seed: int) -> TrainingStep:
    """A start other than the fit's own: the network drawn from ``seed``, its optimizer, its training step."""
    config = dataclasses.replace(fit.config, seed=seed)
    network = FitNetwork.build(fit.spec, fit.plugins, config, fit.store, fit.precision)
    network.train_on(fit.trained)  # trained as the fit's own start is
    optimizer = build_optimizer(config.optimizer, network, fit.base_lr, fit.optimizer_fused)
    scaler = torch.amp.GradScaler(fit.device.type, enabled=fit.precision.needs_scaler)
    return TrainingStep(network, optimizer, scaler, fit.loss_fn)


def warmup_batches(fit: Fitter, steps: int) -> Iterator[tuple[list[int], torch.Tensor, float]]:
    """The first ``steps`` batches of the fit's frame order, with the rates its schedule starts with."""
    cfg, n, epoch = fit.config, 0, 0
    while True:
        for indices, frames in fit.store.batches(epoch_order(cfg.seed, epoch, fit.trained), cfg.batch_size):
            if n == steps:
                return
            yield list(indices), frames, fit.schedule(n / fit.steps_per_epoch, cfg.epochs, fit.base_lr)
            n += 1
        epoch += 1
