"""Gathering segment files into one ``.nerv``: a fit cut into segments writes one ordinary 2.x file per segment
(frames ``start:end`` of the clip, its model mapping local frame i to t = i / (end − start)), and :func:`gather`
joins them into one file (format 3.0, docs/format.md; the table is :mod:`.segtable`).

    gather([SegmentPart(0, 40, Path("s0.nerv")), SegmentPart(40, 96, Path("s1.nerv"))], "clip.nerv")

One part is written as it is: a one-segment file is today's file.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes
from ..errors import ConfigError, NervFormatError
from ..version import __version__
from . import container, nervfile, segtable
from .entropy import coder_library_version
from .nervfile import NervFile

_SAME = ("fps", "size", "stride")  # video keys every segment shares with the clip


@dataclass(frozen=True)
class SegmentPart:
    """Frames ``start:end`` of the clip (end exclusive, the clip's numbering from 0), fitted and written to
    ``path`` as an ordinary 2.x ``.nerv`` of ``end − start`` frames."""

    start: int
    end: int
    path: Path
    scene_cut: bool | None = None  # the part begins a new scene of the source (the table records it)


def gather(parts: Sequence[SegmentPart], out: str | os.PathLike) -> None:
    """Write ``parts`` as one ``.nerv`` at ``out``, atomically (a failure, a full disk included, leaves what was at
    ``out`` as it was). The parts must tile frames 0:N in order and agree on frame size, fps, stride and source;
    each is fully validated first. Bad parts raise :class:`ConfigError` or :class:`NervFormatError`."""
    parts = sorted(parts, key=lambda p: (p.start, p.end))
    _check_cover(parts)
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
    table, offset = [], 0
    for p, nf, data in zip(parts, files, datas):
        psnr, ms_ssim = nf.metrics.get("psnr"), nf.metrics.get("ms_ssim")
        table.append(segtable.Segment(p.start, p.end, offset, len(data), psnr, ms_ssim, p.scene_cut))
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
    _write(out, container.pack(header, [(segtable.TAG, b"".join(datas))], container.SEGMENTED))


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
    end = 0
    for p in parts:
        if p.end <= p.start:
            raise ConfigError(f"segment {p.start}:{p.end} ({p.path}) has no frames")
        if p.start < end:
            raise ConfigError(f"segment {p.start}:{p.end} ({p.path}) overlaps the one before (up to frame {end})")
        if p.start > end:
            raise ConfigError(f"frames {end}:{p.start} belong to no segment")
        end = p.end


def _load_part(p: SegmentPart) -> NervFile:
    nf = nervfile.load_any(p.path)
    if not isinstance(nf, NervFile):
        raise NervFormatError(f"{p.path}: is itself a segmented file; gather the segments it was made from")
    if nf.num_frames != p.end - p.start:
        raise NervFormatError(
            f"{p.path}: holds {nf.num_frames} frames, segment {p.start}:{p.end} has {p.end - p.start}"
        )
    return nf


def _clip_start(p: SegmentPart, nf: NervFile) -> int:
    """The source frame of the clip's frame 0, as this segment's file records it."""
    return int(nf.video.get("start", 0)) - p.start
