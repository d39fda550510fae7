"""Per-layer bit widths at the quality of a uniform width.

For every layer (its weight and bias together) and every width b in [b0 − 4, b0 + 2], quantize that layer
alone and measure the extra squared error on a subset of the source frames, D_l(b), and the coded size,
R_l(b) (entropy of the symbols + ranges + table). Assuming the errors add up, the allocation minimising
Σ R_l(b_l) subject to Σ D_l(b_l) ≤ Σ D_l(b0) is found by a Lagrangian sweep: each layer picks
argmin R_l(b) + λ·D_l(b), and λ is the smallest for which the error budget holds.
"""

from __future__ import annotations

import numpy as np
import torch

from ..model import ModelConfig, NeRV
from ..model.render import times
from ..plugins import get_registry
from ..video import FrameStore
from .entropy import entropy_bits, pack_counts
from .quantize import MAX_BITS, MIN_BITS, QuantizedTensor, quantize


def layer_groups(names: list[str]) -> dict[str, list[str]]:
    """Parameter names grouped by their module (``stem.0.weight`` and ``stem.0.bias`` → ``stem.0``)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.rsplit(".", 1)[0], []).append(name)
    return groups


def _rate(q: QuantizedTensor) -> float:
    table = pack_counts(np.bincount(q.symbols.astype(np.int64), minlength=1 << q.bits))
    return entropy_bits(q.symbols) + 32 * q.channels + 8 * len(table)


def allocate_bits(
    config: ModelConfig,
    state: dict[str, torch.Tensor],
    masks: dict[str, torch.Tensor],
    base_bits: int,
    per_channel: bool,
    reference: FrameStore,
    device: torch.device,
    max_frames: int = 16,
) -> dict[str, int]:
    """Bit width per parameter name (see the module docstring)."""
    model = NeRV(config, get_registry().factory("activation", config.activation, config.activation_params))
    model.load_state_dict(state)
    model = model.to(device).eval()
    params = dict(model.named_parameters())
    n = reference.num_frames
    idx = sorted({round(i) for i in np.linspace(0, n - 1, min(max_frames, n))})
    target = reference.get(idx).float().div(255)

    @torch.inference_mode()
    def error() -> float:
        total = 0.0
        for i in range(0, len(idx), 4):
            pred = model(times(idx[i : i + 4], n, device)).float()
            total += float((pred - target[i : i + 4]).pow(2).sum())
        return total / target.numel()

    base = error()
    widths = list(range(max(MIN_BITS, base_bits - 4), min(MAX_BITS, base_bits + 2) + 1))
    groups = layer_groups(list(state))
    rate = np.zeros((len(groups), len(widths)))
    dist = np.zeros((len(groups), len(widths)))
    for g, names in enumerate(groups.values()):
        for j, b in enumerate(widths):
            for name in names:
                mask = masks.get(name)
                q = quantize(
                    state[name].float().cpu().numpy(), b, per_channel, None if mask is None else mask.cpu().numpy()
                )
                rate[g, j] += _rate(q)
                with torch.no_grad():
                    params[name].copy_(torch.from_numpy(q.dequantize()))
            dist[g, j] = max(error() - base, 0.0)
            with torch.no_grad():
                for name in names:
                    params[name].copy_(state[name])
    dist = np.minimum.accumulate(dist, axis=1)  # more bits never hurt (measurement noise aside)
    budget = dist[:, widths.index(base_bits)].sum()

    def choose(lam: float) -> np.ndarray:
        return np.argmin(rate + lam * dist, axis=1)

    lo, hi = 0.0, 1.0
    while dist[np.arange(len(groups)), choose(hi)].sum() > budget and hi < 1e30:
        hi *= 10
    for _ in range(100):  # bisect for the smallest λ (the lowest rate) within the error budget
        mid = (lo + hi) / 2
        if dist[np.arange(len(groups)), choose(mid)].sum() > budget:
            lo = mid
        else:
            hi = mid
    picked = choose(hi)
    return {name: widths[picked[g]] for g, names in enumerate(groups.values()) for name in names}
