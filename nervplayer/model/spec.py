"""``ModelSpec``: one concrete network of any architecture plugin, as plain JSON-serialisable data.

Run folders and ``.nerv`` headers store it as two entries: ``model`` (the flattened dict of
:meth:`ModelSpec.model_dict`: frame size, activation and the architecture's own config keys; for ``nerv`` this
is exactly the format-1 :class:`~nervplayer.model.ModelConfig` dict) and ``plugins.model`` (the architecture
plugin's id and version). A record without ``plugins.model`` is a format-1 NeRV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..plugins.api import Frames
from .config import ModelConfig

#: keys of ``model_dict`` that are not the architecture's config
COMMON_KEYS = ("height", "width", "activation", "activation_params")
NERV = "nerv"


def config_int(config: dict[str, Any], key: str, lo: int, hi: int) -> int:
    """``config[key]``, which must be an integer in [lo, hi]; else a ``ValueError`` naming the key (what an
    architecture's :meth:`~nervplayer.plugins.api.ModelArchitecture.check` raises)."""
    value = config.get(key)
    if not (isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi):
        raise ValueError(f"model {key} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


@dataclass(frozen=True)
class ModelSpec:
    arch: str
    version: str
    height: int
    width: int
    num_frames: int
    config: dict[str, Any]  # the architecture's complete config (``ModelArchitecture.configure``)
    activation: str = "silu"
    activation_params: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> Frames:
        return Frames(self.height, self.width, self.num_frames)

    def model_dict(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "width": self.width,
            **self.config,
            "activation": self.activation,
            "activation_params": dict(self.activation_params),
        }

    def plugin_ref(self) -> dict[str, str]:
        return {"id": self.arch, "version": self.version}

    @classmethod
    def from_records(cls, model: dict[str, Any], plugin: dict[str, Any] | None, num_frames: int) -> ModelSpec:
        """From a ``model`` dict and a ``plugins.model`` entry (None: a format-1 NeRV)."""
        plugin = plugin or {"id": NERV, "version": "1.0"}
        config = {k: v for k, v in model.items() if k not in COMMON_KEYS}
        return cls(
            str(plugin["id"]),
            str(plugin["version"]),
            int(model["height"]),
            int(model["width"]),
            int(num_frames),
            config,
            str(model.get("activation", "silu")),
            dict(model.get("activation_params") or {}),
        )

    @classmethod
    def from_nerv(cls, config: ModelConfig, num_frames: int, version: str = "1.0") -> ModelSpec:
        return cls.from_records(config.to_dict(), {"id": NERV, "version": version}, num_frames)

    def nerv_config(self) -> ModelConfig:
        """The :class:`ModelConfig` of a ``nerv`` spec."""
        if self.arch != NERV:
            raise ValueError(f"a {self.arch!r} model has no NeRV ModelConfig")
        return ModelConfig.from_dict(self.model_dict())
