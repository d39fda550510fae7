"""Data-parallel throughput on one machine: ``nervplayer fit`` as one process and under ``torchrun`` with several,
the same global batch, seed and epochs, one after the other.

    python benches/ddp.py VIDEO --scale 0.25 --epochs 3 --batch-size 2 --procs 1 2 [--device cpu]

Rows: one process with every core's threads (the default), then N processes with cores/N threads each
(``OMP_NUM_THREADS``), which is how torchrun splits a CPU. Each row gives frames/s inside the epochs (the run
folder's ``elapsed``), the wall time of the whole command, and the PSNR reached (same global batch: the same
optimisation, so the PSNR should agree).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(cmd: list[str], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video")
    p.add_argument("--scale", type=float, default=0.25)
    p.add_argument("--preset", default="nerv-s")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=2, help="the global batch (a multiple of every --procs)")
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if min(args.procs) < 1 or args.epochs < 1 or any(args.batch_size % n for n in args.procs):
        p.error("--procs and --epochs must be at least 1, and --batch-size a multiple of every --procs")
    cores = os.cpu_count() or 1
    fit = [args.video, "--scale", str(args.scale), "--preset", args.preset, "--epochs", str(args.epochs)]
    fit += ["--batch-size", str(args.batch_size), "--eval-every", str(args.epochs), "--device", args.device]
    rows = []
    with tempfile.TemporaryDirectory(prefix="nerv-ddp-") as tmp:
        for n in args.procs:
            out = Path(tmp) / f"p{n}"
            if n == 1:
                cmd = [sys.executable, "-m", "nervplayer", "fit", "-o", str(out), *fit]
            else:
                cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}"]
                cmd += ["-m", "nervplayer", "fit", "-o", str(out), *fit]
            threads = max(1, cores // n)
            wall = run(cmd, threads)
            with open(out / "metrics.csv", newline="") as f:
                last = list(csv.DictReader(f))[-1]
            frames = int(last["step"]) * args.batch_size
            elapsed = float(last["elapsed"])
            rows.append(
                {"processes": n, "threads_each": threads, "frames_per_s": frames / elapsed, "in_epochs": elapsed,
                 "wall": wall, "psnr": float(last["psnr"])}
            )  # fmt: skip
            print(f"{n} process(es): {frames / elapsed:.2f} frames/s", file=sys.stderr, flush=True)
    base = rows[0]["frames_per_s"]
    print("| processes × threads | frames/s in the epochs | speed-up | s in the epochs | wall s | PSNR dB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['processes']} × {r['threads_each']} | {r['frames_per_s']:.2f} | {r['frames_per_s'] / base:.2f}× | "
            f"{r['in_epochs']:.1f} | {r['wall']:.1f} | {r['psnr']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
