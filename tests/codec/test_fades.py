"""Fades at segment boundaries (format 3.1, codec/blend.py): a segment that stores the frames before its start
fades into the segment before over them, at weights the writer chose against the source."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from segmented_files import SIZE, rewritten, segment_file

from nervplayer.cli.main import main
from nervplayer.codec import NervVideo, container, nervfile
from nervplayer.codec.blend import choose, fade, ramp
from nervplayer.codec.segmented import SegmentPart, gather
from nervplayer.codec.segtable import BLEND_ONE
from nervplayer.errors import ConfigError, NervFormatError
from nervplayer.metrics import psnr
from nervplayer.model.render import to_uint8

BOUNDS = [0, 6, 12, 16]
LEADS = [0, 3, 2]  # frames 3:6 faded into segment 1, 10:12 into segment 2


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
        lead = LEADS[i]
        path = folder / f"segment-{i}.nerv"
        psnr_of = [20.0 + i + j / 100 for j in range(lead + b - a)]
        nervfile.save(segment_file(lead + b - a, start=a - lead, seed=i, frame_psnr=psnr_of), path)
        parts.append(SegmentPart(a, b, path, lead=lead))
    out = folder / "clip.nerv"
    gather(parts, out, source)
    return out, parts


def test_the_table_records_each_fade_and_the_file_is_format_3_1(faded):
    out, parts = faded
    assert container.read_file(out).version == container.FADED
    table = NervVideo.open(out).file.segments
    assert [(s.start, s.end, s.lead, len(s.blend), len(s.blend_psnr)) for s in table] == [
        (0, 6, 0, 0, 0),
        (6, 12, 3, 3, 3),
        (12, 16, 2, 2, 2),
    ]
    assert all(0 <= w <= BLEND_ONE for s in table for w in s.blend)


def test_faded_frames_are_the_chosen_mix_and_every_other_frame_its_segments_own(faded):
    out, parts = faded
    video = NervVideo.open(out)
    whole = video.frames(0, 16)
    files = [NervVideo.open(p.path) for p in parts]
    expected = np.concatenate([f.frames(p.lead, f.num_frames) for f, p in zip(files, parts)])
    table = video.file.segments
    for k in (1, 2):  # the frames of segment k − 1 that segment k leads into
        s, before = table[k], parts[k - 1]
        at = list(range(before.end - before.start - s.lead, before.end - before.start))
        earlier = files[k - 1].predict([parts[k - 1].lead + i for i in at])
        later = files[k].predict(list(range(s.lead)))
        mixed = to_uint8(fade(earlier, later, s.blend))
        expected[s.start - s.lead : s.start] = mixed
        measured = psnr(fade(earlier, later, s.blend), source(s.start - s.lead, s.start)).tolist()
        assert list(s.blend_psnr) == pytest.approx(measured, abs=1e-3)
    assert np.array_equal(whole, expected)
    for i in range(16):  # one frame at a time, as the player asks
        assert np.array_equal(video.frame(i), expected[i])


def test_each_weight_is_the_best_in_its_steps_up_to_an_even_ramp():
    g = torch.Generator().manual_seed(3)
    a, b, x = (torch.rand(5, 3, 8, 8, generator=g) for _ in range(3))
    b[2] = x[2]  # the later model exact: all the weight the ramp allows
    a[3] = x[3]  # the earlier model exact: none
    a[4], b[4] = x[4] + 0.1 * a[4], x[4] + 0.1 * b[4]  # equally good, errors apart: about half, under the ramp
    weights, quality = choose(a, b, x)
    assert ramp(5) == [11, 21, 32, 43, 53]
    assert weights[2] == 32 and weights[3] == 0 and 20 < weights[4] < 44
    for j, cap in enumerate(ramp(5)):
        errors = [float((fade(a[j : j + 1], b[j : j + 1], [w]) - x[j]).pow(2).mean()) for w in range(cap + 1)]
        assert weights[j] <= cap and errors[weights[j]] == min(errors)
    assert quality == pytest.approx(psnr(fade(a, b, weights), x).tolist())


def test_the_clip_psnr_and_the_story_count_each_frame_once_as_it_decodes(faded):
    out, parts = faded
    nf = NervVideo.open(out).file
    story = nf.story.frame_psnr
    assert len(story) == 16
    table = nf.segments
    assert story[3:6] == pytest.approx(list(table[1].blend_psnr)) and story[10:12] == pytest.approx(table[2].blend_psnr)
    assert story[6] == pytest.approx(21.03)  # segment 1's own first frame, after its 3 lead frames
    own = story[0:6]
    assert table[0].psnr == pytest.approx(sum(own) / 6, abs=1e-3)


def test_fading_needs_the_source_and_a_lead_within_the_segment_before(tmp_path, faded):
    _, parts = faded
    out = tmp_path / "x.nerv"
    with pytest.raises(ConfigError, match="need the source frames"):
        gather(parts, out)
    too_long = SegmentPart(12, 16, parts[2].path, lead=7)
    with pytest.raises(ConfigError, match="leads 7 frames into a shorter segment"):
        gather([parts[0], parts[1], too_long], out, source)
    wrong = SegmentPart(12, 16, parts[2].path, lead=1)
    with pytest.raises(NervFormatError, match="holds 6 frames, segment 12:16 has 4 and 1 before it"):
        gather([parts[0], parts[1], wrong], out, source)
    assert not out.exists()


def _set(row: int, **values):
    return lambda h: h["segments"][row].update(values)


BAD_FADES = {
    "lead in the first segment": (_set(0, lead=1, blend=[3]), "segment 0: lead must be an integer from 0 to the 0"),
    "lead beyond the segment before": (_set(2, lead=7, blend=[0] * 7), "segment 2: lead must be an integer from 0 to"),
    "lead not an integer": (_set(1, lead=2.0), "segment 1: lead must be an integer"),
    "weights missing": (_set(1, blend=[1, 2]), "segment 1: blend must hold 3 integer weights from 0 to 64"),
    "weight too large": (_set(1, blend=[1, 2, 65]), "segment 1: blend must hold 3 integer weights"),
    "weight not an integer": (_set(1, blend=[1, 2, True]), "segment 1: blend must hold 3 integer weights"),
    "psnr not a number": (_set(2, blend_psnr=[1.0, "x"]), "segment 2: blend_psnr must hold 2 numbers or nulls"),
    "lead the file does not hold": (
        _set(2, lead=1, blend=[3], blend_psnr=[None]),
        "segment 2 (frames 12:16): holds 6 frames, the segment table says 5 (1 before its own)",
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
    rows = [line for line in text.splitlines() if "fades in over" in line]
    assert [r.split()[1] for r in rows] == ["6:12", "12:16"]
    assert "fades in over frames 3:6" in rows[0] and "fades in over frames 10:12" in rows[1]
