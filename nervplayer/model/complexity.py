"""The compute cost of a NeRV model, from its config alone: multiply-accumulates (MACs) per layer and per frame.

Only the stem Linears and the convolutions are counted: they hold every MAC. Activations, PixelShuffle, tanh
and the crop are elementwise (memory-bound, no MACs). Convolutions run at the padded resolution the network
renders (:attr:`ModelConfig.padded_size`), before the crop. One MAC is two FLOPs. A training step costs about
:data:`TRAIN_FLOPS_FACTOR` × the forward pass: the backward pass computes a gradient for the input and one for
the weights, each as costly as the forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the costs read a config's fields; config.py's limits use the costs at run time
    from .config import ModelConfig

TRAIN_FLOPS_FACTOR = 3


@dataclass(frozen=True)
class LayerCost:
    """One Linear or convolution: ``name`` is its module name in :class:`~nervplayer.model.NeRV`."""

    name: str
    kind: str  # "linear", "conv3x3" or "conv1x1"
    in_shape: tuple[int, ...]  # (features,) or (C, H, W)
    out_shape: tuple[int, ...]  # before PixelShuffle for block convs
    params: int
    macs: int  # per frame

    @property
    def flops(self) -> int:
        return 2 * self.macs


def layer_costs(config: ModelConfig) -> list[LayerCost]:
    """Every Linear and convolution of the network, in forward order."""
    out: list[LayerCost] = []
    dim = 2 * config.pe_levels
    stem_dims = [config.stem_dim] * config.stem_layers + [config.fc_h * config.fc_w * config.fc_c]
    for i, d in enumerate(stem_dims):
        out.append(LayerCost(f"stem.{2 * i}", "linear", (dim,), (d,), dim * d + d, dim * d))
        dim = d
    widths = config.stage_widths()
    h, w = config.fc_h, config.fc_w
    for i, s in enumerate(config.strides):
        c_in, c_conv = widths[i], widths[i + 1] * s * s
        out.append(
            LayerCost(
                f"blocks.{i}.conv",
                "conv3x3",
                (c_in, h, w),
                (c_conv, h, w),
                c_in * c_conv * 9 + c_conv,
                c_in * c_conv * 9 * h * w,
            )
        )
        h, w = h * s, w * s
    c = widths[-1]
    out.append(LayerCost("head", "conv1x1", (c, h, w), (3, h, w), c * 3 + 3, c * 3 * h * w))
    return out


def macs_per_frame(config: ModelConfig) -> int:
    """Forward multiply-accumulates for one frame."""
    return sum(layer.macs for layer in layer_costs(config))


def train_flops_per_frame(config: ModelConfig) -> int:
    """Approximate FLOPs of one training step per frame (forward + backward), see the module docstring."""
    return TRAIN_FLOPS_FACTOR * 2 * macs_per_frame(config)
