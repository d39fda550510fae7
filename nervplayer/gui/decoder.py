"""Decoding frames off the GUI thread: the latest request wins, results go through an LRU cache, and idle time
is spent reading ahead and then measuring per-frame PSNR against the ground truth.

Priorities, highest first: the one frame the user asked for last (older requests are forgotten), the read-ahead
list that came with it, and the background PSNR scan. A source swap or :meth:`FrameDecoder.invalidate` (the live
model changed) bumps a generation number; anything decoded for an older generation is thrown away.

The thread also measures its decode rate (frames per second over the last few decodes of the current
generation), which tells the player whether the source plays in real time or must be buffered.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from ..video.source import FrameSource
from .cache import FrameCache
from .compare import psnr

MB = 1 << 20
RATE_WINDOW = 8  # decodes the measured rate averages over


@dataclass(frozen=True)
class Decoded:
    index: int
    image: np.ndarray  # uint8 H×W×3
    truth: np.ndarray | None  # the ground-truth frame, when there is one
    psnr: float | None
    decode_ms: float
    generation: int

    @property
    def nbytes(self) -> int:
        return self.image.nbytes + (self.truth.nbytes if self.truth is not None else 0)


class FrameDecoder(QThread):
    ready = Signal(object)  # Decoded, for an explicit request
    psnr_measured = Signal(int, int, float)  # generation, frame index, dB
    stored = Signal(int, int)  # generation, frame index: a read-ahead frame is now in the cache
    failed = Signal(int, object)  # frame index, the exception

    def __init__(self, cache_mb: int = 512, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("frame-decoder")
        self.cache: FrameCache[tuple[int, int], Decoded] = FrameCache(cache_mb * MB)
        self._cond = threading.Condition()
        self._source: FrameSource | None = None
        self._truth: FrameSource | None = None
        self._generation = 0
        self._wanted: int | None = None
        self._ahead: list[int] = []
        self._scan_next: int | None = None  # next frame of the background PSNR scan, None when off or done
        self._stopping = False
        self._seconds: collections.deque[float] = collections.deque(maxlen=RATE_WINDOW)  # per decoded frame

    # --- called from the GUI thread -------------------------------------------------------------------------
    def set_sources(
        self, source: FrameSource | None, truth: FrameSource | None = None, scan_psnr: bool = False
    ) -> None:
        """Decode from ``source`` (compared against ``truth``); ``scan_psnr`` measures every frame when idle."""
        with self._cond:
            self._source, self._truth = source, truth
            self._scan_next = 0 if scan_psnr and source is not None and truth is not None else None
            self._bump()

    def invalidate(self) -> None:
        """Forget every decoded frame: the source now decodes differently (a live model took a step)."""
        with self._cond:
            self._bump()

    def _bump(self) -> None:
        self._generation += 1
        self._wanted, self._ahead = None, []
        self._seconds.clear()
        self.cache.clear()
        self._cond.notify()

    @property
    def generation(self) -> int:
        return self._generation

    def cached(self, index: int) -> Decoded | None:
        return self.cache.get((self._generation, index))

    def is_cached(self, index: int) -> bool:
        """Whether ``index`` is in the cache, without counting a hit or marking it used."""
        return (self._generation, index) in self.cache

    def cached_indices(self) -> list[int]:
        """The frames of the current generation in the cache."""
        generation = self._generation
        return [key[1] for key in self.cache if key[0] == generation]

    def decode_fps(self) -> float | None:
        """Frames per second over the last decodes of the current source (None before the first one)."""
        with self._cond:
            seconds = sum(self._seconds)
            return len(self._seconds) / max(seconds, 1e-6) if self._seconds else None

    def request(self, index: int, ahead: Sequence[int] = ()) -> None:
        """Decode ``index`` next (replacing any request not yet started), then ``ahead`` while idle."""
        with self._cond:
            self._wanted = index
            self._ahead = list(ahead)
            self._cond.notify()

    def read_ahead(self, ahead: Sequence[int]) -> None:
        with self._cond:
            self._ahead = list(ahead)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self.wait()

    # --- the decode thread ---------------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            with self._cond:
                job = self._next_job()
                while job is None and not self._stopping:
                    self._cond.wait()
                    job = self._next_job()
                if self._stopping or job is None:  # the wait ends with a job or with stopping
                    return
                kind, index = job
                source, truth, generation = self._source, self._truth, self._generation
                assert source is not None  # there are jobs only while there is a source
            cached = self.cache.get((generation, index)) if kind == "wanted" else None
            if cached is not None:  # read ahead since it was asked for
                self.ready.emit(cached)
                continue
            try:
                started = time.perf_counter()
                decoded = self._decode(source, truth, index, generation)
                elapsed = time.perf_counter() - started
            except Exception as e:  # a failing decoder is reported, never fatal
                with self._cond:
                    if kind != "wanted":
                        self._ahead, self._scan_next = [], None
                if kind != "scan":  # a frame read ahead is one playback will want: say so now
                    self.failed.emit(index, e)
                continue
            with self._cond:
                if generation != self._generation:
                    continue
                self._seconds.append(elapsed)
            # The background scan only fills free room: it must not evict frames the user has looked at.
            self.cache.put((generation, index), decoded, evict=kind != "scan")
            if decoded.psnr is not None:
                self.psnr_measured.emit(generation, index, decoded.psnr)
            if kind == "wanted":
                self.ready.emit(decoded)
            elif kind == "ahead":
                self.stored.emit(generation, index)

    def _next_job(self) -> tuple[str, int] | None:
        if self._source is None:
            return None
        if self._wanted is not None:
            index, self._wanted = self._wanted, None
            return "wanted", index
        while self._ahead:
            index = self._ahead.pop(0)
            # A frame already there is marked used, so that filling the rest of the list does not evict it.
            if self.cache.get((self._generation, index)) is None:
                return "ahead", index
        while self._scan_next is not None:
            index = self._scan_next
            self._scan_next = index + 1 if index + 1 < self._source.num_frames else None
            if (self._generation, index) not in self.cache:
                return "scan", index
        return None

    @staticmethod
    def _decode(source: FrameSource, truth: FrameSource | None, index: int, generation: int) -> Decoded:
        start = time.perf_counter()
        image = np.ascontiguousarray(source.frame(index), dtype=np.uint8)
        elapsed = (time.perf_counter() - start) * 1000
        reference = None
        if truth is not None and index < truth.num_frames:
            reference = np.ascontiguousarray(truth.frame(index), dtype=np.uint8)
            if reference.shape != image.shape:
                reference = None
        value = psnr(image, reference) if reference is not None else None
        return Decoded(index, image, reference, value, elapsed, generation)
