"""``nervplayer paths``: where nervplayer keeps settings, window state, user plugins, runs, caches and logs."""

from __future__ import annotations

import json

from ..paths import all_paths
from .options import Parser


def main(argv: list[str]) -> int:
    p = Parser(
        prog="nervplayer paths",
        description="List the folders and files nervplayer uses (platformdirs' locations for this system).",
    )
    p.add_argument("--json", action="store_true", help="print them as a JSON object")
    args = p.parse_args(argv)
    paths = all_paths()
    if args.json:
        print(json.dumps({name: str(path) for name, path in paths.items()}, indent=2))
        return 0
    for name, path in paths.items():
        print(f"{name + ':':<14}{path}{'' if path.exists() else '  (not created yet)'}")
    return 0
