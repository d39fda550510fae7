"""The speed changes docs/performance.md proposes for nervplayer/model and nervplayer/train, applied as a patch
for the duration of a benchmark, so they can be measured end to end (speed and PSNR) before they land:

1. ``NeRV.forward`` with the 1×1 head before the last PixelShuffle (:func:`step_variants.commuted_forward`);
2. ``Adam(fused=True)`` where Fitter asks for ``foreach=True`` (the CPU);
3. glibc keeps freed memory (:func:`keep_freed_memory`): process-wide, and not undone on exit.

    python benches/proposed.py [nervplayer bench options]     # `nervplayer bench` with the changes
"""

from __future__ import annotations

import ctypes
import sys
from contextlib import contextmanager
from typing import Iterator

import torch
from step_variants import commuted_forward

from nervplayer.cli import bench
from nervplayer.model import NeRV


def keep_freed_memory() -> bool:
    """Linux/glibc: every allocation from the heap (no mmap), freed memory kept, one arena for all threads.

    glibc maps blocks over 32 MiB afresh with mmap and unmaps them on free, so each step at 720p faults its
    ~180 MB activations in page by page again. The price: the process keeps its peak memory until it exits.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
    return all(libc.mallopt(k, v) == 1 for k, v in ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1), (M_ARENA_MAX, 1)))


@contextmanager
def proposed() -> Iterator[None]:
    forward, adam = NeRV.forward, torch.optim.Adam

    def fused_adam(params, **kwargs):  # noqa: ANN001, ANN202
        if kwargs.pop("foreach", False):
            kwargs["fused"] = True
        return adam(params, **kwargs)

    keep_freed_memory()
    NeRV.forward, torch.optim.Adam = commuted_forward, fused_adam
    try:
        yield
    finally:
        NeRV.forward, torch.optim.Adam = forward, adam


if __name__ == "__main__":
    with proposed():
        sys.exit(bench.main(sys.argv[1:]))
