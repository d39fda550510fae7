"""A running study: which run is current (k of n, its variant), every run's live charts (loss, PSNR, MS-SSIM and
learning rate, as for one fit), the time left, Pause / Cancel, and the summary when it ends.

The :class:`~nervplayer.study.StudyRunner` runs in a child process (its :meth:`~nervplayer.study.StudyRunner.task`
in a :class:`~nervplayer.jobs.child.ChildJob`), read by a worker thread (:func:`~nervplayer.gui.worker.run_job`),
as a fit does; its events come back on the GUI thread. A
cancelled study keeps its finished runs and the current run's checkpoint: Continue (or the same study started
again) skips the finished runs and resumes the interrupted one.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .. import plugins
from ..errors import NervError
from ..jobs.child import ChildJob
from ..session import Job
from ..study import RunSkipped, RunStarting, StudyFinished, StudyRunner
from ..train import Evaluated, Finished, Paused, Resumed, Started, Step
from ..train.child import prepare_process
from .charts import FitCharts
from .errors import show_error
from .icons import icon
from .worker import Worker, run_job

RUN, STATUS, PSNR, MS_SSIM = range(4)


def remaining_seconds(done: list[float], runs_after: int, elapsed: float, progress: float, left: float) -> float | None:
    """Seconds until a study ends: the current run goes on at its own pace (``progress``, a fraction of a run,
    done in ``elapsed`` seconds; ``left`` to go); each of the ``runs_after`` runs after it takes as long as the runs
    finished so far took on average (``done``, seconds each), or as the current run's pace says a whole run takes
    when none has finished. None until there is a pace to go by."""
    pace = elapsed / progress if progress > 0 and elapsed > 0 else None  # seconds per whole run, this run
    per_run = sum(done) / len(done) if done else pace
    current = left * pace if pace is not None else per_run
    if current is None or per_run is None:
        return None
    return current + runs_after * per_run


def describe_remaining(seconds: float | None) -> str:
    """``about 40 s left``, ``about 3 min left``, ``about 1 h 20 min left``; while unknown, ``estimating…``."""
    if seconds is None:
        return "estimating the time left…"
    if seconds < 60:
        return f"about {max(5, 5 * round(seconds / 5))} s left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


class StudyWindow(QWidget):
    """A top-level window watching one study folder. ``ended(status)``: completed, cancelled or failed."""

    run_started = Signal(int)  # the run's index
    ended = Signal(str)

    def __init__(
        self,
        runner: StudyRunner,
        open_summary: Callable[[str], Any],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("study-window")
        self.open_summary = open_summary
        self.runner = runner
        self.worker: Worker | None = None
        self.job: ChildJob | None = None  # the study's child process
        self.paused = False  # as the user asked (the child's runner holds the pause across runs)
        self.summary: Any = None  # what open_summary returned at the end (the summary dialog)
        self.charts: dict[int, FitCharts] = {}  # run index -> its charts
        self.events: list[Any] = []  # the study's own events, in order (RunStarting, RunSkipped, StudyFinished)
        self._index, self._epochs = 0, 1
        self.clock: Callable[[], float] = time.monotonic
        self._durations: list[float] = []  # seconds of each run fitted in this window, pauses left out
        self._run_began = self._fit_began = self._start_epoch = self._paused_for = 0.0
        self._paused_at: float | None = None
        self._resumed = False  # the current run resumed a checkpoint: its time is not a whole run's
        self.remaining: float | None = None  # the last estimate of the seconds left

        self.heading = QLabel()
        self.heading.setObjectName("study-heading")
        self.heading.setWordWrap(True)
        self.current = QLabel()
        self.current.setObjectName("study-current")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.runs = QTableWidget(0, 4)
        self.runs.setHorizontalHeaderLabels(["run", "status", "PSNR (dB)", "MS-SSIM"])
        self.runs.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.runs.verticalHeader().setVisible(False)
        self.runs.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.runs.cellClicked.connect(self._show_run)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)

        self.pause_button = QPushButton(icon("pause"), "Pause")
        self.cancel_button = QPushButton(icon("stop"), "Cancel")
        self.cancel_button.setToolTip("Stop after the current step; the study continues later where it stopped")
        self.continue_button = QPushButton(icon("play"), "Continue")
        self.continue_button.setToolTip("Skip the finished runs and resume the interrupted one")
        self.summary_button = QPushButton("Summary…")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button.clicked.connect(self.cancel)
        self.continue_button.clicked.connect(self.resume_study)
        self.summary_button.clicked.connect(lambda: self._open_summary())
        buttons = QHBoxLayout()
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.continue_button)
        buttons.addStretch(1)
        buttons.addWidget(self.summary_button)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.runs)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([330, 870])
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.current)
        layout.addWidget(self.bar)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)
        self.resize(1200, 560)
        self._show(runner)

    # --- the study -----------------------------------------------------------------------------------------
    def _show(self, runner: StudyRunner) -> None:
        study = runner.study
        self.setWindowTitle(f"Study '{study.name}' — {runner.out_dir}")
        runs = f"{len(runner.variants)} runs{' (quick)' if runner.quick else ''}"
        labels = ", ".join(v.label for v in runner.variants)
        self.heading.setText(f"<b>Study '{study.name}'</b> ({study.axis}): {runs} — {labels}<br>into {runner.out_dir}")
        self.runs.setRowCount(len(runner.variants))
        for row, variant in enumerate(runner.variants):
            for col, text in enumerate((variant.label, "pending", "–", "–")):
                item = QTableWidgetItem(text)
                if col >= PSNR:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.runs.setItem(row, col, item)
        self.runs.resizeColumnsToContents()

    def start(self) -> None:
        """Run the study in a child process, read by a worker thread (as a fit runs)."""
        self.paused = False
        self._set_running(True)
        self.current.setText("Preparing the first run…")
        job = ChildJob(
            self.runner.task(), prepare_process, (plugins.options(),), "the study's process", "nervplayer-study"
        )
        self.job = job
        self.worker = run_job(Job("study", lambda: iter(job), self._event, self._done, self._failed, job.cancel))

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.is_running()

    def _set_running(self, running: bool) -> None:
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Pause")
        self.pause_button.setIcon(icon("pause"))
        self.cancel_button.setEnabled(running)
        self.continue_button.setEnabled(not running)
        self.summary_button.setEnabled(not running)

    def toggle_pause(self) -> None:
        if self.job is None:
            return
        self.paused = paused = not self.paused
        self.job.send("pause" if paused else "resume")
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setIcon(icon("play" if paused else "pause"))

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
        self.cancel_button.setEnabled(False)
        self.pause_button.setEnabled(False)
        self.current.setText(self.current.text() + " — stopping after this step (a checkpoint is kept)")

    def resume_study(self) -> None:
        """Continue a stopped study: a fresh runner of the same options skips the finished runs."""
        try:
            runner = self.runner.again()
        except NervError as e:
            show_error(self, "Cannot continue the study", e)
            return
        self.runner = runner
        for charts in self.charts.values():
            charts.deleteLater()
        self.tabs.clear()
        self.charts.clear()
        self.events.clear()
        self._durations.clear()
        self._show(runner)
        self.start()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing the window stops a running study (it continues later where it stopped); never waits."""
        if self.is_running():
            self.cancel()
        event.accept()

    # --- its events ----------------------------------------------------------------------------------------
    def _event(self, event: Any) -> None:
        if isinstance(event, RunStarting):
            self.events.append(event)
            self._index = event.index
            self._run_began, self._paused_for, self._paused_at = self.clock(), 0.0, None
            self._resumed = event.resumed
            charts = FitCharts()
            charts.clear()
            self.charts[event.index] = charts
            self.tabs.setCurrentIndex(self.tabs.addTab(charts, f"{event.index + 1}. {event.variant.label}"))
            self.runs.selectRow(event.index)
            self._set_status(event.index, "resuming" if event.resumed else "fitting")
            self.remaining = remaining_seconds(self._durations, event.total - event.index - 1, 0.0, 0.0, 1.0)
            self.bar.setFormat(f"run {event.index + 1} / {event.total} · {describe_remaining(self.remaining)}")
            self.current.setText(
                f"Run {event.index + 1} of {event.total}: <b>{event.variant.label}</b> — "
                f"{'resuming from its checkpoint' if event.resumed else 'fitting'}"
            )
            self.run_started.emit(event.index)
        elif isinstance(event, RunSkipped):
            self.events.append(event)
            self._set_status(event.index, "done earlier")
            self.bar.setValue(round(1000 * (event.index + 1) / event.total))
        elif isinstance(event, StudyFinished):
            self.events.append(event)
        elif isinstance(event, Started):
            self._epochs, self._start_epoch, self._fit_began = event.epochs, event.start_epoch, self.clock()
            self.charts[self._index].add(event)
        elif isinstance(event, (Step, Evaluated)):
            self.charts[self._index].add(event)
            if isinstance(event, Step):
                total = len(self.runner.variants)
                self.bar.setValue(round(1000 * (self._index + min(event.epoch / self._epochs, 1)) / total))
                self.remaining = remaining_seconds(
                    self._durations,
                    total - self._index - 1,
                    self.clock() - self._fit_began - self._paused_for,
                    (event.epoch - self._start_epoch) / self._epochs,
                    max(0.0, self._epochs - event.epoch) / self._epochs,
                )
                self.bar.setFormat(
                    f"run {self._index + 1} / {total} · epoch {event.epoch:.1f} / {self._epochs} · "
                    + describe_remaining(self.remaining)
                )
            else:
                self._set_cell(self._index, PSNR, f"{event.psnr:.2f}")
                self._set_cell(self._index, MS_SSIM, f"{event.ms_ssim:.4f}")
        elif isinstance(event, Paused):
            self._paused_at = self.clock()
            self._set_status(self._index, "paused")
        elif isinstance(event, Resumed):
            if self._paused_at is not None:
                self._paused_for += self.clock() - self._paused_at
                self._paused_at = None
            self._set_status(self._index, "fitting")
        elif isinstance(event, Finished):
            self._set_status(self._index, "done" if event.status == "completed" else "stopped")
            if event.status == "completed" and not self._resumed:
                self._durations.append(self.clock() - self._run_began - self._paused_for)

    def _done(self, _result: Any) -> None:
        finished = next((e for e in reversed(self.events) if isinstance(e, StudyFinished)), None)
        status = finished.status if finished is not None else "cancelled"
        self._set_running(False)
        if status == "completed":
            self.bar.setValue(1000)
            self.bar.setFormat("completed")
            self.current.setText(f"Done: {len(self.runner.variants)} runs. The summary is in {self.runner.out_dir}")
            self.continue_button.setEnabled(False)
            self._open_summary()
        else:
            self.bar.setFormat("stopped")
            self.current.setText(
                "Stopped: the finished runs and the current run's checkpoint are kept. Continue resumes the study "
                "(so does the same study started again)."
            )
        self.ended.emit(status)

    def _failed(self, error: BaseException) -> None:
        self._set_running(False)
        self.bar.setFormat("failed")
        self.current.setText("The study stopped on an error; Continue resumes it once the cause is fixed.")
        show_error(self, "The study stopped", error)
        self.ended.emit("failed")

    def _open_summary(self) -> None:
        self.summary = self.open_summary(str(self.runner.out_dir))

    # --- the table -----------------------------------------------------------------------------------------
    def _set_cell(self, row: int, col: int, text: str) -> None:
        item = self.runs.item(row, col)
        if item is not None:
            item.setText(text)

    def _set_status(self, row: int, status: str) -> None:
        self._set_cell(row, STATUS, status)
        self.runs.resizeColumnToContents(STATUS)

    def _show_run(self, row: int, _col: int) -> None:
        charts = self.charts.get(row)
        if charts is not None:
            self.tabs.setCurrentWidget(charts)
