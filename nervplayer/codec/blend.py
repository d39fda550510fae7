"""Fading two segments' models into each other at a boundary inside a scene (format 3.1, docs/format.md).

A segment of a content-adaptive model trains on a few frames of each neighbour (its context frames) and stores
them, so both models decode the frames around the boundary: the later one's lead (before it) and the earlier
one's trail (after it). The writer, which has the source, chooses for each such frame the weight of the later
model that brings the faded frame closest to the source (least squares, in steps of 1 / :data:`~.segtable.BLEND_ONE`),
inside a band that moves from 0 to 1 across the zone (:func:`band`): the mix is free in the middle, where both
models know the frames, and leans to the earlier model at the zone's start and to the later one at its end, so the
two models' difference in quality is spread over the zone (a free weight made steps of up to 2.8 dB at the zone's
edge, and a mix better than either model stepped down where it stopped). The reader fades with the stored weight.
Both use :func:`fade`, so the frame a player shows is the frame the writer measured.

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


def band(frames: int) -> list[tuple[int, int]]:
    """The weights (of BLEND_ONE) the later model may take in each of ``frames`` faded frames: from [0, 2x] to
    [2x − 1, 1] as x = (j + 1) / (frames + 1) goes across the zone."""
    out = []
    for j in range(frames):
        x = (j + 1) / (frames + 1)
        out.append((round(BLEND_ONE * max(0.0, 2 * x - 1)), round(BLEND_ONE * min(1.0, 2 * x))))
    return out


def choose(earlier: torch.Tensor, later: torch.Tensor, source: torch.Tensor) -> tuple[list[int], list[float]]:
    """Per frame, the later model's weight (of BLEND_ONE, inside :func:`band`) that brings the fade closest to
    ``source`` in squared error, and the PSNR of the faded frame (as :func:`fade` decodes it) against it."""
    a, b, x = earlier.float(), later.float(), source.float()
    d = (b - a).flatten(1)
    best = ((x - a).flatten(1) * d).sum(1) / (d * d).sum(1).clamp_min(1e-12)
    free = best.clamp(0, 1).mul(BLEND_ONE).round().to(torch.int64).tolist()
    weights = [min(max(w, lo), hi) for w, (lo, hi) in zip(free, band(len(free)))]
    return weights, psnr(fade(a, b, weights), x).tolist()
