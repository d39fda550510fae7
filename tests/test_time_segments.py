"""A long clip under ``--time`` is fitted in segments: the planner's segments, each fit's share of the plan's fit
time, the gathered ``.nerv``, plan vs achieved; ``--time`` with ``--resume`` stays refused."""

import json
import os
import subprocess
import sys
import time

import pytest
from test_planner import fake_step

from nervplayer.codec.nervfile import load_any
from nervplayer.codec.pipeline import CompressOptions
from nervplayer.codec.segtable import SegmentedFile
from nervplayer.plan import Request, plan
from nervplayer.segments.fit import PLAN, SEGMENTS, plan_segments, time_limits
from nervplayer.train import FitConfig


def test_a_fixed_segment_length_gives_segments_and_the_plan_counts_each_segments_fixed_costs():
    req = Request(num_frames=16, height=64, width=64, seconds=40, spent=2.0)
    one = plan(req, fake_step)
    two = plan(Request(num_frames=16, height=64, width=64, seconds=40, spent=2.0, segment_frames=8), fake_step)
    assert (one.segments, two.segments, two.segment_frames) == (1, 2, 8)
    assert two.before_seconds > one.before_seconds and two.after_seconds > one.after_seconds
    assert two.fit_seconds < one.fit_seconds and two.estimated_seconds <= 40


@pytest.mark.parametrize(
    ("lengths", "base", "at_once", "expected"),
    [
        ([8, 8], 0, 1, (0.0, [50.0, 50.0])),  # one after another: each its frames' share
        ([6, 10], 0, 1, (0.0, [37.5, 62.5])),
        ([8, 8], 0, 2, (0.0, [100.0, 100.0])),  # two at once: each may take the whole time
        ([8, 8, 8], 0, 2, (0.0, [50.0, 50.0, 50.0])),  # two waves
        ([6, 10, 8], 0, 2, (0.0, [50.0, 50.0, 50.0])),  # ... whatever their lengths
        ([8, 8], 8, 2, (100 / 3, [200 / 3, 200 / 3])),  # the base first, alone
    ],
)
def test_time_limits_share_the_fit_time_so_the_segments_end_within_it(lengths, base, at_once, expected):
    got_base, got = time_limits(100.0, lengths, base, at_once)
    assert got_base == pytest.approx(expected[0]) and got == pytest.approx(expected[1])
    waves = [max(got[i : i + at_once]) for i in range(0, len(got), at_once)]  # each wave lasts its longest
    assert got_base + sum(waves) == pytest.approx(100.0)


def _nervplayer(*args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "nervplayer", *args], capture_output=True, text=True, timeout=timeout, env=os.environ
    )
    return r, time.monotonic() - began


def test_cli_fits_a_clip_to_a_time_in_segments_and_gathers_them(shapes_clip, tmp_path):
    run = tmp_path / "run"
    r, wall = _nervplayer("fit", str(shapes_clip), "--time", "40s", "--segment", "8", "-o", str(run))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("plan: about") and "2 segments" in lines[0], lines[0]
    assert "achieved" in lines[-1] and "% of the budget" in lines[-1] and "dB" in lines[-1]
    nf = load_any(run / f"{shapes_clip.stem}.nerv")
    assert isinstance(nf, SegmentedFile) and [(s.start, s.end) for s in nf.segments] == [(0, 8), (8, 16)]
    assert nf.metrics["psnr"] is not None
    whole = json.loads((run / PLAN).read_text())["config"]["time_limit"]  # the plan's fit time
    limits = [json.loads(f.read_text())["fit"]["time_limit"] for f in sorted((run / SEGMENTS).glob("*/config.json"))]
    assert len(limits) == 2 and all(t > 0 for t in limits)
    assert sum(limits) <= whole < 40
    assert wall < 40 * 1.5  # the budget, with room for a loaded CI machine


def test_time_with_resume_of_a_segmented_run_is_refused(shapes_clip, tmp_path):
    run = tmp_path / "run"
    tiny = {"stem_dim": 32, "fc_c": 4, "lower_width": 4}
    config = FitConfig(
        video=str(shapes_clip), arch="nerv", preset="nerv-xs", model=tiny, loss="l2", epochs=1, eval_every=1
    )
    plan_segments(config, run, 8, "cold", CompressOptions(prune=0.0, finetune_epochs=0, device="cpu"))
    r, _ = _nervplayer("fit", "--resume", "--time", "40s", "-o", str(run))
    assert r.returncode == 2, r.stderr
    assert "--time plans a new fit" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (run / SEGMENTS).exists()  # nothing fitted


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--segment", "100"], "longer than the clip (16 frames)"),
        (["--segment", "1"], "a segment needs at least 2 frames"),
        (["--workers", "2"], "--workers applies to a segmented fit"),
    ],
)
def test_bad_segments_with_a_time_are_one_line_before_the_probe(shapes_clip, tmp_path, flags, message):
    r, _ = _nervplayer("fit", str(shapes_clip), "--time", "40s", "-o", str(tmp_path / "run"), *flags)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and not r.stdout, (r.stdout, r.stderr)
    assert not (tmp_path / "run").exists()
