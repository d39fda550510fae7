"""How a stored tensor's symbols are coded: temporal prediction of latents (grid levels, per-frame embeddings) as
the differences of consecutive slices along their first axis, the frame / time axis, and the choice, per tensor,
of the smallest coding: predicted or not, against a histogram table (codec/entropy.py) or a ``laplace`` model
(codec/context.py).

Latents of neighbouring frames are alike, so the difference of slice t and slice t − 1 is much narrower than the
values themselves: on a grid fit of bunny it lowers the latents' empirical entropy by 25–35 % (docs/models.md).
Slice 0 is predicted by the symbol of the value 0, so every residual is centred on zero. Residuals span
``[−(2^b − 1), 2^b − 1]`` and are coded, shifted by ``2^b − 1``, as ``b + 1``-bit symbols. Decoding is a
cumulative sum in integers: exact, and checked to land inside ``[0, 2^b)``.
"""

from __future__ import annotations

import numpy as np

from ..errors import NervFormatError
from . import context
from .entropy import decode_symbols, encode_symbols, entropy_bits
from .quantize import MAX_BITS, QuantizedTensor, levels
from .stepquant import StepQuantizedTensor

PREDICTORS = ("none", "time")
Quantized = QuantizedTensor | StepQuantizedTensor
_CHUNK = 1 << 18  # values restored at a time
_ENTROPY_KEY_BYTES = len(', "entropy": "laplace"')  # what naming the model costs in the header


def predictable(q: Quantized, kind: str) -> bool:
    """Latents with at least two slices, one range for the whole tensor, no pruning mask, below 16 bits (the
    residuals need one bit more)."""
    return (
        kind == "latents"
        and len(q.shape) >= 2
        and q.shape[0] >= 2
        and q.mask is None
        and q.channels == 1
        and q.bits < MAX_BITS
    )


def contextual(q: Quantized, kind: str) -> bool:
    """Whether the ``laplace`` model may select by neighbours: unmasked latents (every position has a symbol)."""
    return kind == "latents" and q.mask is None


def zero_symbol(q: Quantized) -> int:
    """The symbol that decodes closest to 0, within ``[0, 2^b)``; from the stored parameters only, in float32."""
    if isinstance(q, StepQuantizedTensor):
        z = -q.offset
    else:
        step = q.step[0]
        z = int(np.rint(-q.minimum.astype(np.float32)[0] / step)) if step > 0 else 0
    return min(max(z, 0), levels(q.bits))


def residuals(symbols: np.ndarray, shape: tuple[int, ...], bits: int, zero: int) -> np.ndarray:
    """Symbols (``[0, 2^b)``, row-major) → residual symbols in ``[0, 2^(b+1) − 1)``."""
    s = symbols.astype(np.int64).reshape(shape[0], -1)
    d = np.diff(s, axis=0, prepend=np.full((1, s.shape[1]), zero, dtype=np.int64))
    return (d + levels(bits)).ravel()


def restore(coded: np.ndarray, shape: tuple[int, ...], bits: int, zero: int, what: str) -> np.ndarray:
    """Inverse of :func:`residuals`, in place in ``coded`` (uint16), a few slices at a time so that no temporary
    is larger than :data:`_CHUNK` values; a stream that leaves ``[0, 2^b)`` is a format error."""
    rows = coded.reshape(shape[0], -1)
    previous = np.full(rows.shape[1], zero, dtype=np.int64)
    step = max(1, _CHUNK // max(rows.shape[1], 1))
    for start in range(0, rows.shape[0], step):
        s = previous + np.cumsum(rows[start : start + step].astype(np.int64) - levels(bits), axis=0)
        if s.size and (s.min() < 0 or s.max() > levels(bits)):
            raise NervFormatError(f"{what}: predicted latents leave the {bits}-bit range")
        rows[start : start + step] = s
        previous = s[-1]
    return coded


def encode_tensor(q: Quantized, kind: str, coder: str) -> tuple[bytes, bytes, str, str]:
    """``(table, stream, predictor, entropy model)`` of a stored tensor's symbols, the smallest of: latents
    predicted in time or not (a barely trained grid is still its random initialisation), each against its
    histogram (``table``) or a ``laplace`` model (codec/context.py; with contexts for latents), naming the model
    in the header counted. ``raw`` coding counts plain b-bit symbols."""
    if coder == "raw":
        return (*encode_symbols(q.symbols, q.bits, coder), "none", "table")
    inputs = [("none", q.symbols, q.bits)]
    if predictable(q, kind):
        inputs.append(("time", residuals(q.symbols, q.shape, q.bits, zero_symbol(q)), q.bits + 1))
    options = [(*encode_symbols(symbols, bits, coder), predictor, "table") for predictor, symbols, bits in inputs]
    smallest = min(len(o[0]) + len(o[1]) for o in options)
    for predictor, symbols, bits in inputs:
        params, estimate = context.fit(symbols, 1 << bits, q.shape, contextual(q, kind))
        if estimate / 8 + _ENTROPY_KEY_BYTES < smallest:  # the stream lands within a few bytes of the estimate
            stream = context.encode(symbols, 1 << bits, q.shape, params, coder)
            options.append((params.pack(), stream, predictor, "laplace"))
    return min(options, key=lambda o: len(o[0]) + len(o[1]) + (o[3] != "table") * _ENTROPY_KEY_BYTES)


def decode_tensor(
    predictor: str,
    entropy: str,
    q: Quantized,
    kind: str,
    table: bytes,
    stream: bytes,
    count: int,
    coder: str,
    what: str,
) -> np.ndarray:
    """Inverse of :func:`encode_tensor`; ``q`` carries the tensor's checked shape, bits, quantizer and mask."""
    bits = q.bits + (predictor == "time")
    if entropy != "table" and coder == "raw":
        raise NervFormatError(f"{what}: raw coding has no {entropy} model")
    if entropy == "table":
        coded = decode_symbols(table, stream, count, bits, coder, what)
    else:
        coded = context.decode(table, stream, count, 1 << bits, q.shape, contextual(q, kind), coder, what)
    return coded if predictor == "none" else restore(coded, q.shape, q.bits, zero_symbol(q), what)


def coded_entropy_bits(q: Quantized, kind: str, coder: str) -> float:
    """Zeroth-order entropy, in bits, of what :func:`encode_tensor` codes for ``q`` (tables aside): the bound
    the coded stream is measured against."""
    plain = entropy_bits(q.symbols)
    if coder == "raw" or not predictable(q, kind):
        return plain
    return min(plain, entropy_bits(residuals(q.symbols, q.shape, q.bits, zero_symbol(q))))
