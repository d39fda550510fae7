"""The seams of a segmented ``.nerv`` (issue 18): at each boundary between two segments' models, the PSNR of the
two frames either side against their segments' means (the report) and against the neighbouring frames' mean (the
goal: no more than :data:`SEAM_TOLERANCE` below it), and whether the boundary flickers (:class:`Flicker`: how much
the decode adds to the frame-to-frame change there, against what it adds inside the segments either side).

The goal compares a boundary's frames with the frames around them, not with their segments' means: a clip's
frames differ by several dB in what a model makes of them (motion, detail), so a boundary that falls in a hard
stretch lies below its segments' means with no seam at all; a seam is a dip at the boundary itself. A boundary on
a scene cut is never a seam: the picture changes there anyway, and what a model makes of the last frames of a
scene is the scene's own (``scene_cut``, known when the source frames are at hand).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..video import FrameStore
from ..video.cuts import starts_scene
from .reader import NervVideo

SEAM_TOLERANCE = 0.5  # dB: a boundary frame further below its neighbouring frames' mean is a visible seam
NEIGHBOURS = 4  # frames either side beyond the two at a boundary whose mean PSNR a seam is measured against
FLICKER_RATIO = 2.0  # a boundary adding more than this times the change added inside its segments flickers ...
FLICKER_LEVELS = 1.0  # ... when that is at least this much (mean absolute difference, 8-bit levels)
FLICKER_PAIRS = 8  # consecutive frame pairs measured inside each segment either side of a boundary
FramePair = tuple[Callable[[list[int]], np.ndarray], Callable[[list[int]], np.ndarray]]  # decoded, source: uint8


def frame_pair(nerv: NervVideo, reference: FrameStore) -> FramePair:
    """The decoded and the source frames of ``nerv`` by index, as :func:`seams` measures flicker with them."""

    def source(indices: list[int]) -> np.ndarray:
        return reference.get(indices).permute(0, 2, 3, 1).cpu().numpy()

    return nerv.decode, source


@dataclass(frozen=True)
class Flicker:
    """The frame-to-frame change at a boundary (frames ``frame − 1`` → ``frame``), mean absolute difference in 8-bit
    levels: of the decoded frames, of the source's, and the change the decode adds, |ΔD − ΔS| (0 when the decoded
    frames change exactly as the source does; a boundary between two models whose errors differ shows it as a jump);
    ``within``: the median of that added change over up to :data:`FLICKER_PAIRS` consecutive pairs inside each
    segment either side (None when the segments have no such pair); ``scene_cut``: the source starts a new scene
    at the boundary (video/cuts.py's rule over the frames read)."""

    decoded: float
    source: float
    added: float
    within: float | None
    scene_cut: bool = False

    @property
    def ratio(self) -> float | None:
        """The added change at the boundary over the one inside the segments."""
        return None if self.within is None else self.added / max(self.within, 1e-6)

    @property
    def flagged(self) -> bool:
        """Not a scene cut, and the boundary adds at least :data:`FLICKER_LEVELS` and more than
        :data:`FLICKER_RATIO` times what the frames inside its segments add: a visible jump when played. (At a
        cut, any decoder's errors change with the picture: one model over the whole clip adds as much there.)"""
        ratio = self.ratio
        return not self.scene_cut and self.added >= FLICKER_LEVELS and (ratio is None or ratio > FLICKER_RATIO)

    def record(self) -> dict[str, Any]:
        return {
            "decoded": round(self.decoded, 4),
            "source": round(self.source, 4),
            "added": round(self.added, 4),
            "within": None if self.within is None else round(self.within, 4),
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "flagged": self.flagged,
            "scene_cut": self.scene_cut,
        }


def flicker(frames: FramePair, before: tuple[int, int], after: tuple[int, int]) -> Flicker:
    """:class:`Flicker` at the boundary between segments ``before`` and ``after`` (frames ``(start, end)``, the
    decoder's numbering), from the frames either side only."""
    (a, b), (_, e) = before, after
    lo, hi = max(a, b - FLICKER_PAIRS - 1), min(e, b + FLICKER_PAIRS + 1)
    decode, source = frames
    idx = list(range(lo, hi))
    src8 = source(idx)
    dec, src = decode(idx).astype(np.int16), src8.astype(np.int16)

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
        starts_scene(src8, j),
    )


@dataclass(frozen=True)
class Seam:
    """The boundary before frame ``frame`` (the first of the later segment): the PSNR of the frames either side
    (``before`` = frame − 1, ``after`` = frame), the mean PSNR of the segment each belongs to, and ``neighbours``:
    the mean PSNR of up to :data:`NEIGHBOURS` frames either side beyond those two."""

    frame: int
    before: float | None
    after: float | None
    mean_before: float | None
    mean_after: float | None
    neighbours: float | None = None
    flicker: Flicker | None = None  # when measured from the frames
    recorded_cut: bool = False  # the file records a scene cut here (segtable.Segment.scene_cut)

    @property
    def drops(self) -> tuple[float | None, float | None]:
        """How far each side lies below its segment's mean, dB (negative: above it)."""
        return _below(self.mean_before, self.before), _below(self.mean_after, self.after)

    @property
    def dips(self) -> tuple[float | None, float | None]:
        """How far each side lies below the neighbouring frames' mean, dB (negative: above it)."""
        return _below(self.neighbours, self.before), _below(self.neighbours, self.after)

    @property
    def scene_cut(self) -> bool:
        """A scene cut: recorded by the file, or seen in the source frames around the boundary."""
        return self.recorded_cut or (self.flicker is not None and self.flicker.scene_cut)

    @property
    def flagged(self) -> bool:
        """Not a scene cut, and a side more than :data:`SEAM_TOLERANCE` below the neighbouring frames' mean."""
        return not self.scene_cut and any(d is not None and d > SEAM_TOLERANCE for d in self.dips)

    def record(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "psnr_before": self.before,
            "psnr_after": self.after,
            "mean_before": self.mean_before,
            "mean_after": self.mean_after,
            "neighbours": self.neighbours,
            "flagged": self.flagged,
            "scene_cut": self.scene_cut,
            **({"flicker": self.flicker.record()} if self.flicker is not None else {}),
        }


def seams(
    psnr: Sequence[float | None],
    segments: Sequence[tuple[int, int]],
    first: int = 0,
    frames: FramePair | None = None,
    cuts: Collection[int] = (),
) -> list[Seam]:
    """Each boundary between ``segments`` (frames ``(start, end)``, in order, tiling ``psnr``), its two frames
    against their segments' means and their neighbours', and with ``frames`` (:func:`frame_pair`) its
    :class:`Flicker`. Unknown or infinite values (a frame decoded exactly) count as unknown; ``first`` numbers the
    frames as the source does. ``cuts``: the boundaries (the later segments' first frames, numbered as
    ``segments``) that the file records as scene cuts (:attr:`NervVideo.scene_cuts`), which need no source."""

    def value(i: int) -> float | None:
        p = psnr[i]
        return float(p) if p is not None and math.isfinite(p) else None

    def mean(indices: range | list[int]) -> float | None:
        known = [v for v in (value(i) for i in indices) if v is not None]
        return sum(known) / len(known) if known else None

    def neighbours(b: int) -> float | None:
        return mean([*range(max(0, b - 1 - NEIGHBOURS), b - 1), *range(b + 1, min(len(psnr), b + 1 + NEIGHBOURS))])

    means = [mean(range(a, b)) for a, b in segments]
    return [
        Seam(
            first + b0,
            value(b0 - 1),
            value(b0),
            means[k],
            means[k + 1],
            neighbours(b0),
            None if frames is None else flicker(frames, (a0, b0), after),
            b0 in cuts,
        )
        for k, ((a0, b0), after) in enumerate(zip(segments, segments[1:]))
    ]


def seam_lines(found: Sequence[Seam]) -> list[str]:
    """The seam table as text (``nervplayer eval`` and ``info``): each boundary's two frames, their segments'
    means and their neighbours' mean."""
    measured = any(s.flicker is not None for s in found)
    head = f"{'seam at':>7} {'PSNR before':>11} {'mean':>7} {'PSNR after':>10} {'mean':>7} {'nearby':>7}"
    lines = [head + (f" {'Δ decoded':>9} {'Δ source':>8} {'added':>6} {'inside':>6}" if measured else "")]
    for s in found:
        values = (s.before, s.mean_before, s.after, s.mean_after, s.neighbours)
        cells = [f"{x:.2f}" if x is not None else "?" for x in values]
        row = f"{s.frame:>7} {cells[0]:>11} {cells[1]:>7} {cells[2]:>10} {cells[3]:>7} {cells[4]:>7}"
        f = s.flicker
        if f is not None:
            inside = f"{f.within:.2f}" if f.within is not None else "?"
            row += f" {f.decoded:>9.2f} {f.source:>8.2f} {f.added:>6.2f} {inside:>6}"
        if s.scene_cut:
            row += "  scene cut"
        if s.flagged:
            row += f"  SEAM: more than {SEAM_TOLERANCE:g} dB below the frames nearby"
        if f is not None and f.flagged:
            row += f"  FLICKER: the decode adds {f.added:.2f} levels of change here"
            row += f", {f.ratio:.1f}× what it adds inside" if f.ratio is not None else ""
        lines.append(row)
    lines.append(
        f"nearby: the mean PSNR of the {NEIGHBOURS} frames either side beyond the two at the boundary; a seam is a "
        "boundary frame more than "
        f"{SEAM_TOLERANCE:g} dB below it, except at a scene cut"
    )
    if measured:
        lines.append(
            "Δ: mean |frame − previous frame| at the boundary (8-bit levels); added: |Δ decoded − Δ source|; "
            f"inside: its median over up to {FLICKER_PAIRS} frame pairs inside each segment either side"
        )
    return lines


def _below(reference: float | None, value: float | None) -> float | None:
    return None if reference is None or value is None else reference - value
