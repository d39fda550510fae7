"""What runs inside a fit's child process (see :mod:`~nervplayer.train.remote` for the parent's side), as a
:class:`~nervplayer.jobs.child.Task` of a generic child process (:mod:`~nervplayer.jobs.child`: the pipes, the
commands, errors, the spare started ahead).

:func:`prepare_process` is the setup of every nervplayer child (a fit's, a save's, a study's): a spare started
ahead has imported torch and loaded the plugins by the time the user presses Start. :func:`fit` builds the
:class:`~nervplayer.train.Fitter`, yields a :class:`Description` first, then (at a lower priority: the training
yields the cores to the player) every event of ``Fitter.run()`` in order.

The live model's frames are decoded here, where the weights are, not in the window: a :class:`ModelCopy` takes a
snapshot of the weights before each ``Evaluated``, ``Paused`` and ``Finished`` and at most every
:data:`SNAPSHOT_SECONDS` in between, and the child's request thread, at the window's priority, answers the
parent's ``decode`` and ``predict`` requests from it while the fit trains on. The copy's weights travel to the
parent once, as a :class:`Weights` before the ``Finished`` (or the failure), so that the parent decodes the same
frames once this process has ended.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from .. import plugins
from ..allocator import keep_freed_memory
from ..device import Precision, memory_report
from ..jobs.child import Context
from ..jobs.priority import lower_priority
from ..model import architectures
from ..model.render import times, to_uint8
from ..model.spec import ModelSpec
from .config import FitConfig
from .events import Evaluated, Event, Finished, Paused
from .fit import Fitter

SNAPSHOT_SECONDS = 0.5  # how stale the parent's copy of the weights may get while training


@dataclass(frozen=True)
class Description:
    """What the parent needs to play the fit: the frames' shape and range, and the network to build a copy of."""

    pid: int
    num_frames: int
    height: int
    width: int
    device: str
    precision: Precision
    spec: ModelSpec
    source: dict[str, Any]  # the run's source record: path, start, end, size


@dataclass(frozen=True)
class Weights:
    """The tensors the live frames were decoded from last (a QAT fit's stored tensors as quantized), on the host:
    sent once, as the fit ends, for the parent to decode from once this process is gone."""

    state: dict[str, np.ndarray]


@dataclass(frozen=True)
class Usage:
    """The child's memory in use, as :func:`~nervplayer.device.memory_report` (sent with each weight snapshot)."""

    memory: tuple[int | None, str]


def decoding_state(fitter: Fitter) -> dict[str, torch.Tensor]:
    """The weights ``Fitter.decode`` uses now (called between steps; the tensors may be the model's own)."""
    with torch.no_grad():
        state = {name: t.detach() for name, t in fitter.model.state_dict().items()}
        if fitter.quantizer is not None:
            state.update({name: t.detach() for name, t in fitter.quantizer.quantized_parameters(fitter.model).items()})
            fitter.quantizer.clear()
        return state


class ModelCopy:
    """A copy of the fit's network that decodes frames from snapshots of its weights: the child's frame server
    decodes from it while the fit trains on, and the parent from the final weights once the child has ended. The
    same class on both sides: the frames are the same bit for bit."""

    def __init__(self, spec: ModelSpec, device: torch.device, num_frames: int) -> None:
        self.device, self.num_frames = device, num_frames
        self.model = architectures.build(spec).to(device).eval()
        self._lock = threading.Lock()  # a snapshot is never loaded halfway through a decode

    def load(self, state: Mapping[str, torch.Tensor | np.ndarray]) -> None:
        tensors = {name: torch.as_tensor(t) for name, t in state.items()}
        with self._lock:
            self.model.load_state_dict(tensors)

    def state(self) -> dict[str, np.ndarray]:
        """The weights loaded last, as numpy arrays on the host (to travel to the parent)."""
        with torch.no_grad(), self._lock:
            return {
                name: t.detach().to("cpu", torch.float32 if t.is_floating_point() else t.dtype).numpy().copy()
                for name, t in self.model.state_dict().items()
            }

    def predict(self, indices: Sequence[int]) -> torch.Tensor:
        """Float frames [B, 3, H, W] in [0, 1] of the weights loaded last, on the device."""
        with torch.no_grad(), self._lock:
            return self.model(times(list(indices), self.num_frames, self.device)).float()

    def decode(self, indices: Sequence[int], batch_size: int = 8) -> np.ndarray:
        """uint8 frames [B, H, W, 3] of the weights loaded last (safe from any thread)."""
        indices = list(indices)
        return np.concatenate(
            [to_uint8(self.predict(indices[i : i + batch_size])) for i in range(0, len(indices), batch_size)]
        )


def prepare_process(plugin_options: dict[str, Any]) -> None:
    """The setup of a nervplayer child process: the allocator as the nervplayer command keeps it, the plugins as the
    parent has them now (``plugins.options()``), loaded (a second) before the user asks for the work, and the video
    reader imported (PyAV: under a second, which a spare pays before Start instead of after it)."""
    keep_freed_memory()  # a step's activations stay mapped
    plugins.configure(**plugin_options)
    plugins.get_registry()
    import av  # noqa: F401  (imported by the reader when it first opens a file)


def fit(
    context: Context, config: FitConfig, run_dir: Path, preview_index: int, plugin_options: dict[str, Any]
) -> Iterator[Description | Usage | Weights | Event]:
    """The fit's task: a :class:`Description`, then the fit's events with the weight snapshots' :class:`Usage`,
    and the final :class:`Weights` before the ``Finished`` (or an exception). ``plugin_options`` are the parent's
    when the user pressed Start (a spare was set up with those of its own start)."""
    if plugin_options != plugins.options():  # the user changed them since (Preferences)
        plugins.configure(**plugin_options)
    fitter: Fitter | None = None
    copy: ModelCopy | None = None
    try:
        fitter = Fitter(config, run_dir, preview_index=preview_index)
        context.attach(fitter)
        copy = frames = ModelCopy(fitter.spec, fitter.device, fitter.num_frames)
        copy.load(decoding_state(fitter))

        def answer(kind: str, indices: list[int]) -> np.ndarray:
            return frames.decode(indices) if kind == "decode" else frames.predict(indices).cpu().numpy()

        server = context.serve(answer)
        yield Description(
            os.getpid(),
            fitter.num_frames,
            fitter.store.height,
            fitter.store.width,
            str(fitter.device),
            fitter.precision,
            fitter.spec,
            fitter.source,
        )
        # Training (not the start-up the user waits for) yields the cores to the player; the frames the player
        # waits for do not.
        lower_priority(keep=frozenset({server.native_id or 0}))
        yield Usage(memory_report(fitter.device))
        last = time.monotonic()
        for event in fitter.run():
            if isinstance(event, (Evaluated, Paused, Finished)) or time.monotonic() - last >= SNAPSHOT_SECONDS:
                copy.load(decoding_state(fitter))
                yield Usage(memory_report(fitter.device))
                last = time.monotonic()
            if isinstance(event, Finished):
                yield Weights(copy.state())
            yield event
    except Exception:
        state = None
        if copy is not None:  # the last snapshot's weights: what the player showed last
            with contextlib.suppress(Exception):
                state = copy.state()
        if state is not None:
            yield Weights(state)
        raise
    finally:
        if fitter is not None:
            fitter.store.close()
