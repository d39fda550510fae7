"""Named model sizes. At 1280×720 nerv-s / nerv-m / nerv-l are exactly the paper's NeRV-S/M/L."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .config import ModelConfig, check_model_config
from .sizing import fit_grid


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    fc_c: int
    stem_dim: int = 512
    stem_layers: int = 1
    strides: tuple[int, ...] = (5, 2, 2, 2, 2)
    lower_width: int = 96
    pe_levels: int = 40


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "nerv-xs",
            "laptop size: fits the bundled sample on a 2-core CPU in minutes",
            fc_c=16,
            stem_dim=256,
            lower_width=32,
        ),
        Preset("nerv-s", "NeRV-S (paper): 3,201,905 parameters at 1280x720", fc_c=26),
        Preset("nerv-m", "NeRV-M (paper): 6,282,001 parameters at 1280x720", fc_c=58),
        Preset("nerv-l", "NeRV-L (paper): 12,524,563 parameters at 1280x720", fc_c=112),
    )
}


def model_config(preset: str, height: int, width: int, **overrides: Any) -> ModelConfig:
    """The model config of ``preset`` for frames of ``height`` × ``width``, with the size rule applied.

    ``overrides`` replace any :class:`ModelConfig` field; explicit ``fc_h``/``fc_w``/``strides`` skip the rule.
    """
    try:
        p = PRESETS[preset]
    except KeyError:
        raise ConfigError(f"unknown preset {preset!r}; available: {', '.join(PRESETS)}") from None
    overrides = {k: v for k, v in overrides.items() if v is not None}
    strides = overrides.pop("strides", p.strides)
    try:  # the stride list first: the size rule needs it (check_model_config names a bad one)
        check_model_config({"height": 1, "width": 1, "fc_h": 1, "fc_w": 1, "strides": strides})
    except ValueError as e:
        raise ConfigError(str(e)) from None
    strides = tuple(strides)
    fc_h, fc_w, kept = fit_grid(height, width, strides)
    if "fc_h" in overrides or "fc_w" in overrides:
        kept = strides
    base = ModelConfig(
        height=height,
        width=width,
        fc_h=fc_h,
        fc_w=fc_w,
        fc_c=p.fc_c,
        strides=kept,
        pe_levels=p.pe_levels,
        stem_dim=p.stem_dim,
        stem_layers=p.stem_layers,
        lower_width=p.lower_width,
    )
    try:
        return check_model_config({**base.to_dict(), **overrides})
    except ValueError as e:
        raise ConfigError(str(e)) from None
