"""``nervplayer plugins``: every plugin with its kind, source, version and status; failures with their error."""

from __future__ import annotations

from ..plugins import KINDS, builtin_plugin_dir, get_registry, user_plugin_dir
from .options import Parser

PLURALS = {"loss": "losses"}  # the listing's headings: activations, losses, schedulers, models


def main(argv: list[str]) -> int:
    p = Parser(prog="nervplayer plugins", description="List plugins (add --safe-mode to load built-ins only).")
    p.add_argument("-v", "--verbose", action="store_true", help="also show each entry's parameters")
    args = p.parse_args(argv)
    reg = get_registry()
    print(
        f"built-in folder: {builtin_plugin_dir()}\nuser folder:     {user_plugin_dir()}\n"
        "entry points:    group 'nervplayer.plugins'\n"
    )
    for kind in KINDS:
        print(f"{PLURALS.get(kind, kind + 's')}:")
        for e in reg.entries(kind):
            alias = f" (alias {', '.join(e.aliases)})" if e.aliases else ""
            print(f"  {e.id:<16} v{e.version:<6} {e.source:<12} {e.description}{alias}")
            if args.verbose:
                for prm in e.params:
                    limits = "" if prm.minimum is None and prm.maximum is None else f" [{prm.minimum}, {prm.maximum}]"
                    print(f"      {prm.name} = {prm.default!r}{limits}  {prm.description}")
        print()
    print("load report:")
    for rec in reg.report:
        detail = f": {rec.error}" if rec.error else (f" ({len(rec.entries)} entries)" if rec.entries else "")
        print(f"  [{rec.status}] {rec.name} from {rec.source}{detail}")
    return 0
