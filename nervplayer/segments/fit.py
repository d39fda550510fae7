"""The segmented fit: a clip cut into segments (scene cuts preferred), one fit per segment, each a job on any
executor, gathered into one ``.nerv``.

```
RUN/segments.json                the plan: the fit's options, the scene cuts, the segments, the warm start
RUN/segments/base/               the base model's run (warm start "base")
RUN/segments/0000_0040/          one segment's run folder (frames 0..39) + control + segment.nerv
RUN/<clip>.nerv                  the gathered result
```

Warm starts (:data:`WARM_STARTS`): ``cold``: every segment from the seed's draw, all in parallel; ``previous``:
each segment from the previous one's final weights, one after another; ``base``: a base model fitted first on
frames sampled across the whole range (about one segment's worth, at the segments' epochs), then every segment
in parallel from it. docs/long-videos.md has the measurements behind :data:`DEFAULT_WARM_START`.

A time limit in the plan's fit options (``nervplayer fit --time``) is the time of all the fits together: each fit
gets a share, :func:`time_limits`, so that the whole ends within it.

A resumed run uses the cuts recorded in the plan; each job resumes what its folder holds (segments/job.py), so
nothing finished is fitted again. Pause, resume and cancel reach every job through the control file in its
folder (segments/control.py); cancel also stops the executor from starting more jobs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..atomic import atomic_write_text
from ..codec.pipeline import CompressOptions
from ..codec.ratecontrol import Target
from ..codec.segmented import SegmentPart, Source, gather
from ..errors import ConfigError, NervError, ResumeError
from ..jobs import Executor, Job, JobDone, JobsCancelled
from ..model import architectures
from ..train import FitConfig
from ..train.fit import clip_frames, default_budget, model_spec
from ..train.runfolder import CONFIG, WEIGHTS
from ..video import file_hash, iter_frames, probe
from ..video.cuts import scene_cuts
from .control import CANCEL, PAUSE, RUN, write_control
from .job import COMPLETED, SEGMENT_NERV, SegmentResult, SegmentTask, run_segment
from .split import auto_length, check_length, split

PLAN = "segments.json"
SEGMENTS = "segments"
BASE = "base"
WARM_STARTS = ("cold", "previous", "base")
DEFAULT_WARM_START = "previous"
MAX_CONTEXT = 8
# the gathered file's header around the segments' files (measured: 822 bytes for 3 segments, 1,708 for 11)
GATHER_HEADER_BYTES = 1024
GATHER_RECORD_BYTES = 160  # per segment
GATHER_FADE_BYTES = 16  # per frame a segment fades over (its weight and PSNR in the table)


@dataclass(frozen=True)
class SegmentPlan:
    """What RUN/segments.json holds."""

    config: dict[str, Any]  # the FitConfig every segment shares (start/end: the whole range cut)
    compress: dict[str, Any]  # CompressOptions fields: how each segment becomes its .nerv
    warm_start: str
    target: int  # frames per segment asked for
    cuts: list[tuple[int, float]]  # scene cuts found: (first frame of the scene, score)
    segments: list[tuple[int, int]]  # (start, end exclusive), clip numbering
    source: dict[str, Any]  # name, sha256, num_frames
    context: int = 0  # most context frames a segment trains on beyond each boundary in a scene (content-adaptive)
    caps: list[int] = dataclasses.field(default_factory=list)  # each segment's size cap (bytes): a clip's size target
    # a segment also stores its context frames (its lead before it, its trail after it), and neighbours fade into
    # each other over the frames both store (codec/blend.py); False in plans written before fades
    fade: bool = False

    def compress_of(self, index: int) -> dict[str, Any]:
        """How segment ``index`` is compressed: the plan's options, under its share of a size target."""
        if not self.caps:
            return self.compress
        return {**self.compress, "target": {"kind": "size", "value": self.caps[index]}}

    @property
    def fit_config(self) -> FitConfig:
        return FitConfig.from_dict(self.config)

    def part(self, index: int, path: Path) -> SegmentPart:
        """Segment ``index`` written at ``path``, as :func:`gather` takes it: numbered from the range's first
        frame, whether it begins a scene (None for the first segment: no boundary), and its lead."""
        (start, end), first = self.segments[index], self.segments[0][0]
        cut = None if start == first else start in {frame for frame, _ in self.cuts}
        return SegmentPart(start - first, end - first, path, cut, self.lead(index), self.trail(index))

    def lead(self, index: int) -> int:
        """The frames before segment ``index`` that it stores and fades over: its context frames there, in a plan
        that fades."""
        return segment_context(self, index)[0] if self.fade else 0

    def trail(self, index: int) -> int:
        """The frames after segment ``index`` that it stores and fades over (its context frames there)."""
        return segment_context(self, index)[1] if self.fade else 0

    def fade_source(self) -> Source:
        """The clip's frames (the segments' numbering from the range's first frame, at the fit's frame size) that
        fades are chosen against: decoded once, in one pass over the lead frames, when first asked for."""
        first, config = self.segments[0][0], self.fit_config
        wanted = [(s - self.lead(k), s + self.trail(k - 1)) for k, (s, _) in enumerate(self.segments) if k]
        wanted = [(a, b) for a, b in wanted if b > a]
        cache: dict[int, torch.Tensor] = {}

        def frames_of(a: int, b: int) -> torch.Tensor:
            if not cache and wanted:
                info, _, shape = clip_frames(config)
                lo, hi = wanted[0][0], wanted[-1][1]
                needed = {f for x, y in wanted for f in range(x, y)}
                for f, frame in enumerate(iter_frames(info, lo, hi, (shape.height, shape.width)), lo):
                    if f in needed:
                        cache[f - first] = torch.from_numpy(frame).permute(2, 0, 1).float().div(255)
            return torch.stack([cache[f] for f in range(a, b)])

        return frames_of


def segment_name(start: int, end: int) -> str:
    return f"{start:04d}_{end:04d}"


def is_segmented(run_dir: Path) -> bool:
    return (run_dir / PLAN).is_file()


def plan_segments(
    config: FitConfig, run_dir: Path, length: int | None, warm_start: str, compress: CompressOptions
) -> SegmentPlan:
    """Cut the clip of ``config`` (its frame range) into segments of about ``length`` frames (None: the rule of
    :func:`~nervplayer.segments.split.auto_length`) and record the plan in ``run_dir``, which must hold no run."""
    config.validate()
    compress.validate()
    if warm_start not in WARM_STARTS:
        raise ConfigError(f"unknown warm start {warm_start!r}; available: {', '.join(WARM_STARTS)}")
    if (run_dir / PLAN).exists() or (run_dir / CONFIG).exists():
        raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another folder")
    info = probe(config.video)
    _, end, frames = clip_frames(config, info)
    count = end - config.start
    target = auto_length(count, frames.height, frames.width) if length is None else length
    check_length(target, count)
    spec = model_spec(config, dataclasses.replace(frames, num_frames=target))  # a bad option fails before decoding
    if default_budget(config, dataclasses.replace(frames, num_frames=target)) is not None and config.budget is None:
        # a default size follows the frames a model holds: every segment gets the size of one of the target length,
        # so that a warm start finds its weights' shapes in the model it starts from
        config = dataclasses.replace(config, budget=architectures.stored_count(spec))
    cuts = scene_cuts(info, config.start, end)
    ranges = split(count, target, [c.frame - config.start for c in cuts])
    context = context_frames(target) if architectures.content_adaptive(spec) else 0
    fade = config.stride == 1
    lengths, pixels = [e - s for s, e in ranges], frames.height * frames.width
    plan = SegmentPlan(
        config=dataclasses.replace(config, video=str(Path(config.video).resolve())).to_dict(),  # resumable anywhere
        compress=compress.to_dict(),
        warm_start=warm_start,
        target=target,
        cuts=[(c.frame, c.score) for c in cuts],
        segments=[(config.start + s, config.start + e) for s, e in ranges],
        source={"name": Path(config.video).name, "sha256": file_hash(config.video), "num_frames": info.num_frames},
        context=context,
        caps=segment_caps(compress.target, lengths, pixels, 2 * context * (len(ranges) - 1) if fade else 0),
        fade=fade,
    )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"cannot create the run folder {run_dir}: {(e.strerror or type(e).__name__).lower()}"
        ) from None
    atomic_write_text(run_dir / PLAN, json.dumps(dataclasses.asdict(plan), indent=2) + "\n")
    return plan


def load_plan(run_dir: Path, video: str | None = None) -> SegmentPlan:
    """The plan of a segmented run, checked against its clip (``video``, or the path the plan records)."""
    try:
        d = json.loads((run_dir / PLAN).read_text())
        plan = SegmentPlan(
            config=dict(d["config"]),
            compress=dict(d["compress"]),
            warm_start=str(d["warm_start"]),
            target=int(d["target"]),
            cuts=[(int(f), float(s)) for f, s in d["cuts"]],
            segments=[(int(s), int(e)) for s, e in d["segments"]],
            source=dict(d["source"]),
            context=int(d.get("context", 0)),
            caps=[int(c) for c in d.get("caps", [])],
            fade=bool(d.get("fade", False)),
        )
        if video is not None:
            plan.config["video"] = video
        plan.fit_config.validate()
        CompressOptions.from_dict(plan.compress).validate()
        if plan.caps and (len(plan.caps) != len(plan.segments) or min(plan.caps) < 1):
            raise ValueError(f"{len(plan.caps)} caps for {len(plan.segments)} segments")
    except OSError as e:
        raise ResumeError(f"{run_dir / PLAN}: cannot be read ({(e.strerror or type(e).__name__).lower()})") from None
    except (ValueError, KeyError, TypeError) as e:
        raise NervError(f"{run_dir / PLAN}: unreadable segment plan ({e})") from None
    if not Path(plan.config["video"]).exists():
        raise ResumeError(f"the source video {plan.config['video']} is gone; pass the clip the run was fitted to")
    if file_hash(plan.config["video"]) != plan.source["sha256"]:
        raise ResumeError(f"{run_dir} was made from another video ({plan.source['name']}), not {plan.config['video']}")
    return plan


def segment_caps(target: Target | None, lengths: list[int], pixels_per_frame: int, fades: int = 0) -> list[int]:
    """Each segment's size cap (bytes) under a clip's size or bpp target: its share of the frames of what the cap
    leaves after the gathered file's header (an even share per frame: a cap that holds, not an optimal allocation;
    ``fades``: the frames faded at most, whose weights the header holds); [] without a cap, or for one segment (its
    file is the clip's)."""
    cap = None if target is None else target.cap(sum(lengths) * pixels_per_frame)
    if cap is None or len(lengths) == 1:
        return []
    room = cap - GATHER_HEADER_BYTES - GATHER_RECORD_BYTES * len(lengths) - GATHER_FADE_BYTES * fades
    if room < len(lengths):
        raise ConfigError(f"a cap of {cap:,} bytes cannot hold the header of {len(lengths)} segments")
    return [math.floor(room * n / sum(lengths)) for n in lengths]


def context_frames(length: int) -> int:
    """The context frames of segments of about ``length`` frames: 8 (the edge frames of a segment fitted alone lie
    1–3 dB below the frames nearby, over about 4 frames: docs/long-videos.md), fewer for short segments, so that
    training sees at most a quarter more frames."""
    return min(MAX_CONTEXT, max(1, length // 8))


def segment_context(plan: SegmentPlan, index: int) -> tuple[int, int]:
    """The context frames (before, after) of segment ``index`` of ``plan``: the neighbouring segments' frames, at a
    boundary inside a scene only (across a scene cut, the next scene's frames teach the model nothing of this one)."""
    if not plan.context:
        return 0, 0
    cuts = {frame for frame, _ in plan.cuts}
    (s, e), first, last = plan.segments[index], plan.segments[0][0], plan.segments[-1][1]
    before = 0 if s == first or s in cuts else min(plan.context, s - first)
    after = 0 if e == last or e in cuts else min(plan.context, last - e)
    return before, after


def time_limits(limit: float, lengths: list[int], base: int, at_once: int) -> tuple[float, list[float]]:
    """The time limits of the base fit (of ``base`` frames; 0: none) and of each segment (of ``lengths`` frames)
    when all of them must end within ``limit`` seconds, ``at_once`` segments running at a time after the base.
    The base gets its share of the frames (of an epoch's time); one after another, each segment gets its share too
    (the limits sum to ``limit``: every segment the same epochs); W at once, the segments run in ⌈S / W⌉ waves and
    each gets the segments' time over the waves, whatever its length (so no wave outlasts its share; the W share
    the machine as the planner's step time assumes, each running about W times slower)."""
    base_limit = limit * base / (base + sum(lengths))
    rest = limit - base_limit
    if at_once == 1:
        return base_limit, [rest * n / sum(lengths) for n in lengths]
    return base_limit, [rest / math.ceil(len(lengths) / at_once)] * len(lengths)


class SegmentedFit:
    """Runs a :class:`SegmentPlan` in ``run_dir`` on ``executor``; ``pause``/``resume``/``cancel`` from any
    thread. ``base_epochs``: the base model's epochs (warm start "base"; default the segments')."""

    def __init__(self, plan: SegmentPlan, run_dir: Path, executor: Executor, base_epochs: int | None = None) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.executor = executor
        self._cancelled = False
        self._state = RUN  # what run() tells the jobs first: a pause that came before it holds
        self._signalling = threading.Lock()  # a pause while run() starts must not leave one segment running
        template = plan.fit_config
        start, end = plan.segments[0][0], plan.segments[-1][1]
        folders = run_dir.resolve() / SEGMENTS
        stride = max(template.stride, (end - start) // plan.target)
        base_frames = len(range(start, end, stride)) if plan.warm_start == BASE else 0
        at_once = 1 if plan.warm_start == "previous" else max(1, min(executor.workers, len(plan.segments)))
        base_limit: float | None = None
        limits: list[float | None] = [None] * len(plan.segments)
        if template.time_limit is not None:
            lengths = [e - s for s, e in plan.segments]
            base_limit, shares = time_limits(template.time_limit, lengths, base_frames, at_once)
            limits = [*shares]
        self.base: SegmentTask | None = None
        if plan.warm_start == BASE:
            epochs = base_epochs or template.epochs
            base = dataclasses.replace(
                template, start=start, end=end, stride=stride, epochs=epochs, eval_every=epochs, time_limit=base_limit
            )
            self.base = SegmentTask(BASE, str(folders / BASE), base.to_dict(), None)
        self.tasks: list[SegmentTask] = []
        for k, ((s, e), limit) in enumerate(zip(plan.segments, limits)):
            init = None
            if self.base is not None:
                init = str(Path(self.base.folder) / WEIGHTS)
            elif plan.warm_start == "previous" and self.tasks:
                init = str(Path(self.tasks[-1].folder) / WEIGHTS)
            (before, after), lead, trail = segment_context(plan, k), plan.lead(k), plan.trail(k)
            context = (before - lead, after - trail)  # what a fading segment does not store (none)
            config = dataclasses.replace(
                template, start=s - lead, end=e + trail, init_weights=init, time_limit=limit, context=context
            )
            name = segment_name(s, e)
            task = SegmentTask(name, str(folders / name), config.to_dict(), plan.compress_of(k), lead, trail)
            self.tasks.append(task)

    @property
    def output(self) -> Path:
        """Where the gathered ``.nerv`` goes: RUN/<clip name>.nerv."""
        return self.run_dir / f"{Path(self.plan.source['name']).stem}.nerv"

    def _signal(self, state: str | None) -> None:
        """Write ``state`` to every job's control file; None: the last state asked for, a cancel as run."""
        with self._signalling:
            if state is None:
                state = PAUSE if self._state == PAUSE else RUN
            self._state = state
            for task in ([self.base] if self.base else []) + self.tasks:
                write_control(Path(task.folder), state)

    def pause(self) -> None:
        self._signal(PAUSE)

    def resume(self) -> None:
        self._signal(RUN)

    def cancel(self) -> None:
        """Every running job stops at its next step with a checkpoint; no more start."""
        self._cancelled = True
        self._signal(CANCEL)
        self.executor.cancel()

    def run(self, on_done: Callable[[SegmentResult], None] | None = None) -> Path:
        """Fit every segment not yet finished, gather them into :attr:`output` and return it; raises
        :class:`~nervplayer.jobs.JobsCancelled` when cancelled (what finished is kept, the rest resumes)."""
        self._signal(None)  # a pause before it holds; a cancel before it: stopped below
        results: dict[str, SegmentResult] = {}
        if self.base is not None:
            results.update(self._run([self.base], on_done))
        if self.plan.warm_start == "previous":  # each segment waits for the one before
            for task in self.tasks:
                results.update(self._run([task], on_done))
        else:
            results.update(self._run(self.tasks, on_done))
        parts = []
        for k, task in enumerate(self.tasks):
            r = results[task.name]
            assert r.nerv is not None  # a completed segment job writes its .nerv
            parts.append(self.plan.part(k, Path(r.nerv)))
        gather(parts, self.output, self.plan.fade_source())
        return self.output

    def _run(
        self, tasks: list[SegmentTask], on_done: Callable[[SegmentResult], None] | None
    ) -> dict[str, SegmentResult]:
        if self._cancelled:
            raise self._stopped()
        jobs = [Job(task.name, run_segment, (task,)) for task in tasks]

        def report(done: JobDone) -> None:
            if on_done is not None:
                on_done(done.result)

        try:
            results: dict[str, SegmentResult] = self.executor.run(jobs, report)
        except JobsCancelled:
            raise self._stopped() from None
        if any(r.status != COMPLETED for r in results.values()):
            raise self._stopped()
        return results

    def _stopped(self) -> JobsCancelled:
        done = sum((Path(t.folder) / SEGMENT_NERV).is_file() for t in self.tasks)
        return JobsCancelled(f"cancelled: {done} of {len(self.tasks)} segments finished; the others keep checkpoints")
