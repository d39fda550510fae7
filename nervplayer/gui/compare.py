"""Pixel maths of the ground-truth compare: PSNR of one frame and the difference heatmaps (numpy only)."""

from __future__ import annotations

import numpy as np

from .state import DiffMode


def psnr(image: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of two uint8 frames, on RGB scaled to [0, 1] (the core's definition; at most 100 dB)."""
    d = image.astype(np.int16) - truth.astype(np.int16)
    mse = float(np.square(d, dtype=np.int32).sum(dtype=np.int64)) / d.size / 255.0**2
    return float(-10 * np.log10(max(mse, 1e-10)))


def _lut(stops: list[tuple[float, tuple[int, int, int]]], n: int) -> np.ndarray:
    x = np.linspace(0, 1, n)
    pos = [s[0] for s in stops]
    return np.stack([np.interp(x, pos, [s[1][c] for s in stops]) for c in range(3)], axis=1).round().astype(np.uint8)


# Magma-like, starting at pure black so that "no error" is black.
ABS_LUT = _lut(
    [(0.0, (0, 0, 0)), (0.25, (80, 18, 123)), (0.5, (183, 55, 121)), (0.75, (252, 137, 97)), (1.0, (252, 253, 191))],
    256,
)
# Diverging around black: blue where the reconstruction is darker than the truth, red-yellow where brighter.
_NEG = _lut([(0.0, (0, 0, 0)), (0.5, (40, 100, 230)), (1.0, (160, 225, 255))], 256)
_POS = _lut([(0.0, (0, 0, 0)), (0.5, (225, 55, 40)), (1.0, (255, 230, 120))], 256)
SIGNED_LUT = np.concatenate([_NEG[::-1], _POS[1:]])  # index 255 = zero error


def error_range(mode: DiffMode) -> tuple[float, float]:
    """The pixel-error values (0..255 units) at the two ends of the colour scale."""
    top = 255.0 / mode.gain
    return (-top, top) if mode is DiffMode.SIGNED else (0.0, top)


def lut(mode: DiffMode) -> np.ndarray:
    return SIGNED_LUT if mode is DiffMode.SIGNED else ABS_LUT


def difference(image: np.ndarray, truth: np.ndarray, mode: DiffMode) -> np.ndarray:
    """The heatmap (uint8 H×W×3) of reconstruction minus truth, averaged over RGB, times the mode's gain."""
    d = image.astype(np.int16) - truth.astype(np.int16)
    if mode is DiffMode.SIGNED:
        err = np.rint(d.sum(axis=2, dtype=np.int32) * np.float32(mode.gain / 3)).astype(np.int32)
        return SIGNED_LUT[np.clip(err, -255, 255) + 255]
    err = np.rint(np.abs(d).sum(axis=2, dtype=np.int32) * np.float32(mode.gain / 3)).astype(np.int32)
    return ABS_LUT[np.minimum(err, 255)]
