"""A ``.nerv`` tells its story: the run's training curves, the per-frame PSNR and the recipe are stored with it
(small, optional), older files open without one, and a damaged story never stops a file from playing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nervplayer.codec import CompressOptions, Compressor, container, nervfile
from nervplayer.codec.story import MAX_CURVE_POINTS, MAX_FRAME_POINTS, frame_values, parse_story, run_curves

from .conftest import tiny_nerv

DATA = Path(__file__).parent.parent / "data"


def test_compress_stores_the_runs_curves_per_frame_psnr_and_recipe(run_copy, tmp_path):
    out = tmp_path / "clip.nerv"
    for _ in Compressor(run_copy, out, CompressOptions(prune=0.4, finetune_epochs=1, device="cpu")).run():
        pass
    rows = [json.loads(line) for line in (run_copy / "metrics.jsonl").read_text().splitlines()]
    nf = nervfile.load(out)
    story = nf.story
    assert story.curves["epoch"] == [r["epoch"] for r in rows]
    assert story.curves["psnr"] == pytest.approx([r["psnr"] for r in rows], abs=1e-5)
    assert len(story.frame_psnr) == 16 and all(isinstance(p, float) for p in story.frame_psnr)
    assert sum(story.frame_psnr) / 16 == pytest.approx(nf.metrics["psnr"], abs=1e-2)
    assert story.recipe["epochs"] == 3 and story.recipe["lr"] == 5e-3 and not story.problems
    with open(out, "rb") as f:
        assert f.read(12)[8:] == b"\x02\x00\x03\x00"  # format 2.3 (a story needs 2.2)


def test_the_story_stays_small_whatever_the_run(tmp_path):
    rows = [{"epoch": i, "loss": 1 / (i + 1), "psnr": 20 + i / 100, "ms_ssim": 0.9, "lr": 1e-3} for i in range(5000)]
    rows[7]["loss"] = None
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{cut by a ki")
    curves = run_curves(tmp_path)
    assert len(curves["epoch"]) == MAX_CURVE_POINTS and curves["epoch"][0] == 0 and curves["epoch"][-1] == 4999
    assert frame_values([30.0] * 3) == [30.0] * 3
    binned = frame_values([30.0, 40.0] * 10_000)
    assert len(binned) == MAX_FRAME_POINTS and all(v is not None and 30 <= v <= 40 for v in binned)
    assert sum(binned) / len(binned) == pytest.approx(35, abs=0.1)  # means of runs of frames
    assert run_curves(tmp_path / "nothing") == {}
    nf = tiny_nerv()
    nf.story = parse_story({"curves": curves, "frame_psnr": frame_values([30.0] * 16), "recipe": {"epochs": 5000}}, 16)
    data, _ = nervfile.encode(nf)
    assert len(data) - len(nervfile.encode(tiny_nerv())[0]) < 30_000


def damaged_file(tmp_path: Path, story: object) -> Path:
    """A valid tiny file whose header (checksum fixed) has ``story`` as its story."""
    path = tmp_path / "damaged.nerv"
    nervfile.save(tiny_nerv(), path)
    header, sections = container.read(path)
    header["story"] = story
    path.write_bytes(container.pack(header, [(t, sections[t]) for t in header["sections"]]))
    return path


GOOD = {"curves": {"epoch": [1, 2], "psnr": [20.0, 21.5]}, "frame_psnr": [25.0] * 16, "recipe": {"epochs": 2}}


@pytest.mark.parametrize(
    "story, unreadable, kept",
    [
        (dict(GOOD, curves={"epoch": [1, 2], "psnr": ["x", 3]}), "training curves", ("frame_psnr", "recipe")),
        (dict(GOOD, curves={"epoch": [1, 2], "psnr": [3]}), "training curves", ("frame_psnr", "recipe")),
        (dict(GOOD, curves={"epoch": list(range(10**5))}), "training curves", ("frame_psnr", "recipe")),
        (dict(GOOD, curves=[1, 2, 3]), "training curves", ("frame_psnr", "recipe")),
        (dict(GOOD, curves={"psnr": [1.0]}), "training curves", ("frame_psnr", "recipe")),
        (dict(GOOD, frame_psnr=[25.0] * 17), "per-frame PSNR", ("curves", "recipe")),
        (dict(GOOD, frame_psnr={"a": 1}), "per-frame PSNR", ("curves", "recipe")),
        (dict(GOOD, recipe=[1]), "recipe", ("curves", "frame_psnr")),
        (dict(GOOD, recipe={"loss": "x" * 10_000}), "recipe", ("curves", "frame_psnr")),
        (42, "story", ()),
    ],
)
def test_a_damaged_story_opens_and_names_what_is_unreadable(tmp_path, story, unreadable, kept):
    nf = nervfile.load(damaged_file(tmp_path, story))
    assert len(nf.story.problems) == 1 and unreadable in nf.story.problems[0] and "unreadable" in nf.story.problems[0]
    for part in kept:
        assert getattr(nf.story, part) == parse_story(GOOD, 16).__getattribute__(part)


def test_older_files_open_without_a_story():
    for name in ("format1-tiny.nerv", "format2.0-grid.nerv", "format2.0-hnerv.nerv"):
        nf = nervfile.load(DATA / name)
        assert not nf.story and "story" not in nf.header()


def _info(path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "nervplayer", "info", str(path)], capture_output=True, text=True, env=env, timeout=120
    )


def test_info_tells_the_story_and_says_when_the_curves_are_unreadable(tmp_path):
    good = _info(damaged_file(tmp_path, GOOD))
    assert good.returncode == 0, good.stderr
    assert "2 evaluations up to epoch 2, best PSNR 21.50 dB" in good.stdout
    assert "PSNR 25.00 to 25.00 dB over 16 frames" in good.stdout and "recipe     epochs 2" in good.stdout
    bad = _info(damaged_file(tmp_path, dict(GOOD, curves={"epoch": "oops"})))
    assert bad.returncode == 0 and "Traceback" not in bad.stderr
    assert "the stored training curves are unreadable (epoch is not a list)" in bad.stdout
    assert "over 16 frames" in bad.stdout


def test_the_recipe_names_the_encoder_switches_a_run_changed_and_only_those():
    from nervplayer.codec.story import recipe
    from nervplayer.train.config import FitConfig

    plain = recipe(FitConfig(video="clip.mp4", qat=True))
    assert not {"soft_rounding", "hard_rounding", "starts", "optimizer"} & set(plain)
    changed = recipe(FitConfig(video="clip.mp4", qat=True, soft_rounding=True, starts=5, optimizer="soap"))
    assert changed["soft_rounding"] is True and changed["hard_rounding"] == 0.1
    assert changed["starts"] == 5 and changed["optimizer"] == "soap"
    assert "rate_model" not in plain and "rate_model" not in changed
    # the rate term's model, where a rate term priced with it: an old run's one Laplace is named, a plain fit's not
    assert (
        recipe(FitConfig(video="clip.mp4", qat=True, rate_lambda=0.01, rate_model="laplace"))["rate_model"] == "laplace"
    )
    assert "rate_model" not in recipe(FitConfig(video="clip.mp4", qat=False, rate_lambda=0.0, rate_model="laplace"))
