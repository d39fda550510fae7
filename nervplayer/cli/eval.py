"""``nervplayer eval RUN|FILE.nerv VIDEO``: PSNR and MS-SSIM overall, seen/unseen, and per frame."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from ..codec import NervVideo
from ..codec.evaluate import check_source, evaluate_against, reference_of
from ..codec.seams import Seam, frame_pair, seam_lines, seams
from ..device import resolve_device
from ..model.render import times
from ..train import FitConfig, load_source, open_run
from ..train.evaluate import FrameMetrics, evaluate, summary, vmaf_style
from .options import Parser, add_memory_budget


def evaluate_run(
    run_path: Path, video: str, device: str = "auto", any_source: bool = False
) -> tuple[FrameMetrics, list[int], int]:
    """Metrics of a run folder's model against ``video`` over the run's frame range and size (unless
    ``any_source``, only against the video the run was fitted to)."""
    run = open_run(run_path)
    if not any_source:
        check_source(run.source, run_path, video)
    dev = resolve_device(device)
    model = run.build_model(dev)
    fit = run.fit_config
    src = run.source
    reference, _ = load_source(FitConfig(video=video, start=src["start"], end=src["end"], size=tuple(src["size"])), dev)
    n = reference.num_frames

    def decode(idx: list[int]) -> torch.Tensor:
        return model(times(idx, n, dev))

    with torch.no_grad():
        metrics = evaluate(decode, reference)
    return metrics, list(range(0, n, fit.stride)), src["start"]


def main(argv: list[str]) -> int:
    p = Parser(prog="nervplayer eval", description="Compare a run folder (or a .nerv file) with a video.")
    p.add_argument("model", type=Path, help="run folder or .nerv file")
    p.add_argument("video", help="the source video (or frame folder)")
    p.add_argument("--json", action="store_true", help="print libvmaf-style per-frame JSON")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--any-source",
        action="store_true",
        help="compare with VIDEO even when it is not the source the run or .nerv records (another size, "
        "fewer frames or other content); without it that is an error",
    )
    add_memory_budget(p)
    args = p.parse_args(argv)
    found: list[Seam] = []
    if args.model.is_file():
        nerv = NervVideo.open(args.model, args.device, memory_budget=args.memory_budget)
        reference = reference_of(nerv, args.model, args.video, any_source=args.any_source)
        metrics, seen, first = evaluate_against(nerv, reference)
        found = seams(list(metrics.psnr), nerv.segments, first, frame_pair(nerv, reference), nerv.scene_cuts)
    else:
        metrics, seen, first = evaluate_run(args.model, args.video, args.device, args.any_source)
    if args.json:
        report = vmaf_style(metrics, seen, first)
        if found:
            report["seams"] = [s.record() for s in found]
        json.dump(report, sys.stdout, indent=1)
        print()
        return 0
    unseen = [i for i in range(len(metrics.psnr)) if i not in set(seen)]
    pooled = summary(metrics, seen, unseen)
    print(
        f"all frames    ({pooled['all']['frames']:4d}): PSNR {pooled['all']['psnr']:.2f} dB  "
        f"MS-SSIM {pooled['all']['ms_ssim']:.4f}"
    )
    if pooled["unseen"]:
        for name in ("seen", "unseen"):
            q = pooled[name]
            print(f"{name + ' frames':<13} ({q['frames']:4d}): PSNR {q['psnr']:.2f} dB  MS-SSIM {q['ms_ssim']:.4f}")
    if found:
        print(f"{len(found) + 1} segments; at each boundary, the frames either side against their segments and nearby:")
        print("\n".join(seam_lines(found)))
    print("frame   PSNR    MS-SSIM")
    for i, (ps, ms) in enumerate(zip(metrics.psnr, metrics.ms_ssim)):
        mark = "" if i in set(seen) else "  unseen"
        print(f"{first + i:5d}  {ps:6.2f}  {ms:.4f}{mark}")
    return 0
