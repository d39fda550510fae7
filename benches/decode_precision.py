"""What decoding in half precision costs in quality and gains in speed, on a trained run folder.

Decodes every frame of the run's clip in fp32 and under bf16 (and, on CUDA, fp16) autocast, in channels_last,
and prints PSNR / MS-SSIM against the source frames and frames/s at batch 1 and batched.

    python benches/decode_precision.py RUN_FOLDER [--device cpu] [--batch 8]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import torch

from nervplayer.device import resolve_device
from nervplayer.model.render import times
from nervplayer.train import load_source, open_run
from nervplayer.train.evaluate import evaluate


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch", type=int, default=8)
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    run = open_run(args.run)
    store, _ = load_source(run.fit_config, device)
    model = run.build_model(device).to(memory_format=torch.channels_last)
    n = store.num_frames
    dtypes = {"fp32": None, "bf16": torch.bfloat16}
    if device.type == "cuda":
        dtypes["fp16"] = torch.float16
    print(f"{run.path.name}: {n} frames at {store.width}x{store.height} on {device}, {torch.get_num_threads()} threads")
    print(f"| precision | PSNR dB | MS-SSIM | frames/s, batch 1 | frames/s, batch {args.batch} |")
    print("|---|---|---|---|---|")
    for name, dtype in dtypes.items():

        def ctx():
            return torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()

        @torch.no_grad()
        def decode(idx: list[int]) -> torch.Tensor:
            with ctx():
                return model(times(idx, n, device)).float()

        m = evaluate(decode, store)
        fps = []
        for b in (1, args.batch):
            chunks = [list(range(i, min(i + b, n))) for i in range(0, n, b)]
            decode(chunks[0])
            t0 = time.perf_counter()
            for c in chunks:
                decode(c)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            fps.append(n / (time.perf_counter() - t0))
        print(f"| {name} | {m.psnr.mean():.3f} | {m.ms_ssim.mean():.5f} | {fps[0]:.1f} | {fps[1]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
