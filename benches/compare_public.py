"""nervplayer's fit loop against the public-code-style loop (benches/public_loop.py): same clip, model, seed,
schedule and epochs. Prints a Markdown table of seconds per epoch, the speed-up and the PSNR / MS-SSIM reached.

    python benches/compare_public.py /work/shared/data/bigbuckbunny.mp4 --scale 0.25 --epochs 8 \\
        --precision auto fp32 --workers 0

The loops take turns, one epoch each, so a busy neighbour slows them alike (this machine is shared). A loop's
time is the sum of its turns: every step, evaluation and checkpoint, from its first step to the end of its final
evaluation; setting up (decoding the clip, writing PNGs, building the model) is left out. nervplayer runs as
``nervplayer fit`` does (run folder, checkpoints and evaluations at their defaults), in this process: the
allocator setting the ``nervplayer`` command makes at start-up (nervplayer/allocator.py) is not applied here, as
it would reach both loops.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Generator

from nervplayer.train import Evaluated, Finished, FitConfig, Fitter, Step

sys.path.insert(0, str(Path(__file__).resolve().parent))
from public_loop import build_parser as public_parser  # noqa: E402
from public_loop import config_from_args, public_epochs

Run = Generator[None, None, dict[str, Any]]


def ours_epochs(config: FitConfig, run_dir: Path) -> Run:
    """A complete ``nervplayer fit``, yielding once set up and then after each epoch's steps."""
    fitter = Fitter(config, run_dir)
    events = fitter.run()
    yield
    evals: list[Evaluated] = []
    epoch, done = 1, None
    while done is None:
        for ev in events:
            if isinstance(ev, Evaluated):
                evals.append(ev)
            elif isinstance(ev, Finished):
                done = ev
            elif isinstance(ev, Step) and ev.epoch >= epoch:
                epoch += 1
                break
        if done is None:
            yield
    return {
        "loop": "nervplayer",
        "precision": fitter.precision.name,
        "epochs": config.epochs,
        "frames": fitter.num_frames,
        "height": fitter.store.height,
        "width": fitter.store.width,
        "psnr": evals[-1].psnr,
        "ms_ssim": evals[-1].ms_ssim,
    }


def take_turns(runs: dict[str, Run]) -> dict[str, dict[str, Any]]:
    """Advance each run one epoch in turn; a run's ``seconds`` is the sum of its turns after its set-up."""
    turns: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        next(run)
    results: dict[str, dict[str, Any]] = {}
    while len(results) < len(runs):
        for name, run in runs.items():
            if name in results:
                continue
            t0 = time.perf_counter()
            try:
                next(run)
            except StopIteration as finished:
                results[name] = finished.value
            turns[name].append(time.perf_counter() - t0)
    for name, r in results.items():
        r["seconds"], r["turn_seconds"] = sum(turns[name]), turns[name]
        print(json.dumps(r), file=sys.stderr)
    return results


def table(results: list[dict[str, Any]]) -> str:
    base = min(r["seconds"] for r in results if r["loop"] == "public-code style")  # the fastest baseline
    lines = [
        "| loop | precision | workers | epochs | s/epoch | frames/s | speed-up | PSNR dB | MS-SSIM |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        spe = r["seconds"] / r["epochs"]
        lines.append(
            f"| {r['loop']} | {r['precision']} | {r.get('workers', '')} | {r['epochs']} | {spe:.2f} | "
            f"{r['frames'] / spe:.2f} | {base / r['seconds']:.2f}× | {r['psnr']:.2f} | "
            f"{r['ms_ssim']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[public_parser()],
        conflict_handler="resolve",
        add_help=False,
    )
    p.add_argument("--workers", type=int, nargs="+", default=[0], help="baseline DataLoader workers to try")
    p.add_argument("--precision", nargs="+", default=["auto"], help="nervplayer precisions to run")
    args = p.parse_args(argv)
    base = config_from_args(args)
    with tempfile.TemporaryDirectory(prefix="nerv-compare-") as tmp:
        runs: dict[str, Run] = {f"public-{w}": public_epochs(base, w, Path(tmp) / f"public-{w}") for w in args.workers}
        runs.update(
            {
                f"ours-{prec}": ours_epochs(replace(base, precision=prec), Path(tmp) / f"ours-{prec}")
                for prec in args.precision
            }
        )
        results = take_turns(runs)
    print(table(list(results.values())))
    if args.json:
        args.json.write_text(json.dumps(list(results.values()), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
