"""FitConfig: everything a fit needs, as a plain JSON-serialisable dataclass (saved in the run folder)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cuda", "mps", "cpu")
OPTIMIZERS = ("adam", "soap")  # train/optim.py
# how a rate-aware fit prices a stored latent tensor (train/contextrate.py): as the file's context model codes it,
# or one Laplace per tensor (the estimate before)
RATE_MODELS = ("context", "laplace")
MAX_STARTS = 16
# The architecture and size of a fit that names neither: the grid, rate-aware at its own learning rate (its recipe,
# train/recipe.py), had the best rate-distortion measured (docs/models.md, "The default architecture"), sized to the
# stored values the paper's NeRV-S has at the clip's frame size, at most DEFAULT_DENSITY values a pixel of the clip.
DEFAULT_ARCH = "grid"
DEFAULT_SIZE = "nerv-s"
DEFAULT_DENSITY = 0.2  # grid 1.5M on bunny's 132 frames at 320×180: the best RD measured in 20 CPU minutes
# a clip in segments: hnerv, whose segments train on frames past their boundaries, so that the seams stay smooth
# (docs/long-videos.md; a grid's segments left 1.0 dB seams)
DEFAULT_SEGMENT_ARCH = "hnerv"
# What a stored record (a run folder's config.json, a segment's or a study's runs) meant by a field it lacks: the
# defaults of the version that wrote it, not today's.
LEGACY_DEFAULTS: dict[str, Any] = {
    "arch": "nerv",
    "size_as": None,
    "max_values_per_pixel": None,
    "lr": 5e-4,
    "qat": False,
    "rate_lambda": 0.0,
    "loss": "fusion6",
    "rate_model": "laplace",
}


@dataclass
class FitConfig:
    """A fit of one clip. Defaults are the paper's recipe (Adam(0.5, 0.999), warmup + cosine, batch 1, 1200 epochs,
    evaluation every 50 epochs) with the architecture's own learning rate, loss and rate term (``None``: its recipe,
    train/recipe.py: lr 5e-4, Fusion6 and none unless the model names its own), on the grid sized as NeRV-S
    (``arch="nerv"``: the paper's NeRV-S itself)."""

    video: str
    arch: str = DEFAULT_ARCH  # model plugin id
    preset: str | None = None  # a preset of the model plugin; None = its default (nerv: nerv-s), but see size_as
    budget: int | None = None  # stored values (weights + latents) to size the model to, within ±5 %
    # with neither preset nor budget, a model is sized to the stored values this nerv preset has at the clip's frame
    # size (a default fit is as big as a nerv-s one; nerv itself takes the preset), at most max_values_per_pixel
    # values a pixel of the clip (its frames × height × width), and the nearest the architecture can reach where
    # that is out of its range; None: the architecture's own default preset
    size_as: str | None = DEFAULT_SIZE
    max_values_per_pixel: float | None = DEFAULT_DENSITY
    epochs: int = 1200
    lr: float | None = None  # None: the architecture's recipe (train/recipe.py)
    batch_size: int = 1
    scale_lr: bool = False  # multiply lr by batch_size (linear scaling rule)
    activation: str = "silu"
    activation_params: dict[str, Any] = field(default_factory=dict)
    loss: str | None = None  # a loss plugin's id; None: the architecture's recipe (fusion6 unless it names one)
    loss_params: dict[str, Any] = field(default_factory=dict)
    scheduler: str = "warmup-cosine"
    scheduler_params: dict[str, Any] = field(default_factory=dict)
    start: int = 0
    end: int | None = None  # exclusive; None = to the end of the clip
    stride: int = 1  # train on every stride-th frame of the range
    # frames just before and after the range that training also sees and the model does not store (a segment's
    # neighbours: its edge frames fit as well as its middle ones); content-adaptive models only (hnerv)
    context: tuple[int, int] = (0, 0)
    size: tuple[int, int] | None = None  # (height, width) to resize to
    scale: float | None = None  # or a scale factor
    model: dict[str, Any] = field(default_factory=dict)  # the model plugin's params (nerv: fc_c, strides...)
    # quantize every stored tensor in training, with a learned step per tensor (train/rate.py); None: the recipe's
    qat: bool | None = None
    qat_bits: int = 8  # bit width the learned steps start from
    # weight of the rate term (estimated bits per pixel of the stored tensors); None: the recipe's
    rate_lambda: float | None = None
    # soft rounding with annealed noise in the fit's main phase, hard rounding in its final share (train/softround.py)
    soft_rounding: bool = False
    hard_rounding: float = 0.1  # the final share of a soft-rounding fit (0..1) that rounds hard
    rate_model: str = "context"  # the rate term's estimate of stored latents (RATE_MODELS)
    device: str = "auto"
    precision: str = "auto"
    seed: int = 1
    eval_every: int = 50
    checkpoint_every: int = 10
    cache_budget_mb: int | None = None  # frames past this go to a disk cache
    # weights (a model.safetensors) to start from instead of the seed's draw: every tensor whose name and shape
    # match is loaded, the others keep their fresh values (a warm start: nervplayer/segments)
    init_weights: str | None = None
    time_limit: float | None = None  # seconds of training: the fit stops there, its LR schedule follows the time
    # work after the fit that the time limit also holds, in training steps per frame of the clip (its last
    # evaluation, a compression's decodes and fine-tune): the fit reserves it at the step time it measures
    time_after_steps: float = 0.0
    # the encoder recipe's optimiser and warm-up (train/optim.py, train/starts.py): "soap" preconditions the
    # network's weight matrices and kernels (Adam on the rest); starts > 1 fits that many random draws briefly
    # and keeps the best (a fresh draw only: a warm start, init_weights or a fine-tune, is its own start)
    optimizer: str = "adam"
    starts: int = 1

    # Fields that may differ between a run and its resumption without changing the result.
    # init_weights: a resumed fit starts from its checkpoint, never from them.
    RESUMABLE_CHANGES = ("device", "eval_every", "checkpoint_every", "cache_budget_mb", "init_weights")

    def validate(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {self.batch_size}")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"learning rate must be positive, got {self.lr}")
        if self.stride < 1:
            raise ConfigError(f"frame stride must be at least 1, got {self.stride}")
        if self.start < 0:
            raise ConfigError(f"frame range start must be >= 0, got {self.start}")
        if self.end is not None and self.end <= self.start:
            raise ConfigError(f"frame range {self.start}:{self.end} is empty")
        if min(self.context) < 0 or self.context[0] > self.start:
            raise ConfigError(f"context frames {list(self.context)} must be >= 0 and start within the clip")
        if self.eval_every < 1 or self.checkpoint_every < 1:
            raise ConfigError("evaluation and checkpoint intervals must be at least 1 epoch")
        if not 2 <= self.qat_bits <= 16:
            raise ConfigError(f"QAT bit width must be in 2..16, got {self.qat_bits}")
        if self.rate_lambda is not None and not self.rate_lambda >= 0:
            raise ConfigError(f"rate lambda must be >= 0, got {self.rate_lambda}")
        if self.rate_lambda and self.qat is False:
            raise ConfigError("a rate term (--rate-lambda) needs quantization-aware training (--qat)")
        if self.soft_rounding and self.qat is False:
            raise ConfigError("soft rounding (--soft-rounding) needs quantization-aware training (--qat)")
        if self.max_values_per_pixel is not None and not self.max_values_per_pixel > 0:
            raise ConfigError(f"values per pixel must be positive, got {self.max_values_per_pixel}")
        if not 0 <= self.hard_rounding <= 1:
            raise ConfigError(f"the hard-rounding share of the fit must be in 0..1, got {self.hard_rounding}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ConfigError(f"time limit must be positive, got {self.time_limit}")
        if not self.time_after_steps >= 0:
            raise ConfigError(f"the work after the fit must be >= 0 steps a frame, got {self.time_after_steps}")
        if self.budget is not None and self.budget < 1:
            raise ConfigError(f"parameter budget must be positive, got {self.budget}")
        if self.rate_model not in RATE_MODELS:
            raise ConfigError(f"unknown rate model {self.rate_model!r}; available: {', '.join(RATE_MODELS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; available: {', '.join(OPTIMIZERS)}")
        if not 1 <= self.starts <= MAX_STARTS:
            raise ConfigError(f"starts must be in 1..{MAX_STARTS}, got {self.starts}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; available: {', '.join(PRECISIONS)}")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ConfigError(f"unknown device {self.device!r}; available: {', '.join(DEVICES)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"] = list(self.size) if self.size else None
        d["context"] = list(self.context)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitConfig:
        """A stored config; a field it lacks means what it meant when the record was written
        (:data:`LEGACY_DEFAULTS`), so a run from before the default architecture changed still means nerv."""
        known = {f.name for f in fields(cls)}
        d = {**LEGACY_DEFAULTS, **{k: v for k, v in d.items() if k in known}}
        if d.get("size"):
            d["size"] = tuple(d["size"])
        if "context" in d:
            d["context"] = tuple(d["context"])
        return cls(**d)
