"""A fit in a child process, seen from the parent: the player's fit never shares the interpreter (the GIL) with
the window, so training cannot stall the event loop, and the child runs at a lower priority.

``FitProcess(config, run_dir)`` hands the fit to a child process (multiprocessing's *spawn*: never fork a process
that holds torch's and Qt's threads): the spare one started ahead by :func:`prepare_spare` when there is one, so the
fit begins without the seconds a new process takes to import torch, else a new one. Iterating it yields a
:class:`RemoteFitter` first, then the fit's events in order, as ``Fitter.run()`` does, but for a ``Paused`` or
``Resumed`` that a later resume or pause has made stale by the time it arrives (no "paused" shown while the fit
runs); the child's side is :mod:`~nervplayer.train.child`. Iterate in a worker thread: reads block.
The live model's frames are decoded in the child, where the weights are: :meth:`RemoteFitter.decode` asks it for
them (never waiting on a child that has ended: then the final weights it sent decode them here).
An error in the child is raised here (a ``NervError`` as itself, anything else as a ``FitProcessError``).
No child outlives its parent: a parent that dies (even by ``kill -9``) closes the pipes, and the child cancels,
keeps its checkpoint and exits; :func:`stop_fit_processes` (also at exit) cancels, waits, then kills. A consumer
that stops reading (an exception, a ``break``) stops the fit too, when the iterator is closed: stopping reads and
drops what the child still sends, since a child blocked on a full pipe would never see the cancel.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import multiprocessing
import multiprocessing.util  # registers its exit handler now: ours, registered later, runs first
import threading
import time
import weakref
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from .. import plugins
from ..device import Precision
from ..errors import NervError
from ..model.spec import ModelSpec
from ..video import FrameStore, VideoInfo, build_store, iter_frames
from .child import Description, Failure, Job, ModelCopy, Ready, Usage, Weights, run_child
from .config import FitConfig
from .events import Event, Finished, Paused, Resumed
from .fit import clip_frames

FRAME_TIMEOUT_S = 120.0  # a child that answers no request for frames in this long is taken as hung
FINAL_WEIGHTS_WAIT_S = 10.0  # how long a decode waits for the final weights of a child that has just ended

_live: weakref.WeakSet[FitProcess] = weakref.WeakSet()


class _Ended(Exception):
    """The child no longer answers requests for frames (it has ended, or the pipe was closed)."""


class RemoteFitter:
    """What the session and the player use of a :class:`~nervplayer.train.Fitter`, for a fit in a child process:
    its shape, device and precision, pause / resume / cancel, and ``decode`` / ``predict``: frames the child
    decodes from its latest weight snapshot while it runs, then from its final weights here. ``store`` holds the
    frames the fit trains on (the clip's range at the fitted size, decoded here too, while the child starts), the
    ground truth for the player."""

    def __init__(self, description: Description, process: FitProcess, store: FrameStore) -> None:
        self._process = process
        self.pid = description.pid
        self.num_frames = description.num_frames
        self.spec: ModelSpec = description.spec
        self.precision: Precision = description.precision
        self.device = torch.device(description.device)
        self.source = description.source
        self.store = store
        self._paused = False
        self.memory: tuple[int | None, str] = (None, "RSS")  # the child's, as it last reported it
        self._copy: ModelCopy | None = None  # the final weights, once the child sent them
        self._final = threading.Event()

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

    # ---- decoding ----
    def load(self, state: dict[str, np.ndarray]) -> None:
        """Take the child's final weights (called by :class:`FitProcess` as they arrive): decode here from now on."""
        copy = ModelCopy(self.spec, self.device, self.num_frames)
        copy.load(state)
        self._copy = copy
        self._final.set()

    def ended(self) -> None:
        """The child has ended (its events are read to the end): decoding no longer waits for its weights."""
        self._final.set()

    def _local(self) -> ModelCopy:
        """The copy of the final weights, waiting briefly for them if the child has just ended."""
        self._final.wait(FINAL_WEIGHTS_WAIT_S)
        if self._copy is None:
            raise NervError("the fit's process ended without its weights: its frames cannot be decoded")
        return self._copy

    def predict(self, indices: list[int]) -> torch.Tensor:
        """Float frames [B, 3, H, W] in [0, 1] of the latest snapshot, on the device."""
        if self._copy is None:
            with contextlib.suppress(_Ended):
                return torch.from_numpy(self._process.frames("predict", indices)).to(self.device)
        return self._local().predict(indices)

    def decode(self, indices: Sequence[int], batch_size: int = 8) -> np.ndarray:
        """uint8 frames [B, H, W, 3] of the latest snapshot (safe from any thread; it waits for the child)."""
        if self._copy is None:
            with contextlib.suppress(_Ended):
                return self._process.frames("decode", list(indices))
        return self._local().decode(indices, batch_size)


class _Child:
    """A started child process that waits for its :class:`Job`, and the parent's ends of its three pipes."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.events, child_events = context.Pipe(duplex=False)
        child_control, self.control = context.Pipe(duplex=False)
        self.frames, child_frames = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=run_child,
            args=(child_events, child_control, child_frames, plugins.options()),
            name="nervplayer-fit",
            daemon=True,
        )
        self.ready = False  # it said it is Ready (read by :func:`spare_ready` only)
        self.process.start()
        for end in (child_events, child_control, child_frames):  # the child holds the only other ends: its exit
            end.close()  # is our end of file

    def close(self) -> None:
        """End a child that has no job yet (it holds nothing worth keeping) and close the pipes."""
        for end in (self.events, self.control, self.frames):
            end.close()
        self.process.terminate()
        self.process.join(5.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.process.close()


_spare: _Child | None = None
_spare_lock = threading.Lock()
_starting: threading.Thread | None = None  # the thread starting the spare, if one was started


def prepare_spare() -> None:
    """Start a fit process ahead, in the background, unless one waits already: the next :class:`FitProcess` takes
    it and its fit begins at once instead of after the seconds a new process takes to import torch."""
    global _starting

    def start() -> None:
        global _spare
        with _spare_lock:
            if _spare is None or not _spare.process.is_alive():
                if _spare is not None:
                    _spare.close()
                _spare = _Child()

    _settle()
    _starting = threading.Thread(target=start, name="nervplayer-spare-fit", daemon=True)
    _starting.start()


def _settle() -> None:
    """Wait until a spare being started is there (starting the process takes a moment, not its imports)."""
    if (starting := _starting) is not None:
        starting.join()


def spare_pid() -> int | None:
    """The process id of the spare fit process, if there is one (it may still be importing)."""
    _settle()
    with _spare_lock:
        return _spare.process.pid if _spare is not None else None


def spare_ready(timeout: float = 0.0) -> bool:
    """Whether a spare fit process waits, ready to start a fit at once (waiting up to ``timeout`` seconds)."""
    _settle()
    with _spare_lock:
        child = _spare
        if child is None:
            return False
        if not child.ready:
            with contextlib.suppress(EOFError, OSError):
                child.ready = child.events.poll(timeout) and isinstance(child.events.recv(), Ready)
        return child.ready


def _take_child(job: Job) -> _Child:
    """The spare child (even one still importing: the job waits in its pipe) given ``job``, else a new one."""
    global _spare
    _settle()
    with _spare_lock:
        child, _spare = _spare, None
    if child is not None:
        try:
            if child.process.is_alive():
                child.control.send(job)
                return child
        except OSError:  # it has died since
            pass
        child.close()
    child = _Child()
    child.control.send(job)
    return child


def close_spare() -> None:
    """End the spare fit process, if any (quitting)."""
    global _spare
    _settle()
    with _spare_lock:
        child, _spare = _spare, None
    if child is not None:
        child.close()


class FitProcess:
    """A fit running in a child process. Iterate it (once, in one thread) for the :class:`RemoteFitter`, then the
    events; :meth:`send` and :meth:`cancel` may be called from any thread, :meth:`frames` from any one thread at
    a time."""

    def __init__(
        self, config: FitConfig, run_dir: str | Path, preview_index: int = 0, video: VideoInfo | None = None
    ) -> None:
        self._config = config
        same_clip = video is not None and Path(video.path).resolve() == Path(config.video).resolve()
        self._video = video if same_clip else None  # the opened clip's probe: probing again reads the whole file
        self._send_lock, self._stop_lock = threading.Lock(), threading.Lock()
        self._read_lock = threading.Lock()  # one thread reads the events at a time: the iterator, or stop()
        self._frames_lock = threading.Lock()  # one request for frames at a time
        self._requests = itertools.count()
        self._stopping = False
        self.fitter: RemoteFitter | None = None
        self.exitcode: int | None = None  # the child's, once stopped (its process object is closed then)
        child = _take_child(Job(config, Path(run_dir), preview_index, plugins.options()))
        self.process = child.process
        self._events: Connection = child.events
        self._control: Connection = child.control
        self._frames: Connection = child.frames
        _live.add(self)

    def frames(self, kind: str, indices: list[int]) -> np.ndarray:
        """The child's ``decode`` (uint8) or ``predict`` (float32, on the host) of ``indices``; raises
        :class:`_Ended` once the child no longer answers, and a ``NervError`` if it answers nothing in
        :data:`FRAME_TIMEOUT_S`."""
        with self._frames_lock:
            request = next(self._requests)
            deadline = time.monotonic() + FRAME_TIMEOUT_S
            try:
                self._frames.send((request, kind, indices))
                while True:
                    if self._frames.poll(0.5):
                        answered, reply = self._frames.recv()
                        if answered == request:  # an older one was given up waiting for
                            break
                    elif time.monotonic() > deadline:
                        raise NervError(f"the fit's process answered no request for frames in {FRAME_TIMEOUT_S:g} s")
            except (EOFError, OSError):
                raise _Ended from None
        if isinstance(reply, Failure):
            raise reply.error
        return reply

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
                elif isinstance(message, Ready):  # said before the job came
                    pass
                elif isinstance(message, Usage):
                    if self.fitter is not None:
                        self.fitter.memory = message.memory
                elif isinstance(message, Weights):
                    if self.fitter is not None:
                        self.fitter.load(message.state)
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
            if self.fitter is not None:
                self.fitter.ended()

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
        with self._frames_lock:  # a request in flight has seen the end of file of the ended child
            self._frames.close()

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
    close_spare()
    processes = list(_live)
    for process in processes:
        process.cancel()
    for process in processes:
        process.stop(timeout)


atexit.register(stop_fit_processes)  # before multiprocessing's own exit handler, which would just terminate them
