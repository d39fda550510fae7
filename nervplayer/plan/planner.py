"""The plan of a fit to a time budget: which model, how big, at what frame size, in how many segments, for how
many epochs, so that the whole way to a playable ``.nerv`` (decoding the clip, the fit, compressing) ends within
the budget; and what it should give (PSNR, file size).

The planner is a pure function of the clip's shape, the budget and a *step time* (seconds of one training step of
a candidate model, measured by the probe, :mod:`.probe`, or faked by tests). It searches a small ladder of model
sizes for each candidate architecture and keeps the plan with the highest expected PSNR (:mod:`.expect`).

Where the time goes (the constants are measured on this project's 2-core CPU, docs/long-videos.md "Planner"):

* decoding and resizing the clip: ``DECODE_S_PER_MPIX`` seconds per million source pixels, plus fixed costs
  (``FIXED_BEFORE_S``, ``FIXED_AFTER_S``: building the model, the run folder, loading it back, writing the file);
  a clip in segments pays the fixed costs once per segment, and decodes the clip once more to find its scene cuts;
* training: ``epochs × frames × step`` (every segment sees every one of its frames once per epoch, so the total
  does not depend on how the clip is cut; segments run one after another on the device);
* the evaluations: the fit's last one (one forward per frame) and the compression's (two per frame), a forward
  being ``FORWARD_SHARE`` of a training step;
* the compression's fine-tune (after pruning): ``finetune_epochs × frames × step``. Short fits are not pruned:
  pruning needs fine-tuning to give its quality back, and a few epochs are better spent on the fit itself.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

from ..errors import ConfigError
from .duration import format_duration
from .expect import expected_bytes, expected_psnr
from .probe import Candidate

StepTime = Callable[[Candidate], float]  # seconds of one training step (batch 1) of a candidate

# tried when the user names none, in the order the probe measures them: the grid's steps are the cheapest to time
ARCHS = ("grid", "hnerv", "nerv")
# a clip in segments: the models that train on frames beyond their boundaries (segments/fit.py context_frames),
# whose seams are measured smooth; a grid's segments left 1.0 dB seams and flicker (docs/long-videos.md)
SEGMENT_ARCHS = ("hnerv",)
LADDER = (50_000, 100_000, 150_000, 300_000, 600_000, 1_000_000, 1_500_000)  # stored values per model
LR = {"hnerv": 2e-3, "nerv": 2e-3, "grid": 1e-2}  # learning rates of short fits (docs/long-videos.md)
# and of fits of LONG_FIT_EPOCHS or more: the grid's 20-minute fits on bunny (249-284 epochs) needed 4-8 % fewer bits
# at 5e-3 than at 1e-2 (docs/models.md, "The default architecture"); the short fits above were measured at 1e-2
LONG_LR = {"grid": 5e-3}
LONG_FIT_EPOCHS = 100
DEFAULT_LR = 1e-3
MAX_SIDE = 1280  # the planner never fits above 1280 pixels wide unless the size is given
MIN_EPOCHS_AT_SIZE = 20  # a frame size is kept only if the plan can give it this many epochs, else it halves
MIN_EPOCHS = 1.0  # below one epoch over the clip, no plan
SEGMENT_FRAMES = 125  # frames per segment of a long clip: 5 s at 25 fps (C3 and Cool-chic cut 30-75 frames)
PRUNE_FROM_EPOCHS = 30  # fits of at least this many epochs are pruned and fine-tuned; shorter ones are not
PRUNE = 0.2  # fraction removed when pruning
FINETUNE_SHARE = 0.1  # fine-tune epochs per fit epoch
FORWARD_SHARE = 0.35  # a forward pass (decoding a frame) takes this share of a training step
DECODE_S_PER_MPIX = 0.012  # decoding and resizing the clip, seconds per million source pixels
FIXED_BEFORE_S = 2.0  # building the model and the run folder: seconds whatever the clip
FIXED_AFTER_S = 4.0  # saving, loading back, quantizing, coding and writing
BITS = 8  # quantization bit width of the file
# under a size cap, rate control (codec/ratecontrol.py) writes a model's file smaller than at BITS, at a cost in
# PSNR: a plan may hold a model up to MAX_SHRINK times the cap (about 3 bits), counted SHRINK_LOSS dB per halving
# (measured: grid 1.5M on bunny 320×180, 937 kB at 8 bits → 400 kB capped, 29.56 → 28.56 dB)
MAX_SHRINK = 3.0
SHRINK_LOSS = 0.8
SEARCH_STEPS = 1.0  # rate control's work, in training steps per frame: its decodes and its candidates' encodings


@dataclass(frozen=True)
class Request:
    """What the plan is for: the clip, the budget, what the user fixed (None = the planner chooses)."""

    num_frames: int
    height: int  # the source's frame size
    width: int
    seconds: float  # the whole budget
    spent: float = 0.0  # seconds of the budget already gone (process start, probing)
    device: str = "cpu"  # how the plan line names the device, e.g. "cpu (2 cores)"
    arch: str | None = None
    params: int | None = None
    size: tuple[int, int] | None = None  # (height, width) to fit at
    epochs: int | None = None
    lr: float | None = None
    segment_frames: int | None = None
    max_segments: int | None = None  # 1 where segmented fits are not available to the caller
    size_cap: int | None = None  # the file's cap in bytes (--target-size)
    bpp_cap: float | None = None  # ... or in bits per pixel at the planned frame size (--target-bpp)
    searched: bool = False  # the compression searches a target (size, bpp or PSNR): rate control's time
    # the architectures whose fit is quantization-aware (--qat, --rate-lambda, or their recipe): their file is their
    # learned steps, so nothing is pruned or fine-tuned after them
    quantized: frozenset[str] = frozenset()
    # ... and those trained with a rate term, which trades quality for size: their expectations are bounds
    rate_aware: frozenset[str] = frozenset()

    def cap_at(self, height: int, width: int) -> int | None:
        """The file's cap in bytes at a frame size, if the user set one."""
        if self.bpp_cap is not None:
            return math.floor(self.bpp_cap * self.num_frames * height * width / 8)
        return self.size_cap


@dataclass(frozen=True)
class Plan:
    """A chosen fit and what it should give. ``segment_frames`` is the segment length the segmented fit takes
    (``segments == 1``: one model over the clip)."""

    seconds: float  # the budget
    device: str
    arch: str
    params: int  # stored values per segment's model
    height: int
    width: int
    num_frames: int
    segment_frames: int
    segments: int
    epochs: int  # expected epochs of the fit (the time limit is what stops it)
    lr: float
    fit_seconds: float  # training time of the fit, all segments: its time limit
    before_seconds: float  # expected seconds from planned to training: decoding the clip, building the model
    after_seconds: float  # expected seconds from the fit's end to the written .nerv
    finetune_epochs: int
    prune: float
    bits: int
    step_seconds: float  # measured seconds of one training step
    estimated_seconds: float  # the whole way, from the process start
    expected_psnr: float
    expected_bytes: int
    rate_aware: bool = False  # the expectations are those without the rate term: at most what the fit gives

    @property
    def about(self) -> str:
        """How the expectations read: about (≈), or at most (≤) where the rate term makes both smaller."""
        return "≤" if self.rate_aware else "≈"

    def line(self) -> str:
        """The plan in one line, as the CLI prints it and the fit panel shows it before Start."""
        seg = (
            f"{self.segments} segments · {self.arch} {_count(self.params)} each"
            if self.segments > 1
            else (f"1 segment · {self.arch} {_count(self.params)}")
        )
        return (
            f"about {format_duration(self.estimated_seconds)} on {self.device} · {seg} · {self.width}×{self.height} "
            f"· {self.epochs} epoch{'s' if self.epochs != 1 else ''} · expect {self.about} {self.expected_psnr:.0f} "
            f"dB, {self.about} {_bytes(self.expected_bytes)}{' (the rate term trades them)' if self.rate_aware else ''}"
        )


def learning_rate(arch: str, epochs: float) -> float:
    """The learning rate a plan of ``epochs`` epochs of ``arch`` fits at (:data:`LR`, :data:`LONG_LR`)."""
    if epochs >= LONG_FIT_EPOCHS and arch in LONG_LR:
        return LONG_LR[arch]
    return LR.get(arch, DEFAULT_LR)


def _count(n: int) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1_000_000 else f"{n / 1e3:.0f}k"


def _bytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def segment_length(num_frames: int, max_segments: int | None) -> int:
    """Frames per segment: the clip cut evenly into segments of about ``SEGMENT_FRAMES``; one segment when that
    leaves less than half a segment more (a short clip), or when ``max_segments`` says so."""
    count = 1 if num_frames <= 1.5 * SEGMENT_FRAMES else round(num_frames / SEGMENT_FRAMES)
    if max_segments is not None:
        count = min(count, max_segments)
    return math.ceil(num_frames / count)


def frame_sizes(req: Request) -> list[tuple[int, int]]:
    """The frame sizes to try, largest first: the given one, or the source's (at most ``MAX_SIDE`` wide) halved
    while both sides stay at least 64 pixels."""
    if req.size is not None:
        return [req.size]
    h, w = float(req.height), float(req.width)
    while w > MAX_SIDE:
        h, w = h / 2, w / 2
    sizes = []
    while min(h, w) >= 64:
        sizes.append((2 * round(h / 2), 2 * round(w / 2)))
        h, w = h / 2, w / 2
    return sizes or [(req.height, req.width)]


def before_fit(req: Request, segments: int = 1) -> float:
    """Seconds outside the fit that decoding and building take: decoding and resizing the clip (in segments twice
    more: the scene cuts, and the frames around the boundaries that gathering fades, which lie across the clip),
    building each segment's model. All of it is counted before the fit, which is given what is left."""
    decodes = 1 if segments == 1 else 3
    return FIXED_BEFORE_S * segments + decodes * DECODE_S_PER_MPIX * req.num_frames * req.height * req.width / 1e6


def after_steps(finetune_epochs: int, searched: bool = False) -> float:
    """The work after the fit trains, in training steps per frame: its last evaluation and the compression's
    (three forwards), the compression's fine-tune, and rate control's search where a target asks for one."""
    return 3 * FORWARD_SHARE + finetune_epochs + (SEARCH_STEPS if searched else 0.0)


def after_fit(req: Request, step: float, finetune_epochs: int, segments: int = 1) -> float:
    """Seconds after the fit trains: :func:`after_steps` at ``step`` seconds a step, and writing (the fixed part,
    once per segment)."""
    return FIXED_AFTER_S * segments + req.num_frames * step * after_steps(finetune_epochs, req.searched)


def capped(req: Request, height: int, width: int, psnr: float, size: int) -> tuple[float, int] | None:
    """(PSNR, bytes) expected of a plan under the user's size cap, if any: rate control shrinks a file over the cap
    at :data:`SHRINK_LOSS` dB per halving; None when the cap is below what it can reach (:data:`MAX_SHRINK`)."""
    cap = req.cap_at(height, width)
    if cap is None or size <= cap:
        return psnr, size
    if size > MAX_SHRINK * cap:
        return None
    return psnr - SHRINK_LOSS * math.log2(size / cap), cap


def segment_count(req: Request) -> tuple[int, int]:
    """(frames per segment, segments) of ``req``'s clip: segments of a given length as the splitter cuts them (about
    that long, within half again as long: 455 frames of 150 are 3 segments, not 4)."""
    segment = req.segment_frames or segment_length(req.num_frames, req.max_segments)
    return segment, max(1, round(req.num_frames / segment))


def plan_at(req: Request, arch: str, params: int, height: int, width: int, step: float) -> Plan | None:
    """The plan of one candidate, or None when the budget cannot give it ``MIN_EPOCHS``."""
    n = req.num_frames
    segment, segments = segment_count(req)
    before = before_fit(req, segments)
    epoch_s = n * step
    train = req.seconds - req.spent - before - after_fit(req, step, 0, segments)  # training: fit and fine-tune
    if not train > 0:
        return None
    epochs = train / epoch_s if req.epochs is None else float(req.epochs)
    finetune = 0
    if epochs * (1 + FINETUNE_SHARE) >= PRUNE_FROM_EPOCHS and arch not in req.quantized:
        if req.epochs is None:
            epochs = train / (epoch_s * (1 + FINETUNE_SHARE))
        finetune = max(2, round(FINETUNE_SHARE * epochs))
    if epochs < MIN_EPOCHS:
        return None
    after = after_fit(req, step, finetune, segments)
    fit_seconds = min(epochs * epoch_s, req.seconds - req.spent - before - after)
    if not fit_seconds > 0:
        return None
    prune = PRUNE if finetune else 0.0
    size = expected_bytes(arch, params * segments, prune, BITS)
    expected = capped(
        req, height, width, expected_psnr(arch, fit_seconds / epoch_s, params / (segment * height * width)), size
    )
    if expected is None:
        return None
    return Plan(
        seconds=req.seconds,
        device=req.device,
        arch=arch,
        params=params,
        height=height,
        width=width,
        num_frames=n,
        segment_frames=segment,
        segments=segments,
        epochs=max(1, math.floor(epochs)),
        lr=req.lr or learning_rate(arch, epochs),
        fit_seconds=fit_seconds,
        before_seconds=before,
        after_seconds=after,
        finetune_epochs=finetune,
        prune=prune,
        bits=BITS,
        step_seconds=step,
        estimated_seconds=req.spent + before + fit_seconds + after,
        expected_psnr=expected[0],
        expected_bytes=expected[1],
        rate_aware=arch in req.rate_aware,
    )


def plan(req: Request, step_time: StepTime) -> Plan:
    """The plan with the highest expected PSNR that fits ``req``'s budget, at the largest frame size that gives it
    ``MIN_EPOCHS_AT_SIZE`` epochs (else the smallest); a :class:`ConfigError` naming what the smallest model needs
    when no plan fits. A candidate whose step time is unknown (inf: not measured, or far from what was) is
    skipped; sizing a model to a count takes seconds here, so the planner builds none itself."""
    archs = (req.arch,) if req.arch else ARCHS if segment_count(req)[1] == 1 else SEGMENT_ARCHS
    ladder = (req.params,) if req.params else LADDER
    sizes = frame_sizes(req)
    fastest: tuple[float, str, int, int, int] | None = None  # (step, arch, params, height, width) at the smallest
    for height, width in sizes:
        held = segment_count(req)[0]  # frames per model
        plans = []
        for arch in archs:
            for params in ladder:
                step = step_time(Candidate(arch, params, height, width, held))
                if (height, width) == sizes[-1] and (fastest is None or step < fastest[0]):
                    fastest = (step, arch, params, height, width)
                if (p := plan_at(req, arch, params, height, width, step)) is not None:
                    plans.append(p)
        best = max(plans, key=lambda p: p.expected_psnr, default=None)
        if best is not None and (best.epochs >= MIN_EPOCHS_AT_SIZE or (height, width) == sizes[-1]):
            return best
    if fastest is None or not math.isfinite(fastest[0]):
        raise ConfigError(f"no {'/'.join(archs)} model could be measured on this device")
    step, arch, params, height, width = fastest
    segments = segment_count(req)[1]
    cap = req.cap_at(height, width)
    if cap is not None and plan_at(dataclasses.replace(req, size_cap=None, bpp_cap=None), *fastest[1:], step):
        least = min(math.ceil(expected_bytes(a, min(ladder) * segments, 0.0, BITS) / MAX_SHRINK) for a in archs)
        raise ConfigError(
            f"a cap of {cap:,} bytes is below the smallest file the plan's models can write: about {least:,} bytes "
            f"({_count(min(ladder))} values{f' × {segments} segments' if segments > 1 else ''} at 3 bits)"
        )
    need = (
        req.spent + before_fit(req, segments) + after_fit(req, step, 0, segments) + MIN_EPOCHS * req.num_frames * step
    )
    raise ConfigError(
        f"a budget of {format_duration(req.seconds)} cannot hold one segment's smallest model: {arch} "
        f"{_count(params)} at {width}×{height} needs about {format_duration(need)} for one epoch over "
        f"{req.num_frames} frames with decoding and compressing; give --time {_suggest(need)} or more"
    )


def _suggest(seconds: float) -> str:
    return f"{math.ceil(seconds)}s" if seconds < 120 else f"{math.ceil(seconds / 60)}m"
