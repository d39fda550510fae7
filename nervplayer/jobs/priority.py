"""Priorities: a fit's, a save's and a study's child process run :data:`NICENESS` below the player, so that the
window never waits for the CPU. On Linux a nice value belongs to a thread; elsewhere it is the process's."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

NICENESS = 10  # a child's work below the player's (and below anything else the user runs)

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


def lower_this_thread(niceness: int = NICENESS) -> None:
    """Lower the calling thread's priority by ``niceness`` (Linux only: elsewhere the nice value is the
    process's, and lowering it would lower every thread's)."""
    if _TASKS.is_dir():
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))


def restore_thread(tid: int) -> None:
    """Give thread ``tid`` of this process the calling thread's priority back, where the system lets a process
    raise one (root, or an RLIMIT_NICE that allows it); elsewhere it stays where it is."""
    if _TASKS.is_dir():
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, 0))
