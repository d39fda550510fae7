"""Quality of decoded frames against reference frames: per-frame PSNR and MS-SSIM, summaries, and the
libvmaf-style per-frame JSON other tools read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..metrics import ms_ssim, psnr
from ..video import FrameStore

Decoder = Callable[[list[int]], torch.Tensor]  # indices → float frames [B, 3, H, W] in [0, 1]


@dataclass
class FrameMetrics:
    psnr: np.ndarray  # per frame, dB
    ms_ssim: np.ndarray

    def pooled(self, indices: Sequence[int] | None = None) -> dict[str, float] | None:
        idx = list(range(len(self.psnr))) if indices is None else list(indices)
        if not idx:
            return None
        return {"psnr": float(self.psnr[idx].mean()), "ms_ssim": float(self.ms_ssim[idx].mean()), "frames": len(idx)}


@torch.no_grad()
def evaluate(
    decode: Decoder, reference: FrameStore, frames: Sequence[int] | None = None, batch_size: int = 4
) -> FrameMetrics:
    """Compare ``decode(indices)`` with the reference frames: every frame of the store, or ``frames`` (the
    metrics then hold those frames, in that order)."""
    frames = range(reference.num_frames) if frames is None else frames
    p, m = [], []
    for start in range(0, len(frames), batch_size):
        idx = list(frames[start : start + batch_size])
        pred = decode(idx).float()
        target = reference.get(idx).to(pred.device).float().div_(255)
        p.append(psnr(pred, target).cpu())
        m.append(ms_ssim(pred, target, per_frame=True).cpu())
    if not p:
        return FrameMetrics(np.zeros(0, np.float32), np.zeros(0, np.float32))
    return FrameMetrics(torch.cat(p).numpy(), torch.cat(m).numpy())


def summary(metrics: FrameMetrics, seen: Sequence[int], unseen: Sequence[int]) -> dict[str, Any]:
    """Overall, seen and unseen pooled metrics (unseen is None when every frame was trained on)."""
    return {"all": metrics.pooled(), "seen": metrics.pooled(seen), "unseen": metrics.pooled(unseen)}


def vmaf_style(metrics: FrameMetrics, seen: Sequence[int], first_frame: int = 0) -> dict[str, Any]:
    """Per-frame JSON in libvmaf's shape: ``frames[{frameNum, metrics}]`` and ``pooled_metrics``."""
    seen_set = set(seen)
    frames = [
        {
            "frameNum": first_frame + i,
            "metrics": {"psnr": float(metrics.psnr[i]), "ms_ssim": float(metrics.ms_ssim[i]), "seen": i in seen_set},
        }
        for i in range(len(metrics.psnr))
    ]

    def pool(values: np.ndarray) -> dict[str, float]:
        return {
            "min": float(values.min()),
            "max": float(values.max()),
            "mean": float(values.mean()),
            "harmonic_mean": float(len(values) / np.sum(1.0 / np.maximum(values, 1e-9))),
        }

    unseen = [i for i in range(len(metrics.psnr)) if i not in seen_set]
    pooled = {"psnr": pool(metrics.psnr), "ms_ssim": pool(metrics.ms_ssim)}
    if unseen:
        pooled["psnr_seen"] = pool(metrics.psnr[sorted(seen_set)])
        pooled["psnr_unseen"] = pool(metrics.psnr[unseen])
    return {"version": "nervplayer", "frames": frames, "pooled_metrics": pooled}
