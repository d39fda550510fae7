"""Fading two segments' models into each other at a boundary inside a scene (format 3.1, docs/format.md).

A segment of a content-adaptive model trains on a few frames of the segment before it (its context frames), so
both models can decode those frames; the later one is often the better there (it started from the earlier one's
weights and saw them again), sometimes by several dB. The writer, which has the source, chooses for each such
frame the weight of the later model that brings the faded frame closest to the source (least squares, clipped to
[0, 1], in steps of 1 / :data:`~.segtable.BLEND_ONE`), but never more than a ramp that rises evenly over the
frames to the boundary (j + 1 of k + 1 in frame j of k): the quality moves from one model's to the other's over
the k frames, where the best weight alone would move the step to the first faded frame (measured: a 2.8 dB
step). The reader fades with the stored weight. Both use :func:`fade`, so the frame a player shows is the frame
the writer measured.

    weights, psnr = choose(earlier, later, source)   # [k, 3, H, W] floats in [0, 1] each
    frames = fade(earlier, later, weights)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..metrics import psnr
from .segtable import BLEND_ONE


def fade(earlier: torch.Tensor, later: torch.Tensor, weights: Sequence[int]) -> torch.Tensor:
    """Frames [k, 3, H, W] of two models faded: ``earlier + w / BLEND_ONE · (later − earlier)`` per frame."""
    w = torch.tensor(weights, dtype=torch.float32, device=earlier.device).div_(BLEND_ONE).view(-1, 1, 1, 1)
    return earlier.float() + w * (later.float() - earlier.float())


def ramp(frames: int) -> list[int]:
    """The most weight the later model gets in each of ``frames`` faded frames: rising evenly towards the boundary."""
    return [round(BLEND_ONE * (j + 1) / (frames + 1)) for j in range(frames)]


def choose(earlier: torch.Tensor, later: torch.Tensor, source: torch.Tensor) -> tuple[list[int], list[float]]:
    """Per frame, the later model's weight (of BLEND_ONE, at most :func:`ramp`'s) that brings the fade closest to
    ``source`` in squared error, and the PSNR of the faded frame (as :func:`fade` decodes it) against it."""
    a, b, x = earlier.float(), later.float(), source.float()
    d = (b - a).flatten(1)
    best = ((x - a).flatten(1) * d).sum(1) / (d * d).sum(1).clamp_min(1e-12)
    unbounded = best.clamp(0, 1).mul(BLEND_ONE).round().to(torch.int64).tolist()
    weights = [min(w, cap) for w, cap in zip(unbounded, ramp(len(unbounded)))]
    return weights, psnr(fade(a, b, weights), x).tolist()
