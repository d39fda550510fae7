"""The encoder recipe, one change at a time (issue 19 item 2): rate-aware fits of equal wall time, each variant
at several λ, compressed into real `.nerv` files; BD-rate of every variant against today's recipe, and seconds
per step.

    OMP_NUM_THREADS=1 python benches/recipe_ablation.py VIDEO --scale 0.25 --end 32 --archs grid hnerv \
        --params 100k --lambdas 0.003 0.01 0.03 --seconds 90 --workers 2 -o ablation/ \
        [--variants baseline soft soft-no-hard constant starts soap] [--step-search]

Every fit is ``--qat --rate-lambda λ`` (today's rate-aware recipe: learned steps, hard rounding with straight-through
gradients, warmup + cosine, Adam) with one change; a time limit of ``--seconds`` ends it (the schedule follows the
time), so variants are compared at equal wall time, whatever their step cost. Each worker process is pinned to a
core of its own and runs one thread. ``--step-search`` also compresses each baseline run with the per-module
power-of-two step search (no refit). The results (one JSON line per run, then the table) go to ``-o``; a rerun
skips the runs already there.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

# One change each against the baseline (FitConfig fields).
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "soft": {"soft_rounding": True},
    "soft-no-hard": {"soft_rounding": True, "hard_rounding": 0.0},
    "constant": {"scheduler": "constant"},
    "starts": {"starts": 5},
    "soap": {"optimizer": "soap"},
    "soap-lr3": {"optimizer": "soap", "lr_factor": 3.0},  # SOAP at 3x the learning rate (its own optimum differs)
    "seed2": {"seed": 2},  # the baseline again from another draw: how far two runs of one recipe differ
}
LR = {"grid": 1e-2, "hnerv": 3e-3, "nerv": 1e-3}


def _pin(cores: mp.Queue) -> None:
    core = cores.get()
    os.sched_setaffinity(0, {core})
    import torch

    torch.set_num_threads(1)


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Fit one variant at one λ for the time limit, compress it, and measure the file."""
    from nervplayer.codec.measure import Compressed
    from nervplayer.codec.pipeline import CompressOptions, Compressor
    from nervplayer.train.config import FitConfig
    from nervplayer.train.events import Finished
    from nervplayer.train.fit import Fitter

    run = Path(job["run"])
    known = {f.name for f in fields(FitConfig)}
    changes = dict(VARIANTS[job["variant"]])
    lr = job["lr"] * changes.pop("lr_factor", 1.0)
    missing = [k for k in changes if k not in known]
    if missing:
        return {**job, "error": f"this tree's FitConfig has no {', '.join(missing)}"}
    cfg = FitConfig(
        video=job["video"],
        arch=job["arch"],
        budget=job["params"],
        scale=job["scale"],
        end=job["end"],
        epochs=100_000,
        lr=lr,
        qat=True,
        rate_lambda=job["lam"],
        device="cpu",
        precision="fp32",
        eval_every=100_000,
        checkpoint_every=100_000,
        time_limit=job["seconds"],
        **changes,
    )
    t0 = time.perf_counter()
    finished = None
    for ev in Fitter(cfg, run).run():
        if isinstance(ev, Finished):
            finished = ev
    fit_wall = time.perf_counter() - t0
    assert finished is not None and finished.last_eval is not None
    result = {
        **job,
        "steps": finished.step,
        "train_seconds": finished.elapsed,
        "fit_wall": fit_wall,
        "s_per_step": finished.elapsed / max(finished.step, 1),
        "fit_psnr": finished.last_eval.psnr,
    }
    searches = [False] + ([True] if job.get("step_search") else [])
    for search in searches:
        extra = {"step_search": True} if search else {}
        options = CompressOptions(prune=0.0, finetune_epochs=0, device="cpu", **extra)  # type: ignore[arg-type]
        out = run / ("step-search.nerv" if search else "file.nerv")
        t1 = time.perf_counter()
        report = next(ev for ev in Compressor(run, out, options).run() if isinstance(ev, Compressed))
        key = "search_" if search else ""
        result |= {
            f"{key}bytes": report.file_bytes,
            f"{key}bpp": report.bpp,
            f"{key}psnr": report.metrics["psnr"],
            f"{key}compress_seconds": time.perf_counter() - t1,
        }
    return result


def x264_curve(job: dict[str, Any]) -> tuple[list[float], list[float]]:
    """x264 medium at its CRF settings on the same frames: (bpp, PSNR)."""
    import torch

    from nervplayer.codec.rd import classic
    from nervplayer.train.config import FitConfig
    from nervplayer.train.fit import clip_frames, load_source

    cfg = FitConfig(video=job["video"], scale=job["scale"], end=job["end"])
    clip = clip_frames(cfg)
    store, _ = load_source(cfg, torch.device("cpu"), None, clip)
    points = list(classic(store, clip[0].fps, "libx264"))
    return [p.bpp for p in points], [p.psnr for p in points]


def table(rows: list[dict[str, Any]], x264: tuple[list[float], list[float]] | None) -> str:
    from nervplayer.codec.bdrate import bd_rate

    lines = [
        "| model | variant | ΔPSNR vs baseline at equal rate | BD-rate vs baseline | vs x264 medium | PSNR range (dB) "
        "| bpp range | s / step | steps | λ points |",
        "|---|---|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for arch in sorted({r["arch"] for r in rows}):
        ok = [r for r in rows if r["arch"] == arch and "error" not in r]
        base = sorted((r for r in ok if r["variant"] == "baseline"), key=lambda r: r["lam"])
        curves: dict[str, tuple[list[float], list[float], list[dict[str, Any]]]] = {}
        for r in ok:
            curves.setdefault(r["variant"], ([], [], []))
            curves[r["variant"]][0].append(r["bpp"])
            curves[r["variant"]][1].append(r["psnr"])
            curves[r["variant"]][2].append(r)
        if base and any("search_bpp" in r for r in base):
            curves["step-search (post)"] = ([r["search_bpp"] for r in base], [r["search_psnr"] for r in base], base)
        for variant, (bpp, psnr, rs) in curves.items():
            bd = "" if variant == "baseline" or not base else _bd(bd_rate, base, bpp, psnr)
            vs264 = "" if x264 is None else _bd_x264(bd_rate, x264, bpp, psnr)
            gain = (
                None
                if variant == "baseline" or not base
                else delta_psnr(front([r["bpp"] for r in base], [r["psnr"] for r in base]), front(bpp, psnr))
            )
            dp = "" if gain is None else f"{gain:+.2f} dB"
            sps = sum(r["s_per_step"] for r in rs) / len(rs)
            steps = sum(r["steps"] for r in rs) / len(rs)
            lines.append(
                f"| {arch} | {variant} | {dp} | {bd} | {vs264} | {min(psnr):.2f}–{max(psnr):.2f} "
                f"| {min(bpp):.4f}–{max(bpp):.4f} | {sps * 1000:.1f} ms | {steps:.0f} | {len(rs)} |"
            )
    return "\n".join(lines)


def _bd_x264(bd_rate: Any, x264: tuple[list[float], list[float]], bpp: list[float], psnr: list[float]) -> str:
    result = bd_rate(x264[0], x264[1], bpp, psnr)
    return "no overlap" if result.percent is None else f"{result.percent:+.0f} %"


def front(bpp: list[float], psnr: list[float]) -> list[tuple[float, float]]:
    """The Pareto front of (bpp, PSNR) points: sorted by rate, each better than every cheaper one."""
    out: list[tuple[float, float]] = []
    for r, p in sorted(zip(bpp, psnr)):
        if not out or p > out[-1][1]:
            out.append((r, p))
    return out


def delta_psnr(ref: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """Mean PSNR difference (dB) of two fronts at equal rate, piecewise linear in log bpp over their common range
    (robust to the few, noisy points a short fit gives, where BD-rate's polynomial is not)."""
    import numpy as np

    lo, hi = max(ref[0][0], test[0][0]), min(ref[-1][0], test[-1][0])
    if len(ref) < 2 or len(test) < 2 or lo >= hi:
        return None
    xs = np.linspace(np.log(lo), np.log(hi), 200)

    def at(points: list[tuple[float, float]]) -> np.ndarray:
        return np.interp(xs, [np.log(r) for r, _ in points], [p for _, p in points])

    return float(np.mean(at(test) - at(ref)))


def _bd(bd_rate: Any, base: list[dict[str, Any]], bpp: list[float], psnr: list[float]) -> str:
    result = bd_rate([r["bpp"] for r in base], [r["psnr"] for r in base], bpp, psnr)
    return "no overlap" if result.percent is None else f"{result.percent:+.1f} %"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("video")
    p.add_argument("--scale", type=float, default=0.25)
    p.add_argument("--end", type=int, default=32)
    p.add_argument("--archs", nargs="+", default=["grid", "hnerv"])
    p.add_argument("--params", default="100k")
    p.add_argument("--lambdas", type=float, nargs="+", default=[0.003, 0.01, 0.03])
    p.add_argument("--seconds", type=float, default=90.0)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--step-search", action="store_true")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("-o", "--output", type=Path, required=True)
    args = p.parse_args()
    from nervplayer.model.architectures import parse_count

    args.output.mkdir(parents=True, exist_ok=True)
    results = args.output / "results.jsonl"
    done = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    have = {r["run"] for r in done}
    jobs = [
        {
            "video": args.video,
            "arch": arch,
            "variant": variant,
            "lam": lam,
            "params": parse_count(args.params),
            "scale": args.scale,
            "end": args.end,
            "lr": LR.get(arch, 1e-3),
            "seconds": args.seconds,
            "step_search": args.step_search and variant == "baseline",
            "run": str(args.output / f"{arch}-{variant}-{lam:g}"),
        }
        for arch in args.archs
        for lam in args.lambdas
        for variant in args.variants
    ]
    jobs = [j for j in jobs if j["run"] not in have]
    cores = mp.get_context("spawn").Queue()
    for core in sorted(os.sched_getaffinity(0))[: args.workers]:
        cores.put(core)
    with mp.get_context("spawn").Pool(args.workers, _pin, (cores,)) as pool:
        for r in pool.imap_unordered(run_one, jobs):
            done.append(r)
            with open(results, "a") as f:
                f.write(json.dumps(r) + "\n")
            print(json.dumps(r), file=sys.stderr)
    print(table(done, x264_curve(jobs[0] if jobs else done[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
