"""``nervplayer batch``: one job per clip on local workers, resumable, a summary table, CSV, JSON and RD plot; and
the executor options' bad input (a cluster that cannot be reached, Ray missing, --workers 0), from the CLI."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time

from clips import moving_shapes, write_video

TINY = ["--preset", "nerv-xs", "--model", "stem_dim=32", "--model", "fc_c=4", "--model", "lower_width=4"]
QUICK = [*TINY, "--epochs", "1", "--frames", "0:8", "--device", "cpu", "--finetune-epochs", "0"]


def nervplayer(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"import sys; {prelude}from nervplayer.cli.main import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, env=env)


def test_batch_fits_and_compresses_each_clip_writes_a_summary_and_skips_finished_clips(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    write_video(folder / "a.mp4", moving_shapes(8, 64, 64))
    write_video(folder / "b.mp4", moving_shapes(8, 64, 64)[::-1].copy())
    out = tmp_path / "out"
    first = nervplayer("batch", str(folder), "-o", str(out), "--workers", "2", *QUICK)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "2 local workers" in first.stderr
    for name in ("a", "b"):
        assert (out / f"{name}.nerv").stat().st_size > 0
        assert f"\n{name} " in f"\n{first.stdout}"  # a row of the printed table
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["clip"] for r in rows] == ["a", "b"]
    for r in rows:
        assert float(r["psnr"]) > 0 and 0 < float(r["ms_ssim"]) <= 1 and int(r["bytes"]) > 0
        assert float(r["bpp"]) == float(r["bytes"]) * 8 / (8 * 64 * 64) and r["frames"] == "8"
        assert float(r["seconds"]) > 0
    assert json.loads((out / "summary.json").read_text())["clips"][0]["clip"] == "a"
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*.nerv")}
    (out / "b.nerv").unlink()  # b is not finished any more: its fit is kept, its compression runs again
    again = nervplayer("batch", str(folder), "-o", str(out), "--workers", "1", *QUICK)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "1 finished before" in again.stderr
    assert (out / "a.nerv").stat().st_mtime_ns == stamps[out / "a.nerv"]  # skipped
    assert (out / "b.nerv").is_file()
    assert len(list(csv.DictReader((out / "summary.csv").open()))) == 2


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_cluster_is_one_line_within_seconds_and_nothing_starts(shapes_clip, tmp_path):
    began = time.monotonic()
    proc = nervplayer("batch", str(shapes_clip), "-o", str(tmp_path / "out"), "--cluster", f"127.0.0.1:{unused_port()}")
    assert time.monotonic() - began < 30  # most of it the interpreter and torch starting
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot reach the Ray cluster at 127.0.0.1:" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_a_cluster_without_ray_installed_names_the_install_command(shapes_clip, tmp_path):
    proc = nervplayer(
        "batch", str(shapes_clip), "-o", str(tmp_path / "out"), "--cluster", "auto",
        prelude="sys.modules['ray'] = None; ",  # import ray fails, as where it is not installed
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith('Ray, which is not installed: pip install "nervplayer[cluster]"')
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


def test_zero_workers_is_refused(shapes_clip, tmp_path):
    proc = nervplayer("batch", str(shapes_clip), "-o", str(tmp_path / "out"), "--workers", "0")
    assert proc.returncode == 2
    assert "--workers must be at least 1, got 0" in proc.stderr and proc.stderr.count("\n") == 1


def test_segment_options_are_refused_not_ignored(shapes_clip, tmp_path):
    proc = nervplayer("batch", str(shapes_clip), "-o", str(tmp_path / "out"), "--segment", "8")
    assert proc.returncode == 2, proc.stderr
    assert "batch fits each clip whole" in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()
