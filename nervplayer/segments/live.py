"""A segmented fit as the player runs it: :func:`fit_segments` is a task for a child process
(:mod:`nervplayer.jobs.child`; the window does no training work) that cuts the clip, runs every segment's job on an
executor and gathers the ``.nerv``, as ``nervplayer fit --segment`` does, reporting as it goes: the segments once cut
(:class:`SegmentsStarted`), each segment's state when it changes (:class:`SegmentChanged`: pending, fitting, done
with its PSNR and size, failed), and the end (:class:`SegmentsEnded`). The parent's pause, resume and cancel reach
the :class:`~.fit.SegmentedFit` the task attaches, which passes them to every segment through its control file."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .. import plugins
from ..atomic import atomic_write_bytes
from ..codec.nervfile import load_any
from ..codec.pipeline import CompressOptions
from ..codec.segtable import SegmentedFile
from ..errors import ConfigError
from ..jobs import Executor, JobsCancelled, SerialExecutor
from ..jobs.child import ChildJob, Task
from ..jobs.factory import executor_for
from ..jobs.priority import lower_priority
from ..train import FitConfig
from ..train.child import prepare_process
from ..train.runfolder import CONFIG
from .fit import SegmentedFit, plan_segments
from .job import COMPLETED, SegmentResult
from .status import DONE, FAILED, FITTING, PENDING, SegmentStatus

POLL_S = 0.25  # how often the task looks for segments that started fitting


@dataclass(frozen=True)
class SegmentsStarted:
    """The clip is cut: every segment (pending), its frames numbered as the clip's (the gathered file numbers them
    from the fit's first frame)."""

    segments: list[SegmentStatus]
    run_dir: str
    output: str  # where the gathered .nerv will be: RUN/<clip>.nerv
    time_limit: float | None  # of all the segments' fits together


@dataclass(frozen=True)
class SegmentChanged:
    index: int
    status: SegmentStatus


@dataclass(frozen=True)
class SegmentsEnded:
    status: str  # completed or cancelled
    output: str | None  # the gathered .nerv, when completed


class Attachable(Protocol):
    def attach(self, target: Any) -> None: ...


def fit_segments(
    context: Attachable,
    config: FitConfig,
    run_dir: Path,
    length: int | None,
    warm_start: str,
    compress: CompressOptions,
    workers: int | None = None,
) -> Iterator[Any]:
    """Cut ``config``'s clip into segments of about ``length`` frames in the new run folder ``run_dir``, fit and
    gather them (a :class:`~nervplayer.jobs.child.Task`): ``workers`` local worker processes, or None for one
    segment at a time in this process. Yields the events of the module docstring; a segment's error ends it."""
    plan = plan_segments(config, run_dir, length, warm_start, compress)
    executor: Executor = SerialExecutor() if workers is None else executor_for(workers)
    fit = SegmentedFit(plan, run_dir, executor)
    context.attach(fit)
    states = [SegmentStatus(s, e, PENDING) for s, e in plan.segments]
    yield SegmentsStarted(list(states), str(run_dir), str(fit.output), config.time_limit)
    events: queue.Queue[SegmentResult | BaseException | None] = queue.Queue()

    def run() -> None:
        try:
            fit.run(events.put)
            events.put(None)
        except BaseException as error:  # noqa: BLE001 - handed to the generator, which raises it
            events.put(error)

    threading.Thread(target=run, name="segmented-fit", daemon=True).start()
    started = [Path(task.folder) / CONFIG for task in fit.tasks]  # a segment whose fit made its run folder
    while True:
        for k, config_file in enumerate(started):
            if states[k].state == PENDING and config_file.is_file():
                states[k] = states[k].with_state(FITTING)
                yield SegmentChanged(k, states[k])
        try:
            item = events.get(timeout=POLL_S)
        except queue.Empty:
            continue
        if isinstance(item, SegmentResult):
            index = next((i for i, t in enumerate(fit.tasks) if t.name == item.name), None)  # None: the base
            if index is not None and item.status == COMPLETED:
                states[index] = states[index].with_state(DONE, item.psnr, item.file_bytes)
                yield SegmentChanged(index, states[index])
            continue
        if item is None:
            yield SegmentsEnded(COMPLETED, str(fit.output))
            return
        cancelled = isinstance(item, JobsCancelled)
        for k, s in enumerate(states):  # a cancelled segment keeps its checkpoint: pending, for a resume
            if s.state == FITTING or (s.state == PENDING and started[k].is_file() and not cancelled):
                states[k] = s.with_state(PENDING if cancelled else FAILED)
                yield SegmentChanged(k, states[k])
        if cancelled:
            yield SegmentsEnded("cancelled", None)
            return
        raise item


def fit_segments_in_child(context: Attachable, *args: Any) -> Iterator[Any]:
    """:func:`fit_segments` as the task of a child process, below the window's priority (inline, the caller's
    process keeps its own: lowering it would lower every thread of a script, or of a test run)."""
    lower_priority()
    yield from fit_segments(context, *args)


class Attached:
    """What :func:`fit_segments` attaches to when it runs in the caller's process (a session that fits inline):
    the caller's commands (``pause``, ``resume``, ``cancel``) reach it, those sent before it is attached too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._target: Any = None
        self._pending: list[str] = []

    def attach(self, target: Any) -> None:
        with self._lock:
            self._target = target
            pending, self._pending = self._pending, []
        for command in pending:
            getattr(target, command)()

    def send(self, command: str) -> None:
        with self._lock:
            target = self._target
            if target is None:
                self._pending.append(command)
                return
        getattr(target, command)()


class SegmentedRun:
    """The caller's side of :func:`fit_segments`: iterate it (in a worker thread) for its events; ``pause``,
    ``resume`` and ``cancel`` from any thread reach every segment. ``in_child``: the task runs in a child process
    (the player's way), else in the iterating thread (a script's, a test's)."""

    def __init__(
        self,
        config: FitConfig,
        run_dir: Path,
        length: int | None,
        warm_start: str,
        compress: CompressOptions,
        in_child: bool = True,
        workers: int | None = None,
    ) -> None:
        self.args = (config, run_dir, length, warm_start, compress, workers)
        self.paused = False
        self._inline = Attached()
        self._job = (
            ChildJob(
                Task(fit_segments_in_child, self.args),
                prepare_process,
                (plugins.options(),),
                "the segmented fit's process",
                "nervplayer-segments",
            )
            if in_child
            else None
        )

    def __iter__(self) -> Iterator[Any]:
        if self._job is not None:
            yield from self._job
        else:
            yield from fit_segments(self._inline, *self.args)

    def _send(self, command: str) -> None:
        if self._job is not None:
            self._job.send(command)
        else:
            self._inline.send(command)

    def pause(self) -> None:
        self.paused = True
        self._send("pause")

    def resume(self) -> None:
        self.paused = False
        self._send("resume")

    def cancel(self) -> None:
        self._send("cancel")


@dataclass(frozen=True)
class SegmentsSaved:
    """A segmented fit's ``.nerv`` saved where the user asked (what the window and ``describe_saved`` show)."""

    path: str
    file_bytes: int
    bpp: float
    metrics: dict[str, Any]
    segments: int
    target: None = None  # a size or quality target does not apply to a segmented fit yet


def save_gathered(gathered: Path | None, output: Path) -> SegmentsSaved:
    """Copy the gathered ``.nerv`` of a finished segmented fit to ``output`` (atomically): it is the file
    ``nervplayer fit --segment`` writes into its run folder, already compressed segment by segment."""
    if gathered is None or not gathered.is_file():
        raise ConfigError(
            "the segmented fit did not finish, so there is no .nerv to save yet; the finished segments are kept: "
            "continue it with 'nervplayer fit --resume -o RUN'"
        )
    data = gathered.read_bytes()
    atomic_write_bytes(output, data)
    nf = load_any(output)
    h, w = nf.video["size"]
    count = len(nf.segments) if isinstance(nf, SegmentedFile) else 1
    return SegmentsSaved(str(output), len(data), len(data) * 8 / (nf.num_frames * h * w), dict(nf.metrics), count)
