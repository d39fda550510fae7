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

Memory: before anything is allocated, the peak memory of a frame is computed from the architecture
(:mod:`nervplayer.model.banded`) and compared with a budget (default: half the memory available on the decoding
device, at most 16 GiB). Frames that do not fit whole are decoded in bands of rows; a frame that does not fit
even one row at a time is refused with a :class:`~nervplayer.errors.MemoryBudgetError` naming need and budget.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Sequence, cast

import numpy as np
import torch

from ..device import resolve_device
from ..errors import ConfigError
from ..model import NeRV, architectures
from ..model.banded import DecodePlan, forward_banded, plan_decoding, plan_whole_frames
from ..model.render import times, to_uint8
from ..model.spec import NERV
from ..video.store import default_budget_bytes
from . import nervfile
from .nervfile import NervFile


class NervVideo:
    """A decoded-on-demand video backed by a quantized NeRV."""

    def __init__(
        self, nf: NervFile, device: str | torch.device = "cpu", batch_size: int = 8, memory_budget: int | None = None
    ) -> None:
        """``memory_budget``: bytes decoding may use (default: see the module docstring)."""
        self.file = nf
        self.device = resolve_device(device) if isinstance(device, str) else device
        budget = default_budget_bytes(self.device) if memory_budget is None else memory_budget
        spec = nf.model
        if spec.arch == NERV:  # NeRV decodes in bands of rows when a whole frame does not fit
            self.plan: DecodePlan = plan_decoding(spec.nerv_config(), budget, batch_size)
        else:
            need = architectures.frame_bytes(spec)
            self.plan = plan_whole_frames(need, budget, batch_size, spec.width, spec.height)
        self.batch_size = self.plan.batch
        self.model = nf.build_model(self.device)
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        memory_budget: int | None = None,
    ) -> NervVideo:
        """Open and validate ``path``; a bad file raises :class:`~nervplayer.errors.NervFormatError`, one too
        large to decode within the memory budget :class:`~nervplayer.errors.MemoryBudgetError`."""
        return cls(nervfile.load(path), device, batch_size, memory_budget)

    @property
    def num_frames(self) -> int:
        return self.file.num_frames

    @property
    def fps(self) -> float:
        return float(self.file.video["fps"])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width), the shape of a frame array."""
        return self.file.model.height, self.file.model.width

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
