"""``nervplayer info FILE``: a .nerv file's header, readable (or as JSON)."""

from __future__ import annotations

import json
from pathlib import Path

from ..codec import container, nervfile
from ..codec.report import describe
from .options import Parser


def main(argv: list[str]) -> int:
    p = Parser(prog="nervplayer info", description="Show a .nerv file's header. The whole file is validated.")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print the raw JSON header")
    args = p.parse_args(argv)
    header, sections = container.read(args.file)
    nf = nervfile.decode(header, sections, str(args.file))
    if args.json:
        print(json.dumps(header, indent=2, ensure_ascii=False))
    else:
        print("\n".join([describe(header, args.file.stat().st_size), *nf.story.lines(nf.num_frames)]))
    return 0
