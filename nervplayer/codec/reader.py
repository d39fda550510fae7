"""``NervVideo``: a ``.nerv`` file as a random-access video. Any frame index costs the same one forward pass.

    video = NervVideo.open("clip.nerv", device="auto")
    video.num_frames, video.fps, video.size          # size = (height, width)
    rgb = video.frame(17)                            # uint8 H×W×3
    mid = video.frame(17.5)                          # between frames 17 and 18 (t = 17.5 / num_frames)
    clip = video.frames(0, 8)                        # uint8 [8, H, W, 3], frames 0..7
    some = video.decode([3, 9, 4.5])                 # uint8 [3, H, W, 3]
    x = video.predict([3, 9])                        # float [2, 3, H, W] in [0, 1] on the device, for metrics

``decode`` and ``predict`` are the decode contract a live fit (:class:`~nervplayer.train.Fitter`) keeps too:
``decode`` gives displayable uint8 frames on the host, ``predict`` the network's float output for metrics.

Decoding is serialised by a lock, so one instance can be shared by several threads (a GUI's decode worker and
its read-ahead, say). The network runs in float32 by default: on one device, a frame of a file equals the frame
of the in-memory quantized model it was written from, bit for bit.

A segmented file (format 3, docs/format.md) plays as one video: frame k is decoded by the segment that holds it,
exactly as that segment's own file decodes it. A segment's network is built when one of its frames is first
decoded; the most recently used ones are kept (:attr:`NervVideo.built_bound` of them at most: a count, and what
the memory budget holds beside the decoding itself), the others are dropped. Every segment is validated (its
entropy streams decoded) when the file opens and kept quantized, a few bytes per stored value: a damaged segment
is found on opening, not in the middle of playback.

Memory: before anything is allocated, the peak memory of a frame is computed from the architecture
(:mod:`nervplayer.model.banded`) and compared with a budget (default: half the memory available on the decoding
device, at most 16 GiB). Frames that do not fit whole are decoded in bands of rows; a frame that does not fit
even one row at a time is refused with a :class:`~nervplayer.errors.MemoryBudgetError` naming need and budget.
"""

from __future__ import annotations

import bisect
import math
import os
import threading
from collections import OrderedDict
from typing import Any, Sequence, cast

import numpy as np
import torch

from ..device import resolve_device
from ..errors import ConfigError
from ..model import NeRV, architectures
from ..model.banded import DecodePlan, forward_banded, plan_decoding, plan_whole_frames
from ..model.render import times, to_uint8
from ..model.spec import NERV, ModelSpec
from ..video.store import default_budget_bytes
from . import nervfile
from .blend import fade
from .nervfile import NervFile
from .segtable import SegmentedFile

MAX_BUILT = 8  # segment networks kept built at most (fewer where the memory budget holds fewer)


class NervVideo:
    """A decoded-on-demand video backed by a quantized NeRV, or by one per segment."""

    def __init__(
        self,
        nf: NervFile | SegmentedFile,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        memory_budget: int | None = None,
        max_built: int = MAX_BUILT,
    ) -> None:
        """``memory_budget``: bytes decoding may use (default: see the module docstring); ``max_built``: segment
        networks kept built at most (segmented files)."""
        self.file = nf
        self.device = resolve_device(device) if isinstance(device, str) else device
        budget = default_budget_bytes(self.device) if memory_budget is None else memory_budget
        self._lock = threading.Lock()
        self._budget, self._batch = budget, batch_size
        self._built: OrderedDict[int, NervVideo] = OrderedDict()  # segment → its video, least recently used first
        if isinstance(nf, SegmentedFile):  # every segment's plan before any network is built
            plans = [_plan(part.model, budget, batch_size) for part in nf.parts]
            self.plan = max(plans, key=lambda p: p.need)
            self.batch_size = min(p.batch for p in plans)
            weights = max(_weight_bytes(part) for part in nf.parts)  # what each network kept built holds
            self.built_bound = max(1, min(max_built, 1 + (budget - self.plan.need) // max(weights, 1)))
            self._starts = [s.start for s in nf.segments]
            self.model: torch.nn.Module | None = None
            return
        self.plan = _plan(nf.model, budget, batch_size)
        self.batch_size = self.plan.batch
        self.built_bound = 1
        self.model = nf.build_model(self.device)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        memory_budget: int | None = None,
        max_built: int = MAX_BUILT,
    ) -> NervVideo:
        """Open and validate ``path``; a bad file raises :class:`~nervplayer.errors.NervFormatError`, one too
        large to decode within the memory budget :class:`~nervplayer.errors.MemoryBudgetError`."""
        return cls(nervfile.load_any(path), device, batch_size, memory_budget, max_built)

    @property
    def num_frames(self) -> int:
        return self.file.num_frames

    @property
    def segments(self) -> list[tuple[int, int]]:
        """Frames ``(start, end)`` of each segment, end exclusive: ``[(0, num_frames)]`` for a one-model file."""
        if isinstance(self.file, SegmentedFile):
            return [(s.start, s.end) for s in self.file.segments]
        return [(0, self.num_frames)]

    @property
    def scene_cuts(self) -> list[int]:
        """The segment boundaries the file records as scene cuts of the source (none in a one-model file, or in a
        file written before the table recorded them)."""
        if isinstance(self.file, SegmentedFile):
            return [s.start for s in self.file.segments if s.scene_cut]
        return []

    @property
    def built_count(self) -> int:
        """Networks built now (a segmented file: the segments kept, at most :attr:`built_bound`)."""
        return 1 if self.model is not None else len(self._built)

    def segment_of(self, t: float) -> tuple[int, float]:
        """(segment, index within it) of frame ``t`` of a segmented file; (0, t) otherwise. Between a segment's
        last frame and the next segment's first, the nearer of the two (the later from halfway)."""
        if self.model is not None:
            return 0, t
        assert isinstance(self.file, SegmentedFile)
        k = bisect.bisect_right(self._starts, math.floor(t)) - 1
        seg = self.file.segments[k]
        local = t - seg.start
        if local > seg.frames - 1:
            if local - (seg.frames - 1) < 0.5:
                return k, float(seg.frames - 1)
            return k + 1, 0.0
        return k, local

    @property
    def fps(self) -> float:
        return float(self.file.video["fps"])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width), the shape of a frame array."""
        h, w = self.file.video["size"]
        return int(h), int(w)

    @property
    def header(self) -> dict[str, Any]:
        return self.file.header()

    def _check(self, indices: Sequence[float]) -> None:
        last = self.num_frames - 1
        for t in indices:
            if not 0 <= t <= last:
                raise ConfigError(f"frame {t:g} is outside the video (0 to {last})")

    def predict(self, indices: Sequence[float]) -> torch.Tensor:
        """Float frames [B, 3, H, W] in [0, 1] on the decoding device (within the memory budget: in batches of up
        to ``batch_size`` frames, or in bands of rows)."""
        self._check(indices)
        if self.model is None:
            return self._predict_segments(indices)
        with self._lock, torch.inference_mode():
            t = times(indices, self.num_frames, self.device)
            if not self.plan.banded:
                return torch.cat(
                    [self.model(t[i : i + self.batch_size]).float() for i in range(0, len(t), self.batch_size)]
                )
            rows = self.plan.rows
            assert rows is not None  # a banded plan always has its band height
            model = cast(NeRV, self.model)  # only NeRV plans are banded
            return torch.cat([forward_banded(model, t[i : i + 1], rows) for i in range(len(t))])

    def _predict_segments(self, indices: Sequence[float]) -> torch.Tensor:
        """Each frame from the segment that holds it; a frame where two segments fade into each other (the later
        one's lead, the earlier one's trail) mixed with the other's prediction, at the weight the file stores
        (codec/blend.py)."""
        assert isinstance(self.file, SegmentedFile)
        table = self.file.segments
        where = [self.segment_of(t) for t in indices]
        with self._lock, torch.inference_mode():
            out = self._predict_stored([(k, local + table[k].lead) for k, local in where])
            fading = [(i, *zone) for i, (k, local) in enumerate(where) if (zone := self._zone(k, local)) is not None]
            if fading:
                at = [i for i, *_ in fading]
                other = self._predict_stored([(k, j) for _, k, j, _, _ in fading])
                own_later = torch.tensor([later for *_, later in fading]).view(-1, 1, 1, 1)
                earlier = torch.where(own_later, other, out[at])
                later = torch.where(own_later, out[at], other)
                out[at] = fade(earlier, later, [w for _, _, _, w, _ in fading])
        return out

    def _zone(self, k: int, local: float) -> tuple[int, float, int, bool] | None:
        """For local frame ``local`` of segment ``k``, where it lies in a fade: (the other segment, the frame's
        index in that segment's file, the later segment's weight, whether segment ``k`` is the later one); None
        outside the fades."""
        assert isinstance(self.file, SegmentedFile)
        table, s = self.file.segments, self.file.segments[k]
        if k + 1 < len(table) and (lead := table[k + 1].lead) and local >= s.frames - lead:  # the next one's lead
            j = local - (s.frames - lead)
            return k + 1, j, table[k + 1].blend[min(round(j), len(table[k + 1].blend) - 1)], False
        if k > 0 and (trail := table[k - 1].trail) and local < trail:  # the trail of the one before
            j = s.lead + local  # this frame in the later (own) file; the earlier file holds it after its own frames
            before = table[k - 1]
            return k - 1, before.lead + before.frames + local, s.blend[min(round(j), len(s.blend) - 1)], True
        return None

    def _predict_stored(self, where: Sequence[tuple[int, float]]) -> torch.Tensor:
        """Frames (segment, index in that segment's file): each run of one segment's frames decoded together."""
        out = []
        i = 0
        while i < len(where):
            j = i
            while j < len(where) and where[j][0] == where[i][0]:
                j += 1
            out.append(self._segment(where[i][0]).predict([local for _, local in where[i:j]]))
            i = j
        return torch.cat(out)

    def _segment(self, k: int) -> NervVideo:
        """Segment ``k``'s video, built if it is not kept (dropping the least recently used beyond the bound)."""
        if k in self._built:
            self._built.move_to_end(k)
            return self._built[k]
        assert isinstance(self.file, SegmentedFile)
        while len(self._built) >= self.built_bound:
            self._built.popitem(last=False)
        video = NervVideo(self.file.parts[k], self.device, self._batch, self._budget)
        self._built[k] = video
        return video

    def decode(self, indices: Sequence[float]) -> np.ndarray:
        """Frames ``indices`` as uint8 [B, H, W, 3] on the host, decoded in batches of ``batch_size``."""
        indices = list(indices)
        self._check(indices)
        out = np.empty((len(indices), *self.size, 3), dtype=np.uint8)
        for i in range(0, len(indices), self.batch_size):
            out[i : i + self.batch_size] = to_uint8(self.predict(indices[i : i + self.batch_size]))
        return out

    def frame(self, t: float) -> np.ndarray:
        """Frame ``t`` as uint8 H×W×3; a fractional ``t`` decodes between frames."""
        return self.decode([t])[0]

    def frames(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start`` … ``stop`` − 1 as uint8 [stop − start, H, W, 3], decoded in batches."""
        return self.decode(range(start, stop))


def _plan(spec: ModelSpec, budget: int, batch_size: int) -> DecodePlan:
    if spec.arch == NERV:  # NeRV decodes in bands of rows when a whole frame does not fit
        return plan_decoding(spec.nerv_config(), budget, batch_size)
    need = architectures.frame_bytes(spec)
    return plan_whole_frames(need, budget, batch_size, spec.width, spec.height)


def _weight_bytes(nf: NervFile) -> int:
    """Bytes of ``nf``'s float32 weights once built."""
    return 4 * sum(math.prod(q.shape) for q in nf.tensors.values())
