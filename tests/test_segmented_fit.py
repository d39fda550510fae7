"""The segmented fit (nervplayer/segments/fit.py, job.py): cut, fit per segment, gather; resume; the CLI."""

import dataclasses
import json
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
from clips import write_video
from test_segments import two_scenes

from nervplayer.codec.nervfile import load_any
from nervplayer.codec.pipeline import CompressOptions
from nervplayer.codec.ratecontrol import bpp_target, size_target
from nervplayer.codec.reader import NervVideo
from nervplayer.codec.seams import seams
from nervplayer.codec.segtable import SegmentedFile
from nervplayer.errors import ConfigError
from nervplayer.jobs import JobsCancelled, SerialExecutor
from nervplayer.segments.fit import (
    GATHER_HEADER_BYTES,
    GATHER_RECORD_BYTES,
    SegmentedFit,
    load_plan,
    plan_segments,
    segment_caps,
)
from nervplayer.train import FitConfig
from nervplayer.train.checkpoint import load_checkpoint

TINY = {"stem_dim": 32, "fc_c": 4, "lower_width": 4}
STORE = CompressOptions(prune=0.0, finetune_epochs=0, device="cpu", evaluate=False)


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory):
    """16 frames 32×32: a cut at frame 6 (then 10 frames of another scene)."""
    return write_video(tmp_path_factory.mktemp("clips") / "cut.mp4", two_scenes(6, 10, 32, 32))


def config(clip, epochs=2, **kw):
    return FitConfig(
        video=str(clip), arch="nerv", preset="nerv-xs", model=TINY, loss="l2", epochs=epochs, eval_every=epochs, **kw
    )


def test_the_cut_is_a_boundary_and_the_gathered_file_decodes_as_its_segments(cut_clip, tmp_path):
    plan = plan_segments(config(cut_clip), tmp_path / "run", 5, "cold", STORE)
    assert [frame for frame, _ in plan.cuts] == [6]
    assert plan.segments == [(0, 6), (6, 11), (11, 16)]
    results = []
    out = SegmentedFit(plan, tmp_path / "run", SerialExecutor()).run(results.append)
    assert out == tmp_path / "run" / "cut.nerv" and out.is_file()
    assert [(r.start, r.end) for r in results] == plan.segments
    gathered = load_any(out)
    assert isinstance(gathered, SegmentedFile) and gathered.num_frames == 16
    assert [(seg.start, seg.end) for seg in gathered.segments] == plan.segments
    # the table records the cut, so that a player without the source does not take that boundary for a seam
    assert [seg.scene_cut for seg in gathered.segments] == [None, True, False]
    assert NervVideo.open(out).scene_cuts == [6]
    table = seams([30.0] * 5 + [25.0] + [30.0] * 10, plan.segments, cuts=NervVideo.open(out).scene_cuts)
    assert [(s.frame, s.scene_cut, s.flagged) for s in table] == [(6, True, False), (11, False, False)]
    whole = NervVideo.open(out).frames(0, 16)  # the player's view: every frame through its segment
    assert whole.shape == (16, 32, 32, 3)
    own = np.concatenate([NervVideo.open(r.nerv).frames(0, r.end - r.start) for r in results])
    assert np.array_equal(whole, own)  # bit for bit each segment's own (quantized) model


def test_a_size_target_is_shared_among_the_segments_and_the_file_lands_under_it(cut_clip, tmp_path):
    options = dataclasses.replace(STORE, target=size_target("40KB"))
    plan = plan_segments(config(cut_clip), tmp_path / "run", 5, "cold", options)
    room = 40_000 - GATHER_HEADER_BYTES - GATHER_RECORD_BYTES * 3
    assert plan.caps == [room * 6 // 16, room * 5 // 16, room * 5 // 16]  # each its share of the frames
    assert load_plan(tmp_path / "run").caps == plan.caps
    results = []
    out = SegmentedFit(plan, tmp_path / "run", SerialExecutor()).run(results.append)
    assert all(0.97 * cap <= r.file_bytes <= cap for r, cap in zip(results, plan.caps))
    assert 0.97 * 40_000 <= out.stat().st_size <= 40_000
    # a bpp target is a cap at the fit's frame size; one segment's file is the clip's, under the clip's cap
    assert segment_caps(bpp_target("2"), [6, 10], 32 * 32) == [
        (4096 - 1024 - 320) * 6 // 16,
        (4096 - 1024 - 320) * 10 // 16,
    ]
    assert segment_caps(size_target("5KB"), [16], 32 * 32) == []
    with pytest.raises(ConfigError, match="cannot hold the header of 3 segments"):
        segment_caps(size_target("1000B"), [5, 5, 6], 32 * 32)


def test_resume_after_cancel_refits_nothing_finished_and_continues_the_half_done_segment(cut_clip, tmp_path):
    run = tmp_path / "run"
    # enough epochs that the second segment cannot end before the cancel lands, even on a loaded machine
    plan = plan_segments(config(cut_clip, epochs=40, checkpoint_every=1), run, 5, "previous", STORE)
    assert len(plan.segments) == 3
    segments = SegmentedFit(plan, run, SerialExecutor())
    second = run / "segments" / "0006_0011"

    def cancel_mid_second_segment(result):
        if result.start == 0:  # the second segment starts next: cancel once it has a checkpoint

            def watch():
                while not (second / "checkpoint.pt").is_file():
                    threading.Event().wait(0.01)
                segments.cancel()

            threading.Thread(target=watch, daemon=True).start()

    with pytest.raises(JobsCancelled, match="1 of 3 segments finished"):
        segments.run(cancel_mid_second_segment)
    stopped_at = load_checkpoint(second / "checkpoint.pt")["epoch"]
    assert 0 < stopped_at < 40
    finished = (run / "segments" / "0000_0006" / "segment.nerv").read_bytes()
    results = []
    SegmentedFit(load_plan(run), run, SerialExecutor()).run(results.append)
    by_start = {r.start: r for r in results}
    assert by_start[0].from_epoch is None  # finished: not fitted again
    assert (run / "segments" / "0000_0006" / "segment.nerv").read_bytes() == finished
    # resumed from its checkpoint: epoch ``stopped_at`` and the steps into the next (a cancel in an epoch's last
    # step keeps the whole epoch: ``stopped_at`` + 1.0)
    assert 0 < stopped_at <= by_start[6].from_epoch <= stopped_at + 1
    assert by_start[11].from_epoch == 0
    third = json.loads((run / "segments" / "0011_0016" / "config.json").read_text())["fit"]
    assert third["init_weights"] == str((second / "model.safetensors").resolve())  # warm start: the previous one


def nervplayer(*args):
    return subprocess.run([sys.executable, "-m", "nervplayer", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--segment", "0"], "a segment needs at least 2 frames"),
        (["--segment", "100"], "longer than the clip (16 frames)"),
        (["--segment", "ten"], "expected a frame count or auto"),
        (["--segment", "9", "--warm-start", "hot"], "invalid choice: 'hot'"),
        (["--warm-start", "cold"], "--warm-start applies to a segmented fit"),
        (["--workers", "2"], "--workers applies to a segmented fit"),
        (["--segment", "9", "--target-size", "1000B"], "cannot hold the header of 2 segments"),
    ],
)
def test_bad_segment_options_are_one_line_and_exit_2(cut_clip, tmp_path, flags, message):
    p = nervplayer("fit", str(cut_clip), "-o", str(tmp_path / "run"), *flags)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "run").exists()


def test_the_cli_fits_in_segments_and_resumes_a_finished_run_without_refitting(cut_clip, tmp_path):
    run = tmp_path / "run"
    tiny = [f"--model={k}={v}" for k, v in TINY.items()]
    p = nervplayer(
        "fit",
        str(cut_clip),
        "-o",
        str(run),
        "--segment",
        "auto",
        "--workers",
        "2",
        "--epochs",
        "1",
        "--loss",
        "l2",
        "--preset",
        "nerv-xs",
        *tiny,
    )
    assert p.returncode == 0, p.stderr
    assert f"done: 1 segment in {run / 'cut.nerv'}" in p.stdout
    assert "scene cuts at 6" in p.stderr and "on 2 local workers" in p.stderr
    p = nervplayer("fit", "--resume", "-o", str(run))
    assert p.returncode == 0, p.stderr
    assert "already fitted" in p.stderr


def test_ctrl_c_stops_every_segment_with_its_checkpoint_and_says_how_to_resume(cut_clip, tmp_path):
    run = tmp_path / "run"
    tiny = [f"--model={k}={v}" for k, v in TINY.items()]
    cmd = [sys.executable, "-m", "nervplayer", "fit", str(cut_clip), "-o", str(run), "--segment", "5"]
    cmd += ["--epochs", "500", "--checkpoint-every", "1", "--loss", "l2", "--preset", "nerv-xs", *tiny]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    checkpoint = run / "segments" / "0000_0006" / "checkpoint.pt"
    for _ in range(1200):
        if checkpoint.is_file() or proc.poll() is not None:
            break
        threading.Event().wait(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "cancelled: 0 of 3 segments finished" in err and f"nervplayer fit --resume -o {run}" in err
    assert 0 < load_checkpoint(checkpoint)["epoch"] < 500
    assert not (run / "segments" / "0006_0011").exists() or not any((run / "segments" / "0006_0011").glob("*.pt"))


def test_a_base_warm_start_fits_the_base_on_frames_across_the_clip_then_starts_every_segment_from_it(
    cut_clip, tmp_path
):
    run = tmp_path / "run"
    plan = plan_segments(config(cut_clip, epochs=1), run, 5, "base", STORE)
    results = []
    SegmentedFit(plan, run, SerialExecutor(), base_epochs=2).run(results.append)
    base = json.loads((run / "segments" / "base" / "config.json").read_text())
    assert base["fit"]["epochs"] == 2 and base["train_frames"] == [
        0,
        3,
        6,
        9,
        12,
        15,
    ]  # every (16 // 5)th frame: about a segment
    assert [r.name for r in results] == ["base", "0000_0006", "0006_0011", "0011_0016"]
    for name in ("0000_0006", "0006_0011", "0011_0016"):
        fit = json.loads((run / "segments" / name / "config.json").read_text())["fit"]
        assert fit["init_weights"] == str((run / "segments" / "base" / "model.safetensors").resolve())


def test_a_pause_while_another_signal_is_written_holds_for_every_segment(cut_clip, tmp_path, monkeypatch):
    """The window's Pause may come while the fit's run() writes its first state to the control files (a CI run once
    left one segment running and the other paused): each signal reaches every segment whole, the last one wins."""
    from nervplayer.segments import fit as segmented
    from nervplayer.segments.control import CONTROL, PAUSE

    plan = plan_segments(config(cut_clip), tmp_path / "run", 5, "cold", STORE)
    fit = SegmentedFit(plan, tmp_path / "run", SerialExecutor())
    write = segmented.write_control
    pausing = threading.Thread(target=fit.pause)

    def write_then_pause(folder, state):  # the pause comes between the first folder written and the next
        write(folder, state)
        if pausing.ident is None:
            pausing.start()
            pausing.join(0.3)  # without the lock it writes every folder now, and the resume writes over its later ones

    monkeypatch.setattr(segmented, "write_control", write_then_pause)
    fit.resume()
    pausing.join(10)
    folders = [tmp_path / "run" / "segments" / name for name in ("0000_0006", "0006_0011", "0011_0016")]
    assert [(f / CONTROL).read_text().strip() for f in folders] == [PAUSE] * 3
