"""Segments in one .nerv (issue 18 item 1): gathering segment files, the format-3 table, decoding by segment."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest
from segmented_files import segmented_nerv, write_segments

from nervplayer import atomic
from nervplayer.codec import container, nervfile
from nervplayer.codec.segmented import SegmentPart, gather
from nervplayer.codec.segtable import SegmentedFile
from nervplayer.errors import ConfigError, NervFormatError

BOUNDS = [0, 5, 12, 16]


@pytest.fixture(scope="module")
def three(tmp_path_factory) -> tuple[Path, list[SegmentPart]]:
    """A gathered file of three segments (frames 0:5, 5:12, 12:16) and its segment files."""
    return segmented_nerv(
        tmp_path_factory.mktemp("seg"), BOUNDS, metrics=lambda i: {"psnr": 30.0 + i, "ms_ssim": 0.9 + i / 100}
    )


def test_one_part_is_todays_file(tmp_path):
    (part,) = write_segments(tmp_path, [0, 16])
    gather([part], tmp_path / "one.nerv")
    assert (tmp_path / "one.nerv").read_bytes() == part.path.read_bytes()
    assert container.read_file(tmp_path / "one.nerv").version == container.VERSION


def test_gathered_file_is_format_3_with_a_table(three):
    path, parts = three
    contents = container.read_file(path)
    assert contents.version == (3, 0)
    assert contents.header["video"]["num_frames"] == 16 and contents.header["video"]["end"] == 16
    rows = contents.header["segments"]
    assert [(r["start"], r["end"]) for r in rows] == [(0, 5), (5, 12), (12, 16)]
    assert [r["psnr"] for r in rows] == [30.0, 31.0, 32.0]
    # each segment is the complete bytes of its own file
    payload = contents.sections["SEGS"]
    for r, p in zip(rows, parts):
        assert payload[r["offset"] : r["offset"] + r["bytes"]] == p.path.read_bytes()
    assert contents.header["metrics"]["psnr"] == pytest.approx((30 * 5 + 31 * 7 + 32 * 4) / 16)


def test_load_gives_every_segment(three):
    path, parts = three
    nf = nervfile.load_any(path)
    assert isinstance(nf, SegmentedFile)
    assert nf.num_frames == 16 and [s.frames for s in nf.segments] == [5, 7, 4]
    for part, seg in zip(parts, nf.parts):
        alone = nervfile.load(part.path)
        assert seg.num_frames == alone.num_frames
        assert all((seg.tensors[k].dequantize() == q.dequantize()).all() for k, q in alone.tensors.items())


def test_parts_in_any_order(tmp_path, three):
    path, parts = three
    gather(list(reversed(parts)), tmp_path / "again.nerv")
    a, b = container.read_file(path), container.read_file(tmp_path / "again.nerv")
    assert a.sections == b.sections and a.header["segments"] == b.header["segments"]


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda p: [p[0], p[2]], "frames 5:12 belong to no segment"),
        (lambda p: [p[0], SegmentPart(4, 12, p[1].path), p[2]], "overlaps"),
        (lambda p: [SegmentPart(1, 5, p[0].path), *p[1:]], "frames 0:1 belong to no segment"),
        (lambda p: [SegmentPart(0, 6, p[0].path), SegmentPart(6, 12, p[1].path), p[2]], "holds 5 frames"),
        (lambda p: [p[0], p[1], SegmentPart(12, 16, p[2].path.with_name("nope.nerv"))], "no such file"),
        (lambda p: [], "no segments"),
    ],
)
def test_bad_parts(tmp_path, three, cut, message):
    _, parts = three
    out = tmp_path / "out.nerv"
    with pytest.raises((ConfigError, NervFormatError), match=message):
        gather(cut(parts), out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_parts_must_agree(tmp_path):
    a = write_segments(tmp_path / "a", [0, 5])
    b = write_segments(tmp_path / "b", [5, 9], fps=30.0)
    with pytest.raises(NervFormatError, match="fps 30.0 differs"):
        gather(a + b, tmp_path / "x.nerv")
    c = write_segments(tmp_path / "c", [5, 9], source={"name": "other.mp4", "sha256": "1" * 64})
    with pytest.raises(NervFormatError, match="another source"):
        gather(a + c, tmp_path / "x.nerv")
    d = write_segments(tmp_path / "d", [7, 11])  # fitted on source frames 7:11, not the clip's 5:9
    with pytest.raises(NervFormatError, match="starts at source frame 7"):
        gather(a + [SegmentPart(5, 9, d[0].path)], tmp_path / "x.nerv")
    assert not (tmp_path / "x.nerv").exists()


def test_disk_full_while_gathering_leaves_the_earlier_file(tmp_path, three, monkeypatch):
    _, parts = three
    out = tmp_path / "clip.nerv"
    gather(parts[:1], out)  # the earlier file: one segment
    before = out.read_bytes()
    real_fdopen = atomic.os.fdopen

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space left"):
        gather(parts, out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip.nerv"]  # no temp file left behind


def test_a_reader_of_format_2_refuses_it(three, monkeypatch):
    """A 2.x reader (majors 1 and 2) says the file is newer rather than decoding it wrongly."""
    assert struct.unpack_from("<HH", three[0].read_bytes(), 8) == (3, 0)
    monkeypatch.setattr(container, "READS", (1, 2))
    with pytest.raises(NervFormatError, match=r"format version 3.0 was written by a newer nervplayer"):
        nervfile.load_any(three[0])


def test_load_wants_one_model(three):
    with pytest.raises(NervFormatError, match="holds 3 segments, not one model"):
        nervfile.load(three[0])
