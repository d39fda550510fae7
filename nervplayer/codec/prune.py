"""Global magnitude pruning: remove the given fraction of the smallest stem and block weights, all layers ranked
together (so layers end up with different sparsities).

``ratio`` is the fraction **removed**: 0.4 is the paper's "40% pruned" and keeps 60% (the public NeRV code's
``--prune_ratio`` is the fraction kept).
"""

from __future__ import annotations

import torch


def global_magnitude_masks(weights: dict[str, torch.Tensor], ratio: float) -> dict[str, torch.Tensor]:
    """Boolean keep-masks (True = kept) removing ``round(ratio · total)`` entries of smallest magnitude."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"prune ratio must be in [0, 1), got {ratio}")
    flat = torch.cat([w.detach().abs().flatten().float().cpu() for w in weights.values()])
    keep = torch.ones_like(flat, dtype=torch.bool)
    k = round(ratio * flat.numel())
    if k:
        keep[torch.argsort(flat, stable=True)[:k]] = False
    masks, start = {}, 0
    for name, w in weights.items():
        masks[name] = keep[start : start + w.numel()].view(w.shape)
        start += w.numel()
    return masks


def sparsity(masks: dict[str, torch.Tensor]) -> float:
    """Fraction of masked entries that are pruned."""
    total = sum(m.numel() for m in masks.values())
    return 1.0 - sum(int(m.sum()) for m in masks.values()) / total if total else 0.0
