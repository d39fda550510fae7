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
OUTSIDE = "(model, outside any layer)"  # its own ops (tanh, crop, latent grids), the first layer's weight gradient


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
    b, order = fitter.config.batch_size, fitter.trained
    idx = [order[(k * b + j) % len(order)] for j in range(b)]
    fitter.train_step(idx, fitter.store.get(idx), fitter.base_lr, mark=mark)


def _phase_marks(fitter: Fitter, steps: int, before_step: Callable[[], None] | None = None) -> list[list[float]]:
    """The clock at the start of each of ``steps`` steps (after the warm-up) and at each of its marks, the device
    synchronised at each."""
    dev = fitter.device
    out: list[list[float]] = []
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
            out.append(marks)
    return out


def _medians(marks: list[list[float]]) -> dict[str, float]:
    return {name: statistics.median(m[i + 1] - m[i] for m in marks) for i, name in enumerate(PHASES)}


def step_phases(fitter: Fitter, steps: int) -> dict[str, float]:
    """Median seconds of each phase of the step: data, forward, loss, backward, optimizer."""
    return _medians(_phase_marks(fitter, steps))


def layer_times(fitter: Fitter, steps: int) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    """Median forward and backward seconds per step of every leaf module that runs, and the median phases of the
    same steps, with ``loss backward``: from the start of the backward phase until the model's output has its
    gradient.

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
    output_grads: list[float] = []  # when the model's output got its gradient, step by step

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

    def output_hook(_: torch.nn.Module, args: tuple, out: object) -> None:
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.register_hook(lambda _: output_grads.append(now()))

    handles = [model.register_forward_hook(output_hook)]
    for name, module in model.named_modules():
        if name and not list(module.children()):
            handles += [module.register_forward_pre_hook(pre(name)), module.register_forward_hook(post(name))]
    try:
        marks = _phase_marks(fitter, steps, before_step=end_step)
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
    phases = _medians(marks)
    backward_starts = [m[PHASES.index("backward")] for m in marks]
    timed_grads = output_grads[-len(marks) :] if len(output_grads) >= len(marks) else []
    phases["loss backward"] = (
        statistics.median(t - t0 for t, t0 in zip(timed_grads, backward_starts)) if timed_grads else 0.0
    )
    return per_layer, phases


def step_flops(fitter: Fitter) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
    """FLOPs of one step: (forward, backward) of every module by name (the whole model as ``""``), and of each
    phase."""
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
    root = type(fitter.model).__name__
    per_module = {}
    for name, total in after_backward.items():
        if name == root or name.startswith(root + "."):
            per_module[name.removeprefix(root).removeprefix(".")] = (
                after_forward.get(name, 0),
                total - after_loss.get(name, 0),
            )
    return per_module, by_phase


def profile(fitter: Fitter, steps: int) -> list[Row]:
    """The whole step as rows: every leaf module (forward and backward), the model's work outside its layers,
    the data, the loss and the optimizer. Their seconds add up to the median step of these measurements."""
    per_layer, phases = layer_times(fitter, steps)
    flops, phase_flops = step_flops(fitter)
    rows = [Row(name, "layer", f, b, *flops.get(name, (0, 0))) for name, (f, b) in per_layer.items()]
    _, model_bwd = flops.get("", (phase_flops["forward"], phase_flops["backward"]))
    rows.append(
        Row(
            OUTSIDE,
            "outside",
            max(phases["forward"] - sum(r.fwd_s for r in rows), 0.0),
            max(phases["backward"] - phases["loss backward"] - sum(r.bwd_s for r in rows), 0.0),
            max(phase_flops["forward"] - sum(r.fwd_flops for r in rows), 0),
            max(model_bwd - sum(r.bwd_flops for r in rows), 0),
        )
    )
    rows.append(Row("data", "data", phases["data"], 0.0, 0, 0))
    loss_bwd_flops = max(phase_flops["backward"] - model_bwd, 0)
    rows.append(Row("loss", "loss", phases["loss"], phases["loss backward"], phase_flops["loss"], loss_bwd_flops))
    rows.append(Row("optimizer", "optimizer", phases["optimizer"], 0.0, phase_flops["optimizer"], 0))
    return rows
