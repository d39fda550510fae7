"""Synthetic test clips: moving shapes over a gradient, written with PyAV or as PNG folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def moving_shapes(n: int = 16, h: int = 64, w: int = 64) -> np.ndarray:
    """uint8 [n, h, w, 3]: a red gradient, a yellow disc moving right and a blue bar moving up."""
    ys, xs = np.mgrid[0:h, 0:w]
    frames = np.zeros((n, h, w, 3), np.uint8)
    for t in range(n):
        f = frames[t]
        f[..., 0] = xs * 255 // w
        f[..., 2] = ys * 128 // h
        cx, cy = w * (0.15 + 0.5 * t / n), h * (0.3 + 0.2 * t / n)
        f[(xs - cx) ** 2 + (ys - cy) ** 2 < (min(h, w) / 8) ** 2] = (255, 220, 40)
        top = int(h * (0.75 - 0.3 * t / n))
        f[top : top + h // 8, w // 2 : w // 2 + w // 3] = (40, 90, 250)
    return frames


def write_video(
    path: Path,
    frames: np.ndarray,
    codec: str = "libx264",
    pix_fmt: str = "yuv444p",
    options: dict | None = None,
    fps: int = 25,
) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        stream.options = options if options is not None else ({"crf": "0"} if codec == "libx264" else {})
        for f in frames:
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format=pix_fmt)
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_png_folder(folder: Path, frames: np.ndarray, suffix: str = ".png") -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame_{i + 1}{suffix}")  # unpadded: natural sort must hold
    return folder
