"""The bundled sample: frames 0-47 of Big Buck Bunny (``sample.mp4``) and the NeRV fitted to it
(``sample.nerv``, made by ``resources/make_sample.py``).

A checkout keeps them in ``resources/``; a wheel and the PyInstaller bundle carry that folder inside the package
as ``nervplayer/_sample``.
"""

from __future__ import annotations

from pathlib import Path


def sample_dir() -> Path | None:
    package = Path(__file__).resolve().parent
    for folder in (package / "_sample", package.parent / "resources"):
        if (folder / "sample.mp4").is_file():
            return folder
    return None


def sample_video() -> Path | None:
    """The sample clip, or None where it was left out."""
    folder = sample_dir()
    return folder / "sample.mp4" if folder else None


def sample_nerv() -> Path | None:
    """The sample's ``.nerv`` (what the player opens on first run), or None where it was left out."""
    folder = sample_dir()
    return folder / "sample.nerv" if folder and (folder / "sample.nerv").is_file() else None
