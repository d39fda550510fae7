"""Quality of a ``.nerv`` file against a video (``nervplayer eval FILE VIDEO``), and at the seams of a segmented
one: the PSNR of the frames either side of each boundary against their segments' means, and whether the boundary
flickers (:class:`Flicker`: how much the decode adds to the frame-to-frame change there, against what it adds
between the frames inside the segments either side)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import VideoError
from ..train import FitConfig, load_source
from ..train.evaluate import FrameMetrics, evaluate
from ..video import FrameStore, file_hash, probe
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
    """:func:`evaluate_nerv` of an open file."""
    return evaluate_against(nerv, reference_of(nerv, path, video, any_source))


def reference_of(nerv: NervVideo, path: str | os.PathLike, video: str, any_source: bool = False) -> FrameStore:
    """The frames of ``video`` that ``nerv`` (read from ``path``) decodes: its range, at its size; unless
    ``any_source``, a video that is not the recorded source is refused."""
    v = nerv.file.video
    if not any_source:
        check_source({**nerv.file.video, **nerv.file.source}, path, video)
    start = int(v.get("start", 0))
    reference, _ = load_source(
        FitConfig(video=video, start=start, end=start + nerv.num_frames, size=nerv.size), nerv.device
    )
    return reference


def evaluate_against(nerv: NervVideo, reference: FrameStore) -> tuple[FrameMetrics, list[int], int]:
    """:func:`evaluate_nerv` against frames already loaded (:func:`reference_of`). A segmented file's segments were
    each trained on every ``stride``-th frame of their own."""
    v = nerv.file.video
    with torch.inference_mode():
        metrics = evaluate(nerv.predict, reference)
    stride = int(v.get("stride", 1))
    return metrics, [i for a, b in nerv.segments for i in range(a, b, stride)], int(v.get("start", 0))


def frame_pair(nerv: NervVideo, reference: FrameStore) -> FramePair:
    """The decoded and the source frames of ``nerv`` by index, as :func:`seams` measures flicker with them."""

    def source(indices: list[int]) -> np.ndarray:
        return reference.get(indices).permute(0, 2, 3, 1).cpu().numpy()

    return nerv.decode, source


SEAM_TOLERANCE = 0.5  # dB: a frame at a boundary further below its segment's mean is a visible seam (issue 18)
FLICKER_RATIO = 2.0  # a boundary adding more than this times the change added inside its segments flickers ...
FLICKER_LEVELS = 1.0  # ... when that is at least this much (mean absolute difference, 8-bit levels)
FLICKER_PAIRS = 8  # consecutive frame pairs measured inside each segment either side of a boundary
FramePair = tuple[Callable[[list[int]], np.ndarray], Callable[[list[int]], np.ndarray]]  # decoded, source: uint8


@dataclass(frozen=True)
class Flicker:
    """The frame-to-frame change at a boundary (frames ``frame − 1`` → ``frame``), mean absolute difference in 8-bit
    levels: of the decoded frames, of the source's, and the change the decode adds, |ΔD − ΔS| (0 when the decoded
    frames change exactly as the source does; a boundary between two models whose errors differ shows it as a jump);
    ``within``: the median of that added change over up to :data:`FLICKER_PAIRS` consecutive pairs inside each
    segment either side (None when the segments have no such pair)."""

    decoded: float
    source: float
    added: float
    within: float | None

    @property
    def ratio(self) -> float | None:
        """The added change at the boundary over the one inside the segments."""
        return None if self.within is None else self.added / max(self.within, 1e-6)

    @property
    def flagged(self) -> bool:
        """The boundary adds at least :data:`FLICKER_LEVELS`, and more than :data:`FLICKER_RATIO` times what the
        frames inside its segments add: a visible jump when played."""
        ratio = self.ratio
        return self.added >= FLICKER_LEVELS and (ratio is None or ratio > FLICKER_RATIO)

    def record(self) -> dict[str, Any]:
        return {
            "decoded": round(self.decoded, 4),
            "source": round(self.source, 4),
            "added": round(self.added, 4),
            "within": None if self.within is None else round(self.within, 4),
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "flagged": self.flagged,
        }


def flicker(frames: FramePair, before: tuple[int, int], after: tuple[int, int]) -> Flicker:
    """:class:`Flicker` at the boundary between segments ``before`` and ``after`` (frames ``(start, end)``, the
    decoder's numbering), from the frames either side only."""
    (a, b), (_, e) = before, after
    lo, hi = max(a, b - FLICKER_PAIRS - 1), min(e, b + FLICKER_PAIRS + 1)
    decode, source = frames
    idx = list(range(lo, hi))
    dec, src = decode(idx).astype(np.int16), source(idx).astype(np.int16)

    def mean_abs(x: np.ndarray) -> float:
        return float(np.abs(x).mean())

    def added(i: int) -> float:  # frames i − 1 → i, i in the clip's numbering
        j = i - lo
        return mean_abs((dec[j] - dec[j - 1]) - (src[j] - src[j - 1]))

    inside = [added(i) for i in range(lo + 1, hi) if i != b]
    j = b - lo
    return Flicker(
        mean_abs(dec[j] - dec[j - 1]),
        mean_abs(src[j] - src[j - 1]),
        added(b),
        float(np.median(inside)) if inside else None,
    )


@dataclass(frozen=True)
class Seam:
    """The boundary before frame ``frame`` (the first of the later segment): the PSNR of the frames either side
    (``before`` = frame − 1, ``after`` = frame) and the mean PSNR of the segment each belongs to."""

    frame: int
    before: float | None
    after: float | None
    mean_before: float | None
    mean_after: float | None
    flicker: Flicker | None = None  # when measured from the frames

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
            **({"flicker": self.flicker.record()} if self.flicker is not None else {}),
        }


def seams(
    psnr: Sequence[float | None],
    segments: Sequence[tuple[int, int]],
    first: int = 0,
    frames: FramePair | None = None,
) -> list[Seam]:
    """Each boundary between ``segments`` (frames ``(start, end)``, in order, tiling ``psnr``), its two frames
    against their segments' mean PSNR, and with ``frames`` (:func:`frame_pair`) its :class:`Flicker`. Unknown or
    infinite values (a frame decoded exactly) count as unknown; ``first`` numbers the frames as the source does."""

    def value(i: int) -> float | None:
        p = psnr[i]
        return float(p) if p is not None and math.isfinite(p) else None

    def mean(a: int, b: int) -> float | None:
        known = [v for v in (value(i) for i in range(a, b)) if v is not None]
        return sum(known) / len(known) if known else None

    means = [mean(a, b) for a, b in segments]
    return [
        Seam(
            first + b0,
            value(b0 - 1),
            value(b0),
            means[k],
            means[k + 1],
            None if frames is None else flicker(frames, (a0, b0), after),
        )
        for k, ((a0, b0), after) in enumerate(zip(segments, segments[1:]))
    ]


def seam_lines(found: Sequence[Seam]) -> list[str]:
    """The seam table as text (``nervplayer eval`` and ``info``): each boundary's two frames and their segments'
    means."""
    measured = any(s.flicker is not None for s in found)
    head = f"{'seam at':>7} {'PSNR before':>11} {'mean':>7} {'PSNR after':>10} {'mean':>7}"
    lines = [head + (f" {'Δ decoded':>9} {'Δ source':>8} {'added':>6} {'inside':>6}" if measured else "")]
    for s in found:
        cells = [f"{x:.2f}" if x is not None else "?" for x in (s.before, s.mean_before, s.after, s.mean_after)]
        row = f"{s.frame:>7} {cells[0]:>11} {cells[1]:>7} {cells[2]:>10} {cells[3]:>7}"
        f = s.flicker
        if f is not None:
            inside = f"{f.within:.2f}" if f.within is not None else "?"
            row += f" {f.decoded:>9.2f} {f.source:>8.2f} {f.added:>6.2f} {inside:>6}"
        if s.flagged:
            row += f"  SEAM: more than {SEAM_TOLERANCE:g} dB below its segment's mean"
        if f is not None and f.flagged:
            row += f"  FLICKER: the decode adds {f.added:.2f} levels of change here"
            row += f", {f.ratio:.1f}× what it adds inside" if f.ratio is not None else ""
        lines.append(row)
    if measured:
        lines.append(
            "Δ: mean |frame − previous frame| at the boundary (8-bit levels); added: |Δ decoded − Δ source|; "
            f"inside: its median over up to {FLICKER_PAIRS} frame pairs inside each segment either side"
        )
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
