"""Decoding within a memory budget: the peak memory of a frame, from the architecture alone, and a forward pass
over horizontal bands of the frame when the whole frame does not fit.

A band of output rows needs, at each stage, only the rows its 3×3 convolutions read: the rows below it
(÷ the stage's stride) plus one row of halo on each side. Each stage computes its band with the halo, and the
rows whose halo was missing are cropped away, so a band equals the same rows of the whole frame (up to the
rounding of a differently blocked convolution). Activations are applied per pixel, as every activation plugin
does; the PixelShuffle and the 1×1 head are per pixel too.

The estimate counts float32 values alive at once: a stage's input, its convolution's output and two more
tensors of that size (the PixelShuffle and the activation each make one), the head's three-channel maps, the
whole output frame, and the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import MemoryBudgetError
from .complexity import layer_costs
from .config import ModelConfig
from .nerv import NeRV, NervBlock

FLOAT = 4  # bytes per float32 value


def _level_sizes(cfg: ModelConfig) -> list[tuple[int, int]]:
    """(height, width) of the feature map entering each block, then of the final map."""
    sizes = [(cfg.fc_h, cfg.fc_w)]
    for s in cfg.strides:
        sizes.append((sizes[-1][0] * s, sizes[-1][1] * s))
    return sizes


def rows_needed(cfg: ModelConfig, lo: int, hi: int) -> list[tuple[int, int]]:
    """Row ranges [lo, hi) of every level's map that output rows [lo, hi) read; level 0 is the stem's output."""
    sizes = _level_sizes(cfg)
    ranges = [(lo, hi)]
    for s, (h_in, _) in zip(reversed(cfg.strides), reversed(sizes[:-1])):
        a, b = lo // s, -(-hi // s)
        lo, hi = max(a - 1, 0), min(b + 1, h_in)
        ranges.append((lo, hi))
    return ranges[::-1]


def band_bytes(cfg: ModelConfig, rows: int, batch: int = 1) -> int:
    """Peak bytes of decoding ``batch`` frames ``rows`` output rows at a time (``rows`` ≥ the padded height:
    whole frames). Bands are taken from the middle of the frame, where the halo is largest."""
    ph = cfg.padded_size[0]
    rows = min(rows, ph)
    mid = max(0, min(ph // 2 - rows // 2, ph - rows))
    ranges = rows_needed(cfg, mid, mid + rows)
    widths = cfg.stage_widths()
    sizes = _level_sizes(cfg)
    peak = 0
    for i, s in enumerate(cfg.strides):
        band = ranges[i][1] - ranges[i][0]
        values_in = widths[i] * band * sizes[i][1]
        values_conv = widths[i + 1] * s * s * band * sizes[i][1]
        peak = max(peak, values_in + 3 * values_conv)
    h_out, w_out = ranges[-1][1] - ranges[-1][0], sizes[-1][1]
    peak = max(peak, widths[-1] * h_out * w_out + 3 * 3 * h_out * w_out)
    stem = sum(max(layer.out_shape[0], layer.in_shape[0]) for layer in layer_costs(cfg) if layer.kind == "linear")
    frame = 3 * cfg.height * cfg.width  # the assembled output, plus its uint8 copy below
    weights = sum(layer.params for layer in layer_costs(cfg))
    return FLOAT * (batch * (peak + stem + frame) + weights) + batch * frame


@dataclass(frozen=True)
class DecodePlan:
    """How frames are decoded: ``batch`` whole frames at once, or one frame in bands of ``rows`` rows."""

    batch: int
    rows: int | None  # None: whole frames
    need: int  # peak bytes of this plan
    whole_frame: int  # peak bytes of one whole frame

    @property
    def banded(self) -> bool:
        return self.rows is not None


def plan_decoding(cfg: ModelConfig, budget: int, batch: int = 8) -> DecodePlan:
    """The largest batch of whole frames that fits ``budget`` bytes, else the tallest band that does; a frame
    that does not fit even one row at a time raises :class:`MemoryBudgetError` naming the need and the budget."""
    whole = band_bytes(cfg, cfg.padded_size[0])
    for b in range(batch, 0, -1):
        if (need := band_bytes(cfg, cfg.padded_size[0], b)) <= budget:
            return DecodePlan(b, None, need, whole)
    rows = cfg.padded_size[0]
    while rows > 1 and band_bytes(cfg, rows) > budget:
        rows = max(1, rows // 2)
    need = band_bytes(cfg, rows)
    if need > budget:
        raise MemoryBudgetError(
            f"decoding one frame of this {cfg.width}x{cfg.height} model needs {_mib(need)} even "
            f"one row at a time ({_mib(whole)} whole), over the memory budget of "
            f"{_mib(budget)}; raise it with --memory-budget"
        )
    return DecodePlan(1, rows, need, whole)


def plan_whole_frames(frame_bytes: int, budget: int, batch: int, width: int, height: int) -> DecodePlan:
    """For networks that decode whole frames only: the largest batch within ``budget``, else
    :class:`MemoryBudgetError` naming the need and the budget."""
    for b in range(batch, 0, -1):
        if b * frame_bytes <= budget:
            return DecodePlan(b, None, b * frame_bytes, frame_bytes)
    raise MemoryBudgetError(
        f"decoding one frame of this {width}x{height} model needs {_mib(frame_bytes)}, over the memory budget of "
        f"{_mib(budget)}; raise it with --memory-budget"
    )


def forward_banded(model: NeRV, t: torch.Tensor, rows: int) -> torch.Tensor:
    """``model(t)`` computed ``rows`` output rows at a time: frames [B, 3, height, width]."""
    cfg = model.config
    code = model.stem(model.pe(t)).view(-1, cfg.fc_c, cfg.fc_h, cfg.fc_w)
    out = torch.empty((code.shape[0], 3, cfg.height, cfg.width), dtype=code.dtype, device=code.device)
    for lo in range(0, cfg.height, rows):
        hi = min(lo + rows, cfg.height)
        ranges = rows_needed(cfg, lo, hi)
        x = code[:, :, ranges[0][0] : ranges[0][1]]
        blocks: list[NervBlock] = list(model.blocks)  # type: ignore[arg-type]  # a ModuleList of NervBlocks
        for i, (block, s) in enumerate(zip(blocks, cfg.strides)):
            in_lo = ranges[i][0]
            out_lo, out_hi = ranges[i + 1]
            a, b = out_lo // s, -(-out_hi // s)
            y = block.act(block.conv(x)[:, :, a - in_lo : b - in_lo])  # rows whose halo was cut off are dropped
            if i == len(blocks) - 1:  # the head runs before the last shuffle, as in NeRV.forward
                y = model.head_before_shuffle(y, s)
            y = F.pixel_shuffle(y, s)
            x = y[:, :, out_lo - a * s : out_hi - a * s]
        x = (torch.tanh(x[:, :, :, : cfg.width]) + 1) * 0.5
        out[:, :, lo:hi] = x
        del x, y
    return out


def _mib(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):,.1f} {unit}"
    return f"{n / 1024:,.1f} KiB"
