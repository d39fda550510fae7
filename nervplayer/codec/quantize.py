"""Affine quantization with 2^b − 1 steps, per output channel or per tensor, of the kept (unpruned) entries.

A channel with kept values in [lo, hi] stores ``minimum`` and ``maximum`` as fp16, rounded outwards so that
they enclose [lo, hi]; the step is ``(maximum − minimum) / (2^b − 1)`` in float32, so the 2^b levels run
exactly from ``minimum`` to ``maximum`` whatever the bit width (an fp16 *step* would lose the top levels at
12+ bits). Entry ``w`` becomes ``q = clip(round((w − minimum) / step), 0, 2^b − 1)``. Pruned entries get no
symbol and decode to exactly 0, so they neither widen the range nor cost bits (the public NeRV code
re-quantizes them, and divides by 2^b, an off-by-one that never uses the top level).

Dequantization is ``minimum + q · step`` in float32 numpy: IEEE operations only, so the weights are identical on
every machine, and a model built from a file equals the in-memory model it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_BITS, MAX_BITS = 2, 16


def levels(bits: int) -> int:
    """The largest symbol: 2^b − 1 (so there are 2^b levels and 2^b − 1 steps)."""
    return (1 << bits) - 1


@dataclass(frozen=True)
class QuantizedTensor:
    """One parameter tensor as symbols plus the affine ranges needed to restore it."""

    shape: tuple[int, ...]
    bits: int
    per_channel: bool  # ranges per slice of axis 0 (output channel), else one range
    minimum: np.ndarray  # float16 [channels]
    maximum: np.ndarray  # float16 [channels]
    symbols: np.ndarray  # uint16 [kept], kept entries in row-major order
    mask: np.ndarray | None  # bool, shape; None when nothing is pruned

    @property
    def channels(self) -> int:
        return channel_count(self.shape, self.per_channel)

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def step(self) -> np.ndarray:
        """float32 [channels]: (maximum − minimum) / (2^b − 1)."""
        return (self.maximum.astype(np.float32) - self.minimum.astype(np.float32)) / np.float32(levels(self.bits))

    def dequantize(self) -> np.ndarray:
        """float32 array of ``shape``; pruned entries are exactly 0."""
        c = self.channels
        q = np.zeros((c, self.numel // c), dtype=np.float32)
        kept = np.ones(q.shape, dtype=bool) if self.mask is None else self.mask.reshape(q.shape)
        q[kept] = self.symbols
        values = self.minimum.astype(np.float32)[:, None] + q * self.step[:, None]
        values[~kept] = 0.0
        return values.reshape(self.shape)


def channel_count(shape: tuple[int, ...], per_channel: bool) -> int:
    """Ranges stored for a tensor: one per output channel for ≥ 2-D tensors quantized per channel, else one."""
    return int(shape[0]) if per_channel and len(shape) >= 2 else 1


def fp16_outward(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fp16 bounds enclosing [lo, hi]: lo rounded down, hi rounded up."""
    lo16, hi16 = lo.astype(np.float16), hi.astype(np.float16)
    lo16 = np.where(lo16.astype(np.float32) > lo, np.nextafter(lo16, np.float16(-np.inf)), lo16)
    hi16 = np.where(hi16.astype(np.float32) < hi, np.nextafter(hi16, np.float16(np.inf)), hi16)
    return lo16.astype(np.float16), hi16.astype(np.float16)


def quantize(
    weight: np.ndarray, bits: int, per_channel: bool, mask: np.ndarray | None = None, spread: float = 1.0
) -> QuantizedTensor:
    """Quantize ``weight`` (float) to ``bits``; entries where ``mask`` is False are pruned. ``spread`` ≥ 1 widens
    each range about its centre, for a coarser step at the same width (rate control's continuous knob)."""
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bit width must be in {MIN_BITS}..{MAX_BITS}, got {bits}")
    w = np.asarray(weight, dtype=np.float32)
    if not np.isfinite(w).all():
        raise ValueError("cannot quantize a tensor with NaN or infinite values")
    c = channel_count(w.shape, per_channel)
    rows = w.reshape(c, -1)
    kept = np.ones(rows.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).reshape(rows.shape)
    any_kept = kept.any(axis=1)
    lo = np.where(any_kept, np.where(kept, rows, np.inf).min(axis=1), 0.0).astype(np.float32)
    hi = np.where(any_kept, np.where(kept, rows, -np.inf).max(axis=1), 0.0).astype(np.float32)
    if spread != 1.0:
        centre, half = (lo + hi) / 2, (hi - lo) / 2 * np.float32(spread)
        lo, hi = (centre - half).astype(np.float32), (centre + half).astype(np.float32)
    minimum, maximum = fp16_outward(lo, hi)
    if not (np.isfinite(minimum).all() and np.isfinite(maximum).all()):
        raise ValueError("weights exceed the float16 range of the stored bounds")
    q = QuantizedTensor(tuple(w.shape), bits, per_channel, minimum, maximum, np.zeros(0, np.uint16), None)
    step = q.step[:, None]
    safe = np.where(step > 0, step, 1.0)
    sym = np.where(step > 0, np.rint((rows - minimum.astype(np.float32)[:, None]) / safe), 0.0)
    sym = np.clip(sym, 0, levels(bits)).astype(np.uint16)
    return QuantizedTensor(
        shape=q.shape,
        bits=bits,
        per_channel=per_channel,
        minimum=minimum,
        maximum=maximum,
        symbols=sym[kept],
        mask=None if mask is None else kept.reshape(w.shape).copy(),
    )
