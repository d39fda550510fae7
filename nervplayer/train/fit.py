"""The fit loop: a network of any model plugin trained on a clip's frame range, as a generator of progress events.

``Fitter(config, run_dir).run()`` yields :mod:`~nervplayer.train.events`; ``pause()``, ``resume()`` and
``cancel()`` may be called from any thread and take effect between steps. A cancelled fit writes a checkpoint
first, so ``Fitter(config, run_dir, resume=True)`` continues exactly where it stopped.

The loop is all a ``Fitter`` holds; the pieces it runs live beside it: the run folder (train/runfolder.py,
``RunFolder``), what a checkpoint holds (train/checkpoint.py, ``TrainingState``), the network with its quantization
and rate state (train/network.py, ``FitNetwork``), the training step (train/step.py), the losses read back
(train/pending.py, ``PendingSteps``), the evaluations (train/evaluator.py, ``Evaluator``) and the controls
(train/control.py, ``Controls``). A job over one segment of a clip is the same ``Fitter`` over that frame range.
"""

from __future__ import annotations

import math
import time
from dataclasses import astuple
from pathlib import Path
from typing import Any, Iterator

import torch

from ..device import Precision, resolve_device, resolve_precision
from ..errors import ConfigError
from ..model import ModelConfig, architectures
from ..model.spec import NERV, ModelSpec
from ..plugins import Registry, get_registry
from ..plugins.api import Frames
from ..video import FrameStore, ShiftedStore, VideoInfo, build_store, file_hash, iter_frames, output_size, probe
from . import runfolder
from .checkpoint import Position, TrainingState
from .config import FitConfig
from .control import Controls
from .distributed import check_batches, check_one_process, join, shard, world_from_env
from .evaluator import Evaluator
from .events import Checkpointed, Evaluated, Event, Finished, Started
from .network import FitNetwork
from .optim import build_optimizer, soap_class
from .order import epoch_order
from .pending import PendingStep, PendingSteps
from .recipe import resolve_recipe
from .starts import warm_up
from .step import TrainingStep, out_of_memory_hint
from .timelimit import TimeLimit


def clip_frames(config: FitConfig, info: VideoInfo | None = None) -> tuple[VideoInfo, int, Frames]:
    """Probe the clip (nothing is decoded): ``(info, end, Frames)`` of the configured range and size. ``info``
    is the clip's probe when the caller already has it."""
    info = info or probe(config.video)
    end = info.num_frames if config.end is None else config.end
    if end > info.num_frames or config.start >= info.num_frames:
        raise ConfigError(f"frame range {config.start}:{end} is outside the clip ({info.num_frames} frames)")
    if end + config.context[1] > info.num_frames:
        raise ConfigError(
            f"{config.context[1]} context frames after frame {end} are outside the clip ({info.num_frames} frames)"
        )
    count = end - config.start
    if count < 2:
        raise ConfigError(f"{config.video}: a fit needs at least 2 frames, the range holds {count}")
    h, w = output_size(info, config.size, config.scale)
    return info, end, Frames(h, w, count)


def model_spec(config: FitConfig, frames: Frames, plugins: Registry | None = None) -> ModelSpec:
    """The network a fit of ``config`` trains on a clip of ``frames`` (checked, sized to the budget; a default
    size, ``size_as``, the nearest the architecture reaches)."""
    budget, preset = default_budget(config, frames, plugins), config.preset
    if preset is None and budget is None and config.size_as in architectures.presets(config.arch, plugins):
        preset = config.size_as  # nerv sized as nerv-s: the preset itself
    return architectures.resolve(
        config.arch,
        frames,
        config.model,
        preset,
        budget,
        config.activation,
        config.activation_params,
        plugins,
        nearest=budget is not None and config.budget is None,
    )


def default_budget(config: FitConfig, frames: Frames, plugins: Registry | None = None) -> int | None:
    """``config.budget``, or for a fit with neither a preset nor a budget, the stored values the ``size_as`` nerv
    preset has at the clip's frame size, at most ``max_values_per_pixel`` a pixel of the clip
    (``FitConfig.size_as``; nerv itself takes its preset)."""
    if config.budget is not None or config.preset is not None or config.size_as is None:
        return config.budget
    if config.size_as in architectures.presets(config.arch, plugins):
        return None
    count = architectures.describe("nerv", frames, preset=config.size_as, plugins=plugins).params
    if config.max_values_per_pixel is not None:
        pixels = frames.num_frames * frames.height * frames.width
        count = min(count, max(1, round(config.max_values_per_pixel * pixels)))
    return count


def load_source(
    config: FitConfig,
    device: torch.device,
    cache_dir: Path | None = None,
    clip: tuple[VideoInfo, int, Frames] | None = None,
) -> tuple[FrameStore, dict[str, Any]]:
    """Decode the configured frame range once into a frame store; return it with a record of the source.
    ``clip`` is :func:`clip_frames`' answer when the caller already has it (probing reads the whole file). The
    store numbers the range from 0; its context frames (``config.context``) are the indices around it."""
    info, end, frames = clip or clip_frames(config)
    count, h, w = frames.num_frames, frames.height, frames.width
    budget = None if config.cache_budget_mb is None else config.cache_budget_mb << 20
    before, after = config.context
    decoded = iter_frames(info, config.start - before, end + after, (h, w))
    store: FrameStore = build_store(decoded, before + count + after, h, w, device, budget, cache_dir)
    if before or after:
        store = ShiftedStore(store, before, count)
    source = {
        "path": str(Path(config.video).resolve()),
        "name": Path(config.video).name,
        "sha256": file_hash(config.video),
        "kind": info.kind,
        "fps": info.fps,
        "num_frames": info.num_frames,
        "start": config.start,
        "end": end,
        "original_size": [info.height, info.width],
        "size": [h, w],
    }
    return store, source


class Fitter(Controls):
    """Trains a model (any ``model`` plugin) on a clip's frame range ``config.start:end`` (a whole clip, or one
    segment of it). See the module docstring for the threading contract. ``init_state`` starts from given weights
    and ``masks`` (name → bool tensor) keeps pruned weights at zero: the compression pipeline fine-tunes through
    this same loop. This class runs the loop; its pieces live apart (the module docstring)."""

    def __init__(
        self,
        config: FitConfig,
        run_dir: str | Path | None = None,
        *,
        resume: bool = False,
        plugins: Registry | None = None,
        init_state: dict[str, torch.Tensor] | None = None,
        masks: dict[str, torch.Tensor] | None = None,
        preview_index: int = 0,
    ) -> None:
        config.validate()
        super().__init__()
        self.plugins = plugins or get_registry()
        config = resolve_recipe(config, self.plugins)  # the record holds what the fit trains with
        config.validate()
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        # Plugins first: a typo in a name fails before minutes of decoding.
        self.plugins.factory("activation", config.activation, config.activation_params)
        assert config.loss is not None  # resolved above
        self.loss_fn = self.plugins.create("loss", config.loss, config.loss_params)
        self.schedule = self.plugins.create("scheduler", config.scheduler, config.scheduler_params)
        if config.optimizer == "soap":
            soap_class()  # a missing package fails before minutes of decoding
        #: this process among the processes of a ``torchrun`` fit (rank 0 of 1 otherwise)
        self.world = world_from_env()
        fresh = init_state is None and config.init_weights is None
        check_one_process(config.time_limit is not None, config.starts > 1 and fresh and not resume, self.world)
        self.device = resolve_device(config.device)
        self.precision: Precision = resolve_precision(config.precision, self.device)
        # The model is sized before the clip is decoded: a bad model option or budget fails at once.
        clip = clip_frames(config)
        self.spec = model_spec(config, clip[2], self.plugins)
        if any(config.context) and not architectures.content_adaptive(self.spec, self.plugins):
            raise ConfigError(f"context frames need a model that sees its frames (hnerv); {config.arch} does not")
        check_batches(len(range(0, clip[2].num_frames, config.stride)), config.batch_size, self.world)
        if self.world.distributed:
            self.device = join(self.world, self.device)
        self.folder = runfolder.RunFolder(self.run_dir, self.world)
        checkpoint = self.folder.prepare(config, resume)
        #: starts of the multi-start warm-up: a resumed fit has its chosen one, a warm start is its own
        self.starts = config.starts if fresh and checkpoint is None else 1
        self.store, self.source = load_source(config, self.device, self.folder.cache_dir, clip)
        self.num_frames = self.store.num_frames
        self.train_indices = list(range(0, self.num_frames, config.stride))
        self.unseen_indices = [i for i in range(self.num_frames) if i % config.stride]
        #: the context frames training also sees (FitConfig.context): indices below 0 and from num_frames on
        self.context_indices = [
            i
            for i in [*range(-config.context[0], 0), *range(self.num_frames, self.num_frames + config.context[1])]
            if i % config.stride == 0
        ]
        #: the NeRV config of a ``nerv`` fit (None for other architectures)
        self.model_config: ModelConfig | None = self.spec.nerv_config() if self.spec.arch == NERV else None
        warm = None if checkpoint is not None else config.init_weights  # a resumed fit has its own weights
        self.network = FitNetwork.build(self.spec, self.plugins, config, self.store, self.precision, init_state, warm)
        self.network.train_on(self.trained)
        self.model, self.quantizer = self.network.model, self.network.quantizer
        #: the decode contract (docs/architecture.md), from the current weights, safe from any thread
        self.predict, self.decode = self.network.predict, self.network.decode
        assert config.lr is not None  # resolved above
        self.base_lr = config.lr * (config.batch_size if config.scale_lr else 1)
        # fused: one kernel for the whole update (CUDA and, from torch 2.4, the CPU: 1.13x a CPU step)
        fused = self.optimizer_fused = self.device.type in ("cuda", "cpu")
        self.optimizer = build_optimizer(config.optimizer, self.network, self.base_lr, fused)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision.needs_scaler)
        forward = self.network.training_forward(self.world)
        self.train_step = TrainingStep(self.network, self.optimizer, self.scaler, self.loss_fn, masks, forward)
        #: what the multi-start warm-up chose (seeds, scores, steps), kept in checkpoints and config.json
        self.warmup: dict[str, Any] | None = None if checkpoint is None else checkpoint.get("warmup")
        self.state = TrainingState(
            self.model, self.optimizer, self.scaler, self.quantizer, self.device, self.network.windows
        )
        seen, unseen = self.train_indices, self.unseen_indices
        self.evaluator = Evaluator(self.network, self.store, seen, unseen, self.world, preview_index)
        self.steps_per_epoch = math.ceil(len(self.trained) / config.batch_size)
        self.epoch, self.pos, self.step, self.elapsed = 0, 0, 0, 0.0
        self.time_limit = None if config.time_limit is None else TimeLimit(config, self.num_frames)
        if checkpoint is not None:
            self.epoch, self.pos, self.step, self.elapsed = astuple(self.state.restore(checkpoint))
        if self.time_limit is not None and self.warmup:
            self.time_limit.untimed = self.warmup["seconds"]
        self.folder.write_config(self.record())  # a resumed run may extend its epochs: the record follows

    def record(self) -> dict[str, Any]:
        """What config.json holds: enough to rerun the fit and to rebuild the model, and how many processes
        (``torchrun``) trained it in its latest session."""
        frames = (self.train_indices, self.unseen_indices)
        record = runfolder.fit_record(self.config, self.spec, self.plugins, self.source, self.stored_params, *frames)
        return {**record, "world_size": self.world.size, **({"warmup": self.warmup} if self.warmup else {})}

    @property
    def trained(self) -> list[int]:
        """The frames an epoch trains on: the range's (every ``stride``-th) and its context frames."""
        return self.train_indices + self.context_indices

    @property
    def stored_params(self) -> int:
        """Values a ``.nerv`` of this model stores (weights and latents): what a budget counts."""
        return self.network.stored_params

    # ---- the loop ----
    @property
    def at(self) -> float:  # the fractional epoch the fit is at
        return self.epoch + self.pos / self.steps_per_epoch

    def _progress(self, t0: float) -> float:
        """Where the LR schedule is, in epochs (under a time limit, train/timelimit.py: at least the share of the
        time used)."""
        if self.time_limit is None:
            return self.at
        return self.time_limit.progress(self.at, self.elapsed + time.perf_counter() - t0, self.step)

    def run(self) -> Iterator[Event]:
        cfg, world = self.config, self.world
        yield Started(
            self.stored_params,
            str(self.device),
            self.precision.name,
            self.num_frames,
            len(self.train_indices),
            self.store.height,
            self.store.width,
            cfg.epochs,
            self.at,
            self.steps_per_epoch,
            getattr(self.store, "kind", "memory"),
        )
        if self.starts > 1:
            yield from warm_up(self)
        pending, losses = PendingSteps(self.device, world), self.evaluator.losses
        epoch_started, lr = time.perf_counter(), self.base_lr
        while self.epoch < cfg.epochs:
            order = epoch_order(cfg.seed, self.epoch, self.trained)
            left = order[self.pos * cfg.batch_size :]
            if world.distributed:  # this process's share of every global batch
                left = shard(left, cfg.batch_size, world)
            t0, stopped, timed_out = time.perf_counter(), False, False
            for indices, frames in self.store.batches(left, cfg.batch_size // world.size):
                if self.paused:
                    self.elapsed += time.perf_counter() - t0
                    if not world.distributed:  # a flush is a collective there: only where every process makes it
                        yield from pending.flush(self.cancelled, losses)
                    yield from self.hold()
                    t0 = time.perf_counter()
                if self.cancelled and not world.distributed:
                    stopped = True
                    break
                progress = self._progress(t0)
                lr = self.schedule(progress, cfg.epochs, self.base_lr)
                self.network.anneal(progress / cfg.epochs, self.step)
                # an uneven last batch: weigh each process's mean loss by its share, as one process would
                share = len(indices) * world.size / min(cfg.batch_size, len(order) - self.pos * cfg.batch_size)
                with self.network.lock, out_of_memory_hint(self.device, cfg.batch_size, self.store):
                    loss = self.train_step(indices, frames, lr, weight=share)
                self.pos, self.step = self.pos + 1, self.step + 1
                if pending.add(PendingStep(self.at, self.step, loss, lr, share)) and (
                    yield from pending.flush(self.cancelled, losses)
                ):
                    stopped = True
                    break
                if self.time_limit is not None and self.time_limit.is_up(self.elapsed, t0, self.step):
                    timed_out = True
                    break
            self.elapsed += time.perf_counter() - t0
            if (yield from pending.flush(self.cancelled, losses)) or stopped:
                yield from self._finish("cancelled")
                return
            if timed_out:  # the time is up: the last weights (the schedule has annealed) are the result
                yield from self._evaluate(self.elapsed / max(self.at, 1e-9), lr)
                yield from self._finish("completed")
                return
            self.epoch, self.pos = self.epoch + 1, 0
            spe, epoch_started = time.perf_counter() - epoch_started, time.perf_counter()
            last = self.epoch == cfg.epochs
            if self.epoch % cfg.eval_every == 0 or last:
                yield from self._evaluate(spe, lr)
            if not last and self.epoch % cfg.checkpoint_every == 0 and (saved := self.save_checkpoint()):
                yield saved
        yield from self._finish("completed")

    def _evaluate(self, seconds_per_epoch: float, lr: float) -> Iterator[Evaluated]:
        if ev := self.evaluator(self.epoch, self.step, self.elapsed, seconds_per_epoch):
            self.folder.append_metrics(ev, self.evaluator.take_loss(), lr)
            yield ev

    def save_checkpoint(self) -> Checkpointed | None:
        if not self.folder.writes:
            return None
        state = self.state.state(Position(self.epoch, self.pos, self.step, self.elapsed))
        path = self.folder.save_checkpoint({**state, **({"warmup": self.warmup} if self.warmup else {})})
        return Checkpointed(str(path), self.at)

    def _finish(self, status: str) -> Iterator[Event]:
        self.network.encode_latents(self.store)  # a stopped run's checkpoint holds its current weights' latents too
        if (saved := self.save_checkpoint()) is not None:
            yield saved
        weights = None
        if status == "completed" and self.folder.writes:
            weights = str(self.folder.save_weights(self.model.state_dict(), self.network.weights_metadata()))
        yield Finished(status, self.at, self.step, self.elapsed, self.evaluator.last, weights)
