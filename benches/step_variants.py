"""A/B timing of one training step (Fitter's step: autocast forward, loss on fp32, backward, Adam) under changes
that are not (yet) in nervplayer, to decide by measurement which ones to adopt. Variants combine with '+':

* ``foreach``: ``Adam(foreach=True)`` instead of ``fused=True`` (what Fitter uses on CUDA and the CPU).
* ``compile``: ``torch.compile`` of the forward; ``graphs``: ``mode="reduce-overhead"`` (CUDA graphs, CUDA only).

Rounds of each variant are interleaved, so a neighbour's load hits all of them alike; the median and the best
round are printed.

    python benches/step_variants.py --size 320x180 --variants base foreach compile
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

import torch

from nervplayer.cli.options import frame_size
from nervplayer.device import resolve_device, resolve_precision
from nervplayer.model import NeRV, model_config
from nervplayer.model.render import times
from nervplayer.plugins import get_registry


def make_step(variant: str, args: argparse.Namespace, device: torch.device) -> Callable[[], torch.Tensor]:
    flags = set(variant.split("+")) - {"base"}
    unknown = flags - {"foreach", "compile", "graphs"}
    if unknown:
        raise SystemExit(f"unknown variant flags: {sorted(unknown)}")
    h, w = args.size
    precision = resolve_precision(args.precision, device)
    cfg = model_config(args.preset, h, w)
    torch.manual_seed(1)
    model = NeRV(cfg, get_registry().factory("activation", "silu", {})).to(device)
    if precision.channels_last:
        model = model.to(memory_format=torch.channels_last)
    forward: Callable[[torch.Tensor], torch.Tensor] = model
    if "compile" in flags or "graphs" in flags:
        forward = torch.compile(forward, mode="reduce-overhead" if "graphs" in flags else None)
    opt = torch.optim.Adam(
        model.parameters(),
        lr=5e-4,
        betas=(0.5, 0.999),
        **({"foreach": True} if "foreach" in flags else {"fused": True}),
    )
    scaler = torch.amp.GradScaler(device.type, enabled=precision.needs_scaler)
    loss_fn = get_registry().create("loss", "fusion6", {})
    n = args.frames
    frames = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, device=device)
    counter = iter(range(10**12))

    def step() -> torch.Tensor:
        i = [next(counter) * 7919 % n for _ in range(args.batch_size)]
        target = frames[i].float().div_(255)
        if precision.channels_last:
            target = target.contiguous(memory_format=torch.channels_last)
        with precision.autocast(device):
            pred = forward(times(i, n, device))
        loss = loss_fn(pred.float(), target)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss.detach()

    return step


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=frame_size, default=(180, 320), metavar="WxH")
    p.add_argument("--preset", default="nerv-s")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--frames", type=int, default=32, help="random uint8 frames resident on the device")
    p.add_argument("--variants", nargs="+", default=["base", "foreach"])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=10, help="steps per round")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    steps = {v: make_step(v, args, device) for v in args.variants}
    for step in steps.values():  # warm-up (and compilation)
        for _ in range(5):
            step()
    ms: dict[str, list[float]] = {v: [] for v in steps}
    for _ in range(args.rounds):
        for v, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                loss = step()
            loss.item()  # one host sync per round
            ms[v].append(1e3 * (time.perf_counter() - t0) / args.steps)
    h, w = args.size
    base = sorted(ms[args.variants[0]])[args.rounds // 2]
    print(
        f"{args.preset} at {w}x{h}, {device}, precision {resolve_precision(args.precision, device).name}, "
        f"batch {args.batch_size}, {torch.get_num_threads()} threads"
    )
    print(f"| variant | ms/step (median) | best round | speed-up vs {args.variants[0]} |\n|---|---|---|---|")
    for v, xs in ms.items():
        med = sorted(xs)[args.rounds // 2]
        print(f"| {v} | {med:.1f} | {min(xs):.1f} | {base / med:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
