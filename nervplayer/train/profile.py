"""What takes the training time: one fit's :class:`~nervplayer.train.step.TrainingStep`, timed phase by phase and
layer by layer, beside the FLOPs each layer and phase performs (``nervplayer bench``).

Everything here runs the fitter's own step on its own frames, so what is measured is exactly what a fit runs, for
any architecture. Times are medians over steps, the device synchronised at each mark. FLOPs are counted by
:class:`torch.utils.flop_counter.FlopCounterMode` on one step: matmuls and convolutions (the loss's SSIM windows
included); elementwise work (activations, PixelShuffle, the optimizer's update) counts no FLOPs but takes time.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from .step import PHASES

if TYPE_CHECKING:
    from .fit import Fitter

WARMUP_STEPS = 2  # untimed steps before each measurement (kernels chosen, caches warm)
OUTSIDE = "(model, outside any layer)"  # the model's own ops: its tanh, crop, latent grids, weight gradients of inputs


@dataclass(frozen=True)
class Row:
    """One row of the table: a leaf module of the model, or a part of the step that is no layer."""

    name: str
    kind: str  # "layer", "outside", or a phase: "data", "loss", "optimizer"
    fwd_s: float
    bwd_s: float
    fwd_flops: int
    bwd_flops: int

    @property
    def seconds(self) -> float:
        return self.fwd_s + self.bwd_s


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def run_step(fitter: Fitter, k: int, mark: Callable[[], None] | None = None) -> None:
    """The fit's step on its ``k``-th batch of training frames, at its base learning rate."""
    b, order = fitter.config.batch_size, fitter.train_indices
    idx = [order[(k * b + j) % len(order)] for j in range(b)]
    fitter.train_step(idx, fitter.store.get(idx), fitter.base_lr, mark=mark)


def _phase_steps(fitter: Fitter, steps: int, before_step: Callable[[], None] | None = None) -> dict[str, list[float]]:
    """Seconds of each phase of ``steps`` steps (after the warm-up), the device synchronised at each mark."""
    dev = fitter.device
    out: dict[str, list[float]] = defaultdict(list)
    for k in range(steps + WARMUP_STEPS):
        if before_step is not None:
            before_step()
        sync(dev)
        marks = [time.perf_counter()]

        def mark() -> None:
            sync(dev)
            marks.append(time.perf_counter())

        run_step(fitter, k, mark)
        if k >= WARMUP_STEPS:
            for name, t0, t1 in zip(PHASES, marks, marks[1:]):
                out[name].append(t1 - t0)
    return out


def step_phases(fitter: Fitter, steps: int) -> dict[str, float]:
    """Median seconds of each phase of the step: data, forward, loss, backward, optimizer."""
    return {k: statistics.median(v) for k, v in _phase_steps(fitter, steps).items()}


def layer_times(fitter: Fitter, steps: int) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    """Median forward and backward seconds per step of every leaf module that runs, and the median phases of the
    same steps.

    Forward: module pre- and post-hooks. Backward: gradient hooks on the module's output (its backward starts
    when that gradient is ready) and input (it ends when the input's gradient is ready). Tensor hooks add no
    autograd nodes, unlike full backward module hooks, which distort the layout-sensitive kernels measured here.
    A module whose input needs no gradient (the first layer) gets no backward time: its weight gradient falls
    outside any layer. A module called several times per step (a shared activation) sums its calls.
    """
    dev, model = fitter.device, fitter.model
    fwd: dict[str, list[float]] = defaultdict(list)
    bwd: dict[str, list[float]] = defaultdict(list)
    step_fwd: dict[str, float] = defaultdict(float)
    step_bwd: dict[str, float] = defaultdict(float)
    starts: dict[tuple[str, str], float] = {}

    def now() -> float:
        sync(dev)
        return time.perf_counter()

    def end_step() -> None:  # called before each step: the previous step's sums become one sample
        for acc, step_acc in ((fwd, step_fwd), (bwd, step_bwd)):
            for name, seconds in step_acc.items():
                acc[name].append(seconds)
            step_acc.clear()

    def grad_hook(key: tuple[str, str], ends: bool) -> Callable[[torch.Tensor], None]:
        def hook(_: torch.Tensor) -> None:
            if not ends:
                starts[key] = now()
            elif key in starts:
                step_bwd[key[1]] += now() - starts.pop(key)

        return hook

    def pre(name: str) -> Callable[..., None]:
        def hook(_: torch.nn.Module, args: tuple) -> None:
            x = args[0] if args else None
            if torch.is_grad_enabled() and isinstance(x, torch.Tensor) and x.requires_grad:
                x.register_hook(grad_hook(("b", name), True))
            starts[("f", name)] = now()

        return hook

    def post(name: str) -> Callable[..., None]:
        def hook(_: torch.nn.Module, args: tuple, out: object) -> None:
            step_fwd[name] += now() - starts.pop(("f", name))
            if isinstance(out, torch.Tensor) and out.requires_grad:
                out.register_hook(grad_hook(("b", name), False))

        return hook

    handles = []
    for name, module in model.named_modules():
        if name and not list(module.children()):
            handles += [module.register_forward_pre_hook(pre(name)), module.register_forward_hook(post(name))]
    try:
        phases = _phase_steps(fitter, steps, before_step=end_step)
        end_step()
    finally:
        for h in handles:
            h.remove()
    skip = WARMUP_STEPS  # the warm-up steps' samples come first
    per_layer = {
        name: (
            statistics.median(fwd[name][skip:] or fwd[name]),
            statistics.median(bwd[name][skip:]) if len(bwd.get(name, [])) > skip else 0.0,
        )
        for name in fwd
    }
    return per_layer, {k: statistics.median(v) for k, v in phases.items()}


def step_flops(fitter: Fitter) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
    """FLOPs of one step: (forward, backward) of every module by name, and of each phase."""
    counter = FlopCounterMode(display=False)
    by_phase: dict[str, int] = {}
    snapshots: list[dict[str, int]] = []

    def totals() -> dict[str, int]:
        return {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}

    def mark() -> None:
        snap = totals()
        by_phase[PHASES[len(snapshots)]] = snap.get("Global", 0) - (snapshots[-1].get("Global", 0) if snapshots else 0)
        snapshots.append(snap)

    with counter:
        run_step(fitter, 0, mark)
    after_forward, after_backward = snapshots[PHASES.index("forward")], snapshots[PHASES.index("backward")]
    after_loss = snapshots[PHASES.index("loss")]
    root = type(fitter.model).__name__ + "."
    per_module = {}
    for name, total in after_backward.items():
        if name.startswith(root):
            f = after_forward.get(name, 0)
            per_module[name.removeprefix(root)] = (f, total - after_loss.get(name, 0))
    return per_module, by_phase


def profile(fitter: Fitter, steps: int) -> list[Row]:
    """The whole step as rows: every leaf module (forward and backward), the model's work outside its layers,
    the data, the loss and the optimizer. Their seconds add up to the median step of these measurements."""
    per_layer, phases = layer_times(fitter, steps)
    flops, phase_flops = step_flops(fitter)
    rows = [Row(name, "layer", f, b, *flops.get(name, (0, 0))) for name, (f, b) in per_layer.items()]
    layer_fwd = sum(flops.get(name, (0, 0))[0] for name in per_layer)
    layer_bwd = sum(flops.get(name, (0, 0))[1] for name in per_layer)
    rows.append(
        Row(
            OUTSIDE,
            "outside",
            max(phases["forward"] - sum(r.fwd_s for r in rows), 0.0),
            max(phases["backward"] - sum(r.bwd_s for r in rows), 0.0),
            max(phase_flops["forward"] - layer_fwd, 0),
            max(phase_flops["backward"] - layer_bwd, 0),
        )
    )
    for phase in ("data", "loss", "optimizer"):
        rows.append(Row(phase, phase, phases[phase], 0.0, phase_flops[phase], 0))
    return rows
