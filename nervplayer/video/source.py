"""What the player plays: anything that decodes a frame by index (a live model, a ``.nerv``, a video in memory)."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator, Protocol, runtime_checkable

import numpy as np
import torch

from ..errors import Cancelled
from ..paths import cache_dir
from .reader import iter_frames, probe
from .store import FrameStore, build_store, default_budget_bytes


@runtime_checkable
class FrameSource(Protocol):
    """Frames by index. ``frame(i)`` returns uint8 H×W×3 RGB; it is called from the decode thread only.

    A source may also offer ``frames(start, stop) -> uint8 [stop-start, H, W, 3]``, used for read-ahead.
    """

    @property
    def num_frames(self) -> int: ...

    @property
    def fps(self) -> float: ...

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""

    def frame(self, index: int) -> np.ndarray: ...


class ArraySource:
    """Frames already in memory, uint8 [N, H, W, 3]: a ground-truth clip, or a synthetic clip in tests."""

    def __init__(self, frames: np.ndarray, fps: float = 25.0) -> None:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames [N, H, W, 3], got {frames.dtype} {frames.shape}")
        self.frames_array = frames
        self.num_frames = int(frames.shape[0])
        self.fps = float(fps)
        self.size = (int(frames.shape[1]), int(frames.shape[2]))

    def frame(self, index: int) -> np.ndarray:
        return self.frames_array[index]

    def frames(self, start: int, stop: int) -> np.ndarray:
        return self.frames_array[start:stop]


class LiveSource:
    """The model of a running fit: each frame comes from the current weights (``Fitter.decode`` is safe to call
    from the decode thread while the fit trains)."""

    def __init__(self, fitter: Any, fps: float) -> None:
        self._fitter = fitter
        self.num_frames = int(fitter.num_frames)
        self.fps = fps
        self.size = (int(fitter.store.height), int(fitter.store.width))

    def frame(self, index: int) -> np.ndarray:
        return self._fitter.decode([index])[0]


class StoreSource:
    """Frames of a frame store (:mod:`~nervplayer.video.store`): the frames a fit trains on, already at the fitted
    size and range, or a clip too large for memory streamed from its disk cache. ``owns`` is kept alive with the
    source and cleaned up with it (the temporary folder of a disk cache)."""

    def __init__(self, store: FrameStore, fps: float, owns: tempfile.TemporaryDirectory[str] | None = None) -> None:
        self._store = store
        self._owns = owns
        self.num_frames = int(store.num_frames)
        self.fps = fps
        self.size = (int(store.height), int(store.width))

    def frame(self, index: int) -> np.ndarray:
        return self._store.get([index])[0].permute(1, 2, 0).cpu().numpy()


def memory_budget_bytes() -> int:
    """How much memory a clip kept for looking at may take: a quarter of the free memory, at most 1 GiB."""
    return min(default_budget_bytes(torch.device("cpu")) // 2, 1 << 30)


def load_video(
    path: str,
    size: tuple[int, int] | None = None,
    start: int = 0,
    end: int | None = None,
    budget_bytes: int | None = None,
    cancel: threading.Event | None = None,
) -> ArraySource | StoreSource:
    """Decode a video (or image folder) for looking at, at ``size`` (h, w) if given (else its own size).

    Frames that fit ``budget_bytes`` (default :func:`memory_budget_bytes`) are kept in memory; a larger clip is
    decoded once into a uint8 disk cache and read back frame by frame, as the trainer's frame store does. Setting
    ``cancel`` stops the decoding with :class:`~nervplayer.errors.Cancelled`.
    """
    info = probe(path)
    end = info.num_frames if end is None else min(end, info.num_frames)
    h, w = size or (info.height, info.width)
    count = max(end - start, 0)
    budget = memory_budget_bytes() if budget_bytes is None else budget_bytes
    frames = _unless_cancelled(iter_frames(info, start, end, (h, w)), cancel)
    if count * h * w * 3 <= budget:
        array = np.empty((count, h, w, 3), dtype=np.uint8)
        for i, frame in enumerate(frames):
            array[i] = frame
        return ArraySource(array, info.fps)
    cache_dir().mkdir(parents=True, exist_ok=True)
    folder = tempfile.TemporaryDirectory(prefix="nervplayer-frames-", dir=cache_dir())
    store = build_store(frames, count, h, w, torch.device("cpu"), budget_bytes=0, cache_dir=Path(folder.name))
    return StoreSource(store, info.fps, owns=folder)


def _unless_cancelled(frames: Iterator[np.ndarray], cancel: threading.Event | None) -> Iterator[np.ndarray]:
    for frame in frames:
        if cancel is not None and cancel.is_set():
            raise Cancelled("stopped while decoding the clip")
        yield frame
