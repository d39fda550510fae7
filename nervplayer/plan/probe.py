"""The planner's probe: seconds per training step of candidate models on the chosen device, measured by running
the fit's own step (train/step.py) on synthetic frames of the planned size, so that what is timed is what the fit
will run. Content does not change a step's time; only the shapes do.

:class:`StepProbe` is the planner's step time: per architecture it measures two anchor sizes (``ANCHORS``) at
the frame size ``at`` (the first asked when None), then answers every candidate from them (linear in the stored
values between and beyond the anchors, proportional to the pixels across frame sizes), within a time allowance:
a few percent of the budget.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..device import resolve_device, resolve_precision
from ..errors import NervError
from ..model import architectures
from ..plugins import get_registry
from ..plugins.api import Frames
from ..train.config import FitConfig
from ..train.network import FitNetwork
from ..train.optim import build_optimizer
from ..train.profile import sync
from ..train.recipe import resolve_recipe
from ..train.step import TrainingStep
from ..video.store import MemoryFrameStore

PROBE_FRAMES = 4  # frames of the synthetic clip a probe trains on (a step sees one)
ANCHORS = (100_000, 600_000)  # stored values measured per architecture


@dataclass(frozen=True)
class Candidate:
    """A model to time: architecture, stored values, frame size, and the frames it holds (per-frame latents
    change the shape of a model of a given size)."""

    arch: str
    params: int
    height: int
    width: int
    num_frames: int


def step_seconds(
    candidate: Candidate,
    device: str = "auto",
    precision: str = "auto",
    steps: int = 2,
    warmup: int = 1,
    give_up: float = float("inf"),
    recipe: Mapping[str, Any] | None = None,
) -> float:
    """Median seconds of one training step (batch 1) of ``candidate`` after ``warmup`` untimed steps; inf as soon
    as one step takes longer than ``give_up`` seconds. ``recipe``: FitConfig fields the fit will train with (a
    rate-aware step quantizes every tensor and estimates its rate: several times a plain one)."""
    plugins = get_registry()
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    frames = Frames(candidate.height, candidate.width, candidate.num_frames)
    spec = architectures.resolve(candidate.arch, frames, budget=candidate.params, plugins=plugins)
    config = FitConfig(video="", arch=candidate.arch, device=device, precision=precision, **(recipe or {}))
    config = resolve_recipe(config, plugins)  # unset: the candidate architecture's own
    lr, loss = config.lr, config.loss
    assert lr is not None and loss is not None
    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, 256, (PROBE_FRAMES, 3, candidate.height, candidate.width), dtype=torch.uint8, generator=g)
    store = MemoryFrameStore(data, dev)
    network = FitNetwork.build(spec, plugins, config, store, prec)
    # the candidate's frames at their times (t = i / N) in the probe's units: a rate-aware grid's step reads their
    # windows (train/window.py)
    network.train_on([i * PROBE_FRAMES / candidate.num_frames for i in range(candidate.num_frames)])
    fused = dev.type in ("cuda", "cpu")
    optimizer = build_optimizer(config.optimizer, network, lr, fused)
    scaler = torch.amp.GradScaler(dev.type, enabled=prec.needs_scaler)
    step = TrainingStep(network, optimizer, scaler, plugins.create("loss", loss, config.loss_params))
    times = []
    for k in range(warmup + steps):
        idx = [k % PROBE_FRAMES]
        sync(dev)
        t0 = time.perf_counter()
        step(idx, store.get(idx), lr)
        sync(dev)
        if time.perf_counter() - t0 > give_up:
            return float("inf")
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass(frozen=True)
class Measured:
    params: int
    pixels: int
    seconds: float


class StepProbe:
    """Step times of candidates from a few measured ones (see the module docstring). ``allowance`` bounds the
    seconds spent measuring; an architecture with nothing measured when it runs out gets no estimate (inf), but
    the first one asked is always measured."""

    def __init__(
        self,
        device: str = "auto",
        precision: str = "auto",
        allowance: float = 5.0,
        at: tuple[int, int] | None = None,
        recipe: Mapping[str, Any] | None = None,
    ) -> None:
        self.device, self.precision, self.allowance, self.at = device, precision, allowance, at
        self.recipe = dict(recipe or {})  # the FitConfig fields of the fit's training step (step_seconds)
        self.spent = 0.0  # seconds spent measuring
        #: the CPU threads the steps were measured with (the faster of one and all); None until then, or off a CPU
        self.threads: int | None = None
        self.points: dict[str, list[Measured]] = {}
        self.tried: set[tuple[str, int]] = set()  # sizes measured far from the anchors (or that failed to build)

    def __call__(self, c: Candidate) -> float:
        points = self.points.get(c.arch)
        if points is None:
            points = self.points[c.arch] = self._measure(c) if self.spent < self.allowance or not self.points else []
        if points and not _near(points, c.params) and (self.spent < self.allowance or len(self.points) == 1):
            self._measure_far(c, points)
        if not points or not _near(points, c.params):
            return float("inf")  # unmeasured, or far from what was: it may not even build for the clip
        scale = c.height * c.width
        (a, b) = (points[0], points[-1])
        sa, sb = a.seconds * scale / a.pixels, b.seconds * scale / b.pixels
        if b.params == a.params:
            return sa * max(c.params / a.params, 1.0) ** 0.5  # one anchor built: grow with the size, gently
        slope = max((sb - sa) / (b.params - a.params), 0.0)
        return max(sa + slope * (c.params - a.params), 0.2 * sa)

    def _measure_far(self, c: Candidate, points: list[Measured]) -> None:
        """Measure ``c`` itself, far from its architecture's anchors (a size the user gave, say 3M), into
        ``points``; once per size: one that cannot be built for the clip stays unmeasured."""
        if (c.arch, c.params) in self.tried:
            return
        self.tried.add((c.arch, c.params))
        if self.at is not None:
            c = Candidate(c.arch, c.params, *self.at, c.num_frames)
        if (seconds := self._time(c)) is not None:
            points.append(Measured(c.params, c.height * c.width, seconds))
            points.sort(key=lambda m: m.params)

    def _measure(self, c: Candidate) -> list[Measured]:
        """The anchors of ``c``'s architecture (``c`` itself when none can be built for the clip)."""
        if self.at is not None:
            c = Candidate(c.arch, c.params, *self.at, c.num_frames)
        out: list[Measured] = []
        for params in ANCHORS:
            if self.spent >= self.allowance and out:
                break
            seconds = self._time(Candidate(c.arch, params, c.height, c.width, c.num_frames))
            if seconds is not None:
                out.append(Measured(params, c.height * c.width, seconds))
        if not out and (seconds := self._time(c)) is not None:
            out.append(Measured(c.params, c.height * c.width, seconds))
        return out

    def _time(self, c: Candidate) -> float | None:
        """Seconds of a step of ``c`` (None when it cannot be built for the clip). The first one timed on a CPU of
        several cores runs on all of them and on one, and the faster count is kept: on a loaded machine, threads
        that wait on each other make a step up to 10x slower than one thread does (docs/long-videos.md); when the
        allowance is spent first, one thread it is."""
        cores = torch.get_num_threads()
        choose = self.threads is None and cores > 1 and resolve_device(self.device).type == "cpu"
        timed: dict[int, float] = {}
        t0 = time.perf_counter()
        try:
            for n in (1, cores) if choose else (cores,):
                if timed and time.perf_counter() - t0 + self.spent >= self.allowance:
                    break
                # all cores give up once slower than one thread (x3: the first step warms up) or the allowance
                give_up = min(3 * timed[1], self.allowance - self.spent) if timed else float("inf")
                torch.set_num_threads(n)
                timed[n] = step_seconds(c, self.device, self.precision, give_up=give_up, recipe=self.recipe)
        except NervError:
            torch.set_num_threads(cores)
            return None
        finally:
            self.spent += time.perf_counter() - t0
        if choose:
            self.threads = min(timed, key=lambda n: timed[n])
        torch.set_num_threads(self.threads or cores)
        return min(timed.values())


def _near(points: list[Measured], params: int) -> bool:
    """Whether a model of ``params`` values is close enough to the measured ``points`` to be told from them."""
    return points[0].params / 2 <= params <= 2.5 * points[-1].params


def device_label(device: str = "auto") -> str:
    """The device as the plan line names it: ``cpu (2 cores)``, ``cuda (NVIDIA H100 80GB HBM3)``."""
    dev = resolve_device(device)
    if dev.type == "cpu":
        n = torch.get_num_threads()
        return f"cpu ({n} core{'s' if n > 1 else ''})"
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return dev.type
