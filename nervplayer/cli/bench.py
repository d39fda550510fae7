"""``nervplayer bench [VIDEO]``: how fast this machine trains and decodes a model, and where the time goes.

For one architecture and size (``--arch``, ``--preset``, ``--params``, ``--model``, as ``nervplayer fit`` takes
them) and frame size on the chosen device it measures, and prints as Markdown tables:

* training frames/s and seconds per epoch, through the real fit loop (:class:`~nervplayer.train.Fitter`), after a
  warm-up fit of the same shapes; peak memory; achieved FLOP/s beside the measured matmul peak of the device;
* the share of a training step in data, forward, loss, backward, optimizer and the rest of the loop (the
  fit's own step function, synchronised after each phase);
* what takes the training time: forward and backward time and FLOPs of every layer, of the model's work
  outside its layers, of the data, the loss and the optimizer (:mod:`nervplayer.train.profile`);
* decoding frames/s (the model's forward alone, as the paper times it) at batch 1 and batched, for each
  precision and memory layout the device offers.

Without VIDEO it fits a synthetic clip of ``--frames`` frames (content does not change speed).
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..atomic import atomic_write_text
from ..device import resolve_device
from ..model import architectures
from ..model.render import times
from ..train import Finished, FitConfig, Fitter, Started, Step
from ..train.profile import profile, step_flops, step_phases, sync
from .bench_report import report
from .options import Parser, add_model_size, frame_size, key_values, output_file

_NO_EVAL = 10**9  # epochs and eval_every of bench fits: they are cancelled long before any evaluation


def build_parser() -> Parser:
    p = Parser(
        prog="nervplayer bench",
        description="Measure training and decoding speed of a NeRV on this "
        "machine, with a per-layer breakdown. Prints Markdown tables.",
    )
    p.add_argument("video", nargs="?", help="video file or frame folder (default: a synthetic clip)")
    p.add_argument("--arch", default="nerv", help="model plugin: nerv (default), hnerv, grid, or an installed one")
    add_model_size(p)
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--size", type=frame_size, metavar="WxH", help="frame size (default 320x180 synthetic, or the video's own)"
    )
    size.add_argument("--scale", type=float, help="resize the video by this factor")
    p.add_argument(
        "--frames",
        type=int,
        help="frames of the synthetic clip (default 132, bunny's length), or the first N of VIDEO (default: all)",
    )
    p.add_argument("--model", action="append", metavar="K=V", help="model parameter, as in 'nervplayer fit'")
    p.add_argument("--device", default="auto", help="auto | cuda | mps | cpu")
    p.add_argument("--precision", default="auto", help="auto | fp32 | bf16 | fp16")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--steps", type=int, default=30, help="timed training steps (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="untimed warm-up steps (default 5)")
    p.add_argument("--decode-batch", type=int, default=8, help="batch size of batched decoding (default 8)")
    p.add_argument("--decode-seconds", type=float, default=1.0, help="time each decoding setup this long (1 s)")
    p.add_argument("--no-layers", action="store_true", help="skip the per-layer table (what takes the time)")
    p.add_argument("--no-decode", action="store_true", help="skip decoding")
    p.add_argument("--json", type=output_file, metavar="PATH", help="also write every number to this JSON file")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nervplayer-bench-") as tmp:
        video = args.video
        if video is None:
            video = str(Path(tmp) / "clip")
            synthetic_clip(Path(video), args.frames or 132, *(args.size or (180, 320)))
        config = FitConfig(
            video=video,
            arch=args.arch,
            preset=args.preset,
            budget=args.budget,
            epochs=_NO_EVAL,
            batch_size=args.batch_size,
            end=args.frames if args.video else None,
            size=args.size,
            scale=args.scale,
            model=key_values(args.model, "--model"),
            device=args.device,
            precision=args.precision,
            eval_every=_NO_EVAL,
        )
        result = run_bench(
            config,
            args.steps,
            args.warmup,
            args.decode_batch,
            layers=not args.no_layers,
            decode_seconds=0.0 if args.no_decode else args.decode_seconds,
        )
    result["command"] = "nervplayer bench " + " ".join(argv)
    print(report(result))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


def synthetic_clip(folder: Path, frames: int, height: int, width: int) -> None:
    """``frames`` PNG frames of smooth moving colour waves (fast to write: low compression)."""
    from PIL import Image

    folder.mkdir(parents=True)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(frames):
        rgb = [np.sin(x / (17 + 5 * c) + y / (23 + 3 * c) + 0.2 * i * (c + 1)) for c in range(3)]
        img = ((np.stack(rgb, -1) + 1) * 127.5).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:05d}.png", compress_level=1)


def timed(fn: Callable[[], Any], device: torch.device, min_seconds: float = 1.0, min_runs: int = 3) -> float:
    """Seconds per call of ``fn`` after two warm-up calls, over at least ``min_runs`` calls and ``min_seconds``."""
    for _ in range(2):
        fn()
    sync(device)
    runs, start = 0, time.perf_counter()
    while runs < min_runs or time.perf_counter() - start < min_seconds:
        fn()
        runs += 1
        sync(device)
    return (time.perf_counter() - start) / runs


def matmul_peak(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matmul in ``dtype``: the practical peak a convolution can approach."""
    n = 2048 if device.type == "cpu" else 8192
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    return 2 * n**3 / timed(lambda: a @ b, device, min_seconds=0.5)


@dataclass
class TrainSpeed:
    steps: int
    seconds: float  # wall time of all steps
    batch_size: int
    frames_per_epoch: int
    median_step: float | None  # median seconds of one step, where steps are reported one by one (CPU)

    @property
    def frames_per_s(self) -> float:
        return self.steps * self.batch_size / self.seconds

    @property
    def s_per_epoch(self) -> float:
        return self.frames_per_epoch / self.frames_per_s


def fit_steps(config: FitConfig, steps: int) -> tuple[Fitter, TrainSpeed]:
    """Run the real fit loop for about ``steps`` steps; time it from ``Started`` to ``Finished``.

    The median step (robust to a busy neighbour) comes from the ``Step`` events where each step reports alone.
    """
    fitter = Fitter(config)
    stamps: list[tuple[int, float]] = []  # (step, time it was reported); Started is step 0
    done = None
    for ev in fitter.run():
        if isinstance(ev, Started):
            stamps.append((0, time.perf_counter()))
        elif isinstance(ev, Step):
            stamps.append((ev.step, time.perf_counter()))
            if ev.step >= steps:
                fitter.cancel()
        elif isinstance(ev, Finished):
            done = ev
    assert done is not None  # a run ends with Finished
    seconds = time.perf_counter() - stamps[0][1]
    single = all(b[0] - a[0] == 1 for a, b in zip(stamps, stamps[1:]))
    median = statistics.median(b[1] - a[1] for a, b in zip(stamps, stamps[1:])) if single else None
    return fitter, TrainSpeed(done.step, seconds, config.batch_size, len(fitter.train_indices), median)


def decode_variants(device: torch.device) -> list[tuple[str, torch.dtype | None, bool]]:
    """(label, autocast dtype, channels_last) of each decoding setup worth timing on ``device``."""
    if device.type == "cpu":
        return [
            ("fp32", None, False),
            ("fp32", None, True),
            ("bf16", torch.bfloat16, False),
            ("bf16", torch.bfloat16, True),
        ]
    half = [("bf16", torch.bfloat16, True)] if device.type != "cuda" or torch.cuda.is_bf16_supported() else []
    return [("fp32", None, True), ("fp16", torch.float16, True)] + half


def decode_speed(fitter: Fitter, batch_sizes: list[int], seconds: float = 1.0) -> list[dict[str, Any]]:
    """Frames/s of the model's forward (no grad, eval mode) for each variant and batch size."""
    dev, model, n = fitter.device, fitter.model, fitter.num_frames
    rows = []
    model.eval()
    try:
        for label, dtype, channels_last in decode_variants(dev):
            memory_format = torch.channels_last if channels_last else torch.contiguous_format
            model.to(memory_format=memory_format)  # type: ignore[call-overload]  # torch's stub lacks memory_format
            ctx = (lambda: torch.autocast(dev.type, dtype=dtype)) if dtype else nullcontext
            for b in batch_sizes:
                t = times([i % n for i in range(b)], n, dev)

                def forward() -> None:
                    with torch.no_grad(), ctx():
                        model(t)

                per_call = timed(forward, dev, min_seconds=seconds)
                rows.append(
                    {
                        "precision": label,
                        "channels_last": channels_last,
                        "batch": b,
                        "frames_per_s": b / per_call,
                        "ms_per_frame": 1e3 * per_call / b,
                    }
                )
    finally:
        model.train()
        memory_format = torch.channels_last if fitter.precision.channels_last else torch.contiguous_format
        model.to(memory_format=memory_format)  # type: ignore[call-overload]  # torch's stub lacks memory_format
    return rows


def peak_memory(device: torch.device) -> tuple[str, int]:
    """(what, bytes): CUDA's peak allocated memory, elsewhere the process's peak resident set."""
    if device.type == "cuda":
        return "peak CUDA memory allocated", torch.cuda.max_memory_allocated(device)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in KiB on Linux, bytes on macOS
    return "peak RSS of the process", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def run_bench(
    config: FitConfig, steps: int, warmup: int, decode_batch: int, layers: bool = True, decode_seconds: float = 1.0
) -> dict[str, Any]:
    """Every measurement of the module docstring, as a JSON-serialisable dict (no decoding if
    ``decode_seconds`` is 0)."""
    fit_steps(config, warmup)  # same shapes: kernels chosen, caches and allocator warm
    if (dev := resolve_device(config.device)).type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    fitter, speed = fit_steps(config, steps)
    prec, spec = fitter.precision, fitter.spec
    mem_what, mem = peak_memory(dev)
    peak = matmul_peak(dev, prec.autocast_dtype or torch.float32)
    _, phase_flops = step_flops(fitter)
    b = config.batch_size
    train_flops = sum(phase_flops[k] for k in ("forward", "loss", "backward")) / b  # per frame, as counted
    decode_flops = 2 * architectures.macs_per_pixel(spec, fitter.plugins) * spec.height * spec.width
    out: dict[str, Any] = {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "precision": prec.name,
        "channels_last": prec.channels_last,
        "arch": spec.arch,
        "preset": config.preset,
        "budget": config.budget,
        "height": spec.height,
        "width": spec.width,
        "frames": fitter.num_frames,
        "params": fitter.stored_params,
        "batch_size": b,
        "fwd_gflop_per_frame": phase_flops["forward"] / b / 1e9,
        "train_gflop_per_frame": train_flops / 1e9,
        "decode_gflop_per_frame": decode_flops / 1e9,
        "matmul_peak_tflops": peak / 1e12,
        "memory_what": mem_what,
        "memory_bytes": mem,
        "train": {
            "steps": speed.steps,
            "seconds": speed.seconds,
            "frames_per_s": speed.frames_per_s,
            "ms_per_step": 1e3 * speed.seconds / speed.steps,
            "s_per_epoch": speed.s_per_epoch,
            "median_ms_per_step": 1e3 * speed.median_step if speed.median_step else None,
            "tflops": train_flops * speed.frames_per_s / 1e12,
        },
    }
    phases = step_phases(fitter, min(steps, 20))
    step = speed.median_step or speed.seconds / speed.steps
    phases["rest of the loop"] = step - sum(phases.values())
    out["phases_ms"] = {k: 1e3 * v for k, v in phases.items()}
    if layers:
        out["layers"] = [
            {
                "name": row.name,
                "kind": row.kind,
                "fwd_gflop": row.fwd_flops / 1e9,
                "bwd_gflop": row.bwd_flops / 1e9,
                "fwd_ms": 1e3 * row.fwd_s,
                "bwd_ms": 1e3 * row.bwd_s,
            }
            for row in profile(fitter, min(steps, 10))
        ]
    if decode_seconds > 0:
        rows = decode_speed(fitter, sorted({1, decode_batch}), decode_seconds)
        for r in rows:
            r["tflops"] = decode_flops * r["frames_per_s"] / 1e12
        out["decode"] = rows
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
