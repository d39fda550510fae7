"""A fit to a time budget, end to end: plan it for a clip (probe, then plan), turn the plan into the fit's and the
compression's settings, and compare what happened with what was planned.

What the user fixed on the command line (or in the fit panel) stays as given; the plan chooses the rest:

* ``--arch``, ``--preset``/``--params``, ``--size``/``--scale``, ``--lr``: taken as they are;
* ``--epochs``: the fit runs that many epochs or until the time is up, whichever comes first (the LR schedule
  follows whichever is further along), so the budget still holds; the plan line says how many epochs it expects;
* the fit evaluates once, at its end, unless ``--eval-every`` is given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from ..codec import CompressOptions
from ..codec.ratecontrol import Target
from ..errors import ConfigError
from ..model import architectures
from ..train import FitConfig
from ..train.fit import clip_frames
from ..train.recipe import resolve_recipe
from ..video import VideoInfo
from .clock import process_age
from .duration import format_duration
from .planner import ARCHS, FIXED_AFTER_S, Plan, Request, after_steps, before_fit, frame_sizes, plan
from .probe import StepProbe, device_label

PROBE_SHARE = 0.04  # the probe's share of the budget
PROBE_PIXELS = 320 * 180  # the probe measures at the planned frame size nearest this many pixels
GIVEN = ("arch", "preset", "budget", "size", "lr", "epochs", "eval_every")  # what a user may fix


@dataclass(frozen=True)
class Planned:
    """A plan, how long the probe took, and the FitConfig it was made for."""

    plan: Plan
    probe_seconds: float
    config: FitConfig
    spent: Callable[[], float]  # seconds of the budget gone (plan_clip's)
    target: Target | None = None  # what the compression must meet (rate control), part of the plan


def plan_clip(
    config: FitConfig,
    seconds: float,
    given: set[str],
    info: VideoInfo | None = None,
    max_segments: int | None = 1,
    spent: Callable[[], float] = process_age,
    segment_frames: int | None = None,
    target: Target | None = None,
) -> Planned:
    """Plan ``config``'s clip for a budget of ``seconds``; ``given`` names the fields of ``config`` the user fixed
    (:data:`GIVEN`). ``max_segments=1`` where the caller fits one model over the clip; ``segment_frames`` where the
    user fixed the segment length (None: the planner's, :func:`~.planner.segment_length`). ``spent`` says how much of
    the budget is gone: the CLI's counts from the process start, the player's from Start (after planning).
    ``target`` (a size, bpp or PSNR target) joins the plan: a size caps the models it considers (rate control
    shrinks the file to the cap after the fit, in the budget), and any target's search is counted in the time.
    A budget too small for the clip's smallest plan, or a cap below its smallest file, is a :class:`ConfigError`,
    before anything long starts."""
    info, _, frames = clip_frames(config, info)
    size = (frames.height, frames.width) if "size" in given else None
    params = config.budget if "budget" in given else None
    if "preset" in given:
        params = architectures.describe(config.arch, frames, preset=config.preset).params
    # each candidate trains with its own recipe where the user set none (train/recipe.py)
    recipes = {a: resolve_recipe(dataclasses.replace(config, arch=a)) for a in {*ARCHS, config.arch}}
    req = Request(
        num_frames=frames.num_frames,
        height=info.height,
        width=info.width,
        seconds=seconds,
        spent=spent(),
        arch=config.arch if "arch" in given or "preset" in given else None,
        params=params,
        size=size,
        epochs=config.epochs if "epochs" in given else None,
        lr=config.lr if "lr" in given else None,
        segment_frames=segment_frames,
        max_segments=max_segments,
        size_cap=int(target.value) if target is not None and target.kind == "size" else None,
        bpp_cap=target.value if target is not None and target.kind == "bpp" else None,
        searched=target is not None,
        quantized=frozenset(a for a, c in recipes.items() if c.qat),
        rate_aware=frozenset(a for a, c in recipes.items() if c.rate_lambda),
    )
    floor = req.spent + before_fit(req) + FIXED_AFTER_S
    if floor >= seconds:  # decoding and writing alone take longer: no probe
        raise ConfigError(
            f"a budget of {format_duration(seconds)} cannot hold one segment's smallest model: decoding the clip "
            f"and writing the file alone take about {format_duration(floor)}"
        )
    sizes = frame_sizes(req)
    at = min(sizes, key=lambda hw: abs(hw[0] * hw[1] - PROBE_PIXELS))
    probe = StepProbe(config.device, config.precision, PROBE_SHARE * seconds, at, training_recipe(config))
    plan(req, probe)  # measures (the probe keeps its answers); the plan below counts the probe's time as spent
    # the probe leaves this process on the thread count it measured fastest: the fit (in this process) keeps it
    chosen = plan(dataclasses.replace(req, spent=spent(), device=device_label(config.device)), probe)
    return Planned(chosen, probe.spent, config, spent, target)


def training_recipe(config: FitConfig) -> dict[str, Any]:
    """The options of ``config`` that change what a training step costs, for the probe to measure it with."""
    keys = (
        "loss",
        "loss_params",
        "qat",
        "qat_bits",
        "rate_lambda",
        "soft_rounding",
        "hard_rounding",
        "optimizer",
        "rate_model",
    )
    return {k: getattr(config, k) for k in keys}


def fit_config(planned: Planned, given: set[str]) -> FitConfig:
    """The FitConfig of a planned fit; its time limit is what is left of the budget now, less the decoding still
    to come and the fixed costs after the fit (call it just before the fit starts). The work after the fit that
    grows with the step time (evaluations, fine-tune) stays inside the limit as ``time_after_steps``: the fit
    reserves it at the step time it measures, not the probe's. In segments, the limit is that of all the
    segments' fits, which the segmented fit shares among them (segments/fit.py :func:`time_limits`)."""
    p, base = planned.plan, planned.config
    left = p.seconds - planned.spent() - p.before_seconds - FIXED_AFTER_S * p.segments
    if left <= p.after_seconds - FIXED_AFTER_S * p.segments:
        raise ConfigError(f"the budget of {format_duration(p.seconds)} ran out before the fit could start")
    keep_epochs = "epochs" in given
    return dataclasses.replace(
        base,
        arch=p.arch,
        preset=base.preset if "preset" in given else None,
        budget=None if "preset" in given else p.params,
        size=(p.height, p.width),
        scale=None,
        lr=p.lr,
        # without --epochs, the time is what stops the fit: twice the expected epochs, so that the share of the time
        # used drives the schedule unless the steps run twice as fast as the probe measured
        epochs=base.epochs if keep_epochs else 2 * max(p.epochs, 1),
        time_limit=left,
        time_after_steps=after_steps(p.finetune_epochs, planned.target is not None),
        eval_every=base.eval_every if "eval_every" in given else 10**9,
    )


def expected_training(config: FitConfig, p: Plan) -> float | None:
    """The training part of a planned fit's time limit at the probe's step time (what a progress bar counts
    down to; the fit itself reserves the work after it at the step time it measures)."""
    if config.time_limit is None:
        return None
    return config.time_limit - (p.after_seconds - FIXED_AFTER_S * p.segments)


def compress_options(planned: Planned) -> CompressOptions:
    """How the planned fit is compressed into its ``.nerv``."""
    p = planned.plan
    return CompressOptions(
        prune=p.prune,
        finetune_epochs=p.finetune_epochs,
        bits=p.bits,
        device=planned.config.device,
        target=planned.target,
    )


def outcome(p: Plan, marks: dict[str, float], psnr: float | None, file_bytes: int) -> str:
    """Plan against what happened, in one line; ``marks``: the process's age at the end of each stage, in order
    (the last is the end)."""
    got = f"{psnr:.2f} dB" if psnr is not None else "no PSNR"
    seconds, before, stages = list(marks.values())[-1], 0.0, list[str]()
    for name, at in marks.items():
        stages.append(f"{name} at {at:.1f} s" if not stages else f"{name} +{at - before:.1f}")
        before = at
    return (
        f"planned {format_duration(p.estimated_seconds)}, {p.about} {p.expected_psnr:.1f} dB, "
        f"{p.about} {p.expected_bytes / 1e3:,.0f} kB · achieved {seconds:.1f} s "
        f"({(seconds / p.seconds - 1) * 100:+.1f} % of the budget: {', '.join(stages)}), {got}, "
        f"{file_bytes / 1e3:,.0f} kB"
    )
