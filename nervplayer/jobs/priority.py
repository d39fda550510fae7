"""Priorities: the work runs below the window, so that the window never waits for the CPU.

A fit's, a save's and a study's child process run :data:`NICENESS` below the player; the bulk work of the
window's own process (decoding a clip to look at, a fit's ground truth) runs :data:`WORKER_NICENESS` below its GUI
thread. On Linux a nice value belongs to a thread; elsewhere it is the process's, and only a child is lowered.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

NICENESS = 10  # a child's work below the player's (and below anything else the user runs)
WORKER_NICENESS = 5  # the window's worker threads: below its GUI thread, above its children

T = TypeVar("T")

_TASKS = Path("/proc/self/task")  # one entry per thread of this process (Linux)


def lower_priority(niceness: int = NICENESS, keep: frozenset[int] = frozenset()) -> None:
    """Lower the priority of every thread of this process by ``niceness``, but those whose native ids are in
    ``keep``. On Linux a nice value is per thread: ``os.nice`` alone would leave the compute threads torch started
    during the work's start-up at the window's priority. Threads started later inherit the priority of the
    thread that starts them, lowered by then."""
    if not _TASKS.is_dir():  # elsewhere the nice value is the process's
        if hasattr(os, "nice"):
            with contextlib.suppress(OSError):
                os.nice(niceness)
        return
    lower = min(19, os.getpriority(os.PRIO_PROCESS, 0) + niceness)  # 0: this thread's
    done: set[int] = set(keep)
    while new := {int(task.name) for task in _TASKS.iterdir()} - done:  # again for any thread started meanwhile
        for tid in new:
            with contextlib.suppress(OSError):  # a thread that has ended since
                os.setpriority(os.PRIO_PROCESS, tid, max(lower, os.getpriority(os.PRIO_PROCESS, tid)))
        done |= new


def run_lowered(work: Callable[[], T], niceness: int = WORKER_NICENESS) -> T:
    """``work()`` in a new thread below the calling thread's priority, waited for here, its exception raised
    here: the window process's bulk work (decoding a clip) never takes the CPU from the GUI thread. A thread of
    its own, not the caller's lowered: a nice value cannot be raised again, and a process the caller starts later
    (a fit's) inherits the caller's."""
    outcome: list[Any] = []

    def lowered() -> None:
        if _TASKS.is_dir():
            with contextlib.suppress(OSError):
                tid = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
        try:
            outcome.append((True, work()))
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
            outcome.append((False, error))

    thread = threading.Thread(target=lowered, name="lowered-work", daemon=True)
    thread.start()
    thread.join()
    done, value = outcome[0]
    if not done:
        raise value
    result: T = value
    return result
