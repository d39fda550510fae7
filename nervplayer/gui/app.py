"""``nervplayer [FILE [--gt VIDEO] [--frame N]]``: the desktop player. With no FILE it plays the bundled sample's
``.nerv`` against its source, with a one-line hint for fitting a video of your own."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ..opening import Opened
from ..sample import sample_nerv, sample_video
from .actions import key_text, spec
from .binding import check_binding
from .collector import freeze_long_lived
from .errors import install_excepthook
from .main_window import MainWindow
from .settings import Settings
from .theme import apply_theme
from .worker import stop_all

LOADED = time.monotonic()
STARTUP_LIMIT_S = 180  # --startup-check gives up after this long (a loaded 2-core machine takes ~20 s)


def since_launch() -> float:
    """Seconds since this process started: the kernel's start time on Linux (interpreter start-up and, in the
    bundle, the bootloader's included), elsewhere since the player's code loaded."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start time in ticks
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - LOADED


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nervplayer", description="Play, fit and compare NeRV videos.")
    parser.add_argument("file", nargs="?", help="a video to fit or a .nerv file to play (default: the sample)")
    parser.add_argument("--gt", metavar="VIDEO", help="the ground truth to compare a .nerv with")
    parser.add_argument("--frame", type=int, metavar="N", help="start at frame N")
    parser.add_argument(
        "--startup-check",
        action="store_true",
        help="print the seconds from launch until the first decoded frame is on screen, then quit "
        f"(checks an installation; exit status 1 if no frame shows within {STARTUP_LIMIT_S} s)",
    )
    return parser.parse_args(argv)


def first_run_hint() -> str:
    """The status-bar line shown while the sample plays: what it is, and how to fit a video of one's own."""
    return (
        f"This video is a neural network · {key_text(spec('compare'))} shows the original · "
        f"{key_text(spec('open'))} a video of your own to fit it"
    )


def open_sample(window: MainWindow) -> None:
    """Play the sample's ``.nerv`` against the clip it was fitted to, looping, with the first-run hint (the
    clip alone, ready to fit, where the ``.nerv`` was left out)."""
    nerv, video = sample_nerv(), sample_video()
    if nerv is None:
        if video is not None:
            window.open_path(str(video))
        return

    def play(opened: Opened) -> None:
        window.session.opened.disconnect(play)
        window.session.open_failed.disconnect(forget)
        if opened.nerv is None:
            return
        state = window.player.state
        if not state.loop_all:
            window.player.toggle_loop_all()
        state.playing = True
        window.statusBar().showMessage(first_run_hint())

    def forget(_error: BaseException) -> None:
        window.session.opened.disconnect(play)
        window.session.open_failed.disconnect(forget)

    window.session.opened.connect(play)
    window.session.open_failed.connect(forget)
    window.open_path(str(nerv), truth=str(video) if video else None, frame=0)


def report_first_frame(window: MainWindow) -> None:
    """For ``--startup-check``: print the time to the first decoded frame on screen and quit (exit 1 if none
    shows within :data:`STARTUP_LIMIT_S`)."""

    def shown(_index: int) -> None:
        window.player.frame_shown.disconnect(shown)
        window.player.canvas.repaint()  # painted now, not at the next turn of the event loop
        print(f"first decoded frame on screen after {since_launch():.2f} s", flush=True)
        window.session.unsaved = False
        window.close()
        QApplication.exit(0)

    def timed_out() -> None:
        print(f"no decoded frame on screen after {STARTUP_LIMIT_S} s", file=sys.stderr, flush=True)
        QApplication.exit(1)

    def failed(error: BaseException) -> None:
        line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(f"nervplayer: error: {line}", file=sys.stderr, flush=True)
        QApplication.exit(1)

    window.session.open_failed.connect(failed)
    window.player.frame_shown.connect(shown)

    QTimer.singleShot(STARTUP_LIMIT_S * 1000, timed_out)


def open_window(argv: list[str], settings: Settings | None = None) -> MainWindow:
    """Parse the command line, show the main window and start opening FILE (or the sample)."""
    args = parse_args(argv)
    check_binding()
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("nervplayer")
    app.setOrganizationName("nervplayer")
    apply_theme(app)
    app.aboutToQuit.connect(stop_all)  # no worker thread outlives the app
    window = MainWindow(settings)
    install_excepthook(window)
    window.show()
    freeze_long_lived()  # what start-up made lives as long as the app: out of the full collections' scans
    if args.startup_check:
        report_first_frame(window)
    if args.file:
        window.open_path(args.file, truth=args.gt, frame=args.frame)
    else:
        open_sample(window)
    return window


def main(argv: list[str] | None = None) -> int:
    window = open_window(sys.argv[1:] if argv is None else argv)  # noqa: F841 (kept alive while the app runs)
    return QApplication.exec()
