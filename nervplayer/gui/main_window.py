"""The main window: the player in the middle, the fit panel and the live charts in docks, menus built from the
action table. It opens files, runs fits and compressions in worker threads, and turns every error into a
dialog. It holds no model logic: that is the core's, reached through ``Fitter``, ``Compressor`` and
``NervVideo``."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths, Qt, QTimer
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow, QMessageBox,
                               QWidget)

from ..codec import Compressed, CompressOptions, Compressor, NervVideo, Stage
from ..errors import NervError, VideoError
from ..plugins import registry
from ..train import Evaluated, FitConfig, Finished, Fitter, Paused, Resumed, Started, Step
from ..train.device import memory_in_use
from ..video import VideoInfo, file_hash, probe
from .actions import MENUS, ACTIONS, create_actions
from .charts import FitCharts
from .dialogs import ABOUT, PluginsDialog, SaveDialog
from .errors import show_error
from .fit_panel import FitPanel
from .player import PlayerWidget
from .settings import Settings
from .source import ArraySource, LiveSource, StoreSource, load_video
from .worker import Worker

VIDEO_FILTER = "Videos and .nerv files (*.nerv *.mp4 *.mkv *.mov *.avi *.webm *.y4m);;All files (*)"
REFRESH_MS = 1000  # how often the shown frame is decoded again from the live model


def process_memory() -> int | None:
    """Resident memory of this process in bytes (Linux), else the peak (other Unixes), else None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource
        import sys
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except (ImportError, OSError):
        return None


def warm_up_torch() -> None:
    """Pay torch's one-time optimizer set-up now, in a worker, while the user picks options.

    The first ``torch.optim.Adam`` imports ``torch._dynamo`` (about 2 s of imports that hold the GIL in bursts of
    100+ ms); done at the start of a fit, those bursts were the longest stalls of the GUI thread.
    """
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("nervplayer")
        self.setObjectName("main-window")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.runs_dir = Path(QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.AppLocalDataLocation) or Path.home() / ".nervplayer") / "runs"

        self.video: VideoInfo | None = None  # the clip to fit
        self.nerv: NervVideo | None = None
        self.path: str | None = None  # what is open (video or .nerv)
        self.fitter: Fitter | None = None
        self.run_dir: Path | None = None
        self.unsaved = False  # a fit's result not yet saved as .nerv
        self.save_after_fit = False
        self._fit_worker: Worker | None = None
        self._save_worker: Worker | None = None
        self._loader: Worker | None = None
        self._warm_up: Worker | None = None
        self._compressor: Compressor | None = None
        self._cancel_requested = False  # a cancel that came before the worker handed its Fitter over
        self._steps_since_refresh = 0
        self._pending_epoch: float | None = None
        self._decode_error_shown = False
        self._finetune_epochs = 1
        self._fullscreen_state = None

        self.player = PlayerWidget(cache_mb=self.settings.cache_mb)
        self.player.decode_failed.connect(self._decode_failed)
        self.player.canvas.double_clicked.connect(self.toggle_fullscreen)
        self.setCentralWidget(self.player)

        self.fit_panel = FitPanel()
        self.fit_panel.start_clicked.connect(self.start_fit)
        self.fit_panel.pause_clicked.connect(self.toggle_pause_fit)
        self.fit_panel.cancel_clicked.connect(self.cancel_fit)
        self.fit_panel.save_clicked.connect(self.save_nerv)
        self.fit_panel.result.linkActivated.connect(
            lambda path: self.open_path(path, truth=self.video.path if self.video else None))
        self.fit_dock = self._dock("Fit", self.fit_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.charts = FitCharts()
        self.charts_dock = self._dock("Training", self.charts, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        self.file_label = QLabel()
        self.device_label = QLabel()
        self.statusBar().addPermanentWidget(self.file_label)
        self.statusBar().addPermanentWidget(self.device_label)

        self.actions = create_actions(self, "window", self)
        self.actions.update(self.player.actions)
        self._build_menus()

        self._fit_timer = QTimer(self, interval=1000 // 30, timeout=self._fit_tick)
        self._refresh_timer = QTimer(self, interval=REFRESH_MS, timeout=self._refresh_live)
        self._status_timer = QTimer(self, interval=1000, timeout=self._update_device_label)
        self._status_timer.start()
        self._update_device_label()
        self._update_actions()

        self.resize(1400, 900)
        self.resizeDocks([self.fit_dock], [380], Qt.Orientation.Horizontal)
        self.resizeDocks([self.charts_dock], [300], Qt.Orientation.Vertical)
        geometry, state = self.settings.layout()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        self._report_plugin_failures()
        self._warm_up = self._run(warm_up_torch, "warm-up", failed=lambda e: None)

    # --- building -----------------------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
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
                    if spec.group == group and spec.id in self.actions:
                        menu.addAction(self.actions[spec.id])
                if group == "File":
                    self.recent_menu = menu.addMenu("Open &Recent")
                    self.recent_menu.aboutToShow.connect(self._fill_recent)
                    menu.insertMenu(self.actions["save_nerv"], self.recent_menu)
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

    def _update_actions(self) -> None:
        state = self.fit_panel.state
        self.actions["fit_start"].setEnabled(state in ("ready", "finished"))
        self.actions["fit_pause"].setEnabled(state in ("running", "paused"))
        self.actions["fit_cancel"].setEnabled(state in ("running", "paused", "saving"))
        self.actions["save_nerv"].setEnabled(state in ("running", "paused", "finished"))

    def _report_plugin_failures(self) -> None:
        failed = [r for r in registry().report if r.status == "failed"]
        if failed:
            lines = "\n".join(f"{r.name} ({r.source}): {r.error}" for r in failed)
            show_error(self, f"{len(failed)} plugin(s) failed to load",
                       f"{lines}\n\nThe others work; Help ▸ Plugins lists them all.")

    # --- opening ------------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = str(Path(self.path).parent) if self.path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open", start, VIDEO_FILTER)
        if path:
            self.open_path(path)

    def open_truth_dialog(self) -> None:
        if self.nerv is None:
            self.statusBar().showMessage("Ground truth applies to an open .nerv file", 4000)
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open ground truth", str(Path(self.path).parent),
                                              VIDEO_FILTER)
        if path:
            self.open_truth(path)

    def open_path(self, path: str, truth: str | None = None, frame: int | None = None) -> None:
        """Open a video (to fit) or a ``.nerv`` (to play), in the background; errors become dialogs."""
        if not Path(path).exists():
            show_error(self, "Cannot open", f"No such file: {path}")
            return
        if not self._confirm_discard():
            return
        self._forget_current()
        start = self.settings.last_frame(path) if frame is None else frame
        self.player.canvas.placeholder = f"Opening {Path(path).name}…"
        self.player.set_source(None)
        self.statusBar().showMessage(f"Opening {path}…")
        if path.lower().endswith(".nerv"):
            job = lambda: self._load_nerv(path, truth)  # noqa: E731
            done = lambda result: self._nerv_loaded(path, result, start)  # noqa: E731
        else:
            job = lambda: (probe(path), load_video(path))  # noqa: E731
            done = lambda result: self._video_loaded(path, result, start)  # noqa: E731
        self._loader = self._run(job, f"open {Path(path).name}", done=done, failed=self._open_failed)

    def open_truth(self, path: str) -> None:
        nerv, frame = self.nerv, self.player.state.frame
        if nerv is None:
            return
        self.statusBar().showMessage(f"Loading ground truth {path}…")
        self._loader = self._run(
            lambda: (_truth_for(nerv, path, check_hash=False), path), "open ground truth",
            done=lambda result: self._nerv_loaded(self.path, (nerv, *result), frame),
            failed=lambda e: show_error(self, "Cannot open the ground truth", e))

    @staticmethod
    def _load_nerv(path: str, truth: str | None) -> tuple[NervVideo, ArraySource | None, str | None]:
        nerv = NervVideo.open(path, device="auto")
        if truth is not None:
            return nerv, _truth_for(nerv, truth, check_hash=False), truth
        beside = Path(path).parent / str(nerv.file.source.get("name", ""))
        if nerv.file.source.get("name") and beside.is_file():
            try:
                return nerv, _truth_for(nerv, str(beside), check_hash=True), str(beside)
            except NervError:
                pass  # a different clip of the same name: play without ground truth
        return nerv, None, None

    def _nerv_loaded(self, path: str, result: tuple, frame: int) -> None:
        nerv, truth, truth_path = result
        self.nerv, self.path, self.video = nerv, path, None
        self.player.canvas.placeholder = ""
        self.player.set_source(nerv, truth, frame=frame, name=Path(path).stem, label=".nerv")
        self.settings.add_recent(path)
        size = Path(path).stat().st_size
        meta, made = nerv.file.metrics or {}, nerv.file.compression or {}
        h, w = nerv.size
        bpp = size * 8 / (nerv.num_frames * h * w)
        quality = f" · {meta['psnr']:.2f} dB" if meta.get("psnr") is not None else ""
        self.file_label.setText(f"{Path(path).name} · {nerv.num_frames} frames · {w}×{h} · "
                                f"{size / 1024:.1f} KiB · {bpp:.4f} bpp{quality}")
        lines = [f"<b>{Path(path).name}</b>", f"{nerv.num_frames} frames · {w}×{h} · {nerv.fps:g} fps",
                 f"{size / 1024:.1f} KiB · {bpp:.4f} bpp{quality}"]
        if made:
            lines.append(f"pruned {made.get('prune_ratio', 0):.0%} · {made.get('bits', '?')}-bit weights")
        if nerv.file.source.get("name"):
            lines.append(f"made from {nerv.file.source['name']}")
        lines.append("<br>Open a video to fit a new model.")
        self.fit_panel.set_video(None, "<br>".join(lines))
        self.setWindowTitle(f"{Path(path).name} — nervplayer")
        gt = f"ground truth: {Path(truth_path).name}" if truth_path else "no ground truth (File ▸ Open ground truth)"
        self.statusBar().showMessage(f"Opened {path} · {gt}", 6000)

    def _video_loaded(self, path: str, result: tuple[VideoInfo, ArraySource], frame: int) -> None:
        info, frames = result
        self.video, self.nerv, self.path = info, None, path
        self.fit_panel.set_video(info)
        self.player.canvas.placeholder = ""
        self.player.set_source(frames, None, frame=frame, name=Path(path).stem, label="source video")
        self.settings.add_recent(path)
        self.file_label.setText(f"{Path(path).name} · {info.num_frames} frames · {info.width}×{info.height} · "
                                f"{info.fps:g} fps")
        self.setWindowTitle(f"{Path(path).name} — nervplayer")
        self.statusBar().showMessage("Ready to fit: choose the options on the right and press Start", 6000)
        self._update_actions()

    def _open_failed(self, error: BaseException) -> None:
        self.player.canvas.placeholder = "Drop a video or a .nerv file here"
        self.player.canvas.update()
        self.statusBar().clearMessage()
        show_error(self, "Cannot open the file", error)

    def _forget_current(self) -> None:
        if self.path is not None:
            self.settings.set_last_frame(self.path, self.player.state.frame)
        self.fitter, self.run_dir, self.unsaved = None, None, False
        self._decode_error_shown = False
        self.charts.clear()
        self.charts.summary.setText("No fit yet: press Start to train the model and watch it learn.")
        self.fit_panel.result.clear()

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        path = paths[0]
        if self.nerv is not None and not path.lower().endswith(".nerv") and self.player.truth is None:
            self.open_truth(path)  # a video dropped on a .nerv without ground truth becomes its ground truth
        else:
            self.open_path(path)

    # --- fitting ------------------------------------------------------------------------------------------
    def start_fit(self, config: FitConfig | None = None) -> None:
        """Start a fit of the open video with the panel's options (or ``config``), in a worker thread."""
        if self.video is None:
            self.statusBar().showMessage("Open a video to fit first", 4000)
            return
        if self.fit_panel.state not in ("ready", "finished") or not self._confirm_discard():
            return
        try:
            config = config or self.fit_panel.config()
        except (ValueError, NervError) as e:
            show_error(self, "Cannot start the fit", e)
            return
        self.run_dir = self.runs_dir / f"{Path(config.video).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        n = 1
        while self.run_dir.exists():
            self.run_dir, n = self.run_dir.with_name(f"{self.run_dir.name}-{n}"), n + 1
        self.unsaved, self.save_after_fit = False, False
        self.fit_panel.result.clear()
        self.charts.clear()
        self.fit_panel.set_state("starting")
        self._update_actions()
        self.statusBar().showMessage("Preparing the fit: decoding the clip and building the model…")
        run_dir, preview = self.run_dir, self.player.state.frame
        self._cancel_requested = False

        def work():
            fitter = Fitter(config, run_dir, preview_index=preview)
            if self._cancel_requested:
                fitter.cancel()
            yield fitter  # handed to the GUI thread first, so it can pause, cancel and decode
            yield from fitter.run()

        self._fit_worker = self._run(work, "fit", event=self._fit_event, done=self._fit_done,
                                     failed=self._fit_failed)

    def _fit_event(self, event: Any) -> None:
        if isinstance(event, Fitter):
            self.fitter = event
            fps = self.video.fps if self.video else 25.0
            frame = min(self.player.state.frame, event.num_frames - 1)
            self.player.set_source(LiveSource(event, fps), StoreSource(event.store, fps), frame=frame,
                                   name=Path(self.path or "fit").stem, label="live model", scan_psnr=False)
        elif isinstance(event, Step):
            self.charts.add(event)
            self._pending_epoch = event.epoch
            self._steps_since_refresh += 1
        elif isinstance(event, Evaluated):
            self.charts.add(event)
            self.player.timeline.set_psnr(event.per_frame_psnr)
            self.player._update_labels()
        elif isinstance(event, Started):
            self.fit_panel.started(event.epochs, event.start_epoch)
            self._update_actions()
            self._fit_timer.start()
            self._refresh_timer.start()
            self.statusBar().showMessage(
                f"Fitting {event.num_params:,} parameters on {event.device} ({event.precision}), "
                f"{event.train_frames} frames of {event.width}×{event.height}", 8000)
        elif isinstance(event, Paused):
            self.fit_panel.set_paused(True)
        elif isinstance(event, Resumed):
            self.fit_panel.set_paused(False)
        elif isinstance(event, Finished):
            self._fit_tick()
            self.fit_panel.finished(event.status)
            self.unsaved = True
            self.player.refresh()
            best = self.charts.history.best()
            quality = f", best PSNR {best[1]:.2f} dB" if best else ""
            self.statusBar().showMessage(f"Fit {event.status} at epoch {event.epoch:.1f}{quality}. "
                                         "Save it as .nerv to keep it.", 10000)

    def _fit_tick(self) -> None:
        """Progress at most 30 times a second, however fast the steps come."""
        if self._pending_epoch is not None:
            self.fit_panel.update_progress(self._pending_epoch)
            self._pending_epoch = None

    def _refresh_live(self) -> None:
        if self._steps_since_refresh:
            self._steps_since_refresh = 0
            self.player.refresh()

    def _fit_done(self, _result: Any) -> None:
        self._fit_timer.stop()
        self._refresh_timer.stop()
        self._update_actions()
        if self.save_after_fit:
            self.save_after_fit = False
            self.save_nerv()

    def _fit_failed(self, error: BaseException) -> None:
        self._fit_timer.stop()
        self._refresh_timer.stop()
        if self.fitter is None:  # failed while preparing: the source video is still what is shown
            self.fit_panel.set_state("ready")
        else:
            self.fit_panel.finished("failed")
            self.unsaved = (self.run_dir is not None and (self.run_dir / "checkpoint.pt").exists())
        self._update_actions()
        show_error(self, "The fit stopped", error)

    def toggle_pause_fit(self) -> None:
        if self.fitter is None or self.fit_panel.state not in ("running", "paused"):
            return
        if self.fitter.paused:
            self.fitter.resume()
            self.fit_panel.set_paused(False)
        else:
            self.fitter.pause()
            self.fit_panel.set_paused(True)

    def cancel_fit(self) -> None:
        if self.fit_panel.state == "saving" and self._compressor is not None:
            self._compressor.cancel()
        elif self.fitter is not None and self.fit_panel.state in ("running", "paused"):
            self.fitter.cancel()
            self.statusBar().showMessage("Cancelling: the fit stops after this step and keeps a checkpoint", 5000)

    @property
    def fitting(self) -> bool:
        return self._fit_worker is not None and self._fit_worker.isRunning()

    # --- saving -------------------------------------------------------------------------------------------
    def save_nerv(self) -> None:
        """Save the fit as ``.nerv``: stop a running fit first (it keeps a checkpoint), then ask the options."""
        if self.run_dir is None:
            self.statusBar().showMessage("Nothing to save yet: fit a video first", 4000)
            return
        if self.fitting:
            self.save_after_fit = True
            self.cancel_fit()
            return
        suggested = Path(self.path or "video").with_suffix(".nerv")
        dialog = SaveDialog(suggested, self.fit_panel.progress.epochs, self)
        dialog.accepted.connect(lambda: self.save_nerv_to(dialog.output(), dialog.options(
            self.fit_panel.device.currentText())))
        dialog.open()

    def save_nerv_to(self, output: Path, options: CompressOptions) -> None:
        """Run the compression pipeline on the fit's run folder in a worker, with progress in the panel."""
        run_dir, source = self.run_dir, self.video.path if self.video else None
        self.fit_panel.set_state("saving")
        self.fit_panel.show_saving("preparing…")
        self._update_actions()

        def work():
            self._compressor = Compressor(run_dir, output, options, source=source)
            yield from self._compressor.run()

        self._save_worker = self._run(work, "compress", event=self._save_event, done=self._save_done,
                                      failed=self._save_failed)

    def _save_event(self, event: Any) -> None:
        if isinstance(event, Stage):
            self.fit_panel.show_saving(f"{event.name}: {event.detail}" if event.name != "finetune" else
                                       "fine-tuning…")
            self.statusBar().showMessage(f"Saving: {event.name} — {event.detail}")
        elif isinstance(event, Started):
            self._finetune_epochs = event.epochs
        elif isinstance(event, Step):
            total = self._finetune_epochs
            self.fit_panel.show_saving(f"fine-tuning: epoch {event.epoch:.1f} / {total}", event.epoch / total)
        elif isinstance(event, Compressed):
            self._show_saved(event)

    def _show_saved(self, c: Compressed) -> None:
        self.unsaved = False
        self.settings.add_recent(c.path)
        psnr = c.metrics.get("psnr")
        quality = f" · PSNR {psnr:.2f} dB" if psnr is not None else ""
        text = f"Saved {Path(c.path).name}: {c.file_bytes / 1024:.1f} KiB · {c.bpp:.4f} bpp{quality}"
        self.fit_panel.result.setText(f"{text}<br><a href='{c.path}' style='color:#8ab4f8'>Open it</a>")
        self.statusBar().showMessage(text, 15000)

    def _save_done(self, _result: Any) -> None:
        self._compressor = None
        self.fit_panel.set_state("finished")
        self.fit_panel.bar.setRange(0, 1000)
        self.fit_panel.bar.setValue(1000 if not self.unsaved else 0)
        self.fit_panel.bar.setFormat("saved" if not self.unsaved else "save cancelled")
        self._update_actions()

    def _save_failed(self, error: BaseException) -> None:
        self._save_done(None)
        self.fit_panel.bar.setFormat("save failed")
        show_error(self, "Saving the .nerv failed", error)

    # --- leaving ------------------------------------------------------------------------------------------
    def ask_unsaved(self) -> str:
        """``save``, ``discard`` or ``cancel`` (a method, so that tests can answer for the user)."""
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved fit",
                          "The fitted model has not been saved as .nerv.", parent=self)
        box.setInformativeText("Save it, or discard it?")
        save = box.addButton("Save as .nerv…", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return "save" if box.clickedButton() is save else "discard" if box.clickedButton() is discard else "cancel"

    def _confirm_discard(self) -> bool:
        """True if nothing unsaved would be lost, or the user agreed to lose it."""
        busy = self.fitting or (self._save_worker is not None and self._save_worker.isRunning())
        if not (busy or self.unsaved):
            return True
        answer = self.ask_unsaved()
        if answer == "save":
            self.save_nerv()
            return False
        if answer == "discard":
            self._stop_workers()
            self.unsaved = False
            return True
        return False

    def _stop_workers(self) -> None:
        self._cancel_requested = True
        if self.fitter is not None:
            self.fitter.cancel()
        if self._compressor is not None:
            self._compressor.cancel()
        for worker in (self._fit_worker, self._save_worker):
            if worker is not None and worker.isRunning():
                worker.wait(30_000)
        self._fit_worker = self._save_worker = None  # their queued reports are dropped
        self._fit_timer.stop()
        self._refresh_timer.stop()
        if self.fit_panel.state in ("running", "paused", "saving"):
            self.fit_panel.finished("cancelled")

    def closeEvent(self, event) -> None:
        if not self._confirm_discard():
            event.ignore()
            return
        for worker in (self._loader, self._warm_up):
            if worker is not None and worker.isRunning():
                worker.wait(30_000)
        if self.path is not None:
            self.settings.set_last_frame(self.path, self.player.state.frame)
        if self._fullscreen_state is not None:
            self.leave_fullscreen()
        self.settings.save_layout(self.saveGeometry(), self.saveState())
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
        self.actions["fullscreen"].setChecked(True)
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
        self.actions["fullscreen"].setChecked(False)
        self.showMaximized() if maximized else self.showNormal()

    def ask_cache_size(self) -> None:
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Frame cache")
        dialog.setLabelText("Memory for decoded frames (MB):")
        dialog.setIntRange(16, 65536)
        dialog.setIntValue(self.settings.cache_mb)
        dialog.intValueSelected.connect(self.set_cache_mb)
        dialog.open()

    def set_cache_mb(self, megabytes: int) -> None:
        self.settings.cache_mb = megabytes
        self.player.set_cache_mb(megabytes)
        self.statusBar().showMessage(f"Frame cache: {megabytes} MB", 4000)

    def show_plugins(self) -> None:
        PluginsDialog(registry(), self).open()

    def show_about(self) -> None:
        QMessageBox.about(self, "About nervplayer", ABOUT)

    def _update_device_label(self) -> None:
        memory = None
        device = "cpu"
        if self.fitter is not None:
            device = str(self.fitter.device)
            memory = memory_in_use(self.fitter.device)
            device += f" · {self.fitter.precision.name}"
        elif self.nerv is not None:
            device = str(self.nerv.device)
        if memory is None:
            memory = process_memory()
            label = "RSS"
        else:
            label = "in use"
        text = f"{device} · {label} {memory / 2**20:,.0f} MiB" if memory is not None else device
        self.device_label.setText(text)

    def _decode_failed(self, index: int, error: BaseException) -> None:
        if not self._decode_error_shown:  # one dialog per file, not one per frame
            self._decode_error_shown = True
            show_error(self, f"Frame {index} could not be decoded", error)

    # --- helpers ------------------------------------------------------------------------------------------
    def _run(self, fn, name: str, event=None, done=None, failed=None) -> Worker:
        """Start ``fn`` in a worker. Its results reach the handlers only while it is still the window's current
        worker of its kind: a fit discarded for another file must not report into the new one."""
        worker = Worker(fn, name, self)

        def current(handler):
            def deliver(value: Any) -> None:
                if worker in (self._fit_worker, self._save_worker, self._loader, self._warm_up):
                    handler(value)
            return deliver

        if event is not None:
            worker.event.connect(current(event))
        if done is not None:
            worker.done.connect(current(done))
        worker.failed.connect(current(failed or (lambda e: show_error(self, "Something went wrong", e))))
        worker.start()
        return worker


def _truth_for(nerv: NervVideo, path: str, check_hash: bool) -> ArraySource:
    """The frames of ``path`` that ``nerv`` was made from (its range, at its size)."""
    if check_hash and file_hash(path) != nerv.file.source.get("sha256"):
        raise VideoError(f"{path} is not the clip this .nerv was made from")
    video = nerv.file.video
    start = int(video.get("start", 0))
    truth = load_video(path, nerv.size, start, start + nerv.num_frames)
    if truth.num_frames < nerv.num_frames:
        raise VideoError(f"{path} has {truth.num_frames} frames from {start}, the .nerv has {nerv.num_frames}")
    return truth
