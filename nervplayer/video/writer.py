"""Writing frames: PNG files (atomically)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes


def write_png(path: str | Path, frame: np.ndarray) -> None:
    """Save a uint8 H×W×3 frame as PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
