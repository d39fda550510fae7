"""``nervplayer --startup-check`` in a real process, offscreen: the time from launch to the first decoded frame
on screen (the sample's .nerv when there is no FILE), or exit 1 and one line when nothing can be shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nervplayer.sample import sample_nerv

REPO = Path(__file__).resolve().parents[2]


def startup_check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[var] = str(tmp_path / var.lower())  # never the user's settings or recent files
    return subprocess.run(
        [sys.executable, "-m", "nervplayer", *args, "--startup-check"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


@pytest.mark.skipif(sample_nerv() is None, reason="resources/sample.nerv is missing")
def test_startup_check_shows_the_sample_and_quits(tmp_path):
    result = startup_check(tmp_path)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("first decoded frame on screen after ") and float(line.split()[-2]) > 0
    print(f"\n[measure] checkout: {line}")


def test_startup_check_on_a_file_that_cannot_open_is_exit_1(tmp_path):
    bad = tmp_path / "bad.nerv"
    bad.write_bytes(b"not a nerv file")
    result = startup_check(tmp_path, str(bad))
    assert result.returncode == 1 and "nervplayer: error:" in result.stderr
    assert "first decoded frame" not in result.stdout
