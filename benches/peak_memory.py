"""Peak resident memory of a fit: frames held in memory vs streamed from the disk cache.

    python benches/peak_memory.py VIDEO [--scale S] [--cache-budget MB] [--steps N]
    python benches/peak_memory.py --synthetic FRAMES --size 1280x720 --cache-budget 1024

Builds the fit (decoding every frame once into its frame store), runs N training steps, and prints the peak RSS
(ru_maxrss) next to the size of the frames as uint8. Run each case in its own process: the peak is per process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nervplayer.train import FitConfig, Fitter, Started, Step


def synthetic_folder(folder: Path, frames: int, height: int, width: int) -> Path:
    """A long clip as a PNG folder, written fast (random-ish blocks, so PNGs stay small)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height // 16, width // 16, 3), dtype=np.uint8)
    for i in range(frames):
        tile = np.roll(base, i, axis=1).repeat(16, 0).repeat(16, 1)
        Image.fromarray(tile).save(folder / f"{i:06d}.png", compress_level=1)
    return folder


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("video", nargs="?")
    p.add_argument("--synthetic", type=int, metavar="FRAMES")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--scale", type=float)
    p.add_argument("--cache-budget", type=int, metavar="MB")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--preset", default="nerv-s")
    args = p.parse_args()
    w, h = map(int, args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="nerv-mem-"))
    video = args.video or str(synthetic_folder(tmp / "frames", args.synthetic, h, w))
    t0 = time.perf_counter()
    fitter = Fitter(
        FitConfig(
            video=video, arch="nerv", preset=args.preset, epochs=1, scale=args.scale, cache_budget_mb=args.cache_budget
        ),
        tmp / "run",
    )
    load_s = time.perf_counter() - t0
    steps = 0
    for ev in fitter.run():
        if isinstance(ev, Started):
            t1 = time.perf_counter()
        if isinstance(ev, Step):
            steps += 1
            if steps == args.steps:
                fitter.cancel()
    frames_mb = fitter.num_frames * fitter.store.height * fitter.store.width * 3 / 2**20
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{Path(video).name}: {fitter.num_frames} frames {fitter.store.width}x{fitter.store.height} "
        f"({frames_mb:.0f} MB as uint8), store={fitter.store.kind}, load {load_s:.1f} s, "
        f"{steps} steps {(time.perf_counter() - t1) / steps * 1000:.0f} ms/step, peak RSS {peak_mb:.0f} MB",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
