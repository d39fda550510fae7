"""What runs inside a fit's child process (see :mod:`~nervplayer.train.remote` for the parent's side).

The process starts before it has anything to fit (a spare, started ahead, has imported torch by the time the user
presses Start) and waits for its :class:`Job` on the control pipe. It then builds the
:class:`~nervplayer.train.Fitter`, sends a :class:`Description` first, then (at a lower priority: the training
yields the cores to the player) every event of ``Fitter.run()`` in order.

The live model's frames are decoded here, where the weights are, not in the window: a :class:`ModelCopy` takes a
snapshot of the weights before each ``Evaluated``, ``Paused`` and ``Finished`` and at most every
:data:`SNAPSHOT_SECONDS` in between, and a thread at the window's priority answers the parent's requests for
frames from it while the fit trains on (the third pipe: ``(id, "decode" | "predict", indices)`` in, ``(id, frames
or a Failure)`` out). The copy's weights travel to the parent once, as a :class:`Weights` before the ``Finished``
(or a ``Failure``), so that the parent decodes the same frames once this process has ended.

The control pipe carries ``pause``, ``resume`` and ``cancel``; its end of file means the parent is gone: the fit is
cancelled (it keeps its checkpoint) and the child exits. Every message is plain pickled data (numpy, not torch
tensors: those would travel as shared memory). An exception reaches the parent as a :class:`Failure`.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .. import plugins
from ..allocator import keep_freed_memory
from ..device import Precision, memory_report
from ..errors import NervError
from ..model import architectures
from ..model.render import times, to_uint8
from ..model.spec import ModelSpec
from .config import FitConfig
from .events import Evaluated, Finished, Paused
from .fit import Fitter

NICENESS = 10  # the training's priority below the player's (and below anything else the user runs)
SNAPSHOT_SECONDS = 0.5  # how stale the parent's copy of the weights may get while training
ORPHAN_GRACE_SECONDS = 30.0  # an orphaned child still running after this (a step or a decode that long) exits


@dataclass(frozen=True)
class Job:
    """What the child fits, sent when the user presses Start (a spare process has waited for it since it started).
    ``plugin_options`` are the parent's (``plugins.options()``): the child loads the same plugins."""

    config: FitConfig
    run_dir: Path
    preview_index: int
    plugin_options: dict[str, Any]


@dataclass(frozen=True)
class Ready:
    """The process has imported what a fit needs and loaded the plugins: a spare that would start a fit now."""


@dataclass(frozen=True)
class Description:
    """What the parent needs to play the fit: the frames' shape and range, and the network to build a copy of."""

    pid: int
    num_frames: int
    height: int
    width: int
    device: str
    precision: Precision
    spec: ModelSpec
    source: dict[str, Any]  # the run's source record: path, start, end, size


@dataclass(frozen=True)
class Weights:
    """The tensors the live frames were decoded from last (a QAT fit's stored tensors as quantized), on the host:
    sent once, as the fit ends, for the parent to decode from once this process is gone."""

    state: dict[str, np.ndarray]


@dataclass(frozen=True)
class Usage:
    """The child's memory in use, as :func:`~nervplayer.device.memory_report` (sent with each weight snapshot)."""

    memory: tuple[int | None, str]


class FitProcessError(Exception):
    """An unexpected exception in the fit's child process: its type name, message and the child's traceback."""

    def __init__(self, type_name: str, message: str, details: str = "") -> None:
        super().__init__(type_name, message, details)
        self.type_name, self.message, self.details = type_name, message, details

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}"


@dataclass(frozen=True)
class Failure:
    error: BaseException


def portable(error: BaseException) -> BaseException:
    """A ``NervError`` as itself (one line for the user), anything else as a :class:`FitProcessError` that keeps
    its type name, message and the child's traceback (a bug's details)."""
    if isinstance(error, NervError):
        try:
            copy = pickle.loads(pickle.dumps(error))
            if type(copy) is type(error) and str(copy) == str(error):
                return error
        except Exception:  # noqa: BLE001 - an error that cannot travel as itself travels as text
            pass
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return FitProcessError(type(error).__name__, str(error), details)


def decoding_state(fitter: Fitter) -> dict[str, torch.Tensor]:
    """The weights ``Fitter.decode`` uses now (called between steps; the tensors may be the model's own)."""
    with torch.no_grad():
        state = {name: t.detach() for name, t in fitter.model.state_dict().items()}
        if fitter.quantizer is not None:
            state.update({name: t.detach() for name, t in fitter.quantizer.quantized_parameters(fitter.model).items()})
            fitter.quantizer.clear()
        return state


class ModelCopy:
    """A copy of the fit's network that decodes frames from snapshots of its weights: the child's frame server
    decodes from it while the fit trains on, and the parent from the final weights once the child has ended. The
    same class on both sides: the frames are the same bit for bit."""

    def __init__(self, spec: ModelSpec, device: torch.device, num_frames: int) -> None:
        self.device, self.num_frames = device, num_frames
        self.model = architectures.build(spec).to(device).eval()
        self._lock = threading.Lock()  # a snapshot is never loaded halfway through a decode

    def load(self, state: Mapping[str, torch.Tensor | np.ndarray]) -> None:
        tensors = {name: torch.as_tensor(t) for name, t in state.items()}
        with self._lock:
            self.model.load_state_dict(tensors)

    def state(self) -> dict[str, np.ndarray]:
        """The weights loaded last, as numpy arrays on the host (to travel to the parent)."""
        with torch.no_grad(), self._lock:
            return {
                name: t.detach().to("cpu", torch.float32 if t.is_floating_point() else t.dtype).numpy().copy()
                for name, t in self.model.state_dict().items()
            }

    def predict(self, indices: Sequence[int]) -> torch.Tensor:
        """Float frames [B, 3, H, W] in [0, 1] of the weights loaded last, on the device."""
        with torch.no_grad(), self._lock:
            return self.model(times(list(indices), self.num_frames, self.device)).float()

    def decode(self, indices: Sequence[int], batch_size: int = 8) -> np.ndarray:
        """uint8 frames [B, H, W, 3] of the weights loaded last (safe from any thread)."""
        indices = list(indices)
        return np.concatenate(
            [to_uint8(self.predict(indices[i : i + batch_size])) for i in range(0, len(indices), batch_size)]
        )


def serve_frames(connection: Connection, copy: ModelCopy) -> None:
    """Answer the parent's requests for frames from ``copy`` until the pipe closes (the thread of the frames)."""
    while True:
        try:
            request, kind, indices = connection.recv()
        except (EOFError, OSError):
            return
        reply: np.ndarray | Failure
        try:
            reply = copy.decode(indices) if kind == "decode" else copy.predict(indices).cpu().numpy()
        except Exception as error:  # noqa: BLE001 - the parent's decode thread reports it
            reply = Failure(portable(error))
        try:
            connection.send((request, reply))
        except OSError:
            return


def lower_priority(niceness: int, keep: frozenset[int] = frozenset()) -> None:
    """Lower the priority of every thread of this process by ``niceness``, but those whose native ids are in
    ``keep``. On Linux a nice value is per thread: ``os.nice`` alone would leave torch's compute threads, started
    during the fit's start-up, at the window's priority. Threads started later inherit the priority of the thread
    that starts them, lowered by then (torch's compute threads are per thread that computes: the frames' own,
    started by the thread kept, stay at the window's priority)."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():  # elsewhere the nice value is the process's
        if hasattr(os, "nice"):
            with contextlib.suppress(OSError):
                os.nice(niceness)
        return
    lower = min(19, os.getpriority(os.PRIO_PROCESS, 0) + niceness)  # 0: this thread's
    done: set[int] = set(keep)
    while new := {int(task.name) for task in tasks.iterdir()} - done:  # again for any thread started meanwhile
        for tid in new:
            with contextlib.suppress(OSError):  # a thread that has ended since
                os.setpriority(os.PRIO_PROCESS, tid, max(lower, os.getpriority(os.PRIO_PROCESS, tid)))
        done |= new


class _Control:
    """The child's end of the control pipe, read in a thread: commands reach the fitter once it exists."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._fitter: Fitter | None = None
        self._paused = self._cancelled = False
        self.parent_gone = threading.Event()
        threading.Thread(target=self._listen, name="fit-control", daemon=True).start()

    def attach(self, fitter: Fitter) -> None:
        with self._lock:
            self._fitter = fitter
            self._apply()

    def lost_parent(self) -> None:
        """Cancel (the checkpoint is kept) and make sure this process ends even if the fit cannot stop soon."""
        if self.parent_gone.is_set():
            return
        self.parent_gone.set()
        self.command("cancel")
        deadline = threading.Timer(ORPHAN_GRACE_SECONDS, os._exit, (3,))
        deadline.daemon = True
        deadline.start()

    def command(self, name: str) -> None:
        with self._lock:
            if name == "cancel":
                self._cancelled = True
            elif name in ("pause", "resume"):
                self._paused = name == "pause"
            self._apply()

    def _apply(self) -> None:
        fitter = self._fitter
        if fitter is None:
            return
        if self._cancelled:
            fitter.cancel()
        elif self._paused:
            fitter.pause()
        else:
            fitter.resume()

    def _listen(self) -> None:
        while True:
            try:
                name = self._connection.recv()
            except (EOFError, OSError):
                self.lost_parent()
                return
            self.command(name)


def run_child(events: Connection, control_end: Connection, frames: Connection, plugin_options: dict[str, Any]) -> None:
    """The child process's entry point: load the plugins as the parent does now (``plugins.options()``), say
    :class:`Ready`, wait for the :class:`Job` (a spare that is never used ends at the control pipe's end of file),
    then fit, streaming events to ``events`` and answering ``frames`` until done."""
    keep_freed_memory()  # as the nervplayer command does for itself: a step's activations stay mapped
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the parent's to handle: it cancels us
    plugins.configure(**plugin_options)
    plugins.get_registry()  # loading the plugins (a second) is done before the user presses Start, in a spare
    with contextlib.suppress(OSError):
        events.send(Ready())
    try:
        job = control_end.recv()
    except (EOFError, OSError):  # a spare the parent no longer needs
        return
    if not isinstance(job, Job):
        return
    if job.plugin_options != plugin_options:  # the user changed them since (Preferences)
        plugins.configure(**job.plugin_options)
    control = _Control(control_end)

    def send(message: Any) -> None:
        if control.parent_gone.is_set():
            return
        try:
            events.send(message)
        except OSError:  # the parent is gone: finish the step, keep the checkpoint, leave
            control.lost_parent()

    fitter: Fitter | None = None
    copy: ModelCopy | None = None
    try:
        fitter = Fitter(job.config, job.run_dir, preview_index=job.preview_index)
        control.attach(fitter)
        copy = ModelCopy(fitter.spec, fitter.device, fitter.num_frames)
        copy.load(decoding_state(fitter))
        server = threading.Thread(target=serve_frames, args=(frames, copy), name="fit-frames", daemon=True)
        server.start()
        send(
            Description(
                os.getpid(),
                fitter.num_frames,
                fitter.store.height,
                fitter.store.width,
                str(fitter.device),
                fitter.precision,
                fitter.spec,
                fitter.source,
            )
        )
        # Training (not the start-up the user waits for) yields the cores to the player; the frames the player
        # waits for do not.
        lower_priority(NICENESS, keep=frozenset({server.native_id or 0}))
        send(Usage(memory_report(fitter.device)))
        last = time.monotonic()
        for event in fitter.run():
            if isinstance(event, (Evaluated, Paused, Finished)) or time.monotonic() - last >= SNAPSHOT_SECONDS:
                copy.load(decoding_state(fitter))
                send(Usage(memory_report(fitter.device)))
                last = time.monotonic()
            if isinstance(event, Finished):
                send(Weights(copy.state()))
            send(event)
    except BaseException as error:  # noqa: BLE001 - every failure reaches the parent's dialog
        if copy is not None:  # the last snapshot's weights: what the player showed last
            with contextlib.suppress(Exception):
                send(Weights(copy.state()))
        send(Failure(portable(error)))
    finally:
        if fitter is not None:
            fitter.store.close()
        events.close()
