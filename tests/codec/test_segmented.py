"""Segments in one .nerv (issue 18 item 1): gathering segment files, the format-3 table, decoding by segment."""

from __future__ import annotations

import dataclasses
import errno
import math
import re
import resource
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from segmented_files import MODEL, SIZE, rewritten, segment_file, segmented_nerv, write_segments

from nervplayer import atomic
from nervplayer.codec import NervVideo, container, nervfile, reader
from nervplayer.codec.segmented import SegmentPart, gather
from nervplayer.codec.segtable import SegmentedFile
from nervplayer.errors import ConfigError, NervFormatError

BOUNDS = [0, 5, 12, 16]
SAMPLE_NERV = Path(__file__).resolve().parents[2] / "resources" / "sample.nerv"


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


# ---------------------------------------------------------------------------------------------- reading


def test_every_frame_is_its_segments_frame_bit_for_bit(three):
    path, parts = three
    video = NervVideo.open(path)
    assert video.num_frames == 16 and video.size == SIZE and video.segments == [(0, 5), (5, 12), (12, 16)]
    whole = video.frames(0, 16)
    expected = np.concatenate([NervVideo.open(p.path).frames(0, p.end - p.start) for p in parts])
    assert whole.shape == (16, *SIZE, 3)
    assert np.array_equal(whole, expected)
    for p in parts:  # one frame at a time, and in an order that crosses boundaries back and forth
        alone = NervVideo.open(p.path)
        for i in range(p.start, p.end):
            assert np.array_equal(video.frame(i), alone.frame(i - p.start))
    assert np.array_equal(video.decode([13, 2, 7, 3]), expected[[13, 2, 7, 3]])


def test_fractional_frames(three):
    path, parts = three
    video = NervVideo.open(path)
    middle = NervVideo.open(parts[1].path)
    assert np.array_equal(video.frame(7.25), middle.frame(2.25))  # between two frames of one segment
    assert not np.array_equal(video.frame(7.25), video.frame(7))
    assert video.segment_of(11.3) == (1, 6.0)  # past the last frame of segment 1: that frame ...
    assert np.array_equal(video.frame(11.3), middle.frame(6))
    assert video.segment_of(11.5) == (2, 0.0)  # ... from halfway, the next segment's first
    assert np.array_equal(video.frame(11.7), video.frame(12))
    with pytest.raises(ConfigError, match="outside the video"):
        video.frame(15.5)


def test_built_networks_stay_within_the_bound(three):
    path, _ = three
    video = NervVideo.open(path, max_built=2)
    assert video.built_bound == 2 and video.built_count == 0  # nothing built before a frame is decoded
    for i in [0, 6, 13, 1, 7, 14, 15, 0]:
        video.frame(i)
        assert video.built_count <= video.built_bound
    assert video.built_count == 2


def test_the_memory_budget_bounds_the_built_networks(three):
    path, _ = three
    roomy = NervVideo.open(path, memory_budget=1 << 30)
    assert roomy.built_bound == reader.MAX_BUILT
    weights = max(4 * sum(math.prod(q.shape) for q in part.tensors.values()) for part in roomy.file.parts)
    tight = NervVideo.open(path, memory_budget=roomy.plan.need + weights // 2)  # room for one network only
    assert tight.built_bound == 1
    for i in range(16):
        tight.frame(i)
        assert tight.built_count == 1


def test_threads_share_a_segmented_video(three):
    path, _ = three
    video = NervVideo.open(path, max_built=1)
    expected = video.frames(0, 16)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: video.frame(i), [i % 16 for i in range(64)]))
    assert all(np.array_equal(g, expected[i % 16]) for i, g in enumerate(got))
    assert video.built_count == 1


ONE_MODEL_FILES = sorted(p for p in Path(__file__).parent.parent.joinpath("data").glob("format[12]*.nerv"))


@pytest.mark.parametrize("path", [*ONE_MODEL_FILES, SAMPLE_NERV])
def test_older_files_still_open(path):
    video = NervVideo.open(path)
    assert video.segments == [(0, video.num_frames)] and video.built_count == 1
    assert video.frame(0).shape == (*video.size, 3)


# ---------------------------------------------------------------------------------------------- bad tables


def _set(row: int, **values):
    return lambda h: h["segments"][row].update(values)


BAD_TABLES = {
    "overlap": (_set(1, start=4), "segment 1 (frames 4:12) overlaps segment 0 (frames 0:5)"),
    "gap": (_set(1, start=6), "frames 5:6 belong to no segment (a gap before segment 1)"),
    "first frames missing": (_set(0, start=1), "frames 0:1 belong to no segment"),
    "short of the video": (lambda h: h["video"].update(num_frames=20, end=20), "covers frames 0:16, the video has 20"),
    "outside the file": (_set(2, bytes=10**9), "segment 2 points outside the file"),
    "offset outside the file": (_set(1, offset=2**40), "segment 1 points outside the file"),
    "bytes of no segment": (_set(2, bytes=100), "bytes of the segment section belong to no segment"),
    "segment bytes not contiguous": (_set(1, offset=0), "segment 1 starts at byte 0 of the segment section"),
    "no frames": (_set(1, end=5), "segment 1 has no frames"),
    "not integers": (_set(1, start="5"), "segment 1: start, end, offset and bytes must be integers"),
    "no table": (lambda h: h.pop("segments"), "header has no segment table"),
    "too many": (lambda h: h.update(segments=[h["segments"][0]] * 5000), "5000 segments (limit 4096)"),
    "bad quality": (_set(0, psnr="high"), "segment 0: psnr and ms_ssim must be numbers or null"),
    "bad scene cut": (_set(1, scene_cut=1), "segment 1: scene_cut must be true, false or absent"),
    "wrong frame count": (
        lambda h: (_set(0, end=6)(h), _set(1, start=6)(h)),
        "segment 0 (frames 0:6): holds 5 frames, the segment table says 6",
    ),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_segment_tables(tmp_path, three, case):
    change, message = BAD_TABLES[case]
    with pytest.raises(NervFormatError, match=re.escape(message)):
        NervVideo.open(rewritten(tmp_path, three[0], change))


def test_the_table_is_checked_before_the_segments_are_read(tmp_path, three, monkeypatch):
    """A table pointing beyond a truncated file is refused from the header alone: no section is read."""
    bad = rewritten(tmp_path, three[0], lambda h: None, cut=1000)
    read = []
    real = container._read_from

    def spy(f, size, name, before):
        class Spy:
            def __getattr__(self, attr):
                return getattr(f, attr)

            def read(self, n=-1):
                read.append(n)
                return f.read(n)

        return real(Spy(), size, name, before)

    monkeypatch.setattr(container, "_read_from", spy)
    with pytest.raises(NervFormatError, match="segment 2 points outside the file"):
        nervfile.load_any(bad)
    assert len(read) == 2  # the preamble and the header, nothing of the segments


def test_a_damaged_segment_is_named(tmp_path, three):
    data = bytearray(three[0].read_bytes())
    data[-100] ^= 0xFF  # inside the last segment's last section: its own checksum catches it
    bad = tmp_path / "bad.nerv"
    bad.write_bytes(bytes(data))
    with pytest.raises(NervFormatError, match="checksum mismatch") as e:
        NervVideo.open(bad)
    assert "segment" in str(e.value)


@pytest.mark.parametrize("case", ["overlap", "gap", "outside the file", "wrong frame count"])
def test_bad_tables_from_the_command_line(tmp_path, three, case):
    change, message = BAD_TABLES[case]
    bad = rewritten(tmp_path, three[0], change)
    commands = [["info", str(bad)]]
    if case == "outside the file":
        commands.append(["decode", str(bad), "--frame", "0", "-o", str(tmp_path / "x.png")])
    for cmd in commands:
        r = subprocess.run([sys.executable, "-m", "nervplayer", *cmd], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
        assert message in r.stderr
    assert not (tmp_path / "x.png").exists()


# ------------------------------------------------------------------------------ gathering, as a user meets it

GATHER = """
import sys
from pathlib import Path
from nervplayer.cli.errors import guarded
from nervplayer.codec.segmented import SegmentPart, gather
parts = [SegmentPart(int(a), int(b), Path(p)) for a, b, p in (arg.split(",") for arg in sys.argv[2:])]
sys.exit(guarded(lambda argv: gather(parts, sys.argv[1]) or 0, [], False))
"""


def run_gather(out: Path, parts: list[SegmentPart], file_limit: int | None = None) -> subprocess.CompletedProcess:
    """``gather`` in a process of its own, under the CLI's error contract; ``file_limit``: the largest file it
    may write (RLIMIT_FSIZE, a disk that fills up)."""

    def limit() -> None:
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    args = [f"{p.start},{p.end},{p.path}" for p in parts]
    return subprocess.run(
        [sys.executable, "-c", GATHER, str(out), *args], capture_output=True, text=True, timeout=120, preexec_fn=limit
    )


def one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and r.stdout == ""
    return lines[0]


def test_gathering_bad_parts_from_a_process(tmp_path, three):
    _, parts = three
    out = tmp_path / "clip.nerv"
    missing = SegmentPart(12, 16, tmp_path / "nope.nerv")
    assert "nope.nerv: no such file" in one_line(run_gather(out, [*parts[:2], missing]))
    wide = segment_file(4, start=12, model=dataclasses.replace(MODEL, width=48, fc_w=6))
    nervfile.save(wide, tmp_path / "wide.nerv")
    line = one_line(run_gather(out, [*parts[:2], SegmentPart(12, 16, tmp_path / "wide.nerv")]))
    assert "video size [24, 48] differs from the first segment's [24, 40]" in line
    assert "overlaps" in one_line(run_gather(out, [parts[0], SegmentPart(4, 12, parts[1].path), parts[2]]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wide.nerv"]  # nothing half-written


def test_a_disk_that_fills_while_gathering_leaves_the_earlier_file(tmp_path, three):
    _, parts = three
    out = tmp_path / "clip.nerv"
    gather(parts[:1], out)
    before = out.read_bytes()
    total = sum(p.path.stat().st_size for p in parts)
    line = one_line(run_gather(out, parts, file_limit=total // 2))  # room for half of the gathered file
    assert line.endswith("clip.nerv: file too large") or "no space" in line.lower()
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip.nerv"]


def test_damaged_segmented_files_fail_only_with_format_errors(tmp_path, three):
    """Random byte changes and truncations of a segmented file: it opens (the change fell where nothing reads
    it) or raises NervFormatError, never anything else."""
    data = three[0].read_bytes()
    rng = np.random.default_rng(0)
    outcomes = set()
    for k in range(150):
        bad = bytearray(data)
        if k % 3 == 0:
            bad = bad[: int(rng.integers(0, len(data)))]
        else:
            for pos in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
                bad[pos] = int(rng.integers(0, 256))
        path = tmp_path / "fuzzed.nerv"
        path.write_bytes(bytes(bad))
        try:
            nervfile.load_any(path)
            outcomes.add("opened")
        except NervFormatError:
            outcomes.add("refused")
    assert "refused" in outcomes
