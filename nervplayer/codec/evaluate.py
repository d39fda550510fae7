"""Quality of a ``.nerv`` file against a video (``nervplayer eval FILE VIDEO``), and at the seams of a segmented
one."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import VideoError
from ..train import FitConfig, load_source
from ..train.evaluate import FrameMetrics, evaluate
from ..video import file_hash, probe
from .reader import NervVideo


def evaluate_nerv(
    path: str | os.PathLike,
    video: str,
    device: str = "auto",
    any_source: bool = False,
    memory_budget: int | None = None,
) -> tuple[FrameMetrics, list[int], int]:
    """Per-frame metrics of the file's frames against ``video`` (its frame range, resized to the file's size).

    Returns ``(metrics, seen, first)``: the indices the model was trained on (every ``stride``-th), and the
    source index of frame 0. Unless ``any_source``, a video that is not the recorded source is refused.
    """
    return evaluate_video(NervVideo.open(path, device, memory_budget=memory_budget), path, video, any_source)


def evaluate_video(
    nerv: NervVideo, path: str | os.PathLike, video: str, any_source: bool = False
) -> tuple[FrameMetrics, list[int], int]:
    """:func:`evaluate_nerv` of an open file. A segmented file's segments were each trained on every
    ``stride``-th frame of their own."""
    v = nerv.file.video
    if not any_source:
        check_source({**nerv.file.video, **nerv.file.source}, path, video)
    start = int(v.get("start", 0))
    reference, _ = load_source(
        FitConfig(video=video, start=start, end=start + nerv.num_frames, size=nerv.size), nerv.device
    )
    with torch.inference_mode():
        metrics = evaluate(nerv.predict, reference)
    stride = int(v.get("stride", 1))
    return metrics, [i for a, b in nerv.segments for i in range(a, b, stride)], start


SEAM_TOLERANCE = 0.5  # dB: a frame at a boundary further below its segment's mean is a visible seam (issue 18)


@dataclass(frozen=True)
class Seam:
    """The boundary before frame ``frame`` (the first of the later segment): the PSNR of the frames either side
    (``before`` = frame − 1, ``after`` = frame) and the mean PSNR of the segment each belongs to."""

    frame: int
    before: float | None
    after: float | None
    mean_before: float | None
    mean_after: float | None

    @property
    def drops(self) -> tuple[float | None, float | None]:
        """How far each side lies below its segment's mean, dB (negative: above it)."""
        return _below(self.mean_before, self.before), _below(self.mean_after, self.after)

    @property
    def flagged(self) -> bool:
        """A side more than :data:`SEAM_TOLERANCE` below its segment's mean."""
        return any(d is not None and d > SEAM_TOLERANCE for d in self.drops)

    def record(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "psnr_before": self.before,
            "psnr_after": self.after,
            "mean_before": self.mean_before,
            "mean_after": self.mean_after,
            "flagged": self.flagged,
        }


def seams(psnr: Sequence[float | None], segments: Sequence[tuple[int, int]], first: int = 0) -> list[Seam]:
    """Each boundary between ``segments`` (frames ``(start, end)``, in order, tiling ``psnr``), its two frames
    against their segments' mean PSNR. Unknown or infinite values (a frame decoded exactly) count as unknown;
    ``first`` numbers the frames as the source does."""

    def value(i: int) -> float | None:
        p = psnr[i]
        return float(p) if p is not None and math.isfinite(p) else None

    def mean(a: int, b: int) -> float | None:
        known = [v for v in (value(i) for i in range(a, b)) if v is not None]
        return sum(known) / len(known) if known else None

    means = [mean(a, b) for a, b in segments]
    return [
        Seam(first + b0, value(b0 - 1), value(b0), means[k], means[k + 1])
        for k, ((_, b0), _) in enumerate(zip(segments, segments[1:]))
    ]


def seam_lines(found: Sequence[Seam]) -> list[str]:
    """The seam table as text (``nervplayer eval`` and ``info``): each boundary's two frames and their segments'
    means."""
    lines = [f"{'seam at':>7} {'PSNR before':>11} {'mean':>7} {'PSNR after':>10} {'mean':>7}"]
    for s in found:
        cells = [f"{x:.2f}" if x is not None else "?" for x in (s.before, s.mean_before, s.after, s.mean_after)]
        mark = f"  SEAM: more than {SEAM_TOLERANCE:g} dB below its segment's mean" if s.flagged else ""
        lines.append(f"{s.frame:>7} {cells[0]:>11} {cells[1]:>7} {cells[2]:>10} {cells[3]:>7}{mark}")
    return lines


def _below(mean: float | None, value: float | None) -> float | None:
    return None if mean is None or value is None else mean - value


def check_source(recorded: Mapping[str, Any], model: str | os.PathLike, video: str) -> None:
    """Refuse ``video`` as the ground truth of ``model`` (a ``.nerv`` or a run folder) when it is not the source
    ``model`` records: scoring the wrong video gives a plausible number, so this is an error, not a warning."""
    why = source_mismatch(recorded, video)
    if why is not None:
        raise VideoError(f"{not_the_source(recorded, model, video, why)}; to compare anyway, pass --any-source")


def source_mismatch(recorded: Mapping[str, Any], video: str, content: bool = True) -> str | None:
    """Why ``video`` cannot be the source ``recorded`` describes (``original_size``, ``end``, ``sha256``, each
    when present): another frame size, fewer frames than the recorded range, or (``content``: hashing the whole
    file) other content. None when it may be the source."""
    info = probe(video)
    original, end, sha = (recorded.get(k) for k in ("original_size", "end", "sha256"))
    if original and [info.height, info.width] != list(original):
        return f"it is {info.width}×{info.height}, the source was {original[1]}×{original[0]}"
    if end and info.num_frames < int(end):
        return f"it has {info.num_frames} frames, the source has frames {recorded.get('start', 0)}:{end}"
    if content and sha and file_hash(video) != sha:
        return "its content differs (sha256)"
    return None


def not_the_source(recorded: Mapping[str, Any], model: str | os.PathLike, video: str, why: str) -> str:
    return f"{video} is not the source of {model} ({recorded.get('name') or 'unnamed'}): {why}"
