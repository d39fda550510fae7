"""Rate–distortion: a prune ratio × bit width sweep of a run, its Pareto front, classic codecs on the same frames.

Every point is a real file: bpp = file bytes × 8 / (frames × H × W), for ``.nerv`` files and for the MP4s of
x264 / x265 / SVT-AV1 alike. Quality is measured on the uint8 frames a player shows (RGB PSNR, mean over
frames; MS-SSIM), against the frames the run was fitted to.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generator, Iterator

import numpy as np
import torch

from ..atomic import atomic_write_bytes, atomic_write_text
from ..device import resolve_device
from ..metrics import ms_ssim, psnr
from ..train import open_run
from ..video import FrameStore
from .classic import CODECS, encode_clip
from .measure import Compressed
from .pipeline import CompressOptions, Compressor, Event, Stage
from .ratecontrol import Target, TargetUnreachable
from .reader import NervVideo


@dataclass
class RDPoint:
    label: str  # "p0.40 b8" or "crf 23"
    bpp: float
    psnr: float
    ms_ssim: float
    encoding_time: float  # seconds for the clip
    decoding_time: float
    bytes: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class RDResult:
    name: str
    description: str
    points: list[RDPoint]

    def front(self) -> list[RDPoint]:
        """Pareto front: no other point has both fewer bpp and more PSNR."""
        out: list[RDPoint] = []
        for p in sorted(self.points, key=lambda p: (p.bpp, -p.psnr)):
            if not out or p.psnr > out[-1].psnr:
                out.append(p)
        return out

    def compressai(self, pareto: bool = True) -> dict[str, Any]:
        """CompressAI's results JSON (its plotting tool reads ``results``); ``points`` keeps the whole sweep."""
        pts = self.front() if pareto else sorted(self.points, key=lambda p: p.bpp)
        return {
            "name": self.name,
            "description": self.description,
            "results": {
                "bpp": [p.bpp for p in pts],
                "psnr-rgb": [p.psnr for p in pts],
                "ms-ssim-rgb": [p.ms_ssim for p in pts],
                "encoding_time": [p.encoding_time for p in pts],
                "decoding_time": [p.decoding_time for p in pts],
            },
            "points": [dataclasses.asdict(p) for p in self.points],
        }


def quality(frames: np.ndarray, reference: FrameStore, batch: int = 8) -> tuple[float, float]:
    """Mean PSNR and MS-SSIM of uint8 frames [N, H, W, 3] against the reference store."""
    ps, ms = frame_quality(frames, reference, batch)
    return sum(ps) / len(ps), sum(ms) / len(ms)


def frame_quality(frames: np.ndarray, reference: FrameStore, batch: int = 8) -> tuple[list[float], list[float]]:
    """PSNR and MS-SSIM of each of the uint8 frames [N, H, W, 3] against the reference store."""
    ps, ms = [], []
    for i in range(0, len(frames), batch):
        idx = list(range(i, min(i + batch, len(frames))))
        pred = torch.from_numpy(frames[i : i + batch]).permute(0, 3, 1, 2).float().div(255)
        target = reference.get(idx).cpu().float().div(255)
        ps.append(psnr(pred, target))
        ms.append(ms_ssim(pred, target, per_frame=True))
    return torch.cat(ps).tolist(), torch.cat(ms).tolist()


def reference_frames(reference: FrameStore) -> np.ndarray:
    return np.concatenate(
        [
            reference.get(list(range(i, min(i + 16, reference.num_frames)))).permute(0, 2, 3, 1).cpu().numpy()
            for i in range(0, reference.num_frames, 16)
        ]
    )


def sweep(
    run_path: str | Path,
    prunes: list[float],
    bits: list[int],
    base: CompressOptions,
    files_dir: Path,
    reference: FrameStore,
    source: str | None = None,
) -> Iterator[Event | RDPoint]:
    """Compress the run at every (prune ratio, bit width) into ``files_dir``; yields pipeline events and one
    RDPoint per file. ``reference``: the run's frames (``source_reference``).

    Fine-tunes are shared by all bit widths of a prune ratio (unless QAT makes them depend on the width).
    A rate-aware run has one point: its file holds the learned steps (the sweep does not apply)."""
    files_dir.mkdir(parents=True, exist_ok=True)
    if open_run(run_path).quant_steps() is not None:
        yield from _point(run_path, base, files_dir / "learned.nerv", "learned steps", {}, reference, source)
        return
    for p in prunes:
        for b in bits:
            opts = dataclasses.replace(base, prune=p, bits=b)
            yield from _point(
                run_path,
                opts,
                files_dir / f"p{p:.2f}-b{b}.nerv",
                f"p{p:.2f} b{b}",
                {"prune": p, "bits": b},
                reference,
                source,
            )


def targeted(
    run_path: str | Path,
    targets: list[Target],
    base: CompressOptions,
    files_dir: Path,
    reference: FrameStore,
    source: str | None = None,
) -> Iterator[Event | RDPoint | TargetUnreachable]:
    """One file per target, by rate control (:mod:`.ratecontrol`); a target the model cannot meet is yielded as
    its error, and the others still made."""
    files_dir.mkdir(parents=True, exist_ok=True)
    for i, target in enumerate(targets):
        opts = dataclasses.replace(base, target=target)
        try:
            yield from _point(
                run_path,
                opts,
                files_dir / f"target{i}.nerv",
                target.label(),
                {"target": target.to_dict()},
                reference,
                source,
            )
        except TargetUnreachable as e:
            yield e


def compressed(compressor: Compressor) -> Generator[Event, None, Compressed | None]:
    """Run ``compressor``, passing on its fine-tune's events (a curve's progress); its report, None if it was
    cancelled."""
    report = None
    for ev in compressor.run():
        if isinstance(ev, Compressed):
            report = ev
        elif not isinstance(ev, Stage) or ev.name == "finetune":
            yield ev
    return report


def _point(
    run_path: str | Path,
    opts: CompressOptions,
    path: Path,
    label: str,
    params: dict[str, Any],
    reference: FrameStore,
    source: str | None,
) -> Iterator[Event | RDPoint]:
    """Compress once to ``path`` and measure the file: pipeline events, then one RDPoint."""
    pixels = reference.num_frames * reference.height * reference.width
    opts = dataclasses.replace(opts, evaluate=False)
    report = yield from compressed(Compressor(run_path, path, opts, source=source, reference=reference))
    if report is None:
        return  # cancelled
    video = NervVideo.open(path, resolve_device(opts.device))
    t0 = time.perf_counter()
    frames = video.frames(0, video.num_frames)
    decoding = time.perf_counter() - t0
    ps, ms = quality(frames, reference)
    yield RDPoint(
        label,
        report.file_bytes * 8 / pixels,
        ps,
        ms,
        report.encode_seconds,
        decoding,
        report.file_bytes,
        {
            **params,
            "finetune_seconds": report.finetune_seconds,
            "sizes": report.sizes,
            "file": str(path),
            **(
                {
                    "setting": report.setting,
                    "search_seconds": report.search_seconds,
                    "target_psnr": report.metrics.get("psnr"),  # rate control's measure (float frames), if taken
                }
                if report.target
                else {}
            ),
        },
    )


def classic(reference: FrameStore, fps: float, codec: str) -> Iterator[RDPoint]:
    """``codec`` at each of its quality settings (see :data:`~nervplayer.codec.classic.CODECS`)."""
    frames = reference_frames(reference)
    pixels = frames.shape[0] * frames.shape[1] * frames.shape[2]
    option, settings, fixed = CODECS[codec]
    for q in settings:
        enc = encode_clip(frames, fps, codec, q)
        ps, ms = quality(enc.frames, reference)
        yield RDPoint(
            f"{option} {q}",
            enc.bytes * 8 / pixels,
            ps,
            ms,
            enc.encoding_time,
            enc.decoding_time,
            enc.bytes,
            {option: q, **fixed, "pix_fmt": "yuv420p", "container": "mp4"},
        )


def crossings(a: list[RDPoint], b: list[RDPoint]) -> list[dict[str, float]]:
    """Where curve ``a`` and curve ``b`` (PSNR against log bpp, piecewise linear) cross, on their common range."""
    if len(a) < 2 or len(b) < 2:
        return []
    lo = max(min(p.bpp for p in a), min(p.bpp for p in b))
    hi = min(max(p.bpp for p in a), max(p.bpp for p in b))
    if lo >= hi:
        return []
    xs = np.linspace(math.log(lo), math.log(hi), 2000)

    def curve(points: list[RDPoint]) -> np.ndarray:
        pts = sorted(points, key=lambda p: p.bpp)
        return np.interp(xs, [math.log(p.bpp) for p in pts], [p.psnr for p in pts])

    diff = curve(a) - curve(b)
    out = []
    for i in np.flatnonzero(np.sign(diff[:-1]) * np.sign(diff[1:]) < 0):
        x = xs[i] - diff[i] * (xs[i + 1] - xs[i]) / (diff[i + 1] - diff[i])
        out.append({"bpp": float(math.exp(x)), "psnr": float(np.interp(x, xs, curve(a)))})
    return out


def rate_at_equal_quality(front: list[RDPoint], other: list[RDPoint]) -> list[dict[str, float]]:
    """For each point of ``front`` whose PSNR ``other`` reaches: ``other``'s bpp at that PSNR (log-linear)."""
    pts = sorted(other, key=lambda p: p.psnr)
    psnrs, logs = [p.psnr for p in pts], [math.log(p.bpp) for p in pts]
    return [
        {"psnr": p.psnr, "bpp": p.bpp, "other_bpp": float(math.exp(np.interp(p.psnr, psnrs, logs)))}
        for p in front
        if len(pts) > 1 and psnrs[0] <= p.psnr <= psnrs[-1]
    ]


def plot(runs: list[RDResult], codecs: list[RDResult], path: Path, title: str) -> None:
    """PSNR and MS-SSIM against bpp: each run's Pareto front as a line over its whole sweep (faint), each codec's
    quality settings as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    curves = [(r, r.front()) for r in runs] + [(c, sorted(c.points, key=lambda p: p.bpp)) for c in codecs]
    for result, line_points in curves:
        for ax, key in zip(axes, ("psnr", "ms_ssim")):
            (line,) = ax.plot(
                [p.bpp for p in line_points],
                [getattr(p, key) for p in line_points],
                "o-" if result in runs else "s--",
                label=result.name,
            )
            if result in runs:
                ax.scatter(
                    [p.bpp for p in result.points],
                    [getattr(p, key) for p in result.points],
                    s=12,
                    color=line.get_color(),
                    alpha=0.35,
                )
    for ax, label in zip(axes, ("RGB PSNR (dB)", "MS-SSIM (RGB)")):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("bits per pixel (whole file)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def write_json(result: RDResult, path: Path, extra: dict[str, Any] | None = None) -> None:
    atomic_write_text(path, json.dumps({**result.compressai(), **(extra or {})}, indent=2) + "\n")
