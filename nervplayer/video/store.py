"""Frame stores: a clip's frames decoded once and kept as uint8, in memory on the training device or, past a
memory budget, in a uint8 cache file on disk read with read-ahead. The trainer only sees this interface.

Budget rule (``default_budget_bytes``): frames stay in memory while they take at most half of the device's
free memory (system RAM for CPU and MPS, free GPU memory for CUDA), capped at 16 GiB; ``--cache-budget`` overrides it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Iterable, Iterator, Protocol, Sequence

import numpy as np
import torch

_GiB = 1 << 30


class FrameStore(Protocol):
    num_frames: int
    height: int
    width: int
    device: torch.device

    def get(self, indices: Sequence[int]) -> torch.Tensor:
        """uint8 frames [B, 3, H, W] on ``device``."""

    def batches(self, order: Sequence[int], batch_size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
        """Frames of ``order`` in batches, in that order (a disk store reads ahead in a thread)."""

    def close(self) -> None:
        """Release the frames (a disk store deletes its cache file)."""


class ShiftedStore:
    """The frames of ``store`` numbered from ``offset`` (frame i here is frame i + offset there), ``num_frames`` of
    them from 0: a fit's own range inside a store that also holds its context frames (``FitConfig.context``), which
    are the indices below 0 and from ``num_frames`` on. Closing it closes ``store``."""

    def __init__(self, store: FrameStore, offset: int, num_frames: int) -> None:
        self.store, self.offset, self.num_frames = store, offset, num_frames
        self.height, self.width, self.device = store.height, store.width, store.device
        self.kind: str = getattr(store, "kind", "memory")

    def get(self, indices: Sequence[int]) -> torch.Tensor:
        return self.store.get([i + self.offset for i in indices])

    def batches(self, order: Sequence[int], batch_size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
        for idx, frames in self.store.batches([i + self.offset for i in order], batch_size):
            yield [i - self.offset for i in idx], frames

    def close(self) -> None:
        self.store.close()


class MemoryFrameStore:
    """All frames as one uint8 tensor [N, 3, H, W] on the device."""

    kind = "memory"

    def __init__(self, frames: torch.Tensor, device: torch.device) -> None:
        self.frames = frames.to(device)
        self.num_frames, _, self.height, self.width = self.frames.shape
        self.device = device

    def get(self, indices: Sequence[int]) -> torch.Tensor:
        return self.frames[torch.as_tensor(list(indices), device=self.device)]

    def batches(self, order: Sequence[int], batch_size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
        for i in range(0, len(order), batch_size):
            idx = list(order[i : i + batch_size])
            yield idx, self.get(idx)

    def close(self) -> None:
        pass


class DiskFrameStore:
    """Frames in a uint8 file [N, H, W, 3]; batches are read ahead by a background thread.

    Reads use pread rather than a memory map, so cached frames never count towards the process's resident memory.
    The cache file belongs to the store: :meth:`close` deletes it, and so does garbage collection or the end of
    the interpreter if nobody called it (a player keeps a finished fit's store as ground truth).
    """

    kind = "disk"

    def __init__(
        self,
        path: Path,
        num_frames: int,
        height: int,
        width: int,
        device: torch.device,
        read_ahead: int = 8,
        folder: Path | None = None,
    ) -> None:
        """``folder``: a folder made for the cache, removed with it when empty."""
        self.path = path
        self.num_frames, self.height, self.width = num_frames, height, width
        self.device = device
        self.read_ahead = read_ahead
        self._frame_bytes = height * width * 3
        self._fd = os.open(path, os.O_RDONLY)
        self._release = weakref.finalize(self, _remove_cache, self._fd, path, folder)

    def close(self) -> None:
        self._release()

    def get(self, indices: Sequence[int]) -> torch.Tensor:
        if not self._release.alive:
            raise OSError(f"{self.path}: the frame cache was closed")
        buf = bytearray(len(indices) * self._frame_bytes)
        view = memoryview(buf)
        for k, i in enumerate(indices):
            chunk = os.pread(self._fd, self._frame_bytes, int(i) * self._frame_bytes)
            if len(chunk) != self._frame_bytes:
                raise OSError(f"{self.path}: frame cache is truncated at frame {i}")
            view[k * self._frame_bytes : (k + 1) * self._frame_bytes] = chunk
        frames = np.frombuffer(buf, np.uint8).reshape(len(indices), self.height, self.width, 3)
        host = torch.from_numpy(frames).permute(0, 3, 1, 2)
        if self.device.type == "cuda":
            host = host.pin_memory()
        return host.to(self.device, non_blocking=True)

    def batches(self, order: Sequence[int], batch_size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
        chunks = [list(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]
        q: queue.Queue = queue.Queue(maxsize=self.read_ahead)
        stop = threading.Event()

        def reader() -> None:
            try:
                for idx in chunks:
                    if stop.is_set():
                        return
                    q.put((idx, self.get(idx)))
            except BaseException as e:  # surface read errors in the consumer
                q.put(e)
            q.put(None)

        thread = threading.Thread(target=reader, name="frame-read-ahead", daemon=True)
        thread.start()
        try:
            while (item := q.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a reader waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    thread.join(0.05)


def _remove_cache(fd: int, path: Path, folder: Path | None) -> None:
    os.close(fd)
    path.unlink(missing_ok=True)
    if folder is not None:
        with contextlib.suppress(OSError):
            folder.rmdir()  # the cache folder made for this store, when nothing else is in it


def default_budget_bytes(device: torch.device) -> int:
    """Half the memory available on ``device`` (for the CPU: free RAM, and what an address-space limit such as
    ``ulimit -v`` leaves), at most 16 GiB."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return min(free // 2, 16 * _GiB)
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        available = 8 * _GiB
    return min(min(available, _address_space_left()) // 2, 16 * _GiB)


def _address_space_left() -> int:
    try:
        import resource

        limit, _ = resource.getrlimit(resource.RLIMIT_AS)
        if limit == resource.RLIM_INFINITY:
            return 1 << 62
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        return max(limit - used, 0)
    except (ImportError, OSError, ValueError):
        return 1 << 62


def build_store(
    frames: Iterable[np.ndarray],
    num_frames: int,
    height: int,
    width: int,
    device: torch.device,
    budget_bytes: int | None = None,
    cache_dir: Path | None = None,
) -> MemoryFrameStore | DiskFrameStore:
    """Decode ``frames`` once into a memory store, or into a disk cache when they exceed the budget."""
    budget = default_budget_bytes(device) if budget_bytes is None else budget_bytes
    if num_frames * height * width * 3 <= budget:
        data = torch.empty((num_frames, 3, height, width), dtype=torch.uint8)
        for i, f in enumerate(frames):
            data[i] = torch.from_numpy(f).permute(2, 0, 1)
        return MemoryFrameStore(data, device)
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        path = cache_dir / "frames.u8"
    else:
        fd, name = tempfile.mkstemp(prefix="nervplayer-frames-", suffix=".u8")
        os.close(fd)
        path = Path(name)
    with open(path, "wb") as out:
        for f in frames:
            out.write(np.ascontiguousarray(f, dtype=np.uint8).tobytes())
    return DiskFrameStore(path, num_frames, height, width, device, folder=cache_dir)
