"""The segment table of a format-3 ``.nerv``, a video cut into segments of frames, one model each (docs/format.md).

A segmented file is a container (version 3.0, or 3.1 when a segment fades in over the one before it) whose header
holds the clip's ``video``, ``source`` and ``created`` and a ``segments`` table; its one section, ``SEGS``, holds
each segment as the complete bytes of a 2.x file, so every check, checksum and limit of a 2.x file applies to each
segment. The table is checked here, from the header and the file's size alone, before any section is read:
segments in order of frames, covering the video's frames with no gap or overlap, each one's bytes inside the
section, the bytes tiling the section exactly, each fade (``lead``, ``trail``, ``blend``) inside its neighbours.

A segment with a ``lead`` of k frames also decodes the k frames before its ``start``, and one with a ``trail`` of m
frames the m frames after its ``end`` (its file holds the lead, its own frames, then the trail). Around a boundary
the frames that both neighbours decode (the later one's lead and the earlier one's trail) are decoded by both models
and faded, each with the weight the writer chose for it from the source (:mod:`.blend`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..errors import NervFormatError
from ..model.spec import ModelSpec
from . import container
from .story import Story

if TYPE_CHECKING:
    from .nervfile import NervFile

TAG = "SEGS"
MAX_SEGMENTS = 4096  # a table entry takes about 100 bytes of the 1 MiB header
_INTEGERS = ("start", "end", "offset", "bytes")
_QUALITY = ("psnr", "ms_ssim")
BLEND_ONE = 64  # a fade weight w in 0..BLEND_ONE gives the later segment's model w / BLEND_ONE of the frame


@dataclass(frozen=True)
class Segment:
    """One row of the table: frames ``start:end`` of the clip (end exclusive), stored at bytes
    ``offset:offset + bytes`` of the ``SEGS`` section; its quality against the source when known."""

    start: int
    end: int
    offset: int
    bytes: int
    psnr: float | None = None
    ms_ssim: float | None = None
    # the segment begins a new scene of the source (found when the clip was cut), so its boundary is no seam; None:
    # not known (the first segment, and files written before the field)
    scene_cut: bool | None = None
    # the segment's file also holds the ``lead`` frames before ``start`` (first) and the ``trail`` frames after
    # ``end`` (last); the fade with the segment before covers frames start − lead … start + that segment's trail − 1:
    # ``blend[j]`` is this model's weight (of BLEND_ONE) in frame start − lead + j, ``blend_psnr[j]`` that frame's
    # PSNR against the source, faded (None: not known)
    lead: int = 0
    trail: int = 0
    blend: tuple[int, ...] = ()
    blend_psnr: tuple[float | None, ...] = ()

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def stored_frames(self) -> int:
        """Frames its file holds: the lead, its own, the trail."""
        return self.lead + self.frames + self.trail

    def record(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "offset": self.offset,
            "bytes": self.bytes,
            "psnr": self.psnr,
            "ms_ssim": self.ms_ssim,
        }
        if self.scene_cut is not None:
            row["scene_cut"] = self.scene_cut
        if self.trail:
            row["trail"] = self.trail
        if self.blend:
            row.update(lead=self.lead, blend=list(self.blend), blend_psnr=list(self.blend_psnr))
        return row


def check_table(header: dict[str, Any], num_frames: int, after_header: int, name: str) -> list[Segment]:
    """The table of ``header``, checked against the video's ``num_frames`` and the ``after_header`` bytes that
    follow the header in the file; every failure is a one-line :class:`NervFormatError`. Allocates nothing
    beyond the table itself."""

    def fail(msg: str) -> NervFormatError:
        return NervFormatError(f"{name}: {msg}")

    if header.get("sections") != [TAG]:
        raise fail(f"a segmented file has one section, {TAG}")
    payload = after_header - container.SECTION_PREFIX
    if payload < 0:
        raise fail(f"truncated before section {TAG} (file ends {after_header} bytes after the header)")
    rows = header.get("segments")
    if not isinstance(rows, list) or not rows:
        raise fail("header has no segment table (segments)")
    if len(rows) > MAX_SEGMENTS:
        raise fail(f"{len(rows)} segments (limit {MAX_SEGMENTS})")
    table: list[Segment] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not all(
            type(row.get(k)) is int and row[k] >= 0 for k in _INTEGERS
        ):  # bool is not int here
            raise fail(f"segment {i}: start, end, offset and bytes must be integers ≥ 0")
        quality = {k: row.get(k) for k in _QUALITY}
        if not all(v is None or (type(v) in (int, float) and math.isfinite(v)) for v in quality.values()):
            raise fail(f"segment {i}: psnr and ms_ssim must be numbers or null")
        cut = row.get("scene_cut")
        if cut is not None and type(cut) is not bool:
            raise fail(f"segment {i}: scene_cut must be true, false or absent")
        lead, trail, blend, blend_psnr = _fade(row, i, table, i == len(rows) - 1, fail)
        s = Segment(
            row["start"], row["end"], row["offset"], row["bytes"], quality["psnr"], quality["ms_ssim"], cut,
            lead, trail, blend, blend_psnr,
        )  # fmt: skip
        if s.end <= s.start:
            raise fail(f"segment {i} has no frames (frames {s.start}:{s.end})")
        if s.bytes == 0 or s.offset + s.bytes > payload:
            raise fail(
                f"segment {i} points outside the file (bytes {s.offset}:{s.offset + s.bytes} of a "
                f"{payload}-byte segment section)"
            )
        before = table[-1] if table else Segment(0, 0, 0, 0)
        if s.start < before.end:
            raise fail(
                f"segment {i} (frames {s.start}:{s.end}) overlaps segment {i - 1} (frames {before.start}:{before.end})"
            )
        if s.start > before.end:
            raise fail(f"frames {before.end}:{s.start} belong to no segment (a gap before segment {i})")
        if s.offset != before.offset + before.bytes:
            raise fail(
                f"segment {i} starts at byte {s.offset} of the segment section, "
                f"{'segment ' + str(i - 1) + ' ends' if table else 'the section starts'} at byte "
                f"{before.offset + before.bytes}"
            )
        table.append(s)
    if table[-1].end != num_frames:
        raise fail(f"the segment table covers frames 0:{table[-1].end}, the video has {num_frames}")
    if table[-1].offset + table[-1].bytes != payload:
        raise fail(f"{payload - table[-1].offset - table[-1].bytes} bytes of the segment section belong to no segment")
    return table


def _fade(
    row: dict[str, Any], i: int, table: list[Segment], last: bool, fail: Callable[[str], NervFormatError]
) -> tuple[int, int, tuple[int, ...], tuple[float | None, ...]]:
    """The fade fields of row ``i`` (``lead``, ``trail``, ``blend``, ``blend_psnr``), checked against the rows
    before it (``table``): a lead within the segment before (none for the first), whose own trail reaches no
    further into this one than this one's frames, nor into the frames the segment before it led into; no trail
    from the last; a weight in 0..BLEND_ONE and a PSNR (or null) per faded frame."""
    lead, trail = row.get("lead", 0), row.get("trail", 0)
    before = table[-1] if table else Segment(0, 0, 0, 0)
    if type(lead) is not int or not 0 <= lead <= before.frames:
        raise fail(f"segment {i}: lead must be an integer from 0 to the {before.frames} frames of the segment before")
    if type(trail) is not int or trail < 0 or (trail and last):
        raise fail(f"segment {i}: trail must be an integer ≥ 0, and 0 in the last segment")
    frames = row["end"] - row["start"]
    if before.trail > frames:
        raise fail(f"segment {i - 1} trails {before.trail} frames into segment {i}, which has {frames}")
    behind = table[-2].trail if len(table) > 1 else 0  # the frames of the segment before that its own start fades
    if behind + lead > before.frames:
        raise fail(f"segment {i - 1}: the fades at its two ends overlap")
    faded = lead + before.trail
    blend, psnr = row.get("blend", []), row.get("blend_psnr", [None] * faded)
    weights_ok = all(type(w) is int and 0 <= w <= BLEND_ONE for w in blend) if isinstance(blend, list) else False
    if not weights_ok or len(blend) != faded:
        raise fail(f"segment {i}: blend must hold {faded} integer weights from 0 to {BLEND_ONE}, one per faded frame")
    if (
        not isinstance(psnr, list)
        or len(psnr) != faded
        or not all(v is None or (type(v) in (int, float) and math.isfinite(v)) for v in psnr)
    ):
        raise fail(f"segment {i}: blend_psnr must hold {faded} numbers or nulls, one per faded frame")
    return lead, trail, tuple(blend), tuple(psnr)


@dataclass
class SegmentedFile:
    """A format-3 file: the clip's header and each segment's decoded 2.x file (``parts``, in table order). It
    answers what a :class:`~nervplayer.codec.nervfile.NervFile` answers about the video as a whole."""

    video: dict[str, Any]  # the clip: num_frames, fps, start, end, stride, size, ...
    segments: list[Segment]
    parts: list[NervFile]
    source: dict[str, Any]
    created: dict[str, Any]
    metrics: dict[str, Any]  # frame-weighted means of the segments' psnr / ms_ssim (null where one is unknown)

    @property
    def num_frames(self) -> int:
        return int(self.video["num_frames"])

    @property
    def model(self) -> ModelSpec:
        """The first segment's network (segments may differ in size; each decodes with its own)."""
        return self.parts[0].model

    @property
    def compression(self) -> dict[str, Any]:
        return self.parts[0].compression

    @property
    def story(self) -> Story:
        """Per-frame PSNR across the clip: the segments' own, joined, when each stores one value per frame (a
        faded frame's from the table)."""
        values = [p.story.frame_psnr for p in self.parts]
        if not all(len(v) == p.num_frames for v, p in zip(values, self.parts)):
            return Story()
        joined = [x for v, s in zip(values, self.segments) for x in v[s.lead : s.lead + s.frames]]
        for s in self.segments:
            joined[s.start - s.lead : s.start - s.lead + len(s.blend_psnr)] = s.blend_psnr
        return Story(frame_psnr=joined)

    @property
    def fades(self) -> bool:
        """Whether neighbouring segments fade into each other (format 3.1)."""
        return any(s.blend for s in self.segments)

    def header(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "source": self.source,
            "created": self.created,
            "metrics": self.metrics,
            "segments": [s.record() for s in self.segments],
        }


def weighted_quality(segments: list[Segment]) -> dict[str, float | None]:
    """The clip's ``psnr`` and ``ms_ssim``: each segment's weighted by its frames (the mean over frames when each
    segment's figure is its mean over its frames); None when a segment's is unknown."""
    total = sum(s.frames for s in segments)
    out: dict[str, float | None] = {}
    for key in _QUALITY:
        values = [getattr(s, key) for s in segments]
        known = None not in values
        out[key] = round(sum(v * s.frames for v, s in zip(values, segments)) / total, 6) if known else None
    return out
