"""``nervplayer rd RUN --source VIDEO -o rd.json``: prune × bits sweep, Pareto front, plot, classic codecs."""

from __future__ import annotations

import sys
from pathlib import Path

from ..codec import CompressOptions
from ..codec.classic import CODECS
from ..codec.entropy import CODERS
from ..codec.pipeline import source_reference
from ..codec.rd import RDPoint, RDResult, classic, crossings, plot, rate_at_equal_quality, sweep, write_json
from ..device import resolve_device
from ..errors import ConfigError
from ..train import Evaluated, open_run
from .options import Parser, output_file


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x]
    except ValueError:
        raise ConfigError(f"expected comma-separated numbers, got {text!r}") from None


def main(argv: list[str]) -> int:
    p = Parser(
        prog="nervplayer rd",
        description="Rate-distortion sweep of a run: every prune ratio x bit width "
        "is compressed to a real .nerv file and measured; the Pareto front goes to CompressAI-style JSON "
        "and a PNG plot.",
    )
    p.add_argument("run", type=Path)
    p.add_argument("--source", help="the video the run was fitted to (default: the path recorded in the run)")
    p.add_argument(
        "-o", "--output", type=output_file, required=True, help="JSON file to write (the plot goes beside it)"
    )
    p.add_argument("--prunes", default="0,0.2,0.4,0.6", help="fractions removed (default 0,0.2,0.4,0.6)")
    p.add_argument("--bits", default="4,5,6,8,10", help="bit widths (default 4,5,6,8,10)")
    p.add_argument("--finetune-epochs", type=int, default=50)
    p.add_argument("--per-tensor", action="store_true")
    p.add_argument("--coder", choices=CODERS, default="ans")
    p.add_argument("--layer-bits", action="store_true", help="per-layer bit widths at each point")
    p.add_argument("--qat", action="store_true", help="quantization-aware fine-tuning (one fine-tune per point)")
    p.add_argument("--codecs", action="store_true", help="also x264, x265 and SVT-AV1 through PyAV, same frames")
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
    run = open_run(args.run)
    reference = source_reference(run, args.source, resolve_device(args.device))
    files = args.output.with_suffix(".files")
    points: list[RDPoint] = []
    for item in sweep(args.run, prunes, bits, base, files, reference, args.source):
        if isinstance(item, RDPoint):
            points.append(item)
            print(
                f"nerv {item.label:<12} {item.bpp:8.4f} bpp  PSNR {item.psnr:6.2f} dB  MS-SSIM {item.ms_ssim:.4f}  "
                f"decode {item.decoding_time:6.2f} s",
                file=sys.stderr,
            )
        elif isinstance(item, Evaluated):
            print(f"  fine-tuned: PSNR {item.psnr:.2f} dB", file=sys.stderr)
    cfg = run.fit_config
    nerv = RDResult(
        f"NeRV ({cfg.preset})",
        f"{run.source['name']} frames {run.source['start']}:"
        f"{run.source['end']} at {run.source['size'][1]}x{run.source['size'][0]}; prune ratios "
        f"{prunes} x bits {bits}, {args.finetune_epochs} fine-tune epochs, "
        f"{'per-tensor' if args.per_tensor else 'per-channel'}, {args.coder}; bpp = file bytes; "
        "times in seconds for the whole clip (encoding = quantize + code, fitting excluded)",
        points,
    )
    codecs: list[RDResult] = []
    extra: dict = {}
    if args.codecs:
        for codec in CODECS:
            pts = []
            for item in classic(reference, float(run.source["fps"]), codec):
                pts.append(item)
                print(
                    f"{codec:<9} {item.label:<8} {item.bpp:8.4f} bpp  PSNR {item.psnr:6.2f} dB  "
                    f"MS-SSIM {item.ms_ssim:.4f}",
                    file=sys.stderr,
                )
            r = RDResult(codec, f"{codec} through PyAV, yuv420p MP4, same frames; bpp = file bytes", pts)
            write_json(r, args.output.with_suffix(f".{codec}.json"))
            codecs.append(r)
            cross = crossings(nerv.front(), pts)
            equal = rate_at_equal_quality(nerv.front(), pts)
            extra.setdefault("crossings", {})[codec] = cross
            extra.setdefault("rate_at_equal_psnr", {})[codec] = equal
            where = ", ".join(f"{c['bpp']:.4f} bpp / {c['psnr']:.2f} dB" for c in cross) or "none in the common range"
            print(f"NeRV front crosses {codec}: {where}")
            for e in equal:
                print(
                    f"  at {e['psnr']:.2f} dB: NeRV {e['bpp']:.4f} bpp, {codec} {e['other_bpp']:.4f} bpp "
                    f"({e['bpp'] / e['other_bpp']:.1f}x)"
                )
    write_json(nerv, args.output, extra)
    plot(nerv, codecs, args.output.with_suffix(".png"), nerv.description.split(";")[0])
    for pt in nerv.front():
        print(f"front {pt.label:<12} {pt.bpp:.4f} bpp  PSNR {pt.psnr:.2f} dB  MS-SSIM {pt.ms_ssim:.4f}")
    print(f"wrote {args.output}, {args.output.with_suffix('.png')} and the files in {files}/")
    return 0
