"""``nervplayer study NAME VIDEO -o DIR [fit options]``: one classic NeRV experiment, as run folders + summary.

Every ``nervplayer fit`` option sets the base configuration the study varies. Rerunning the same command
continues an interrupted study; finished runs are never refitted.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError
from ..study import (
    STUDIES,
    RunSkipped,
    RunStarting,
    StudyFinished,
    StudyRunner,
    get_study,
    list_studies,
    open_study,
    split_values,
)
from ..train import Evaluated, Finished, Started
from . import fit
from .interrupt import cancel_on_ctrl_c
from .options import Parser


def build_parser() -> Parser:
    p = Parser(
        prog="nervplayer study",
        add_help=False,
        description="Run a classic NeRV study: each variant a normal, resumable run folder under DIR/runs/, "
        "then DIR/summary.csv, summary.json and summary.png. Every 'nervplayer fit' option (see "
        "'nervplayer fit --help') sets the base configuration. Studies: "
        + "; ".join(f"{s.name}: {s.description}" for s in STUDIES.values())
        + ".",
    )
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("name", nargs="?", help="the study: " + ", ".join(list_studies()))
    p.add_argument(
        "--values",
        help="comma-separated values to compare instead of the study's defaults "
        "(e.g. --values 1e-3,3e-3 for lr; activation ids; alpha=0.3 for the loss curve)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="scale every run down for a first look (nerv-xs, 160 px wide, 32 frames, a tenth of the epochs)",
    )
    p.add_argument("--list", action="store_true", help="list the studies and exit")
    p.add_argument("--show", type=Path, metavar="DIR", help="print a study folder's summary (rebuilt from its runs)")
    return p


def main(argv: list[str]) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.help:
        parser.print_help()
        return 0
    if args.list:
        for s in STUDIES.values():
            defaults = ", ".join(s.default_values) or "-"
            print(f"{s.name:<11} {s.description} (values: {defaults})")
        return 0
    if args.show is not None:
        outputs = open_study(args.show)
        _print_table(outputs.rows, outputs.damaged)
        print(f"summary: {outputs.csv}, {outputs.json}" + (f", {outputs.png}" if outputs.png else ""))
        return 0
    if args.name is None:
        raise ConfigError(f"which study? available: {', '.join(list_studies())}")
    study = get_study(args.name)
    fit_parser = fit.build_parser()
    fit_parser.prog = "nervplayer study"
    fit_args = fit_parser.parse_args(rest)
    if fit_args.resume:
        raise ConfigError("a study continues by itself: run the same command again (without --resume)")
    base = fit.config_from_args(fit_args)
    runner = StudyRunner(study, base, fit_args.output, split_values(args.values), quick=args.quick)

    with cancel_on_ctrl_c(runner.cancel):  # the current run checkpoints, the study stops
        return _drive(runner, fit_args.output)


def _drive(runner: StudyRunner, out: Path) -> int:
    current, result = "", None
    for ev in runner.run():
        if isinstance(ev, RunSkipped):
            print(f"[{ev.index + 1}/{ev.total}] {ev.variant.label}: already done", file=sys.stderr)
        elif isinstance(ev, RunStarting):
            current = f"[{ev.index + 1}/{ev.total}] {ev.variant.label}"
            print(f"{current}: {'resuming' if ev.resumed else 'fitting'} into {ev.run_dir}", file=sys.stderr)
        elif isinstance(ev, Started):
            print(
                f"{current}: {ev.num_params:,} params, {ev.train_frames} frames at {ev.width}x{ev.height}, "
                f"{ev.epochs} epochs on {ev.device}",
                file=sys.stderr,
            )
        elif isinstance(ev, Evaluated):
            unseen = f", unseen {ev.psnr_unseen:.2f} dB" if ev.psnr_unseen is not None else ""
            print(
                f"{current}: epoch {ev.epoch}: PSNR {ev.psnr:.2f} dB, MS-SSIM {ev.ms_ssim:.4f}{unseen} "
                f"({ev.seconds_per_epoch:.2f} s/epoch)",
                file=sys.stderr,
            )
        elif isinstance(ev, Finished) and ev.status == "completed":
            print(f"{current}: done in {ev.elapsed:.1f} s", file=sys.stderr)
        elif isinstance(ev, StudyFinished):
            result = ev
    assert result is not None  # the runner always ends with StudyFinished
    outputs = result.outputs
    if result.status == "cancelled":
        print(f"study stopped; run the same command again to continue it ({out})", file=sys.stderr)
        return 130
    _print_table(outputs.rows, outputs.damaged)
    plot = f", {outputs.png}" if outputs.png else " (no plot: pip install 'nervplayer[plot]')"
    print(f"summary: {outputs.csv}, {outputs.json}{plot}")
    return 0


def _print_table(rows: list[dict], damaged: list[str]) -> None:
    for line in damaged:  # skipped metrics lines: the table holds the rest
        print(f"warning: {line}", file=sys.stderr)

    def fmt(v: float | None, spec: str) -> str:
        return "–" if v is None else format(v, spec)

    print(f"{'run':<24} {'params':>10} {'epoch':>6} {'PSNR':>7} {'MS-SSIM':>8} {'unseen':>7} {'s/epoch':>8}")
    for r in rows:
        print(
            f"{r['label']:<24} {fmt(r['params'], ',d'):>10} {fmt(r['epoch'], 'd'):>6} {fmt(r['psnr'], '.2f'):>7} "
            f"{fmt(r['ms_ssim'], '.4f'):>8} {fmt(r['psnr_unseen'], '.2f'):>7} "
            f"{fmt(r['seconds_per_epoch'], '.2f'):>8}"
        )
