"""Watching processes from tests (Linux: /proc)."""

import os
import signal
import time
from pathlib import Path


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie has: only its exit status is left to collect)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def stop(pid: int, timeout: float = 10.0) -> None:
    """Stop process ``pid`` (SIGSTOP) and wait until each of its threads has stopped: a signal takes effect a
    moment after it is sent."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    tasks = Path(f"/proc/{pid}/task")
    while not all("\nState:\tT" in (task / "status").read_text() for task in tasks.iterdir()):
        assert time.monotonic() < deadline, f"process {pid} did not stop"
        time.sleep(0.001)
