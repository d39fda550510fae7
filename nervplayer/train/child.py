"""What runs inside a fit's child process (see :mod:`~nervplayer.train.remote` for the parent's side), as a
:class:`~nervplayer.jobs.child.Task` of a generic child process (:mod:`~nervplayer.jobs.child`: the pipes, the
commands, errors, the spare started ahead).

:func:`prepare_process` is the setup of every nervplayer child (a fit's, a save's, a study's): a spare started
ahead has imported torch and loaded the plugins by the time the user presses Start. :func:`fit` builds the
:class:`~nervplayer.train.Fitter`, yields a :class:`Description` first, then (at a lower priority: the training
yields the cores to the player) every event of ``Fitter.run()`` in order.

The live model's frames are decoded where the weights are, not in the window: a :class:`ModelCopy` takes a
snapshot of the weights before each ``Evaluated``, ``Paused`` and ``Finished`` and at most every
:data:`SNAPSHOT_SECONDS` in between, numbered (the :class:`Usage` that follows says the number). The
:class:`WeightsOutlet` sends each snapshot to the fit's decode process (:mod:`~nervplayer.train.decoder`), which
answers the window's requests for frames; until it serves, or if it has gone, the child's request thread, at the
window's priority, answers the parent's ``decode`` and ``predict`` requests from the copy here. The copy's weights
travel to the parent once, as a :class:`Weights` before the ``Finished`` (or the failure), so that the parent
decodes the same frames once this process has ended.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing import AuthenticationError, current_process
from multiprocessing.connection import Connection, Listener
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
SEND_TIMEOUT_S = 2.0  # a decode process that takes a snapshot no faster than this is dropped (the fit goes on)


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
    weights_address: Any  # the :class:`WeightsOutlet`'s, for the decode process to connect to


@dataclass(frozen=True)
class Weights:
    """The tensors the live frames were decoded from last (a QAT fit's stored tensors as quantized), on the host:
    sent once, as the fit ends, for the parent to decode from once this process is gone."""

    state: dict[str, np.ndarray]


@dataclass(frozen=True)
class Usage:
    """The child's memory in use, as :func:`~nervplayer.device.memory_report`, sent after each weight snapshot
    with its number."""

    memory: tuple[int | None, str]
    snapshot: int


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


def listen() -> Listener:
    """A listener for this process's decode processes, guarded by the process's authkey. On Linux its address is
    in the abstract namespace: no socket file, so no folder whose path could be too long for one (a TMPDIR past
    about 80 characters made the default address refuse to bind)."""
    authkey = current_process().authkey
    if sys.platform.startswith("linux"):
        return Listener(f"\0nervplayer-{os.getpid()}-{secrets.token_hex(8)}", authkey=authkey)
    return Listener(authkey=authkey)


class WeightsOutlet:
    """Where the decode process takes the fit's weights: each :meth:`snapshot` is loaded into the copy and sent,
    numbered, to every decode process connected (a new one gets the latest first). The fit's thread sends, before
    the event that follows: the decode process has the snapshot by the time the window hears of it, and no
    thread of this process that the fit's might starve stands between them. A decode process that does not take
    a snapshot within :data:`SEND_TIMEOUT_S` is dropped."""

    def __init__(self, copy: ModelCopy) -> None:
        self._copy = copy
        self._listener = listen()
        self.address = self._listener.address
        self._lock = threading.Lock()  # one sender at a time (the fit's thread, or a new connection's first)
        self._version = 0
        self._peers: list[Connection] = []
        threading.Thread(target=self._accept, name="weights-outlet", daemon=True).start()

    def snapshot(self, state: Mapping[str, torch.Tensor]) -> int:
        """Load ``state`` into the copy and send it on; the snapshot's number."""
        with self._lock:
            self._copy.load(state)
            self._version += 1
            if self._peers:
                self._send(self._peers, (self._version, self._copy.state()))
            return self._version

    def _send(self, peers: list[Connection], message: Any) -> None:
        for peer in list(peers):
            try:
                peer.send(message)
            except (OSError, ValueError):  # gone, or too slow (a message cut short ends it)
                with contextlib.suppress(ValueError):
                    self._peers.remove(peer)
                peer.close()

    def _accept(self) -> None:
        while True:
            try:
                peer = self._listener.accept()
            except (AuthenticationError, EOFError, ConnectionError):
                continue
            except OSError:  # closed
                return
            _limit_sends(peer, SEND_TIMEOUT_S)
            with self._lock:
                self._peers.append(peer)
                self._send([peer], (self._version, self._copy.state()))

    def close(self) -> None:
        """Stop listening; the decode processes see the end of file and end."""
        with self._lock:
            for peer in self._peers:
                peer.close()
            self._peers.clear()
        with contextlib.suppress(OSError):
            self._listener.close()


def _limit_sends(connection: Connection, seconds: float) -> None:
    """A send on ``connection`` (a socket's) that blocks ``seconds`` fails instead (where the system can say so)."""
    if hasattr(socket, "SO_SNDTIMEO"):
        with contextlib.suppress(OSError), socket.socket(fileno=os.dup(connection.fileno())) as sock:
            whole = int(seconds)
            timeval = struct.pack("ll", whole, int((seconds - whole) * 1e6))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


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
    outlet: WeightsOutlet | None = None
    try:
        fitter = Fitter(config, run_dir, preview_index=preview_index)
        context.attach(fitter)
        copy = frames = ModelCopy(fitter.spec, fitter.device, fitter.num_frames)
        outlet = WeightsOutlet(copy)
        snapshot = outlet.snapshot(decoding_state(fitter))

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
            outlet.address,
        )
        # Training (not the start-up the user waits for) yields the cores to the player; the frames the player
        # waits for do not.
        lower_priority(keep=frozenset({server.native_id or 0}))
        yield Usage(memory_report(fitter.device), snapshot)
        last = time.monotonic()
        for event in fitter.run():
            if isinstance(event, (Evaluated, Paused, Finished)) or time.monotonic() - last >= SNAPSHOT_SECONDS:
                snapshot = outlet.snapshot(decoding_state(fitter))
                yield Usage(memory_report(fitter.device), snapshot)
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
        if outlet is not None:
            outlet.close()
        if fitter is not None:
            fitter.store.close()
