"""A fit in a child process, seen from the parent: the player's fit never shares the interpreter (the GIL) with
the window, so training cannot stall the event loop, and the child runs at a lower priority.

``FitProcess(config, run_dir)`` hands the fit to a child process (:mod:`~nervplayer.jobs.child`, running the task
:func:`~nervplayer.train.child.fit`): the spare one started ahead by :func:`prepare_spare` when there is one, so the
fit begins without the seconds a new process takes to import torch, else a new one. Iterating it yields a
:class:`RemoteFitter` first, then the fit's events in order, as ``Fitter.run()`` does, but for a ``Paused`` or
``Resumed`` that a later resume or pause has made stale by the time it arrives (no "paused" shown while the fit
runs). Iterate in a worker thread: reads block.
The live model's frames are decoded beside the child, where the weights are: :meth:`RemoteFitter.decode` asks the
fit's decode process (:mod:`~nervplayer.train.decoder`, started on the first request once the fit trains) for
them, the child itself until that serves or if it has gone (never waiting on a child that has ended: then the
final weights it sent decode them here).
An error in the child is raised here (a ``NervError`` as itself, anything else as a ``ChildError``); a child that
dies is a ``NervError``. A parent that dies (even by ``kill -9``) leaves no child: it cancels, keeps its checkpoint
and exits. A consumer that stops reading (an exception, a ``break``) stops the fit too, when the iterator is closed.
"""

from __future__ import annotations

import contextlib
import threading
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from .. import plugins
from ..device import Precision
from ..errors import NervError
from ..jobs.child import ChildJob, Ended, Spare, Task
from ..model.spec import ModelSpec
from ..video import FrameStore, VideoInfo, build_store, iter_frames
from . import decoder
from .child import Description, ModelCopy, Usage, Weights, fit, prepare_process
from .config import FitConfig
from .decoder import DecodeProcess
from .events import Event, Paused, Resumed, Step
from .fit import clip_frames

FRAME_TIMEOUT_S = 120.0  # a child that answers no request for frames in this long is taken as hung
FINAL_WEIGHTS_WAIT_S = 10.0  # how long a decode waits for the final weights of a child that has just ended


class RemoteFitter:
    """What the session and the player use of a :class:`~nervplayer.train.Fitter`, for a fit in a child process:
    its shape, device and precision, pause / resume / cancel, and ``decode`` / ``predict``: frames the child
    decodes from its latest weight snapshot while it runs, then from its final weights here. ``store`` holds the
    frames the fit trains on (the clip's range at the fitted size, decoded here too, while the child starts), the
    ground truth for the player."""

    def __init__(self, description: Description, process: FitProcess, store: FrameStore) -> None:
        self._process = process
        self.pid = description.pid
        self.num_frames = description.num_frames
        self.spec: ModelSpec = description.spec
        self.precision: Precision = description.precision
        self.device = torch.device(description.device)
        self.source = description.source
        self.store = store
        self._paused = False
        self.memory: tuple[int | None, str] = (None, "RSS")  # the child's, as it last reported it
        self._copy: ModelCopy | None = None  # the final weights, once the child sent them
        self._final = threading.Event()

    # ---- control, from any thread ----
    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        self._paused = True
        self._process.send("pause")

    def resume(self) -> None:
        self._paused = False
        self._process.send("resume")

    def cancel(self) -> None:
        self._paused = False
        self._process.send("cancel")

    # ---- decoding ----
    def load(self, state: dict[str, np.ndarray]) -> None:
        """Take the child's final weights (called by :class:`FitProcess` as they arrive): decode here from now on."""
        copy = ModelCopy(self.spec, self.device, self.num_frames)
        copy.load(state)
        self._copy = copy
        self._final.set()

    def ended(self) -> None:
        """The child has ended (its events are read to the end): decoding no longer waits for its weights."""
        self._final.set()

    def _local(self) -> ModelCopy:
        """The copy of the final weights, waiting briefly for them if the child has just ended."""
        self._final.wait(FINAL_WEIGHTS_WAIT_S)
        if self._copy is None:
            raise NervError("the fit's process ended without its weights: its frames cannot be decoded")
        return self._copy

    def predict(self, indices: list[int]) -> torch.Tensor:
        """Float frames [B, 3, H, W] in [0, 1] of the latest snapshot, on the device."""
        if self._copy is None:
            with contextlib.suppress(Ended):
                return torch.from_numpy(self._process.frames("predict", indices)).to(self.device)
        return self._local().predict(indices)

    def decode(self, indices: Sequence[int], batch_size: int = 8) -> np.ndarray:
        """uint8 frames [B, H, W, 3] of the latest snapshot (safe from any thread; it waits for the child)."""
        if self._copy is None:
            with contextlib.suppress(Ended):
                return self._process.frames("decode", list(indices))
        return self._local().decode(indices, batch_size)


_spare = Spare("nervplayer-fit")


def prepare_spare() -> None:
    """Start a fit process ahead, in the background, unless one waits already: the next :class:`FitProcess` takes
    it and its fit begins at once instead of after the seconds a new process takes to import torch. Its decode
    process's spare too (:func:`~nervplayer.train.decoder.prepare_spare`)."""
    _spare.prepare(prepare_process, plugins.options())
    decoder.prepare_spare()


def spare_pid() -> int | None:
    """The process id of the spare fit process, if there is one (it may still be importing)."""
    return _spare.pid()


def spare_ready(timeout: float = 0.0) -> bool:
    """Whether a spare fit process waits, ready to start a fit at once (waiting up to ``timeout`` seconds)."""
    return _spare.ready(timeout)


def close_spare() -> None:
    """End the spare fit process and the spare decode process, if any."""
    _spare.close()
    decoder.close_spare()


class FitProcess:
    """A fit running in a child process. Iterate it (once, in one thread) for the :class:`RemoteFitter`, then the
    events; :meth:`send` and :meth:`cancel` may be called from any thread, :meth:`frames` from any."""

    def __init__(
        self, config: FitConfig, run_dir: str | Path, preview_index: int = 0, video: VideoInfo | None = None
    ) -> None:
        self._config = config
        same_clip = video is not None and Path(video.path).resolve() == Path(config.video).resolve()
        self._video = video if same_clip else None  # the opened clip's probe: probing again reads the whole file
        self.fitter: RemoteFitter | None = None
        self.decoder: DecodeProcess | None = None  # the live frames' process, from the fit's first step
        self._snapshot = 0  # the number of the child's latest weight snapshot heard of
        self._options = options = plugins.options()
        self._job = ChildJob(
            Task(fit, (config, Path(run_dir), preview_index, options)),
            prepare_process,
            (options,),
            what="the fit's process",
            name="nervplayer-fit",
            spare=_spare,
        )

    @property
    def process(self) -> BaseProcess:
        return self._job.process

    @property
    def exitcode(self) -> int | None:
        """The child's, once stopped (its process object is closed then)."""
        return self._job.exitcode

    def frames(self, kind: str, indices: list[int]) -> np.ndarray:
        """``decode`` (uint8) or ``predict`` (float32, on the host) of ``indices`` from the child's latest weight
        snapshot, by the decode process or else the child; raises :class:`~nervplayer.jobs.child.Ended` once the
        child no longer answers, and a ``NervError`` if the one asked answers nothing in :data:`FRAME_TIMEOUT_S`."""
        if self.decoder is not None:
            decoded = self.decoder.frames(kind, indices, self._snapshot, FRAME_TIMEOUT_S)
            if decoded is not None:
                return decoded
        frames: np.ndarray = self._job.request(kind, indices, FRAME_TIMEOUT_S)
        return frames

    def send(self, command: str) -> None:
        """``pause``, ``resume`` or ``cancel``; a child that has ended ignores it."""
        self._job.send(command)

    def cancel(self) -> None:
        """Ask the child to stop after the step in flight (it writes its checkpoint); never waits."""
        self._job.cancel()

    def __iter__(self) -> Iterator[RemoteFitter | Event]:
        try:
            self._job.start()  # the spare's process if one waits: the fit is built there while the clip decodes
            truth = ground_truth(self._config, self._video)
            shown_paused = False  # as the last Paused or Resumed passed on says
            description: Description | None = None
            for message in self._job:
                if isinstance(message, Description):
                    if (truth.num_frames, truth.height, truth.width) != (
                        message.num_frames,
                        message.height,
                        message.width,
                    ):
                        raise NervError(f"{self._config.video} changed while the fit started; start it again")
                    description, self.fitter = message, RemoteFitter(message, self, truth)
                    yield self.fitter
                elif isinstance(message, Usage):
                    self._snapshot = message.snapshot
                    if self.fitter is not None:
                        self.fitter.memory = message.memory
                elif isinstance(message, Weights):
                    if self.fitter is not None:
                        self.fitter.load(message.state)
                elif isinstance(message, (Paused, Resumed)):
                    # reported after a weight snapshot and the pipe: the user may have clicked again meanwhile,
                    # and the fit's state shown is what was asked here, once the child has done it
                    pause = isinstance(message, Paused)
                    if self.fitter is not None and self.fitter.paused == pause and pause != shown_paused:
                        shown_paused = pause
                        yield message
                else:
                    if self.decoder is None and isinstance(message, Step) and description is not None:
                        # not before: its start (torch's imports) would compete with the fit's
                        self.decoder = DecodeProcess(description, self._options)
                    yield message
        finally:
            self._job.stop(timeout=10.0)
            if self.decoder is not None:
                self.decoder.stop()
            if self.fitter is not None:
                self.fitter.ended()


def ground_truth(config: FitConfig, video: VideoInfo | None = None) -> FrameStore:
    """The frames a fit of ``config`` trains on (range, size), decoded into a store on the host, as the fit
    decodes them; ``video`` is the clip's probe if the caller has it."""
    info, end, frames = clip_frames(config, video)
    h, w, count = frames.height, frames.width, frames.num_frames
    return build_store(iter_frames(info, config.start, end, (h, w)), count, h, w, torch.device("cpu"))
