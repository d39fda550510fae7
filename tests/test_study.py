"""Studies: every study runs end to end on a tiny clip, writes its summary, and resumes without refitting."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from nervplayer.errors import ConfigError, NervError
from nervplayer.study import STUDIES, RunSkipped, RunStarting, StudyFinished, StudyRunner, get_study
from nervplayer.train import Finished, FitConfig, Paused, Step

# Two values per study (one for epochs) keep the suite short; the defaults are checked apart.
VALUES = {
    "epochs": None,
    "lr": ["5e-3", "1e-2"],
    "mlp": ["8", "16"],
    "activation": ["relu", "silu"],
    "loss": ["fusion6", "alpha=0.5"],
    "schedule": ["warmup-cosine", "constant"],
    "stride": ["1", "2"],
    "resolution": ["0.75", "56x48"],
    "length": ["4", "8"],
    "arch": ["nerv", "grid"],
}


def base_config(clip: Path, **kw) -> FitConfig:
    return FitConfig(
        video=str(clip),
        arch="nerv",
        preset="nerv-xs",
        epochs=2,
        lr=5e-3,
        eval_every=2,
        checkpoint_every=1,
        model={"fc_c": 8},
        end=8,
        **kw,
    )


def test_every_study_is_covered():
    assert set(VALUES) == set(STUDIES)


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_study_runs_end_to_end(name, shapes_clip, tmp_path):
    extra = {"budget": 40_000} if name == "arch" else {}  # architectures at an equal, tiny budget
    runner = StudyRunner(get_study(name), base_config(shapes_clip, **extra), tmp_path / "s", VALUES[name])
    events = list(runner.run())
    done = events[-1]
    assert isinstance(done, StudyFinished) and done.status == "completed"
    assert sum(isinstance(e, RunStarting) for e in events) == len(runner.variants)
    with open(done.outputs.csv) as f:
        rows = list(csv.DictReader(f))
    summary = json.loads(done.outputs.json.read_text())
    assert summary["study"] == name and len(summary["rows"]) == len(rows)
    assert done.outputs.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(r["status"] == "done" for r in rows)
    if name == "epochs":  # one run, one row per evaluation, PSNR rising along it
        assert [int(r["epoch"]) for r in rows] == [1, 2] and float(rows[0]["psnr"]) < float(rows[1]["psnr"])
    else:
        assert [r["run"] for r in rows] == [v.name for v in runner.variants]
        for r in rows:  # the summary holds each run's last evaluation
            last = json.loads((tmp_path / "s" / "runs" / r["run"] / "metrics.jsonl").read_text().splitlines()[-1])
            assert float(r["psnr"]) == pytest.approx(last["psnr"]) and last["epoch"] == int(r["epoch"]) == 2
    if name == "stride":
        by = {r["run"]: r for r in rows}
        assert by["stride-1"]["psnr_unseen"] == "" and float(by["stride-2"]["psnr_unseen"]) > 0
    if name == "mlp":  # a wider MLP has more parameters
        assert int(rows[0]["params"]) < int(rows[1]["params"])
    if name == "resolution":
        sizes = [
            json.loads((tmp_path / "s" / "runs" / r["run"] / "config.json").read_text())["source"]["size"] for r in rows
        ]
        assert sizes == [[48, 48], [48, 56]]


def test_resume_skips_finished_runs_and_continues_the_interrupted_one(shapes_clip, tmp_path):
    study, out = get_study("lr"), tmp_path / "s"
    first = StudyRunner(study, base_config(shapes_clip), out, ["5e-3", "1e-2"])
    for ev in first.run():  # finish the first run, stop the second one after a few steps
        if isinstance(ev, Step) and ev.step == 3 and first.variants[1].name in str(first._fitter.run_dir):
            first.cancel()
    assert ev.status == "cancelled"
    finished_weights = (out / "runs" / "lr-0.005" / "model.safetensors").stat().st_mtime_ns
    second = StudyRunner(study, base_config(shapes_clip), out, ["5e-3", "1e-2"])
    events = list(second.run())
    assert [type(e) for e in events if isinstance(e, (RunSkipped, RunStarting))] == [RunSkipped, RunStarting]
    assert next(e for e in events if isinstance(e, RunStarting)).resumed
    assert (out / "runs" / "lr-0.005" / "model.safetensors").stat().st_mtime_ns == finished_weights
    assert events[-1].status == "completed"
    assert all(r["status"] == "done" for r in events[-1].outputs.rows)
    assert isinstance(next(e for e in reversed(events) if isinstance(e, Finished)), Finished)


def test_runner_events_pause_that_holds_across_runs_and_again(shapes_clip, tmp_path):
    """The event API the player drives: each run is RunStarting, the fit's events (Started first, Finished last),
    then the next run; StudyFinished ends the study. A pause during a run yields Paused and holds it; a pause
    between runs makes the next run start paused; ``again()`` continues a cancelled study."""
    out = tmp_path / "s"
    runner = StudyRunner(get_study("lr"), base_config(shapes_clip), out, ["5e-3", "1e-2"])
    events: list = []
    for ev in runner.run():
        events.append(ev)
        if isinstance(ev, Step) and ev.step == 2 and len(events) < 10:
            runner.pause()  # in the first run
        elif isinstance(ev, RunStarting) and ev.index == 1:
            runner.pause()  # between runs: the second starts paused
        elif isinstance(ev, Paused):
            assert runner.paused
            runner.resume()
    kinds = [type(e).__name__ for e in events]
    assert kinds[:4] == ["RunStarting", "Started", "Step", "Step"] and kinds[4] == "Paused"
    assert kinds[5] == "Resumed" and kinds[-1] == "StudyFinished" and events[-1].status == "completed"
    second = kinds.index("RunStarting", 1)
    assert kinds[second - 1] == "Finished" and kinds[second + 1 : second + 4] == ["Started", "Paused", "Resumed"]
    assert [(e.index, e.total, e.variant.name) for e in events if isinstance(e, RunStarting)] == [
        (0, 2, "lr-0.005"),
        (1, 2, "lr-0.01"),
    ]
    assert sum(isinstance(e, Step) for e in events) == 2 * 2 * 8  # two runs, two epochs of eight frames

    again = runner.again()
    assert again is not runner and [v.name for v in again.variants] == [v.name for v in runner.variants]
    assert [type(e) for e in again.run()][:2] == [RunSkipped, RunSkipped]


def test_other_options_in_the_same_folder_are_refused(shapes_clip, tmp_path):
    StudyRunner(get_study("lr"), base_config(shapes_clip), tmp_path / "s", ["5e-3"])
    with pytest.raises(ConfigError, match="other options"):
        StudyRunner(get_study("lr"), base_config(shapes_clip, seed=7), tmp_path / "s", ["5e-3"])
    with pytest.raises(ConfigError, match="other options"):
        StudyRunner(get_study("mlp"), base_config(shapes_clip), tmp_path / "s", ["8"])


@pytest.mark.parametrize(
    "name, values, message",
    [
        ("activation", ["relu", "no-such-activation"], "unknown activation 'no-such-activation'"),
        ("length", ["4", "500"], "outside the clip"),
        ("lr", ["fast"], "must be numbers"),
        ("loss", ["alpha=2"], "within"),
        ("arch", ["nerv", "grid"], "too large"),
    ],
)
def test_bad_values_fail_before_any_run(name, values, message, shapes_clip, tmp_path):
    base = base_config(shapes_clip, budget=10**9 if name == "arch" else None)  # a budget no model reaches
    with pytest.raises(NervError, match=message):
        StudyRunner(get_study(name), base, tmp_path / "s", values)
    assert not (tmp_path / "s" / "runs").exists()


def test_quick_scales_runs_down(tmp_path):
    from nervplayer.study import quick_config

    q = quick_config(FitConfig(video="x.mp4", arch="nerv", epochs=300, scale=0.5))
    assert (q.preset, q.epochs, q.end, q.scale, q.eval_every) == ("nerv-xs", 30, 32, None, 3)
    default = quick_config(FitConfig(video="x.mp4"))  # the grid's default size follows the clip's pixels
    assert (default.arch, default.preset, default.size_as) == ("grid", None, "nerv-s")
    hnerv = quick_config(FitConfig(video="x.mp4", arch="hnerv"))  # hnerv sized by default: its laptop size
    assert hnerv.preset == "hnerv-xs"


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nervplayer", "study", *args], capture_output=True, text=True, timeout=300, **kw
    )


def test_cli_unknown_study_lists_the_available_ones(shapes_clip, tmp_path):
    out = _cli("stduy", str(shapes_clip), "-o", str(tmp_path / "s"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "nervplayer: error: unknown study 'stduy'; available: " + ", ".join(sorted(STUDIES))
    ]


def test_cli_study_interrupted_then_continued(shapes_clip, tmp_path):
    out = tmp_path / "s"
    args = [
        "lr",
        str(shapes_clip),
        "-o",
        str(out),
        "--values",
        "5e-3,1e-2",
        "--preset",
        "nerv-xs",
        "--epochs",
        "12",
        "--model",
        "fc_c=8",
        "--frames",
        "0:8",
        "--checkpoint-every",
        "1",
        "--eval-every",
        "6",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "nervplayer", "study", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240
    while not (out / "runs" / "lr-0.005" / "checkpoint.pt").exists():  # wait for the first checkpoint
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "run the same command again" in err
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr and "PSNR" in done.stdout
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["done", "done"] and all(int(r["epoch"]) == 12 for r in rows)
    assert os.path.getsize(out / "summary.png") > 1000
    shown = _cli("--show", str(out))
    assert shown.returncode == 0 and "lr 0.005" in shown.stdout and "lr 0.01" in shown.stdout


def test_cli_show_of_a_folder_that_is_no_study_is_one_line(tmp_path):
    out = _cli("--show", str(tmp_path))
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        f"nervplayer: error: {tmp_path}: not a study folder (study.json missing)"
    ]


def test_a_damaged_metrics_line_is_skipped_and_reported_not_the_end_of_the_data(shapes_clip, tmp_path):
    out = tmp_path / "s"
    runner = StudyRunner(get_study("epochs"), replace(base_config(shapes_clip), epochs=4, eval_every=1), out)
    list(runner.run())
    path = out / "runs" / runner.variants[0].name / "metrics.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    path.write_text("\n".join([*lines[:2], '{"epoch": 3, "ps', *lines[2:]]) + "\n")
    from nervplayer.study import open_study

    outputs = open_study(out)
    assert [r["epoch"] for r in outputs.rows] == [1, 2, 3, 4]  # the rows after the damaged line still count
    assert len(outputs.damaged) == 1 and "metrics.jsonl" in outputs.damaged[0] and "line 3" in outputs.damaged[0]
    assert json.loads((out / "summary.json").read_text())["damaged"] == outputs.damaged


def test_a_run_killed_between_its_final_checkpoint_and_its_weights_is_finished(shapes_clip, tmp_path):
    out = tmp_path / "s"
    runner = StudyRunner(get_study("lr"), base_config(shapes_clip), out, ["5e-3"])
    list(runner.run())
    run = runner.run_dir(runner.variants[0])
    weights = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").unlink()  # what a kill after the final checkpoint leaves
    events = list(runner.again().run())
    assert [e.resumed for e in events if isinstance(e, RunStarting)] == [True]
    assert events[-1].status == "completed" and events[-1].outputs.rows[0]["status"] == "done"
    assert (run / "model.safetensors").read_bytes() == weights
