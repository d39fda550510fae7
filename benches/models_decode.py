"""Decoding cost of every model plugin at equal size: stored values, multiply-adds per pixel and frames/s of the
forward pass (eval mode, fp32, batch 1, after warm-up, median of the repeats), as a Markdown table.

    python benches/models_decode.py --params 300k 1.5M --sizes 320x180 640x360 --frames 132

Weights are random: decoding time does not depend on their values. The machine may be shared; the median of
``--repeats`` timed frames is reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from nervplayer.model import architectures
from nervplayer.plugins.api import Frames


def decode_fps(model: torch.nn.Module, num_frames: int, repeats: int) -> float:
    times = []
    with torch.inference_mode():
        for i in range(repeats + 2):
            t = torch.tensor([(i % num_frames) / num_frames])
            t0 = time.perf_counter()
            model(t)
            if i >= 2:
                times.append(time.perf_counter() - t0)
    return 1 / statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", nargs="+", default=["300k"])
    p.add_argument("--sizes", nargs="+", default=["320x180", "640x360"])
    p.add_argument("--frames", type=int, default=132)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--models", nargs="+", default=None, help="model plugin ids (default: all installed)")
    args = p.parse_args()
    ids = args.models or [e.id for e in architectures.list_models()]
    print("| model | size | stored values | MACs / pixel | decode fps (CPU, fp32, batch 1) |")
    print("|---|---|---:|---:|---:|")
    for budget in args.params:
        for size in args.sizes:
            w, h = (int(x) for x in size.split("x"))
            for arch in ids:
                spec = architectures.resolve(arch, Frames(h, w, args.frames), budget=architectures.parse_count(budget))
                torch.manual_seed(0)
                model = architectures.build(spec).eval()
                fps = decode_fps(model, args.frames, args.repeats)
                print(
                    f"| {arch} | {size} | {architectures.stored_count(spec):,} | "
                    f"{architectures.macs_per_pixel(spec):,.0f} | {fps:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
