"""The player's session: what is open (a video to fit or a ``.nerv`` to play), the fit and the save running on it,
and the state the window shows. A plain Python object the window binds to, as napari binds widgets to its models;
it imports no Qt, so its whole lifecycle is tested without a display.

Long work (opening a file, fitting, compressing) goes to the *runner* the session is given: the
GUI's runs each job in a worker thread and calls the job's handlers back on the GUI thread; tests run jobs inline.
Only the current job of each kind reports: a fit discarded for another file never reports into the new one.
Stopping never waits: the job is told to cancel and forgotten, and ends on its own (a fit keeps its checkpoint).
A fit trains in a child process (:mod:`~nervplayer.train.remote`), and a save (prune, fine-tune, quantize, code:
:func:`compress`) runs in one too (:mod:`~nervplayer.jobs.child`), unless the session is made with
``fit_in_child=False``, which runs both in the job itself (the way the CLI does). Once a fit of the session has ended,
a spare process is started for the next one, so that Start begins at once.

A fit to a time budget whose plan cuts the clip into segments is a segmented fit (:meth:`Session.start_segmented_fit`,
what ``nervplayer fit --time`` does with such a plan): its process cuts the clip and fits the segments, each one's
state reaching ``fit_event`` (:mod:`~nervplayer.segments.live`); its ``.nerv`` is gathered as the last segment
ends, and saving it copies that file where the user asks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Protocol

import torch

from . import plugins
from .codec import Compressed, CompressOptions, Compressor, NervVideo, Stage
from .codec.ratecontrol import Target, summary
from .device import memory_report
from .errors import Cancelled
from .jobs.child import ChildJob, Context, Task
from .jobs.priority import lower_priority
from .observable import Event
from .opening import Opened, load_clip, load_nerv, truth_for
from .plan import Planned, plan_clip
from .segments.fit import DEFAULT_WARM_START
from .segments.live import SegmentedRun, SegmentsEnded, SegmentsSaved, SegmentsStarted, save_gathered
from .train import Finished, FitConfig, Fitter, Paused, Resumed, Started, Step
from .train.child import prepare_process
from .train.remote import FitProcess, RemoteFitter, prepare_spare
from .video import VideoInfo

Phase = Literal["empty", "ready", "starting", "running", "paused", "finished", "saving"]


def _ignore(*_: Any) -> None:
    pass


@dataclass
class Job:
    """One piece of long work. ``work`` runs off the session's thread; if it returns a generator, each item it
    yields is an event. The handlers are called on the session's thread; ``cancel`` asks the work to stop soon."""

    name: str
    work: Callable[[], Any]
    on_event: Callable[[Any], None] = _ignore
    on_done: Callable[[Any], None] = _ignore
    on_failed: Callable[[BaseException], None] = _ignore
    cancel: Callable[[], None] = _ignore


class Running(Protocol):
    """What a runner hands back for a started job."""

    def is_running(self) -> bool: ...


Runner = Callable[[Job], Running]


class Session:
    """The open file and the fit / save lifecycle on it. Every method is called from one thread (the GUI's)."""

    def __init__(self, runner: Runner, runs_dir: Path, *, fit_in_child: bool = True) -> None:
        self.runner = runner
        self.runs_dir = runs_dir
        self.fit_in_child = fit_in_child  # train in a child process: the GUI thread never waits on the GIL
        self.path: str | None = None  # what is open (video or .nerv)
        self.video: VideoInfo | None = None  # the clip to fit
        self.nerv: NervVideo | None = None
        self.phase: Phase = "empty"
        self.fitter: Fitter | RemoteFitter | None = None
        self.segment_run: SegmentedRun | None = None  # a segmented fit's controls (then ``fitter`` is None)
        self.gathered: Path | None = None  # the .nerv a segmented fit gathered into its run folder
        self.run_dir: Path | None = None
        self.unsaved = False  # a fit's result not yet saved as .nerv
        self.save_after_fit = False
        self._finetune_epochs = 1
        self._jobs: dict[str, tuple[Job, Running | None]] = {}

        self.phase_changed = Event()  # (phase)
        self.opened = Event()  # (Opened)
        self.open_failed = Event()  # (error)
        self.fit_event = Event()  # (event): the Fitter (or RemoteFitter) first, then its train events
        self.fit_ended = Event()  # (status): completed, cancelled or failed
        self.save_requested = Event()  # (): ask the user where and how to save
        self.save_progress = Event()  # (text, fraction or None)
        self.saved = Event()  # (Compressed, or SegmentsSaved for a segmented fit)
        self.save_ended = Event()  # (what the progress bar says: saved, save cancelled, save failed)
        self.failed = Event()  # (title, error): something the user must hear about
        self.message = Event()  # (text, milliseconds; 0 until replaced)
        self.planned = Event()  # (Planned): the plan of a fit to a time budget, for the fit panel before Start
        self.plan_failed = Event()  # (error): the budget cannot hold the clip's smallest plan, or planning failed

    # --- state ---------------------------------------------------------------------------------------------
    def _set_phase(self, phase: Phase) -> None:
        if phase != self.phase:
            self.phase = phase
            self.phase_changed.emit(phase)

    def running(self, name: str) -> bool:
        """Whether the current job of this kind (``open``, ``fit``, ``save``) is still running."""
        handle = self._jobs.get(name, (None, None))[1]
        return handle is not None and handle.is_running()

    @property
    def fitting(self) -> bool:
        return self.running("fit")

    @property
    def busy(self) -> bool:
        """A fit or a save is running: leaving now loses work."""
        return self.running("fit") or self.running("save")

    def device_status(self) -> str:
        """The device the open model runs on, and the memory in use there (or this process's)."""
        if self.fitter is not None:
            device = f"{self.fitter.device} · {self.fitter.precision.name}"
            if isinstance(self.fitter, RemoteFitter):  # the fit's process: as of its last weight snapshot
                memory, label = self.fitter.memory
                device += " · fit process"
            else:
                memory, label = memory_report(self.fitter.device)
        else:
            device = str(self.nerv.device) if self.nerv is not None else "cpu"
            memory, label = memory_report(torch.device(device))
        return f"{device} · {label} {memory / 2**20:,.0f} MiB" if memory is not None else device

    # --- jobs ----------------------------------------------------------------------------------------------
    def _start(self, job: Job) -> None:
        """Run ``job`` as the current one of its kind; reports of the one it replaces are dropped from now on."""
        previous = self._jobs.get(job.name)
        if previous is not None:
            previous[0].cancel()

        def current(handler: Callable[[Any], None]) -> Callable[[Any], None]:
            def deliver(value: Any) -> None:
                if self._jobs.get(job.name, (None, None))[0] is job:
                    handler(value)

            return deliver

        self._jobs[job.name] = (job, None)  # before the runner: an inline runner reports at once
        handle = self.runner(
            Job(job.name, job.work, current(job.on_event), current(job.on_done), current(job.on_failed), job.cancel)
        )
        if self._jobs.get(job.name, (None, None))[0] is job:
            self._jobs[job.name] = (job, handle)

    def _stop(self, name: str) -> None:
        job = self._jobs.pop(name, None)
        if job is not None:
            job[0].cancel()

    def discard(self) -> None:
        """Stop the fit and the save without waiting: they are told to cancel and their reports are dropped."""
        self._stop("fit")
        self._stop("save")
        self.unsaved = False
        if self.phase in ("running", "paused", "saving"):
            self._set_phase("finished")
            self.fit_ended.emit("cancelled")
        elif self.phase == "starting":
            self._set_phase("ready")

    def shutdown(self) -> None:
        """Tell every job to stop (the app is quitting); never waits."""
        for name in list(self._jobs):
            self._stop(name)

    # --- opening -------------------------------------------------------------------------------------------
    def open(self, path: str, truth: str | None = None, frame: int | None = None) -> None:
        """Open a video (to fit) or a ``.nerv`` (to play) in the background; ``opened`` or ``open_failed`` follows.
        A running fit or save is discarded (the caller asked the user first)."""
        self.discard()
        self.fitter, self.run_dir, self.segment_run, self.gathered = None, None, None, None
        self.message.emit(f"Opening {path}…", 0)
        cancel = threading.Event()
        if path.lower().endswith(".nerv"):
            work: Callable[[], Opened] = lambda: load_nerv(path, truth, frame, cancel)  # noqa: E731
        else:
            work = lambda: load_clip(path, frame, cancel)  # noqa: E731
        self._start(Job("open", work, on_done=self._opened, on_failed=self._open_failed, cancel=cancel.set))

    def open_truth(self, path: str, frame: int | None = None) -> None:
        """Compare the open ``.nerv`` with the video at ``path`` (its frame range, at its size)."""
        nerv, nerv_path = self.nerv, self.path
        if nerv is None or nerv_path is None:
            self.message.emit("Ground truth applies to an open .nerv file", 4000)
            return
        self.message.emit(f"Loading ground truth {path}…", 0)
        cancel = threading.Event()

        def work() -> Opened:
            truth = truth_for(nerv, path, check_hash=False, cancel=cancel)
            return Opened(nerv_path, nerv, truth, path, frame, nerv=nerv)

        def failed(error: BaseException) -> None:
            if not isinstance(error, Cancelled):
                self.failed.emit("Cannot open the ground truth", error)

        self._start(Job("open", work, on_done=self._opened, on_failed=failed, cancel=cancel.set))

    def _opened(self, opened: Opened) -> None:
        self.path, self.video, self.nerv = opened.path, opened.video, opened.nerv
        self._set_phase("ready" if opened.video is not None else "empty")
        self.opened.emit(opened)

    def _open_failed(self, error: BaseException) -> None:
        if not isinstance(error, Cancelled):
            self.open_failed.emit(error)

    # --- fitting -------------------------------------------------------------------------------------------
    def plan_fit(
        self,
        config: FitConfig,
        seconds: float,
        given: set[str],
        segment_frames: int | None = None,
        target: Target | None = None,
    ) -> None:
        """Plan a fit of the open video to a budget of ``seconds`` from Start (the probe runs now, in the
        background); reports ``planned`` or ``plan_failed``. A new request replaces one still running. The plan
        may cut a long clip into segments (of ``segment_frames`` each when given, else of the planner's length),
        as ``nervplayer fit --time`` plans it: start it with :meth:`start_segmented_fit`. ``target`` (a size,
        bpp or PSNR target) joins the plan as ``nervplayer fit --time T --target-*`` does."""
        video = self.video
        if video is None:
            return

        def failed(error: BaseException) -> None:
            if not isinstance(error, Cancelled):
                self.plan_failed.emit(error)

        def work() -> Planned:
            return plan_clip(config, seconds, given, video, None, lambda: 0.0, segment_frames, target)

        self._start(Job("plan", work, on_done=self.planned.emit, on_failed=failed))

    def _ready_to_fit(self) -> bool:
        """A video is open and no fit or save runs (the user is told when there is no video)."""
        if self.video is None:
            self.message.emit("Open a video to fit first", 4000)
            return False
        return self.phase in ("ready", "finished")

    def start_fit(self, config: FitConfig, preview: int = 0) -> None:
        """Fit the open video with ``config`` in the background, into a new run folder under ``runs_dir``."""
        if not self._ready_to_fit():
            return
        run_dir = self._new_run(config)
        self.message.emit("Preparing the fit: decoding the clip and building the model…", 0)
        cancel, made, video = threading.Event(), [], self.video
        in_child = self.fit_in_child

        def work() -> Iterator[Any]:
            fitter: Fitter | FitProcess
            if in_child:
                fitter = FitProcess(config, run_dir, preview, video)
            else:
                fitter = Fitter(config, run_dir, preview_index=preview)
            made.append(fitter)
            if cancel.is_set():  # a cancel that came before the Fitter existed
                fitter.cancel()
            if isinstance(fitter, FitProcess):
                yield from fitter  # the RemoteFitter first, then the child's events
            else:
                yield fitter  # handed over first, so the session can pause, cancel and decode
                yield from fitter.run()

        def stop() -> None:
            cancel.set()
            for fitter in made:
                fitter.cancel()

        self._start(Job("fit", work, self._fit_event, self._fit_done, self._fit_failed, stop))

    def start_segmented_fit(
        self,
        config: FitConfig,
        compress: CompressOptions,
        segment_frames: int | None,
        warm_start: str = DEFAULT_WARM_START,
        workers: int | None = None,
    ) -> None:
        """Fit the open video in segments of about ``segment_frames`` (None: the rule of ``--segment auto``),
        each compressed with ``compress``, in the background; as ``nervplayer fit --segment N -o RUN`` does,
        into a new run folder under ``runs_dir``. ``workers``: local worker processes (None: one segment at a
        time in the fit's process). :meth:`toggle_pause` and :meth:`cancel` reach every segment."""
        if not self._ready_to_fit():
            return
        run_dir = self._new_run(config)
        self.message.emit("Cutting the clip into segments…", 0)
        run = SegmentedRun(config, run_dir, segment_frames, warm_start, compress, self.fit_in_child, workers)
        self.segment_run = run

        def work() -> Iterator[Any]:
            yield from run

        self._start(Job("fit", work, self._fit_event, self._fit_done, self._fit_failed, run.cancel))

    def _new_run(self, config: FitConfig) -> Path:
        """A new run folder's path under ``runs_dir``, the session set for a fit starting in it."""
        run_dir, n = self.runs_dir / f"{Path(config.video).stem}-{time.strftime('%Y%m%d-%H%M%S')}", 1
        while run_dir.exists():
            run_dir, n = run_dir.with_name(f"{run_dir.name}-{n}"), n + 1
        self.run_dir, self.fitter, self.segment_run, self.gathered = run_dir, None, None, None
        self.unsaved, self.save_after_fit = False, False
        self._set_phase("starting")
        return run_dir

    def _fit_event(self, event: Any) -> None:
        if isinstance(event, (Fitter, RemoteFitter)):
            self.fitter = event
        elif isinstance(event, Started):
            self._set_phase("running")
            self.message.emit(
                f"Fitting {event.num_params:,} parameters on {event.device} ({event.precision}), "
                f"{event.train_frames} frames of {event.width}×{event.height}",
                8000,
            )
        elif isinstance(event, Paused):
            self._set_phase("paused")
        elif isinstance(event, Resumed):
            self._set_phase("running")
        elif isinstance(event, Finished):
            self.unsaved = True
            self._set_phase("finished")
        elif isinstance(event, SegmentsStarted):
            self._set_phase("running")
            self.message.emit(f"Fitting {len(event.segments)} segments, into {event.run_dir}", 8000)
        elif isinstance(event, SegmentsEnded):
            self.gathered = Path(event.output) if event.output is not None else None
            self.unsaved = self.gathered is not None
            self._set_phase("finished")
        self.fit_event.emit(event)
        if isinstance(event, (Finished, SegmentsEnded)):
            self._prepare_next_fit()
            self.fit_ended.emit(event.status)

    def _prepare_next_fit(self) -> None:
        """After a fit in a child process, start the next fit's process ahead (the user may well start again)."""
        if self.fit_in_child:
            prepare_spare()

    def _fit_done(self, _result: Any) -> None:
        if self.save_after_fit:
            self.save_after_fit = False
            self.request_save()

    def _fit_failed(self, error: BaseException) -> None:
        if self.fitter is None and self.phase == "starting":  # failed while preparing: the source video is shown
            self._set_phase("ready")
        else:
            self.unsaved = self.run_dir is not None and (self.run_dir / "checkpoint.pt").exists()
            self._set_phase("finished")
            self.fit_ended.emit("failed")
        self._prepare_next_fit()
        self.failed.emit("The fit stopped", error)

    def _control(self) -> Fitter | RemoteFitter | SegmentedRun | None:
        """What pauses, resumes and cancels the fit: its fitter, or a segmented fit's every segment."""
        return self.fitter if self.fitter is not None else self.segment_run

    def toggle_pause(self) -> None:
        control = self._control()
        if control is None or self.phase not in ("running", "paused"):
            return
        if control.paused:
            control.resume()
            self._set_phase("running")
        else:
            control.pause()
            self._set_phase("paused")

    def cancel(self) -> None:
        """Cancel the save, or the fit (it stops after the step in flight and keeps a checkpoint; a segmented
        fit's every running segment does)."""
        control = self._control()
        if self.phase == "saving" and "save" in self._jobs:
            self._jobs["save"][0].cancel()
        elif control is not None and self.phase in ("running", "paused"):
            control.cancel()
            self.message.emit("Cancelling: the fit stops after this step and keeps a checkpoint", 5000)

    # --- saving --------------------------------------------------------------------------------------------
    def request_save(self) -> None:
        """Save the fit as ``.nerv``: a running fit is stopped first (it keeps a checkpoint), then
        ``save_requested`` asks the user for the options."""
        if self.run_dir is None:
            self.message.emit("Nothing to save yet: fit a video first", 4000)
        elif self.fitting and self.segment_run is not None:  # stopping it would leave segments unfinished
            self.message.emit("A segmented fit's .nerv is ready when its last segment ends: save it then", 6000)
        elif self.fitting:
            self.save_after_fit = True
            self.cancel()
        else:
            self.save_requested.emit()

    def save(self, output: Path, options: CompressOptions) -> None:
        """Compress the fit's run folder into ``output`` in the background, reporting ``save_progress``."""
        run_dir, source = self.run_dir, self.video.path if self.video else None
        if run_dir is None:
            self.message.emit("Nothing to save yet: fit a video first", 4000)
            return
        self._set_phase("saving")
        if self.segment_run is not None:  # compressed segment by segment already: the gathered file is copied
            gathered = self.gathered
            self.save_progress.emit("saving the segmented .nerv…", None)
            copy = lambda: save_gathered(gathered, output)  # noqa: E731
            self._start(Job("save", copy, on_done=self._save_event, on_failed=self._save_failed))
            return
        self.save_progress.emit("preparing…", None)
        cancel, made, in_child = threading.Event(), [], self.fit_in_child

        def work() -> Iterator[Any]:
            saver: Compressor | ChildJob
            if in_child:  # the fine-tune trains: not in the window's interpreter
                task = Task(compress, (run_dir, output, options, source))
                saver = ChildJob(task, prepare_process, (plugins.options(),), "the save's process", "nervplayer-save")
            else:
                saver = Compressor(run_dir, output, options, source=source)
            made.append(saver)
            if cancel.is_set():
                saver.cancel()
            yield from saver if isinstance(saver, ChildJob) else saver.run()

        def stop() -> None:
            cancel.set()
            for saver in made:
                saver.cancel()

        self._start(Job("save", work, self._save_event, self._save_done, self._save_failed, stop))

    def _save_event(self, event: Any) -> None:
        if isinstance(event, Stage):
            self.save_progress.emit(
                f"{event.name}: {event.detail}" if event.name != "finetune" else "fine-tuning…", None
            )
            self.message.emit(f"Saving: {event.name} — {event.detail}", 0)
        elif isinstance(event, Started):
            self._finetune_epochs = event.epochs
        elif isinstance(event, Step):
            total = self._finetune_epochs
            self.save_progress.emit(f"fine-tuning: epoch {event.epoch:.1f} / {total}", event.epoch / total)
        elif isinstance(event, (Compressed, SegmentsSaved)):
            self.unsaved = False
            self.saved.emit(event)
            if isinstance(event, SegmentsSaved):  # the whole save: its one result
                self._save_done(None)

    def _save_done(self, _result: Any, bar: str | None = None) -> None:
        self._set_phase("finished")
        self.save_ended.emit(bar or ("save cancelled" if self.unsaved else "saved"))

    def _save_failed(self, error: BaseException) -> None:
        self._save_done(None, "save failed")
        self.failed.emit("Saving the .nerv failed", error)


def compress(
    context: Context, run_dir: Path, output: Path, options: CompressOptions, source: str | None
) -> Iterator[Any]:
    """A save in a child process (a :class:`~nervplayer.jobs.child.Task`): the whole compression of the run folder,
    its fine-tune included, at a lower priority than the window's; the parent's cancel reaches the compressor."""
    lower_priority()
    compressor = Compressor(run_dir, output, options, source=source)
    context.attach(compressor)
    yield from compressor.run()


def describe_saved(c: Compressed | SegmentsSaved) -> str:
    psnr = c.metrics.get("psnr")
    quality = f" · PSNR {psnr:.2f} dB" if psnr is not None else ""
    saved = f"Saved {Path(c.path).name}: {c.file_bytes / 1024:.1f} KiB · {c.bpp:.4f} bpp{quality}"
    return saved + (f" — {summary(c.target, c.file_bytes, c.bpp, psnr)}" if c.target is not None else "")
