"""What a compression measures of the file it made: the :class:`Compressed` report (sizes, bits, the paper's
estimates), the file's metrics against the source and the uncompressed model on every frame, and rate control's
quick PSNR on a few frames (:class:`SearchProbe`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..metrics import ms_ssim, psnr
from ..model.render import times
from ..video import FrameStore
from .entropy import huffman_bits
from .latentcode import coded_entropy_bits
from .nervfile import NervFile, stored_shapes
from .ratecontrol import SEARCH_FRAMES, Setting, Target
from .reader import NervVideo


@dataclass
class Compressed:
    """What ``nervplayer compress`` prints."""

    path: str
    file_bytes: int
    sizes: dict[str, int]  # bytes per part: header, ranges, tables, weights, mask
    bpp: float
    params: int
    kept: int
    sparsity: float  # of the prunable weights
    bits: dict[str, int]  # per tensor
    weight_bits: int  # coded weight symbols, bits
    weight_entropy: float  # zeroth-order empirical entropy of the coded symbols (per-tensor histograms), bits
    estimates: dict[str, float]  # the paper's size estimates, bits
    metrics: dict[str, float | None] = field(default_factory=dict)
    encode_seconds: float = 0.0
    finetune_seconds: float = 0.0
    target: Target | None = None  # the rate target asked for
    setting: str = ""  # what rate control chose for it
    search_seconds: float = 0.0  # rate control's time, the fine-tune excluded
    search_trials: int = 0  # settings it encoded or decoded
    step_search: str = ""  # what the step search (--step-search) did, one line


def compressed_report(
    nf: NervFile, sizes: dict[str, int], path: str, encode_seconds: float, finetune_seconds: float
) -> Compressed:
    """The report of ``nf`` as written to ``path`` in parts of ``sizes`` bytes."""
    total = sum(sizes.values())
    pixels = nf.num_frames * nf.model.height * nf.model.width
    kept = sum(q.symbols.size for q in nf.tensors.values())
    pruned_total = sum(q.numel for q in nf.tensors.values() if q.mask is not None)
    pruned_kept = sum(q.symbols.size for q in nf.tensors.values() if q.mask is not None)
    return Compressed(
        path=path,
        file_bytes=total,
        sizes=sizes,
        bpp=total * 8 / pixels,
        params=sum(q.numel for q in nf.tensors.values()),
        kept=kept,
        sparsity=1 - pruned_kept / pruned_total if pruned_total else 0.0,
        bits={k: q.bits for k, q in nf.tensors.items()},
        weight_bits=sizes["weights"] * 8,
        weight_entropy=sum(
            coded_entropy_bits(q, kind, nf.coder)
            for q, (_, kind) in zip(nf.tensors.values(), stored_shapes(nf.model).values())
        ),
        estimates={
            "paper_bits": float(sum(q.symbols.size * q.bits for q in nf.tensors.values())),
            "huffman_bits": float(sum(huffman_bits(q.symbols) for q in nf.tensors.values())),
        },
        metrics=dict(nf.metrics),
        encode_seconds=encode_seconds,
        finetune_seconds=finetune_seconds,
    )


def file_metrics(
    nf: NervFile, reference: FrameStore, model: torch.nn.Module, device: torch.device, batch: int = 4
) -> tuple[dict[str, Any], list[float]]:
    """Mean PSNR / MS-SSIM of the decoded file against the source and against the uncompressed model, and of
    the uncompressed model against the source (two forward passes per batch of frames); and the decoded
    file's PSNR per frame."""
    video = NervVideo(nf, device)
    n = nf.num_frames
    pairs = (
        ("psnr", "ms_ssim", "decoded", "source"),
        ("psnr_vs_model", "ms_ssim_vs_model", "decoded", "model"),
        ("model_psnr", "model_ms_ssim", "model", "source"),
    )
    values: dict[str, list[torch.Tensor]] = {name: [] for pair in pairs for name in pair[:2]}
    with torch.inference_mode():
        for start in range(0, n, batch):
            idx = list(range(start, min(start + batch, n)))
            frames = {"decoded": video.predict(idx), "model": model(times(idx, n, device)).float()}
            frames["source"] = reference.get(idx).to(frames["decoded"].device).float().div(255)
            for p_name, m_name, a, b in pairs:
                values[p_name].append(psnr(frames[a], frames[b]).cpu())
                values[m_name].append(ms_ssim(frames[a], frames[b], per_frame=True).cpu())
    means = {name: _mean(torch.cat(v).numpy()) for name, v in values.items()}
    return means, torch.cat(values["psnr"]).tolist()


class SearchProbe:
    """Rate control's quality measure: mean PSNR of a file on :data:`~.ratecontrol.SEARCH_FRAMES` frames spread
    over the clip (all of them in a short one), decoded as a player would."""

    def __init__(self, reference: FrameStore, device: torch.device, batch: int = 8) -> None:
        self.indices = spread_frames(reference.num_frames, SEARCH_FRAMES)
        self.count = len(self.indices)
        self.reference = reference
        self.device = device
        self.batch = batch

    def psnr(self, pack: Callable[[Setting], NervFile], setting: Setting) -> float:
        try:
            video = NervVideo(pack(setting), self.device)
        except ValueError:
            return -math.inf
        values = []
        with torch.inference_mode():
            for i in range(0, self.count, self.batch):
                idx = self.indices[i : i + self.batch]
                decoded = video.predict(idx)
                source = self.reference.get(idx).to(decoded.device).float().div(255)
                values.append(psnr(decoded, source).cpu())
        return float(torch.cat(values).mean())


def spread_frames(n: int, k: int) -> list[int]:
    """``k`` frame indices spread evenly over ``n`` frames, first and last included (all of them when n ≤ k)."""
    k = min(n, k)
    return sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(k)})


def _mean(values: np.ndarray) -> float | None:
    """Mean for the JSON header: None rather than NaN (JSON has no NaN)."""
    mean = float(np.mean(values))
    return mean if np.isfinite(mean) else None
