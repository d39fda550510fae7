"""What a user downloads: the wheel in a fresh virtual environment, and the one-folder PyInstaller app. Both
are built from this checkout and run from outside it. Slow (minutes each): ``scripts/test --slow``."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"  # a CPU build, installed first so that pip never resolves another one
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # a bundle build alone takes minutes on 2 cores


def run(cmd: list[str], cwd: Path, timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
    """Run outside the checkout (no PYTHONPATH, no DISPLAY); fail with its output."""
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**base, "OMP_NUM_THREADS": "1", **env},
    )
    assert result.returncode == 0, f"{cmd}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def user_dirs(root: Path) -> dict[str, str]:
    """Settings, runs and logs under ``root``, never the user's."""
    return {v: str(root / v.lower()) for v in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")}


def first_frame_seconds(result: subprocess.CompletedProcess) -> float:
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("first decoded frame on screen after"), result.stdout
    return float(line.split()[-2])


def test_the_wheel_installs_in_a_fresh_venv_with_the_sample_plugins_and_player(tmp_path):
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path, REPO], REPO)
    wheel = next(tmp_path.glob("nervplayer-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("sample.mp4", "sample.nerv", "ATTRIBUTION.md", "LICENSES.md"):
        assert f"nervplayer/_sample/{name}" in names
    assert "nervplayer/_builtin_plugins/activations.py" in names
    print(f"\n[measure] wheel {wheel.name}: {wheel.stat().st_size / 1e6:.2f} MB")

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], tmp_path)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q"]
    run([*pip, TORCH], tmp_path)
    run([*pip, f"{wheel}[gui]"], tmp_path)
    bin_, env = venv / "bin", user_dirs(tmp_path)

    where = run([bin_ / "python", "-c", "from nervplayer.sample import sample_nerv; print(sample_nerv())"], tmp_path)
    nerv = Path(where.stdout.strip())
    assert nerv.is_file() and nerv.is_relative_to(venv)  # the packaged sample, not the checkout's
    info = run([bin_ / "nervplayer", "info", nerv], tmp_path, **env).stdout
    assert "hnerv" in info and "320" in info

    plugins = run([bin_ / "nervplayer", "plugins"], tmp_path, **env).stdout
    assert "_builtin_plugins" in plugins and "[failed]" not in plugins
    fit = ["fit", nerv.with_name("sample.mp4"), "-o", tmp_path / "run", "--preset", "nerv-xs", "--epochs", "1"]
    run([bin_ / "nervplayer", *fit, "--frames", "0:2", "--scale", "0.25", "--device", "cpu"], tmp_path, **env)
    assert (tmp_path / "run" / "model.safetensors").is_file()

    shown = run([bin_ / "nervplayer", "--startup-check"], tmp_path, QT_QPA_PLATFORM="offscreen", **env)
    print(f"[measure] wheel: launch to first decoded frame on screen {first_frame_seconds(shown):.2f} s")


def test_the_bundle_builds_plays_fits_saves_and_reopens(tmp_path):
    dist = tmp_path / "dist"
    built = run(
        [REPO / "scripts" / "bundle"],
        REPO,
        timeout=1800,
        BUNDLE_PYTHON=sys.executable,
        BUNDLE_DIST=str(dist),
        BUNDLE_WORK=str(tmp_path / "work"),
    )
    print(f"\n[measure] {built.stdout.strip().splitlines()[-1]}")
    app = dist / "nervplayer" / "nervplayer"
    internal = dist / "nervplayer" / "_internal"
    assert (dist / "nervplayer" / "LICENSES.md").is_file() and (internal / "nervplayer/_sample/sample.nerv").is_file()
    assert not (internal / "matplotlib").exists() and not (internal / "PyQt6").exists()
    env = user_dirs(tmp_path)

    shown = run([app, "--startup-check"], tmp_path, timeout=300, QT_QPA_PLATFORM="offscreen", **env)
    print(f"[measure] bundle: launch to first decoded frame on screen {first_frame_seconds(shown):.2f} s")

    clip = internal / "nervplayer" / "_sample" / "sample.mp4"
    run([app, "fit", clip, "-o", tmp_path / "run", "--preset", "nerv-xs", "--epochs", "2", "--frames", "0:4"], tmp_path)
    nerv = tmp_path / "mine.nerv"
    run([app, "compress", tmp_path / "run", "-o", nerv, "--finetune-epochs", "0", "--no-eval"], tmp_path)
    assert "nerv" in run([app, "info", nerv], tmp_path).stdout
    reopened = run([app, nerv, "--startup-check"], tmp_path, timeout=300, QT_QPA_PLATFORM="offscreen", **env)
    assert first_frame_seconds(reopened) > 0
