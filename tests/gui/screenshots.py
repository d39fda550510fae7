"""Render the screenshots in docs/screenshots/ (offscreen): fit the sample, save it, open the .nerv, compare.

    QT_QPA_PLATFORM=offscreen python tests/gui/screenshots.py [OUT_DIR] [EPOCHS]
    QT_QPA_PLATFORM=offscreen python tests/gui/screenshots.py first-run [OUT_DIR]

Takes a few minutes on a 2-core CPU (the fit is real). ``first-run`` only takes the README's opening shot: the
window as ``nervplayer`` with no arguments shows it, the sample's ``.nerv`` playing.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPoint, QRect, QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from nervplayer.codec import CompressOptions  # noqa: E402
from nervplayer.gui.app import open_window  # noqa: E402
from nervplayer.gui.settings import Settings  # noqa: E402
from nervplayer.gui.state import CompareMode, DiffMode  # noqa: E402
from nervplayer.sample import sample_video as sample_path  # noqa: E402


def wait(condition, timeout: float = 600.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        QApplication.processEvents()
        time.sleep(0.01)


def settle(seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def main(out: Path, epochs: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="nervplayer-shots-"))
    window = open_window(
        [str(sample_path())], Settings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    )
    window.session.runs_dir = work / "runs"
    window.resize(1440, 900)
    panel, player = window.fit_panel, window.player

    def shot(name: str) -> None:
        settle()
        window.grab().save(str(out / f"{name}.png"))
        print("wrote", out / f"{name}.png")

    wait(lambda: panel.state == "ready")
    player.state.frame = 30
    shot("ready-to-fit")

    panel.epochs.setValue(epochs)
    panel.eval_every.setValue(2)
    window.start_fit()
    wait(lambda: panel.state == "running")
    player.compare.set_mode(CompareMode.WIPE)
    wait(lambda: panel.controls.progress.epoch >= epochs * 0.6)
    player.refresh()
    shot("fitting")
    wait(lambda: panel.state == "finished")

    nerv = work / "sample.nerv"
    window.save_nerv_to(nerv, CompressOptions(prune=0.2, finetune_epochs=4, device="cpu"))
    wait(lambda: panel.state == "finished")
    shot("saved")

    window.open_path(str(nerv), truth=str(sample_path()))
    wait(lambda: window.session.nerv is not None and player.truth is not None)
    wait(lambda: not __import__("numpy").isnan(player.timeline.psnr).any())
    player.state.frame = 30
    wait(lambda: player.canvas.displayed_index == 30)
    settle()
    dock = window.charts_dock  # what the file knows: the timeline down to the lower panel
    top = player.timeline.mapTo(window, QPoint(0, 0)).y()
    bottom = dock.mapTo(window, QPoint(0, dock.height())).y()
    window.grab(QRect(0, top, dock.width(), bottom - top)).save(str(out / "nerv-story.png"))
    print("wrote", out / "nerv-story.png")
    window.charts_dock.hide()
    player.state.frame = 30
    wait(lambda: player.canvas.displayed_index == 30)
    player.compare.set_mode(CompareMode.WIPE)
    player.compare.set_wipe(0.45)
    player.toggle_stats()
    shot("nerv-wipe")
    player.toggle_stats()
    player.compare.set_mode(CompareMode.SIDE_BY_SIDE)
    shot("nerv-side-by-side")
    player.compare.diff_mode = DiffMode.ABS_4
    player.compare.set_mode(CompareMode.DIFFERENCE)
    shot("nerv-difference")
    player.compare.set_mode(CompareMode.OFF)
    player.toggle_help()
    shot("keys")
    player.toggle_help()
    window.session.unsaved = False
    window.close()


def first_run(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="nervplayer-shots-"))
    window = open_window([], Settings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)))
    window.resize(1280, 800)
    player = window.player
    wait(lambda: player.state.playing and player.truth is not None)
    wait(lambda: not __import__("numpy").isnan(player.timeline.psnr).any())
    wait(lambda: (player.canvas.displayed_index or 0) >= 30)
    player.state.playing = False
    player.state.frame = 30
    wait(lambda: player.canvas.displayed_index == 30)
    player.compare.set_mode(CompareMode.WIPE)
    player.compare.set_wipe(0.5)
    settle()
    window.grab().save(str(out / "first-run.png"))
    print("wrote", out / "first-run.png")
    window.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["first-run"]:
        first_run(Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs/screenshots"))
        sys.exit()
    main(
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"),
        int(sys.argv[2]) if len(sys.argv) > 2 else 40,
    )
