"""``nervplayer frame RUN INDEX -o out.png``: decode one frame of a run folder's model."""

from __future__ import annotations

from pathlib import Path

from ..device import resolve_device
from ..errors import ConfigError
from ..model.render import render
from ..train import open_run
from ..video.writer import write_png
from .options import Parser, output_file


def main(argv: list[str]) -> int:
    p = Parser(
        prog="nervplayer frame",
        description="Decode frame INDEX (of the run's clip, counted from 0; "
        "fractional indices decode between frames) to a PNG.",
    )
    p.add_argument("run", type=Path)
    p.add_argument("index", type=float)
    p.add_argument("-o", "--output", type=output_file, required=True)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    run = open_run(args.run)
    n = run.source["end"] - run.source["start"]
    if not 0 <= args.index <= n - 1:
        raise ConfigError(f"frame {args.index:g} is outside the clip (0 to {n - 1})")
    model = run.build_model(resolve_device(args.device))
    write_png(args.output, render(model, [args.index], n)[0])
    print(f"wrote {args.output}")
    return 0
