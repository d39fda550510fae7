"""Entry point: dispatch to a subcommand module, or open the player.

``nervplayer`` alone (or ``nervplayer FILE``) opens the GUI. Every :class:`~nervplayer.errors.NervError`
becomes one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import importlib
import sys

from ..errors import NervError

SUBCOMMANDS = {
    "fit": "fit a NeRV to a video (headless)",
    "eval": "PSNR / MS-SSIM of a run folder or a .nerv against a video",
    "frame": "decode one frame of a run folder to PNG",
    "compress": "prune, quantize and entropy-code a run into a .nerv file",
    "rd": "rate-distortion sweep of a run (and classic codecs)",
    "info": "show a .nerv file's header",
    "decode": "decode one frame of a .nerv file to PNG",
    "export": "export a .nerv to a video file or PNG folder",
    "plugins": "list plugins, their source and status",
    "bench": "measure training and decoding speed",
    "study": "run a classic NeRV study (lr, MLP size, loss, ...) with a summary and plot",
}

USAGE = "usage: nervplayer [--safe-mode] [SUBCOMMAND ...] | [FILE [--gt VIDEO] [--frame N]]\n\n" + "\n".join(
    f"  {name:<9} {text}" for name, text in SUBCOMMANDS.items()) + (
    "\n\nWith no subcommand, opens the player (on FILE, or the bundled sample)."
    "\n'nervplayer SUBCOMMAND --help' explains each one.")


def run(argv: list[str]) -> int:
    from .. import plugins

    if "--safe-mode" in argv:  # built-in plugins only: accepted anywhere on the line
        argv = [a for a in argv if a != "--safe-mode"]
        plugins.configure(safe_mode=True)
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if argv and argv[0] in ("-V", "--version"):
        from .. import __version__
        print(f"nervplayer {__version__}")
        return 0
    if argv and argv[0] in SUBCOMMANDS:
        module = importlib.import_module(f"{__package__}.{argv[0]}")
        return module.main(argv[1:])
    try:
        from ..gui.app import main as gui_main
    except ImportError as e:
        raise NervError(f"the player needs PySide6 and pyqtgraph (pip install 'nervplayer[gui]'): {e}") from None
    return gui_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        code = run(argv)
    except NervError as e:
        print(f"nervplayer: error: {e}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("nervplayer: interrupted", file=sys.stderr)
        code = 130
    return code


if __name__ == "__main__":
    sys.exit(main())
