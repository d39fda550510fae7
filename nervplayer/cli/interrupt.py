"""Ctrl-C for long commands: the first one asks the work to stop cleanly, a second one aborts."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def cancel_on_ctrl_c(cancel: Callable[[], None]) -> Iterator[None]:
    """While inside, the first Ctrl-C calls ``cancel`` (a fit finishes its step, checkpoints and stops); a second
    one raises KeyboardInterrupt as usual."""

    def on_sigint(signum: int, frame: object) -> None:
        print("\nstopping after this step (Ctrl-C again to abort)…", file=sys.stderr)
        cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
