"""The exception types users see. Every error a user can cause is a :class:`NervError`.

The CLI prints ``str(error)`` on one line and exits with status 2; the GUI shows it in a dialog.
"""

from __future__ import annotations


class NervError(Exception):
    """Base class for every error caused by input (files, options, plugins, devices)."""


class Cancelled(NervError):
    """Work stopped because the user (or quitting the app) asked it to: not a failure to report."""


class VideoError(NervError):
    """A video or image folder is missing, unreadable or has no usable frames."""


class ConfigError(NervError):
    """An option value is invalid (unknown preset, negative epochs, frame range outside the clip...)."""


class PluginError(NervError):
    """A plugin is unknown, failed to load, or was given bad parameters."""


class ResumeError(NervError):
    """A run folder cannot be resumed with the given video or options."""


class DeviceError(NervError):
    """The requested device is unavailable, or it ran out of memory."""


class NervFormatError(NervError):
    """A ``.nerv`` file is not valid: wrong magic, truncated, corrupt, or needs a plugin that is missing."""


class MemoryBudgetError(NervError):
    """Decoding a frame would need more memory than the budget allows, even a band of rows at a time."""
