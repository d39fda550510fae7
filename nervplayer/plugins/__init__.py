"""Plugins: registries of activations, losses and LR schedulers, and the one loader for all sources.

``get_registry()`` returns the process-wide registry, loaded on first use; ``configure(safe_mode=...)`` chooses
how it is loaded (the CLI's ``--safe-mode``).
"""

from __future__ import annotations

import threading
from pathlib import Path

from .api import API_VERSION, KINDS, Param, PluginEntry, Registrar
from .loader import builtin_plugin_dir, load_plugins, user_plugin_dir
from .registry import LoadRecord, Registry

_lock = threading.Lock()
_registry: Registry | None = None
_options: dict = {"safe_mode": False, "user_dir": None}


def configure(safe_mode: bool = False, user_dir: Path | None = None) -> None:
    """Set how the global registry loads; drops an already loaded one."""
    global _registry
    with _lock:
        _options.update(safe_mode=safe_mode, user_dir=user_dir)
        _registry = None


def options() -> dict:
    """How the global registry loads (``configure``'s arguments): a fit's child process loads the same way."""
    with _lock:
        return dict(_options)


def get_registry() -> Registry:
    global _registry
    with _lock:
        if _registry is None:
            _registry = load_plugins(**_options)
        return _registry


__all__ = [
    "API_VERSION",
    "KINDS",
    "Param",
    "PluginEntry",
    "Registrar",
    "Registry",
    "LoadRecord",
    "get_registry",
    "configure",
    "options",
    "load_plugins",
    "builtin_plugin_dir",
    "user_plugin_dir",
]
