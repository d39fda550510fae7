"""Decoding within a memory budget: the peak of a frame is known before anything is allocated; frames that do
not fit whole are decoded in bands (equal to the whole frame), and a file that does not fit at all is refused."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nervplayer.codec import NervVideo, nervfile
from nervplayer.errors import MemoryBudgetError
from nervplayer.model.banded import band_bytes, plan_decoding

from .conftest import HUGE_MODEL, huge_all_pruned_nerv, tiny_nerv

REPO = Path(__file__).resolve().parents[2]


def test_banded_frames_equal_whole_frames():
    nf = tiny_nerv()
    whole = NervVideo(nf, memory_budget=1 << 30)
    need_one_row = band_bytes(nf.model.nerv_config(), 1)
    banded = NervVideo(nf, memory_budget=need_one_row)
    assert not whole.plan.banded and banded.plan.banded and banded.plan.rows < nf.model.height
    assert banded.plan.need <= need_one_row
    a, b = whole.frames(0, 4), banded.frames(0, 4)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # a band's convolution may round differently
    assert np.abs(whole.frame(2.5).astype(int) - banded.frame(2.5).astype(int)).max() <= 1


def test_the_batch_shrinks_before_frames_are_banded():
    cfg = tiny_nerv().model.nerv_config()
    plan = plan_decoding(cfg, band_bytes(cfg, cfg.padded_size[0], 3), batch=8)
    assert plan.batch == 3 and not plan.banded


def test_the_huge_all_pruned_file_is_small_on_disk_and_planned_in_bands(tmp_path):
    path = tmp_path / "huge.nerv"
    nervfile.save(huge_all_pruned_nerv(), path)
    assert path.stat().st_size < 32 * 1024
    assert band_bytes(HUGE_MODEL, 4096) > 6 << 30  # whole, one frame needs > 6 GiB
    video = NervVideo.open(path, memory_budget=1 << 30)
    assert video.plan.banded and video.plan.need <= 1 << 30 and video.plan.rows < 4096
    with pytest.raises(MemoryBudgetError, match=r"needs .* over the memory budget of 64\.0 MiB"):
        NervVideo.open(path, memory_budget=64 << 20)


def test_decode_over_budget_is_one_line_exit_2(tmp_path):
    path = tmp_path / "huge.nerv"
    nervfile.save(huge_all_pruned_nerv(), path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nervplayer",
            "decode",
            str(path),
            "--frame",
            "0",
            "-o",
            str(tmp_path / "f.png"),
            "--memory-budget",
            "64M",
        ],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "memory budget of 64.0 MiB" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "f.png").exists()
