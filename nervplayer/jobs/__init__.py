"""Independent jobs (one segment of a clip, one clip of a batch) and the executors that run them.

A :class:`Job` is a picklable call ``fn(*args)`` with a stable ``key`` (the name of its folder: what a resume looks
for) and the resources it needs. An :class:`Executor` runs a list of jobs, as many at once as it has workers, and
returns each job's result by key. The contract every executor keeps (tests/test_jobs.py runs it on each one):

- ``run(jobs, on_done)`` returns ``{key: result}`` for every job, calling ``on_done`` as each one ends, in the
  caller's thread; a job that raises a :class:`~nervplayer.errors.NervError` ends the run with that error after
  the running jobs have stopped.
- A job may run more than once (after its worker died): a job resumes from its own checkpoint, never from scratch
  when one exists, and its result is the same as an uninterrupted run's.
- ``cancel()`` (any thread) starts no more jobs and asks the running ones to stop at their next step (a job polls
  :func:`stop_requested`), keeping their checkpoints; ``run`` then raises :class:`JobsCancelled`.

The executors: :class:`SerialExecutor` (this process), :class:`~.local.LocalExecutor` (worker processes on this
machine) and :class:`~.cluster.RayExecutor` (a Ray cluster); :func:`.factory.executor_for` picks one from the
CLI's ``--workers`` and ``--cluster``. This package imports nothing but the base: executors know nothing of what the
jobs do, and Ray is imported only by :mod:`.cluster`, when a cluster is asked for.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from ..errors import NervError


class JobsCancelled(NervError):
    """The jobs were cancelled before all of them ended (what finished is kept)."""


class WorkerDied(NervError):
    """A job's worker process died on every attempt (killed, out of memory, a crash in native code)."""


@dataclass(frozen=True)
class Job:
    key: str  # unique among a run's jobs, stable across resumes: the job's folder name
    fn: Callable[..., Any]  # a module-level function, so any worker process (or Ray node) can import it
    args: tuple[Any, ...] = ()
    cpus: float = 1.0
    gpus: float = 0.0


@dataclass(frozen=True)
class JobDone:
    key: str
    result: Any
    seconds: float  # wall time of the attempt that succeeded
    attempts: int  # 1 unless a worker died and the job ran again


class Executor(Protocol):
    name: str  # what the plan and the logs call it: "this process", "2 local workers", "ray at 127.0.0.1:6379"
    workers: int  # jobs that may run at once

    def run(self, jobs: Sequence[Job], on_done: Callable[[JobDone], None] | None = None) -> dict[str, Any]: ...

    def cancel(self) -> None: ...


_stop = threading.Event()


def stop_requested() -> bool:
    """True once the executor running this job asked it to stop (a cancel, or another job's error): the job saves
    its checkpoint at its next step and returns or raises :class:`~nervplayer.errors.Cancelled`."""
    return _stop.is_set()


def request_stop(stop: bool = True) -> None:
    """Set (or clear, before a job starts) what :func:`stop_requested` answers in this process."""
    if stop:
        _stop.set()
    else:
        _stop.clear()


def check_unique(jobs: Sequence[Job]) -> None:
    keys = [job.key for job in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"job keys must be unique: {sorted(k for k in set(keys) if keys.count(k) > 1)}")


class SerialExecutor:
    """Runs the jobs one after another in this process (one worker, nothing to start)."""

    name = "this process"
    workers = 1

    def __init__(self) -> None:
        self._cancelled = threading.Event()

    def run(self, jobs: Sequence[Job], on_done: Callable[[JobDone], None] | None = None) -> dict[str, Any]:
        check_unique(jobs)
        self._cancelled.clear()
        request_stop(False)
        results: dict[str, Any] = {}
        for job in jobs:
            if self._cancelled.is_set():
                raise JobsCancelled(f"cancelled: {len(results)} of {len(jobs)} jobs finished")
            began = time.perf_counter()
            try:
                results[job.key] = job.fn(*job.args)
            except NervError:
                if not self._cancelled.is_set():
                    raise
                raise JobsCancelled(f"cancelled: {len(results)} of {len(jobs)} jobs finished") from None
            if on_done is not None:
                on_done(JobDone(job.key, results[job.key], time.perf_counter() - began, 1))
        return results

    def cancel(self) -> None:
        self._cancelled.set()
        request_stop()


def available_cpus() -> int:
    """The CPU cores this process may run on (its affinity where the system tells, else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cuda_devices() -> int:
    """GPUs a worker could have (0 without CUDA); torch is imported only to ask."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


#: CPU cores per local worker when there is no GPU. One: on a loaded 2-core machine, 4 small fits took 75 s on 2
#: single-thread workers and 332 s on one worker with 2 torch threads (docs/long-videos.md, "Executors").
CORES_PER_WORKER = 1


def default_workers() -> int:
    """Local workers when ``--workers`` is not given: one per GPU, else one per :data:`CORES_PER_WORKER` cores
    (each worker holds one job's frames and model: ``--workers`` lowers it where memory is short)."""
    return cuda_devices() or max(1, available_cpus() // CORES_PER_WORKER)
