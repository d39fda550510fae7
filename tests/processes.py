"""Watching processes from tests (Linux: /proc)."""

from pathlib import Path


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie has: only its exit status is left to collect)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status
