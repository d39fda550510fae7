"""Training checkpoints (weights, optimizer, schedule position, RNG states) and final weights.

:class:`TrainingState` is what a checkpoint holds of a fit besides its :class:`Position`; restored, the fit goes
on bit for bit as if it had never stopped.

Checkpoints are written atomically and read back with ``torch.load(weights_only=True)``, which restores tensors
and plain containers only and never runs pickled code. Final weights go to safetensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from ..atomic import atomic_open, atomic_write_bytes
from ..errors import NervError, ResumeError

if TYPE_CHECKING:  # run-folder readers (``nervplayer frame``) import this module: they need neither
    from .optim import FitOptimizer
    from .rate import RateQuantizer
    from .window import LatentWindows


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_open(path) as f:
        torch.save(state, f)


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ResumeError(f"{path.parent}: no checkpoint to resume from ({path.name} missing)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ResumeError(f"{path}: checkpoint is unreadable ({type(e).__name__}: {str(e)[:160]})") from None


def save_weights(path: Path, state_dict: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    """Final weights in safetensors, with the run's model config as JSON metadata."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    atomic_write_bytes(path, save(tensors, metadata={"nervplayer": json.dumps(metadata)}))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, ValueError) as e:
        raise _damaged(path, e) from None


def weights_metadata(path: Path) -> dict[str, Any]:
    """The JSON metadata :func:`save_weights` stored."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = json.loads((f.metadata() or {}).get("nervplayer", "{}"))
    except (SafetensorError, ValueError) as e:
        raise _damaged(path, e) from None
    if not isinstance(metadata, dict):
        raise NervError(f"{path}: damaged weights file (its metadata is not a JSON object)")
    return metadata


def check_weights(path: Path, state: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]]) -> None:
    """Weights read from ``path`` that lack a tensor of the model (``shapes``: name → shape), or hold one of
    another shape, come from a damaged or foreign file: the user's input, not a bug."""
    wrong = [name for name, shape in shapes.items() if name not in state or tuple(state[name].shape) != shape]
    if wrong:
        raise NervError(
            f"{path}: damaged weights file ({len(wrong)} of the model's {len(shapes)} tensors missing or of "
            f"another shape, first {wrong[0]})"
        )


def _damaged(path: Path, error: Exception) -> NervError:
    reason = " ".join(str(error).split())[:160]
    return NervError(f"{path}: damaged weights file, cannot be read ({type(error).__name__}: {reason})")


@dataclass
class Position:
    """Where a fit is: epochs done, steps into the next one, steps in all, training seconds."""

    epoch: int = 0
    pos: int = 0
    step: int = 0
    elapsed: float = 0.0


class TrainingState:
    """Everything a checkpoint holds of a fit besides its position: the weights, the optimizer, the learned
    quantization steps, the loss scaler and the random number generators, so a resumed fit is bit-exact."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: FitOptimizer,
        scaler: torch.amp.GradScaler,
        quantizer: RateQuantizer | None,
        device: torch.device,
        windows: LatentWindows | None = None,
    ) -> None:
        self.model, self.optimizer, self.scaler = model, optimizer, scaler
        self.quantizer, self.device, self.windows = quantizer, device, windows

    def state(self, at: Position) -> dict[str, Any]:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            **(
                {"quantizer": self.quantizer.state_dict(), "quant_steps": self.quantizer.steps()}
                if self.quantizer
                else {}
            ),
            **({"windows": self.windows.state()} if self.windows else {}),
            "scaler": self.scaler.state_dict(),
            "epoch": at.epoch,
            "pos": at.pos,
            "step": at.step,
            "elapsed": at.elapsed,
            "rng_cpu": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def restore(self, state: dict[str, Any]) -> Position:
        self.model.load_state_dict(state["model"])
        if self.quantizer is not None:
            self.quantizer.load_state_dict(state["quantizer"])
        if self.windows is not None:
            self.windows.load(state.get("windows"))
        self.optimizer.load_state_dict(_regroup(state["optimizer"], self.optimizer))
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng_cpu"])
        if "rng_cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        return Position(int(state["epoch"]), int(state["pos"]), int(state["step"]), float(state["elapsed"]))


def _regroup(saved: dict[str, Any], optimizer: FitOptimizer) -> dict[str, Any]:
    """An Adam state saved with one parameter group (rate-aware checkpoints before the steps had their own
    rate) split into the optimizer's groups, in parameter order, each keeping its own ``lr_scale``."""
    if "param_groups" not in saved or len(saved["param_groups"]) != 1 or len(optimizer.param_groups) == 1:
        return saved
    ids = iter(saved["param_groups"][0]["params"])
    groups = [
        {**saved["param_groups"][0], "lr_scale": g.get("lr_scale", 1.0), "params": [next(ids) for _ in g["params"]]}
        for g in optimizer.param_groups
    ]
    return {**saved, "param_groups": groups}
