"""Process memory: let glibc keep freed memory, so a training step does not fault its activations in again.

glibc maps every block over 32 MiB afresh with ``mmap`` and unmaps it on ``free``, and it returns freed heap to the
system: each step at 720p then faults its ~180 MB of activations in page by page (1.47x a step's time at 720p,
docs/performance.md). The price: the process keeps its peak memory until it exits. The ``nervplayer`` command sets
this at start-up; a program using the Python API can call :func:`keep_freed_memory` itself, or set
``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647`` in the environment (or preload jemalloc / tcmalloc).
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


def keep_freed_memory() -> bool:
    """Linux/glibc: every allocation from the heap (no mmap), freed memory kept, one arena for all threads (the
    player trains in a worker thread). Returns whether it applied (False on other systems and C libraries)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        options = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_ARENA_MAX, 1))
        return all(libc.mallopt(k, v) == 1 for k, v in options)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
