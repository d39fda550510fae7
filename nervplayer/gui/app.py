"""``nervplayer [FILE [--gt VIDEO] [--frame N]]``: the desktop player. With no FILE it opens the bundled sample,
ready to fit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from .binding import check_binding
from .errors import install_excepthook
from .main_window import MainWindow
from .settings import Settings
from .theme import apply_theme
from .worker import stop_all


def sample_path() -> Path | None:
    """The bundled sample clip: ``resources/`` beside the package (a checkout, or the PyInstaller bundle)."""
    candidate = Path(__file__).resolve().parent.parent.parent / "resources" / "sample.mp4"
    return candidate if candidate.is_file() else None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nervplayer", description="Play, fit and compare NeRV videos.")
    parser.add_argument("file", nargs="?", help="a video to fit or a .nerv file to play (default: the sample)")
    parser.add_argument("--gt", metavar="VIDEO", help="the ground truth to compare a .nerv with")
    parser.add_argument("--frame", type=int, metavar="N", help="start at frame N")
    return parser.parse_args(argv)


def open_window(argv: list[str], settings: Settings | None = None) -> MainWindow:
    """Parse the command line, show the main window and start opening FILE (or the sample)."""
    args = parse_args(argv)
    check_binding()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("nervplayer")
    app.setOrganizationName("nervplayer")
    apply_theme(app)
    app.aboutToQuit.connect(stop_all)  # no worker thread outlives the app
    window = MainWindow(settings)
    install_excepthook(window)
    window.show()
    sample = sample_path()
    path = args.file or (str(sample) if sample else None)
    if path is not None:
        window.open_path(path, truth=args.gt, frame=args.frame)
    return window


def main(argv: list[str] | None = None) -> int:
    window = open_window(sys.argv[1:] if argv is None else argv)  # noqa: F841 (kept alive while the app runs)
    return QApplication.instance().exec()
