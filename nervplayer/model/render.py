"""Rendering frames from a NeRV: indices → t = index / num_frames → uint8 RGB."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from .nerv import NeRV


def times(indices: Sequence[float], num_frames: int, device: torch.device | str) -> torch.Tensor:
    """Normalised time of (possibly fractional) frame indices, as the model was trained: t = index / N."""
    return torch.as_tensor(list(indices), dtype=torch.float32, device=device) / num_frames


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """[B, 3, H, W] floats in [0, 1] → uint8 [B, H, W, 3] on the host."""
    return frames.float().mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def render(model: nn.Module, indices: Sequence[float], num_frames: int, batch_size: int = 8) -> np.ndarray:
    """uint8 frames [B, H, W, 3] of ``indices`` from ``model``, a network of any architecture (in its current
    dtype and device)."""
    device = next(model.parameters()).device
    out = [
        to_uint8(model(times(indices[i : i + batch_size], num_frames, device)))
        for i in range(0, len(indices), batch_size)
    ]
    if not out and isinstance(model, NeRV):  # no indices: no frames of the network's size
        return np.empty((0, model.config.height, model.config.width, 3), np.uint8)
    return np.concatenate(out)
