"""Save as .nerv runs in a child process (its prune, fine-tune, quantize and code), never in the window's: its
progress reaches the window, closing the window during the fine-tune loses nothing and leaves nothing running, a
save's process that dies is one clear dialog; and a fit started while the spare process is still starting runs."""

import hashlib
import multiprocessing
import os
import signal
from pathlib import Path

from processes import gone
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from nervplayer.codec import CompressOptions
from nervplayer.gui.worker import running_workers
from nervplayer.train import remote


def error_dialogs(window) -> list[QMessageBox]:
    return [b for b in window.findChildren(QMessageBox) if b.objectName() == "error-dialog" and b.isVisible()]


def save_processes() -> list[int]:
    return [p.pid for p in multiprocessing.active_children() if p.name == "nervplayer-save" and p.pid is not None]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fit(window, qtbot, epochs: int = 1) -> None:
    panel = window.fit_panel
    qtbot.waitUntil(lambda: panel.state == "ready", timeout=30_000)
    panel.last.setValue(3)
    panel.epochs.setValue(epochs)
    panel.eval_every.setValue(1)
    panel.rate_lambda.setText("0")  # a plain fit, whose save prunes and fine-tunes (a rate-aware one's does not)
    qtbot.mouseClick(panel.controls.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state == "finished", timeout=300_000)
    assert "completed" in panel.controls.bar.format()


def start_long_save(window, qtbot, out: Path) -> int:
    """Save with a long fine-tune; returns the save's process id once the fine-tune steps."""
    progress: list[tuple[str, float | None]] = []
    window.session.save_progress.connect(lambda text, fraction: progress.append((text, fraction)))
    window.save_nerv_to(out, CompressOptions(prune=0.2, finetune_epochs=500, device="cpu"))
    assert window.fit_panel.state == "saving"
    qtbot.waitUntil(lambda: any(f is not None and t.startswith("fine-tuning") for t, f in progress), timeout=300_000)
    (pid,) = save_processes()
    assert pid != os.getpid()
    return pid


def test_closing_the_window_during_a_saves_finetune_loses_nothing_and_stops_its_process(
    make_window, qtbot, tmp_path, shapes_clip, capfd
):
    window = make_window([str(shapes_clip)])
    fit(window, qtbot)
    run = window.session.run_dir
    weights = digest(run / "model.safetensors")
    out = tmp_path / "clip.nerv"
    out.write_bytes(b"an earlier save of this clip")  # what the user had before
    pid = start_long_save(window, qtbot, out)

    window.close()  # the fixture answers "discard": the save is cancelled, and its process ends on its own
    assert not window.isVisible()
    qtbot.waitUntil(lambda: gone(pid), timeout=60_000)
    qtbot.waitUntil(lambda: not running_workers(), timeout=60_000)

    assert out.read_bytes() == b"an earlier save of this clip"  # the earlier file untouched, no temporary left
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("clip")] == ["clip.nerv"]
    assert digest(run / "model.safetensors") == weights  # the run folder intact
    (finetune,) = (run / "compress").iterdir()
    assert (finetune / "checkpoint.pt").is_file()  # the fine-tune so far kept: a new save resumes it
    assert not error_dialogs(window)
    assert "Traceback" not in capfd.readouterr().err


def test_a_save_whose_process_dies_is_one_clear_dialog(make_window, qtbot, tmp_path, shapes_clip):
    window = make_window([str(shapes_clip)])
    fit(window, qtbot)
    out = tmp_path / "clip.nerv"
    out.write_bytes(b"an earlier save of this clip")
    pid = start_long_save(window, qtbot, out)

    os.kill(pid, signal.SIGKILL)  # e.g. the system's out-of-memory killer
    qtbot.waitUntil(lambda: bool(error_dialogs(window)), timeout=60_000)
    text = error_dialogs(window)[0].informativeText()
    assert "the save's process ended unexpectedly" in text and len(text.splitlines()) == 1
    assert window.fit_panel.state == "finished" and window.session.unsaved
    assert out.read_bytes() == b"an earlier save of this clip"
    for box in error_dialogs(window):
        box.close()


def test_a_fit_started_while_the_spare_process_is_still_starting_runs_in_it(make_window, qtbot, shapes_clip):
    window = make_window([str(shapes_clip)])
    fit(window, qtbot)
    remote.close_spare()
    remote.prepare_spare()  # as after a fit, but surely still importing torch when Start is pressed below
    spare = remote.spare_pid()
    assert spare is not None and not remote.spare_ready()
    panel = window.fit_panel
    qtbot.mouseClick(panel.controls.start_button, Qt.MouseButton.LeftButton)
    assert panel.state == "starting"
    qtbot.waitUntil(lambda: panel.state == "finished", timeout=300_000)
    assert "completed" in panel.controls.bar.format() and window.session.fitter.pid == spare
    assert not error_dialogs(window)
