"""A fit in a child process, seen from the parent: the player's fit never shares the interpreter (the GIL) with
the window, so training cannot stall the event loop, and the child runs at a lower priority.

``FitProcess(config, run_dir)`` starts the child (multiprocessing's *spawn*: never fork a process that holds
torch's and Qt's threads) and iterating it yields a :class:`RemoteFitter` first, then the fit's events in order, as
``Fitter.run()`` does, but for a ``Paused`` or ``Resumed`` that a later resume or pause has made stale by the time
it arrives (no "paused" shown while the fit runs); the child's side is :mod:`~nervplayer.train.child`. Iterate in a
worker thread: reads block.
An error in the child is raised here (a ``NervError`` as itself, anything else as a ``FitProcessError``).
No child outlives its parent: a parent that dies (even by ``kill -9``) closes the pipes, and the child cancels,
keeps its checkpoint and exits; :func:`stop_fit_processes` (also at exit) cancels, waits, then kills. A consumer
that stops reading (an exception, a ``break``) stops the fit too, when the iterator is closed: stopping reads and
drops what the child still sends, since a child blocked on a full pipe would never see the cancel.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import multiprocessing.util  # registers its exit handler now: ours, registered later, runs first
import threading
import time
import weakref
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .. import plugins
from ..device import Precision
from ..errors import NervError
from ..model import architectures
from ..model.render import times, to_uint8
from ..model.spec import ModelSpec
from ..video import FrameStore, VideoInfo, build_store, iter_frames
from .child import Description, Failure, Weights, run_child
from .config import FitConfig
from .events import Event, Finished, Paused, Resumed
from .fit import clip_frames

_live: weakref.WeakSet[FitProcess] = weakref.WeakSet()


class RemoteFitter:
    """What the session and the player use of a :class:`~nervplayer.train.Fitter`, for a fit in a child process:
    its shape, device and precision, pause / resume / cancel, and ``decode`` / ``predict`` from a copy of the
    model that follows the child's weight snapshots. ``store`` holds the frames the fit trains on (the clip's
    range at the fitted size, decoded here too, while the child starts), the ground truth for the player."""

    def __init__(self, description: Description, process: FitProcess, store: FrameStore) -> None:
        self._process = process
        self.pid = description.pid
        self.num_frames = description.num_frames
        self.spec: ModelSpec = description.spec
        self.precision: Precision = description.precision
        self.device = torch.device(description.device)
        self.source = description.source
        self.store = store
        self.model = architectures.build(self.spec).to(self.device).eval()
        self._lock = threading.Lock()  # a snapshot is never loaded halfway through a decode
        self._paused = False
        self.memory: tuple[int | None, str] = (None, "RSS")  # the child's, as of its last weight snapshot

    # ---- control, from any thread ----
    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        self._paused = True
        self._process.send("pause")

    def resume(self) -> None:
        self._paused = False
        self._process.send("resume")

    def cancel(self) -> None:
        self._paused = False
        self._process.send("cancel")

    # ---- weights and decoding ----
    def load(self, state: dict[str, np.ndarray]) -> None:
        """Take the child's latest weights (called by :class:`FitProcess` as snapshots arrive)."""
        tensors = {name: torch.from_numpy(array) for name, array in state.items()}
        with self._lock:
            self.model.load_state_dict(tensors)

    def predict(self, indices: list[int]) -> torch.Tensor:
        """Float frames [B, 3, H, W] in [0, 1] of the latest snapshot, on the device."""
        with torch.no_grad(), self._lock:
            return self.model(times(indices, self.num_frames, self.device)).float()

    def decode(self, indices: list[int] | range, batch_size: int = 8) -> np.ndarray:
        """uint8 frames [B, H, W, 3] of the latest snapshot (safe from any thread)."""
        indices = list(indices)
        return np.concatenate(
            [to_uint8(self.predict(indices[i : i + batch_size])) for i in range(0, len(indices), batch_size)]
        )


class FitProcess:
    """A fit running in a child process. Iterate it (once, in one thread) for the :class:`RemoteFitter`, then the
    events; :meth:`send` and :meth:`cancel` may be called from any thread."""

    def __init__(
        self, config: FitConfig, run_dir: str | Path, preview_index: int = 0, video: VideoInfo | None = None
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._events, child_events = context.Pipe(duplex=False)
        child_control, self._control = context.Pipe(duplex=False)
        self._config = config
        same_clip = video is not None and Path(video.path).resolve() == Path(config.video).resolve()
        self._video = video if same_clip else None  # the opened clip's probe: probing again reads the whole file
        self._send_lock, self._stop_lock = threading.Lock(), threading.Lock()
        self._read_lock = threading.Lock()  # one thread reads the events at a time: the iterator, or stop()
        self._stopping = False
        self.fitter: RemoteFitter | None = None
        self.exitcode: int | None = None  # the child's, once stopped (its process object is closed then)
        self.process = context.Process(
            target=run_child,
            args=(config, Path(run_dir), preview_index, plugins.options(), child_events, child_control),
            name="nervplayer-fit",
            daemon=True,
        )
        self.process.start()
        child_events.close()  # the child holds the only write end: its exit is our end of file
        child_control.close()
        _live.add(self)

    def send(self, command: str) -> None:
        """``pause``, ``resume`` or ``cancel``; a child that has ended ignores it."""
        with self._send_lock, contextlib.suppress(OSError):
            self._control.send(command)

    def cancel(self) -> None:
        """Ask the child to stop after the step in flight (it writes its checkpoint); never waits."""
        self.send("cancel")

    def __iter__(self) -> Iterator[RemoteFitter | Event]:
        try:
            truth = ground_truth(self._config, self._video)  # while the child imports torch and builds the fit
            shown_paused = False  # as the last Paused or Resumed passed on says
            while True:
                try:
                    with self._read_lock:
                        message = self._events.recv()
                except (EOFError, OSError):
                    if self._stopping:  # stopped from another thread (quitting), which read the fit's end
                        return
                    self.stop(timeout=5.0)
                    raise NervError(f"the fit's process ended unexpectedly (exit code {self.exitcode})") from None
                if isinstance(message, Description):
                    if (truth.num_frames, truth.height, truth.width) != (
                        message.num_frames,
                        message.height,
                        message.width,
                    ):
                        raise NervError(f"{self._config.video} changed while the fit started; start it again")
                    self.fitter = RemoteFitter(message, self, truth)
                    yield self.fitter
                elif isinstance(message, Weights):
                    if self.fitter is not None:
                        self.fitter.load(message.state)
                        self.fitter.memory = message.memory
                elif isinstance(message, Failure):
                    raise message.error
                elif isinstance(message, (Paused, Resumed)):
                    # reported after a weight snapshot and the pipe: the user may have clicked again meanwhile,
                    # and the fit's state shown is what was asked here, once the child has done it
                    pause = isinstance(message, Paused)
                    if self.fitter is not None and self.fitter.paused == pause and pause != shown_paused:
                        shown_paused = pause
                        yield message
                else:
                    yield message
                    if isinstance(message, Finished):
                        return
        finally:
            self.stop(timeout=10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel, wait up to ``timeout`` seconds for the child to end (checkpoint written), then kill it; close
        the pipes and the process object (:attr:`exitcode` keeps its exit code). What the child sends meanwhile is
        read and dropped, unless another thread is reading it."""
        self._stopping = True
        self.cancel()
        deadline = time.monotonic() + timeout
        with self._stop_lock:  # one thread joins at a time: a child is reaped once
            if self.exitcode is None:
                self._end(deadline)
        _live.discard(self)

    def _end(self, deadline: float) -> None:
        while self.process.is_alive() and time.monotonic() < deadline:
            self._drain(deadline)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.exitcode = self.process.exitcode
        self.process.close()
        with self._read_lock:  # a reader blocked in recv() has seen the end of file of the ended child
            self._events.close()
        with self._send_lock:
            self._control.close()

    def _drain(self, deadline: float) -> None:
        """Read and drop one message of the child's, waiting at most 0.1 s for it (or for the reader's turn)."""
        wait = max(0.0, min(0.1, deadline - time.monotonic()))
        if not self._read_lock.acquire(timeout=wait):
            return
        try:
            if self._events.poll(wait):
                self._events.recv()
        except (EOFError, OSError):  # the child closed its end: it is exiting
            self.process.join(max(0.0, deadline - time.monotonic()))
        finally:
            self._read_lock.release()


def ground_truth(config: FitConfig, video: VideoInfo | None = None) -> FrameStore:
    """The frames a fit of ``config`` trains on (range, size), decoded into a store on the host, as the fit
    decodes them; ``video`` is the clip's probe if the caller has it."""
    info, end, frames = clip_frames(config, video)
    h, w, count = frames.height, frames.width, frames.num_frames
    return build_store(iter_frames(info, config.start, end, (h, w)), count, h, w, torch.device("cpu"))


def stop_fit_processes(timeout: float = 10.0) -> None:
    """End every fit's child process (quitting): each is cancelled first, so it keeps a checkpoint."""
    processes = list(_live)
    for process in processes:
        process.cancel()
    for process in processes:
        process.stop(timeout)


atexit.register(stop_fit_processes)  # before multiprocessing's own exit handler, which would just terminate them
