"""What one redraw of the live training charts costs the GUI thread, for fits of several lengths, this checkout
against another (say the commit before a change).

    QT_QPA_PLATFORM=offscreen python benches/chart_redraw.py --baseline /work/before --steps 2000 50000 150000

Each checkout runs in a worker process that imports its own ``nervplayer`` (``PYTHONPATH``): the charts of the
window (1280×300, offscreen, software rendering) are fed a fit's events (a loss per step, an evaluation every 500
steps, the planned epochs where the checkout's charts take them), then, ``--updates`` times, five more steps
arrive and the charts redraw and paint as the window's timer makes them (``redraw()``, then the event loop until
the paint is done). The time is the process's CPU time (with one thread, what the GUI thread spends, whatever the
neighbours do) and the wall time; the median and the longest update are printed per fit length.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WORKER = r"""
import json, os, sys, time
from PySide6.QtWidgets import QApplication
app = QApplication([])
import numpy as np
from nervplayer.gui.charts import FitCharts
from nervplayer.train import Evaluated, Started, Step

steps, updates = int(sys.argv[1]), int(sys.argv[2])
charts = FitCharts()
charts.resize(1280, 300)
charts.show()
app.processEvents()
epochs = (steps + 5 * updates) / 100
charts.add(Started(1000, "cpu", "fp32", 100, 100, 180, 320, int(epochs) + 1, 0.0, 100, "memory"))
rng = np.random.default_rng(0)
k = 0

def feed(n):
    global k
    for _ in range(n):
        k += 1
        charts.add(Step(k / 100, k, 0.02 + 0.2 * np.exp(-k / (steps / 5)) * (1 + 0.3 * rng.random()), 5e-4))
        if k % 500 == 0:
            psnr = 20 + 8 * (1 - np.exp(-k / steps))
            charts.add(Evaluated(k // 100, k, psnr, 0.9, psnr, None, 0.9, None, [psnr], 1.0, 1.0))

feed(steps)
charts.redraw()
app.processEvents()
cpu, wall = [], []
for _ in range(updates):
    feed(5)
    c0, w0 = time.process_time(), time.perf_counter()
    charts.redraw()
    app.processEvents()
    cpu.append(1e3 * (time.process_time() - c0))
    wall.append(1e3 * (time.perf_counter() - w0))
print(json.dumps({"cpu": cpu, "wall": wall}))
"""


def measure(tree: Path, steps: int, updates: int) -> dict[str, list[float]]:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen")
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(steps), str(updates)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
    )
    result: dict[str, list[float]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to measure the same way, first")
    parser.add_argument("--steps", type=int, nargs="+", default=[2000, 50000, 150000])
    parser.add_argument("--updates", type=int, default=20)
    args = parser.parse_args()
    trees = [(args.baseline, "baseline")] if args.baseline else []
    trees.append((Path(__file__).resolve().parent.parent, "this checkout"))
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| checkout | steps | CPU ms median | CPU ms max | wall ms median | wall ms max |")
    print("|---|---|---|---|---|---|")
    for steps in args.steps:
        for tree, label in trees:
            r = measure(tree, steps, args.updates)
            print(
                f"| {label} | {steps:,} | {statistics.median(r['cpu']):.1f} | {max(r['cpu']):.1f} | "
                f"{statistics.median(r['wall']):.1f} | {max(r['wall']):.1f} |",
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
