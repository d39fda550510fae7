"""nervplayer: fit NeRV neural representations to videos, compress them to .nerv files, play them by index.

The public API, in the style of timm (everything is imported lazily, so ``import nervplayer`` stays cheap)::

    import nervplayer
    nervplayer.list_models()                      # ['nerv-l', 'nerv-m', 'nerv-s', 'nerv-xs']
    nervplayer.list_plugins("loss")               # ['fusion1', 'fusion10', ..., 'l1', 'l2', ...]
    model = nervplayer.create_model("nerv-s", height=720, width=1280)   # a NeRV (torch.nn.Module)
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
    from .codec import NervVideo
    from .model import NeRV

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
    """Names of the model presets that match the shell-style ``pattern``, sorted."""
    import fnmatch

    from .model import PRESETS

    return sorted(name for name in PRESETS if fnmatch.fnmatch(name, pattern))


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
    *,
    activation: str = "silu",
    activation_params: dict[str, Any] | None = None,
    **overrides: Any,
) -> NeRV:
    """A freshly initialised NeRV of preset ``name`` for frames of ``height`` × ``width``.

    ``activation`` is any activation plugin; ``overrides`` replace fields of the model config (``stem_dim=1024``).
    """
    from .model import NeRV, model_config
    from .plugins import get_registry

    params = dict(activation_params or {})
    config = model_config(name, height, width, activation=activation, activation_params=params, **overrides)
    return NeRV(config, get_registry().factory("activation", activation, params))


def open_nerv(path: str | os.PathLike[str], device: str = "cpu") -> NervVideo:
    """Open a ``.nerv`` file for decoding frames by index (``device="auto"`` picks CUDA, then MPS, then CPU)."""
    from .codec import NervVideo

    return NervVideo.open(path, device=device)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", "list_models", "list_plugins", "create_model", "open_nerv", *_EXPORTS]
