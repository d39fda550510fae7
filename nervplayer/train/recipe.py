"""An architecture's training recipe: the learning rate, loss and rate-aware training a model fits best with
(``ModelArchitecture.recipe``: the grid trains rate-aware on MSE at lr 1e-2), taken wherever a fit's config leaves
them unset (None); the paper's recipe (:data:`PAPER`) where the architecture names none.

A config is resolved once, where its fit is built (:class:`~.fit.Fitter`, the planner's probe), so a run folder's
record holds what it trained with, and the configs a study or a plan derives for several architectures each take
their own model's recipe.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..errors import PluginError
from ..model import architectures
from ..plugins import Registry
from .config import FitConfig

# NeRV's: Adam at 5e-4, Fusion6 (L1 and SSIM), no quantization in training
PAPER: dict[str, Any] = {"lr": 5e-4, "qat": False, "rate_lambda": 0.0, "loss": "fusion6"}
KINDS: dict[str, type] = {"lr": float, "qat": bool, "rate_lambda": float, "loss": str}  # what a recipe may set


def recipe_of(arch: str, plugins: Registry | None = None) -> dict[str, Any]:
    """``arch``'s recipe, checked: a plugin's recipe that sets anything else, or a value of the wrong kind, is a
    :class:`PluginError` naming it."""
    entry, impl = architectures.architecture(arch, plugins)
    recipe = dict(getattr(impl, "recipe", None) or {})
    for key, value in recipe.items():
        kind = KINDS.get(key)
        if kind is None:
            raise PluginError(f"model {entry.id!r}: its recipe sets {key!r}; a recipe sets {', '.join(KINDS)}")
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if kind is str:
            ok = isinstance(value, str) and bool(value)
        else:
            ok = isinstance(value, bool) if kind is bool else number and value >= 0 and (key != "lr" or value > 0)
        if not ok:
            raise PluginError(f"model {entry.id!r}: its recipe's {key} must be {_what(key)}, got {value!r}")
    return recipe


def _what(key: str) -> str:
    return {"lr": "a positive number", "qat": "true or false", "loss": "a loss plugin's id"}.get(key, "a number >= 0")


def resolve_recipe(config: FitConfig, plugins: Registry | None = None) -> FitConfig:
    """``config`` with every unset recipe field set: from its architecture's recipe, else the paper's. A fit that
    turns quantization off (``qat=False``) takes no rate term from the recipe, and one with a rate term or soft
    rounding is quantization-aware."""
    unset = [key for key in PAPER if getattr(config, key) is None]
    if not unset:
        return config
    recipe = recipe_of(config.arch, plugins)
    values = {key: recipe.get(key, PAPER[key]) for key in unset}
    if "rate_lambda" in values and config.qat is False:
        values["rate_lambda"] = 0.0
    if "qat" in values and (values.get("rate_lambda", config.rate_lambda) or config.soft_rounding):
        values["qat"] = True
    return dataclasses.replace(config, **values)


def recipe_defaults(arch: str, plugins: Registry | None = None) -> dict[str, Any]:
    """What a fit of ``arch`` trains with where nothing is set (a form shows these when the model is chosen)."""
    return {**PAPER, **recipe_of(arch, plugins)}
