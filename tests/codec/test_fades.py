"""Fades at segment boundaries (format 3.1, codec/blend.py): neighbouring segments that store frames beyond their
own (a lead before, a trail after) fade into each other over the frames both decode, at weights the writer chose
against the source."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch
from segmented_files import SIZE, rewritten, segment_file

from nervplayer.cli.main import main
from nervplayer.codec import NervVideo, container, nervfile
from nervplayer.codec.blend import band, choose, fade
from nervplayer.codec.segmented import SegmentPart, gather
from nervplayer.codec.segtable import BLEND_ONE
from nervplayer.errors import ConfigError, NervFormatError
from nervplayer.metrics import psnr
from nervplayer.model.render import to_uint8

BOUNDS = [0, 6, 12, 16]
LEADS = [0, 3, 2]  # segment 1 also decodes frames 3:6, segment 2 frames 10:12
TRAILS = [2, 1, 0]  # segment 0 also decodes frames 6:8, segment 1 frame 12
ZONES = {1: range(3, 8), 2: range(10, 13)}  # the frames faded at the boundary before each segment


def source(a: int, b: int) -> torch.Tensor:
    """A source clip that is neither segment's output: both models' frames have something to gain from a fade."""
    g = torch.Generator().manual_seed(7)
    frames = torch.rand(BOUNDS[-1], 3, *SIZE, generator=g)
    return frames[a:b]


@pytest.fixture(scope="module")
def faded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fades")
    parts = []
    for i, (a, b) in enumerate(zip(BOUNDS, BOUNDS[1:])):
        lead, trail = LEADS[i], TRAILS[i]
        path = folder / f"segment-{i}.nerv"
        stored = lead + b - a + trail
        psnr_of = [20.0 + i + j / 100 for j in range(stored)]
        nervfile.save(segment_file(stored, start=a - lead, seed=i, frame_psnr=psnr_of), path)
        parts.append(SegmentPart(a, b, path, lead=lead, trail=trail))
    out = folder / "clip.nerv"
    gather(parts, out, source)
    return out, parts


def test_the_table_records_each_fade_and_the_file_is_format_3_1(faded):
    out, parts = faded
    assert container.read_file(out).version == container.FADED
    table = NervVideo.open(out).file.segments
    assert [(s.start, s.end, s.lead, s.trail, len(s.blend), len(s.blend_psnr)) for s in table] == [
        (0, 6, 0, 2, 0, 0),
        (6, 12, 3, 1, 5, 5),
        (12, 16, 2, 0, 3, 3),
    ]
    assert all(0 <= w <= BLEND_ONE for s in table for w in s.blend)


def test_faded_frames_are_the_chosen_mix_and_every_other_frame_its_segments_own(faded):
    out, parts = faded
    video = NervVideo.open(out)
    whole = video.frames(0, 16)
    files = [NervVideo.open(p.path) for p in parts]
    expected = np.concatenate([f.frames(p.lead, p.lead + p.end - p.start) for f, p in zip(files, parts)])
    table = video.file.segments
    for k, zone in ZONES.items():
        s, before = table[k], parts[k - 1]
        earlier = files[k - 1].predict([f - before.start + before.lead for f in zone])
        later = files[k].predict([f - s.start + s.lead for f in zone])
        expected[zone.start : zone.stop] = to_uint8(fade(earlier, later, s.blend))
        measured = psnr(fade(earlier, later, s.blend), source(zone.start, zone.stop)).tolist()
        assert list(s.blend_psnr) == pytest.approx(measured, abs=1e-3)
    assert np.array_equal(whole, expected)
    for i in range(16):  # one frame at a time, as the player asks
        assert np.array_equal(video.frame(i), expected[i])


def test_each_weight_is_the_best_in_its_band():
    g = torch.Generator().manual_seed(3)
    a, b, x = (torch.rand(5, 3, 8, 8, generator=g) for _ in range(3))
    b[0] = x[0]  # the later model exact, at the zone's start: the most the band allows
    b[2] = x[2]  # ... in the middle: all of it
    a[4] = x[4]  # the earlier model exact, at the zone's end: the least the band allows
    a[3], b[3] = x[3] + 0.1 * a[3], x[3] + 0.1 * b[3]  # equally good, errors apart: about half
    weights, quality = choose(a, b, x)
    assert band(5) == [(0, 21), (0, 43), (0, 64), (21, 64), (43, 64)]
    assert weights[0] == 21 and weights[2] == 64 and weights[4] == 43 and 21 < weights[3] < 43
    for j, (lo, hi) in enumerate(band(5)):
        errors = {w: float((fade(a[j : j + 1], b[j : j + 1], [w]) - x[j]).pow(2).mean()) for w in range(lo, hi + 1)}
        assert lo <= weights[j] <= hi and errors[weights[j]] == min(errors.values())
    assert quality == pytest.approx(psnr(fade(a, b, weights), x).tolist())


def test_the_clip_psnr_and_the_story_count_each_frame_once_as_it_decodes(faded):
    out, parts = faded
    nf = NervVideo.open(out).file
    story = nf.story.frame_psnr
    assert len(story) == 16
    table = nf.segments
    assert story[3:8] == pytest.approx(list(table[1].blend_psnr)) and story[10:13] == pytest.approx(table[2].blend_psnr)
    assert story[8] == pytest.approx(21.05)  # segment 1's own third frame, after its 3 lead frames
    assert story[13] == pytest.approx(22.03)  # segment 2's second
    for s in table:
        assert s.psnr == pytest.approx(sum(story[s.start : s.end]) / s.frames, abs=1e-3)


def test_fading_needs_the_source_and_fades_that_fit_their_neighbours(tmp_path, faded):
    _, parts = faded
    out = tmp_path / "x.nerv"
    with pytest.raises(ConfigError, match="need the source frames"):
        gather(parts, out)
    cases = {
        "leads 7 frames into a shorter segment": [parts[0], parts[1], dataclasses.replace(parts[2], lead=7)],
        "trails 2 frames after the last frame": [parts[0], parts[1], dataclasses.replace(parts[2], trail=2)],
        "shorter than the 5 frames the segment before trails": [
            parts[0],
            dataclasses.replace(parts[1], trail=5),
            parts[2],
        ],
        "its lead overlaps the fade at the start of the segment before": [
            dataclasses.replace(parts[0], trail=5),
            parts[1],
            parts[2],
        ],
    }
    for message, cut in cases.items():
        with pytest.raises(ConfigError, match=message):
            gather(cut, out, source)
    wrong = dataclasses.replace(parts[2], lead=1)
    with pytest.raises(NervFormatError, match="holds 6 frames, segment 12:16 has 4 and 1 before it"):
        gather([parts[0], parts[1], wrong], out, source)
    assert not out.exists()


def _set(row: int, **values):
    return lambda h: h["segments"][row].update(values)


BAD_FADES = {
    "lead in the first segment": (_set(0, lead=1, blend=[3]), "segment 0: lead must be an integer from 0 to the 0 "),
    "lead beyond the segment before": (_set(2, lead=7, blend=[0] * 7), "segment 2: lead must be an integer from 0 to"),
    "lead not an integer": (_set(1, lead=2.0), "segment 1: lead must be an integer"),
    "trail in the last segment": (_set(2, trail=1), "segment 2: trail must be an integer ≥ 0, and 0 in the last"),
    "trail beyond the segment after": (_set(1, trail=5), "segment 1 trails 5 frames into segment 2, which has 4"),
    "fades that overlap": (
        lambda h: (_set(0, trail=5)(h), _set(1, blend=[0] * 8, blend_psnr=[None] * 8)(h)),
        "segment 1: the fades at its two ends overlap",
    ),
    "weights missing": (_set(1, blend=[1, 2]), "segment 1: blend must hold 5 integer weights from 0 to 64"),
    "weight too large": (_set(1, blend=[1, 2, 3, 4, 65]), "segment 1: blend must hold 5 integer weights"),
    "weight not an integer": (_set(1, blend=[1, 2, 3, 4, True]), "segment 1: blend must hold 5 integer weights"),
    "psnr not a number": (_set(2, blend_psnr=[1.0, "x", 2.0]), "segment 2: blend_psnr must hold 3 numbers or nulls"),
    "lead the file does not hold": (
        _set(2, lead=1, blend=[3, 4], blend_psnr=[None, None]),
        "segment 2 (frames 12:16): holds 6 frames, the segment table says 5 (1 before its own, 0 after)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FADES))
def test_bad_fades_are_format_errors(tmp_path, faded, case):
    change, message = BAD_FADES[case]
    with pytest.raises(NervFormatError, match=re.escape(message)):
        NervVideo.open(rewritten(tmp_path, faded[0], change))


def test_info_names_the_format_and_each_fade(faded, capsys):
    capsys.readouterr()
    assert main(["info", str(faded[0])]) == 0
    text = capsys.readouterr().out
    assert "in 3 segments (format 3.1)" in text
    rows = [line for line in text.splitlines() if "fades with the one before" in line]
    assert [r.split()[1] for r in rows] == ["6:12", "12:16"]
    assert "over frames 3:8" in rows[0] and "over frames 10:13" in rows[1]
