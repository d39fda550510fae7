"""``nervplayer fit VIDEO --time 10m -o RUN``: plan the fit to the budget, print the plan, fit (stopping at the
time), compress the result into ``RUN/<clip>.nerv``, and print the plan against what happened. What the user fixed
with other options stays fixed (nervplayer/plan/budget.py).

A plan of several segments (a long clip), or ``--segment N|auto`` (N: the segment length the planner must take;
auto: the planner's), runs the segmented fit (nervplayer/segments/fit.py) with the plan's model, frame size, epochs
and compression; the plan's fit time is shared among the segments' fits (:func:`~nervplayer.segments.fit.time_limits`):
one after another under the default warm start ``previous``, each its share of the frames; with ``cold`` or
``base`` on W workers, W at once in ⌈S / W⌉ waves, each the segments' time over the waves (after the base model's
share of the frames). Without ``--workers`` or ``--cluster``, a warm start ``previous`` runs the segments in this
process, on the threads the probe measured.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from ..codec import Compressed, Compressor, Stage
from ..codec.nervfile import load_any
from ..codec.ratecontrol import record_target, summary
from ..jobs import Executor, SerialExecutor
from ..plan import Planned, compress_options, fit_config, outcome, parse_duration, plan_clip
from ..plan.clock import process_age
from ..segments.fit import DEFAULT_WARM_START, SegmentPlan, plan_segments
from ..segments.split import check_length
from ..train import FitConfig, Fitter
from ..train.fit import clip_frames
from .interrupt import cancel_on_ctrl_c
from .options import executor_from_args

RunSegments = Callable[[SegmentPlan, Executor], int]  # runs a segmented fit as ``nervplayer fit --segment`` does


def given_options(args: argparse.Namespace) -> set[str]:
    """The plan's choices the user made on the command line."""
    given = {name for name in ("arch", "preset", "budget", "lr", "epochs", "eval_every") if getattr(args, name)}
    return given | ({"size"} if args.size or args.scale else set())


def main(
    args: argparse.Namespace, config: FitConfig, drive_fit: Callable[[Fitter, Path], int], run_segments: RunSegments
) -> int:
    """``drive_fit`` runs the fit with the progress ``nervplayer fit`` shows, ``run_segments`` the segmented fit
    (cli/fit.py)."""
    seconds = parse_duration(args.time)
    given = given_options(args)
    info, _, frames = clip_frames(config)
    length = args.segment if isinstance(args.segment, int) else None
    if length is not None:
        check_length(length, frames.num_frames)
    executor = _executor(args) if args.segment is not None else None  # a bad cluster fails before the probe
    planned = plan_clip(config, seconds, given, info, max_segments=None, segment_frames=length, target=args.target)
    aim = f" · target {args.target.label()}" if args.target is not None else ""
    print(f"plan: {planned.plan.line()}{aim} (probe {planned.probe_seconds:.1f} s)", flush=True)
    if args.segment is not None or planned.plan.segments > 1:
        return _fit_segments(args, planned, given, executor, run_segments)
    marks = {"planned": process_age()}
    fitter = Fitter(fit_config(planned, given), args.output)
    if args.target is not None:
        record_target(Path(args.output), args.target)  # a later 'nervplayer compress RUN' meets it too
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
    if report.target is not None:
        print(summary(report.target, report.file_bytes, report.bpp, psnr))
    marks["compressed"] = process_age()
    print(outcome(planned.plan, marks, psnr, report.file_bytes))
    return 0


def _fit_segments(
    args: argparse.Namespace, planned: Planned, given: set[str], executor: Executor | None, run_segments: RunSegments
) -> int:
    """The segmented fit of ``planned``, then the plan against what happened."""
    marks = {"planned": process_age()}
    config = fit_config(planned, given)  # its time limit: all the segments' fits
    warm_start = args.warm_start or DEFAULT_WARM_START
    plan = plan_segments(config, args.output, planned.plan.segment_frames, warm_start, compress_options(planned))
    marks["cut"] = process_age()
    status = run_segments(plan, executor or _executor(args))
    if status != 0:
        return status
    nerv = Path(args.output) / f"{Path(config.video).stem}.nerv"
    psnr, file_bytes = load_any(nerv).metrics.get("psnr"), nerv.stat().st_size
    marks["fitted and compressed"] = process_age()
    print(outcome(planned.plan, marks, psnr, file_bytes))
    return 0


def _executor(args: argparse.Namespace) -> Executor:
    """Where the segments run: as ``--workers``/``--cluster`` say; without them, a warm start ``previous`` (one
    segment at a time) runs in this process, on the threads the probe measured fastest."""
    sequential = (args.warm_start or DEFAULT_WARM_START) == "previous"
    if sequential and args.workers is None and args.cluster is None and not os.environ.get("RAY_ADDRESS"):
        return SerialExecutor()
    return executor_from_args(args)


def _compress(compressor: Compressor) -> Compressed | None:
    """Run the compression, naming each stage on stderr; its report, or None when cancelled."""
    for ev in compressor.run():
        if isinstance(ev, Stage):
            print(f"{ev.name}: {ev.detail}", file=sys.stderr)
        elif isinstance(ev, Compressed):
            return ev
    return None
