"""The architecture of one NeRV model as a plain, JSON-serialisable dataclass."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .complexity import layer_costs


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a NeRV network (and nothing about training).

    The network produces ``fc_h * prod(strides)`` × ``fc_w * prod(strides)`` pixels and crops the
    top-left ``height`` × ``width`` of them (see :mod:`nervplayer.model.sizing`).
    """

    height: int
    width: int
    fc_h: int = 9
    fc_w: int = 16
    fc_c: int = 26
    strides: tuple[int, ...] = (5, 2, 2, 2, 2)
    pe_base: float = 1.25
    pe_levels: int = 40
    stem_dim: int = 512
    stem_layers: int = 1
    expansion: float = 1.0
    reduction: int = 2
    lower_width: int = 96
    activation: str = "silu"
    activation_params: dict[str, Any] = field(default_factory=dict)

    @property
    def upscale(self) -> int:
        return math.prod(self.strides)

    @property
    def padded_size(self) -> tuple[int, int]:
        return self.fc_h * self.upscale, self.fc_w * self.upscale

    def stage_widths(self) -> list[int]:
        """Channel widths: fc_c, then the output width of each block (the paper's channel rule)."""
        widths = [self.fc_c]
        for i in range(len(self.strides)):
            c_in = widths[-1]
            c_out = int(c_in * self.expansion) if i == 0 else max(c_in // self.reduction, self.lower_width)
            widths.append(c_out)
        return widths

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["strides"] = list(self.strides)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Build and validate (:func:`check_model_config`); a bad value is a ``ValueError``."""
        return check_model_config(d)


# ---------------------------------------------------------------------------------------------- limits
# The ranges a model config must stay within, wherever it comes from (fit options, a run folder, a .nerv
# header). The .nerv reader applies the same function, so whatever fits can be saved and whatever loads fits.
MAX_SIDE = 16384  # frame height / width and the rendered (padded) size
MAX_CHANNELS = 1 << 16  # fc_c, stem_dim, lower_width, reduction and every stage width
PE_BASE_RANGE = (1e-3, 1e3)
PE_LEVELS_RANGE = (1, 4096)
STEM_LAYERS_RANGE = (0, 16)
EXPANSION_RANGE = (1e-3, 64.0)
MAX_STRIDES = 12
STRIDE_RANGE = (1, 32)
MAX_PARAMS = 1 << 26  # ~5x NeRV-L
MAX_ACTIVATIONS = 1 << 31  # elements of the largest feature map of one frame

_INT_RANGES = {
    "height": (1, MAX_SIDE),
    "width": (1, MAX_SIDE),
    "fc_h": (1, MAX_SIDE),
    "fc_w": (1, MAX_SIDE),
    "fc_c": (1, MAX_CHANNELS),
    "pe_levels": PE_LEVELS_RANGE,
    "stem_dim": (1, MAX_CHANNELS),
    "stem_layers": STEM_LAYERS_RANGE,
    "reduction": (1, MAX_CHANNELS),
    "lower_width": (1, MAX_CHANNELS),
}
_FLOAT_RANGES = {"pe_base": PE_BASE_RANGE, "expansion": EXPANSION_RANGE}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_model_config(d: dict[str, Any]) -> ModelConfig:
    """Validate a model config given as a dict and build it; any problem is a ``ValueError`` naming the key.

    Types and ranges of every field (the limits above), then what they imply: the rendered size covers the
    frame and stays within :data:`MAX_SIDE`, every stage width is in range, no feature map of one frame holds
    more than :data:`MAX_ACTIVATIONS` values and the network has at most :data:`MAX_PARAMS` parameters.
    Callers turn the ``ValueError`` into their own error type (``ConfigError``, ``NervFormatError``).
    """
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown model option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for key, (lo, hi) in _INT_RANGES.items():
        if key in d and not (_is_int(d[key]) and lo <= d[key] <= hi):
            raise ValueError(f"model {key} must be an integer in [{lo}, {hi}], got {d[key]!r}")
    for key, (flo, fhi) in _FLOAT_RANGES.items():
        v = d.get(key, flo)
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and flo <= v <= fhi):
            raise ValueError(f"model {key} must be a number in [{flo:g}, {fhi:g}], got {d[key]!r}")
    strides = d.get("strides", [1])
    if not (
        isinstance(strides, (list, tuple))
        and 1 <= len(strides) <= MAX_STRIDES
        and all(_is_int(s) and STRIDE_RANGE[0] <= s <= STRIDE_RANGE[1] for s in strides)
    ):
        raise ValueError(
            f"model strides must be a list of 1 to {MAX_STRIDES} integers in "
            f"[{STRIDE_RANGE[0]}, {STRIDE_RANGE[1]}] (e.g. strides=[5,2,2]), got {strides!r}"
        )
    if not isinstance(d.get("activation", ""), str) or not isinstance(d.get("activation_params", {}), dict):
        raise ValueError("model activation must be a plugin id and activation_params a mapping")
    missing = [k for k in ("height", "width") if k not in d]
    if missing:
        raise ValueError(f"model config lacks {', '.join(missing)}")
    cfg = ModelConfig(**{**d, "strides": tuple(d.get("strides", ModelConfig.strides))})
    ph, pw = cfg.padded_size
    if not (cfg.height <= ph <= MAX_SIDE and cfg.width <= pw <= MAX_SIDE):
        raise ValueError(
            f"model renders {pw}x{ph} (fc grid {cfg.fc_w}x{cfg.fc_h} x {cfg.upscale}), which does not "
            f"cover the {cfg.width}x{cfg.height} frame or exceeds {MAX_SIDE}"
        )
    widths = cfg.stage_widths()
    if not all(1 <= c <= MAX_CHANNELS for c in widths):
        raise ValueError(f"model channel widths {widths} are outside [1, {MAX_CHANNELS}]")
    layers = layer_costs(cfg)
    largest = max(math.prod(layer.out_shape) for layer in layers)
    if largest > MAX_ACTIVATIONS:
        raise ValueError(f"model feature maps of {largest:,} values per frame exceed the limit of {MAX_ACTIVATIONS:,}")
    params = sum(layer.params for layer in layers)
    if params > MAX_PARAMS:
        raise ValueError(f"model has {params:,} parameters (limit {MAX_PARAMS:,})")
    return cfg
