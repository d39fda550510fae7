"""The fit loop: a network of any model plugin trained on one clip, as a generator of progress events.

``Fitter(config, run_dir).run()`` yields :mod:`~nervplayer.train.events`; ``pause()``, ``resume()`` and
``cancel()`` may be called from any thread and take effect between steps. A cancelled fit writes a checkpoint
first, so ``Fitter(config, run_dir, resume=True)`` continues exactly where it stopped.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any, Generator, Iterator, Sequence

import numpy as np
import torch
from torch.func import functional_call

from ..device import Precision, resolve_device, resolve_precision
from ..errors import ConfigError, DeviceError, NervError, ResumeError
from ..model import ModelConfig, architectures
from ..model.render import to_uint8
from ..model.spec import NERV, ModelSpec
from ..plugins import Registry, get_registry
from ..plugins.api import Frames
from ..version import __version__
from ..video import FrameStore, VideoInfo, build_store, file_hash, iter_frames, output_size, probe
from . import runfolder
from .adam import Adam
from .checkpoint import load_checkpoint, save_checkpoint, save_weights
from .config import FitConfig
from .distributed import (
    check_batches,
    frame_share,
    gather_metrics,
    global_losses,
    join,
    replicate,
    shard,
    world_from_env,
)
from .evaluate import evaluate, summary
from .events import Checkpointed, Evaluated, Event, Finished, Paused, Resumed, Started, Step
from .rate import STEP_LR, RateQuantizer
from .step import TrainingStep


def clip_frames(config: FitConfig, info: VideoInfo | None = None) -> tuple[VideoInfo, int, Frames]:
    """Probe the clip (nothing is decoded): ``(info, end, Frames)`` of the configured range and size. ``info``
    is the clip's probe when the caller already has it."""
    info = info or probe(config.video)
    end = info.num_frames if config.end is None else config.end
    if end > info.num_frames or config.start >= info.num_frames:
        raise ConfigError(f"frame range {config.start}:{end} is outside the clip ({info.num_frames} frames)")
    count = end - config.start
    if count < 2:
        raise ConfigError(f"{config.video}: a fit needs at least 2 frames, the range holds {count}")
    h, w = output_size(info, config.size, config.scale)
    return info, end, Frames(h, w, count)


def model_spec(config: FitConfig, frames: Frames, plugins: Registry | None = None) -> ModelSpec:
    """The network a fit of ``config`` trains on a clip of ``frames`` (checked, sized to the budget)."""
    return architectures.resolve(
        config.arch,
        frames,
        config.model,
        config.preset,
        config.budget,
        config.activation,
        config.activation_params,
        plugins,
    )


def load_source(
    config: FitConfig,
    device: torch.device,
    cache_dir: Path | None = None,
    clip: tuple[VideoInfo, int, Frames] | None = None,
) -> tuple[FrameStore, dict[str, Any]]:
    """Decode the configured frame range once into a frame store; return it with a record of the source.
    ``clip`` is :func:`clip_frames`' answer when the caller already has it (probing reads the whole file)."""
    info, end, frames = clip or clip_frames(config)
    count, h, w = frames.num_frames, frames.height, frames.width
    budget = None if config.cache_budget_mb is None else config.cache_budget_mb << 20
    store = build_store(iter_frames(info, config.start, end, (h, w)), count, h, w, device, budget, cache_dir)
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


class Fitter:
    """Trains a model (any ``model`` plugin) on one clip. See the module docstring for the threading contract.

    ``init_state`` starts from given weights and ``masks`` (name → bool tensor) keeps pruned weights at zero:
    the compression pipeline fine-tunes through this same loop.
    """

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
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.plugins = plugins or get_registry()
        # Plugins first: a typo in a name fails before minutes of decoding.
        self.plugins.factory("activation", config.activation, config.activation_params)
        self.loss_fn = self.plugins.create("loss", config.loss, config.loss_params)
        self.schedule = self.plugins.create("scheduler", config.scheduler, config.scheduler_params)
        #: this process among the processes of a ``torchrun`` fit (rank 0 of 1 otherwise)
        self.world = world_from_env()
        self.device = resolve_device(config.device)
        self.precision: Precision = resolve_precision(config.precision, self.device)
        # The model is sized before the clip is decoded: a bad model option or budget fails at once.
        clip = clip_frames(config)
        self.spec = model_spec(config, clip[2], self.plugins)
        check_batches(len(range(0, clip[2].num_frames, config.stride)), config.batch_size, self.world)
        if self.world.distributed:
            self.device = join(self.world, self.device)
        checkpoint = self._prepare_run_dir(resume)
        self.store, self.source = load_source(config, self.device, self._cache_dir(), clip)
        self.num_frames = self.store.num_frames
        self.train_indices = list(range(0, self.num_frames, config.stride))
        self.unseen_indices = [i for i in range(self.num_frames) if i % config.stride]
        #: the NeRV config of a ``nerv`` fit (None for other architectures)
        self.model_config: ModelConfig | None = self.spec.nerv_config() if self.spec.arch == NERV else None
        torch.manual_seed(config.seed)
        self.model = architectures.build(self.spec, self.plugins).to(self.device)
        self.content_adaptive = bool(getattr(self.model, "content_adaptive", False))
        if self.precision.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if init_state is not None:
            self.model.load_state_dict(init_state)
        self.stored = architectures.architecture(self.spec.arch, self.plugins)[1].stored(self.model)
        self.quantizer = RateQuantizer(self.model, self.stored, config.qat_bits).to(self.device) if config.qat else None
        self.pixels = self.num_frames * self.store.height * self.store.width
        self.masks = {k: v.to(self.device) for k, v in (masks or {}).items()}
        self.base_lr = config.lr * (config.batch_size if config.scale_lr else 1)
        groups: list[dict[str, Any]] = [{"params": list(self.model.parameters())}]
        if self.quantizer is not None:  # the learned steps at their own rate (train/rate.py)
            groups.append({"params": list(self.quantizer.parameters()), "lr_scale": STEP_LR / self.base_lr})
        # fused: one kernel for the whole update (CUDA and, from torch 2.4, the CPU: 1.13x a CPU step)
        self.optimizer = Adam(
            groups, self.base_lr, betas=(0.5, 0.999), eps=1e-8, fused=self.device.type in ("cuda", "cpu")
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision.needs_scaler)
        self.train_step = TrainingStep(
            self.model,
            self.optimizer,
            self.scaler,
            self.loss_fn,
            self.device,
            self.precision,
            self.num_frames,
            self.masks,
            forward=self._training_forward(),
            extra_loss=self._rate_term,
        )
        self.preview_index = min(max(preview_index, 0), self.num_frames - 1)
        self.steps_per_epoch = math.ceil(len(self.train_indices) / config.batch_size)
        self.epoch, self.pos, self.step, self.elapsed = 0, 0, 0, 0.0
        self.last_eval: Evaluated | None = None
        self._recent_losses: list[float] = []  # training losses since the last evaluation (for metrics.csv)
        self._lock = threading.Lock()  # held during a step and during decode(): the weights are never torn
        self._running = threading.Event()
        self._running.set()
        self._cancel = threading.Event()
        if checkpoint is not None:
            self._restore(checkpoint)
        if self.run_dir is not None and self.world.main:  # a resumed run may extend its epochs: the record follows
            runfolder.write_config(self.run_dir, self.record())

    # ---- control, from any thread ----
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # ---- run folder ----
    def record(self) -> dict[str, Any]:
        """What config.json holds: enough to rerun the fit and to rebuild the model."""
        plugins = {
            kind: {
                "id": self.plugins.get(kind, getattr(self.config, kind)).id,
                "version": self.plugins.get(kind, getattr(self.config, kind)).version,
                "params": self.plugins.resolve_params(
                    kind, getattr(self.config, kind), getattr(self.config, f"{kind}_params")
                ),
            }
            for kind in ("activation", "loss", "scheduler")
        }
        entry = self.plugins.get("model", self.spec.arch)
        plugins["model"] = {"id": entry.id, "version": entry.version, "params": dict(self.config.model)}
        return {
            "nervplayer": __version__,
            "fit": self.config.to_dict(),
            "model": self.spec.model_dict(),
            "source": self.source,
            "plugins": plugins,
            "params": self.stored_params,
            "macs_per_pixel": architectures.macs_per_pixel(self.spec, self.plugins),
            "train_frames": self.train_indices,
            "unseen_frames": self.unseen_indices,
        }

    @property
    def stored_params(self) -> int:
        """Values a ``.nerv`` of this model stores (weights and latents): what a budget counts."""
        state = self.model.state_dict()
        return sum(state[name].numel() for name in self.stored)

    def _prepare_run_dir(self, resume: bool) -> dict[str, Any] | None:
        if self.run_dir is None:
            if resume:
                raise ResumeError("--resume needs a run folder")
            return None
        config_path = self.run_dir / runfolder.CONFIG
        if not resume and not self.world.main:  # rank 0 creates and writes the folder
            return None
        if not resume:
            if config_path.exists():
                raise ConfigError(
                    f"{self.run_dir} already holds a run; pass --resume to continue it, or choose another output folder"
                )
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(
                    f"cannot create the run folder {self.run_dir}: {(e.strerror or type(e).__name__).lower()}"
                ) from None
            return None
        previous = runfolder.open_run(self.run_dir)
        old, new = previous.fit_config.to_dict(), self.config.to_dict()
        changed = sorted(
            k
            for k in new
            if k not in FitConfig.RESUMABLE_CHANGES and old.get(k) != new[k] and k not in ("video", "epochs")
        )
        if changed:
            raise ResumeError(
                f"{self.run_dir} was made with other options ({', '.join(changed)} differ); "
                "resume with the same options or start a new run folder"
            )
        if file_hash(self.config.video) != previous.source["sha256"]:
            raise ResumeError(
                f"{self.run_dir} was made from another video ({previous.source['name']}, "
                f"sha256 {previous.source['sha256'][:12]}…), not {self.config.video}"
            )
        state = load_checkpoint(self.run_dir / runfolder.CHECKPOINT)
        done = int(state["epoch"])
        # killed between the final checkpoint and the weights: the resume only writes them (run() trains nothing)
        unwritten = done == self.config.epochs == old["epochs"] and not (self.run_dir / runfolder.WEIGHTS).exists()
        if done >= self.config.epochs and not unwritten:
            what = "is complete" if done >= old["epochs"] else "is further along"
            raise ResumeError(
                f"{self.run_dir} {what}: {done} of {old['epochs']} epochs done; to train longer, "
                f"pass --resume --epochs N with N above {done}"
            )
        if self.world.main:
            runfolder.trim_metrics(self.run_dir, done)
        return state

    def _cache_dir(self) -> Path | None:
        if self.run_dir is None:
            return None
        return self.run_dir / "cache" / f"rank{self.world.rank}" if self.world.distributed else self.run_dir / "cache"

    def _checkpoint_state(self) -> dict[str, Any]:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            **(
                {"quantizer": self.quantizer.state_dict(), "quant_steps": self.quantizer.steps()}
                if self.quantizer
                else {}
            ),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "pos": self.pos,
            "step": self.step,
            "elapsed": self.elapsed,
            "rng_cpu": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.quantizer is not None:
            self.quantizer.load_state_dict(state["quantizer"])
        self.optimizer.load_state_dict(_regroup(state["optimizer"], self.optimizer))
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.pos, self.step = int(state["epoch"]), int(state["pos"]), int(state["step"])
        self.elapsed = float(state["elapsed"])
        torch.set_rng_state(state["rng_cpu"])
        if "rng_cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)

    def _save_checkpoint(self) -> Checkpointed | None:
        if self.run_dir is None or not self.world.main:
            return None
        path = self.run_dir / runfolder.CHECKPOINT
        save_checkpoint(path, self._checkpoint_state())
        return Checkpointed(str(path), self.epoch + self.pos / self.steps_per_epoch)

    # ---- the loop ----
    def _order(self, epoch: int) -> list[int]:
        """The epoch's shuffled frame order: a function of (seed, epoch) only, so a resumed run repeats it."""
        g = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        perm = torch.randperm(len(self.train_indices), generator=g).tolist()
        return [self.train_indices[i] for i in perm]

    def _training_forward(self):
        """The forward a training step runs: the fit's own, inside DistributedDataParallel under torchrun."""
        if not self.world.distributed:
            return self._forward
        trained = [self.model] + ([self.quantizer] if self.quantizer is not None else [])
        return replicate(trained, self._forward, self.device, every_param_used=self.spec.arch == NERV)

    def _rate_term(self) -> torch.Tensor | None:
        """With ``--rate-lambda``: λ × the estimated bits per pixel of the quantized stored tensors."""
        if self.quantizer is None:
            return None
        bits = self.quantizer.take_rate_bits()
        return self.config.rate_lambda * bits / self.pixels if self.config.rate_lambda and bits is not None else None

    def _latent_quantize(self, batch: int):
        """What a content-adaptive model passes its latents through: the learned-step quantizer (their rate
        scaled from the batch to the clip), or nothing without QAT."""
        q = self.quantizer
        return None if q is None else (lambda name, x: q.quantize(name, x, self.num_frames / batch))

    def _forward(self, indices: Sequence[int], target: torch.Tensor | None = None) -> torch.Tensor:
        """The model's frames: the training forward when ``target`` is given (content-adaptive models see the
        frames), else decoding from the stored state; with QAT, through the quantized stored tensors."""
        t = self.train_step.times(indices)
        kwargs = (
            {"frames": target, "quantize": self._latent_quantize(len(indices))}
            if target is not None and self.content_adaptive
            else {}
        )
        if self.quantizer is None:
            return self.model(t, **kwargs)
        tensors = self.quantizer.quantized_parameters(self.model)
        if target is None:  # decoding: the reader's (contiguous) layout, so the frames match it bit for bit
            tensors = {k: v.contiguous() for k, v in {**dict(self.model.named_buffers()), **tensors}.items()}
        return functional_call(self.model, tensors, (t,), kwargs)

    @torch.no_grad()
    def _encode_latents(self, batch_size: int = 8) -> None:
        """Write every frame's latents into the model (content-adaptive models), as decoding will see them."""
        if not self.content_adaptive:
            return
        for start in range(0, self.num_frames, batch_size):
            idx = list(range(start, min(start + batch_size, self.num_frames)))
            frames = self.train_step.to_float(self.store.get(idx).to(self.device))
            self.model.encode_latents(self.train_step.times(idx), frames, self._latent_quantize(len(idx)))
        if self.quantizer is not None:
            self.quantizer.clear()

    def run(self) -> Iterator[Event]:
        cfg = self.config
        yield Started(
            self.stored_params,
            str(self.device),
            self.precision.name,
            self.num_frames,
            len(self.train_indices),
            self.store.height,
            self.store.width,
            cfg.epochs,
            self.epoch + self.pos / self.steps_per_epoch,
            self.steps_per_epoch,
            getattr(self.store, "kind", "memory"),
        )
        # CPU: report every step; accelerators: read losses back in groups, to keep host syncs out of the step.
        # Under torchrun each flush is the one collective that also agrees on stopping (_flush).
        flush_every = 1 if self.device.type == "cpu" else 25
        pending: list[tuple[float, int, torch.Tensor, float, float]] = []
        epoch_started = time.perf_counter()
        world = self.world
        while self.epoch < cfg.epochs:
            order = self._order(self.epoch)
            left = order[self.pos * cfg.batch_size :]
            if world.distributed:  # this process's share of every global batch
                left = shard(left, cfg.batch_size, world)
            batches = self.store.batches(left, cfg.batch_size // world.size)
            t0 = time.perf_counter()
            stopped = False
            for indices, frames in batches:
                if not self._running.is_set():
                    self.elapsed += time.perf_counter() - t0
                    if not world.distributed:  # a flush is a collective there: only where every process makes it
                        yield from self._flush(pending)
                    yield Paused(self.epoch + self.pos / self.steps_per_epoch)
                    self._running.wait()
                    yield Resumed(self.epoch + self.pos / self.steps_per_epoch)
                    t0 = time.perf_counter()
                if self._cancel.is_set() and not world.distributed:
                    stopped = True
                    break
                e = self.epoch + self.pos / self.steps_per_epoch
                lr = self.schedule(e, cfg.epochs, self.base_lr)
                # an uneven last batch: weigh each process's mean loss by its share, as one process would
                share = len(indices) * world.size / min(cfg.batch_size, len(order) - self.pos * cfg.batch_size)
                try:
                    with self._lock:
                        loss = self.train_step(indices, frames, lr, weight=share)
                except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError from torch 2.5, same class
                    raise DeviceError(
                        f"out of memory on {self.device} at batch size {cfg.batch_size} and "
                        f"{self.store.width}x{self.store.height}: try a smaller --batch-size or "
                        "--scale; the last checkpoint is kept"
                    ) from None
                self.pos += 1
                self.step += 1
                pending.append((self.epoch + self.pos / self.steps_per_epoch, self.step, loss, lr, share))
                if len(pending) >= flush_every and (yield from self._flush(pending)):
                    stopped = True
                    break
            self.elapsed += time.perf_counter() - t0
            if (yield from self._flush(pending)) or stopped:
                yield from self._finish("cancelled")
                return
            self.epoch, self.pos = self.epoch + 1, 0
            spe = time.perf_counter() - epoch_started
            epoch_started = time.perf_counter()
            last = self.epoch == cfg.epochs
            if (self.epoch % cfg.eval_every == 0 or last) and (ev := self._evaluate(spe, lr)):
                yield ev
            if not last and self.epoch % cfg.checkpoint_every == 0 and (ev := self._save_checkpoint()):
                yield ev
        yield from self._finish("completed")

    def _flush(self, pending: list[tuple[float, int, torch.Tensor, float, float]]) -> Generator[Step, None, bool]:
        """Report the pending steps' losses (under torchrun the global batch's, reduced across the processes);
        return whether the fit stops: cancelled, in any process under torchrun (they agree in the same collective,
        so every one stops before the same step)."""
        if not pending:
            return self._cancel.is_set() and not self.world.distributed
        losses, stop = global_losses(
            torch.stack([p[2] for p in pending]).float(), [p[4] for p in pending], self._cancel.is_set(), self.world
        )
        for (e, s, _, lr, _), loss in zip(pending, losses.cpu().tolist()):
            if not math.isfinite(loss):
                raise NervError(f"training diverged at step {s} (loss {loss}); lower the learning rate")
            self._recent_losses.append(loss)
            yield Step(e, s, loss, lr)
        pending.clear()
        return stop

    def _finish(self, status: str) -> Iterator[Event]:
        weights = None
        with self._lock:  # a stopped run's checkpoint holds the latents of its current weights too
            self._encode_latents()
        if (ev := self._save_checkpoint()) is not None:
            yield ev
        if status == "completed" and self.run_dir is not None and self.world.main:
            weights = str(self.run_dir / runfolder.WEIGHTS)
            meta: dict[str, Any] = {"model": self.spec.model_dict(), "arch": self.spec.plugin_ref()}
            if self.quantizer is not None:
                meta["quant_steps"] = self.quantizer.steps()
            save_weights(Path(weights), self.model.state_dict(), meta)
        yield Finished(
            status, self.epoch + self.pos / self.steps_per_epoch, self.step, self.elapsed, self.last_eval, weights
        )

    # ---- decoding and evaluation ----
    def predict(self, indices: list[int]) -> torch.Tensor:
        """Float frames [B, 3, H, W] in [0, 1] of the current weights (eval mode, never mid-step), on the device."""
        with torch.no_grad(), self._lock:
            self.model.eval()
            try:
                return self._forward(indices).float()
            finally:
                self.model.train()
                if self.quantizer is not None:
                    self.quantizer.clear()

    def _predict_in_precision(self, indices: list[int]) -> torch.Tensor:
        """:meth:`predict` under the fit's autocast: what the fit's evaluations decode with. bf16 on a CPU is 3-5x
        fp32's speed there and within 0.01 dB of it (docs/performance.md); files and the player decode in fp32."""
        with self.precision.autocast(self.device):
            return self.predict(indices)

    def decode(self, indices: list[int] | range, batch_size: int = 8) -> np.ndarray:
        """uint8 frames [B, H, W, 3] from the current weights (safe to call from another thread while training)."""
        indices = list(indices)
        return np.concatenate(
            [to_uint8(self.predict(indices[i : i + batch_size])) for i in range(0, len(indices), batch_size)]
        )

    def _evaluate(self, seconds_per_epoch: float, lr: float) -> Evaluated | None:
        """Every process scores its share of the frames (none waits idle through a long evaluation in a
        collective); rank 0 reports the whole clip's (None elsewhere)."""
        with self._lock:
            self._encode_latents()
        share = frame_share(self.num_frames, self.world)
        metrics = gather_metrics(
            evaluate(self._predict_in_precision, self.store, share), self.num_frames, self.world, self.device
        )
        if not self.world.main:
            return None
        pooled = summary(metrics, self.train_indices, self.unseen_indices)
        seen, unseen = pooled["seen"], pooled["unseen"]
        ev = Evaluated(
            epoch=self.epoch,
            step=self.step,
            psnr=pooled["all"]["psnr"],
            ms_ssim=pooled["all"]["ms_ssim"],
            psnr_seen=seen["psnr"],
            psnr_unseen=unseen["psnr"] if unseen else None,
            ms_ssim_seen=seen["ms_ssim"],
            ms_ssim_unseen=unseen["ms_ssim"] if unseen else None,
            per_frame_psnr=metrics.psnr.tolist(),
            elapsed=self.elapsed,
            seconds_per_epoch=seconds_per_epoch,
            preview_index=self.preview_index,
            preview=self.decode([self.preview_index])[0],
        )
        self.last_eval = ev
        if self.run_dir is not None:
            loss = float(np.mean(self._recent_losses)) if self._recent_losses else None
            self._recent_losses.clear()
            runfolder.append_metrics(
                self.run_dir,
                {
                    "epoch": ev.epoch,
                    "step": ev.step,
                    "loss": loss,
                    "psnr": ev.psnr,
                    "ms_ssim": ev.ms_ssim,
                    "psnr_seen": ev.psnr_seen,
                    "psnr_unseen": ev.psnr_unseen,
                    "ms_ssim_seen": ev.ms_ssim_seen,
                    "ms_ssim_unseen": ev.ms_ssim_unseen,
                    "lr": lr,
                    "elapsed": round(ev.elapsed, 3),
                },
            )
        return ev


def _regroup(saved: dict[str, Any], optimizer: Adam) -> dict[str, Any]:
    """An optimizer state saved with one parameter group (rate-aware checkpoints before the steps had their own
    rate) split into the optimizer's groups, in parameter order, each keeping its own ``lr_scale``."""
    if len(saved["param_groups"]) != 1 or len(optimizer.param_groups) == 1:
        return saved
    ids = iter(saved["param_groups"][0]["params"])
    groups = [
        {**saved["param_groups"][0], "lr_scale": g.get("lr_scale", 1.0), "params": [next(ids) for _ in g["params"]]}
        for g in optimizer.param_groups
    ]
    return {**saved, "param_groups": groups}
