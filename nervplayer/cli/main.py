"""Entry point: dispatch to a subcommand module, or open the player.

``nervplayer`` alone (or ``nervplayer FILE``) opens the GUI. How failures reach the user (one line, exit 2 for
bad input, exit 1 and a log file for a bug, ``--debug`` for tracebacks) is :mod:`.errors`.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from ..allocator import keep_freed_memory
from ..errors import NervError
from .errors import guarded, quiet_ffmpeg, unknown_command
from .preflight import check_platform

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
    "batch": "fit and compress many clips, one job per clip, on every core, GPU or a Ray cluster",
    "study": "run a classic NeRV study (lr, MLP size, loss, ...) with a summary and plot",
    "settings": "show or change the preferences (device, precision, cache size, keys)",
    "paths": "list where settings, plugins, runs, caches and logs are kept",
}

USAGE = (
    "usage: nervplayer [--safe-mode] [--debug] [SUBCOMMAND ...] | [FILE [--gt VIDEO] [--frame N]]\n\n"
    + "\n".join(f"  {name:<9} {text}" for name, text in SUBCOMMANDS.items())
    + (
        "\n\nWith no subcommand, opens the player (on FILE, or the bundled sample)."
        "\n--debug shows the full traceback of an unexpected error (otherwise it goes to a log file)."
        "\n'nervplayer SUBCOMMAND --help' explains each one."
    )
)


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
    if argv and not argv[0].startswith("-") and not Path(argv[0]).exists():
        raise unknown_command(argv[0], list(SUBCOMMANDS))
    check_platform()  # before Qt starts: a display, a PySide6 for this system, the libraries Qt loads
    try:
        from ..gui.app import main as gui_main
    except ImportError as e:
        raise NervError(f"the player needs PySide6 and pyqtgraph (pip install 'nervplayer[gui]'): {e}") from None
    return gui_main(argv)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the nervplayer command (not a call from Python): a process of its own
        keep_freed_memory()
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv  # accepted anywhere on the line, like --safe-mode
    quiet_ffmpeg()
    return guarded(run, [a for a in argv if a != "--debug"], debug)


if __name__ == "__main__":
    sys.exit(main())
