"""nervplayer: fit NeRV neural representations to videos, compress them to .nerv files, play them by index.

The public API, in the style of timm (everything is imported lazily, so ``import nervplayer`` stays cheap)::

    import nervplayer
    nervplayer.list_models()                      # ['grid', 'hnerv', 'nerv', 'nerv-l', 'nerv-m', 'nerv-s', ...]
    nervplayer.list_plugins("loss")               # ['fusion1', 'fusion10', ..., 'l1', 'l2', ...]
    model = nervplayer.create_model("hnerv", height=180, width=320, params=300_000)   # a torch.nn.Module
    video = nervplayer.open_nerv("clip.nerv")     # NervVideo: video.frame(17), video.decode([0, 5])

Training is ``Fitter(FitConfig(...), run_dir).run()`` (a generator of events); ``open_run`` opens a run folder;
``get_registry`` returns the plugin registries; every user-caused error is a ``NervError``.
The GUI lives in :mod:`nervplayer.gui`.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from .codec import NervVideo

from .version import __version__

_EXPORTS = {
    "FitConfig": "train",
    "Fitter": "train",
    "open_run": "train",
    "NervVideo": "codec",
    "get_registry": "plugins",
    "NervError": "errors",
}


def list_models(pattern: str = "*") -> list[str]:
    """Names ``create_model`` takes that match the shell-style ``pattern``, sorted: every installed architecture
    (``nerv``, ``hnerv``, ``grid``, plugins) and every preset of one (``nerv-s``, ...)."""
    import fnmatch

    return sorted(name for name in _model_names() if fnmatch.fnmatch(name, pattern))


def _model_names() -> dict[str, tuple[str, str | None]]:
    """name → (architecture, preset or None)."""
    from .model import architectures

    names: dict[str, tuple[str, str | None]] = {}
    for entry in architectures.list_models():
        names[entry.id] = (entry.id, None)
        names.update({preset: (entry.id, preset) for preset in architectures.presets(entry.id)})
    return names


def list_plugins(kind: str) -> list[str]:
    """Ids of the installed plugins of one kind (``activation``, ``loss``, ``scheduler``), sorted."""
    from .errors import PluginError
    from .plugins import KINDS, get_registry

    if kind not in KINDS:
        raise PluginError(f"unknown plugin kind {kind!r}; kinds: {', '.join(KINDS)}")
    return list(get_registry().ids(kind))


def create_model(
    name: str = "nerv-s",
    height: int = 720,
    width: int = 1280,
    num_frames: int = 132,
    *,
    params: int | None = None,
    activation: str = "silu",
    activation_params: dict[str, Any] | None = None,
    **overrides: Any,
) -> torch.nn.Module:
    """A freshly initialised network for ``num_frames`` frames of ``height`` × ``width``: ``name`` is an
    architecture or a preset (``list_models()``); ``params`` sizes it to that many stored values (±5 %);
    ``overrides`` set the architecture's parameters (``stem_dim=1024``); ``activation`` is any activation plugin."""
    from .errors import ConfigError
    from .model import architectures
    from .plugins.api import Frames

    names = _model_names()
    if name not in names:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(sorted(names))}")
    arch, preset = names[name]
    spec = architectures.resolve(
        arch, Frames(height, width, num_frames), overrides, preset, params, activation, activation_params
    )
    return architectures.build(spec)


def open_nerv(path: str | os.PathLike[str], device: str = "cpu") -> NervVideo:
    """Open a ``.nerv`` file for decoding frames by index (``device="auto"`` picks CUDA, then MPS, then CPU)."""
    from .codec import NervVideo

    return NervVideo.open(path, device=device)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", "list_models", "list_plugins", "create_model", "open_nerv", *_EXPORTS]
