"""``nervplayer info FILE``: a .nerv file's header, readable (or as JSON); a segmented file's segments."""

from __future__ import annotations

import json
from pathlib import Path

from ..codec import container, nervfile
from ..codec.report import describe
from ..codec.seams import seam_lines, seams
from ..codec.segtable import SegmentedFile
from .options import Parser


def main(argv: list[str]) -> int:
    p = Parser(prog="nervplayer info", description="Show a .nerv file's header. The whole file is validated.")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print the raw JSON header")
    args = p.parse_args(argv)
    nf = nervfile.load_any(args.file)
    if args.json:
        header = nf.header() if isinstance(nf, SegmentedFile) else container.read(args.file)[0]
        print(json.dumps(header, indent=2, ensure_ascii=False))
    elif isinstance(nf, SegmentedFile):
        print("\n".join(segmented_lines(nf, args.file.stat().st_size)))
    else:
        header, _ = container.read(args.file)
        print("\n".join([describe(header, args.file.stat().st_size), *nf.story.lines(nf.num_frames)]))
    return 0


def segmented_lines(nf: SegmentedFile, file_bytes: int) -> list[str]:
    """A segmented file as text: the clip, then a row per segment, then its seams when the segments store their
    per-frame PSNR."""
    v = nf.video
    h, w = v["size"]
    quality = ", ".join(f"{k} {val:.4f}" for k, val in nf.metrics.items() if isinstance(val, (int, float)))
    lines = [
        f"video      {nf.num_frames} frames at {v['fps']:g} fps, {w}x{h} (frames {v.get('start', 0)}:"
        f"{v.get('end', '?')} of the source), in {len(nf.segments)} segments (format {'3.1' if nf.fades else '3.0'})",
        f"source     {nf.source.get('name', '?')}  sha256 {nf.source.get('sha256', '?')}",
        f"size       {file_bytes:,} bytes, {file_bytes * 8 / (nf.num_frames * h * w):.4f} bpp",
    ]
    if quality:
        lines.append(f"metrics    {quality} (the segments', weighted by their frames)")
    if nf.created:
        lines.append("created    " + ", ".join(f"{k} {val}" for k, val in nf.created.items()))
    lines.append(f"{'segment':>7} {'frames':>13} {'count':>6} {'bytes':>10} {'PSNR':>7} {'MS-SSIM':>8}  model")
    for i, (s, part) in enumerate(zip(nf.segments, nf.parts)):
        psnr = f"{s.psnr:7.2f}" if s.psnr is not None else f"{'?':>7}"
        ssim = f"{s.ms_ssim:8.4f}" if s.ms_ssim is not None else f"{'?':>8}"
        stored = sum(q.numel for q in part.tensors.values())
        zone = s.start - s.lead, s.start - s.lead + len(s.blend)
        fade = f"; fades with the one before over frames {zone[0]}:{zone[1]}" if s.blend else ""
        lines.append(
            f"{i:>7} {f'{s.start}:{s.end}':>13} {s.frames:>6} {s.bytes:>10,} {psnr} {ssim}  "
            f"{part.model.arch}, {stored:,} stored values{fade}"
        )
    per_frame = nf.story.frame_psnr
    if per_frame:
        bounds, cuts = [(s.start, s.end) for s in nf.segments], [s.start for s in nf.segments if s.scene_cut]
        lines += seam_lines(seams(per_frame, bounds, int(v.get("start", 0)), cuts=cuts))
    return lines
