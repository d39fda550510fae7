"""The main window's widgets bound to its :class:`~nervplayer.session.Session`, napari style: each session event
updates the fit panel, the charts, the player and the status bar. Timers cap how often a fast fit redraws the
progress (30/s) and decodes the shown frame again from the live model (1/s)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget

from ..codec import Compressed
from ..opening import Opened, describe_nerv
from ..segments.live import SegmentChanged, SegmentsStarted
from ..segments.status import DONE, of_file
from ..session import Phase, describe_saved
from ..train import Evaluated, Finished, Fitter, Started, Step
from ..train.remote import RemoteFitter
from ..video.source import LiveSource, StoreSource
from .collector import freeze_long_lived
from .errors import show_error

if TYPE_CHECKING:
    from .main_window import MainWindow

REFRESH_MS = 1000  # how often the shown frame is decoded again from the live model
PROGRESS_FPS = 10  # the fit panel's progress bar and time left


class SessionView(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.session = session = window.session
        self._steps_since_refresh = 0
        self._pending_epoch: float | None = None
        self._decode_error_shown = False
        self._folded = False  # the lower panel was hidden because the open file had nothing to show in it
        self._fit_timer = QTimer(self, interval=1000 // PROGRESS_FPS)
        self._fit_timer.timeout.connect(self._fit_tick)
        self._refresh_timer = QTimer(self, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh_live)

        session.phase_changed.connect(self._phase_changed)
        session.opened.connect(self._opened)
        session.open_failed.connect(self._open_failed)
        session.fit_event.connect(self._fit_event)
        session.fit_ended.connect(self._fit_ended)
        session.save_requested.connect(window.ask_save_options)
        session.save_progress.connect(window.fit_panel.controls.show_saving)
        window.fit_panel.plan_requested.connect(session.plan_fit)
        session.planned.connect(window.fit_panel.show_plan)
        session.plan_failed.connect(window.fit_panel.show_plan_failed)
        session.saved.connect(self._saved)
        session.save_ended.connect(self._save_ended)
        session.failed.connect(lambda title, error: show_error(window, title, error))
        session.message.connect(lambda text, ms: window.statusBar().showMessage(text, ms))
        window.player.decode_failed.connect(self._decode_failed)
        window.player.state.frame_changed.connect(window.story.set_frame)

    def clear_fit(self, keep_axes: bool = False) -> None:
        """Forget the last fit's charts and result (a new file, or a new fit: ``keep_axes``)."""
        self._decode_error_shown = False
        self.window.charts.clear(keep_axes)
        self.window.charts.summary.setText("No fit yet: press Start to train the model and watch it learn.")
        self.window.fit_panel.controls.result.clear()

    def show_lower(self, widget: QWidget, title: str, fold: bool = False) -> None:
        """Show ``widget`` (the training charts or the open file's story) in the lower panel, or fold the panel
        away when it has nothing to show; a panel folded here comes back for the next file that has something
        (one the user closed stays closed)."""
        dock = self.window.charts_dock
        self.window.lower_panel.setCurrentWidget(widget)
        dock.setWindowTitle(title)
        if fold:
            if not dock.isHidden():
                dock.hide()
                self._folded = True
        elif self._folded:
            dock.show()
            self._folded = False

    def _phase_changed(self, phase: Phase) -> None:
        panel = self.window.fit_panel
        if phase == "paused":
            panel.set_paused(True)
        elif phase == "running" and panel.state == "paused":
            panel.set_paused(False)
        else:
            panel.set_state(phase)
        if phase not in ("running", "paused"):
            self._fit_timer.stop()
            self._refresh_timer.stop()
        self.window.update_actions()

    # --- opening -------------------------------------------------------------------------------------------
    def _opened(self, opened: Opened) -> None:
        window, player = self.window, self.window.player
        path, name = opened.path, Path(opened.path).name
        player.canvas.placeholder = ""
        window.settings.add_recent(path)
        window.setWindowTitle(f"{name} — nervplayer")
        if opened.nerv is not None:
            nerv = opened.nerv
            player.set_source(nerv, opened.truth, frame=opened.frame or 0, name=Path(path).stem, label=".nerv")
            size = Path(path).stat().st_size
            summary, lines = describe_nerv(path, nerv, size)
            window.file_label.setText(summary)
            story = nerv.file.story
            shown = window.story.show_file(nerv, size)
            self.show_lower(window.story, "This file", fold=not shown)
            if not shown:  # the panel folded away: the bits per frame go with the rest, on the right
                lines.append(f"{size * 8 / nerv.num_frames / 1000:,.1f} kbit per frame")
            if len(story.frame_psnr) == nerv.num_frames:  # what the file measured, until the ground truth says
                player.timeline.set_psnr([math.nan if p is None else p for p in story.frame_psnr])
            player.timeline.set_segments(of_file(nerv))
            fit_hint = "Open a video (File ▸ Open) to fit a new model; headless: <tt>nervplayer fit VIDEO -o RUN</tt>."
            window.fit_panel.set_video(None, "<br>".join([*lines, "<br>" + fit_hint]))
            gt = (
                f"ground truth: {Path(opened.truth_path).name}"
                if opened.truth_path
                else "no ground truth (File ▸ Open ground truth)"
            )
            problems = "".join(f" · {p}" for p in story.problems)
            window.statusBar().showMessage(f"Opened {path} · {gt}{problems}", 6000)
        elif opened.video is not None:
            info = opened.video
            window.fit_panel.set_video(info)
            self.show_lower(window.charts, "Training")
            player.set_source(opened.frames, None, frame=opened.frame or 0, name=Path(path).stem, label="source video")
            window.file_label.setText(
                f"{name} · {info.num_frames} frames · {info.width}×{info.height} · {info.fps:g} fps"
            )
            window.statusBar().showMessage("Ready to fit: choose the options on the right and press Start", 6000)
        window.update_actions()
        freeze_long_lived()  # the modules and the model opening imported and built: out of the collector's scans

    def _open_failed(self, error: BaseException) -> None:
        canvas = self.window.player.canvas
        canvas.placeholder = "Drop a video or a .nerv file here"
        canvas.update()
        self.window.statusBar().clearMessage()
        show_error(self.window, "Cannot open the file", error)

    # --- fitting -------------------------------------------------------------------------------------------
    def _fit_event(self, event: Any) -> None:
        window, player, charts = self.window, self.window.player, self.window.charts
        if isinstance(event, (Fitter, RemoteFitter)):
            fps = self.session.video.fps if self.session.video else 25.0
            frame = min(player.state.frame, event.num_frames - 1)
            player.set_source(
                LiveSource(event, fps),
                StoreSource(event.store, fps),
                frame=frame,
                name=Path(self.session.path or "fit").stem,
                label="live model",
                scan_psnr=False,
            )
        elif isinstance(event, Step):
            charts.add(event)
            self._pending_epoch = event.epoch
            self._steps_since_refresh += 1
        elif isinstance(event, Evaluated):
            charts.add(event)
            player.timeline.set_psnr(event.per_frame_psnr)
            player.update_labels()
        elif isinstance(event, Started):
            charts.add(event)
            window.fit_panel.started(event.epochs, event.start_epoch)
            window.update_actions()
            freeze_long_lived()  # the fit's objects on this side (its ground truth, the frame source) live on
            self._fit_timer.start()
            self._refresh_timer.start()
        elif isinstance(event, SegmentsStarted):  # a segmented fit: the strip shows each segment's state
            player.timeline.set_segments(event.segments)
            window.fit_panel.segments_started(len(event.segments), event.time_limit)
            window.update_actions()
            self._refresh_timer.start()  # the time left, once a second
        elif isinstance(event, SegmentChanged):
            player.timeline.set_segment(event.index, event.status)
            window.fit_panel.controls.update_progress(sum(s.state == DONE for s in player.timeline.segments))
        elif isinstance(event, Finished):
            self._fit_tick()
            player.refresh()
            best = charts.history.best()
            quality = f", best PSNR {best[1]:.2f} dB" if best else ""
            window.statusBar().showMessage(
                f"Fit {event.status} at epoch {event.epoch:.1f}{quality}. Save it as .nerv to keep it.", 10000
            )

    def _fit_ended(self, status: str) -> None:
        self._fit_timer.stop()
        self._refresh_timer.stop()
        self.window.fit_panel.finished(status)
        self.window.update_actions()

    def _fit_tick(self) -> None:
        """Progress at most ``PROGRESS_FPS`` times a second, however fast the steps come (a progress bar's new value
        repaints it at once, not at the next paint)."""
        if self._pending_epoch is not None:
            self.window.fit_panel.controls.update_progress(self._pending_epoch)
            self._pending_epoch = None

    def _refresh_live(self) -> None:
        controls = self.window.fit_panel.controls
        if controls.segments and self.session.phase == "running":  # a segmented fit: the time left follows the clock
            controls.update_progress(controls.progress.epoch)
        if self._steps_since_refresh:
            self._steps_since_refresh = 0
            self.window.player.refresh()

    # --- saving --------------------------------------------------------------------------------------------
    def _saved(self, compressed: Compressed) -> None:
        text = describe_saved(compressed)
        self.window.settings.add_recent(compressed.path)
        self.window.fit_panel.controls.result.setText(
            f"{text}<br><a href='{compressed.path}' style='color:#8ab4f8'>Open it</a>"
        )
        self.window.statusBar().showMessage(text, 15000)

    def _save_ended(self, bar_text: str) -> None:
        bar = self.window.fit_panel.controls.bar
        bar.setRange(0, 1000)
        bar.setValue(0 if self.session.unsaved else 1000)
        bar.setFormat(bar_text)
        self.window.update_actions()

    def _decode_failed(self, index: int, error: BaseException) -> None:
        if not self._decode_error_shown:  # one dialog per file, not one per frame
            self._decode_error_shown = True
            show_error(self.window, f"Frame {index} could not be decoded", error)
