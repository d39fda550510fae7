"""The version of nervplayer: its one source (``pyproject.toml`` reads it from here, run folders and ``.nerv``
headers record it)."""

__version__ = "0.1.0"
