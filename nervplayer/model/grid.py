"""A latent-grid video model of the Cool-chic / C3 family: the video *is* a stack of learnable spatio-temporal
latent grids, and a synthesis network of a few hundred multiply-adds per pixel turns them into pixels.

Level ``l`` (0 = finest) is a grid [T_l, C, H_l, W_l] with H_l, W_l, T_l halving per level from the finest
grid's size. Decoding frame index ``i`` (fractional allowed): each level is interpolated linearly in time at
``u = i / (N − 1)``, upsampled bilinearly to the frame size, the levels are concatenated, and the synthesis
(1×1 conv → act → 1×1 conv → act → 1×1 conv to RGB, then a residual 3×3 conv) gives the frame through
(tanh + 1) / 2. No decoding step is larger than a 1×1 conv, so decoding is cheap on a CPU.

Training runs this many times per second, so the sampling is written as matrix products: a level's time
interpolation is a [B, T_l] weight matrix, its bilinear upsampling one [W, W_l] and one [H, H_l] matrix (the
weights F.interpolate gives, built once per size). The first 1×1 conv mixes each level's channels before the
upsampling along the height (both are linear and each row of upsampling weights sums to 1, so they commute),
which makes that upsampling, the levels' sum and the first layer one matrix product [H, ΣH_l] × [ΣH_l, W·hidden]
at full resolution. The frames are pixel-major ([B, H, W, C] in memory), where the other 1×1 convs are matrix
products too. The frames equal the formula above to float rounding (tests/test_grid_speed.py).

The grids are stored as ``latents`` (each with its own quantization step and entropy model); they are kept
``latent_gain`` times smaller than they act, which gives them a larger effective learning rate under Adam
than the synthesis weights (Cool-chic trains latents at a higher rate for the same reason).

A frame reads two time slices of each level: :meth:`LatentGrid.latent_windows` says which, and ``forward`` takes
the levels cut to them (``windows``), so a rate-aware step quantizes and rates only those (train/window.py).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, cast

import torch
import torch.nn.functional as F
from torch import nn

from .spec import config_int


def level_shapes(num_frames: int, config: dict[str, Any]) -> list[tuple[int, int, int, int]]:
    c = int(config["channels"])
    gt, gh, gw = int(config["grid_t"]), int(config["grid_h"]), int(config["grid_w"])
    return [
        (max(1, math.ceil(gt / 2**level)), c, max(1, math.ceil(gh / 2**level)), max(1, math.ceil(gw / 2**level)))
        for level in range(int(config["levels"]))
    ]


def check_config(height: int, width: int, num_frames: int, config: dict[str, Any]) -> None:
    """What :class:`LatentGrid` reads of a config from a file: whole numbers of levels, channels and hidden units
    (their ranges are the plugin's declared limits), a latent gain, and a finest grid within the clip: at most
    one cell per pixel and one time slice per frame, as the plugin's ``configure`` makes it."""
    for key in ("levels", "channels", "hidden"):
        config_int(config, key, 1, 1 << 16)
    gain = config.get("latent_gain")
    if not (isinstance(gain, (int, float)) and not isinstance(gain, bool) and math.isfinite(gain)):
        raise ValueError(f"model latent_gain must be a number, got {gain!r}")
    for key, most in (("grid_h", height), ("grid_w", width), ("grid_t", num_frames)):
        config_int(config, key, 1, most)


def _hat(src: torch.Tensor, n: int) -> torch.Tensor:
    """[len(src), n]: the linear-interpolation weights of positions ``src`` (within [0, n − 1]) over n samples."""
    return (1 - (src.unsqueeze(-1) - torch.arange(n, dtype=src.dtype, device=src.device)).abs()).clamp_min(0)


@functools.lru_cache(maxsize=64)
def _resize_weights(size: int, n: int, device: torch.device) -> torch.Tensor:
    """[size, n]: what F.interpolate(mode="bilinear", align_corners=False) weighs n samples with at each of
    ``size`` outputs along one axis (its source position, clamped to the samples). Cached, so made outside
    inference mode whatever the first caller's mode: a decode's tensor would be refused by a fine-tune after it."""
    with torch.inference_mode(False):
        dst = torch.arange(size, dtype=torch.float32, device=device)
        return _hat(((dst + 0.5) * (n / size) - 0.5).clamp(0, n - 1), n)


class Pointwise(nn.Conv2d):
    """A 1×1 convolution run as a matrix product over pixel-major features: ``x`` is [B, C, H, W] with channels
    last in memory (as the grids' sampling leaves it), and so is the result."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1), self.bias).permute(0, 3, 1, 2)


@functools.lru_cache(maxsize=64)
def _stacked_resize_weights(size: int, ns: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """[size, sum(ns)]: :func:`_resize_weights` of each n side by side (a sum of upsampled levels)."""
    with torch.inference_mode(False):
        return torch.cat([_resize_weights(size, n, device) for n in ns], dim=1)


class LevelMix(nn.Conv2d):
    """The first 1×1 conv, on the levels' concatenated channels, applied to the levels before their upsampling
    along the height: each level is mixed at its own height, and one matrix product upsamples and sums them."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 1)

    def forward(self, levels: list[torch.Tensor], height: int) -> torch.Tensor:  # type: ignore[override]  # not an image
        """``levels``: [B, H_l, W, C_l] each, upsampled along the width; the layer's output [B, hidden, H, W]
        (channels last in memory)."""
        weight, parts, first = self.weight.flatten(1), [], 0
        for x in levels:
            parts.append((x @ weight[:, first : first + x.shape[-1]].T).flatten(2))  # [B, H_l, W·hidden]
            first += x.shape[-1]
        b, _, width, hidden = *levels[0].shape[:3], weight.shape[0]
        heights = _stacked_resize_weights(height, tuple(x.shape[1] for x in levels), weight.device)
        bias = cast(torch.Tensor, self.bias)  # built with a bias
        x = torch.baddbmm(bias.repeat(width), heights.expand(b, -1, -1), torch.cat(parts, dim=1))
        return x.view(b, height, width, hidden).permute(0, 3, 1, 2)


class LatentGrid(nn.Module):
    def __init__(
        self, height: int, width: int, num_frames: int, config: dict[str, Any], activation: Callable[[], nn.Module]
    ) -> None:
        super().__init__()
        self.height, self.width, self.num_frames = height, width, num_frames
        self.gain = float(config["latent_gain"])
        self.grids = nn.ParameterList(
            nn.Parameter(torch.randn(shape) * 0.01) for shape in level_shapes(num_frames, config)
        )
        c, hidden = int(config["levels"]) * int(config["channels"]), int(config["hidden"])
        self.synthesis = nn.Sequential(
            LevelMix(c, hidden), activation(), Pointwise(hidden, hidden), activation(), Pointwise(hidden, 3)
        )
        self.refine = nn.Conv2d(3, 3, 3, padding=1)
        #: time slices of each level (a level passed to ``forward`` cut to a window has fewer)
        self.slices = [len(g) for g in self.grids]

    def _times(self, t: torch.Tensor) -> torch.Tensor:
        """Where frames ``t`` (index / N) sit between the first and the last frame, in 0..1."""
        return (t.float() * self.num_frames / max(self.num_frames - 1, 1)).clamp(0, 1)

    def _level(self, grid: torch.Tensor, u: torch.Tensor, slices: int, start: int) -> torch.Tensor:
        """The level (of ``slices`` time slices; ``grid`` holds them from ``start`` on) at times ``u`` [B],
        upsampled along the width: [B, H_l, W, C]."""
        n, c, h, w = grid.shape
        x = (_hat(u * (slices - 1) - start, n) * self.gain) @ grid.reshape(n, c * h * w)  # [B, C·h·w]
        x = x.view(-1, c, h, w) @ _resize_weights(self.width, w, grid.device).T  # [B, C, h, W]
        return x.permute(0, 2, 3, 1)

    def latent_windows(self, t: torch.Tensor) -> dict[str, tuple[int, int]]:
        """The time slices [start, stop) of each level (``grids.l``) that frames ``t`` read: the two around each
        frame's time, and the next one too where a frame falls on a slice (its weight there is zero: a margin for
        float rounding, so the window never drops a slice the whole level would have weighed)."""
        u, windows = self._times(t), {}
        for level, slices in enumerate(self.slices):
            at = u * (slices - 1)
            start, stop = int(at.min().floor()), min(slices, int(at.max().floor()) + 2)
            windows[f"grids.{level}"] = (start, stop)
        return windows

    def forward(self, t: torch.Tensor, windows: dict[str, int] | None = None) -> torch.Tensor:
        """Frames at ``t``; ``windows``: the levels were passed cut to the windows of :meth:`latent_windows`,
        level ``l`` from slice ``windows["grids.l"]`` on."""
        u, starts = self._times(t), windows or {}
        levels = [
            self._level(grid, u, slices, starts.get(f"grids.{level}", 0))
            for level, (grid, slices) in enumerate(zip(self.grids, self.slices))
        ]
        x = self.synthesis[0](levels, self.height)
        for layer in list(self.synthesis)[1:]:
            x = layer(x)
        return (torch.tanh(x + self.refine(x)) + 1) * 0.5


def macs_per_pixel(config: dict[str, Any]) -> float:
    c, hidden = int(config["levels"]) * int(config["channels"]), int(config["hidden"])
    interpolation = 6 * c  # time lerp + bilinear, per channel
    return interpolation + c * hidden + hidden * hidden + hidden * 3 + 3 * 3 * 9
