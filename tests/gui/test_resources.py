"""GUI resources: stopping a fit or a save never blocks the window, and work still running when the app quits
is stopped cleanly instead of aborting the interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from nervplayer import session as session_module
from nervplayer.codec import CompressOptions


class Blocked:
    """A stand-in for Fitter / Compressor whose work holds its thread until ``release`` is set, whatever
    ``cancel`` says: the only way the window could stop it at once would be to wait on its thread."""

    release = threading.Event()

    def __init__(self, *args, **kwargs) -> None:
        self.num_frames = 16
        self.cancelled = threading.Event()

    def cancel(self) -> None:
        self.cancelled.set()

    def run(self):
        Blocked.release.wait(60)
        return
        yield


def test_discarding_a_running_fit_or_save_returns_at_once(make_window, qtbot, monkeypatch, shapes_clip, tmp_path):
    from nervplayer.gui import worker

    Blocked.release.clear()
    monkeypatch.setattr(session_module, "Fitter", Blocked)
    monkeypatch.setattr(session_module, "Compressor", Blocked)
    window = make_window([str(shapes_clip)])
    session = window.session
    session.fit_in_child = False  # the fit and the save in worker threads, where the patched stand-ins are
    qtbot.waitUntil(lambda: session.phase == "ready", timeout=30_000)
    try:
        window.start_fit()
        qtbot.waitUntil(lambda: session.fitting, timeout=10_000)
        fit_thread = session._jobs["fit"][1]
        session.discard()  # what "Discard" in the unsaved-work question does
        assert fit_thread.isRunning() and not session.busy and session.phase == "ready"

        session.run_dir = tmp_path  # as if a fit had finished there
        session.phase = "finished"
        window.save_nerv_to(tmp_path / "x.nerv", CompressOptions(device="cpu"))
        qtbot.waitUntil(lambda: session.running("save"), timeout=10_000)
        save_thread = session._jobs["save"][1]
        window.close()  # closing never waits either: the work is told to stop and ends on its own
        assert not window.isVisible() and save_thread.isRunning()
    finally:
        Blocked.release.set()
    qtbot.waitUntil(lambda: not worker.running_workers(), timeout=30_000)


QUIT_WHILE_FITTING = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    from nervplayer.gui.app import open_window
    from nervplayer.gui.settings import Settings
    from nervplayer.train import Step

    def main():
        clip, work = sys.argv[1], sys.argv[2]
        window = open_window([clip], Settings(QSettings(work + "/settings.ini", QSettings.Format.IniFormat)))
        window.session.runs_dir = __import__("pathlib").Path(work) / "runs"
        window.ask_unsaved = lambda: "discard"
        app = QApplication.instance()

        def opened(_):
            window.fit_panel.epochs.setValue(1000)
            window.start_fit()

        def step(event):
            if isinstance(event, Step):
                print("fitting", flush=True)
                app.quit()  # quit with the fit running in its process

        window.session.opened.connect(opened)
        window.session.fit_event.connect(step)
        QTimer.singleShot(120_000, lambda: app.exit(3))
        code = app.exec()
        print("quit", code, flush=True)
        sys.exit(code)


    if __name__ == "__main__":  # the fit's child process (spawn) imports this script again
        main()
""")


def test_quitting_with_a_fit_running_stops_it_cleanly(shapes_clip, tmp_path):
    script = tmp_path / "quit.py"
    script.write_text(QUIT_WHILE_FITTING)
    env = {
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, str(script), str(shapes_clip), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "fitting" in done.stdout and "quit 0" in done.stdout
    assert "QThread: Destroyed while thread" not in done.stderr
    checkpoints = list((tmp_path / "runs").glob("*/checkpoint.pt"))
    assert checkpoints  # the cancelled fit ended its step and kept a checkpoint
