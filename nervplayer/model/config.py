"""The architecture of one NeRV model as a plain, JSON-serialisable dataclass."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any


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
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        d = dict(d)
        if "strides" in d:
            d["strides"] = tuple(int(s) for s in d["strides"])
        return cls(**d)
