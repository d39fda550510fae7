"""The user's wait, end to end: ``nervplayer fit`` against the public-code-style loop (benches/public_loop.py), each
as its own process from start to results written, one after the other, same clip, model, seed, lr and epochs.

    python benches/end_to_end.py /work/shared/data/bigbuckbunny.mp4 --scales 0.125 0.25 --epochs 2 20

For every (scale, epochs): the wall time of each process, the speed-up, the PSNR each reached (both evaluate all
frames at the end with nervplayer's metrics), and how much of the wall is outside the epochs (imports, decoding,
resizing, hashing, warm-up, final evaluation, writes): nervplayer's from its run folder (``elapsed`` is the time
in its epochs), the public loop's from its own epoch timer. Run it on a quiet machine: the ratio is the result.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def one_pair(args: argparse.Namespace, scale: float, epochs: int, tmp: Path) -> list[dict]:
    common = ["--scale", str(scale), "--epochs", str(epochs), "--preset", args.preset, "--lr", str(args.lr)]
    common += ["--seed", str(args.seed), "--device", args.device]
    public_json = tmp / f"public-{scale}-{epochs}.json"
    public_cmd = [sys.executable, str(HERE / "public_loop.py"), args.video, *common]
    public_wall = timed([*public_cmd, "--workers", str(args.workers), "--json", str(public_json)])
    public = json.loads(public_json.read_text())
    run = tmp / f"ours-{scale}-{epochs}"
    ours_cmd = [sys.executable, "-m", "nervplayer", "fit", args.video, "-o", str(run), *common]
    ours_wall = timed([*ours_cmd, "--eval-every", str(epochs)])  # one evaluation at the end, as the public loop
    with open(run / "metrics.csv", newline="") as f:
        last = list(csv.DictReader(f))[-1]
    size = f"{public['width']}x{public['height']}"
    return [
        {"loop": "public-code style", "size": size, "epochs": epochs, "wall": public_wall,
         "in_epochs": public["seconds"], "psnr": public["psnr"]},
        {"loop": "nervplayer fit", "size": size, "epochs": epochs, "wall": ours_wall,
         "in_epochs": float(last["elapsed"]), "psnr": float(last["psnr"])},
    ]  # fmt: skip


def table(rows: list[dict]) -> str:
    lines = [
        "| size | epochs | loop | wall s | in epochs s | fixed cost | speed-up | PSNR dB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for public, ours in zip(rows[::2], rows[1::2]):
        for r in (public, ours):
            fixed = (r["wall"] - r["in_epochs"]) / r["wall"]
            lines.append(
                f"| {r['size']} | {r['epochs']} | {r['loop']} | {r['wall']:.1f} | {r['in_epochs']:.1f} | "
                f"{fixed:.0%} | {public['wall'] / r['wall']:.2f}× | {r['psnr']:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video")
    p.add_argument("--scales", type=float, nargs="+", default=[0.125, 0.25])
    p.add_argument("--epochs", type=int, nargs="+", default=[2, 20])
    p.add_argument("--preset", default="nerv-s")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=0, help="the public loop's DataLoader workers (0: fastest here)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="nerv-e2e-") as tmp:
        for scale in args.scales:
            for epochs in args.epochs:
                rows += one_pair(args, scale, epochs, Path(tmp))
                print("\n".join(table(rows[-2:]).splitlines()[-2:]), file=sys.stderr, flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
