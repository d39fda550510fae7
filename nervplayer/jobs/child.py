"""Work in a child process: a generator run in another interpreter, its items streamed back to the parent.

The window's long work (a fit, a save's prune / fine-tune / quantize / code, a study) runs in a child process, never
in the window's: it does not share the window's interpreter (the GIL), it runs at a lower priority, and a crash
of it is an error dialog, not the end of the player. This module knows nothing of what the work is.

The child (multiprocessing's *spawn*: never fork a process that holds torch's and Qt's threads) runs its
``setup(*setup_args)`` (imports, plugins), says :class:`Ready` and waits on the control pipe for its :class:`Task`:
a :class:`Spare` started ahead has spent the seconds of imports before the user asks. It then runs
``task.fn(context, *task.args)``, a generator: each item it yields travels to the parent, its end as
:class:`Done`, an exception as a :class:`Failure` (a ``NervError`` as itself, anything else as a
:class:`ChildError` that keeps the child's traceback); the process then exits at once, without the interpreter's
teardown.

Three pipes: the events (child to parent); the control pipe (``pause``, ``resume``, ``cancel``, passed to what the
task attached with :meth:`Context.attach`; its end of file means the parent is gone: the task is cancelled, and the
process exits within :data:`ORPHAN_GRACE_SECONDS` whatever it is doing); and the requests (``(id, kind, payload)``
in, ``(id, answer or Failure)`` out), answered by a thread the task starts with :meth:`Context.serve`. Every message
is plain pickled data (numpy, not torch tensors: those would travel as shared memory).

The parent's side is :class:`ChildJob`: iterate it in a worker thread (reads block). A consumer that stops reading
(an exception, a ``break``) stops the child too: stopping reads and drops what the child still sends, since a child
blocked on a full pipe would never see the cancel. No child outlives its parent: a parent that dies (even by
``kill -9``) closes the pipes; :func:`stop_children` (also at exit) cancels, waits, then kills.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import itertools
import multiprocessing
import multiprocessing.util  # registers its exit handler now: ours, registered later, runs first
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Callable, Iterator, Protocol

from ..errors import NervError
from .priority import lower_this_thread, restore_thread

ORPHAN_GRACE_SECONDS = 30.0  # an orphaned child still running after this (a step or a request that long) exits
REQUEST_TIMEOUT_S = 120.0  # a child that answers no request in this long is taken as hung
SETUP_POLL_S = 0.05  # how often a spare setting up below the window looks for a task that came early

Setup = Callable[..., None]


@dataclass(frozen=True)
class Task:
    """``fn(context, *args)``: a module-level generator function (the child imports it by name) and its
    arguments (picklable)."""

    fn: Callable[..., Iterator[Any]]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Ready:
    """The child has run its setup: a spare that would start a task at once."""


@dataclass(frozen=True)
class Done:
    """The task's generator has ended."""


class ChildError(Exception):
    """An unexpected exception in a child process: its type name, message and the child's traceback."""

    def __init__(self, type_name: str, message: str, details: str = "") -> None:
        super().__init__(type_name, message, details)
        self.type_name, self.message, self.details = type_name, message, details

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}"


@dataclass(frozen=True)
class Failure:
    error: BaseException


class Ended(Exception):
    """The child no longer answers requests (it has ended, or the pipe was closed)."""


def portable(error: BaseException) -> BaseException:
    """A ``NervError`` as itself (one line for the user), anything else as a :class:`ChildError` that keeps its
    type name, message and the child's traceback (a bug's details)."""
    if isinstance(error, NervError):
        try:
            copy = pickle.loads(pickle.dumps(error))
            if type(copy) is type(error) and str(copy) == str(error):
                return error
        except Exception:  # noqa: BLE001 - an error that cannot travel as itself travels as text
            pass
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return ChildError(type(error).__name__, str(error), details)


# ---- the child's side -------------------------------------------------------------------------------------------
class Controllable(Protocol):
    """What a task attaches for the parent's commands: ``cancel``, and ``pause`` / ``resume`` where it has them."""

    def cancel(self) -> None: ...


class Context:
    """The task's end of the pipes: :meth:`attach` the object the parent's commands reach, :meth:`serve` the
    parent's requests. Commands that come before anything is attached are applied when it is."""

    def __init__(self, control: Connection, requests: Connection) -> None:
        self._control, self._requests = control, requests
        self._lock = threading.Lock()
        self._target: Controllable | None = None
        self._paused = self.cancelled = False
        self.parent_gone = threading.Event()
        threading.Thread(target=self._listen, name="child-control", daemon=True).start()

    def attach(self, target: Controllable | None) -> None:
        with self._lock:
            self._target = target
            self._apply()

    def serve(self, answer: Callable[[str, Any], Any]) -> threading.Thread:
        """Answer the parent's requests with ``answer(kind, payload)`` in a thread of their own, started now."""

        def loop() -> None:
            while True:
                try:
                    request, kind, payload = self._requests.recv()
                except (EOFError, OSError):
                    return
                try:
                    reply = answer(kind, payload)
                except Exception as error:  # noqa: BLE001 - the parent's request raises it
                    reply = Failure(portable(error))
                try:
                    self._requests.send((request, reply))
                except OSError:
                    return

        server = threading.Thread(target=loop, name="child-requests", daemon=True)
        server.start()
        return server

    def lost_parent(self) -> None:
        """Cancel, and make sure this process ends even if the work cannot stop soon."""
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
                self.cancelled = True
            elif name in ("pause", "resume"):
                self._paused = name == "pause"
            self._apply()

    def _apply(self) -> None:
        target = self._target
        if target is None:
            return
        if self.cancelled:
            target.cancel()
        elif (action := getattr(target, "pause" if self._paused else "resume", None)) is not None:
            action()

    def _listen(self) -> None:
        while True:
            try:
                name = self._control.recv()
            except (EOFError, OSError):
                self.lost_parent()
                return
            self.command(name)


def _set_up(setup: str, args: tuple[Any, ...]) -> Ready | Failure:
    """Run the setup named ``module:name``: :class:`Ready`, or its failure (reported when the task comes)."""
    try:
        module, name = setup.split(":")
        getattr(importlib.import_module(module), name)(*args)
        return Ready()
    except BaseException as error:  # noqa: BLE001 - reported when the task comes, as the task's failure
        return Failure(portable(error))


def _set_up_below(setup: str, args: tuple[Any, ...], control: Connection) -> Ready | Failure:
    """Run the setup in a thread :data:`~nervplayer.jobs.priority.NICENESS` below this one, and wait: a spare's
    seconds of imports take no CPU from the window, while this thread keeps the window's priority for the task
    (a process cannot, as a rule, raise a priority it has lowered). A task that comes before the setup ends
    (the user waits on it now) gives the setup this thread's priority back, where the system allows it."""
    result: list[Ready | Failure] = []

    def run() -> None:
        lower_this_thread()
        result.append(_set_up(setup, args))

    thread = threading.Thread(target=run, name="child-setup")
    thread.start()
    while thread.is_alive():
        try:
            arrived = control.poll(SETUP_POLL_S)  # the task (or the parent's end of file), left in the pipe
        except OSError:
            arrived = True
        if arrived:
            restore_thread(thread.native_id or 0)
            break
    thread.join()
    return result[0]


def _main(
    events: Connection,
    control: Connection,
    requests: Connection,
    setup: str,
    args: tuple[Any, ...],
    background: bool,
) -> None:
    """The child process's entry point: set up (``background``: below this thread's priority), say
    :class:`Ready`, wait for the :class:`Task` (a spare that is never used ends at the control pipe's end of
    file), run it. The setup comes by name: unpickling the function itself would import its module (torch)
    before this runs, at this thread's priority."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the parent's to handle: it cancels us
    message = _set_up_below(setup, args, control) if background else _set_up(setup, args)
    with contextlib.suppress(OSError):
        events.send(message)
    try:
        task = control.recv()
    except (EOFError, OSError):
        return
    if not isinstance(task, Task) or isinstance(message, Failure):
        return
    context = Context(control, requests)

    def send(message: Any) -> None:
        if context.parent_gone.is_set():
            return
        try:
            events.send(message)
        except OSError:  # the parent is gone: let the work stop (it keeps what it keeps), then leave
            context.lost_parent()

    try:
        for item in task.fn(context, *task.args):
            send(item)
        send(Done())
    except BaseException as error:  # noqa: BLE001 - every failure reaches the parent's dialog
        send(Failure(portable(error)))
    finally:
        events.close()
    _leave()


def _leave() -> None:
    """End the child at once, its task over and reported: what the task wrote is closed by then (its ``finally``
    ran), and the interpreter's teardown (torch's modules, the fit's heap) took seconds of CPU at the task's low
    priority on a busy machine (a fit's process ran 6-9 s after its ``Finished``, beside the spare starting and
    the next fit's start). Children the task started are ended first, as at exit; a process that still has other
    children (a worker pool the task left open) ends as usual, joining them."""
    stop_children()
    if multiprocessing.active_children():
        return
    # multiprocessing's own work at exit, which os._exit skips: a listener's socket and the temporary folder that
    # holds it (one left in /tmp by every fit's process otherwise)
    multiprocessing.util._run_finalizers()  # type: ignore[attr-defined]  # private, as old as the module
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or missing stream
            stream.flush()
    os._exit(0)


# ---- the parent's side ------------------------------------------------------------------------------------------
class Child:
    """A started child process that waits for its :class:`Task`, and the parent's ends of its three pipes."""

    def __init__(self, setup: Setup, setup_args: tuple[Any, ...], name: str, background: bool = False) -> None:
        """``background``: its setup runs below the window's priority (the task, when it comes, does not)."""
        context = multiprocessing.get_context("spawn")
        self.events, child_events = context.Pipe(duplex=False)
        child_control, self.control = context.Pipe(duplex=False)
        self.requests, child_requests = context.Pipe()
        named = f"{setup.__module__}:{setup.__qualname__}"
        self.process: BaseProcess = context.Process(
            target=_main,
            args=(child_events, child_control, child_requests, named, setup_args, background),
            name=name,
            daemon=True,
        )
        self.ready = False  # it said it is Ready (read by :meth:`Spare.ready` only)
        self.process.start()
        for end in (child_events, child_control, child_requests):  # the child holds the only other ends: its exit
            end.close()  # is our end of file

    def close(self) -> None:
        """End a child that has no task yet (it holds nothing worth keeping) and close the pipes."""
        for end in (self.events, self.control, self.requests):
            end.close()
        self.process.terminate()
        self.process.join(5.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.process.close()


class Spare:
    """A child process started ahead, in the background, which the next :class:`ChildJob` given this spare
    takes: its task begins at once instead of after the seconds a new process takes to import torch. Those
    seconds run below the window's priority (a task that takes the spare before they end waits for them)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._child: Child | None = None
        self._lock = threading.Lock()
        self._starting: threading.Thread | None = None  # the thread starting the process, if one was started
        _spares.add(self)

    def prepare(self, setup: Setup, *setup_args: Any) -> None:
        """Start the spare in the background, unless one waits already."""

        def start() -> None:
            with self._lock:
                if self._child is None or not self._child.process.is_alive():
                    if self._child is not None:
                        self._child.close()
                    self._child = Child(setup, setup_args, self.name, background=True)

        self._settle()
        self._starting = threading.Thread(target=start, name=f"{self.name}-spare", daemon=True)
        self._starting.start()

    def _settle(self) -> None:
        """Wait until a spare being started is there (starting the process takes a moment, not its imports)."""
        if (starting := self._starting) is not None:
            starting.join()

    def pid(self) -> int | None:
        """The spare's process id, if there is one (it may still be importing)."""
        self._settle()
        with self._lock:
            return self._child.process.pid if self._child is not None else None

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether the spare waits, set up, to start a task at once (waiting up to ``timeout`` seconds)."""
        self._settle()
        with self._lock:
            child = self._child
            if child is None:
                return False
            if not child.ready:
                with contextlib.suppress(EOFError, OSError):
                    child.ready = child.events.poll(timeout) and isinstance(child.events.recv(), Ready)
            return child.ready

    def take(self, task: Task) -> Child | None:
        """The spare (even one still importing: the task waits in its pipe) given ``task``; None if there is
        none alive."""
        self._settle()
        with self._lock:
            child, self._child = self._child, None
        if child is None:
            return None
        try:
            if child.process.is_alive():
                child.control.send(task)
                return child
        except OSError:  # it has died since
            pass
        child.close()
        return None

    def close(self) -> None:
        """End the spare, if any (quitting)."""
        self._settle()
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            child.close()


_spares: weakref.WeakSet[Spare] = weakref.WeakSet()
_live: weakref.WeakSet[ChildJob] = weakref.WeakSet()


class ChildJob:
    """A :class:`Task` run in a child process (``what`` names it in errors: "the fit's process"). The process
    starts when the iteration does (in the iterating thread: the spare's, if one waits); :meth:`send`,
    :meth:`cancel` and :meth:`stop` may be called from any thread, before that too, :meth:`request` from any.
    Iterate it once, in one thread: every item the task yields, in order; the task's exception is raised here
    (a ``NervError`` as itself), and so is a child that ended without finishing (a ``NervError``)."""

    def __init__(
        self,
        task: Task,
        setup: Setup,
        setup_args: tuple[Any, ...],
        what: str,
        name: str = "nervplayer-job",
        spare: Spare | None = None,
        background: bool = False,
    ) -> None:
        """``background``: a new process (not the spare) sets up below the window's priority, for work nobody
        waits on."""
        self.task, self.what, self.name = task, what, name
        self._setup, self._setup_args, self._spare, self._background = setup, setup_args, spare, background
        self._send_lock, self._stop_lock = threading.Lock(), threading.Lock()
        self._read_lock = threading.Lock()  # one thread reads the events at a time: the iterator, or stop()
        self._request_lock = threading.Lock()  # one request at a time
        self._ids = itertools.count()
        self._pending: list[str] = []  # commands sent before the process started
        self._stopping = False
        self._child: Child | None = None
        self.exitcode: int | None = None  # the child's, once stopped (its process object is closed then)
        _live.add(self)

    @property
    def process(self) -> BaseProcess:
        """The child process (once started)."""
        if self._child is None:
            raise RuntimeError("the child process has not started")
        return self._child.process

    def start(self) -> None:
        """Start the child process (the spare's, if one waits), unless started or stopped already."""
        with self._send_lock:
            if self._child is not None or self._stopping:
                return
            child = self._spare.take(self.task) if self._spare is not None else None
            if child is None:
                child = Child(self._setup, self._setup_args, self.name, self._background)
                child.control.send(self.task)
            for command in self._pending:
                with contextlib.suppress(OSError):
                    child.control.send(command)
            self._child = child

    def send(self, command: str) -> None:
        """``pause``, ``resume`` or ``cancel``; a child that has ended ignores it."""
        with self._send_lock:
            if self._child is None:
                self._pending.append(command)
                return
            with contextlib.suppress(OSError):
                self._child.control.send(command)

    def cancel(self) -> None:
        """Ask the task to stop soon (it keeps what it keeps: a fit its checkpoint); never waits."""
        self.send("cancel")

    def request(self, kind: str, payload: Any, timeout: float = REQUEST_TIMEOUT_S) -> Any:
        """The child's answer to ``(kind, payload)``; raises :class:`Ended` once the child no longer answers (or
        has not started), and a ``NervError`` if it answers nothing in ``timeout`` seconds."""
        child = self._child
        if child is None:
            raise Ended
        with self._request_lock:
            request = next(self._ids)
            deadline = time.monotonic() + timeout
            try:
                child.requests.send((request, kind, payload))
                while True:
                    if child.requests.poll(0.5):
                        answered, reply = child.requests.recv()
                        if answered == request:  # an older one was given up waiting for
                            break
                    elif time.monotonic() > deadline:
                        raise NervError(f"{self.what} answered no {kind} request in {timeout:g} s")
            except (EOFError, OSError):
                raise Ended from None
        if isinstance(reply, Failure):
            raise reply.error
        return reply

    def __iter__(self) -> Iterator[Any]:
        try:
            self.start()
            child = self._child
            if child is None:  # stopped before it started
                return
            while True:
                try:
                    with self._read_lock:
                        message = child.events.recv()
                except (EOFError, OSError):
                    if self._stopping:  # stopped from another thread (quitting), which read the end
                        return
                    self.stop(timeout=5.0)
                    raise NervError(f"{self.what} ended unexpectedly (exit code {self.exitcode})") from None
                if isinstance(message, Done):
                    return
                if isinstance(message, Failure):
                    raise message.error
                if not isinstance(message, Ready):  # said before the task came
                    yield message
        finally:
            self.stop(timeout=10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel, wait up to ``timeout`` seconds for the child to end (what it keeps written), then kill it;
        close the pipes and the process object (:attr:`exitcode` keeps its exit code). What the child sends
        meanwhile is read and dropped, unless another thread is reading it."""
        with self._send_lock:
            self._stopping = True
        self.cancel()
        deadline = time.monotonic() + timeout
        with self._stop_lock:  # one thread joins at a time: a child is reaped once
            if self._child is not None and self.exitcode is None:
                self._end(self._child, deadline)
        _live.discard(self)

    def _end(self, child: Child, deadline: float) -> None:
        process = child.process
        while process.is_alive() and time.monotonic() < deadline:
            self._drain(child, deadline)
        if process.is_alive():
            process.terminate()
            process.join(2.0)
        if process.is_alive():
            process.kill()
        process.join()
        self.exitcode = process.exitcode
        process.close()
        with self._read_lock:  # a reader blocked in recv() has seen the end of file of the ended child
            child.events.close()
        with self._send_lock:
            child.control.close()
        with self._request_lock:  # a request in flight has seen the end of file of the ended child
            child.requests.close()

    def _drain(self, child: Child, deadline: float) -> None:
        """Read and drop one message of the child's, waiting at most 0.1 s for it (or for the reader's turn)."""
        wait = max(0.0, min(0.1, deadline - time.monotonic()))
        if not self._read_lock.acquire(timeout=wait):
            return
        try:
            if child.events.poll(wait):
                child.events.recv()
        except (EOFError, OSError):  # the child closed its end: it is exiting
            child.process.join(max(0.0, deadline - time.monotonic()))
        finally:
            self._read_lock.release()


def stop_children(timeout: float = 10.0) -> None:
    """End every child process (quitting): the spares, and every job, each cancelled first (a fit keeps its
    checkpoint)."""
    for spare in list(_spares):
        spare.close()
    jobs = list(_live)
    for job in jobs:
        job.cancel()
    for job in jobs:
        job.stop(timeout)


atexit.register(stop_children)  # before multiprocessing's own exit handler, which would just terminate them
