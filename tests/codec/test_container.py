"""The container: framing, checksums, atomic writes, and every kind of bad input → NervFormatError."""

from __future__ import annotations

import json
import struct
import tracemalloc
import zlib

import pytest

from nervplayer.codec import container, nervfile
from nervplayer.errors import NervFormatError


def load_bytes(data: bytes) -> nervfile.NervFile:
    header, sections = container.unpack(data)
    return nervfile.decode(header, sections)


def repack_header(data: bytes, edit) -> bytes:
    """Apply ``edit`` to the parsed header and re-frame it with a valid checksum (reaches the validator). An
    infinite float is written as ``1e999``, which JSON parsers read as infinity."""
    pre = struct.Struct("<8sHHII")
    magic, major, minor, n, _ = pre.unpack_from(data)
    header = json.loads(data[pre.size : pre.size + n])
    edit(header)
    head = json.dumps(header).replace("Infinity", "1e999").encode()
    return pre.pack(magic, major, minor, len(head), zlib.crc32(head)) + head + data[pre.size + n :]


def boundaries(data: bytes) -> list[int]:
    """Byte offsets where the preamble, header and each section prefix / payload end."""
    pre = struct.Struct("<8sHHII")
    n = pre.unpack_from(data)[3]
    cuts, pos = [8, pre.size, pre.size + n], pre.size + n
    while pos < len(data):
        _, length, _ = struct.unpack_from("<4sQI", data, pos)
        cuts += [pos + 16, pos + 16 + length]
        pos += 16 + length
    return cuts


def test_round_trip(tiny_file):
    nf, path, data = tiny_file
    again = nervfile.load(path)
    assert list(again.tensors) == list(nf.tensors)
    for name, q in nf.tensors.items():
        assert (again.tensors[name].dequantize() == q.dequantize()).all()
    assert again.video == nf.video and again.activation == nf.activation
    assert data.startswith(container.MAGIC)


def test_sizes_add_up(tiny_file):
    nf, _, data = tiny_file
    encoded, sizes = nervfile.encode(nf)
    assert set(sizes) == set(nervfile.PARTS)
    assert sum(sizes.values()) == len(encoded)


@pytest.mark.parametrize("where", ["boundary", "middle"])
def test_truncated_anywhere(tiny_file, where):
    data = tiny_file[2]
    cuts = boundaries(data)
    points = cuts[:-1] if where == "boundary" else [(a + b) // 2 for a, b in zip([0] + cuts, cuts) if b - a > 1]
    assert len(points) >= 8
    for cut in points:
        with pytest.raises(NervFormatError, match="truncated|not a .nerv"):
            load_bytes(data[:cut])


def test_flipped_header_byte_fails_the_checksum(tiny_file):
    data = bytearray(tiny_file[2])
    data[40] ^= 0x20
    with pytest.raises(NervFormatError, match="header checksum"):
        load_bytes(bytes(data))


def test_flipped_payload_byte_fails_the_checksum(tiny_file):
    data = bytearray(tiny_file[2])
    data[-3] ^= 0x01
    with pytest.raises(NervFormatError, match="section .* checksum"):
        load_bytes(bytes(data))


def test_wrong_magic(tiny_file):
    with pytest.raises(NervFormatError, match="not a .nerv file"):
        load_bytes(b"XNERV\r\n\x1a" + tiny_file[2][8:])


def test_newer_major_version(tiny_file):
    data = bytearray(tiny_file[2])
    struct.pack_into("<H", data, 8, max(container.READS) + 1)
    with pytest.raises(
        NervFormatError,
        match=f"format version {max(container.READS) + 1}.{container.VERSION[1]} was written by a newer nervplayer",
    ):
        load_bytes(bytes(data))


def test_newer_minor_version_is_read(tiny_file):
    data = bytearray(tiny_file[2])
    struct.pack_into("<H", data, 10, container.VERSION[1] + 3)
    assert load_bytes(bytes(data)).num_frames == 16


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: h["model"].update(fc_c=10**9),
        lambda h: h["model"].update(stem_dim=60000, fc_c=60000),
        lambda h: h["model"].update(height=10**6),
        lambda h: h["model"].update(strides=[32] * 12),
        lambda h: h["video"].update(num_frames=10**12),
        lambda h: h["tensors"][0].update(kept=10**12),
        lambda h: h["tensors"][2].update(weights_bytes=2**40),
    ],
)
def test_absurd_sizes_fail_before_allocating(tiny_file, edit):
    data = repack_header(tiny_file[2], edit)
    tracemalloc.start()
    try:
        with pytest.raises(NervFormatError):
            load_bytes(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, peak


def test_header_length_beyond_the_limit(tiny_file):
    data = bytearray(tiny_file[2])
    struct.pack_into("<I", data, 12, 0xFFFFFFF0)
    with pytest.raises(NervFormatError, match="header declares"):
        load_bytes(bytes(data))


def test_missing_plugin_is_named_with_its_version(tiny_file):
    def edit(h):
        h["plugins"]["activation"].update(id="mish", version="3.1")
        h["model"]["activation"] = "mish"

    with pytest.raises(NervFormatError, match=r"activation plugin 'mish' version 3\.1.*not installed"):
        load_bytes(repack_header(tiny_file[2], edit))


def test_incompatible_plugin_version(tiny_file):
    data = repack_header(tiny_file[2], lambda h: h["plugins"]["activation"].update(version="2.0"))
    with pytest.raises(NervFormatError, match="'silu' version 2.0; the installed one is version 1.0"):
        load_bytes(data)


def test_empty_file(tmp_path):
    (tmp_path / "empty.nerv").write_bytes(b"")
    with pytest.raises(NervFormatError, match="empty file"):
        nervfile.load(tmp_path / "empty.nerv")


def test_directory(tmp_path):
    (tmp_path / "dir.nerv").mkdir()
    with pytest.raises(NervFormatError, match="is a folder"):
        nervfile.load(tmp_path / "dir.nerv")


def test_missing_file(tmp_path):
    with pytest.raises(NervFormatError, match="no such file"):
        nervfile.load(tmp_path / "nope.nerv")


def test_mp4_renamed_to_nerv(tmp_path, shapes_clip):
    fake = tmp_path / "video.nerv"
    fake.write_bytes(shapes_clip.read_bytes())
    with pytest.raises(NervFormatError, match="not a .nerv file.*MP4"):
        nervfile.load(fake)


def test_trailing_garbage(tiny_file):
    with pytest.raises(NervFormatError, match="unexpected bytes"):
        load_bytes(tiny_file[2] + b"\0")


def test_no_code_runs_on_open(tiny_file):
    """The reader never unpickles: a file is JSON and raw arrays, and torch.load is never called."""
    import pickle
    import unittest.mock as mock

    with (
        mock.patch.object(pickle, "loads", side_effect=AssertionError("pickle")),
        mock.patch("torch.load", side_effect=AssertionError("torch.load")),
    ):
        nervfile.load(tiny_file[1])


def test_atomic_write_keeps_the_old_file_on_a_crash(tiny_file, tmp_path, monkeypatch):
    nf, _, data = tiny_file
    path = tmp_path / "clip.nerv"
    path.write_bytes(data)
    import nervplayer.atomic as atomic

    def crash(fd):
        raise OSError("disk died mid-save")

    monkeypatch.setattr(atomic.os, "fsync", crash)
    with pytest.raises(OSError):
        nervfile.save(nf, path)
    assert path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["clip.nerv"]
