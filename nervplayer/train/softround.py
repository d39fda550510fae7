"""Soft rounding with annealed noise for a rate-aware fit (``--soft-rounding``), C3's and Cool-chic's encoder
recipe: in the main phase of the fit a training step rounds a tensor's scaled values ``y = x / s`` as
``q = softround(softround(y, T) + σ·ε, T)`` with ``ε ~ N(0, 1)``; the temperature ``T`` anneals 0.35 → 0.08 and
the noise ``σ`` from ``σ0`` to ``σ0 · 0.15 / 0.22`` over that phase. The gradients of soft rounding are true ones
(not straight-through), and the noise lets the rate term and the network feel the quantization error they will
meet. In the final share of the fit (``hard_rounding``), and in every evaluation, encoding and decoding, rounding is
the hard, straight-through one of train/rate.py, so what a ``.nerv`` decodes is what the last steps trained.

``σ0`` follows the rate weight as Cool-chic 5.0 sets it, ``(−0.432·log10 λ + 0.747) / 10``, clamped to
0.1..0.3 (λ here is in loss units per bit per pixel, not Cool-chic's: the clamp keeps a λ of another scale
from switching the noise off or drowning the symbols); without a rate term it is 0.22, the recipe's default.

The schedule is a function of the fit's progress, and the noise of a step comes from a generator seeded with the
fit's seed and the step's number, so a resumed fit draws what an uninterrupted one draws: nothing of it is in a
checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

TEMPERATURE = (0.35, 0.08)  # soft-rounding temperature at the start and the end of the main phase
NOISE = (0.22, 0.15)  # the noise's standard deviation, start and end, at the recipe's default strength
NOISE_START_RANGE = (0.1, 0.3)  # where σ0 set from λ is clamped


def soft_round(y: torch.Tensor, temperature: float) -> torch.Tensor:
    """A differentiable rounding: ``y`` as ``temperature`` → ∞, ``round(y)`` as it → 0; continuous, integers
    are fixed points, and the slope is steepest half-way between them."""
    base = torch.floor(y) + 0.5
    return base + torch.tanh((y - base) / temperature) / (2 * math.tanh(1 / (2 * temperature)))


def noise_start(rate_lambda: float) -> float:
    """σ0: the noise's standard deviation at the start of the fit for a rate weight λ (module docstring)."""
    if rate_lambda <= 0:
        return NOISE[0]
    low, high = NOISE_START_RANGE
    return min(max((-0.432 * math.log10(rate_lambda) + 0.747) / 10, low), high)


@dataclass(frozen=True)
class SoftRounding:
    """How one training step rounds: ``softround(softround(y, T) + σ·ε, T)``, ε drawn from ``generator``."""

    temperature: float
    sigma: float
    generator: torch.Generator

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(y.shape, generator=self.generator, device=y.device, dtype=y.dtype)
        return soft_round(soft_round(y, self.temperature) + self.sigma * noise, self.temperature)


@dataclass(frozen=True)
class Annealing:
    """The schedule of a soft-rounding fit: ``hard_share`` of the fit at its end rounds hard, the main phase
    before it anneals temperature and noise; ``seed`` is the fit's."""

    hard_share: float
    sigma0: float
    seed: int

    def at(self, progress: float, step: int, device: torch.device) -> SoftRounding | None:
        """How training step ``step`` rounds at fit ``progress`` (0..1): softly, or None (hard) in the final
        phase."""
        main = 1.0 - self.hard_share
        if progress >= main:
            return None
        f = progress / main
        temperature = TEMPERATURE[0] + (TEMPERATURE[1] - TEMPERATURE[0]) * f
        sigma = self.sigma0 * (1 + (NOISE[1] / NOISE[0] - 1) * f)
        generator = torch.Generator(device).manual_seed((self.seed * 1_000_003 + step) % (1 << 63))
        return SoftRounding(temperature, sigma, generator)
