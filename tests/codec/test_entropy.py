import numpy as np
import pytest

from nervplayer.codec import entropy
from nervplayer.errors import NervFormatError


def laplace_symbols(n: int, bits: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.clip(np.rint(rng.laplace(2 ** (bits - 1), 2 ** (bits - 4), n)), 0, 2**bits - 1)
    return x.astype(np.uint16)


@pytest.mark.parametrize("coder", entropy.CODERS)
@pytest.mark.parametrize("bits", [2, 8, 16])
def test_symbols_round_trip(coder, bits):
    s = laplace_symbols(5000, bits)
    table, stream = entropy.encode_symbols(s, bits, coder)
    assert (entropy.decode_symbols(table, stream, s.size, bits, coder, "t") == s).all()


@pytest.mark.parametrize("coder", ["ans", "range"])
def test_within_one_percent_of_the_empirical_entropy(coder):
    s = laplace_symbols(200_000, 8)
    _, stream = entropy.encode_symbols(s, 8, coder)
    assert len(stream) * 8 / entropy.entropy_bits(s) < 1.01


def test_degenerate_streams():
    for s in (np.zeros(0, np.uint16), np.full(100, 7, np.uint16)):
        table, stream = entropy.encode_symbols(s, 4, "ans")
        assert stream == b""
        assert (entropy.decode_symbols(table, stream, s.size, 4, "ans", "t") == s).all()


def test_decoder_insists_on_the_exact_stream():
    s = laplace_symbols(1000, 6)
    table, stream = entropy.encode_symbols(s, 6, "ans")
    with pytest.raises(NervFormatError):
        entropy.decode_symbols(table, stream + b"\1\0\0\0", s.size, 6, "ans", "t")
    with pytest.raises(NervFormatError, match="sum to"):
        entropy.decode_symbols(table, stream, s.size + 1, 6, "ans", "t")


def test_counts_table_round_trip_and_bounds():
    counts = np.array([0, 1, 127, 128, 300000, 0, 2**34], dtype=np.int64)
    packed = entropy.pack_counts(counts)
    assert (entropy.unpack_counts(packed, 7, int(counts.sum()), "t") == counts).all()
    with pytest.raises(NervFormatError):
        entropy.unpack_counts(packed, 6, int(counts.sum()), "t")
    bomb = __import__("zlib").compress(b"\0" * 10_000_000)
    with pytest.raises(NervFormatError, match="longer than declared"):
        entropy.unpack_counts(bomb, 10, 0, "t")


@pytest.mark.parametrize("model", entropy.MASK_MODELS)
@pytest.mark.parametrize("coder", entropy.CODERS)
def test_masks_round_trip(model, coder):
    rng = np.random.default_rng(3)
    mask = rng.random((50, 7, 3, 3)) < np.linspace(0, 1, 50)[:, None, None, None]
    mask[0] = False
    mask[1] = True
    table, stream = entropy.encode_mask(mask, model, coder)
    back = entropy.decode_mask(table, stream, mask.shape, int(mask.sum()), model, coder, "t")
    assert (back == mask).all()


def test_mask_cost_is_close_to_the_binary_entropy():
    rng = np.random.default_rng(4)
    mask = rng.random((256, 512)) < 0.6
    _, stream = entropy.encode_mask(mask, "tensor", "ans")
    p = mask.mean()
    h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p)) * mask.size
    assert len(stream) * 8 / h < 1.01
    assert len(stream) < mask.size / 8  # beats a bitmap


def test_huffman_estimate():
    assert entropy.huffman_bits(np.array([0, 0, 1, 2])) == 6  # codes 0, 10, 11
    assert entropy.huffman_bits(np.full(5, 3)) == 5
