"""What runs inside a fit's child process (see :mod:`~nervplayer.train.remote` for the parent's side).

The child builds the :class:`~nervplayer.train.Fitter`, sends a :class:`Description` first, then (at a lower
priority: the training yields the cores to the player) every event of ``Fitter.run()`` in order, with a
:class:`Weights` snapshot before each ``Evaluated``, ``Paused`` and ``Finished`` and at most every
:data:`SNAPSHOT_SECONDS` in between, so the parent decodes live frames with a model copy of its own. A second pipe
carries ``pause``, ``resume`` and ``cancel``; its end of file means the parent is gone: the fit is cancelled (it
keeps its checkpoint) and the child exits. Every message is plain pickled data (numpy, not torch tensors: those
would travel as shared memory). An exception reaches the parent as a :class:`Failure`.
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
from typing import Any

import numpy as np
import torch

from .. import plugins
from ..allocator import keep_freed_memory
from ..device import Precision, memory_report
from ..errors import NervError
from ..model.spec import ModelSpec
from .config import FitConfig
from .events import Evaluated, Finished, Paused
from .fit import Fitter

NICENESS = 10  # the training's priority below the player's (and below anything else the user runs)
SNAPSHOT_SECONDS = 0.5  # how stale the parent's copy of the weights may get while training
ORPHAN_GRACE_SECONDS = 30.0  # an orphaned child still running after this (a step or a decode that long) exits


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
    """The tensors decoding uses (a QAT fit's stored tensors as quantized), on the host."""

    state: dict[str, np.ndarray]
    memory: tuple[int | None, str] = (None, "RSS")  # the child's, as :func:`~nervplayer.device.memory_report`


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


def decoding_state(fitter: Fitter) -> dict[str, np.ndarray]:
    """A copy of the weights ``Fitter.decode`` uses now, as numpy arrays (called between steps)."""
    with torch.no_grad():
        state = dict(fitter.model.state_dict())
        if fitter.quantizer is not None:
            state.update(fitter.quantizer.quantized_parameters(fitter.model))
            fitter.quantizer.clear()
        return {
            name: t.detach().to("cpu", torch.float32 if t.is_floating_point() else t.dtype).numpy().copy()
            for name, t in state.items()
        }


def lower_priority(niceness: int) -> None:
    """Lower the priority of every thread of this process by ``niceness``. On Linux a nice value is per thread:
    ``os.nice`` alone would leave torch's compute threads, started during the fit's start-up, at the window's
    priority. Threads started later inherit the priority of the thread that starts them, lowered by then."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():  # elsewhere the nice value is the process's
        if hasattr(os, "nice"):
            with contextlib.suppress(OSError):
                os.nice(niceness)
        return
    lower = min(19, os.getpriority(os.PRIO_PROCESS, 0) + niceness)  # 0: this thread's
    done: set[int] = set()
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


def run_child(
    config: FitConfig,
    run_dir: Path,
    preview_index: int,
    plugin_options: dict[str, Any],
    events: Connection,
    control_end: Connection,
) -> None:
    """The child process's entry point: fit, streaming events and weights to ``events`` until done.
    ``plugin_options`` are the parent's (``plugins.options()``): the child loads the same plugins."""
    keep_freed_memory()  # as the nervplayer command does for itself: a step's activations stay mapped
    plugins.configure(**plugin_options)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the parent's to handle: it cancels us
    control = _Control(control_end)

    def send(message: Any) -> None:
        if control.parent_gone.is_set():
            return
        try:
            events.send(message)
        except OSError:  # the parent is gone: finish the step, keep the checkpoint, leave
            control.lost_parent()

    fitter: Fitter | None = None
    try:
        fitter = Fitter(config, run_dir, preview_index=preview_index)
        control.attach(fitter)
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
        lower_priority(NICENESS)  # training (not the start-up the user waits for) yields the cores to the player
        last = time.monotonic()
        for event in fitter.run():
            if isinstance(event, (Evaluated, Paused, Finished)) or time.monotonic() - last >= SNAPSHOT_SECONDS:
                send(Weights(decoding_state(fitter), memory_report(fitter.device)))
                last = time.monotonic()
            send(event)
    except BaseException as error:  # noqa: BLE001 - every failure reaches the parent's dialog
        send(Failure(portable(error)))
    finally:
        if fitter is not None:
            fitter.store.close()
        events.close()
