"""``nervplayer fit VIDEO -o RUN``: fit a model (HNeRV by default, any ``model`` plugin with ``--arch``) to a video,
with a progress bar; Ctrl-C checkpoints and stops."""

from __future__ import annotations

import argparse
import collections
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from ..codec.pipeline import CompressOptions
from ..errors import ConfigError, ResumeError
from ..jobs import Executor, JobsCancelled
from ..model import architectures
from ..segments.fit import (
    DEFAULT_WARM_START,
    WARM_STARTS,
    SegmentedFit,
    SegmentPlan,
    is_segmented,
    load_plan,
    plan_segments,
)
from ..segments.job import SegmentResult
from ..train import Checkpointed, Evaluated, Finished, FitConfig, Fitter, Started, Step, open_run
from ..train.config import (
    DEFAULT_ARCH,
    DEFAULT_DENSITY,
    DEFAULT_SEGMENT_ARCH,
    DEFAULT_SIZE,
    MAX_STARTS,
    OPTIMIZERS,
    RATE_MODELS,
)
from ..train.distributed import leave
from .interrupt import cancel_on_ctrl_c
from .options import (
    Parser,
    add_executor,
    add_model_size,
    add_targets,
    executor_from_args,
    frame_range,
    frame_size,
    key_values,
    target_outcome,
)

if TYPE_CHECKING:  # tqdm is imported when a bar is shown
    from tqdm import tqdm


def segment_length(text: str) -> int | str:
    """``--segment``: a frame count, or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a frame count or auto, got {text!r}") from None


def build_parser() -> Parser:
    p = Parser(
        prog="nervplayer fit",
        description="Fit a neural video model to a video file or a folder of PNG/JPEG frames. "
        f"Defaults: {DEFAULT_ARCH} as big as {DEFAULT_SIZE} (the same stored values, at most {DEFAULT_DENSITY:g} a "
        "pixel of the clip), trained rate-aware on MSE at its own learning rate (--loss l2 --rate-lambda 0.002 --lr "
        "5e-3), otherwise the paper's recipe (1200 epochs, Adam(0.5, 0.999), warmup+cosine; Fusion6 for the other "
        "models); in segments, "
        f"{DEFAULT_SEGMENT_ARCH}; the paper's NeRV-S is --preset nerv-s.",
    )
    p.add_argument("video", nargs="?", help="video file or frame folder (optional with --resume)")
    p.add_argument("-o", "--output", required=True, type=Path, help="run folder to write")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --output where it stopped; with --epochs N above the epochs done, "
        "extend a finished run (the schedule continues as an N-epoch run would: the learning "
        "rate at each epoch is the one a run started with --epochs N has there)",
    )
    p.add_argument(
        "--time",
        metavar="DURATION",
        help="a time budget (90s, 10m, 1h30m) for the whole way to a playable RUN/<clip>.nerv: plans the model, "
        "frame size, segments (a long clip, or --segment) and epochs (options given here stay fixed), fits until the "
        "time, compresses",
    )
    p.add_argument(
        "--arch",
        help=f"model plugin: {DEFAULT_ARCH} (default; the best rate-distortion measured, docs/models.md), hnerv "
        f"(default with --segment), nerv, or an installed one; without it, a --preset of one model (nerv-s, "
        "nerv-xs...) picks that model",
    )
    add_model_size(
        p,
        f"default: the stored values {DEFAULT_SIZE} has at the frame size, at most {DEFAULT_DENSITY:g} a pixel of "
        "the clip (nerv: the preset nerv-s)",
    )
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float, help="learning rate (default: the model's, grid 5e-3, others 5e-4)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--scale-lr", action="store_true", default=None, help="multiply lr by the batch size")
    p.add_argument("--activation", help="activation plugin id (default silu)")
    p.add_argument("--activation-param", action="append", metavar="K=V")
    p.add_argument("--loss", help="loss plugin id (default: the model's, l2 for grid, fusion6 for others)")
    p.add_argument("--loss-param", action="append", metavar="K=V")
    p.add_argument("--scheduler", help="LR scheduler plugin id (default warmup-cosine)")
    p.add_argument("--scheduler-param", action="append", metavar="K=V")
    p.add_argument("--frames", type=frame_range, metavar="START:END", help="frame range (END exclusive)")
    p.add_argument("--stride", type=int, help="train on every k-th frame; the others are evaluated as unseen")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", type=frame_size, metavar="WxH", help="resize frames to WxH")
    size.add_argument("--scale", type=float, help="resize frames by this factor")
    p.add_argument(
        "--model",
        action="append",
        metavar="K=V",
        help="model parameter, e.g. stem_dim=1024, fc_c=58, strides=[5,2,2], pe_levels=80 (nerv); "
        "'nervplayer plugins' lists each model's",
    )
    p.add_argument(
        "--qat",
        action=argparse.BooleanOptionalAction,
        help="quantization-aware training: quantize every stored tensor with a learned step during the fit (default: "
        "the model's recipe, on for grid); --no-qat fits without it and without a rate term",
    )
    p.add_argument("--qat-bits", type=int, help="bit width the learned steps start from (default 8)")
    p.add_argument(
        "--rate-lambda",
        type=float,
        help="weight of the rate term (estimated bits per pixel) in the loss; implies --qat (default: the model's "
        "recipe, 0.002 for grid; 0: none)",
    )
    p.add_argument(
        "--soft-rounding",
        action="store_true",
        default=None,
        help="round softly with annealed noise in training, hard in the final --hard-rounding share of the fit "
        "(C3 / Cool-chic's recipe); implies --qat",
    )
    p.add_argument(
        "--hard-rounding",
        type=float,
        metavar="SHARE",
        help="with --soft-rounding, the final share of the fit (0..1) that rounds hard (default 0.1)",
    )
    p.add_argument(
        "--rate-model",
        choices=RATE_MODELS,
        help="how the rate term prices a latent tensor: context (default), as the file's context model codes it, "
        "a symbol in a quiet neighbourhood dearer than in a busy one; laplace: one Laplace per tensor (docs/models.md)",
    )
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        help="adam (default), or soap: SOAP on the network's weight matrices and kernels, Adam on latents and "
        "biases (needs the soap extra: pip install 'nervplayer[soap]')",
    )
    p.add_argument(
        "--starts",
        type=int,
        metavar="N",
        help=f"fit N random draws briefly (3 %% of the fit in all) and go on from the best, 1..{MAX_STARTS} "
        "(default 1)",
    )
    p.add_argument(
        "--segment",
        type=segment_length,
        metavar="N|auto",
        help="fit the clip in segments of about N frames (auto: from the frame size and length), cut at scene "
        "changes where it can, one model each (these options), each quantized to 8 bits, gathered into "
        "RUN/<clip>.nerv",
    )
    p.add_argument(
        "--warm-start",
        choices=WARM_STARTS,
        help=f"with --segment, where each segment starts: cold, the previous segment's weights, or a base model "
        f"fitted on frames across the clip (default {DEFAULT_WARM_START}; docs/long-videos.md)",
    )
    add_executor(p)  # where a segmented fit's segments run
    add_targets(p, "recorded in the run folder: 'nervplayer compress RUN' meets it")
    p.add_argument("--device", help="auto | cuda | mps | cpu (default auto)")
    p.add_argument(
        "--precision", help="auto | fp32 | bf16 | fp16 (default auto: bf16 on CUDA and on CPUs with bf16 instructions)"
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--eval-every", type=int, help="epochs between evaluations (default 50)")
    p.add_argument("--checkpoint-every", type=int, help="epochs between checkpoints (default 10)")
    p.add_argument(
        "--cache-budget",
        type=int,
        metavar="MB",
        dest="cache_budget_mb",
        help="keep frames in memory up to this size, then stream them from a disk cache",
    )
    return p


def config_from_args(args: argparse.Namespace) -> FitConfig:
    """Options given on the command line over the defaults, or over the resumed run's config."""
    if args.resume:
        base = open_run(args.output).fit_config.to_dict()
    else:
        if args.video is None:
            raise ConfigError("a VIDEO to fit is required (or --resume with an existing run folder)")
        base = {}
    given = {
        "video": args.video,
        "preset": args.preset,
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "scale_lr": args.scale_lr,
        "activation": args.activation,
        "loss": args.loss,
        "scheduler": args.scheduler,
        "stride": args.stride,
        "size": args.size,
        "scale": args.scale,
        "device": args.device,
        "precision": args.precision,
        "seed": args.seed,
        "eval_every": args.eval_every,
        "checkpoint_every": args.checkpoint_every,
        "cache_budget_mb": args.cache_budget_mb,
        "arch": args.arch,
        "budget": args.budget,
        "qat": args.qat,
        "qat_bits": args.qat_bits,
        "rate_lambda": args.rate_lambda,
        "soft_rounding": args.soft_rounding,
        "hard_rounding": args.hard_rounding,
        "optimizer": args.optimizer,
        "starts": args.starts,
        "rate_model": args.rate_model,
    }
    if not args.resume or args.arch is not None:  # a resumed run keeps its architecture
        default = DEFAULT_SEGMENT_ARCH if args.segment is not None else DEFAULT_ARCH
        given["arch"] = architectures.arch_of(args.arch, args.preset, default)
    if (args.rate_lambda or args.soft_rounding) and args.qat is None:  # --no-qat with them is refused below
        given["qat"] = True
    if args.target is not None and args.rate_lambda is None and args.qat is None and not args.soft_rounding:
        # rate control meets a target after the fit, with the most room on a plain one (bits, pruning, step): not
        # the recipe's rate-aware training, whose learned steps may leave a size asked for out of reach
        given["qat"], given["rate_lambda"] = False, 0.0
    for kind in ("activation", "loss", "scheduler"):
        if getattr(args, f"{kind}_param"):
            given[f"{kind}_params"] = key_values(getattr(args, f"{kind}_param"), f"--{kind}-param")
    if args.model:
        given["model"] = key_values(args.model, "--model")
    if args.frames:
        given["start"], given["end"] = args.frames
    base.update({k: v for k, v in given.items() if v is not None})
    known = {f.name for f in fields(FitConfig)}
    config = FitConfig(**{k: v for k, v in base.items() if k in known})
    if args.hard_rounding is not None and not config.soft_rounding:
        raise ConfigError("--hard-rounding is the final share of a --soft-rounding fit; give --soft-rounding too")
    config.validate()  # before a plan's probes or a clip's decoding
    return config


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.time is not None and args.resume:
        raise ConfigError("--time plans a new fit; resume a run with --resume alone (it keeps its time limit)")
    segmented = args.segment is not None or (args.resume and is_segmented(args.output))
    if args.resume and segmented and args.target is not None:
        raise ResumeError("a segmented run keeps the target it was planned with; resume without --target-*")
    for flag, value in (("--warm-start", args.warm_start), ("--workers", args.workers), ("--cluster", args.cluster)):
        if value is not None and not segmented:
            raise ConfigError(f"{flag} applies to a segmented fit: add --segment N|auto")
    if args.time is not None:  # the plan may cut the clip into segments
        from . import fit_time

        return fit_time.main(args, config_from_args(args), _drive, lambda plan, ex: _run_segments(args, plan, ex))
    if segmented:
        return _fit_segments(args, executor_from_args(args))
    config = config_from_args(args)
    fitter = Fitter(config, args.output, resume=args.resume)
    if args.target is not None and fitter.world.main:
        from ..codec.ratecontrol import record_target

        record_target(args.output, args.target)

    try:
        with cancel_on_ctrl_c(fitter.cancel):
            if not fitter.world.main:  # under torchrun, rank 0 reports and writes
                finished = collections.deque(fitter.run(), maxlen=1)[0]
                assert isinstance(finished, Finished)  # a run's last event
                return 130 if finished.status == "cancelled" else 0
            return _drive(fitter, args.output)
    finally:
        fitter.store.close()  # the frame cache, if the clip was too large for memory
        del fitter  # under torchrun its DDP holds the process group, which must end first (see leave)
        leave()


def step_bar(started: Started) -> tqdm:
    """A progress bar over a fit's steps (``nervplayer fit`` and the fine-tune of ``compress``), on stderr."""
    from tqdm import tqdm

    return tqdm(
        total=started.epochs * started.steps_per_epoch,
        initial=round(started.start_epoch * started.steps_per_epoch),
        unit="step",
        dynamic_ncols=True,
        file=sys.stderr,
    )


def time_bar(limit: float, spent: float) -> tqdm:
    """A progress bar over a time-limited fit's seconds of training (``--time``), up to ``limit`` until the steps
    say how much of it the work after them needs: the fit's epochs are a cap that the clock reaches first, and a
    bar over them promised hours for a fit that stops in minutes."""
    from tqdm import tqdm

    return tqdm(
        total=round(limit),
        initial=min(round(spent), round(limit)),
        unit="s",
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s of training [{elapsed}<{remaining}{postfix}]",
        dynamic_ncols=True,
        file=sys.stderr,
    )


def _drive(fitter: Fitter, run_dir: Path) -> int:
    bar: tqdm | None = None
    psnr, finished = "–", None
    limit, since, first_epoch = fitter.config.time_limit, time.perf_counter(), 0.0
    for ev in fitter.run():
        if isinstance(ev, Started):
            spec = fitter.spec
            size = "sized to the budget" if fitter.config.budget else fitter.config.preset
            macs = fitter.record()["macs_per_pixel"]
            world = f", {fitter.world.size} processes (torchrun)" if fitter.world.distributed else ""
            c = fitter.config
            aware = f", rate-aware (λ {c.rate_lambda:g})" if c.rate_lambda else ", QAT" if c.qat else ""
            recipe = f"lr {c.lr:g}{aware}"
            print(
                f"fitting {fitter.source['name']}: {ev.num_frames} frames ({ev.train_frames} trained) at "
                f"{ev.width}x{ev.height}, {spec.arch}{f' ({size})' if size else ''}: {ev.num_params:,} params, "
                f"{macs:,.0f} MACs/pixel, {recipe} on {ev.device} "
                f"{ev.precision}{world}, frames in {ev.frame_store}",
                file=sys.stderr,
            )
            bar = step_bar(ev) if limit is None else time_bar(limit, fitter.elapsed)
            since, first_epoch = time.perf_counter() - fitter.elapsed, ev.start_epoch
        elif isinstance(ev, Step) and bar is not None:
            if fitter.time_limit is None:
                bar.update(ev.step - bar.n)
            else:  # the training's share of the limit, less the work after it at the step time measured so far
                spent = time.perf_counter() - since
                bar.total = max(1, round(fitter.time_limit.training(spent, ev.step)))
                bar.update(min(round(spent), bar.total) - bar.n)
            spe = bar.format_dict["elapsed"] / max(ev.epoch - first_epoch, 1e-9)
            epochs = f"/{fitter.config.epochs}" if limit is None else ""
            bar.set_postfix_str(
                f"epoch {ev.epoch:.1f}{epochs} loss {ev.loss:.4f} PSNR {psnr} {spe:.2f}s/epoch", refresh=False
            )
        elif isinstance(ev, Evaluated) and bar is not None:
            psnr = f"{ev.psnr:.2f}"
            unseen = f", unseen {ev.psnr_unseen:.2f} dB" if ev.psnr_unseen is not None else ""
            bar.write(f"epoch {ev.epoch}: PSNR {ev.psnr:.2f} dB, MS-SSIM {ev.ms_ssim:.4f}{unseen}", file=sys.stderr)
        elif isinstance(ev, Finished):
            finished = ev
        elif isinstance(ev, Checkpointed):
            pass
    if bar is not None:
        bar.close()
    assert finished is not None  # a run ends with Finished
    if finished.status == "cancelled":
        print(
            f"stopped at epoch {finished.epoch:.2f}; checkpoint saved. Resume with:\n"
            f"  nervplayer fit --resume -o {run_dir}",
            file=sys.stderr,
        )
        return 130
    last = finished.last_eval
    if last is None:
        print(f"done: {finished.epoch:.0f} epochs; results in {run_dir}/")
        return 0
    print(
        f"done: {finished.epoch:.0f} epochs in {finished.elapsed:.1f} s, PSNR {last.psnr:.2f} dB, MS-SSIM "
        f"{last.ms_ssim:.4f}. Results in {run_dir}/ (model.safetensors, metrics.csv, config.json)"
    )
    return 0


def _fit_segments(args: argparse.Namespace, executor: Executor) -> int:
    """``--segment``: plan (or, with --resume, reload) the segments, run them on ``executor``, gather the result."""
    if args.resume:
        plan = load_plan(args.output, args.video)
        if args.segment not in (None, plan.target) or args.warm_start not in (None, plan.warm_start):
            raise ResumeError(
                f"{args.output} was planned with --segment {plan.target} --warm-start {plan.warm_start}; "
                "resume without --segment and --warm-start"
            )
    else:
        length = None if args.segment == "auto" else args.segment
        compress = CompressOptions(prune=0.0, finetune_epochs=0, device=args.device or "auto", target=args.target)
        plan = plan_segments(
            config_from_args(args), args.output, length, args.warm_start or DEFAULT_WARM_START, compress
        )
    return _run_segments(args, plan, executor)


def _run_segments(args: argparse.Namespace, plan: SegmentPlan, executor: Executor) -> int:
    """Run a segmented fit's ``plan`` on ``executor``, printing each segment as it ends; gather the result."""
    segments = SegmentedFit(plan, args.output, executor)
    cuts = f"scene cuts at {', '.join(str(frame) for frame, _ in plan.cuts)}" if plan.cuts else "no scene cuts"
    print(
        f"fitting {plan.source['name']} in {len(plan.segments)} segment(s) of about {plan.target} frames "
        f"({cuts}; warm start {plan.warm_start}) on {executor.name}",
        file=sys.stderr,
    )

    def done(r: SegmentResult) -> None:
        if r.from_epoch is None:
            what = "already fitted"
        elif r.from_epoch:
            what = f"resumed at epoch {r.from_epoch:.1f}"
        else:
            what = "fitted"
        if r.nerv is None:  # the base model of a warm start
            print(f"base model {what} in {r.seconds:.1f} s", file=sys.stderr)
            return
        psnr = "–" if r.psnr is None else f"{r.psnr:.2f} dB"
        print(
            f"segment {r.name} ({r.end - r.start} frames) {what}: PSNR {psnr}, {r.file_bytes:,} bytes, "
            f"{r.seconds:.1f} s",
            file=sys.stderr,
        )

    try:
        with cancel_on_ctrl_c(segments.cancel):
            out = segments.run(done)
    except JobsCancelled as e:
        print(f"{e}. Resume with:\n  nervplayer fit --resume -o {args.output}", file=sys.stderr)
        return 130
    n = len(plan.segments)
    print(f"done: {n} segment{'s' if n > 1 else ''} in {out}")
    if (target := CompressOptions.from_dict(plan.compress).target) is not None:
        print(target_outcome(target, out))
    return 0
