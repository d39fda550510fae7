"""The main window: the player in the middle, the fit panel and the live charts in docks, menus built from the
action table, and the dialogs. What is open and the fit / save lifecycle live in the Qt-free
:class:`~nervplayer.session.Session`; the window binds its widgets to the session's events
(:mod:`~nervplayer.gui.session_view`) and turns every error into a dialog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QStackedWidget, QWidget

from ..codec import CompressOptions
from ..errors import NervError
from ..paths import runs_dir
from ..plugins import get_registry
from ..session import Session
from ..settings import Preferences
from ..study import StudyRunner, open_study
from ..train import FitConfig, open_run
from .actions import ACTIONS, MENUS, apply_bindings, create_actions, set_bindings
from .charts import FitCharts
from .dialogs import ABOUT, PluginsDialog, SaveDialog
from .errors import show_error
from .fit_panel import FitPanel
from .player import PlayerWidget
from .preferences import PreferencesDialog
from .session_view import SessionView
from .settings import Settings
from .story import StoryPanel
from .study_live import StudyWindow
from .study_start import NewStudyDialog
from .study_view import StudyDialog
from .worker import run_job

VIDEO_FILTER = "Videos and .nerv files (*.nerv *.mp4 *.mkv *.mov *.avi *.webm *.y4m);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("nervplayer")
        self.setObjectName("main-window")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.session = Session(run_job, runs_dir())
        self._fullscreen_state: tuple[Any, bool] | None = None
        self.study_window: StudyWindow | None = None  # the study started from File > New study

        set_bindings(self.settings.prefs.keys)  # before any action is created from the table
        self.player = PlayerWidget(cache_mb=self.settings.cache_mb)
        self.player.canvas.double_clicked.connect(self.toggle_fullscreen)
        self.setCentralWidget(self.player)

        self.fit_panel = FitPanel()
        self.fit_panel.controls.start_clicked.connect(self.start_fit)
        self.fit_panel.controls.pause_clicked.connect(self.toggle_pause_fit)
        self.fit_panel.controls.cancel_clicked.connect(self.cancel_fit)
        self.fit_panel.controls.save_clicked.connect(self.save_nerv)
        self.fit_panel.controls.result.linkActivated.connect(
            lambda path: self.open_path(path, truth=self.session.video.path if self.session.video else None)
        )
        self.fit_dock = self._dock("Fit", self.fit_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.charts = FitCharts()
        self.story = StoryPanel()  # in the same dock while a .nerv plays (session_view.py)
        self.lower_panel = QStackedWidget()
        self.lower_panel.addWidget(self.charts)
        self.lower_panel.addWidget(self.story)
        self.charts_dock = self._dock("Training", self.lower_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        self.file_label = QLabel()
        self.device_label = QLabel()
        self.statusBar().addPermanentWidget(self.file_label)
        self.statusBar().addPermanentWidget(self.device_label)

        self.named_actions = create_actions(self, "window", self)
        self.named_actions.update(self.player.named_actions)
        self._build_menus()
        self.view = SessionView(self)  # binds the session's events to the widgets above

        self._status_timer = QTimer(self, interval=1000)
        self._status_timer.timeout.connect(self._update_device_label)
        self._status_timer.start()
        self._update_device_label()
        self.update_actions()

        self.resize(1400, 900)
        self.resizeDocks([self.fit_dock], [380], Qt.Orientation.Horizontal)
        self.resizeDocks([self.charts_dock], [300], Qt.Orientation.Vertical)
        geometry, state = self.settings.layout()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        self.fit_panel.set_defaults(self.settings.prefs.device, self.settings.prefs.precision)
        if self.settings.problem:
            show_error(self, "Preferences not loaded", self.settings.problem)
        self._report_plugin_failures()

    # --- building -----------------------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        if title == "Fit":
            widget.setMinimumWidth(320)
        else:
            widget.setMinimumHeight(220)
        return dock

    def _build_menus(self) -> None:
        bar = self.menuBar()
        for title, groups in MENUS.items():
            menu = bar.addMenu(title)
            for n, group in enumerate(groups):
                if n:
                    menu.addSeparator()
                for spec in ACTIONS:
                    if spec.group == group and spec.id in self.named_actions:
                        menu.addAction(self.named_actions[spec.id])
                if group == "File":
                    self.recent_menu = menu.addMenu("Open &Recent")
                    self.recent_menu.aboutToShow.connect(self._fill_recent)
                    menu.insertMenu(self.named_actions["save_nerv"], self.recent_menu)
            if title == "&View":
                menu.addSeparator()
                menu.addAction(self.fit_dock.toggleViewAction())
                menu.addAction(self.charts_dock.toggleViewAction())

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        paths = self.settings.recent_files()
        for path in paths:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def update_actions(self) -> None:
        phase = self.session.phase
        self.named_actions["fit_start"].setEnabled(phase in ("ready", "finished"))
        self.named_actions["fit_pause"].setEnabled(phase in ("running", "paused"))
        self.named_actions["fit_cancel"].setEnabled(phase in ("running", "paused", "saving"))
        self.named_actions["save_nerv"].setEnabled(phase in ("running", "paused", "finished"))

    def _report_plugin_failures(self) -> None:
        failed = [r for r in get_registry().report if r.status == "failed"]
        if failed:
            lines = "\n".join(f"{r.name} ({r.source}): {r.error}" for r in failed)
            show_error(
                self,
                f"{len(failed)} plugin(s) failed to load",
                f"{lines}\n\nThe others work; Help ▸ Plugins lists them all.",
            )

    # --- opening ------------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path = self.session.path
        start = str(Path(path).parent) if path else str(Path.home())
        chosen, _ = QFileDialog.getOpenFileName(self, "Open", start, VIDEO_FILTER)
        if chosen:
            self.open_path(chosen)

    def open_truth_dialog(self) -> None:
        if self.session.nerv is None or self.session.path is None:
            self.statusBar().showMessage("Ground truth applies to an open .nerv file", 4000)
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Open ground truth", str(Path(self.session.path).parent), VIDEO_FILTER
        )
        if path:
            self.open_truth(path)

    def open_path(self, path: str, truth: str | None = None, frame: int | None = None) -> None:
        """Open a video (to fit) or a ``.nerv`` (to play), in the background; errors become dialogs."""
        if not Path(path).exists():
            show_error(self, "Cannot open", f"No such file: {path}")
            return
        if not self._confirm_discard():
            return
        self._remember_frame()
        self.view.clear_fit()
        self.player.canvas.placeholder = f"Opening {Path(path).name}…"
        self.player.set_source(None)
        self.session.open(path, truth, self.settings.last_frame(path) if frame is None else frame)

    def open_truth(self, path: str) -> None:
        self.session.open_truth(path, self.player.state.frame)

    def _remember_frame(self) -> None:
        if self.session.path is not None:
            self.settings.set_last_frame(self.session.path, self.player.state.frame)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        path = paths[0]
        if self.session.nerv is not None and not path.lower().endswith(".nerv") and self.player.truth is None:
            self.open_truth(path)  # a video dropped on a .nerv without ground truth becomes its ground truth
        else:
            self.open_path(path)

    # --- fitting and saving -------------------------------------------------------------------------------
    def start_fit(self, config: FitConfig | None = None) -> None:
        """Start a fit of the open video with the panel's options (or ``config``), in a worker thread."""
        if self.session.video is None:
            self.statusBar().showMessage("Open a video to fit first", 4000)
            return
        if self.session.phase not in ("ready", "finished") or not self._confirm_discard():
            return
        segmented = self.fit_panel.segmented_plan() if config is None else None
        try:
            config = config or self.fit_panel.config()
        except (ValueError, NervError) as e:
            show_error(self, "Cannot start the fit", e)
            return
        self.view.clear_fit(keep_axes=True)
        if segmented is not None:  # the plan cuts the clip: nervplayer fit --time T (--segment N)
            self.session.start_segmented_fit(config, *segmented)
        else:
            self.session.start_fit(config, preview=self.player.state.frame)

    def toggle_pause_fit(self) -> None:
        self.session.toggle_pause()

    def cancel_fit(self) -> None:
        self.session.cancel()

    def save_nerv(self) -> None:
        """Save the fit as ``.nerv``: a running fit is stopped first (it keeps a checkpoint), then the options."""
        self.session.request_save()

    def ask_save_options(self) -> None:
        suggested = Path(self.session.path or "video").with_suffix(".nerv")
        if self.session.segment_run is not None:  # compressed segment by segment already: only where to
            files = QFileDialog(self, "Save the segmented .nerv", str(suggested), "nervplayer files (*.nerv)")
            files.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
            files.fileSelected.connect(lambda path: self.save_nerv_to(Path(path), CompressOptions()))
            files.open()
            return
        dialog = SaveDialog(suggested, self.fit_panel.controls.progress.epochs, self, learned=self._learned_steps())
        planned = self.fit_panel.planned if self.fit_panel.budget_seconds is not None else None
        if planned is not None and planned.target is not None:  # the fit was planned for it
            dialog.target.setText(planned.target.text())
        dialog.accepted.connect(
            lambda: self.save_nerv_to(dialog.output(), dialog.options(self.fit_panel.device.currentText()))
        )
        dialog.open()

    def _learned_steps(self) -> bool:
        """The fit learned its quantization (rate-aware): its file holds the steps training learned."""
        try:
            return self.session.run_dir is not None and bool(open_run(self.session.run_dir).fit_config.qat)
        except NervError:
            return False

    def save_nerv_to(self, output: Path, options: CompressOptions) -> None:
        """Run the compression pipeline on the fit's run folder in a worker, with progress in the panel."""
        self.session.save(output, options)

    # --- leaving ------------------------------------------------------------------------------------------
    def ask_unsaved(self) -> str:
        """``save``, ``discard`` or ``cancel`` (a method, so that tests can answer for the user)."""
        box = QMessageBox(
            QMessageBox.Icon.Question, "Unsaved fit", "The fitted model has not been saved as .nerv.", parent=self
        )
        box.setInformativeText("Save it, or discard it?")
        save = box.addButton("Save as .nerv…", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return "save" if box.clickedButton() is save else "discard" if box.clickedButton() is discard else "cancel"

    def _confirm_discard(self) -> bool:
        """True if nothing unsaved would be lost, or the user agreed to lose it (the work is then stopped,
        without waiting for it)."""
        if not (self.session.busy or self.session.unsaved):
            return True
        answer = self.ask_unsaved()
        if answer == "save":
            self.save_nerv()
            return False
        if answer == "discard":
            self.session.discard()
            return True
        return False

    def closeEvent(self, event: QCloseEvent) -> None:
        """Close without waiting on any thread: running work is told to stop and ends on its own (quitting the
        app waits for it, see :func:`~nervplayer.gui.worker.stop_all`)."""
        if not self._confirm_discard():
            event.ignore()
            return
        self._remember_frame()
        if self._fullscreen_state is not None:
            self.leave_fullscreen()
        self.settings.save_layout(self.saveGeometry(), self.saveState())
        if self.study_window is not None:
            self.study_window.close()  # a running study stops where it can continue
        self.session.shutdown()
        self.player.shutdown()
        event.accept()

    # --- view ---------------------------------------------------------------------------------------------
    def toggle_fullscreen(self) -> None:
        if self._fullscreen_state is not None:
            self.leave_fullscreen()
            return
        self._fullscreen_state = (self.saveState(), self.isMaximized())
        for dock in (self.fit_dock, self.charts_dock):
            dock.hide()
        self.menuBar().hide()
        self.statusBar().hide()
        self.named_actions["fullscreen"].setChecked(True)
        self.showFullScreen()

    def leave_fullscreen(self) -> None:
        if self._fullscreen_state is None:
            self.player.canvas.help.hide()
            return
        state, maximized = self._fullscreen_state
        self._fullscreen_state = None
        self.menuBar().show()
        self.statusBar().show()
        self.restoreState(state)
        self.named_actions["fullscreen"].setChecked(False)
        self.showMaximized() if maximized else self.showNormal()

    def show_preferences(self) -> PreferencesDialog:
        """Preferences (``nervplayer settings`` is the command-line twin); OK applies and saves them."""
        dialog = PreferencesDialog(self.settings.prefs, self)
        dialog.accepted.connect(lambda: self.apply_preferences(dialog.preferences()))
        dialog.open()
        return dialog

    def apply_preferences(self, prefs: Preferences) -> None:
        """Save ``prefs`` and apply them: fit defaults, frame cache, and keys in menus, shortcuts and help."""
        try:
            self.settings.save_prefs(prefs)
        except (OSError, NervError) as e:
            show_error(self, "Cannot save the preferences", e)
            return
        set_bindings(prefs.keys)
        apply_bindings(self.named_actions)
        self.player.canvas.help.refresh()
        self.player.set_cache_mb(prefs.cache_mb)
        self.fit_panel.set_defaults(prefs.device, prefs.precision)
        self.statusBar().showMessage(f"Preferences saved to {self.settings.prefs_file}", 4000)

    def set_cache_mb(self, megabytes: int) -> None:
        self.settings.cache_mb = megabytes
        self.player.set_cache_mb(megabytes)
        self.statusBar().showMessage(f"Frame cache: {megabytes} MB", 4000)

    def new_study_dialog(self) -> NewStudyDialog | None:
        """File > New study: the options of ``nervplayer study``; the study runs in its own window."""
        if self.study_window is not None and self.study_window.is_running():
            self.study_window.show()
            self.study_window.raise_()
            self.statusBar().showMessage("A study is running: cancel it before starting another", 6000)
            return None
        dialog = NewStudyDialog(self.session.video.path if self.session.video else None, self)
        dialog.ready.connect(self.watch_study)
        dialog.open()
        return dialog

    def watch_study(self, runner: StudyRunner) -> StudyWindow:
        """Run a checked study in a worker thread, its runs' live charts in a window; its summary at the end."""
        if self.study_window is not None:
            self.study_window.close()
        self.study_window = StudyWindow(runner, self.open_study, self)
        self.study_window.show()
        self.study_window.start()
        return self.study_window

    def open_study_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open study folder", str(Path.home()))
        if folder:
            self.open_study(folder)

    def open_study(self, folder: str) -> StudyDialog | None:
        """Show a study folder's plot and table (``nervplayer study --show``); a bad folder is an error dialog."""
        try:
            outputs = open_study(folder)
        except NervError as e:
            show_error(self, "Cannot open study", e)
            return None
        dialog = StudyDialog(outputs, self)
        dialog.open()
        return dialog

    def show_plugins(self) -> None:
        PluginsDialog(get_registry(), self).open()

    def show_about(self) -> None:
        QMessageBox.about(self, "About nervplayer", ABOUT)

    def _update_device_label(self) -> None:
        self.device_label.setText(self.session.device_status())
