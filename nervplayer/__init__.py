"""nervplayer: fit NeRV neural representations to videos, compress them to .nerv files, play them by index.

The headless core's public API in a few names (imported lazily, so ``import nervplayer`` stays cheap):
``FitConfig`` and ``Fitter`` (training as a generator of events), ``open_run`` (a run folder),
``NervVideo`` (open a .nerv file and decode frames by index) and ``registry`` (the plugin registries).
The GUI lives in :mod:`nervplayer.gui`.
"""
from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {"FitConfig": "train", "Fitter": "train", "open_run": "train", "NervVideo": "codec",
            "registry": "plugins", "NervError": "errors"}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", *_EXPORTS]
