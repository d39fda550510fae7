"""The ``laplace`` entropy model (codec/context.py): its fixed-point tables, round trips with and without
contexts, the validation of every stored parameter, and a format-2.3 file that uses it decoding bit for bit."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nervplayer.codec import NervVideo, container, context, nervfile
from nervplayer.codec.quantize import quantize
from nervplayer.errors import NervFormatError

from .conftest import busy_latents, context_grid_nerv

DATA = Path(__file__).parent.parent / "data"
FIXTURE = DATA / "format2.3-laplace.nerv"


def code(symbols: np.ndarray, alphabet: int, shape: tuple[int, ...], contextual: bool, coder: str = "ans"):
    """(parameters, stream) as the writer makes them."""
    params, _ = context.fit(symbols, alphabet, shape, contextual)
    return params.pack(), context.encode(symbols, alphabet, shape, params, coder)


def test_tables_are_the_documented_integers():
    """docs/format.md defines the weights exactly; these pin them (a decoder that differs cannot decode)."""
    w = context.weights(6, 2, 1 << 15)  # θ = 1/2
    assert w.tolist() == [1 << 22, 1 << 23, 1 << 24, 1 << 23, 1 << 22, 1 << 21]
    far = context.weights(1 << 12, 0, 60_000)  # past the first block of 256: B[m] · g[e & 255]
    g = [1 << 16]
    for _ in range(255):
        g.append((g[-1] * 60_000) >> 16)
    block = (g[-1] * 60_000) >> 16
    assert far[256 + 3] == max(1, (((1 << 24) * block >> 16) * g[3]) >> 16)
    assert far.min() == 1 and far.dtype == np.int64


@pytest.mark.parametrize("coder", ["ans", "range"])
@pytest.mark.parametrize("contextual", [False, True])
def test_symbols_round_trip(coder, contextual):
    q = quantize(busy_latents((6, 3, 7, 9)), 8, False)
    table, stream = code(q.symbols, 256, q.shape, contextual, coder)
    out = context.decode(table, stream, q.symbols.size, 256, q.shape, contextual, coder, "t")
    assert out.dtype == np.uint16 and np.array_equal(out, q.symbols)


def test_contexts_pay_for_themselves_on_latents_with_local_structure():
    q = quantize(busy_latents((8, 4, 12, 20)), 8, False)
    params, estimate = context.fit(q.symbols, 256, q.shape, True)
    assert len(params.decays) > 1
    plain = sum(map(len, code(q.symbols, 256, q.shape, False)))
    with_contexts = sum(map(len, code(q.symbols, 256, q.shape, True)))
    assert with_contexts < 0.9 * plain
    assert abs(with_contexts - estimate / 8) < 8  # the writer chooses by the estimate


def _params(k: int, centre: int, thresholds: list[int], decays: list[int]) -> bytes:
    return struct.pack("<BI", k, centre) + struct.pack(f"<{len(thresholds) + len(decays)}H", *thresholds, *decays)


@pytest.mark.parametrize(
    "data, contextual, message",
    [
        (_params(0, 3, [], []), True, "0 contexts"),
        (_params(9, 3, [1] * 8, [5] * 9), True, "9 contexts"),
        (_params(2, 3, [4], [100, 200]), False, "only unmasked latents"),
        (_params(2, 3, [4], [100]), True, "need"),
        (_params(1, 3, [], [100, 5]), True, "need"),
        (b"\x01\x00", True, "at least"),
        (_params(1, 256, [], [100]), True, "outside"),
        (_params(3, 3, [4, 4], [1, 2, 3]), True, "not increasing"),
        (_params(3, 3, [5, 4], [1, 2, 3]), True, "not increasing"),
        (_params(2, 3, [0], [1, 2]), True, "not increasing"),
        (_params(2, 3, [4], [0, 2]), True, "decay is 0"),
    ],
)
def test_inconsistent_parameters_are_format_errors(data, contextual, message):
    with pytest.raises(NervFormatError, match=message):
        context.decode(data, b"\0\0\0\1", 24, 256, (2, 3, 4), contextual, "ans", "t")


def test_a_tensor_with_too_many_rows_has_no_contexts():
    shape = (context.MAX_ROWS + 1, 2)
    with pytest.raises(NervFormatError, match="at most"):
        context.unpack(_params(2, 3, [4], [1, 2]), 256, shape, True, "t")
    assert len(context.fit(np.zeros(2 * shape[0], np.uint16), 256, shape, True)[0].decays) == 1


def test_a_laplace_tensor_in_a_raw_file_is_a_format_error():
    data = nervfile.encode(context_grid_nerv())[0]
    header, sections = container.unpack(data)
    header["compression"]["coder"] = "raw"
    with pytest.raises(NervFormatError, match="raw coding has no laplace model"):
        nervfile.decode(header, sections)


def test_a_reader_that_does_not_know_the_model_refuses_the_file():
    """A 2.2 reader ignores the unknown key ``entropy`` and reads the parameters as a histogram: it must fail
    with a format error rather than decode other symbols (docs/format.md, Versions)."""
    header, sections = container.unpack(nervfile.encode(context_grid_nerv())[0])
    laplace = [e for e in header["tensors"] if e.pop("entropy", "table") == "laplace"]
    assert len(laplace) > 1
    with pytest.raises(NervFormatError, match="table"):
        nervfile.decode(header, sections)


@pytest.mark.parametrize("coder", ["ans", "range"])
def test_a_file_with_contexts_decodes_bit_for_bit(coder, tmp_path):
    nf = context_grid_nerv(coder)
    path = tmp_path / "g.nerv"
    nervfile.save(nf, path)
    header, _ = container.read(path)
    laplace = {e["name"]: e for e in header["tensors"] if e.get("entropy") == "laplace"}
    assert "grids.0" in laplace and header["tensors"][0]["table_bytes"] > 7  # 7 bytes: one context
    disk = NervVideo.open(path)
    for name, q in nf.tensors.items():
        assert np.array_equal(disk.file.tensors[name].symbols, q.symbols), name
    assert torch.equal(disk.predict(list(range(8))), NervVideo(nf).predict(list(range(8))))


def test_format_2_3_fixture_still_opens():
    """tests/data/format2.3-laplace.nerv: :func:`grid_file` written by the first 2.3 writer (write_fixture)."""
    header, _ = container.read(FIXTURE)
    assert container.read_file(FIXTURE).version == (2, 3)
    assert any(e.get("entropy") == "laplace" and e["table_bytes"] > 7 for e in header["tensors"])
    video = NervVideo.open(FIXTURE)
    for name, q in context_grid_nerv().tensors.items():  # the very symbols it was written from
        assert np.array_equal(video.file.tensors[name].symbols, q.symbols), name
    expected = np.load(DATA / "format2.3-expected.npz")
    assert np.abs(video.frames(0, 16).astype(int) - expected["grid"]).max() <= 1


def test_a_file_with_inconsistent_context_tables_exits_2_with_one_line(tmp_path):
    """The fixture with grids.0's second threshold set equal to its first (checksums fixed), as a user meets it."""
    header, sections = container.unpack(FIXTURE.read_bytes())
    params = bytearray(sections["TABL"])  # grids.0's parameters open the section: K, centre, τ₁, τ₂, decays
    assert header["tensors"][0]["name"] == "grids.0" and params[0] == 3
    params[7:9] = params[5:7]
    sections["TABL"] = bytes(params)
    bad = tmp_path / "bad.nerv"
    bad.write_bytes(container.pack({k: v for k, v in header.items() if k != "sections"}, list(sections.items())))
    result = subprocess.run(
        [sys.executable, "-m", "nervplayer", "decode", str(bad), "--frame", "0", "-o", str(tmp_path / "x.png")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and not (tmp_path / "x.png").exists()
    assert result.stderr.startswith("nervplayer: error: ") and result.stderr.count("\n") == 1
    assert "grids.0: laplace context thresholds" in result.stderr and "not increasing" in result.stderr


def test_info_marks_the_tensors_coded_with_the_model():
    from nervplayer.codec.report import describe

    header, _ = container.read(FIXTURE)
    lines = describe(header, FIXTURE.stat().st_size).splitlines()
    assert any(line.startswith("grids.0") and "latents^~" in line for line in lines)
    assert lines[-1].startswith("~ coded with laplace models")


def write_fixture() -> None:
    """Write the 2.3 fixture and its frames (decoded from the in-memory model): ``python -m
    tests.codec.test_context``."""
    nf = context_grid_nerv()
    nervfile.save(nf, FIXTURE)
    np.savez_compressed(DATA / "format2.3-expected.npz", grid=NervVideo(nf).frames(0, 16))


if __name__ == "__main__":
    write_fixture()
