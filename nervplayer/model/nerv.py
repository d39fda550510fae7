"""The NeRV network: frame index t → positional encoding → MLP stem → conv + PixelShuffle blocks → RGB."""

from __future__ import annotations

import math
from typing import Callable, cast

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

ActivationFactory = Callable[[], nn.Module]


class PositionalEncoding(nn.Module):
    """γ(t) = (sin(b^0 π t), cos(b^0 π t), …, sin(b^(L-1) π t), cos(b^(L-1) π t)), interleaved."""

    freqs: torch.Tensor

    def __init__(self, base: float, levels: int) -> None:
        super().__init__()
        self.register_buffer(
            "freqs", (base ** torch.arange(levels, dtype=torch.float64) * math.pi).float(), persistent=False
        )

    @property
    def dim(self) -> int:
        return 2 * self.freqs.numel()

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        x = t.float()[:, None] * self.freqs[None, :]
        return torch.stack([torch.sin(x), torch.cos(x)], dim=-1).flatten(1)


class NervBlock(nn.Module):
    """Conv 3×3 at low resolution (C_in → C_out·s²) → PixelShuffle(s) → activation."""

    def __init__(self, c_in: int, c_out: int, stride: int, act: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out * stride * stride, 3, 1, 1)
        self.shuffle = nn.PixelShuffle(stride)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class NeRV(nn.Module):
    """Maps normalised frame indices ``t`` (shape [B]) to frames [B, 3, height, width] in [0, 1]."""

    def __init__(self, config: ModelConfig, activation: ActivationFactory) -> None:
        super().__init__()
        self.config = config
        self.pe = PositionalEncoding(config.pe_base, config.pe_levels)
        layers: list[nn.Module] = []
        dim_in = self.pe.dim
        for _ in range(config.stem_layers):
            layers += [nn.Linear(dim_in, config.stem_dim), activation()]
            dim_in = config.stem_dim
        layers += [nn.Linear(dim_in, config.fc_h * config.fc_w * config.fc_c), activation()]
        self.stem = nn.Sequential(*layers)
        widths = config.stage_widths()
        self.blocks = nn.ModuleList(
            NervBlock(widths[i], widths[i + 1], s, activation()) for i, s in enumerate(config.strides)
        )
        self.head = nn.Conv2d(widths[-1], 3, 1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        c = self.config
        x = self.stem(self.pe(t)).view(-1, c.fc_c, c.fc_h, c.fc_w)
        *front, tail = self.blocks
        last = cast(NervBlock, tail)  # a ModuleList's items are typed as nn.Module
        for block in front:
            x = block(x)
        s = last.shuffle.upscale_factor
        x = (torch.tanh(F.pixel_shuffle(self.head_before_shuffle(last.act(last.conv(x)), s), s)) + 1) * 0.5
        return x if x.shape[-2:] == (c.height, c.width) else x[:, :, : c.height, : c.width]

    def head_before_shuffle(self, z: torch.Tensor, s: int) -> torch.Tensor:
        """The 1×1 head on the last block's input to its PixelShuffle(s): head(shuffle(z)) = shuffle(head′(z))
        with head′ = kron(W, I_s²), since the shuffle only moves values and the activation is elementwise.
        Same parameters, same values; the widest tensor is never shuffled and the head's weight gradient is a
        small matrix product at low resolution (docs/performance.md)."""
        w = self.head.weight.flatten(1)
        w = torch.kron(w, torch.eye(s * s, dtype=w.dtype, device=w.device))[:, :, None, None]
        bias = self.head.bias
        assert bias is not None  # the head is built with a bias
        return F.conv2d(z, w, bias.repeat_interleave(s * s))

    def prunable_weights(self) -> dict[str, nn.Parameter]:
        """The weights pruning acts on: stem Linear and block conv weights (not biases, not the head)."""
        out = {f"stem.{n}": p for n, p in self.stem.named_parameters() if n.endswith("weight")}
        out.update({f"blocks.{n}": p for n, p in self.blocks.named_parameters() if n.endswith("conv.weight")})
        return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
