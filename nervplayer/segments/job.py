"""One segment's job: fit a frame range in its own run folder, then compress it to that segment's ``.nerv``.

A job is a module-level function of picklable arguments, so any executor (this process, a worker process, a Ray
node on a shared folder) can run it; it resumes whatever its folder holds: a valid ``segment.nerv`` is returned
as it is, final weights go straight to compression, a checkpoint resumes the fit (a fit killed before its first
checkpoint starts again). It obeys the folder's control file (segments/control.py) between steps.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..codec.nervfile import load
from ..codec.pipeline import Compressed, CompressOptions, Compressor
from ..errors import NervFormatError
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


@dataclass(frozen=True)
class SegmentResult:
    name: str
    start: int
    end: int  # exclusive, clip numbering
    status: str  # completed or cancelled
    nerv: str | None  # the segment's .nerv (None for a fit-only job, or when cancelled)
    psnr: float | None  # of the decoded .nerv against the source
    file_bytes: int
    seconds: float  # wall time of this attempt
    from_epoch: float | None  # where this attempt's fit began (0: fresh, above: resumed); None: nothing fitted


def valid_nerv(path: Path) -> bool:
    """Whether ``path`` is a complete ``.nerv`` (a finished segment)."""
    try:
        load(path)
    except (NervFormatError, OSError):
        return False
    return True


def run_segment(task: SegmentTask) -> SegmentResult:
    """Fit and compress one segment (see the module docstring)."""
    began = time.perf_counter()
    folder = Path(task.folder)
    config = FitConfig.from_dict(task.config)
    assert config.end is not None  # a segment is a closed range
    end = config.end

    fitted: list[float] = []  # the epoch this attempt's fit started at, once it started

    def result(status: str, nerv: Path | None = None) -> SegmentResult:
        psnr = load(nerv).metrics.get("psnr") if nerv is not None else None
        size = nerv.stat().st_size if nerv is not None else 0
        out = None if nerv is None else str(nerv)
        seconds = time.perf_counter() - began
        return SegmentResult(task.name, config.start, end, status, out, psnr, size, seconds, next(iter(fitted), None))

    nerv = folder / SEGMENT_NERV
    if task.compress is not None and valid_nerv(nerv):
        return result(COMPLETED, nerv)
    if task.compress is None and (folder / WEIGHTS).is_file():
        return result(COMPLETED)
    control = Control(folder)
    if not (folder / WEIGHTS).is_file() and _fit(task.name, config, folder, control, fitted) != COMPLETED:
        return result(CANCELLED)
    if task.compress is None:
        return result(COMPLETED)
    options = CompressOptions(**task.compress)
    if not _compress(folder, nerv, options, control):
        return result(CANCELLED)
    return result(COMPLETED, nerv)


def _fit(name: str, config: FitConfig, folder: Path, control: Control, started: list[float]) -> str:
    """Fit (or resume) the segment's run; its status (completed or cancelled). ``started`` gets the epoch the fit
    began at."""
    resume = (folder / CHECKPOINT).is_file()
    if not resume:  # killed before its first checkpoint: nothing to resume, start again
        for stale in (CONFIG, METRICS_CSV, METRICS_JSONL):
            (folder / stale).unlink(missing_ok=True)
    fitter = Fitter(config, folder, resume=resume)
    status = CANCELLED
    try:
        for ev in fitter.run():
            if isinstance(ev, Started):
                started.append(ev.start_epoch)
            elif isinstance(ev, Finished):
                status = ev.status
            elif isinstance(ev, Evaluated):
                print(f"segment {name} epoch {ev.epoch}: PSNR {ev.psnr:.2f} dB", file=sys.stderr, flush=True)
            elif isinstance(ev, Paused):  # the loop waits on resume() or cancel(): the control file decides which
                if control.wait_while_paused() == CANCEL:
                    fitter.cancel()
                fitter.resume()
            state = control.state()
            if state == CANCEL:
                fitter.cancel()
            elif state == PAUSE:
                fitter.pause()
    finally:
        fitter.store.close()
    return status


def _compress(folder: Path, nerv: Path, options: CompressOptions, control: Control) -> bool:
    """Compress the segment's run into ``nerv``; False when cancelled (an interrupted fine-tune resumes)."""
    compressor = Compressor(folder, nerv, options)
    done = False
    for ev in compressor.run():
        done = done or isinstance(ev, Compressed)
        state = control.state()
        if state == PAUSE:  # not pulling the next event is the pause
            state = control.wait_while_paused()
        if state == CANCEL:
            compressor.cancel()
    return done
