"""``nervplayer fit VIDEO --time 10m -o RUN``: plan the fit to the budget, print the plan, fit (stopping at the
time), compress the result into ``RUN/<clip>.nerv``, and print the plan against what happened. What the user fixed
with other options stays fixed (nervplayer/plan/budget.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from ..codec import Compressed, Compressor, Stage
from ..errors import ConfigError
from ..plan import compress_options, fit_config, outcome, parse_duration, plan_clip
from ..plan.clock import process_age
from ..train import FitConfig, Fitter
from .interrupt import cancel_on_ctrl_c


def given_options(args: argparse.Namespace) -> set[str]:
    """The plan's choices the user made on the command line."""
    given = {name for name in ("arch", "preset", "budget", "lr", "epochs", "eval_every") if getattr(args, name)}
    return given | ({"size"} if args.size or args.scale else set())


def main(args: argparse.Namespace, config: FitConfig, drive_fit: Callable[[Fitter, Path], int]) -> int:
    """``drive_fit`` runs the fit with the progress ``nervplayer fit`` shows (cli/fit.py)."""
    seconds = parse_duration(args.time)
    if args.resume:
        raise ConfigError("--time plans a new fit; resume a run with --resume alone (it keeps its time limit)")
    given = given_options(args)
    planned = plan_clip(config, seconds, given)
    print(f"plan: {planned.plan.line()} (probe {planned.probe_seconds:.1f} s)", flush=True)
    marks = {"planned": process_age()}
    fitter = Fitter(fit_config(planned, given), args.output)
    marks["decoded"] = process_age()
    try:
        with cancel_on_ctrl_c(fitter.cancel):
            status = drive_fit(fitter, args.output)
        if status != 0:
            return status
        marks["fitted"] = process_age()
        nerv = Path(args.output) / f"{Path(config.video).stem}.nerv"
        compressor = Compressor(args.output, nerv, compress_options(planned), reference=fitter.store)
        with cancel_on_ctrl_c(compressor.cancel):
            report = _compress(compressor)
    finally:
        fitter.store.close()
    if report is None:
        print("stopped while compressing; rerun 'nervplayer compress' on the run to finish", file=sys.stderr)
        return 130
    psnr = report.metrics.get("psnr")
    print(f"wrote {nerv}: {report.file_bytes:,} bytes, {report.bpp:.4f} bpp")
    marks["compressed"] = process_age()
    print(outcome(planned.plan, marks, psnr, report.file_bytes))
    return 0


def _compress(compressor: Compressor) -> Compressed | None:
    """Run the compression, naming each stage on stderr; its report, or None when cancelled."""
    for ev in compressor.run():
        if isinstance(ev, Stage):
            print(f"{ev.name}: {ev.detail}", file=sys.stderr)
        elif isinstance(ev, Compressed):
            return ev
    return None
