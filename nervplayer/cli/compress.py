"""``nervplayer compress RUN -o video.nerv``: prune, fine-tune, quantize and entropy-code a fitted run; with
``--target-size`` / ``--target-bpp`` / ``--target-psnr``, rate control chooses how."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

from ..codec import Compressed, CompressOptions, Compressor, Stage
from ..codec.entropy import CODERS, MASK_MODELS
from ..codec.nervfile import load
from ..codec.ratecontrol import recorded_target, summary
from ..codec.report import coder_comparison
from ..train import Evaluated, Finished, Started, Step
from .fit import step_bar
from .options import Parser, add_targets, output_file


def build_parser() -> Parser:
    p = Parser(
        prog="nervplayer compress",
        description="Compress a fitted run into a .nerv file: global magnitude "
        "pruning, fine-tuning with the mask fixed (resumable: rerun the same command), affine quantization "
        "with 2^b - 1 steps, entropy coding of weights and mask.",
    )
    p.add_argument("run", type=Path, help="run folder from 'nervplayer fit'")
    p.add_argument("-o", "--output", type=output_file, required=True, help=".nerv file to write")
    p.add_argument(
        "--prune",
        type=float,
        metavar="FRACTION",
        help="fraction of the stem and block weights REMOVED (default 0.4: the paper's '40%% pruned', "
        "keeps 60%%; 0 = no pruning); with a target, kept fixed while the rest is searched",
    )
    p.add_argument("--finetune-epochs", type=int, default=50, help="fine-tuning epochs after pruning (default 50)")
    p.add_argument(
        "--bits",
        type=int,
        help="quantization bit width, 2-16 (default 8); with a target, kept fixed while the rest is searched",
    )
    add_targets(
        p,
        "the bit width, pruning ratio and quantization step are searched (no refit; the fine-tune "
        "runs once, at the chosen pruning)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--per-channel",
        dest="per_channel",
        action="store_true",
        default=True,
        help="one range per output channel (default)",
    )
    g.add_argument("--per-tensor", dest="per_channel", action="store_false", help="one range per tensor")
    p.add_argument(
        "--coder", choices=CODERS, default="ans", help="entropy coder: ans (default), range, or raw fixed-length codes"
    )
    p.add_argument(
        "--mask-model",
        choices=MASK_MODELS,
        default="tensor",
        help="mask probability per tensor (default) or per output channel",
    )
    p.add_argument(
        "--layer-bits", action="store_true", help="choose a bit width per layer at the quality of uniform --bits"
    )
    p.add_argument("--qat", action="store_true", help="quantization-aware fine-tuning")
    p.add_argument(
        "--step-search",
        action="store_true",
        help="a rate-aware run (fit --rate-lambda): try each learned step at 1/4..4 times itself and keep, tensor "
        "by tensor, what lowers the fit's loss + λ x coded bits per pixel (on 16 frames); before a target search",
    )
    p.add_argument(
        "--step-search-lambda",
        type=float,
        metavar="LAMBDA",
        help="the λ of --step-search (default: the run's --rate-lambda; a run fitted with plain --qat has none)",
    )
    p.add_argument("--source", help="the video the run was fitted to, if it moved")
    p.add_argument("--device", default="auto", help="auto | cuda | mps | cpu")
    p.add_argument("--no-eval", action="store_true", help="skip decoding and measuring the result")
    p.add_argument(
        "--compare-coders",
        action="store_true",
        help="also measure every coder and mask model (and zlib / lzma) on the same symbols",
    )
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    target = args.target
    if target is None and (target := recorded_target(args.run)) is not None:
        print(f"target recorded by the fit: {target.label()}", file=sys.stderr)
    fixed = tuple(name for name in ("bits", "prune") if getattr(args, name) is not None)
    options = CompressOptions(
        prune=0.4 if args.prune is None else args.prune,
        finetune_epochs=args.finetune_epochs,
        bits=8 if args.bits is None else args.bits,
        per_channel=args.per_channel,
        coder=args.coder,
        mask_model=args.mask_model,
        layer_bits=args.layer_bits,
        qat=args.qat,
        device=args.device,
        evaluate=not args.no_eval,
        target=target,
        fixed=fixed,
        step_search=args.step_search,
        step_search_lambda=args.step_search_lambda,
    )
    compressor = Compressor(args.run, args.output, options, source=args.source)

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        print("\nstopping after this step (Ctrl-C again to abort)…", file=sys.stderr)
        compressor.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        report = _drive(compressor)
    finally:
        signal.signal(signal.SIGINT, previous)
    if report is None:
        print("stopped; the fine-tune checkpoint is kept: rerun the same command to resume", file=sys.stderr)
        return 130
    print(format_report(report))
    if args.compare_coders:
        print(coder_comparison(load(args.output)))
    return 0


def _drive(compressor: Compressor) -> Compressed | None:
    bar = None
    for ev in compressor.run():
        if isinstance(ev, Stage):
            print(f"{ev.name}: {ev.detail}", file=sys.stderr)
        elif isinstance(ev, Started):
            bar = step_bar(ev)
        elif isinstance(ev, Step) and bar is not None:
            bar.update(ev.step - bar.n)
            bar.set_postfix_str(f"epoch {ev.epoch:.1f} loss {ev.loss:.4f}", refresh=False)
        elif isinstance(ev, Evaluated) and bar is not None:
            bar.write(f"fine-tuned: PSNR {ev.psnr:.2f} dB, MS-SSIM {ev.ms_ssim:.4f}")
        elif isinstance(ev, Finished) and bar is not None:
            bar.close()
        elif isinstance(ev, Compressed):
            return ev
    return None


def format_report(r: Compressed) -> str:
    lines = []
    if r.target is not None:
        lines.append(summary(r.target, r.file_bytes, r.bpp, r.metrics.get("psnr")))
        lines.append(
            f"chose {r.setting}; rate control took {r.search_seconds:.1f} s ({r.search_trials} settings tried, "
            f"the fine-tune's {r.finetune_seconds:.1f} s not counted)"
        )
    if r.step_search:
        lines.append(r.step_search)
    lines += [
        f"wrote {r.path}: {r.file_bytes:,} bytes, {r.bpp:.4f} bpp",
        f"params {r.params:,}, kept {r.kept:,}; sparsity of the pruned layers {r.sparsity:.1%}",
        "part          bytes     share",
    ]
    for part, size in r.sizes.items():
        lines.append(f"  {part:<9} {size:>10,}  {size / r.file_bytes:7.1%}")
    ratio = r.weight_bits / r.weight_entropy if r.weight_entropy else float("nan")
    lines.append(
        f"weights: {r.weight_bits:,} coded bits, {r.weight_entropy:,.0f} bits of empirical entropy (ratio {ratio:.4f})"
    )
    lines.append(
        f"paper's estimate: kept x bits = {r.estimates['paper_bits'] / 8:,.0f} bytes; Huffman "
        f"{r.estimates['huffman_bits'] / 8:,.0f} bytes (weights only, no mask, tables or header)"
    )
    m = r.metrics
    if m:
        lines.append(f"decoded vs source:              PSNR {m['psnr']:.2f} dB, MS-SSIM {m['ms_ssim']:.4f}")
        lines.append(
            f"decoded vs uncompressed model:  PSNR {m['psnr_vs_model']:.2f} dB, MS-SSIM {m['ms_ssim_vs_model']:.4f}"
        )
        lines.append(f"uncompressed model vs source:   PSNR {m['model_psnr']:.2f} dB, MS-SSIM {m['model_ms_ssim']:.4f}")
    if len(set(r.bits.values())) > 1:
        lines.append("bits per tensor: " + ", ".join(f"{k} {v}" for k, v in r.bits.items()))
    return "\n".join(lines)
