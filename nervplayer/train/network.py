"""The network as a fit trains and decodes it: the model, its stored tensors through the learned-step quantizer
of a rate-aware fit (``--qat``, train/rate.py), the rate term of ``--rate-lambda``, and the latents a
content-adaptive model encodes from the frames.

The training step, the fit's evaluations and the player's decoding all run the model through
:meth:`FitNetwork.forward`, so what training sees, what an evaluation scores and what a ``.nerv`` decodes are the
same frames. ``lock`` is held during a training step and during decoding: the weights are never torn.

A soft-rounding fit (``--soft-rounding``, train/softround.py) is told before each training step where the fit
is (:meth:`FitNetwork.anneal`); only the training forward (the one given target frames) rounds softly, every
decode rounds hard.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Sequence, cast

import numpy as np
import torch
from torch.func import functional_call

from ..device import Precision
from ..model import architectures
from ..model.render import times, to_uint8
from ..model.spec import NERV, ModelSpec
from ..plugins import Registry
from ..video import FrameStore
from .checkpoint import load_weights
from .config import FitConfig
from .distributed import World, replicate
from .rate import STEP_LR, RateQuantizer
from .softround import Annealing, SoftRounding, noise_start
from .window import LatentWindows

Forward = Callable[[Sequence[int], torch.Tensor], torch.Tensor]  # (indices, target frames) → predicted frames


class FitNetwork:
    """``model`` (the network ``spec`` describes, on ``device``, holding its first weights) with the rate state of
    a fit of ``num_frames`` frames of ``pixels`` pixels in all; ``stored`` names the tensors a ``.nerv`` stores
    (name → kind)."""

    def __init__(
        self,
        model: torch.nn.Module,
        spec: ModelSpec,
        stored: dict[str, str],
        num_frames: int,
        pixels: int,
        device: torch.device,
        precision: Precision,
        qat_bits: int | None = None,
        rate_lambda: float = 0.0,
        annealing: Annealing | None = None,
        rate_contexts: bool = False,
    ) -> None:
        self.model = model
        self.spec = spec
        self.stored = stored
        self.num_frames = num_frames
        self.pixels = pixels
        self.device = device
        self.precision = precision
        self.rate_lambda = rate_lambda
        self.lock = threading.Lock()
        #: the learned steps of a rate-aware fit (``qat_bits`` given), else None
        self.quantizer = (
            RateQuantizer(model, stored, qat_bits, rate_contexts).to(device) if qat_bits is not None else None
        )
        self.content_adaptive = bool(getattr(model, "content_adaptive", False))
        #: the soft-rounding schedule of a ``--soft-rounding`` fit, else None
        self.annealing = annealing
        #: how the next training step rounds (:meth:`anneal`); None: hard
        self.rounding: SoftRounding | None = None
        #: the latent windows a rate-aware training step quantizes (:meth:`train_on`), else None
        self.windows: LatentWindows | None = None

    @classmethod
    def build(
        cls,
        spec: ModelSpec,
        plugins: Registry,
        config: FitConfig,
        store: FrameStore,
        precision: Precision,
        init_state: dict[str, torch.Tensor] | None = None,
        init_weights: str | None = None,
    ) -> FitNetwork:
        """The network of a fit of ``config`` on the frames of ``store``, on their device: its first weights drawn
        from the fit's seed, or ``init_state``, or those tensors of the file ``init_weights`` whose shapes match."""
        torch.manual_seed(config.seed)
        model = architectures.build(spec, plugins).to(store.device)
        if precision.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs omit it
        if init_state is not None:
            model.load_state_dict(init_state)
        elif init_weights is not None:
            own = model.state_dict()
            given = load_weights(Path(init_weights))
            matching = {k: v for k, v in given.items() if k in own and v.shape == own[k].shape}
            model.load_state_dict(matching, strict=False)
        stored = architectures.architecture(spec.arch, plugins)[1].stored(model)
        n, pixels = store.num_frames, store.num_frames * store.height * store.width
        qat_bits = config.qat_bits if config.qat else None
        rate_lambda = config.rate_lambda or 0.0  # resolved (train/recipe.py): None only where no rate term is set
        annealing = (
            Annealing(config.hard_rounding, noise_start(rate_lambda), config.seed) if config.soft_rounding else None
        )
        contexts = config.rate_model == "context"
        return cls(model, spec, stored, n, pixels, store.device, precision, qat_bits, rate_lambda, annealing, contexts)

    @property
    def stored_params(self) -> int:
        """Values a ``.nerv`` of this model stores (weights and latents): what a budget counts."""
        state = self.model.state_dict()
        return sum(state[name].numel() for name in self.stored)

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """The optimizer's groups: the model's weights, and the learned steps at their own rate (train/rate.py)."""
        groups: list[dict[str, Any]] = [{"params": list(self.model.parameters())}]
        if self.quantizer is not None:
            groups.append({"params": list(self.quantizer.parameters()), "lr_scale": STEP_LR / lr})
        return groups

    def train_on(self, trained: Sequence[float]) -> None:
        """Training will read frames ``trained``: a rate-aware fit of a model that says which time slices of its
        latents a frame reads quantizes and rates only those in a training step (train/window.py)."""
        if self.quantizer is not None:
            self.windows = LatentWindows.build(self.model, trained, self.num_frames)

    def anneal(self, progress: float, step: int) -> None:
        """Before training step ``step`` at fit ``progress`` (0..1): how that step rounds (soft rounding's
        schedule; hard without one)."""
        self.rounding = None if self.annealing is None else self.annealing.at(progress, step, self.device)

    def times(self, indices: Sequence[float]) -> torch.Tensor:
        """The model's input for frame ``indices`` (t = index / N) on the network's device."""
        return times(indices, self.num_frames, self.device)

    def to_float(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames [B, 3, H, W] → floats in [0, 1], in the layout the precision runs in."""
        x = frames.float().div_(255)
        return x.contiguous(memory_format=torch.channels_last) if self.precision.channels_last else x

    def forward(self, indices: Sequence[int], target: torch.Tensor | None = None) -> torch.Tensor:
        """The model's frames: the training forward when ``target`` is given (content-adaptive models see the
        frames), else decoding from the stored state; with QAT, through the quantized stored tensors (rounded as
        :meth:`anneal` set in training, always hard in decoding)."""
        t = self.times(indices)
        rounding = self.rounding if target is not None else None
        kwargs = (
            {"frames": target, "quantize": self._latent_quantize(len(indices), rounding)}
            if target is not None and self.content_adaptive
            else {}
        )
        if self.quantizer is None:
            return self.model(t, **kwargs)
        if target is not None and rounding is None and self.windows is not None:
            tensors, starts = self.windows.quantized(self.quantizer, indices, rate=bool(self.rate_lambda))
            windowed: torch.Tensor = functional_call(self.model, tensors, (t,), {"windows": starts})
            return windowed
        tensors = self.quantizer.quantized_parameters(self.model, rounding)
        if target is None:  # decoding: the reader's (contiguous) layout, so the frames match it bit for bit
            tensors = {k: v.contiguous() for k, v in {**dict(self.model.named_buffers()), **tensors}.items()}
        out: torch.Tensor = functional_call(self.model, tensors, (t,), kwargs)
        return out

    def training_forward(self, world: World) -> Forward:
        """What a training step runs: :meth:`forward`, inside DistributedDataParallel under torchrun."""
        if not world.distributed:
            return self.forward
        trained = [self.model] + ([self.quantizer] if self.quantizer is not None else [])
        return replicate(trained, self.forward, self.device, every_param_used=self.spec.arch == NERV)

    def rate_term(self) -> torch.Tensor | None:
        """With ``--rate-lambda``: λ × the estimated bits per pixel of the quantized stored tensors."""
        if self.quantizer is None:
            return None
        if not self.rate_lambda:  # quantization-aware without a rate term: nothing to estimate
            self.quantizer.clear()
            return None
        bits = self.quantizer.take_rate_bits()
        return self.rate_lambda * bits / self.pixels if bits is not None else None

    def _latent_quantize(
        self, batch: int, rounding: SoftRounding | None = None
    ) -> Callable[[str, torch.Tensor], torch.Tensor] | None:
        """What a content-adaptive model passes its latents through: the learned-step quantizer (their rate
        scaled from the batch to the clip; rounded by ``rounding``, hard without), or nothing without QAT."""
        q = self.quantizer
        return None if q is None else (lambda name, x: q.quantize(name, x, self.num_frames / batch, rounding=rounding))

    @torch.no_grad()
    def encode_latents(self, store: FrameStore, batch_size: int = 8) -> None:
        """Write every frame's latents into the model (content-adaptive models), as decoding will see them."""
        if not self.content_adaptive:
            return
        encode = cast(Callable[..., None], self.model.encode_latents)  # a content-adaptive model's method
        with self.lock:
            for start in range(0, self.num_frames, batch_size):
                idx = list(range(start, min(start + batch_size, self.num_frames)))
                encode(self.times(idx), self.to_float(store.get(idx).to(self.device)), self._latent_quantize(len(idx)))
            if self.quantizer is not None:
                self.quantizer.clear()

    @torch.no_grad()
    def predict(self, indices: Sequence[int]) -> torch.Tensor:
        """Float frames [B, 3, H, W] in [0, 1] of the current weights (eval mode, never mid-step), on the device."""
        with self.lock:
            self.model.eval()
            try:
                return self.forward(indices).float()
            finally:
                self.model.train()
                if self.quantizer is not None:
                    self.quantizer.clear()

    def predict_in_precision(self, indices: Sequence[int]) -> torch.Tensor:
        """:meth:`predict` under the fit's autocast: what the fit's evaluations decode with. bf16 on a CPU is 3-5x
        fp32's speed there and within 0.01 dB of it (docs/performance.md); files and the player decode in fp32."""
        with self.precision.autocast(self.device):
            return self.predict(indices)

    def decode(self, indices: Sequence[int] | range, batch_size: int = 8) -> np.ndarray:
        """uint8 frames [B, H, W, 3] from the current weights (safe to call from another thread while training)."""
        indices = list(indices)
        return np.concatenate(
            [to_uint8(self.predict(indices[i : i + batch_size])) for i in range(0, len(indices), batch_size)]
        )

    def weights_metadata(self) -> dict[str, Any]:
        """What the final weights file records: the model, and the learned steps of a rate-aware fit."""
        meta: dict[str, Any] = {"model": self.spec.model_dict(), "arch": self.spec.plugin_ref()}
        if self.quantizer is not None:
            meta["quant_steps"] = self.quantizer.steps()
        return meta
