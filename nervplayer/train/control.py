"""Pause, resume and cancel a training loop from any thread; the loop acts on them between steps."""

from __future__ import annotations

import threading
from typing import Iterator

from .events import Event, Paused, Resumed


class Controls:
    """The thread-safe controls of a loop (the fit's ``Fitter``). ``at`` is where the loop is, in epochs: what its
    ``Paused`` and ``Resumed`` events report."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._cancel = threading.Event()

    @property
    def at(self) -> float:
        raise NotImplementedError

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def hold(self) -> Iterator[Event]:
        """While paused (between steps): ``Paused``, then ``Resumed`` once resumed or cancelled."""
        yield Paused(self.at)
        self._running.wait()
        yield Resumed(self.at)
