"""Built-in learning-rate schedules, as pure functions of the fractional epoch (so resuming is exact)."""

from __future__ import annotations

import math

from nervplayer.plugins.api import Param, Registrar


def warmup_cosine(warmup: float, start: float):
    """The paper's: linear warmup from start·lr over the first `warmup` fraction, then cosine to 0."""

    def lr(epoch: float, total: int, base: float) -> float:
        w = warmup * total
        if epoch < w:
            return base * (start + (1 - start) * epoch / w)
        span = max(total - w, 1e-12)
        return base * 0.5 * (1 + math.cos(math.pi * min((epoch - w) / span, 1.0)))

    return lr


def constant():
    return lambda epoch, total, base: base


def step(step_size: int, gamma: float):
    return lambda epoch, total, base: base * gamma ** math.floor(epoch / step_size)


def cosine_restarts(period: float, mult: float, min_ratio: float):
    """SGDR: cosine from lr to min_ratio·lr over `period` epochs, each period `mult` times the last."""

    def lr(epoch: float, total: int, base: float) -> float:
        length, start = period, 0.0
        while epoch >= start + length:
            start += length
            length *= mult
        frac = (epoch - start) / length
        return base * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))

    return lr


def register(r: Registrar) -> None:
    r.scheduler(
        "warmup-cosine",
        warmup_cosine,
        description="linear warmup from start·lr, then cosine to 0 (paper)",
        params=[
            Param("warmup", 0.2, "warmup fraction of the epochs", minimum=0.0, maximum=0.99),
            Param("start", 0.1, "warmup starts at start·lr", minimum=0.0, maximum=1.0),
        ],
    )
    r.scheduler("constant", constant, description="the learning rate, unchanged")
    r.scheduler(
        "step",
        step,
        description="multiply by gamma every step_size epochs",
        params=[
            Param("step_size", 100, "epochs per step", minimum=1),
            Param("gamma", 0.5, "factor per step", minimum=0.0, maximum=1.0),
        ],
    )
    r.scheduler(
        "cosine-restarts",
        cosine_restarts,
        description="cosine annealing with warm restarts (SGDR)",
        params=[
            Param("period", 50.0, "epochs in the first cycle", minimum=1e-3),
            Param("mult", 2.0, "each cycle is this many times longer", minimum=1.0),
            Param("min_ratio", 0.0, "floor as a fraction of lr", minimum=0.0, maximum=1.0),
        ],
    )
