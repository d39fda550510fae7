"""``nervplayer settings [KEY=VALUE ...]``: show or change the preferences the player's Preferences dialog edits
(default device and precision of a fit, decoded-frame cache size, key bindings)."""

from __future__ import annotations

import sys

from .. import settings
from ..paths import settings_file
from .options import Parser


def main(argv: list[str]) -> int:
    p = Parser(
        prog="nervplayer settings",
        description="Show the preferences, or set them: device=cuda, precision=bf16, cache_mb=1024, "
        "keys.play='Space K' (an action id of the player's key table; keys separated by spaces).",
    )
    p.add_argument("assignments", nargs="*", metavar="KEY=VALUE", help="settings to change")
    p.add_argument("--unset", action="append", default=[], metavar="KEY", help="put KEY back to its default")
    p.add_argument("--reset", action="store_true", help="every setting back to its default")
    args = p.parse_args(argv)
    prefs, problem = settings.load()
    if problem:
        print(f"nervplayer: warning: {problem}", file=sys.stderr)
    changed = args.reset or bool(args.assignments or args.unset)
    if args.reset:
        prefs = settings.Preferences()
    for assignment in args.assignments:
        prefs = settings.parse_assignment(prefs, assignment)
    for name in args.unset:
        prefs = settings.unset(prefs, name)
    if changed:
        settings.save(prefs)
    print(f"# {settings_file()}{'' if settings_file().exists() else ' (not created yet: all defaults)'}")
    print(prefs.to_json(), end="")
    return 0
