"""Gathering segment files into one ``.nerv``: a fit cut into segments writes one ordinary 2.x file per segment
(frames ``start:end`` of the clip, its model mapping local frame i to t = i / (end − start)), and :func:`gather`
joins them into one file (format 3.0, docs/format.md; the table is :mod:`.segtable`).

    gather([SegmentPart(0, 40, Path("s0.nerv")), SegmentPart(40, 96, Path("s1.nerv"))], "clip.nerv")

One part is written as it is: a one-segment file is today's file. A part with a ``lead`` also decodes that many
frames before its start, and one with a ``trail`` that many after its end (its file holds the lead, its own frames,
the trail); :func:`gather` then fades the two models over the frames both decode, with the weights :mod:`.blend`
chooses against the source frames, and writes format 3.1.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..atomic import atomic_write_bytes
from ..errors import ConfigError, NervFormatError
from ..version import __version__
from . import blend, container, nervfile, segtable
from .entropy import coder_library_version
from .nervfile import NervFile
from .reader import NervVideo

_SAME = ("fps", "size", "stride")  # video keys every segment shares with the clip


@dataclass(frozen=True)
class SegmentPart:
    """Frames ``start:end`` of the clip (end exclusive, the clip's numbering from 0), fitted and written to
    ``path`` as an ordinary 2.x ``.nerv`` of ``end − start`` frames."""

    start: int
    end: int
    path: Path
    scene_cut: bool | None = None  # the part begins a new scene of the source (the table records it)
    lead: int = 0  # its file holds the lead frames before ``start`` too (first), to fade with the part before
    trail: int = 0  # ... and the trail frames after ``end`` (last), to fade with the part after

    @property
    def stored(self) -> int:
        """Frames its file holds."""
        return self.lead + self.end - self.start + self.trail


#: the source frames start:end of the clip (the parts' numbering) as floats [n, 3, H, W] in [0, 1]
Source = Callable[[int, int], torch.Tensor]


def gather(parts: Sequence[SegmentPart], out: str | os.PathLike, source: Source | None = None) -> None:
    """Write ``parts`` as one ``.nerv`` at ``out``, atomically (a failure, a full disk included, leaves what was at
    ``out`` as it was). The parts must tile frames 0:N in order and agree on frame size, fps, stride and source;
    each is fully validated first. Parts that fade need ``source``, the frames their fades are chosen against.
    Bad parts raise :class:`ConfigError` or :class:`NervFormatError`."""
    parts = sorted(parts, key=lambda p: (p.start, p.end))
    _check_cover(parts)
    fading = any(p.lead or p.trail for p in parts)
    if fading and source is None:
        raise ConfigError("segments that fade into the one before need the source frames to choose the fades")
    files = [_load_part(p) for p in parts]
    datas = [Path(p.path).read_bytes() for p in parts]
    if len(parts) == 1:
        _write(out, datas[0])
        return
    first = files[0]
    for p, nf in zip(parts[1:], files[1:]):
        for key in _SAME:
            if nf.video.get(key) != first.video.get(key):
                raise NervFormatError(
                    f"{p.path}: video {key} {nf.video.get(key)} differs from the first segment's {first.video.get(key)}"
                )
        if nf.source != first.source:
            raise NervFormatError(f"{p.path}: made from another source than the first segment ({first.source})")
        if _clip_start(p, nf) != _clip_start(parts[0], first):
            raise NervFormatError(
                f"{p.path}: starts at source frame {nf.video.get('start', 0)}, frame {p.start} of a clip that "
                f"starts at source frame {_clip_start(parts[0], first)}"
            )
    fades = [_fade(parts, files, i, source) if i and source else ((), ()) for i in range(len(parts))]
    table, offset = [], 0
    for i, (p, nf, data) in enumerate(zip(parts, files, datas)):
        ends = fades[i][1][p.lead :], fades[i + 1][1][: parts[i + 1].lead] if i + 1 < len(parts) else ()
        psnr, ms_ssim = own_psnr(nf, p.lead, p.end - p.start, *ends), nf.metrics.get("ms_ssim")
        weights, faded = fades[i]
        table.append(
            segtable.Segment(
                p.start, p.end, offset, len(data), psnr, ms_ssim, p.scene_cut, p.lead, p.trail, weights, faded
            )
        )
        offset += len(data)
    n = parts[-1].end
    start = _clip_start(parts[0], first)
    video: dict[str, Any] = {**first.video, "num_frames": n, "start": start, "end": start + n}
    header = {
        "video": video,
        "source": first.source,
        "created": {
            "by": f"nervplayer {__version__}",
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "constriction": coder_library_version(),
        },
        "metrics": segtable.weighted_quality(table),
        "segments": [s.record() for s in table],
    }
    version = container.FADED if fading else container.SEGMENTED
    _write(out, container.pack(header, [(segtable.TAG, b"".join(datas))], version))


def _fade(
    parts: list[SegmentPart], files: list[NervFile], i: int, source: Source
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The weights of part ``i``'s model in the frames it and the part before both decode (its lead, that part's
    trail), and the PSNR of each faded frame (codec/blend.py); nothing where they share no frame."""
    p, before = parts[i], parts[i - 1]
    count = p.lead + before.trail
    if not count:
        return (), ()
    first = before.lead + before.end - before.start - p.lead  # the zone's first frame in the earlier part's file
    with torch.inference_mode():
        earlier = NervVideo(files[i - 1]).predict(list(range(first, first + count)))
        later = NervVideo(files[i]).predict(list(range(count)))
        frames = source(p.start - p.lead, p.start + before.trail).to(earlier.device)
        weights, psnr = blend.choose(earlier, later, frames)
    return tuple(weights), tuple(round(v, 4) for v in psnr)


def own_psnr(
    nf: NervFile, lead: int, frames: int, head: tuple[float, ...] = (), tail: tuple[float, ...] = ()
) -> float | None:
    """The mean PSNR of a segment's own ``frames`` in its file ``nf``, which holds ``lead`` frames of the segment
    before them first: the file's figure when it holds only those and none is faded, else from its per-frame PSNR,
    with the first ``head`` and last ``tail`` frames' as the gathered file fades them (None where the file has no
    per-frame PSNR)."""
    if nf.num_frames == frames and not (head or tail):
        return nf.metrics.get("psnr")
    values = nf.story.frame_psnr[lead : lead + frames]
    if len(nf.story.frame_psnr) != nf.num_frames or None in values:
        return None
    own = [float(v) for v in values if v is not None]
    own[: len(head)] = head
    own[len(own) - len(tail) :] = tail
    return round(sum(own) / len(own), 4)


def _write(out: str | os.PathLike, data: bytes) -> None:
    """Atomically; a failed write (a full disk) names ``out``, so that it reads as a problem with that path."""
    try:
        atomic_write_bytes(out, data)
    except OSError as e:
        if e.filename is not None:
            raise
        raise OSError(e.errno, e.strerror or str(e), str(out)) from None


def _check_cover(parts: list[SegmentPart]) -> None:
    if not parts:
        raise ConfigError("no segments to gather")
    if len(parts) > segtable.MAX_SEGMENTS:
        raise ConfigError(f"{len(parts)} segments (a .nerv holds at most {segtable.MAX_SEGMENTS})")
    end = prev = behind = trailed = 0  # behind: the trail into the part before this one's predecessor
    for p in parts:
        if p.end <= p.start:
            raise ConfigError(f"segment {p.start}:{p.end} ({p.path}) has no frames")
        name = f"segment {p.start}:{p.end} ({p.path})"
        if p.lead > (0 if p is parts[0] else p.start - prev):
            raise ConfigError(f"{name} leads {p.lead} frames into a shorter segment")
        if p is parts[-1] and p.trail:
            raise ConfigError(f"{name} trails {p.trail} frames after the last frame")
        if trailed > p.end - p.start:
            raise ConfigError(f"{name} is shorter than the {trailed} frames the segment before trails into it")
        if p is not parts[0] and behind + p.lead > p.start - prev:
            raise ConfigError(f"{name}: its lead overlaps the fade at the start of the segment before")
        if p.start < end:
            raise ConfigError(f"segment {p.start}:{p.end} ({p.path}) overlaps the one before (up to frame {end})")
        if p.start > end:
            raise ConfigError(f"frames {end}:{p.start} belong to no segment")
        prev, end, behind, trailed = p.start, p.end, trailed, p.trail


def _load_part(p: SegmentPart) -> NervFile:
    nf = nervfile.load_any(p.path)
    if not isinstance(nf, NervFile):
        raise NervFormatError(f"{p.path}: is itself a segmented file; gather the segments it was made from")
    if nf.num_frames != p.stored:
        lead = f" and {p.lead} before it" if p.lead else ""
        lead += f" and {p.trail} after it" if p.trail else ""
        raise NervFormatError(
            f"{p.path}: holds {nf.num_frames} frames, segment {p.start}:{p.end} has {p.end - p.start}{lead}"
        )
    return nf


def _clip_start(p: SegmentPart, nf: NervFile) -> int:
    """The source frame of the clip's frame 0, as this segment's file records it."""
    return int(nf.video.get("start", 0)) - p.start + p.lead
