"""What a long fit reached: epochs, training time, seconds per epoch, PSNR, and the time the full schedule takes
(measured when the fit finished, projected from its speed when it was cut short).

    python benches/fit_summary.py RUN [--epochs 1200] [--json out.json]

Reads RUN/metrics.csv (one row per evaluation; ``elapsed`` is the training time so far) and RUN/config.json.
Used by benches/gpu.sh after each full fit.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def summarise(run: Path, epochs: int) -> dict:
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"{run}: no evaluation yet")
    config = json.loads((run / "config.json").read_text())
    last = rows[-1]
    done, elapsed = int(last["epoch"]), float(last["elapsed"])
    return {
        "run": str(run),
        "arch": config["fit"].get("arch", "nerv"),
        "size": f"{config['model']['width']}x{config['model']['height']}",
        "epochs_done": done,
        "epochs": epochs,
        "seconds": elapsed,
        "s_per_epoch": elapsed / done,
        "seconds_to_epochs": elapsed if done >= epochs else elapsed / done * epochs,
        "projected": done < epochs,
        "psnr": float(last["psnr"]),
        "ms_ssim": float(last["ms_ssim"]),
        "best_psnr": max(float(r["psnr"]) for r in rows),
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--epochs", type=int, default=1200)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    s = summarise(args.run, args.epochs)
    to = f"{s['seconds_to_epochs'] / 60:.1f} min" + (" (projected)" if s["projected"] else "")
    head = f"| model | size | epochs done | training s | s/epoch | time to {s['epochs']} epochs | PSNR | MS-SSIM |"
    print(head)
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {s['arch']} | {s['size']} | {s['epochs_done']} | {s['seconds']:.0f} | {s['s_per_epoch']:.3f} | {to} | "
        f"{s['psnr']:.2f} dB | {s['ms_ssim']:.4f} |"
    )
    if args.json:
        args.json.write_text(json.dumps(s, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
