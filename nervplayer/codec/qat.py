"""Quantization-aware fine-tuning: the forward pass sees each weight as it will be decoded, the backward pass
updates the float weights as if rounding were the identity (straight-through estimator).

``fake_quantize`` is :func:`~nervplayer.codec.quantize.quantize` followed by ``dequantize`` in torch (same
fp16 ranges, same rounding), so the weights the fine-tune optimises are the ones the file will hold.
"""

from __future__ import annotations

from typing import Callable, cast

import torch
import torch.nn.functional as F
from torch import nn

from .quantize import channel_count, levels


def _fp16_outward(x: torch.Tensor, up: bool) -> torch.Tensor:
    h = x.half()
    inf = torch.tensor(float("inf") if up else float("-inf"), dtype=torch.float16, device=x.device)
    wrong = h.float() < x if up else h.float() > x
    return torch.where(wrong, torch.nextafter(h, inf), h).float()


def fake_quantize(w: torch.Tensor, bits: int, per_channel: bool, mask: torch.Tensor | None = None) -> torch.Tensor:
    c = channel_count(tuple(w.shape), per_channel)
    rows = w.detach().float().reshape(c, -1)
    kept = torch.ones_like(rows, dtype=torch.bool) if mask is None else mask.reshape(c, -1).to(rows.device)
    any_kept = kept.any(dim=1, keepdim=True)
    inf = torch.tensor(float("inf"), device=rows.device)
    lo = _fp16_outward(torch.where(any_kept, torch.where(kept, rows, inf).amin(1, keepdim=True), 0.0), up=False)
    hi = _fp16_outward(torch.where(any_kept, torch.where(kept, rows, -inf).amax(1, keepdim=True), 0.0), up=True)
    step = (hi - lo) / levels(bits)
    q = torch.where(step > 0, ((rows - lo) / torch.where(step > 0, step, 1.0)).round(), 0.0).clamp(0, levels(bits))
    decoded = torch.where(kept, lo + q * step, 0.0).reshape(w.shape).to(w.dtype)
    return w + (decoded - w).detach()


def enable_fake_quant(
    model: nn.Module, bits: dict[str, int], per_channel: bool, masks: dict[str, torch.Tensor] | None = None
) -> None:
    """Make every Linear / Conv2d of ``model`` fake-quantize its weight and bias in forward (in place).

    ``bits`` maps parameter names to bit widths. Only ``forward`` is replaced: parameter names, the state dict
    and the optimizer are untouched, so checkpoints and resuming work as for a plain fit.
    """
    masks = masks or {}
    for prefix, module in model.named_modules():
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        w_name, b_name = f"{prefix}.weight", f"{prefix}.bias"
        forward = _fake_quant_forward(module, bits, w_name, b_name, per_channel, masks)
        module.forward = forward  # type: ignore[method-assign,assignment]  # per instance, on purpose (above)


def _fake_quant_forward(
    m: nn.Linear | nn.Conv2d,
    bits: dict[str, int],
    w_name: str,
    b_name: str,
    per_channel: bool,
    masks: dict[str, torch.Tensor],
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``m``'s forward pass on its fake-quantized weight and bias."""

    def quantized() -> tuple[torch.Tensor, torch.Tensor | None]:
        w = fake_quantize(m.weight, bits[w_name], per_channel, masks.get(w_name))
        b = None if m.bias is None else fake_quantize(m.bias, bits[b_name], per_channel)
        return w, b

    if isinstance(m, nn.Linear):

        def linear(x: torch.Tensor) -> torch.Tensor:
            return F.linear(x, *quantized())

        return linear
    conv = m

    def conv2d(x: torch.Tensor) -> torch.Tensor:  # NeRV's convs pad with zeros, by a number of pixels
        return F.conv2d(x, *quantized(), conv.stride, cast(tuple[int, int], conv.padding), conv.dilation, conv.groups)

    return conv2d
