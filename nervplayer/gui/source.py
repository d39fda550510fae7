"""What the player plays: anything that decodes a frame by index (a live model, a ``.nerv``, a video in memory)."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class FrameSource(Protocol):
    """Frames by index. ``frame(i)`` returns uint8 H×W×3 RGB; it is called from the decode thread only.

    A source may also offer ``frames(start, stop) -> uint8 [stop-start, H, W, 3]``, used for read-ahead.
    """

    num_frames: int
    fps: float
    size: tuple[int, int]  # (height, width)

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

    def __init__(self, fitter, fps: float) -> None:
        self._fitter = fitter
        self.num_frames = int(fitter.num_frames)
        self.fps = fps
        self.size = (int(fitter.store.height), int(fitter.store.width))

    def frame(self, index: int) -> np.ndarray:
        return self._fitter.decode([index])[0]


class StoreSource:
    """The frames a fit trains on (its frame store, already at the fitted size and range) as ground truth."""

    def __init__(self, store, fps: float) -> None:
        self._store = store
        self.num_frames = int(store.num_frames)
        self.fps = fps
        self.size = (int(store.height), int(store.width))

    def frame(self, index: int) -> np.ndarray:
        return self._store.get([index])[0].permute(1, 2, 0).cpu().numpy()


def load_video(path: str, size: tuple[int, int] | None = None, start: int = 0, end: int | None = None,
               budget_bytes: int = 1 << 30) -> ArraySource:
    """Decode a video (or image folder) into memory, at ``size`` (h, w) if given. Past ``budget_bytes`` the
    frames are scaled down to fit: this copy is for looking at, the fit decodes its own."""
    from ..video import iter_frames, probe

    info = probe(path)
    end = info.num_frames if end is None else min(end, info.num_frames)
    h, w = size or (info.height, info.width)
    shrink = (budget_bytes / max((end - start) * h * w * 3, 1)) ** 0.5
    if size is None and shrink < 1:
        h, w = max(2, int(h * shrink) // 2 * 2), max(2, int(w * shrink) // 2 * 2)
    frames = np.empty((end - start, h, w, 3), dtype=np.uint8)
    for i, frame in enumerate(iter_frames(info, start, end, (h, w))):
        frames[i] = frame
    return ArraySource(frames, info.fps)
