"""The ``laplace`` entropy model: a tensor's coded symbols against discretised Laplace distributions whose
parameters are a few stored integers, optionally selected per symbol by a context of already-decoded neighbours.

Today's ``table`` model (codec/entropy.py) stores a histogram per tensor: exact, but a small tensor pays more for
its table than for its symbols (a grid's synthesis layers, its coarse levels). Here a tensor stores a ``centre``
symbol and, per context, a decay ``d`` (θ = d / 2^16); symbol v weighs ``θ^|v − centre|`` in fixed point, every
symbol at least 1, so the table is a deterministic integer function of the stored numbers (:func:`weights`).

Latents may select among up to :data:`MAX_CONTEXTS` decays by the *activity* of a symbol's causal neighbours:
the sum of ``|x − centre|`` over the same position one slice earlier (axis 0) and the positions above, above-left
and above-right in its own slice, split by stored thresholds. The tensor is decoded row by row (a row: one
slice, one position of the second-to-last axis, every channel), so each row is one vectorised step whatever its
contexts are: the neighbours of a whole row are decoded before it. Rows are bounded (:data:`MAX_ROWS`) so that
decoding time is. Measured against the tables in docs/models.md ("Entropy models that know their context").
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NervFormatError
from .entropy import decode_categorical, decode_chunks, encode_categorical, encode_chunks, model_of

ENTROPY_MODELS = ("table", "laplace")
MAX_CONTEXTS = 8
MAX_ROWS = 1 << 15  # rows of a tensor decoded with contexts (each is a Python step)
_ONE = 1 << 16  # a decay d means θ = d / 2^16
_PEAK = 1 << 24  # the weight of the centre symbol
_BLOCK = 256
_MAX_ACTIVITY = (1 << 16) - 1
_HEAD = struct.Struct("<BI")  # contexts K, centre
_CANDIDATES = np.unique(np.clip(np.rint(_ONE * np.exp(-np.geomspace(2.0**-12, 16.0, 96))), 1, _ONE - 1)).astype(int)


@dataclass(frozen=True)
class Laplace:
    """The stored parameters: the centre symbol, K − 1 increasing activity thresholds and K decays."""

    centre: int
    thresholds: tuple[int, ...]
    decays: tuple[int, ...]

    def pack(self) -> bytes:
        k = len(self.decays)
        return _HEAD.pack(k, self.centre) + struct.pack(f"<{k - 1}H{k}H", *self.thresholds, *self.decays)


def unpack(data: bytes, alphabet: int, shape: tuple[int, ...], contextual: bool, what: str) -> Laplace:
    """The parameters of ``data``, each checked before use: a count of contexts in [1, 8] that the tensor may
    have, exactly the bytes they need, a centre inside the alphabet, thresholds ≥ 1 and strictly increasing,
    decays in [1, 2^16)."""
    if len(data) < _HEAD.size:
        raise NervFormatError(f"{what}: laplace parameters are {len(data)} bytes, at least {_HEAD.size} needed")
    k, centre = _HEAD.unpack_from(data)
    if not 1 <= k <= MAX_CONTEXTS:
        raise NervFormatError(f"{what}: laplace model has {k} contexts (1 to {MAX_CONTEXTS})")
    if k > 1 and not (contextual and rows(shape) <= MAX_ROWS):
        raise NervFormatError(f"{what}: only unmasked latents of at most {MAX_ROWS} rows have contexts")
    if len(data) != _HEAD.size + 2 * (2 * k - 1):
        raise NervFormatError(
            f"{what}: laplace parameters are {len(data)} bytes, {k} contexts need {_HEAD.size + 4 * k - 2}"
        )
    values = struct.unpack_from(f"<{2 * k - 1}H", data, _HEAD.size)
    thresholds, decays = values[: k - 1], values[k - 1 :]
    if centre >= alphabet:
        raise NervFormatError(f"{what}: laplace centre {centre} is outside the {alphabet} symbols")
    if any(t < 1 for t in thresholds) or any(b <= a for a, b in zip(thresholds, thresholds[1:])):
        raise NervFormatError(f"{what}: laplace context thresholds {list(thresholds)} are not increasing from 1")
    if any(d < 1 for d in decays):
        raise NervFormatError(f"{what}: a laplace decay is 0")
    return Laplace(centre, tuple(thresholds), tuple(decays))


@functools.lru_cache(maxsize=256)
def _powers(decay: int) -> tuple[np.ndarray, int]:
    """g[0..255] (g[0] = 2^16, g[j] = (g[j−1] · d) >> 16) and G = (g[255] · d) >> 16 of a decay."""
    g = [_ONE]
    for _ in range(_BLOCK - 1):
        g.append((g[-1] * decay) >> 16)
    return np.array(g, dtype=np.int64), (g[-1] * decay) >> 16


def weights(alphabet: int, centre: int, decay: int) -> np.ndarray:
    """Integer weights of the ``alphabet`` symbols: ``w(e) = max(1, (B[e >> 8] · g[e & 255]) >> 16)`` at
    distance e = |v − centre|, with g and G from :func:`_powers` and B[0] = 2^24, B[m] = (B[m−1] · G) >> 16:
    about 2^24 · θ^e, in integers only."""
    g, step = _powers(decay)
    span = max(centre, alphabet - 1 - centre) + 1
    blocks = [_PEAK]
    for _ in range(-(-span // _BLOCK) - 1):
        blocks.append((blocks[-1] * step) >> 16)
    e = np.abs(np.arange(alphabet, dtype=np.int64) - centre)
    return np.maximum((np.array(blocks, dtype=np.int64)[e >> 8] * g[e & (_BLOCK - 1)]) >> 16, 1)


def layout(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A tensor as [slices, channels, rows per slice, row length]: axis 0, the axes between, the second-to-last
    and the last axis (a 2-D tensor has one channel of one row per slice, a 1-D one slice)."""
    if len(shape) == 1:
        return 1, 1, 1, int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), 1, 1, int(shape[1])
    return int(shape[0]), int(np.prod(shape[1:-2], dtype=np.int64)), int(shape[-2]), int(shape[-1])


def rows(shape: tuple[int, ...]) -> int:
    t, _, h, _ = layout(shape)
    return t * h


def _activity(previous: np.ndarray | None, current: np.ndarray, h: int) -> np.ndarray:
    """[C, W] activity of row ``h`` from |x − centre| of the slice before (None for the first) and of the rows
    above in this slice ([C, H, W] each): the slice before at the same place, and above, above-left,
    above-right."""
    a = previous[:, h].copy() if previous is not None else np.zeros(current[:, 0].shape, dtype=np.int32)
    if h:
        up = current[:, h - 1]
        a += up
        a[:, 1:] += up[:, :-1]
        a[:, :-1] += up[:, 1:]
    return np.minimum(a, _MAX_ACTIVITY)


def _all_activity(dev: np.ndarray) -> np.ndarray:
    """:func:`_activity` of every row of ``dev`` ([T, C, H, W]) at once: the encoder knows every symbol."""
    a = np.zeros_like(dev)
    a[1:] += dev[:-1]
    up = np.zeros_like(dev)
    up[:, :, 1:] = dev[:, :, :-1]
    a += up
    a[..., 1:] += up[..., :-1]
    a[..., :-1] += up[..., 1:]
    return np.minimum(a, _MAX_ACTIVITY)


class _Costs:
    """Ideal code lengths of symbol histograms under every candidate decay (the encoder's choice only: nothing a
    decoder computes depends on these floating-point numbers)."""

    def __init__(self, alphabet: int, centre: int, used: np.ndarray) -> None:
        tables = [weights(alphabet, centre, int(d)) for d in _CANDIDATES]
        self.log_z = np.log2([float(w.sum()) for w in tables])
        self.log_w = np.log2(np.stack([w[used] for w in tables]).astype(np.float64))
        self.used = used

    def best(self, hist: np.ndarray) -> tuple[float, int]:
        """(bits, decay) of the cheapest candidate for ``hist`` (counts of the used symbols)."""
        costs = hist.sum() * self.log_z - self.log_w @ hist
        i = int(np.argmin(costs))
        return float(costs[i]), int(_CANDIDATES[i])


def fit(symbols: np.ndarray, alphabet: int, shape: tuple[int, ...], contextual: bool) -> tuple[Laplace, float]:
    """The parameters that code ``symbols`` (the tensor's, in [0, alphabet), row-major) in the fewest bits,
    their own bytes included, and that many bits (ideal): the median as the centre, then 1 to 8 contexts at
    quantiles of the activity."""
    x = symbols.astype(np.int64).ravel()
    centre = int(np.median(x)) if x.size else 0
    counts = np.bincount(x, minlength=alphabet)
    used = np.flatnonzero(counts)
    costs = _Costs(alphabet, centre, used)
    bits, decay = costs.best(counts[used].astype(np.float64))
    best = (bits + 8.0 * (_HEAD.size + 2), Laplace(centre, (), (decay,)))
    if not (contextual and rows(shape) <= MAX_ROWS and x.size):
        return best[1], best[0]
    index = np.zeros(alphabet, dtype=np.int64)
    index[used] = np.arange(len(used))
    index = index[x]
    activity = _all_activity(np.abs(x - centre).astype(np.int32).reshape(layout(shape))).ravel()
    options = [np.unique(np.quantile(activity, np.arange(1, k) / k, method="higher")) for k in (2, 3, 4, 6, 8)]
    for cuts in dict.fromkeys(tuple(int(c) for c in option if c >= 1) for option in options):
        ctx = np.searchsorted(np.array(cuts, dtype=np.int64), activity, side="right")
        total, decays = 8.0 * (_HEAD.size + 4 * len(cuts) + 2), []
        for k in range(len(cuts) + 1):
            bits, decay = costs.best(np.bincount(index[ctx == k], minlength=len(used)).astype(np.float64))
            total += bits
            decays.append(decay)
        if total < best[0]:
            best = (total, Laplace(centre, cuts, tuple(decays)))
    return best[1], best[0]


def encode(symbols: np.ndarray, alphabet: int, shape: tuple[int, ...], params: Laplace, coder: str) -> bytes:
    """The stream of ``symbols`` (in [0, alphabet)) of a tensor of ``shape`` with the parameters ``params``
    (:func:`fit`'s); :meth:`Laplace.pack` gives the parameters' bytes."""
    x = symbols.astype(np.int64).ravel()
    if not x.size:
        return b""
    if len(params.decays) == 1:
        return encode_categorical(x, weights(alphabet, params.centre, params.decays[0]), coder)
    models = [model_of(weights(alphabet, params.centre, d)) for d in params.decays]
    slices, _, height, _ = layout(shape)
    grid = x.reshape(layout(shape))
    ctx = np.searchsorted(np.array(params.thresholds), _all_activity(np.abs(grid - params.centre)), side="right")
    # stream order: row (t, h), then context, then channel and position: one chunk per (row, context) present
    key = (
        (np.arange(slices)[:, None, None, None] * height + np.arange(height)[None, None, :, None]) * len(models) + ctx
    ).ravel()
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.diff(key[order], prepend=-1))
    ends = np.append(starts[1:], len(order))
    ordered = x[order].astype(np.int32)
    return encode_chunks(
        coder, [(ordered[a:b], models[int(key[order[a]]) % len(models)]) for a, b in zip(starts, ends)]
    )


def decode(
    data: bytes,
    stream: bytes,
    count: int,
    alphabet: int,
    shape: tuple[int, ...],
    contextual: bool,
    coder: str,
    what: str,
) -> np.ndarray:
    """Inverse of :func:`encode` (uint16 symbols); ``count`` is the checked number of symbols (the tensor's)."""
    params = unpack(data, alphabet, shape, contextual, what)
    if count == 0:
        if stream:
            raise NervFormatError(f"{what}: stream data for an empty tensor")
        return np.zeros(0, dtype=np.uint16)
    if len(params.decays) == 1:
        table = weights(alphabet, params.centre, params.decays[0])
        return decode_categorical(stream, table, np.arange(alphabet, dtype=np.uint16), count, coder, what)
    models = [model_of(weights(alphabet, params.centre, d)) for d in params.decays]
    thresholds = np.array(params.thresholds)
    out = np.zeros(layout(shape), dtype=np.uint16)

    def run(dec: Any) -> np.ndarray:
        previous: np.ndarray | None = None
        for t in range(out.shape[0]):
            current = np.zeros(out.shape[1:], dtype=np.int32)
            for h in range(out.shape[2]):
                ctx = np.searchsorted(thresholds, _activity(previous, current, h), side="right").ravel()
                order = np.argsort(ctx, kind="stable")  # the row's positions by context, as the stream holds them
                counts = np.bincount(ctx, minlength=len(models)).tolist()
                flat = np.empty(ctx.size, dtype=np.int32)
                flat[order] = np.concatenate([dec.decode(m, n) for m, n in zip(models, counts) if n])
                row = flat.reshape(current[:, h].shape)
                out[t, :, h] = row
                current[:, h] = np.abs(row - params.centre)
            previous = current
        return out

    decode_chunks(stream, coder, what, [run])
    return out.ravel()
