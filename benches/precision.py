"""Does a precision hold PSNR? PSNR after every epoch of the same fit (same clip, seed, schedule) in fp32 and
in each other precision, beside fp32 with another seed (the spread a different initialisation gives).
Prints a Markdown table; the rule (issue 5): a precision is a default only if it stays within 0.1 dB of fp32.

    python benches/precision.py /work/shared/data/bigbuckbunny.mp4 --scale 0.125 --frames 32 --epochs 20 \\
        --precision bf16
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from public_loop import clip_parser

from nervplayer.train import Evaluated, FitConfig, Fitter


def psnr_per_epoch(config: FitConfig) -> dict[str, Any]:
    fitter = Fitter(config)
    start = time.perf_counter()
    psnrs = [ev.psnr for ev in fitter.run() if isinstance(ev, Evaluated)]
    return {
        "precision": fitter.precision.name,
        "seed": config.seed,
        "psnr": psnrs,
        "seconds": time.perf_counter() - start,
        "train_seconds": fitter.elapsed,
    }


def main(argv: list[str]) -> int:
    p = clip_parser(__doc__, epochs=20)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", nargs="+", default=["bf16"], help="precisions to compare with fp32")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    base = FitConfig(
        video=args.video,
        arch="nerv",
        preset=args.preset,
        epochs=args.epochs,
        size=args.size,
        scale=args.scale,
        end=args.frames,
        device=args.device,
        precision="fp32",
        eval_every=1,
    )
    runs = [psnr_per_epoch(base), psnr_per_epoch(replace(base, seed=base.seed + 1))]
    runs += [psnr_per_epoch(replace(base, precision=prec)) for prec in args.precision]
    ref = runs[0]["psnr"]
    names = [f"{r['precision']} seed {r['seed']}" for r in runs]
    lines = [
        "| epoch | " + " | ".join(names[:1] + [f"{n} (Δ)" for n in names[1:]]) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for e, r0 in enumerate(ref):
        cells = [f"{r0:.2f}"] + [f"{r['psnr'][e]:.2f} ({r['psnr'][e] - r0:+.2f})" for r in runs[1:]]
        lines.append(f"| {e + 1} | " + " | ".join(cells) + " |")
    lines.append("| s/epoch (training) | " + " | ".join(f"{r['train_seconds'] / args.epochs:.2f}" for r in runs) + " |")
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
