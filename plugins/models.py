"""Built-in model plugins: ``nerv`` (NeRV, 2021), ``hnerv`` (HNeRV, 2023) and ``grid`` (latent grids, Cool-chic /
C3 family). The networks live in ``nervplayer.model``; this module describes them to the registry.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from nervplayer.model import PRESETS, NeRV, grid, hnerv, model_config
from nervplayer.model.complexity import macs_per_frame
from nervplayer.model.config import ModelConfig
from nervplayer.plugins.api import Frames, ModelArchitecture, Param, Registrar

MAX_WIDTH = 1 << 16


def _scaled(value: int, scale: float) -> int:
    return max(1, int(round(value * scale)))


class NervArchitecture(ModelArchitecture):
    """NeRV: positional encoding of t → MLP → conv + PixelShuffle blocks. Presets are the paper's sizes."""

    presets = {
        name: {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(p).items()
            if k not in ("name", "description")
        }
        for name, p in PRESETS.items()
    }
    default_preset = "nerv-s"

    def configure(self, frames: Frames, params: dict[str, Any], scale: float = 1.0) -> dict[str, Any]:
        cfg = model_config("nerv-s", frames.height, frames.width, **params)
        if scale != 1.0:
            # fc_c is a small integer: the stem's width absorbs its rounding, so the count grows smoothly.
            fc_c = _scaled(cfg.fc_c, scale)
            cfg = ModelConfig.from_dict(
                {
                    **cfg.to_dict(),
                    "fc_c": fc_c,
                    "stem_dim": _scaled(cfg.stem_dim, scale * cfg.fc_c * scale / fc_c),
                    "lower_width": _scaled(cfg.lower_width, scale),
                }
            )
        return {
            k: v for k, v in cfg.to_dict().items() if k not in ("height", "width", "activation", "activation_params")
        }

    def build(self, frames: Frames, config: dict[str, Any], activation) -> NeRV:
        return NeRV(ModelConfig.from_dict({**config, "height": frames.height, "width": frames.width}), activation)

    def macs_per_pixel(self, frames: Frames, config: dict[str, Any]) -> float:
        cfg = ModelConfig.from_dict({**config, "height": frames.height, "width": frames.width})
        return macs_per_frame(cfg) / (frames.height * frames.width)

    def prunable(self, model: NeRV) -> list[str]:
        return list(model.prunable_weights())


NERV_PARAMS = [
    Param("fc_c", 26, "channels of the first feature map", minimum=1, maximum=MAX_WIDTH),
    Param("stem_dim", 512, "width of the MLP stem", minimum=1, maximum=MAX_WIDTH),
    Param("stem_layers", 1, "hidden layers of the MLP stem", minimum=0, maximum=16),
    Param("lower_width", 96, "narrowest block width", minimum=1, maximum=MAX_WIDTH),
    Param("reduction", 2, "width divisor per block", minimum=1, maximum=MAX_WIDTH),
    Param("expansion", 1.0, "width factor of the first block", minimum=1e-3, maximum=64.0),
    Param("pe_levels", 40, "positional encoding levels", minimum=1, maximum=4096),
    Param("pe_base", 1.25, "positional encoding base", minimum=1e-3, maximum=1e3),
    Param("strides", (5, 2, 2, 2, 2), "upsampling per block, e.g. [5,2,2]", kind=list),
    Param("fc_h", None, "grid rows (skips the size rule)", minimum=1, maximum=16384, kind=int),
    Param("fc_w", None, "grid columns (skips the size rule)", minimum=1, maximum=16384, kind=int),
]


class HnervArchitecture(ModelArchitecture):
    """HNeRV: per-frame embeddings from a ConvNeXt encoder, a decoder with growing kernels (docstring of
    :mod:`nervplayer.model.hnerv`)."""

    # hnerv-xs: laptop size, the 0.3M model measured in docs/models.md at 320x180 (301,615 values, 132 frames)
    presets = {"hnerv-xs": {"c0": 32, "lower_width": 6}, "hnerv-s": {}}
    default_preset = "hnerv-s"

    def configure(self, frames: Frames, params: dict[str, Any], scale: float = 1.0) -> dict[str, Any]:
        p = {
            "c0": 64,
            "embed_dim": 16,
            "reduction": 1.2,
            "lower_width": 12,
            "encoder_width": 32,
            "strides": [5, 4, 4, 2, 2],
            "min_cells": 2,
            **params,
        }
        given = hnerv.check_strides(p["strides"])
        gh, gw, strides = hnerv.fit_strides(frames.height, frames.width, given, int(p["min_cells"]))
        f = math.sqrt(scale)
        return {
            "c0": round(max(1.0, float(p["c0"]) * f), 4),
            "embed_dim": int(p["embed_dim"]),
            "reduction": float(p["reduction"]),
            "lower_width": round(max(1.0, float(p["lower_width"]) * f), 4),
            "encoder_width": int(p["encoder_width"]),
            "strides": list(strides),
            "grid_h": gh,
            "grid_w": gw,
        }

    def check(self, frames: Frames, config: dict[str, Any]) -> None:
        hnerv.check_config(frames.height, frames.width, config)

    def build(self, frames: Frames, config: dict[str, Any], activation) -> hnerv.HNeRV:
        return hnerv.HNeRV(frames.height, frames.width, frames.num_frames, config, activation)

    def macs_per_pixel(self, frames: Frames, config: dict[str, Any]) -> float:
        return hnerv.macs_per_pixel(frames.height, frames.width, config)

    def stored(self, model: hnerv.HNeRV) -> dict[str, str]:
        out = {n: "weights" for n, _ in model.named_parameters() if not n.startswith("encoder.")}
        out[hnerv.EMBEDDINGS] = "latents"
        return out


HNERV_PARAMS = [
    Param("c0", 64, "decoder width after the embedding (the budget scales it)", minimum=1, maximum=MAX_WIDTH),
    Param("embed_dim", 16, "embedding channels per cell", minimum=1, maximum=1024),
    Param("reduction", 1.2, "width divisor per decoder block", minimum=1.0, maximum=4.0),
    Param("lower_width", 12, "narrowest decoder width", minimum=1, maximum=MAX_WIDTH),
    Param("encoder_width", 32, "encoder channels (training only, not stored)", minimum=1, maximum=1024),
    Param("strides", (5, 4, 4, 2, 2), "decoder upsampling per block", kind=list),
    Param("min_cells", 2, "embedding cells on the frame's shorter side, at least", minimum=1, maximum=64),
]


class GridArchitecture(ModelArchitecture):
    """Latent grids + a tiny synthesis network (docstring of :mod:`nervplayer.model.grid`)."""

    presets = {"grid-s": {}}
    default_preset = "grid-s"
    # rate-aware on MSE (what PSNR measures) at its own learning rate: 2.2-2.3x x264's bits in 20 CPU minutes, where
    # Fusion6 gave 3.2x and the paper's recipe at lr 1e-3 +543 % (docs/models.md, "The default architecture")
    # lr 5e-3: 6-8 % fewer bits than 1e-2 in 20-minute fits (264-284 epochs; docs/models.md, "The default architecture")
    recipe = {"lr": 5e-3, "qat": True, "rate_lambda": 0.002, "loss": "l2"}

    def configure(self, frames: Frames, params: dict[str, Any], scale: float = 1.0) -> dict[str, Any]:
        p = {q.name: q.default for q in GRID_PARAMS} | params
        f = scale ** (1 / 3)
        # the finest grid holds about h·w·t cells; its sides follow the scale, and where one side is rounded up to
        # whole time slices (one more is a large step on a short clip) or stops at the clip's own size, the other
        # takes up the difference, so the count follows the scale smoothly up to every pixel of every frame
        h, w = frames.height * p["spatial"] * f, frames.width * p["spatial"] * f
        t = max(1.0, frames.num_frames * p["temporal"] * f)  # at least one time slice, at the spatial size asked
        cells = h * w * t
        grid_t = min(frames.num_frames, max(math.ceil(t), math.ceil(cells / (frames.height * frames.width))))
        side = math.sqrt(cells / grid_t / (h * w))
        grid_h, grid_w = min(frames.height, math.ceil(h * side)), min(frames.width, math.ceil(w * side))
        return {
            "levels": int(p["levels"]),
            "channels": int(p["channels"]),
            "hidden": int(p["hidden"]),
            "latent_gain": float(p["latent_gain"]),
            "grid_h": grid_h,
            "grid_w": grid_w,
            "grid_t": grid_t,
        }

    def check(self, frames: Frames, config: dict[str, Any]) -> None:
        grid.check_config(frames.height, frames.width, frames.num_frames, config)

    def build(self, frames: Frames, config: dict[str, Any], activation) -> grid.LatentGrid:
        return grid.LatentGrid(frames.height, frames.width, frames.num_frames, config, activation)

    def macs_per_pixel(self, frames: Frames, config: dict[str, Any]) -> float:
        return grid.macs_per_pixel(config)

    def stored(self, model: grid.LatentGrid) -> dict[str, str]:
        return {n: "latents" if n.startswith("grids.") else "weights" for n, _ in model.named_parameters()}


GRID_PARAMS = [
    Param("levels", 4, "grid levels, each half the size of the previous", minimum=1, maximum=12),
    Param("channels", 4, "channels per level", minimum=1, maximum=64),
    # twice the spatial fraction as the temporal one: of the shapes measured at equal budget, the best RD on bunny
    # and on a handheld clip (docs/models.md, "The grid's shape")
    Param("spatial", 0.2, "finest grid size as a fraction of the frame size", minimum=1e-3, maximum=1.0),
    Param("temporal", 0.1, "finest grid frames as a fraction of the clip's frames", minimum=1e-3, maximum=1.0),
    Param("hidden", 16, "synthesis width", minimum=1, maximum=256),
    Param(
        "latent_gain",
        10.0,
        "grids act this many times larger than stored (a faster effective learning rate)",
        minimum=1e-3,
        maximum=1e3,
    ),
]


def register(r: Registrar) -> None:
    r.model(
        "nerv",
        NervArchitecture,
        params=NERV_PARAMS,
        description="NeRV (2021): frame index → positional encoding → MLP → conv + PixelShuffle blocks",
    )
    r.model(
        "hnerv",
        HnervArchitecture,
        params=HNERV_PARAMS,
        description="HNeRV (2023): per-frame embeddings (stored) → decoder with growing kernels",
    )
    r.model(
        "grid",
        GridArchitecture,
        params=GRID_PARAMS,
        description="latent grids + tiny synthesis net (Cool-chic / C3 family): a few hundred MACs per pixel",
    )
