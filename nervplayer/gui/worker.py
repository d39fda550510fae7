"""Running core work (a fit, a compression, loading a clip) in a QThread, reported through signals.

The function runs in the worker thread. If it is a generator, each item it yields becomes an ``event`` signal;
its return value comes back through ``done`` and an exception through ``failed``. Signals are queued to the GUI
thread, which therefore never waits on the work.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from PySide6.QtCore import QThread, Signal


class Worker(QThread):
    event = Signal(object)
    done = Signal(object)
    failed = Signal(object)

    def __init__(self, fn: Callable[[], Any], name: str = "worker", parent=None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._fn = fn

    def run(self) -> None:
        try:
            result = self._fn()
            if inspect.isgenerator(result):
                gen = result
                while True:
                    try:
                        self.event.emit(next(gen))
                    except StopIteration as stop:
                        result = stop.value
                        break
            self.done.emit(result)
        except BaseException as e:  # everything reaches the GUI as a dialog, nothing kills the app
            self.failed.emit(e)
