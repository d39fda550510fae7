"""Progress events a fit yields: plain dataclasses, so a CLI, a GUI worker or a test can consume them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Started:
    num_params: int
    device: str
    precision: str
    num_frames: int
    train_frames: int
    height: int
    width: int
    epochs: int
    start_epoch: float  # > 0 when resumed
    steps_per_epoch: int
    frame_store: str  # "memory" or "disk"


@dataclass(frozen=True)
class Step:
    epoch: float  # fractional epoch after this step
    step: int  # global step count
    loss: float
    lr: float


@dataclass(frozen=True)
class Evaluated:
    epoch: int
    step: int
    psnr: float
    ms_ssim: float
    psnr_seen: float
    psnr_unseen: float | None  # None when every frame was trained on
    ms_ssim_seen: float
    ms_ssim_unseen: float | None
    per_frame_psnr: list[float]
    elapsed: float  # training seconds so far
    seconds_per_epoch: float
    preview_index: int = 0
    preview: np.ndarray | None = field(default=None, repr=False)  # uint8 H×W×3


@dataclass(frozen=True)
class Checkpointed:
    path: str
    epoch: float


@dataclass(frozen=True)
class Paused:
    epoch: float


@dataclass(frozen=True)
class Resumed:
    epoch: float


@dataclass(frozen=True)
class Finished:
    status: str  # "completed" or "cancelled"
    epoch: float
    step: int
    elapsed: float
    last_eval: Evaluated | None
    weights_path: str | None


Event = Started | Step | Evaluated | Checkpointed | Paused | Resumed | Finished
