"""A run's weights as a ``.nerv``: the stored tensors quantized into a :class:`~.nervfile.NervFile` (affine at
chosen bit widths, or at a rate-aware fit's learned steps), and the header's records of the run (the video, the
activation plugin)."""

from __future__ import annotations

from typing import Any

import torch

from ..model import ModelConfig
from ..model.spec import NERV, ModelSpec
from ..plugins import get_registry
from ..train import Run
from .nervfile import NervFile, stored_shapes
from .quantize import QuantizedTensor, quantize
from .stepquant import StepQuantizedTensor, quantize_step


def _spec(config: ModelSpec | ModelConfig, fields: dict[str, Any]) -> ModelSpec:
    if isinstance(config, ModelConfig):
        return ModelSpec.from_nerv(config, int(fields["video"]["num_frames"]))
    return config


def pack_model(
    state: dict[str, torch.Tensor],
    config: ModelSpec | ModelConfig,
    bits: dict[str, int],
    per_channel: bool,
    masks: dict[str, torch.Tensor],
    spread: float = 1.0,
    **fields: Any,
) -> NervFile:
    """Quantize the stored tensors of ``state`` (affine, ``bits`` each) into a :class:`NervFile` (``fields`` are
    the remaining NervFile fields). ``per_channel`` applies to weights; latents take one range per tensor, which
    their temporal prediction needs (codec/latentcode.py) and which costs them almost no precision. ``spread``:
    every range widened about its centre (see :func:`~.quantize.quantize`)."""
    spec = _spec(config, fields)
    tensors: dict[str, QuantizedTensor | StepQuantizedTensor] = {}
    for name, (_, kind) in stored_shapes(spec).items():
        mask = masks.get(name)
        tensors[name] = quantize(
            state[name].detach().float().cpu().contiguous().numpy(),
            bits[name],
            per_channel and kind == "weights",
            None if mask is None else mask.cpu().numpy(),
            spread,
        )
    return NervFile(model=spec, tensors=tensors, **fields)


def pack_learned(state: dict[str, torch.Tensor], spec: ModelSpec, steps: dict[str, float], **fields: Any) -> NervFile:
    """The stored tensors of a rate-aware fit, each quantized with its learned step exactly as training did."""
    tensors: dict[str, QuantizedTensor | StepQuantizedTensor] = {
        name: quantize_step(state[name], steps[name]) for name in stored_shapes(spec)
    }
    return NervFile(model=spec, tensors=tensors, **fields)


def activation_ref(run: Run) -> dict[str, Any]:
    """The activation plugin as the header records it: id, installed version, parameters with defaults filled."""
    spec = run.model_spec
    return {
        "id": spec.activation,
        "version": get_registry().get("activation", spec.activation).version,
        "params": get_registry().resolve_params("activation", spec.activation, spec.activation_params),
    }


def video_record(run: Run) -> dict[str, Any]:
    """The header's ``video`` entry: what a player needs, and where the frames came from."""
    src, fit, cfg = run.source, run.fit_config, run.model_spec
    ph, pw = run.model_config.padded_size if cfg.arch == NERV else (cfg.height, cfg.width)
    return {
        "num_frames": src["end"] - src["start"],
        "fps": float(src["fps"]),
        "start": src["start"],
        "end": src["end"],
        "stride": fit.stride,
        "size": [cfg.height, cfg.width],
        "original_size": list(src["original_size"]),
        "crop": {"top": 0, "left": 0, "height": cfg.height, "width": cfg.width, "rendered": [ph, pw]},
    }
