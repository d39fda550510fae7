"""Uniform quantization with a given step, as rate-aware training learned it (``train/rate.py``).

A tensor is stored as its step ``s`` (float32), the smallest symbol ``offset`` (int32) and the symbols
``q − offset`` (b bits, b just wide enough); it decodes to ``(symbol + offset) · s`` in float32, the very product
training computed, so the file decodes to exactly the quantized model training evaluated. Symbols are computed
in torch with the training code's own function, never re-derived.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..train.rate import quantize_with_step
from .quantize import MAX_BITS, MIN_BITS, levels

QPAR_BYTES = 8  # float32 step + int32 offset
MAX_VALUE = float(np.finfo(np.float16).max)  # the largest magnitude an affine range can hold (fp16), for both


@dataclass(frozen=True)
class StepQuantizedTensor:
    shape: tuple[int, ...]
    bits: int
    step: float  # a float32 value
    offset: int
    symbols: np.ndarray  # uint16 [numel]
    mask: None = None
    per_channel: bool = False
    scheme: str = "step"

    @property
    def valid(self) -> bool:
        """Whether every ``bits``-bit symbol decodes to a finite value within ±:data:`MAX_VALUE` (and
        ``symbol + offset`` stays an int32): what a reader insists on before trusting a file's step."""
        top = self.offset + levels(self.bits)
        return bool(
            math.isfinite(self.step)
            and self.step > 0
            and top <= np.iinfo(np.int32).max
            and max(abs(self.offset), abs(top)) * self.step <= MAX_VALUE
        )

    @property
    def channels(self) -> int:
        return 1

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def dequantize(self) -> np.ndarray:
        q = (self.symbols.astype(np.int32) + np.int32(self.offset)).astype(np.float32)
        return (q * np.float32(self.step)).reshape(self.shape)

    def qpar(self) -> bytes:
        return np.array([self.step], "<f4").tobytes() + np.array([self.offset], "<i4").tobytes()


def quantize_step(value: torch.Tensor, step: float) -> StepQuantizedTensor:
    """Quantize ``value`` with ``step`` exactly as training's forward pass did."""
    with torch.no_grad():
        _, q = quantize_with_step(value.detach().float().cpu(), torch.tensor(step, dtype=torch.float32))
    symbols = q.to(torch.int32).flatten().numpy()
    lo = int(symbols.min()) if symbols.size else 0
    span = (int(symbols.max()) - lo) if symbols.size else 0
    bits = max(MIN_BITS, math.ceil(math.log2(span + 1)))
    if bits > MAX_BITS:
        raise ValueError(f"symbols span {span + 1} values, more than {MAX_BITS} bits")
    out = StepQuantizedTensor(tuple(value.shape), bits, float(np.float32(step)), lo, (symbols - lo).astype(np.uint16))
    if not out.valid:
        raise ValueError(f"values beyond ±{MAX_VALUE:g} (step {step:g}, offset {lo}) cannot be stored")
    return out


def from_qpar(data: bytes, shape: tuple[int, ...], bits: int, symbols: np.ndarray) -> StepQuantizedTensor:
    step = float(np.frombuffer(data[:4], "<f4")[0])
    offset = int(np.frombuffer(data[4:8], "<i4")[0])
    return StepQuantizedTensor(shape, bits, step, offset, symbols)
