"""Jobs for the executor tests: module-level functions, so worker processes and Ray workers can import them."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Iterator

from nervplayer.errors import Cancelled, ConfigError
from nervplayer.jobs import stop_requested


def square(x: int) -> int:
    return x * x


def refuse(message: str) -> None:
    raise ConfigError(message)


def counting(folder: str, steps: int, die_after: int | None = None) -> list[int]:
    """A job with a checkpoint: ``steps`` steps, each one's value saved (atomically) as it is taken, and resumed
    from there. With ``die_after``, its first attempt kills its own worker (SIGKILL) after that many steps. Each
    attempt appends the step it started from to ``starts``."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    checkpoint = path / "checkpoint.json"
    values: list[int] = json.loads(checkpoint.read_text()) if checkpoint.exists() else []
    with open(path / "starts", "a") as f:
        f.write(f"{len(values)}\n")
    while len(values) < steps:
        if stop_requested():
            raise Cancelled("stopped")
        step = len(values)
        values.append((values[-1] if values else 7) * 31 % 1009 + step)
        tmp = path / "checkpoint.tmp"
        tmp.write_text(json.dumps(values))
        tmp.replace(checkpoint)
        if die_after is not None and len(values) == die_after and not (path / "died").exists():
            (path / "died").touch()
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.02)
    return values


def until_stopped(folder: str) -> int:
    """Steps until the executor asks it to stop (five minutes at most), checkpointing each one; writes its pid."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    (path / "pid").write_text(str(os.getpid()))
    for step in range(15_000):
        if stop_requested():
            (path / "checkpoint").write_text(str(step))
            raise Cancelled("stopped")
        time.sleep(0.02)
    return -1


_setup_niceness: int | None = None


def note_setup_niceness() -> None:
    """A child's setup that notes the nice value it ran at (on Linux, its thread's)."""
    global _setup_niceness
    _setup_niceness = os.getpriority(os.PRIO_PROCESS, 0)


def niceness_seen(context: object) -> Iterator[tuple[int | None, int]]:
    """A child's task: the nice value its setup ran at, and the task's own."""
    yield _setup_niceness, os.getpriority(os.PRIO_PROCESS, 0)


def slow_setup(seen: str, go: str) -> None:
    """A setup that works until the file ``go`` exists (at most 60 s), writing the nice value it runs at into
    the file ``seen`` as it goes, and noting it at its start and at its end."""
    global _setup_niceness, _setup_niceness_at_end
    _setup_niceness = os.getpriority(os.PRIO_PROCESS, 0)
    deadline = time.monotonic() + 60
    while not Path(go).exists() and time.monotonic() < deadline:
        Path(seen).write_text(str(os.getpriority(os.PRIO_PROCESS, 0)))
        time.sleep(0.01)
    _setup_niceness_at_end = os.getpriority(os.PRIO_PROCESS, 0)


_setup_niceness_at_end: int | None = None


def niceness_through_setup(context: object) -> Iterator[tuple[int | None, int | None, int]]:
    """A child's task: the nice values its setup started and ended at, and the task's own."""
    yield _setup_niceness, _setup_niceness_at_end, os.getpriority(os.PRIO_PROCESS, 0)
