"""Training checkpoints (weights, optimizer, schedule position, RNG states) and final weights.

Checkpoints are written atomically and read back with ``torch.load(weights_only=True)``, which restores tensors
and plain containers only and never runs pickled code. Final weights go to safetensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from ..atomic import atomic_open, atomic_write_bytes
from ..errors import NervError, ResumeError


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
