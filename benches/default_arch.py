"""Which architecture should a fit default to (issue 19 item 5)? Equal wall-time fits of each architecture with the
default recipe at one count of stored values, each compressed twice: with ``compress``'s defaults (pruning 40 %,
fine-tune, 8 bits; ``--finetune-epochs`` sets the fine-tune) and quantized alone (no pruning, no fine-tune, 8 bits:
the fit itself). One JSON line per run into ``OUT/results.jsonl``.

    OMP_NUM_THREADS=1 taskset -c 0 python benches/default_arch.py VIDEO nerv OUT --core 0 &
    OMP_NUM_THREADS=1 taskset -c 1 python benches/default_arch.py VIDEO hnerv OUT --core 1

``--params`` defaults to the stored values nerv-s has at the frame size (what a default fit is sized to).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video")
    p.add_argument("arch")
    p.add_argument("out", type=Path)
    p.add_argument("--core", type=int, default=0, help="the one core this fit runs on")
    p.add_argument("--params", type=int, help="stored values (default: nerv-s's at the frame size)")
    p.add_argument("--seconds", type=float, default=150.0, help="the fit's time limit")
    p.add_argument("--scale", type=float, default=0.25)
    p.add_argument("--end", type=int, default=32, help="frames 0..END")
    p.add_argument("--finetune-epochs", type=int, default=5)
    args = p.parse_args()
    os.sched_setaffinity(0, {args.core})
    import torch

    torch.set_num_threads(1)
    from nervplayer.codec.measure import Compressed
    from nervplayer.codec.pipeline import CompressOptions, Compressor
    from nervplayer.model.architectures import describe
    from nervplayer.train.config import FitConfig
    from nervplayer.train.events import Finished
    from nervplayer.train.fit import Fitter, clip_frames

    run = args.out / args.arch
    base = FitConfig(video=args.video, arch=args.arch, scale=args.scale, end=args.end, device="cpu")
    budget = args.params or describe("nerv", clip_frames(base)[2], preset="nerv-s").params
    big = 10**9  # the time limit ends the fit; no evaluation or checkpoint before it
    cfg = replace(base, budget=budget, epochs=big, eval_every=big, checkpoint_every=big, time_limit=args.seconds)
    t0 = time.perf_counter()
    fin = [e for e in Fitter(cfg, run).run() if isinstance(e, Finished)][-1]
    assert fin.last_eval is not None
    result = {"arch": args.arch, "params": budget, "steps": fin.step, "fit_wall": time.perf_counter() - t0}
    result["fit_psnr"] = fin.last_eval.psnr
    for name, options in (
        ("default", CompressOptions(finetune_epochs=args.finetune_epochs, device="cpu")),
        ("q8", CompressOptions(prune=0.0, finetune_epochs=0, device="cpu")),
    ):
        report = next(e for e in Compressor(run, run / f"{name}.nerv", options).run() if isinstance(e, Compressed))
        result |= {
            f"{name}_bytes": report.file_bytes,
            f"{name}_bpp": report.bpp,
            f"{name}_psnr": report.metrics["psnr"],
        }
    print(json.dumps(result), flush=True)
    with open(args.out / "results.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
