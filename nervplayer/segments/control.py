"""Pause, resume and cancel for jobs that may run in other processes or on other machines: a small file in each
segment's folder (on storage every worker reads), written by the orchestrator and polled by the job between steps.
A missing or unreadable file reads as "run"."""

from __future__ import annotations

import time
from pathlib import Path

from ..atomic import atomic_write_text

CONTROL = "control"
RUN, PAUSE, CANCEL = "run", "pause", "cancel"
STATES = (RUN, PAUSE, CANCEL)


def write_control(folder: Path, state: str) -> None:
    assert state in STATES
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / CONTROL, state + "\n")


class Control:
    """The control file of one job's folder, read at most every ``interval`` seconds (steps can be milliseconds)."""

    def __init__(self, folder: Path, interval: float = 0.2) -> None:
        self.path = folder / CONTROL
        self.interval = interval
        self._state, self._read_at = RUN, -float("inf")

    def state(self) -> str:
        now = time.monotonic()
        if now - self._read_at >= self.interval:
            self._read_at = now
            try:
                text = self.path.read_text().strip()
            except OSError:
                text = RUN
            self._state = text if text in STATES else RUN
        return self._state

    def wait_while_paused(self) -> str:
        """Block while the file says pause; the state that ended the pause (run or cancel)."""
        while (state := self.state()) == PAUSE:
            time.sleep(self.interval)
        return state
