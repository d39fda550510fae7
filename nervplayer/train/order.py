"""The order a fit sees its frames in: shuffled per epoch as a function of (seed, epoch) only, so that a resumed
fit, every start of a multi-start warm-up and every process under ``torchrun`` see the same batches."""

from __future__ import annotations

import torch


def epoch_order(seed: int, epoch: int, frames: list[int]) -> list[int]:
    """An epoch's shuffled frame order."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return [frames[i] for i in torch.randperm(len(frames), generator=g).tolist()]
