"""Seams between segments (issue 18 item 3): the frames either side of each boundary against their segments'
means, and whether the boundary flickers, in ``nervplayer eval`` (text and JSON) and ``nervplayer info``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from clips import moving_shapes, write_video
from segmented_files import SIZE, segmented_nerv

from nervplayer.cli.main import main
from nervplayer.codec.seams import FLICKER_PAIRS, SEAM_TOLERANCE, seams
from nervplayer.video import file_hash


def test_a_known_boundary_is_found_and_measured():
    # two segments of 6 frames; the later one's first frame 1.2 dB below its own segment: a dip at the boundary
    psnr = [30.0, 30.2, 29.8, 30.0, 30.1, 29.9] + [27.0, 28.2, 28.4, 28.2, 28.3, 28.1]
    (seam,) = seams(psnr, [(0, 6), (6, 12)], first=100)
    assert seam.frame == 106 and seam.before == 29.9 and seam.after == 27.0
    assert seam.mean_before == pytest.approx(30.0) and seam.mean_after == pytest.approx(28.0333, abs=1e-4)
    assert seam.drops[0] == pytest.approx(0.1) and seam.drops[1] == pytest.approx(1.0333, abs=1e-4)
    assert seam.neighbours == pytest.approx(sum(psnr[1:5] + psnr[7:11]) / 8)  # NEIGHBOURS frames either side
    assert seam.dips[1] == pytest.approx(seam.neighbours - 27.0) and seam.flagged


def test_a_smooth_boundary_is_not_a_seam():
    psnr = [30.0] * 4 + [30.0 - SEAM_TOLERANCE + 0.1] + [30.0] * 5  # 0.4 dB below the frames nearby
    (seam,) = seams(psnr, [(0, 4), (4, 10)])
    assert seam.frame == 4 and seam.dips[1] == pytest.approx(0.4) and not seam.flagged
    assert seams(psnr, [(0, 10)]) == []  # one segment: no boundary


def test_a_boundary_in_a_stretch_of_hard_frames_is_no_seam_however_far_below_its_segments_means():
    # the quality falls steadily through the boundary (harder content, not the cut between two models)
    psnr = [36.0 - 0.5 * i for i in range(24)]
    (seam,) = seams(psnr, [(0, 12), (12, 24)])
    assert seam.drops[0] > 2.5  # 2.75 dB below its segment's mean ...
    assert abs(seam.dips[0]) < 0.5 and abs(seam.dips[1]) < 0.5 and not seam.flagged  # ... none below its neighbours


def test_unknown_values_do_not_count():
    (seam,) = seams([None, 30.0, float("inf"), 29.0], [(0, 2), (2, 4)])
    assert seam.before == 30.0 and seam.after is None and seam.mean_after == 29.0 and not seam.flagged


def _clip(cut: bool = False) -> np.ndarray:
    """16 frames of a slowly moving mid-grey gradient (no clipping below); ``cut``: another scene from frame 8."""
    y, x = np.mgrid[0:24, 0:40]
    frames = np.stack([np.repeat(((x + y + i) % 64 + 96)[..., None], 3, axis=2) for i in range(16)])
    if cut:
        frames[8:] = frames[8:] // 2  # darker: other colours
    return frames.astype(np.uint8)


def _decoded(source: np.ndarray, patterns: list[int]) -> np.ndarray:
    """The source with a fixed error pattern per segment (frames 0:8 and 8:16): ``patterns`` their seeds."""
    out = source.astype(int)
    for k, seed in enumerate(patterns):
        error = np.random.default_rng(seed).integers(-6, 7, source.shape[1:])
        out[8 * k : 8 * k + 8] += error
    return np.clip(out, 0, 255).astype(np.uint8)


def test_a_boundary_between_two_models_whose_errors_differ_flickers_and_one_that_does_not_does_not():
    source = _clip()
    psnr = [30.0] * 16
    for patterns, flickers in (([1, 2], True), ([1, 1], False)):
        decoded = _decoded(source, patterns)
        frames = (lambda idx, d=decoded: d[idx], lambda idx: source[idx])
        (seam,) = seams(psnr, [(0, 8), (8, 16)], first=10, frames=frames)
        f = seam.flicker
        assert seam.frame == 18 and f is not None
        assert f.source == pytest.approx(np.abs(source[8].astype(int) - source[7]).mean())
        assert f.within == pytest.approx(0.0)  # one error pattern per segment: inside, the decode adds nothing
        assert f.flagged is flickers and (f.added > 3.0) is flickers
        assert seam.record()["flicker"]["flagged"] is flickers


def test_a_scene_cut_the_decode_follows_is_no_flicker_however_large_the_change():
    source = _clip(cut=True)
    decoded = _decoded(source, [3, 3])
    (seam,) = seams([30.0] * 16, [(0, 8), (8, 16)], frames=(lambda idx: decoded[idx], lambda idx: source[idx]))
    f = seam.flicker
    assert f is not None and f.decoded > 20 and f.source > 20 and f.added < 0.5 and not f.flagged
    assert f.scene_cut and seam.record()["flicker"]["scene_cut"]


def test_a_dip_at_a_scene_cut_is_no_seam_and_the_same_dip_inside_a_scene_is():
    psnr = [30.0] * 7 + [27.0] + [30.0] * 8  # the last frame of the first segment 3 dB below the frames nearby
    for cut in (True, False):
        source = _clip(cut=cut)
        frames = (lambda idx, s=source: s[idx], lambda idx, s=source: s[idx])
        (seam,) = seams(psnr, [(0, 8), (8, 16)], frames=frames)
        assert seam.dips[0] == pytest.approx(3.0) and seam.scene_cut is cut and seam.flagged is not cut


def test_a_scene_cut_where_the_decode_adds_change_is_no_flicker_and_the_same_boundary_inside_a_scene_is():
    for cut in (True, False):
        source = _clip(cut=cut)
        decoded = _decoded(source, [1, 2])  # the two segments' errors differ
        (seam,) = seams(
            [30.0] * 16, [(0, 8), (8, 16)], frames=(lambda idx, d=decoded: d[idx], lambda idx, s=source: s[idx])
        )
        f = seam.flicker
        assert f is not None and f.added > 3.0 and f.flagged is not cut


def test_flicker_reads_only_the_frames_near_the_boundary():
    source, asked = _clip(), []

    def decode(idx):
        asked.extend(idx)
        return source[idx]

    seams([30.0] * 16, [(0, 2), (2, 16)], frames=(decode, lambda idx: source[idx]))
    assert asked == list(range(2 + FLICKER_PAIRS + 1))


def test_eval_of_a_segmented_file_prints_and_reports_its_seams(tmp_path, capsys):
    clip = write_video(tmp_path / "clip.mp4", moving_shapes(16, *SIZE))
    source = {"name": "clip.mp4", "sha256": file_hash(clip)}
    path, _ = segmented_nerv(tmp_path, [0, 5, 12, 16], source=source)
    capsys.readouterr()
    assert main(["eval", str(path), str(clip), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "3 segments; at each boundary" in text and "seam at" in text
    rows = [line.split() for line in text.splitlines() if line.split()[:1] in (["5"], ["12"])]
    assert len(rows) >= 2
    assert main(["eval", str(path), str(clip), "--device", "cpu", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    psnr = [f["metrics"]["psnr"] for f in report["frames"]]
    assert [s["frame"] for s in report["seams"]] == [5, 12]
    first = report["seams"][0]
    assert first["psnr_before"] == pytest.approx(psnr[4]) and first["psnr_after"] == pytest.approx(psnr[5])
    assert first["mean_before"] == pytest.approx(sum(psnr[:5]) / 5)
    assert first["mean_after"] == pytest.approx(sum(psnr[5:12]) / 7)
    # the flicker beside it: random-weight segments differ from each other far more than within themselves
    flick = first["flicker"]
    assert {"decoded", "source", "added", "within", "ratio", "flagged"} <= set(flick)
    assert flick["added"] > flick["within"] and flick["flagged"]
    assert "Δ decoded" in text and "FLICKER" in text


def test_info_lists_the_segments_and_their_seams(tmp_path, capsys):
    psnr = {0: [30.0] * 5, 1: [28.5] + [30.0] * 6, 2: [31.0] * 4}
    path, _ = segmented_nerv(
        tmp_path,
        [0, 5, 12, 16],
        metrics=lambda i: {"psnr": 30.0 + i, "ms_ssim": None},
        frame_psnr=lambda i: psnr[i],
    )
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "in 3 segments (format 3.0)" in text
    rows = {line.split()[1]: line.split() for line in text.splitlines() if line.strip()[:1].isdigit()}
    assert rows["5:12"][2] == "7" and rows["5:12"][4] == "31.00" and rows["12:16"][4] == "32.00"
    seam_rows = [line for line in text.splitlines() if "SEAM" in line]
    assert len(seam_rows) == 1 and seam_rows[0].split()[0] == "5"
    assert main(["info", str(path), "--json"]) == 0
    header = json.loads(capsys.readouterr().out)
    assert [(s["start"], s["end"]) for s in header["segments"]] == [(0, 5), (5, 12), (12, 16)]
