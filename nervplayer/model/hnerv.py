"""HNeRV (Chen et al., CVPR 2023): a ConvNeXt-style encoder turns each frame into a tiny embedding, a NeRV-style
decoder upsamples it. Content-adaptive: the embeddings of every frame are stored beside the decoder.

Decoder: 1×1 conv (embedding → C0) → blocks of [k×k conv (C_i → C_{i+1}·s²) → PixelShuffle(s) → activation]
with kernels growing 1, 3, 5, 5, 5 and widths shrinking ÷1.2 per block (never below ``lower_width``), so the
parameters sit where the pixels are → 1×1 head → (tanh + 1) / 2, cropped to the frame. Decoding frame ``i`` is
``decoder(embedding[i])``; a fractional index interpolates linearly between the two nearest embeddings.

Encoder (training only, not stored): per stride, from the last to the first, a patchify conv (kernel = stride)
and a ConvNeXt block (7×7 depthwise conv, LayerNorm, 1×1 MLP ×4, GELU, residual), then a 1×1 conv to the
embedding channels.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import MAX_SIDE, MAX_STRIDES, STRIDE_RANGE
from .spec import config_int

Quantize = Callable[[str, torch.Tensor], torch.Tensor]
KERNELS = (1, 3, 5, 5, 5)
EMBEDDINGS = "embeddings"


def _identity(name: str, x: torch.Tensor) -> torch.Tensor:
    return x


def decoder_widths(c0: float, blocks: int, reduction: float, lower_width: float) -> list[int]:
    """C0, then ÷ ``reduction`` per block, at least ``lower_width``; rounded only at the end, so a budget search
    over a fractional C0 changes the count in small steps."""
    return [max(int(round(max(c0 / reduction**i, lower_width))), 1) for i in range(blocks + 1)]


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of an NCHW tensor."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(c, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = ChannelNorm(c)
        self.mlp = nn.Sequential(nn.Conv2d(c, 4 * c, 1), nn.GELU(), nn.Conv2d(4 * c, c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm(self.dw(x)))


class Encoder(nn.Module):
    def __init__(self, strides: tuple[int, ...], width: int, embed_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for s in reversed(strides):
            layers += [nn.Conv2d(c_in, width, s, stride=s), ConvNeXtBlock(width)]
            c_in = width
        layers.append(nn.Conv2d(width, embed_dim, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def frame_position(t: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The embeddings ``(i0, i1)`` and the weight ``w`` of ``i1`` that decode normalised times ``t``.

    ``t`` is ``index / N`` in float32 (:func:`~nervplayer.model.render.times`), and ``t · N`` often lands just
    below an integer index (frame i would be a blend of embeddings i − 1 and i): a ``t`` that is exactly the time
    of an integer index, computed the same way, decodes that embedding alone. Other times interpolate linearly.
    """
    t = t.float()
    pos = (t * num_frames).clamp(0, num_frames - 1)
    nearest = pos.round()
    pos = torch.where(nearest / num_frames == t, nearest, pos)
    i0 = pos.floor().long()
    i1 = (i0 + 1).clamp(max=num_frames - 1)
    return i0, i1, pos - i0.float()


def check_strides(strides: Any) -> tuple[int, ...]:
    """Decoder strides: a list of 1 to ``MAX_STRIDES`` integers in ``STRIDE_RANGE`` (NeRV's limits)."""
    lo, hi = STRIDE_RANGE
    if not (
        isinstance(strides, (list, tuple))
        and 1 <= len(strides) <= MAX_STRIDES
        and all(isinstance(s, int) and not isinstance(s, bool) and lo <= s <= hi for s in strides)
    ):
        raise ValueError(
            f"model strides must be a list of 1 to {MAX_STRIDES} integers in [{lo}, {hi}], got {strides!r}"
        )
    if math.prod(strides) > MAX_SIDE:
        raise ValueError(f"model strides {list(strides)} upscale more than {MAX_SIDE} times")
    return tuple(strides)


def check_config(height: int, width: int, config: dict[str, Any]) -> None:
    """What :class:`HNeRV` reads of a config from a file: the decoder widths (numbers; their ranges are the
    plugin's declared limits), whole numbers of channels, the strides, and the embedding grid the frame size
    implies (``ceil(side / upscale)`` cells, as :func:`fit_strides` makes it)."""
    for key in ("c0", "reduction", "lower_width"):
        value = config.get(key)
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
            raise ValueError(f"model {key} must be a number, got {value!r}")
    for key in ("embed_dim", "encoder_width"):
        config_int(config, key, 1, 1 << 16)
    up = math.prod(check_strides(config.get("strides")))
    for key, side in (("grid_h", height), ("grid_w", width)):
        if config_int(config, key, 1, MAX_SIDE) != math.ceil(side / up):
            raise ValueError(f"model {key} must be {math.ceil(side / up)} (the frame over the upscale {up})")


class HNeRV(nn.Module):
    """``forward(t)`` decodes from the stored embeddings; ``forward(t, frames, quantize)`` trains end to end."""

    content_adaptive = True
    embeddings: torch.Tensor  # a buffer: [num_frames, embed, *grid]

    def __init__(
        self, height: int, width: int, num_frames: int, config: dict[str, Any], activation: Callable[[], nn.Module]
    ) -> None:
        super().__init__()
        self.height, self.width, self.num_frames = height, width, num_frames
        strides = tuple(config["strides"])
        self.grid = (int(config["grid_h"]), int(config["grid_w"]))
        self.upscale = math.prod(strides)
        embed = int(config["embed_dim"])
        widths = decoder_widths(
            float(config["c0"]), len(strides), float(config["reduction"]), float(config["lower_width"])
        )
        self.encoder = Encoder(strides, int(config["encoder_width"]), embed)
        self.register_buffer(EMBEDDINGS, torch.zeros(num_frames, embed, *self.grid))
        self.stem = nn.Sequential(nn.Conv2d(embed, widths[0], 1), activation())
        blocks = []
        for i, s in enumerate(strides):
            k = KERNELS[min(i, len(KERNELS) - 1)]
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(widths[i], widths[i + 1] * s * s, k, padding=k // 2), nn.PixelShuffle(s), activation()
                )
            )
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(widths[-1], 3, 1)

    def decode(self, emb: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(emb))
        return ((torch.tanh(self.head(x)) + 1) * 0.5)[:, :, : self.height, : self.width]

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        gh, gw = self.grid
        pad_h, pad_w = gh * self.upscale - frames.shape[2], gw * self.upscale - frames.shape[3]
        return self.encoder(F.pad(frames, (0, pad_w, 0, pad_h), mode="replicate"))

    def forward(
        self, t: torch.Tensor, frames: torch.Tensor | None = None, quantize: Quantize | None = None
    ) -> torch.Tensor:
        if frames is not None:
            return self.decode((quantize or _identity)(EMBEDDINGS, self.embed(frames)))
        i0, i1, w = frame_position(t, self.num_frames)
        w = w.view(-1, 1, 1, 1)
        e0, e1 = self.embeddings[i0], self.embeddings[i1]
        emb = torch.where(w == 0, e0, e0 + w * (e1 - e0))  # exact at integer indices
        return self.decode(emb)

    @torch.no_grad()
    def encode_latents(self, t: torch.Tensor, frames: torch.Tensor, quantize: Quantize | None = None) -> None:
        idx = (t.float() * self.num_frames).round().long()
        self.embeddings[idx] = (quantize or _identity)(EMBEDDINGS, self.embed(frames)).to(self.embeddings.dtype)


def fit_strides(height: int, width: int, strides: tuple[int, ...], min_cells: int) -> tuple[int, int, tuple[int, ...]]:
    """Longest prefix of ``strides`` that leaves ``min_cells`` embedding cells on the shorter side."""
    short = min(height, width)
    kept: tuple[int, ...] = (strides[0],)
    for n in range(len(strides), 0, -1):
        if short / math.prod(strides[:n]) >= min_cells:
            kept = tuple(strides[:n])
            break
    up = math.prod(kept)
    return math.ceil(height / up), math.ceil(width / up), kept


def macs_per_pixel(height: int, width: int, config: dict[str, Any]) -> float:
    strides = tuple(config["strides"])
    gh, gw = int(config["grid_h"]), int(config["grid_w"])
    widths = decoder_widths(float(config["c0"]), len(strides), float(config["reduction"]), float(config["lower_width"]))
    h, w = gh, gw
    macs = int(config["embed_dim"]) * widths[0] * h * w
    for i, s in enumerate(strides):
        k = KERNELS[min(i, len(KERNELS) - 1)]
        macs += widths[i] * widths[i + 1] * s * s * k * k * h * w
        h, w = h * s, w * s
    macs += widths[-1] * 3 * h * w
    return macs / (height * width)
