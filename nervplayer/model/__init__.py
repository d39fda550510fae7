"""The NeRV network, its config, presets and the size rule."""

from .config import ModelConfig
from .nerv import NeRV, count_parameters
from .presets import PRESETS, Preset, model_config
from .sizing import fit_grid

__all__ = ["ModelConfig", "NeRV", "count_parameters", "PRESETS", "Preset", "model_config", "fit_grid"]
