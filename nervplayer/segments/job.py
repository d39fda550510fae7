"""One segment's job: fit a frame range in its own run folder, then compress it to that segment's ``.nerv``.

A job is a module-level function of picklable arguments, so any executor (this process, a worker process, a Ray
node on a shared folder) can run it; it resumes whatever its folder holds: a valid ``segment.nerv`` is returned
as it is, final weights go straight to compression, a checkpoint resumes the fit (a fit killed before its first
checkpoint starts again). It obeys the folder's control file (segments/control.py) between steps, and stops
when the executor asks (:func:`~nervplayer.jobs.stop_requested`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..codec.measure import Compressed
from ..codec.nervfile import NervFile, load
from ..codec.pipeline import CompressOptions, Compressor
from ..codec.segmented import own_psnr
from ..errors import NervFormatError
from ..jobs import stop_requested
from ..train import Evaluated, Finished, FitConfig, Fitter, Paused, Started
from ..train.runfolder import CHECKPOINT, CONFIG, METRICS_CSV, METRICS_JSONL, WEIGHTS
from .control import CANCEL, PAUSE, Control

SEGMENT_NERV = "segment.nerv"
COMPLETED, CANCELLED = "completed", "cancelled"


@dataclass(frozen=True)
class SegmentTask:
    name: str  # the folder's name under RUN/segments/: the job's key
    folder: str
    config: dict[str, Any]  # the FitConfig of this segment (its frame range, its warm start)
    compress: dict[str, Any] | None  # CompressOptions fields; None: fit only (the base model of a warm start)
    lead: int = 0  # the fit's range begins this many frames before the segment's own (to fade with the one before)
    trail: int = 0  # ... and ends this many after it (to fade with the one after)


@dataclass(frozen=True)
class SegmentResult:
    name: str
    start: int
    end: int  # exclusive, clip numbering
    status: str  # completed or cancelled
    nerv: str | None  # the segment's .nerv (None for a fit-only job, or when cancelled)
    psnr: float | None  # of its own frames in the decoded .nerv against the source (unfaded; not the frames of a
    # neighbour that its file holds to fade with)
    file_bytes: int
    seconds: float  # wall time of this attempt
    from_epoch: float | None  # where this attempt's fit began (0: fresh, above: resumed); None: nothing fitted


def finished_nerv(path: Path) -> NervFile | None:
    """The complete ``.nerv`` at ``path`` (a finished segment), or None."""
    try:
        return load(path)
    except (NervFormatError, OSError):
        return None


def run_segment(task: SegmentTask) -> SegmentResult:
    """Fit and compress one segment (see the module docstring)."""
    began = time.perf_counter()
    folder = Path(task.folder)
    config = FitConfig.from_dict(task.config)
    assert config.end is not None  # a segment is a closed range
    from_epoch: float | None = None

    def result(status: str, nerv: Path | None = None, nf: NervFile | None = None) -> SegmentResult:
        if nerv is not None and nf is None:
            nf = load(nerv)
        start, end = config.start + task.lead, (config.end or 0) - task.trail
        psnr = None if nf is None else own_psnr(nf, task.lead, end - start)  # not its neighbours' frames it holds
        size = 0 if nerv is None else nerv.stat().st_size
        seconds = time.perf_counter() - began
        out = None if nerv is None else str(nerv)
        return SegmentResult(task.name, start, end, status, out, psnr, size, seconds, from_epoch)

    nerv = folder / SEGMENT_NERV
    if task.compress is not None and (done := finished_nerv(nerv)) is not None:
        return result(COMPLETED, nerv, done)
    control = Control(folder)
    if not (folder / WEIGHTS).is_file():
        status, from_epoch = _fit(task.name, config, folder, control)
        if status != COMPLETED:
            return result(CANCELLED)
    if task.compress is None:
        return result(COMPLETED)
    if not _compress(folder, nerv, CompressOptions.from_dict(task.compress), control):
        return result(CANCELLED)
    return result(COMPLETED, nerv)


def _fit(name: str, config: FitConfig, folder: Path, control: Control) -> tuple[str, float]:
    """Fit (or resume) the segment's run: its status (completed or cancelled) and the epoch it began at."""
    resume = (folder / CHECKPOINT).is_file()
    if not resume:  # killed before its first checkpoint: nothing to resume, start again
        for stale in (CONFIG, METRICS_CSV, METRICS_JSONL):
            (folder / stale).unlink(missing_ok=True)
    fitter = Fitter(config, folder, resume=resume)
    status, began = CANCELLED, 0.0
    try:
        for ev in fitter.run():
            if isinstance(ev, Started):
                began = ev.start_epoch
            elif isinstance(ev, Finished):
                status = ev.status
            elif isinstance(ev, Evaluated):
                print(f"segment {name} epoch {ev.epoch}: PSNR {ev.psnr:.2f} dB", file=sys.stderr, flush=True)
            elif isinstance(ev, Paused):  # the loop waits on resume() or cancel(): the control file decides which
                if control.wait_while_paused() == CANCEL:
                    fitter.cancel()
                fitter.resume()
            state = control.state()
            if state == CANCEL or stop_requested():  # the user's cancel, or the executor's (another job failed)
                fitter.cancel()
            elif state == PAUSE:
                fitter.pause()
    finally:
        fitter.store.close()
    return status, began


def _compress(folder: Path, nerv: Path, options: CompressOptions, control: Control) -> bool:
    """Compress the segment's run into ``nerv``; False when cancelled (an interrupted fine-tune resumes)."""
    compressor = Compressor(folder, nerv, options)
    done = False
    for ev in compressor.run():
        done = done or isinstance(ev, Compressed)
        state = control.state()
        if state == PAUSE:  # not pulling the next event is the pause
            state = control.wait_while_paused()
        if state == CANCEL or stop_requested():
            compressor.cancel()
    return done
