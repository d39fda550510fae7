"""The rate of a latent tensor as the file's context model codes it (codec/context.py), for rate-aware training.

The file codes a latent tensor's symbols (or their temporal differences) against discretised Laplace
distributions chosen per symbol by the *activity* of already-decoded neighbours: ``|v|`` one slice earlier at the
same place, and above, above-left and above-right in its own slice. A quiet neighbourhood gets a narrow
distribution, so a nonzero symbol there costs several bits and a zero almost none; a busy one gets a wide one.
One Laplace per tensor (train/laplace.py) charges every symbol alike and so trains against a different price
list: on the default grid's finest level it estimated 257 kB where the file took 227 kB, and it asked 2.4 bits
of a symbol going from 0 to ±1 everywhere, where the file asks 3.7 bits in a quiet neighbourhood and 1.3 in a busy
one.

Here each symbol is charged as the file charges it: contexts from the activity of its (detached) neighbours at
fixed thresholds (:data:`CUTS`, the file's usual choice), and per context a two-sided geometric distribution
``P(v) = (1 − θ)/(1 + θ) · θ^|v|`` at the maximum-likelihood ``θ`` of the symbols in that context (closed form:
``θ = (√(1 + m²) − 1)/m`` for their mean magnitude ``m``). A symbol's bits are then linear in its magnitude,
``zero_bits + |v| · per_unit`` up to the floor of train/laplace.py. ``θ`` is a whole-tensor statistic taken
without gradient: at the maximum-likelihood ``θ`` the total bits do not change to first order when it moves (the
envelope theorem), so the gradient of every symbol is its own ``per_unit``. How a symbol changes its neighbours'
contexts is not part of the gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .laplace import FLOOR

CUTS = (1, 2, 3)  # activity thresholds of the contexts (activity 0, 1, 2, 3 and more)
CAP = -math.log2(FLOOR)  # the most bits a symbol costs (its probability floored)
MIN_MEAN = 1e-3  # the least mean magnitude of a context (a context of zeros still prices a nonzero)


@dataclass(frozen=True)
class ContextCode:
    """Per context: the bits of a zero, and the bits each unit of magnitude adds."""

    zero_bits: tuple[float, ...]
    per_unit: tuple[float, ...]


def _layout(v: torch.Tensor) -> torch.Tensor:
    """``v`` as [slices, channels, rows, row length] (codec/context.py's layout)."""
    if v.dim() == 1:
        return v.reshape(1, 1, 1, -1)
    if v.dim() == 2:
        return v.reshape(v.shape[0], 1, 1, v.shape[1])
    return v.reshape(v.shape[0], -1, v.shape[-2], v.shape[-1])


def contexts(magnitude: torch.Tensor) -> torch.Tensor:
    """The context index of every symbol of a tensor of ``|v|`` (slices along dim 0; slice 0 reads no slice
    before it), as the file's encoder computes it."""
    m = _layout(magnitude.detach()).contiguous()
    a = torch.zeros_like(m)
    a[1:] += m[:-1]
    up = torch.zeros_like(m)
    up[:, :, 1:] = m[:, :, :-1]
    a += up
    a[..., 1:] += up[..., :-1]
    a[..., :-1] += up[..., 1:]
    cuts = torch.tensor(CUTS, dtype=a.dtype, device=a.device)
    return torch.bucketize(a, cuts, right=True).reshape(magnitude.shape)


def fit_code(v: torch.Tensor) -> tuple[float, ContextCode]:
    """The maximum-likelihood code of whole-number symbols ``v`` and their bits under it (the cap aside)."""
    magnitude = v.detach().abs().double()
    ctx = contexts(magnitude).flatten()
    k = len(CUTS) + 1
    counts = torch.bincount(ctx, minlength=k).double()
    sums = torch.bincount(ctx, weights=magnitude.flatten(), minlength=k)
    mean = (sums / counts.clamp(min=1)).clamp(min=MIN_MEAN)
    theta = ((1 + mean * mean).sqrt() - 1) / mean
    zero_bits = torch.log2((1 + theta) / (1 - theta))
    per_unit = -torch.log2(theta)
    bits = float((counts * zero_bits + sums * per_unit).sum())
    return bits, ContextCode(tuple(zero_bits.tolist()), tuple(per_unit.tolist()))


def symbol_bits(v: torch.Tensor, code: ContextCode, ctx: torch.Tensor) -> torch.Tensor:
    """Bits of every symbol of ``v`` in its context ``ctx`` (same shape), differentiable in ``v``."""
    zero = torch.tensor(code.zero_bits, dtype=v.dtype, device=v.device)[ctx]
    unit = torch.tensor(code.per_unit, dtype=v.dtype, device=v.device)[ctx]
    return (zero + v.abs() * unit).clamp(max=CAP)


def context_bits(v: torch.Tensor) -> torch.Tensor:
    """Bits of a whole tensor's whole-number symbols ``v`` under its own maximum-likelihood code."""
    _, code = fit_code(v)
    return symbol_bits(v, code, contexts(v.abs())).sum()


def window_bits(v: torch.Tensor, before: bool, weights: torch.Tensor, code: ContextCode) -> torch.Tensor:
    """Bits of some consecutive slices of a tensor's symbols under the whole tensor's ``code``, slice ``i``
    counted ``weights[i]`` times; ``v`` holds one slice more at the front where ``before`` (the slice the first
    one's context reads, itself not counted)."""
    ctx = contexts(v.abs())
    bits = symbol_bits(v, code, ctx)
    if before:
        bits = bits[1:]
    return (bits.flatten(1).sum(1) * weights).sum()
