"""``nervplayer decode FILE --frame N -o f.png``: one frame of a .nerv file (fractional N decodes between frames)."""

from __future__ import annotations

from pathlib import Path

from ..codec import NervVideo
from ..video.writer import write_png
from .options import Parser, add_memory_budget, output_file


def main(argv: list[str]) -> int:
    p = Parser(prog="nervplayer decode", description="Decode one frame of a .nerv file to a PNG.")
    p.add_argument("file", type=Path)
    p.add_argument(
        "--frame",
        type=float,
        required=True,
        metavar="N",
        help="frame index from 0; a fractional index decodes between frames",
    )
    p.add_argument("-o", "--output", type=output_file, required=True)
    p.add_argument("--device", default="cpu", help="cpu (default) | auto | cuda | mps")
    add_memory_budget(p)
    args = p.parse_args(argv)
    video = NervVideo.open(args.file, args.device, memory_budget=args.memory_budget)
    write_png(args.output, video.frame(args.frame))
    print(f"wrote {args.output}")
    return 0
