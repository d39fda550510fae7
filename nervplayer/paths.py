"""Where nervplayer keeps its files: platformdirs' locations for this operating system, one function each.

``nervplayer paths`` lists them. On Linux they follow the XDG variables (``XDG_CONFIG_HOME`` and friends), so a
test or a user can move them all.
"""

from __future__ import annotations

from pathlib import Path

APP = "nervplayer"


def config_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def settings_file() -> Path:
    """The preferences (:mod:`nervplayer.settings`), JSON."""
    return config_dir() / "settings.json"


def window_state_file() -> Path:
    """What the player remembers on its own: recent files, the last frame of each, the window layout."""
    return config_dir() / "window-state.ini"


def data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def plugin_dir() -> Path:
    """Third-party plugins the user drops in (loaded unless ``--safe-mode``)."""
    return data_dir() / "plugins"


def runs_dir() -> Path:
    """The run folders of fits started in the player."""
    return data_dir() / "runs"


def cache_dir() -> Path:
    """Frames of clips too long for memory, while the player has them open (deleted when closed)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def log_dir() -> Path:
    """Tracebacks of unexpected errors, one file each."""
    import platformdirs

    return Path(platformdirs.user_log_dir(APP, appauthor=False))


def all_paths() -> dict[str, Path]:
    """Every location by what it holds, in the order ``nervplayer paths`` prints them."""
    return {
        "settings": settings_file(),
        "window state": window_state_file(),
        "user plugins": plugin_dir(),
        "fit runs": runs_dir(),
        "frame cache": cache_dir(),
        "logs": log_dir(),
    }
