"""Grid model training steps per second, this checkout against another (say main), and whether they learn the same.

    python benches/grid_step.py --baseline /work/main --sizes 320x180 640x360 --rounds 7 --steps 15
    python benches/grid_step.py --baseline /work/main --sizes 320x180 --check 300
    python benches/grid_step.py --baseline /tmp/before --sizes 320x180 --params 1.5M --rate-lambda 0.03 --threads 1

The first checkout named is the reference of the speed-ups (several may be named: commits unpacked with ``git
archive``, to measure changes one by one). Each side is a worker process that imports its own checkout's
``nervplayer`` (``PYTHONPATH``) and keeps a fit of the grid model (default size, fp32 on this CPU, batch 1, the
default loss; ``--params``: its budget, ``--rate-lambda``: a rate-aware fit, quantizing the stored tensors each
step, of the levels the time slices it reads) on a synthetic clip; the fitter's own step
(``train/profile.run_step``) is what is timed. The workers
take turns, one round of ``--steps`` steps each, so a neighbour's load hits both alike; the median round of each
side and the ratio are printed, with the load average before and after, and the process's CPU time per step beside
the wall time (with ``--threads 1`` the CPU time hardly depends on the neighbours: a robust ratio on a shared
machine).

``--check N``: each side fits a fresh model (same seed) for N steps and reports the loss of every step and the
PSNR of all frames at the end; the table gives the largest loss difference and both PSNRs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent


def size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def worker(width: int, height: int, check: int, threads: int, params: int | None, rate_lambda: float) -> None:
    """Keep a grid fit; answer ``N`` on stdin with the milliseconds of N steps (``--check``: one run, then exit)."""
    import torch

    from nervplayer.allocator import keep_freed_memory
    from nervplayer.cli.bench import synthetic_clip
    from nervplayer.metrics import psnr
    from nervplayer.train import FitConfig, Fitter
    from nervplayer.train.profile import run_step

    keep_freed_memory()  # as the nervplayer command does
    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="grid-step-") as tmp:
        synthetic_clip(Path(tmp) / "clip", 132, height, width)
        # explicit either way: a plain step is not the grid's own recipe (rate-aware), and a baseline tree may have none
        recipe = {"qat": bool(rate_lambda), "rate_lambda": rate_lambda}
        config = FitConfig(
            video=str(Path(tmp) / "clip"), arch="grid", size=(height, width), epochs=1000, budget=params, **recipe
        )
        fitter = Fitter(config)
        if check:
            losses = []
            for k in range(check):
                b, order = fitter.config.batch_size, fitter.train_indices
                idx = [order[(k * b + j) % len(order)] for j in range(b)]
                losses.append(float(fitter.train_step(idx, fitter.store.get(idx), fitter.base_lr)))
            with torch.no_grad():
                order = list(range(fitter.num_frames))
                pred = torch.cat([fitter.network.forward(order[i : i + 8]) for i in range(0, len(order), 8)])
                target = torch.cat(
                    [fitter.network.to_float(fitter.store.get(order[i : i + 8])) for i in range(0, len(order), 8)]
                )
                value = float(psnr(pred, target).mean())
            print(json.dumps({"losses": losses, "psnr": value}), flush=True)
            return
        step = 0
        for _ in range(5):  # warm-up: kernels chosen, allocator warm
            run_step(fitter, step)
            step += 1
        print("ready", flush=True)
        for line in sys.stdin:
            ms, cpu_ms = [], []
            for _ in range(int(line)):
                t0, c0 = time.perf_counter(), time.process_time()
                run_step(fitter, step)
                ms.append(1e3 * (time.perf_counter() - t0))
                cpu_ms.append(1e3 * (time.process_time() - c0))
                step += 1
            print(json.dumps([ms, cpu_ms]), flush=True)


def start(checkout: Path, width: int, height: int, args: argparse.Namespace, check: int = 0) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    cmd = [sys.executable, str(HERE), "--worker", f"{width}x{height}", "--check", str(check)]
    cmd += ["--threads", str(args.threads), "--rate-lambda", str(args.rate_lambda)]
    cmd += ["--params", str(args.params)] if args.params else []
    return subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def read(proc: subprocess.Popen[str]) -> Any:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"worker {proc.args} died (exit {proc.wait()})")
    return line if line.strip() == "ready" else json.loads(line)


def compare_speed(sides: dict[str, Path], width: int, height: int, args: argparse.Namespace) -> None:
    rounds, steps, threads = args.rounds, args.steps, args.threads
    load0 = os.getloadavg()[0]
    procs = {name: start(path, width, height, args) for name, path in sides.items()}
    for p in procs.values():
        read(p)
    wall: dict[str, list[float]] = {name: [] for name in procs}
    cpu: dict[str, list[float]] = {name: [] for name in procs}
    for _ in range(rounds):
        for name, p in procs.items():
            assert p.stdin is not None
            p.stdin.write(f"{steps}\n")
            p.stdin.flush()
            ms, cpu_ms = read(p)
            wall[name].append(statistics.median(ms))
            cpu[name].append(statistics.median(cpu_ms))
    for p in procs.values():
        assert p.stdin is not None
        p.stdin.close()
        p.wait()
    load1 = os.getloadavg()[0]
    base, base_cpu = (statistics.median(next(iter(d.values()))) for d in (wall, cpu))
    print(
        f"\n{width}x{height}, {threads or 'default'} threads: {rounds} rounds of {steps} steps per side, "
        f"load average {load0:.2f} → {load1:.2f}"
    )
    print(
        "| code | ms/step (median round) | best round | steps/s | speed-up | CPU ms/step | CPU speed-up |\n"
        "|---|---|---|---|---|---|---|"
    )
    for name in procs:
        med, med_cpu = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"| {name} | {med:.2f} | {min(wall[name]):.2f} | {1e3 / med:.1f} | {base / med:.2f}× | {med_cpu:.2f} | "
            f"{base_cpu / med_cpu:.2f}× |"
        )


def compare_results(sides: dict[str, Path], width: int, height: int, args: argparse.Namespace) -> None:
    out, steps = {}, args.check
    for name, path in sides.items():  # one after the other: each uses both cores
        p = start(path, width, height, args, check=steps)
        out[name] = read(p)
        p.wait()
    names = list(out)
    a, b = (out[n]["losses"] for n in names[:2]) if len(names) > 1 else (out[names[0]]["losses"],) * 2
    worst = max(abs(x - y) for x, y in zip(a, b))
    print(f"\n{width}x{height}, {steps} steps from the same seed:")
    print("| code | first loss | last loss | PSNR (all frames) |\n|---|---|---|---|")
    for name, r in out.items():
        print(f"| {name} | {r['losses'][0]:.6f} | {r['losses'][-1]:.6f} | {r['psnr']:.3f} dB |")
    print(f"largest loss difference over the {steps} steps: {worst:.2e}")


def main(argv: list[str]) -> int:
    from nervplayer.errors import ConfigError
    from nervplayer.model.architectures import parse_count

    def count(text: str) -> int:
        try:
            return parse_count(text)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    def rate_lambda(text: str) -> float:
        value = float(text)
        if not value >= 0:
            raise argparse.ArgumentTypeError(f"a rate lambda is >= 0, got {text}")
        return value

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--baseline", type=Path, nargs="+", default=[], help="other checkouts to compare with (e.g. /work/main)"
    )
    p.add_argument("--sizes", type=size, nargs="+", default=[(320, 180), (640, 360)], metavar="WxH")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=15, help="steps per round")
    p.add_argument("--check", type=int, default=0, help="compare the losses of N steps and the PSNR after them")
    p.add_argument("--threads", type=int, default=0, help="torch threads of each side (default: torch's own)")
    p.add_argument("--params", type=count, help="the grid's budget of stored values (e.g. 1.5M)")
    p.add_argument("--rate-lambda", type=rate_lambda, default=0.0, help="a rate-aware fit (--qat --rate-lambda)")
    p.add_argument("--worker", type=size, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(*args.worker, args.check, args.threads, args.params, args.rate_lambda)
        return 0
    sides = {str(path): path for path in args.baseline} | {"this checkout": REPO}
    for w, h in args.sizes:
        if args.check:
            compare_results(sides, w, h, args)
        else:
            compare_speed(sides, w, h, args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
