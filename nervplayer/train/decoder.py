"""The live model's frames, decoded in a process of their own beside the fit's (issue 20): neither the window's
interpreter nor the fit's.

The fit's process trains at a lower priority; in its Python-heavy stretches (a final evaluation's metrics, a
checkpoint's pickling) its training thread holds the interpreter lock while it gets little CPU, and a request
thread of that process, however high its priority, waits for the lock. A decode process, started by the window
(at the window's priority, one torch thread) on the first request for frames once the fit trains (the spare
started ahead with the fit's, if one waits: :func:`prepare_spare`), holds a
:class:`~nervplayer.train.child.ModelCopy` of its own: it connects to the fit's
:class:`~nervplayer.train.child.WeightsOutlet`, receives each weight snapshot as the fit takes it (numbered), and
answers the window's requests from the newest, never older than the snapshot the window was last told of.

:func:`serve` is the decode process's task (a :class:`~nervplayer.jobs.child.Task`); :class:`DecodeProcess` the
window's side. Until the process serves (it imports torch first), or once it has gone (a crash is reported as a
``RuntimeWarning``, the fit goes on), :meth:`DecodeProcess.frames` answers None and the fit's process decodes the
frames, as it always can. The process ends with the fit (the outlet's end of file), when the window stops it, or,
as every child does, when the window is gone.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from multiprocessing import current_process
from multiprocessing.connection import Client, Connection
from typing import Any, Iterator

import numpy as np
import torch

from .. import plugins
from ..jobs.child import ChildJob, Context, Ended, Spare, Task
from ..model.spec import ModelSpec
from .child import Description, ModelCopy, prepare_process

SNAPSHOT_WAIT_S = 2.0  # how long a request waits for the snapshot the window knows of, before the fit's process answers


@dataclass(frozen=True)
class Serving:
    """The decode process has its first weights and answers requests."""

    pid: int


class _Inbox:
    """The weight snapshots as they arrive, read by a thread of their own so that the fit's send never waits for a
    decode; only the newest one not yet loaded is kept. Its ``cancel`` (the window's) and the fit's end of file
    end the process."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.version = 0  # the newest snapshot received
        self.state: dict[str, np.ndarray] | None = None  # received, not yet loaded
        self.ended = threading.Event()

    def receive(self, weights: Connection) -> None:
        threading.Thread(target=self._receive, args=(weights,), name="decode-weights", daemon=True).start()

    def _receive(self, weights: Connection) -> None:
        while True:
            try:
                version, state = weights.recv()
            except Exception:  # noqa: BLE001 - the fit's end (or a message cut short by it) ends the process
                self.cancel()
                return
            with self.changed:
                self.version, self.state = version, state
                self.changed.notify_all()

    def cancel(self) -> None:
        with self.changed:
            self.ended.set()
            self.changed.notify_all()

    def take(self, version: int, timeout: float | None) -> tuple[bool, dict[str, np.ndarray] | None]:
        """Wait for snapshot ``version`` (or a newer one): whether it came, and the state to load, if any."""
        with self.changed:
            self.changed.wait_for(lambda: self.version >= version or self.ended.is_set(), timeout)
            if self.version < version:
                return False, None
            state, self.state = self.state, None
            return True, state


def serve(
    context: Context, address: Any, spec: ModelSpec, device: str, num_frames: int, plugin_options: dict[str, Any]
) -> Iterator[Serving]:
    """The decode process's task: connect to the fit's outlet at ``address``, say :class:`Serving` once the first
    snapshot is loaded, answer ``(kind, (indices, snapshot))`` requests (None: that snapshot has not come) until
    the fit ends or the window cancels. ``plugin_options`` are the fit's (a spare was set up with its own)."""
    inbox = _Inbox()
    context.attach(inbox)
    if plugin_options != plugins.options():
        plugins.configure(**plugin_options)
    torch.set_num_threads(1)  # a scrub's frame, not a throughput: the other cores are the fit's and the window's
    copy = ModelCopy(spec, torch.device(device), num_frames)
    try:
        inbox.receive(Client(address, authkey=current_process().authkey))
    except OSError:  # the fit has ended already
        return
    _, state = inbox.take(1, None)
    if inbox.ended.is_set() or state is None:
        return
    copy.load(state)

    def answer(kind: str, payload: tuple[list[int], int]) -> np.ndarray | None:
        indices, snapshot = payload
        fresh, state = inbox.take(snapshot, SNAPSHOT_WAIT_S)
        if state is not None:
            copy.load(state)
        if not fresh:
            return None
        return copy.decode(indices) if kind == "decode" else copy.predict(indices).cpu().numpy()

    context.serve(answer)
    yield Serving(os.getpid())
    inbox.ended.wait()


_spare = Spare("nervplayer-decode")


def prepare_spare() -> None:
    """Start a decode process ahead, in the background, unless one waits already (beside the fit's spare): the
    next fit's frames come from it as soon as it trains, not after the seconds a new process takes to import
    torch, while the fit's process answers them."""
    _spare.prepare(prepare_process, plugins.options())


def spare_pid() -> int | None:
    """The process id of the spare decode process, if there is one (it may still be importing)."""
    return _spare.pid()


def close_spare() -> None:
    """End the spare decode process, if any."""
    _spare.close()


class DecodeProcess:
    """The window's side of one fit's decode process (the spare's, if one waits): started on the first
    :meth:`frames`, stopped by :meth:`stop` (or with the fit, on its own). Thread-safe."""

    def __init__(self, description: Description, plugin_options: dict[str, Any]) -> None:
        d = description
        self._task = Task(serve, (d.weights_address, d.spec, d.device, d.num_frames, plugin_options))
        self._lock = threading.Lock()
        self._job: ChildJob | None = None
        self._serving = threading.Event()
        self._stopped = False
        self.pid: int | None = None  # the process's, once it serves
        self.failure: str | None = None  # why it ended before the fit did, if it did

    def frames(self, kind: str, indices: list[int], snapshot: int, timeout: float) -> np.ndarray | None:
        """The process's ``decode`` or ``predict`` of ``indices`` from snapshot ``snapshot`` or a newer one; None
        while it cannot answer (starting, gone, or the snapshot has not reached it): ask the fit's process then. A
        process that answers nothing in ``timeout`` seconds is a ``NervError``."""
        job = self._start()
        if job is None or not self._serving.is_set():
            return None
        try:
            frames: np.ndarray | None = job.request(kind, (indices, snapshot), timeout)
        except Ended:
            return None
        return frames

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether the process serves (waiting up to ``timeout`` seconds)."""
        return self._serving.wait(timeout)

    def _start(self) -> ChildJob | None:
        with self._lock:
            if self._job is None and not self._stopped:
                self._job = ChildJob(
                    self._task,
                    prepare_process,
                    (plugins.options(),),
                    what="the fit's decode process",
                    name="nervplayer-decode",
                    spare=_spare,
                    background=True,  # until it serves, the fit's process answers: nobody waits on its start
                )
                threading.Thread(target=self._follow, args=(self._job,), name="decode-process", daemon=True).start()
            return self._job

    def _follow(self, job: ChildJob) -> None:
        """Iterate the process's messages (in a thread of its own): it serves, then it ends."""
        try:
            for message in job:
                if isinstance(message, Serving):
                    self.pid = message.pid
                    self._serving.set()
        except Exception as error:  # noqa: BLE001 - the fit goes on; its own process decodes the frames
            if not self._stopped:
                self.failure = str(error)
                warnings.warn(f"{error}: the fit's process decodes its frames", RuntimeWarning, stacklevel=1)
        finally:
            self._serving.clear()

    def stop(self) -> None:
        """End the process (it holds nothing worth keeping: a second, then it is killed)."""
        with self._lock:
            self._stopped = True
            job = self._job
        if job is not None:
            job.stop(timeout=1.0)
