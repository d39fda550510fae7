"""The rate estimate of rate-aware training: bits to code a tensor's symbols under a discretised zero-mean Laplace
density whose scale is the tensor's mean absolute symbol, ``−Σ log2 (F(q + ½) − F(q − ½))`` with each probability
floored at 1e-9. It is differentiable in the symbols (and through them in the weights and steps).

Whole-number symbols (hard rounding, every step of a fit without soft rounding) take a closed form: a zero has the
probability ``1 − e^(−½/b)``, a symbol of magnitude m ≥ 1 has ``½ e^(−(m − ½)/b) (1 − e^(−1/b))``, so its bits are
linear in m, ``(m − ½) / (b ln 2) + K(b)``, up to the floor. :class:`IntegerLaplaceBits` computes that sum and its
gradient in a few passes over the tensor, where autograd through two CDFs took dozens (a 1.5M-value grid spent
most of its rate-aware step there), and in float32 it is also the exact one: the difference of two CDFs near 1
loses the small probabilities (and their gradients) long before the floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

MIN_SCALE = 0.05  # of the density: a tensor of zeros still costs its symbols something
FLOOR = 1e-9  # the least probability of a symbol (its bits, and no gradient, past it)
LN2 = math.log(2)


def laplace_bits(q: torch.Tensor, integers: bool = False) -> torch.Tensor:
    """Bits to code symbols ``q`` (integers, or a soft-rounding step's continuous ones); ``integers``: every
    symbol is a whole number, and the closed form gives the same value and gradient much sooner."""
    if integers:
        bits: torch.Tensor = IntegerLaplaceBits.apply(q)
        return bits
    b = q.abs().mean().clamp_min(MIN_SCALE)
    upper = _laplace_cdf(q + 0.5, b)
    lower = _laplace_cdf(q - 0.5, b)
    return -torch.log2((upper - lower).clamp_min(FLOOR)).sum()


def _laplace_cdf(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 0.5 + 0.5 * torch.sign(x) * (1 - torch.exp(-x.abs() / b))


@dataclass(frozen=True)
class LaplaceCode:
    """The closed form at one scale ``b``: a zero costs ``zero_bits``, a symbol of magnitude m ≥ 1
    ``(min(m − ½, cap)) · per_unit + k``; ``through`` is d(bits)/d|q| of every symbol of the tensor through the
    scale (``b`` is its mean magnitude: each symbol moves it)."""

    per_unit: float
    k: float
    cap: float
    zero_bits: float
    through: float


def closed_form(q: torch.Tensor) -> tuple[float, LaplaceCode, torch.Tensor]:
    """The bits of whole-number symbols ``q`` at their own scale, the code of that scale, and the mask of the
    symbols whose bits follow their magnitude (the others are zeros, or capped at the floor)."""
    a = q.abs()
    raw = float(a.mean()) if q.numel() else 0.0
    b = max(raw, MIN_SCALE)
    per_unit = 1 / (b * LN2)
    k = -math.log2(-0.5 * math.expm1(-1 / b))
    cap = (-math.log2(FLOOR) - k) / per_unit  # past it the floor holds; positive for any scale a symbol has
    linear = (a > 0.5) & (a < cap + 0.5)  # the symbols whose bits follow their magnitude
    excess = a.sub_(0.5).clamp_(0, cap)  # m − ½ up to the cap; 0 for a zero
    nonzero = int(torch.count_nonzero(q))
    capped = nonzero - int(torch.count_nonzero(linear))
    zero_bits = -math.log2(-math.expm1(-0.5 / b))
    free = float(excess.sum()) - capped * cap  # Σ (m − ½) of the linear symbols
    bits = free * per_unit + (nonzero - capped) * k + capped * -math.log2(FLOOR) + (q.numel() - nonzero) * zero_bits
    # d bits / d b, through the linear symbols' per-unit bits and K, and the zeros' bits (the capped: none)
    d_b = -free / (b * b * LN2) + (nonzero - capped) / (LN2 * b * b * math.expm1(1 / b))
    d_b += (q.numel() - nonzero) * 0.5 / (LN2 * b * b * math.expm1(0.5 / b))
    through = d_b / q.numel() if raw > MIN_SCALE else 0.0
    return bits, LaplaceCode(per_unit, k, cap, zero_bits, through), linear


class IntegerLaplaceBits(torch.autograd.Function):
    """:func:`laplace_bits` of whole-number symbols, with its gradient written out (module docstring)."""

    @staticmethod
    def forward(ctx: Any, q: torch.Tensor) -> torch.Tensor:
        bits, code, linear = closed_form(q)
        ctx.save_for_backward(q, linear)
        ctx.per_unit, ctx.through_scale = code.per_unit, code.through
        return torch.tensor(bits, dtype=q.dtype, device=q.device)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        q, linear = ctx.saved_tensors
        slope = linear.to(q.dtype).mul_(ctx.per_unit).add_(ctx.through_scale)
        return slope.mul_(q.sign()).mul_(grad)


def weighted_bits(q: torch.Tensor, weights: torch.Tensor, code: LaplaceCode) -> torch.Tensor:
    """Bits of some slices ``q`` (along dim 0) of a tensor's whole-number symbols under the ``code`` of the whole
    tensor's scale, slice ``i`` counted ``weights[i]`` times; each symbol's gradient is what
    :class:`IntegerLaplaceBits` gives it in the whole tensor (``through`` included), times its slice's weight."""
    a = q.abs()
    bits = torch.where(a > 0.5, (a - 0.5).clamp(max=code.cap) * code.per_unit + code.k, code.zero_bits)
    per_slice = bits.flatten(1).sum(1) + code.through * (a - a.detach()).flatten(1).sum(1)  # value 0, its gradient
    return (per_slice * weights).sum()
