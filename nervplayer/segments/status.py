"""Where each segment of a segmented file or fit stands, as the player's timeline shows it (its segment strip) and
the session reports it: the segment's frames, its state and, once done, its size and PSNR. Qt-free."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..codec.reader import NervVideo
from ..codec.segtable import SegmentedFile

PENDING, FITTING, DONE, FAILED = "pending", "fitting", "done", "failed"
STATES = (PENDING, FITTING, DONE, FAILED)


@dataclass(frozen=True)
class SegmentStatus:
    """Frames ``start:end`` (end exclusive, the clip's numbering from 0) of one segment."""

    start: int
    end: int
    state: str = DONE
    psnr: float | None = None  # of the segment's decoded frames against the source
    bytes: int | None = None  # of the segment's coded model

    def describe(self, k: int) -> str:
        """One line: ``segment 1: frames 40–95 · 53 kB · 28.10 dB · done``."""
        parts = [f"segment {k}: frames {self.start}–{self.end - 1}"]
        if self.bytes is not None:
            parts.append(f"{self.bytes / 1e3:,.1f} kB")
        if self.psnr is not None:
            parts.append(f"{self.psnr:.2f} dB")
        parts.append(self.state)
        return " · ".join(parts)

    def with_state(self, state: str, psnr: float | None = None, size: int | None = None) -> SegmentStatus:
        assert state in STATES
        return replace(self, state=state, psnr=self.psnr if psnr is None else psnr, bytes=size or self.bytes)


def of_file(nerv: NervVideo) -> list[SegmentStatus]:
    """The segments of an open file, each done, with the size and PSNR its segment table records; a one-model
    file has one."""
    if not isinstance(nerv.file, SegmentedFile):
        return [SegmentStatus(0, nerv.num_frames, DONE, nerv.file.metrics.get("psnr"))]
    return [SegmentStatus(s.start, s.end, DONE, s.psnr, s.bytes) for s in nerv.file.segments]
