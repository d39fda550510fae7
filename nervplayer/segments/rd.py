"""Rate–distortion of a segmented run (``nervplayer rd RUN`` where RUN holds segments.json): at each prune ratio ×
bit width, every segment's run is compressed with the same options and the parts are gathered into one ``.nerv``,
which is measured as a whole, as :mod:`nervplayer.codec.rd` measures a one-model file; each point also carries the
seam table of that file (the PSNR either side of each boundary against the segments' means and the frames nearby,
and the flicker there: :func:`~nervplayer.codec.seams.seams`)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..codec.pipeline import CompressOptions, Compressor, Event
from ..codec.rd import RDPoint, compressed, frame_quality
from ..codec.reader import NervVideo
from ..codec.seams import frame_pair, seams
from ..codec.segmented import gather
from ..device import resolve_device
from ..train import FitConfig, load_source, open_run
from ..video import FrameStore
from .fit import SEGMENTS, SegmentPlan, load_plan, segment_name


def segmented_reference(
    run_dir: Path, video: str | None, device: torch.device
) -> tuple[SegmentPlan, FrameStore, float]:
    """The plan of the segmented run, the frames it was fitted to (the whole range, at the segments' size), from
    ``video`` or the path the plan records (a video of other content is refused), and their fps."""
    plan = load_plan(run_dir, video)  # checks the video's content against the plan's
    path = str(plan.config["video"])
    src = open_run(_folder(run_dir, plan.segments[0])).source
    start, end = plan.segments[0][0], plan.segments[-1][1]
    store, _ = load_source(FitConfig(video=path, start=start, end=end, size=tuple(src["size"])), device)
    return plan, store, float(src["fps"])


def segmented_sweep(
    run_dir: Path,
    plan: SegmentPlan,
    prunes: list[float],
    bits: list[int],
    base: CompressOptions,
    files_dir: Path,
    reference: FrameStore,
) -> Iterator[Event | RDPoint]:
    """Every (prune ratio, bit width) of the segmented run: its segments compressed and gathered into
    ``files_dir/pP-bB.nerv``; yields the segments' fine-tune events and one RDPoint per file, its params holding
    the segment count and the seam table (``seams``)."""
    source = str(plan.config["video"])
    for p in prunes:
        for b in bits:
            opts = dataclasses.replace(base, prune=p, bits=b, evaluate=False)
            folder = files_dir / f"p{p:.2f}-b{b}"
            folder.mkdir(parents=True, exist_ok=True)
            parts, encoding = [], 0.0
            for k, (s, e) in enumerate(plan.segments):
                out = folder / f"{segment_name(s, e)}.nerv"
                report = yield from compressed(Compressor(_folder(run_dir, (s, e)), out, opts, source=source))
                if report is None:
                    return  # cancelled
                encoding += report.encode_seconds
                parts.append(plan.part(k, out))
            path = files_dir / f"p{p:.2f}-b{b}.nerv"
            gather(parts, path, lambda x, y: reference.get(list(range(x, y))).float().div(255))
            yield _measure(path, f"p{p:.2f} b{b}", {"prune": p, "bits": b}, encoding, reference, opts.device)


def _measure(
    path: Path, label: str, params: dict[str, Any], encoding: float, reference: FrameStore, device: str
) -> RDPoint:
    """The gathered file as one RD point, decoded whole and measured frame by frame."""
    video = NervVideo.open(path, resolve_device(device))
    t0 = time.perf_counter()
    frames = video.frames(0, video.num_frames)
    decoding = time.perf_counter() - t0
    psnr, ms_ssim = frame_quality(frames, reference)
    first = int(video.file.video.get("start", 0))
    found = seams(psnr, video.segments, first, frame_pair(video, reference), video.scene_cuts)
    size = path.stat().st_size
    return RDPoint(
        label,
        size * 8 / (reference.num_frames * reference.height * reference.width),
        sum(psnr) / len(psnr),
        sum(ms_ssim) / len(ms_ssim),
        encoding,
        decoding,
        size,
        {**params, "segments": len(video.segments), "file": str(path), "seams": [s.record() for s in found]},
    )


def _folder(run_dir: Path, segment: tuple[int, int]) -> Path:
    return run_dir / SEGMENTS / segment_name(*segment)
