"""The fit panel's controls and progress: Start, Pause/Resume, Cancel, Save as .nerv, the progress bar, the time
left and the saved file. The panel (gui/fit_panel.py) owns the state; this widget shows it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from .icons import icon
from .progress import FitProgress, clock_text

BUSY = ("starting", "running", "paused", "saving")


class FitControls(QWidget):
    start_clicked = Signal()
    pause_clicked = Signal()
    cancel_clicked = Signal()
    save_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.progress = FitProgress()
        self.segments = 0  # segments of the running fit (0: one model)
        self.start_button = QPushButton(icon("play"), "Start")
        self.start_button.setObjectName("start")
        self.pause_button = QPushButton(icon("pause"), "Pause")
        self.cancel_button = QPushButton(icon("stop"), "Cancel")
        self.save_button = QPushButton(icon("save"), "Save as .nerv…")
        self.start_button.clicked.connect(self.start_clicked)
        self.pause_button.clicked.connect(self.pause_clicked)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self.save_button.clicked.connect(self.save_clicked)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.cancel_button):
            buttons.addWidget(b)
        self.bar = QProgressBar()
        self.timing = QLabel(" ")
        self.timing.setObjectName("timing")
        self.result = QLabel()
        self.result.setObjectName("result")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reset()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.bar)
        layout.addWidget(self.timing)
        layout.addWidget(self.save_button)
        layout.addWidget(self.result)

    def reset(self) -> None:
        """Nothing fitted yet: an empty bar that says ready, no time, no result."""
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setFormat("ready")
        self.timing.setText(" ")
        self.result.clear()

    def set_state(self, state: str, can_start: bool) -> None:
        """The buttons and the bar in the panel's ``state`` (FitPanel.set_state)."""
        self.start_button.setEnabled(can_start)
        self.start_button.setText("Start again" if state == "finished" else "Start")
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.pause_button.setIcon(icon("play" if state == "paused" else "pause"))
        self.cancel_button.setEnabled(state in BUSY and state != "starting")
        self.save_button.setEnabled(state in ("running", "paused", "finished"))
        if state == "starting":
            self.bar.setRange(0, 0)  # busy: decoding the clip and building the model
            self.bar.setFormat("preparing…")
        elif self.bar.maximum() == 0:
            self.bar.setRange(0, 1000)

    def started(self, epochs: int, start_epoch: float, time_limit: float | None) -> None:
        self.segments = 0
        self.progress.start(epochs, start_epoch, time_limit)
        self.bar.setRange(0, 1000)
        self.update_progress(start_epoch)

    def segments_started(self, count: int, time_limit: float | None) -> None:
        """A segmented fit: the progress counts the ``count`` segments done, the time left follows the clock."""
        self.segments = count
        self.progress.start(count, 0.0, time_limit)
        self.bar.setRange(0, 1000)
        self.update_progress(0.0)

    def update_progress(self, epoch: float) -> None:
        """``epoch``: epochs done, or a segmented fit's segments done."""
        p = self.progress
        p.update(epoch)
        self.bar.setValue(round(1000 * p.fraction()))
        limit = f" · stops at {clock_text(p.time_limit)}" if p.time_limit is not None else f" / {p.epochs}"
        what = f"{epoch:.0f} of {self.segments} segments done" if self.segments else f"epoch {epoch:.1f}"
        self.bar.setFormat(f"{what}{limit}")
        spe, eta = p.seconds_per_epoch(), p.eta()
        if eta is not None:
            rate = f"{spe:.2f} s/epoch · " if spe is not None else ""
            self.timing.setText(f"{rate}{clock_text(p.elapsed())} elapsed · {clock_text(eta)} left")

    def finished(self, status: str) -> None:
        p = self.progress
        at = f"{p.epoch:.0f} of {self.segments} segments" if self.segments else f"epoch {p.epoch:.1f} / {p.epochs}"
        self.bar.setFormat(f"{status} at {at}")

    def show_saving(self, text: str, fraction: float | None = None) -> None:
        if fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(round(1000 * fraction))
        self.bar.setFormat(text)
