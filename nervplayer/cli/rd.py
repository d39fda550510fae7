"""``nervplayer rd RUN [RUN ...] --source VIDEO -o rd.json``: each run's prune × bits sweep (or its learned-step
file, or one file per ``--targets`` entry by rate control), Pareto fronts on one plot and in one JSON, classic
codecs and BD-rates against x264 medium."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..codec import CompressOptions
from ..codec.bdrate import bd_rate
from ..codec.classic import CODECS
from ..codec.entropy import CODERS
from ..codec.pipeline import source_reference
from ..codec.ratecontrol import SIZE_HELP, Target, TargetUnreachable, parse_target, summary
from ..codec.rd import (
    RDPoint,
    RDResult,
    classic,
    crossings,
    plot,
    rate_at_equal_quality,
    sweep,
    targeted,
    write_json,
)
from ..device import resolve_device
from ..errors import ConfigError
from ..segments.fit import SegmentPlan, is_segmented
from ..segments.rd import segmented_reference, segmented_sweep
from ..train import Evaluated, Run, open_run
from ..video import FrameStore
from .options import Parser, output_file


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x]
    except ValueError:
        raise ConfigError(f"expected comma-separated numbers, got {text!r}") from None


def _targets(text: str) -> list[Target]:
    try:
        return [parse_target(part) for part in text.split(",") if part.strip()]
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _runs(text: str) -> list[Path]:
    return [Path(part) for part in text.split(",") if part]


def main(argv: list[str]) -> int:
    p = Parser(
        prog="nervplayer rd",
        description="Rate-distortion of runs: every prune ratio x bit width of a run "
        "is compressed to a real .nerv file and measured (a rate-aware run gives one file, its learned "
        "steps); each RUN is one curve (RUN1,RUN2,... joins runs into one, e.g. a --rate-lambda sweep); "
        "the Pareto fronts go to one CompressAI-style JSON and a PNG plot, with each curve's BD-rate "
        "against x264 medium under --codecs.",
    )
    p.add_argument("run", type=_runs, nargs="+", metavar="RUN[,RUN...]")
    p.add_argument("--source", help="the video the runs were fitted to (default: the path recorded in the run)")
    p.add_argument(
        "-o", "--output", type=output_file, required=True, help="JSON file to write (the plot goes beside it)"
    )
    p.add_argument("--prunes", default="0,0.2,0.4,0.6", help="fractions removed (default 0,0.2,0.4,0.6)")
    p.add_argument("--bits", default="4,5,6,8,10", help="bit widths (default 4,5,6,8,10)")
    p.add_argument(
        "--targets",
        type=_targets,
        metavar="T[,T...]",
        help="instead of the sweep, one file per target, by rate control: a size cap ("
        + SIZE_HELP.replace("%", "%%")
        + "), bpp:VALUE (a cap in bits per pixel) or psnr:DB (the smallest file reaching it), e.g. "
        "100KB,200KB,psnr:30",
    )
    p.add_argument("--finetune-epochs", type=int, default=50)
    p.add_argument("--per-tensor", action="store_true")
    p.add_argument("--coder", choices=CODERS, default="ans")
    p.add_argument("--layer-bits", action="store_true", help="per-layer bit widths at each point")
    p.add_argument("--qat", action="store_true", help="quantization-aware fine-tuning (one fine-tune per point)")
    p.add_argument(
        "--codecs",
        action="store_true",
        help="also x264, x265 and SVT-AV1 through PyAV, same frames; BD-rate of every curve against x264 medium",
    )
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    prunes, bits = _floats(args.prunes), [int(b) for b in _floats(args.bits)]
    base = CompressOptions(
        finetune_epochs=args.finetune_epochs,
        per_channel=not args.per_tensor,
        coder=args.coder,
        layer_bits=args.layer_bits,
        qat=args.qat,
        device=args.device,
    )
    for b in bits:
        CompressOptions(bits=b).validate()
    for pr in prunes:
        CompressOptions(prune=pr).validate()
    files = args.output.with_suffix(".files")
    if any(is_segmented(path) for group in args.run for path in group):
        if len(args.run) > 1 or len(args.run[0]) > 1 or args.targets:
            raise ConfigError("a segmented run is measured alone: one RUN, its prune x bits sweep (no --targets)")
        run_dir = args.run[0][0]
        plan, reference, fps = segmented_reference(run_dir, args.source, resolve_device(args.device))
        curves = [_segmented_curve(run_dir, plan, prunes, bits, base, files, reference, args)]
    else:
        groups = [[open_run(path) for path in group] for group in args.run]
        first = groups[0][0]
        for run in (r for g in groups for r in g):
            if (run.source["sha256"], run.source["start"], run.source["end"], run.source["size"]) != (
                first.source["sha256"],
                first.source["start"],
                first.source["end"],
                first.source["size"],
            ):
                raise ConfigError(
                    f"{run.path} was fitted to other frames than {first.path} (clip, range or size "
                    "differ): one plot compares runs of the same frames"
                )
        reference, fps = source_reference(first, args.source, resolve_device(args.device)), float(first.source["fps"])
        curves = [_curve(group, prunes, bits, base, files, reference, args, k) for k, group in enumerate(groups)]
    codecs: list[RDResult] = []
    extra: dict = {}
    if args.codecs:
        for codec in CODECS:
            pts = []
            for item in classic(reference, fps, codec):
                pts.append(item)
                print(
                    f"{codec:<9} {item.label:<8} {item.bpp:8.4f} bpp  PSNR {item.psnr:6.2f} dB  "
                    f"MS-SSIM {item.ms_ssim:.4f}",
                    file=sys.stderr,
                )
            r = RDResult(codec, f"{codec} through PyAV, yuv420p MP4, same frames; bpp = file bytes", pts)
            write_json(r, args.output.with_suffix(f".{codec}.json"))
            codecs.append(r)
            cross = crossings(curves[0].front(), pts)
            equal = rate_at_equal_quality(curves[0].front(), pts)
            extra.setdefault("crossings", {})[codec] = cross
            extra.setdefault("rate_at_equal_psnr", {})[codec] = equal
            where = ", ".join(f"{c['bpp']:.4f} bpp / {c['psnr']:.2f} dB" for c in cross) or "none in the common range"
            print(f"{curves[0].name} front crosses {codec}: {where}")
            for e in equal:
                print(
                    f"  at {e['psnr']:.2f} dB: {e['bpp']:.4f} bpp, {codec} {e['other_bpp']:.4f} bpp "
                    f"({e['bpp'] / e['other_bpp']:.1f}x)"
                )
        x264 = next(c for c in codecs if c.name == "libx264")
        extra["bd_rate_vs_x264_medium"] = {}
        for curve in curves + [c for c in codecs if c is not x264]:
            front = curve.front() if curve in curves else curve.points
            bd = bd_rate(
                [q.bpp for q in x264.points],
                [q.psnr for q in x264.points],
                [q.bpp for q in front],
                [q.psnr for q in front],
            )
            extra["bd_rate_vs_x264_medium"][curve.name] = bd.to_dict()
            said = (
                f"{bd.percent:+.1f} % over {bd.overlap[0]:.2f}-{bd.overlap[1]:.2f} dB"
                f"{f' ({bd.note})' if bd.note else ''}"
                if bd.percent is not None and bd.overlap is not None
                else f"none: {bd.note}"
            )
            print(f"BD-rate of {curve.name} against x264 medium: {said}")
    extra["curves"] = [c.compressai() for c in curves] + [c.compressai(pareto=False) for c in codecs]
    write_json(curves[0], args.output, extra)
    plot(curves, codecs, args.output.with_suffix(".png"), curves[0].description.split(";")[0])
    for curve in curves:
        for pt in curve.front():
            print(
                f"{curve.name} front {pt.label:<14} {pt.bpp:.4f} bpp  PSNR {pt.psnr:.2f} dB  MS-SSIM {pt.ms_ssim:.4f}"
            )
    print(f"wrote {args.output}, {args.output.with_suffix('.png')} and the files in {files}/")
    return 0


def _curve(
    group: list[Run],
    prunes: list[float],
    bits: list[int],
    base: CompressOptions,
    files: Path,
    reference: FrameStore,
    args: argparse.Namespace,
    index: int,
) -> RDResult:
    """One curve: the points of every run in ``group`` (their Pareto front is what is compared)."""
    points: list[RDPoint] = []
    for run in group:
        name = run.path.name
        items = (
            targeted(run.path, args.targets, base, files / f"{index}-{name}", reference, args.source)
            if args.targets
            else sweep(run.path, prunes, bits, base, files / f"{index}-{name}", reference, args.source)
        )
        for item in items:
            if isinstance(item, TargetUnreachable):
                print(f"{name}: {item}", file=sys.stderr)
            elif isinstance(item, RDPoint):
                if args.targets:
                    target = Target.from_dict(item.params["target"])
                    measured = item.params.get("target_psnr") or item.psnr
                    print(f"{name} {summary(target, item.bytes, item.bpp, measured)}", file=sys.stderr)
                item.label = f"{name} {item.label}" if len(group) > 1 else item.label
                points.append(item)
                print(
                    f"{name} {item.label:<14} {item.bpp:8.4f} bpp  PSNR {item.psnr:6.2f} dB  "
                    f"MS-SSIM {item.ms_ssim:.4f}  decode {item.decoding_time:6.2f} s",
                    file=sys.stderr,
                )
            elif isinstance(item, Evaluated):
                print(f"  fine-tuned: PSNR {item.psnr:.2f} dB", file=sys.stderr)
    spec, src = group[0].model_spec, group[0].source
    preset = group[0].fit_config.preset
    label = f"{spec.arch}{f' {preset}' if preset else ''} ({', '.join(r.path.name for r in group)})"
    return RDResult(
        label,
        f"{src['name']} frames {src['start']}:{src['end']} at {src['size'][1]}x{src['size'][0]}; "
        + (
            f"rate control to {', '.join(t.label() for t in args.targets)}, "
            if args.targets
            else f"prune ratios {prunes} x bits {bits} (rate-aware runs: their learned steps), "
        )
        + f"{args.finetune_epochs} fine-tune epochs, {'per-tensor' if args.per_tensor else 'per-channel'}, "
        f"{args.coder}; bpp = file bytes; times in seconds for the whole clip (encoding = quantize + "
        "code, fitting excluded)",
        points,
    )


def _segmented_curve(
    run_dir: Path,
    plan: SegmentPlan,
    prunes: list[float],
    bits: list[int],
    base: CompressOptions,
    files: Path,
    reference: FrameStore,
    args: argparse.Namespace,
) -> RDResult:
    """The curve of a segmented run: each point a gathered file, with its seam table (in the JSON's points)."""
    points: list[RDPoint] = []
    for item in segmented_sweep(run_dir, plan, prunes, bits, base, files / run_dir.name, reference):
        if isinstance(item, RDPoint):
            points.append(item)
            flagged = sum(s["flagged"] or s.get("flicker", {}).get("flagged", False) for s in item.params["seams"])
            print(
                f"{run_dir.name} {item.label:<14} {item.bpp:8.4f} bpp  PSNR {item.psnr:6.2f} dB  "
                f"MS-SSIM {item.ms_ssim:.4f}  {len(item.params['seams'])} seams ({flagged} flagged)",
                file=sys.stderr,
            )
        elif isinstance(item, Evaluated):
            print(f"  fine-tuned: PSNR {item.psnr:.2f} dB", file=sys.stderr)
    config, (start, end) = plan.fit_config, (plan.segments[0][0], plan.segments[-1][1])
    return RDResult(
        f"{config.arch} in {len(plan.segments)} segments ({run_dir.name})",
        f"{plan.source['name']} frames {start}:{end} in {len(plan.segments)} segments (warm start "
        f"{plan.warm_start}); prune ratios {prunes} x bits {bits}, {args.finetune_epochs} fine-tune epochs per "
        f"segment, {'per-tensor' if args.per_tensor else 'per-channel'}, {args.coder}; bpp = the gathered file's "
        "bytes; each point's params hold its seam table; times in seconds for the whole clip",
        points,
    )
