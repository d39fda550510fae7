"""Running a study: each variant a normal run folder under ``DIR/runs/``, resumable, never refitted once done.

``StudyRunner(...).run()`` is a generator, like :meth:`Fitter.run`: it yields the study's own events around the
fitter events of each run, so the CLI prints progress and the GUI draws the same live charts as for one fit.
``pause()``, ``resume()`` and ``cancel()`` may be called from any thread while another one runs the study; a pause
holds across runs (the next run starts paused), and :meth:`StudyRunner.again` is the runner that continues a
cancelled study.
:meth:`StudyRunner.task` is the same study as a task for a child process (:mod:`~nervplayer.jobs.child`): the
player runs its studies there, out of the window's interpreter, as it runs its fits.
``DIR/study.json`` records the study and its options; a second call with the same options continues where the
first stopped (finished runs are skipped, an interrupted one resumes from its checkpoint).
"""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

from ..atomic import atomic_write_text
from ..errors import ConfigError
from ..jobs.child import Context, Task
from ..jobs.priority import lower_priority
from ..train import Event, FitConfig, Fitter, runfolder
from .catalogue import Study, Variant, get_study
from .summary import RUNS, STUDY_FILE, StudyOutputs, collect, write_outputs


@dataclass(frozen=True)
class RunStarting:
    index: int  # 0-based position in the study
    total: int
    variant: Variant
    run_dir: Path
    resumed: bool  # continues an interrupted run


@dataclass(frozen=True)
class RunSkipped:
    """A run that an earlier call already finished."""

    index: int
    total: int
    variant: Variant
    run_dir: Path


@dataclass(frozen=True)
class StudyFinished:
    status: str  # "completed" or "cancelled"
    outputs: StudyOutputs


StudyEvent = RunStarting | RunSkipped | StudyFinished


def quick_config(base: FitConfig) -> FitConfig:
    """``--quick``: a first look on a laptop. At most 160 pixels wide, at most 32 frames, a tenth of the epochs
    (at least 2), evaluations ten times along the way; a NeRV without a parameter budget becomes nerv-xs, an HNeRV
    sized by default (``size_as``) hnerv-xs (a grid's default size follows the clip's pixels already)."""
    epochs = max(2, base.epochs // 10)
    end = base.start + 32 if base.end is None else min(base.end, base.start + 32)
    return replace(
        base,
        preset=_quick_preset(base),
        epochs=epochs,
        end=end,
        size=None,
        scale=None,
        eval_every=max(1, epochs // 10),
        checkpoint_every=max(1, epochs // 4),
    )


def _quick_preset(base: FitConfig) -> str | None:
    if base.arch == "nerv" and base.budget is None:
        return "nerv-xs"
    if base.arch == "hnerv" and base.preset is None and base.budget is None and base.size_as is not None:
        return "hnerv-xs"
    return base.preset


def _quick_scale(video: str) -> float:
    from ..video import probe

    width = probe(video).width
    return min(1.0, 160 / width)


class StudyRunner:
    """Runs the variants of ``study`` over ``base`` into ``out_dir``. ``cancel()`` may be called from any thread:
    the current run checkpoints and the study stops; a new runner with the same options (:meth:`again`) continues
    it."""

    def __init__(
        self, study: Study, base: FitConfig, out_dir: str | Path, values: list[str] | None = None, quick: bool = False
    ) -> None:
        base.validate()
        self._arguments = (study, base, out_dir, values, quick)
        if quick:
            base = quick_config(base)
        self.study, self.out_dir, self.quick = study, Path(out_dir), quick
        self.variants = study.variants(base, values)
        self.configs = [self._config(base, v) for v in self.variants]
        if quick:  # size last: the scale follows the source's width (and a resolution study keeps its own)
            scale = _quick_scale(base.video)
            self.configs = [
                c if "scale" in v.overrides or "size" in v.overrides else replace(c, scale=scale)
                for v, c in zip(self.variants, self.configs)
            ]
        self.base = base
        self._check(self.configs)
        self._cancel = threading.Event()
        self._paused = False
        self._fitter: Fitter | None = None
        self._lock = threading.Lock()
        self._claim_folder()

    @staticmethod
    def _check(configs: list[FitConfig]) -> None:
        """Every run's plugins, frame range and model (sized to its budget), before the first one starts: a typo
        fails now, not hours in."""
        from ..plugins import get_registry
        from ..train.fit import clip_frames, model_spec
        from ..train.recipe import resolve_recipe

        plugins = get_registry()
        for c in map(resolve_recipe, configs):  # each run's model's recipe, as its fit will take it
            for kind in ("activation", "loss", "scheduler"):
                plugins.resolve_params(kind, getattr(c, kind), getattr(c, f"{kind}_params"))
            model_spec(c, clip_frames(c)[2], plugins)

    @staticmethod
    def _config(base: FitConfig, variant: Variant) -> FitConfig:
        config = FitConfig.from_dict({**base.to_dict(), **variant.overrides})
        config.validate()
        # at least ten evaluations per run, so the summary's training curves are curves
        return replace(config, eval_every=min(config.eval_every, max(1, config.epochs // 10)))

    def _record(self) -> dict[str, Any]:
        return {
            "study": self.study.name,
            "video": self.base.video,
            "quick": self.quick,
            "runs": {v.name: c.to_dict() for v, c in zip(self.variants, self.configs)},
        }

    def _claim_folder(self) -> None:
        """Write study.json, or check that the folder's study is this one (never mix two studies' runs)."""
        path = self.out_dir / STUDY_FILE
        record = self._record()
        if path.is_file():
            try:
                old = json.loads(path.read_text())
            except ValueError:
                raise ConfigError(f"{path}: unreadable study record; choose another output folder") from None
            ignore = set(FitConfig.RESUMABLE_CHANGES)
            strip = {n: {k: v for k, v in c.items() if k not in ignore} for n, c in record["runs"].items()}
            old_strip = {n: {k: v for k, v in c.items() if k not in ignore} for n, c in old.get("runs", {}).items()}
            if old.get("study") != self.study.name or any(old_strip.get(n, c) != c for n, c in strip.items()):
                raise ConfigError(
                    f"{self.out_dir} holds a {old.get('study')!r} study made with other options; "
                    "rerun it with the same options to continue, or choose another output folder"
                )
            record["runs"] = {**old.get("runs", {}), **record["runs"]}
        elif self.out_dir.exists() and any(self.out_dir.iterdir()):
            raise ConfigError(f"{self.out_dir} is not empty and holds no study; choose another output folder")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=2) + "\n")

    def run_dir(self, variant: Variant) -> Path:
        return self.out_dir / RUNS / variant.name

    def again(self) -> StudyRunner:
        """A fresh runner of the same study, options and folder: it skips the finished runs and resumes the
        interrupted one (checked again, as any new runner is)."""
        return StudyRunner(*self._arguments)

    def task(self) -> Task:
        """This study as a child process's task: a runner of the same study, options and folder, made there."""
        study, base, out_dir, values, quick = self._arguments
        return Task(run_in_child, (study.name, base, Path(out_dir), values, quick))

    def cancel(self) -> None:
        self._cancel.set()
        with self._lock:
            if self._fitter is not None:
                self._fitter.cancel()

    def pause(self) -> None:
        """Pause the current run after its step in flight (``Paused`` follows); runs started later start paused."""
        with self._lock:
            self._paused = True
            if self._fitter is not None:
                self._fitter.pause()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            if self._fitter is not None:
                self._fitter.resume()

    @property
    def paused(self) -> bool:
        return self._paused

    def run(self) -> Iterator[StudyEvent | Event]:
        total = len(self.variants)
        status = "completed"
        for index, (variant, config) in enumerate(zip(self.variants, self.configs)):
            if self._cancel.is_set():
                status = "cancelled"
                break
            run_dir = self.run_dir(variant)
            if (run_dir / runfolder.WEIGHTS).is_file():
                yield RunSkipped(index, total, variant, run_dir)
                continue
            resumed = (run_dir / runfolder.CONFIG).is_file() and (run_dir / runfolder.CHECKPOINT).is_file()
            if not resumed and run_dir.exists():
                shutil.rmtree(run_dir)  # started but killed before its first checkpoint: nothing to keep
            yield RunStarting(index, total, variant, run_dir, resumed)
            fitter = Fitter(config, run_dir, resume=resumed)
            with self._lock:
                self._fitter = fitter
                if self._paused:
                    fitter.pause()
                if self._cancel.is_set():
                    fitter.cancel()
            try:
                finished = None
                for event in fitter.run():
                    finished = event
                    yield event
            finally:
                with self._lock:
                    self._fitter = None
            write_outputs(self.study, collect(self.study, self.variants, self.out_dir / RUNS), self.out_dir)
            if getattr(finished, "status", "") == "cancelled":
                status = "cancelled"
                break
        outputs = write_outputs(self.study, collect(self.study, self.variants, self.out_dir / RUNS), self.out_dir)
        yield StudyFinished(status, outputs)


def run_in_child(
    context: Context, name: str, base: FitConfig, out_dir: Path, values: list[str] | None, quick: bool
) -> Iterator[StudyEvent | Event]:
    """The task of :meth:`StudyRunner.task`: the study (found by name: a study's variants may be built by a
    closure, which does not travel) run at a lower priority than the window's; the parent's pause, resume and
    cancel reach the runner."""
    lower_priority()
    runner = StudyRunner(get_study(name), base, out_dir, values, quick)
    context.attach(runner)
    yield from runner.run()
