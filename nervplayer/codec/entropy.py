"""Entropy coding of quantized symbols and of pruning masks, with the tables stored beside the streams.

Symbols (one stream per tensor) are coded against their own empirical histogram, stored exactly (varint counts,
deflated), so a decoder rebuilds the identical model: the rate is the empirical entropy plus the coder's small
fixed-point overhead. Coders:

* ``ans``: constriction's stack (asymmetric numeral systems) coder, the default: fastest, and within 0.1% of
  the entropy on NeRV-sized streams (measured in docs/format.md).
* ``range``: constriction's range coder (queue semantics), about as tight.
* ``raw``: fixed-length b-bit codes and a plain bitmap mask, as the paper counts them (no table).

Masks are coded with one Bernoulli model per tensor (``tensor``, the default: the kept count is in the header,
so there is no table) or one per output channel (``channel``: the kept count of each channel is the table).
Measured on fitted NeRVs, per-channel rates save 1-3% of the mask bits but their table costs more than that
(docs/format.md), so ``tensor`` is the default.

Decoding never trusts a count it is given: the caller checks counts against the architecture first, tables are
inflated with a bound, and a stream must be consumed exactly.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Callable

import numpy as np

from ..errors import NervFormatError

CODERS = ("ans", "range", "raw")
MASK_MODELS = ("tensor", "channel")
_CHUNK = 1 << 20


def _constriction() -> ModuleType:
    import constriction

    return constriction.stream


def coder_library_version() -> str:
    """The installed constriction's version, recorded in every .nerv header (pyproject pins the tested range)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("constriction")
    except PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------------------------------------- tables


def pack_counts(counts: np.ndarray) -> bytes:
    """Non-negative integers as LEB128 varints, deflated (histograms are mostly small numbers and zero runs)."""
    out = bytearray()
    for v in counts.tolist():
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
    return zlib.compress(bytes(out), 9)


def unpack_counts(data: bytes, length: int, total: int, what: str) -> np.ndarray:
    """Inverse of :func:`pack_counts`, expecting ``length`` counts that sum to ``total``."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, 5 * length + 1)  # bounded: a varint below 2^35 has at most 5 bytes
    except zlib.error:
        raise NervFormatError(f"{what}: table is not valid deflate data") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise NervFormatError(f"{what}: table is longer than declared")
    arr = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(arr < 0x80)
    if len(ends) != length or (len(arr) and ends[-1] != len(arr) - 1):
        raise NervFormatError(f"{what}: table holds {len(ends)} counts, expected {length}")
    starts = np.concatenate([[0], ends[:-1] + 1])
    if np.any(ends - starts >= 5):
        raise NervFormatError(f"{what}: table count out of range")
    values = np.zeros(length, dtype=np.int64)
    for k in range(5):  # vectorised varint decode: add byte k of each varint that has one
        has = starts + k <= ends
        values[has] |= (arr[starts[has] + k].astype(np.int64) & 0x7F) << (7 * k)
    if int(values.sum()) != total:
        raise NervFormatError(f"{what}: table counts sum to {int(values.sum())}, expected {total}")
    return values


# ---------------------------------------------------------------------------------------------- symbols


def entropy_bits(symbols: np.ndarray) -> float:
    """Zeroth-order empirical entropy of ``symbols`` times their count, in bits (the bound a table coder meets)."""
    if symbols.size == 0:
        return 0.0
    counts = np.bincount(symbols.ravel().astype(np.int64))
    p = counts[counts > 0] / symbols.size
    return float(-(counts[counts > 0] * np.log2(p)).sum())


def huffman_bits(symbols: np.ndarray) -> float:
    """Bits of a Huffman code built on the symbols' own histogram: the size NeRV's public code estimates
    (it writes no bitstream). The total length is the sum of the weights of all merged nodes."""
    import heapq

    counts = np.bincount(symbols.ravel().astype(np.int64))
    heap = [int(c) for c in counts if c]
    if len(heap) == 1:
        return float(heap[0])  # a prefix code needs at least one bit per symbol
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        total += merged
        heapq.heappush(heap, merged)
    return float(total)


def encode_symbols(symbols: np.ndarray, bits: int, coder: str) -> tuple[bytes, bytes]:
    """``(table, stream)`` for symbols in ``[0, 2^bits)``."""
    symbols = symbols.astype(np.int64).ravel()
    if coder == "raw":
        return b"", _pack_fixed(symbols, bits)
    counts = np.bincount(symbols, minlength=1 << bits)
    if symbols.size == 0:
        return pack_counts(counts), b""
    used = np.flatnonzero(counts)
    index = np.zeros(1 << bits, dtype=np.int32)
    index[used] = np.arange(len(used), dtype=np.int32)
    stream = encode_categorical(index[symbols], counts[used], coder)
    return pack_counts(counts), stream


def decode_symbols(table: bytes, stream: bytes, count: int, bits: int, coder: str, what: str) -> np.ndarray:
    """Inverse of :func:`encode_symbols`; ``count`` must already be checked against the architecture."""
    if coder == "raw":
        if len(table):
            raise NervFormatError(f"{what}: raw coding has no table")
        return _unpack_fixed(stream, count, bits, what).astype(np.uint16)
    counts = unpack_counts(table, 1 << bits, count, what)
    if count == 0:
        if stream:
            raise NervFormatError(f"{what}: stream data for an empty tensor")
        return np.zeros(0, dtype=np.uint16)
    used = np.flatnonzero(counts)
    return decode_categorical(stream, counts[used], used.astype(np.uint16), count, coder, what)


def model_of(counts: np.ndarray) -> Any:  # a constriction model: the library ships no type hints
    # Built from exact integer counts with perfect=False: a deterministic function of the stored table.
    return _constriction().model.Categorical(counts.astype(np.float64), perfect=False)


def encode_categorical(idx: np.ndarray, counts: np.ndarray, coder: str) -> bytes:
    if len(counts) == 1:  # a single-symbol alphabet carries no information
        return b""
    return encode_chunks(coder, [(idx.astype(np.int32), model_of(counts))])


def decode_categorical(
    stream: bytes, counts: np.ndarray, symbols: np.ndarray, count: int, coder: str, what: str
) -> np.ndarray:
    """``count`` symbols (uint16), decoded in chunks straight into the result: a few bytes of a very skewed or
    constant stream can stand for millions of symbols, and no temporary is larger than a chunk."""
    if len(counts) == 1:
        if stream:
            raise NervFormatError(f"{what}: stream data for a constant tensor")
        return np.full(count, symbols[0], dtype=np.uint16)
    model = model_of(counts)
    out = np.empty(count, dtype=np.uint16)

    def chunk(start: int) -> Callable[[Any], np.ndarray]:
        def step(dec: Any) -> np.ndarray:
            stop = min(start + _CHUNK, count)
            out[start:stop] = symbols[dec.decode(model, stop - start)]
            return out[start:stop]

        return step

    decode_chunks(stream, coder, what, [chunk(start) for start in range(0, count, _CHUNK)])
    return out


def encode_chunks(coder: str, chunks: list[tuple]) -> bytes:
    """Code ``(symbols, model[, params])`` chunks so that they decode in the given order."""
    st = _constriction()
    if coder == "ans":  # a stack: encode last chunk first
        enc = st.stack.AnsCoder()
        for args in reversed(chunks):
            enc.encode_reverse(*args)
    elif coder == "range":
        enc = st.queue.RangeEncoder()
        for args in chunks:
            enc.encode(*args)
    else:
        raise ValueError(f"unknown entropy coder {coder!r}; available: {', '.join(CODERS)}")
    return enc.get_compressed().astype("<u4").tobytes()


def decode_chunks(
    stream: bytes, coder: str, what: str, steps: Sequence[Callable[[Any], np.ndarray]]
) -> list[np.ndarray]:
    """Run the decoding ``steps`` on ``stream`` and insist that exactly the whole stream was used."""
    if len(stream) % 4 or not stream:
        raise NervFormatError(f"{what}: coded stream length {len(stream)} is not a positive multiple of 4")
    words = np.frombuffer(stream, dtype="<u4").astype(np.uint32)
    st = _constriction()
    try:
        if coder == "ans":
            dec = st.stack.AnsCoder(words)
        elif coder == "range":
            dec = st.queue.RangeDecoder(words)
        else:
            raise NervFormatError(f"{what}: unknown entropy coder {coder!r}")
        out = [np.asarray(step(dec)) for step in steps]
        exact = dec.is_empty() if coder == "ans" else dec.maybe_exhausted()
    except (ValueError, RuntimeError, OverflowError, AssertionError) as e:  # constriction: invalid data
        raise NervFormatError(f"{what}: coded stream is invalid ({e})") from None
    if not exact:
        raise NervFormatError(f"{what}: coded stream does not end where the symbols do")
    return out


# ---------------------------------------------------------------------------------------------- fixed length


def _pack_fixed(values: np.ndarray, bits: int) -> bytes:
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    return np.packbits(((values[:, None] >> shifts) & 1).astype(np.uint8).ravel()).tobytes()


def _unpack_fixed(data: bytes, count: int, bits: int, what: str) -> np.ndarray:
    if len(data) != (count * bits + 7) // 8:
        raise NervFormatError(f"{what}: {len(data)} bytes of fixed-length codes, expected {(count * bits + 7) // 8}")
    flat = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * bits].reshape(count, bits)
    return flat.astype(np.int64) @ (1 << np.arange(bits - 1, -1, -1, dtype=np.int64))


# ---------------------------------------------------------------------------------------------- masks


def _mask_chunks(p: np.ndarray, n: int) -> list[np.ndarray]:
    """Channel indices with 0 < p < 1 (the others cost nothing), in groups of about _CHUNK mask bits, so the
    per-bit probability arrays stay small whatever the tensor size."""
    coded = np.flatnonzero((p > 0) & (p < 1))
    per = max(1, _CHUNK // max(n, 1))
    return [coded[i : i + per] for i in range(0, len(coded), per)]


def encode_mask(mask: np.ndarray, model: str, coder: str) -> tuple[bytes, bytes]:
    """``(table, stream)`` of a boolean mask whose axis 0 is the output channel."""
    rows = mask.reshape(mask.shape[0], -1)
    if coder == "raw":
        return b"", np.packbits(rows.ravel()).tobytes()
    per = rows.sum(axis=1)
    if model == "channel":
        table, p = pack_counts(per), per / rows.shape[1]
    elif model == "tensor":
        table, p = b"", np.full(len(per), per.sum() / rows.size)
    else:
        raise ValueError(f"unknown mask model {model!r}; available: {', '.join(MASK_MODELS)}")
    chunks = _mask_chunks(p, rows.shape[1])
    if not chunks:
        return table, b""
    family = _constriction().model.Bernoulli(perfect=False)
    return table, encode_chunks(
        coder, [(rows[c].ravel().astype(np.int32), family, np.repeat(p[c], rows.shape[1])) for c in chunks]
    )


def decode_mask(
    table: bytes, stream: bytes, shape: tuple[int, ...], kept: int, model: str, coder: str, what: str
) -> np.ndarray:
    """Inverse of :func:`encode_mask`; ``kept`` (entries kept in the tensor) comes from the checked header."""
    c = int(shape[0])
    n = int(np.prod(shape, dtype=np.int64)) // c
    if coder == "raw":
        if len(stream) != (c * n + 7) // 8 or table:
            raise NervFormatError(f"{what}: mask bitmap has {len(stream)} bytes, expected {(c * n + 7) // 8}")
        rows = np.unpackbits(np.frombuffer(stream, dtype=np.uint8))[: c * n].astype(bool).reshape(c, n)
    else:
        if model == "channel":
            per = unpack_counts(table, c, kept, f"{what} mask")
            if (per > n).any():
                raise NervFormatError(f"{what}: mask table keeps more entries than a channel has")
            p = per / n
        elif model == "tensor":
            if table:
                raise NervFormatError(f"{what}: a per-tensor mask has no table")
            p = np.full(c, kept / (c * n))
        else:
            raise NervFormatError(f"{what}: unknown mask model {model!r}")
        rows = np.repeat((p >= 1)[:, None], n, axis=1)
        chunks = _mask_chunks(p, n)
        if chunks:
            family = _constriction().model.Bernoulli(perfect=False)
            steps = [lambda dec, ch=ch: dec.decode(family, np.repeat(p[ch], n)) for ch in chunks]
            for ch, bits in zip(chunks, decode_chunks(stream, coder, f"{what} mask", steps)):
                rows[ch] = bits.reshape(len(ch), n).astype(bool)
        elif stream:
            raise NervFormatError(f"{what}: mask stream data for a mask with nothing to code")
    if int(rows.sum()) != kept:
        raise NervFormatError(f"{what}: mask keeps {int(rows.sum())} entries, header says {kept}")
    return rows.reshape(shape)
