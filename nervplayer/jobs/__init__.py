"""Independent jobs (one segment of a clip, one clip of a batch) and the executors that run them.

A :class:`Job` is a picklable call ``fn(*args)`` with a stable ``key`` (the name of its folder: what a resume looks
for) and the resources it needs. An :class:`Executor` runs a list of jobs, as many at once as it has workers, and
returns each job's result by key. The contract every executor keeps (tests run it on each one):

- ``run(jobs, on_done)`` returns ``{key: result}`` for every job, calling ``on_done`` as each one ends, in the
  caller's thread; a job that raises a :class:`~nervplayer.errors.NervError` ends the run with that error after
  the running jobs have stopped.
- A job may run more than once (after its worker died): a job resumes from its own checkpoint, never from scratch
  when one exists, and its result is the same as an uninterrupted run's.
- ``cancel()`` (any thread) starts no more jobs and asks the running ones to stop at their next step, keeping
  their checkpoints; ``run`` then raises :class:`JobsCancelled`.

This package imports nothing but the base: executors know nothing of what the jobs do.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from ..errors import NervError


class JobsCancelled(NervError):
    """The jobs were cancelled before all of them ended (what finished is kept)."""


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


class SerialExecutor:
    """Runs the jobs one after another in this process (one worker, nothing to start)."""

    name = "this process"
    workers = 1

    def __init__(self) -> None:
        self._cancelled = threading.Event()

    def run(self, jobs: Sequence[Job], on_done: Callable[[JobDone], None] | None = None) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for job in jobs:
            if self._cancelled.is_set():
                raise JobsCancelled(f"cancelled: {len(results)} of {len(jobs)} jobs finished")
            began = time.perf_counter()
            results[job.key] = job.fn(*job.args)
            if on_done is not None:
                on_done(JobDone(job.key, results[job.key], time.perf_counter() - began, 1))
        return results

    def cancel(self) -> None:
        self._cancelled.set()
