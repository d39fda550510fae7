"""The nervplayer command run as a user meets it: a subprocess of this checkout, and its one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]


def run_nervplayer(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m nervplayer ARGS`` with this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "nervplayer", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """Exit 2, no traceback, and the error is one line, the last (after any stages the command printed)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if "error" in line] == lines[-1:], result.stderr
    return lines[-1]


def main_error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The same contract from ``main`` in this process: no interpreter to start, so a test can try many bad inputs
    at the cost of one, with one of them still run through :func:`run_nervplayer` as the user meets it."""
    from nervplayer.cli.main import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as e:  # argparse's own errors exit
        code = e.code
    err = capsys.readouterr().err
    return error_line(subprocess.CompletedProcess(["nervplayer", *args], code, "", err))
