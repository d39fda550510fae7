"""The planner: with a faked step time it picks a plan that fits the budget; durations; the too-small budget."""

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from nervplayer.errors import ConfigError
from nervplayer.plan import Candidate, Request, format_duration, parse_duration, plan
from nervplayer.plan.expect import expected_bytes
from nervplayer.plan.planner import MAX_SHRINK


def fake_step(candidate: Candidate) -> float:
    """A CPU-like step: a fixed cost plus one proportional to the pixels and (less) to the model's size."""
    pixels = candidate.height * candidate.width / (320 * 180)
    return 0.01 + 0.03 * pixels * (1 + candidate.params / 300_000)


@pytest.mark.parametrize(
    "seconds, frames, size",
    [
        (90, 132, (720, 1280)),
        (90, 132, (180, 320)),
        (600, 132, (180, 320)),
        (600, 1500, (720, 1280)),
        (3600, 1500, (720, 1280)),
        (1200, 300, (360, 640)),
        (60, 40, (90, 160)),
    ],
)
def test_the_plan_fits_the_budget(seconds, frames, size):
    req = Request(num_frames=frames, height=size[0], width=size[1], seconds=seconds, spent=2.0)
    p = plan(req, fake_step)
    assert p.estimated_seconds <= seconds
    assert p.estimated_seconds >= 0.9 * seconds  # and uses it
    step = fake_step(Candidate(p.arch, p.params, p.height, p.width, p.segment_frames))
    assert p.step_seconds == pytest.approx(step)
    training = (p.epochs + p.finetune_epochs) * frames * step
    assert 2.0 + training <= seconds  # the epochs it promises fit in the time
    assert p.fit_seconds + p.after_seconds + 2.0 <= seconds + 1e-6
    assert p.segments * p.segment_frames >= frames > (p.segments - 1) * p.segment_frames
    assert p.width <= 1280 and p.height <= size[0]
    line = p.line()
    assert line.startswith("about ") and re.search(r" epochs? · expect ≈ ", line) and "dB" in line


def test_a_short_clip_is_one_segment_and_a_long_one_is_cut():
    short = plan(Request(num_frames=132, height=180, width=320, seconds=600), fake_step)
    assert short.segments == 1 and short.segment_frames == 132
    long = plan(Request(num_frames=1500, height=180, width=320, seconds=1800), fake_step)
    assert long.segments > 1 and long.segment_frames < 1500
    one = plan(Request(num_frames=1500, height=180, width=320, seconds=1800, max_segments=1), fake_step)
    assert one.segments == 1


def test_more_time_gives_more_epochs_or_a_larger_plan():
    plans = [
        plan(Request(num_frames=132, height=180, width=320, seconds=s, size=(180, 320)), fake_step)
        for s in (60, 300, 1800)
    ]
    assert [p.expected_psnr for p in plans] == sorted(p.expected_psnr for p in plans)
    assert plans[-1].finetune_epochs > 0 and plans[-1].prune > 0  # a long fit is pruned and fine-tuned
    assert plans[0].finetune_epochs == 0 and plans[0].prune == 0  # a short one is not


@pytest.mark.parametrize("slower, chosen", [(1.0, "grid"), (30.0, "hnerv")])
def test_the_architecture_is_the_one_expected_best_at_its_measured_speed(slower, chosen):
    """At equal step times the grid (the best PSNR per epoch here) wins; a grid whose steps are far slower loses."""

    def step(c: Candidate) -> float:
        return fake_step(c) * (slower if c.arch == "grid" else 1.0)

    p = plan(Request(num_frames=132, height=180, width=320, seconds=300, size=(180, 320)), step)
    assert p.arch == chosen
    assert p.lr == {"grid": 5e-3 if p.epochs >= 100 else 1e-2, "hnerv": 2e-3}[chosen]
    # a clip in segments takes a model that trains on context frames, however fast the grid is
    long = plan(Request(num_frames=1500, height=180, width=320, seconds=1800, size=(180, 320)), step)
    assert long.segments > 1 and long.arch == "hnerv"


def test_what_the_user_fixed_stays_fixed():
    req = Request(num_frames=132, height=720, width=1280, seconds=900, arch="nerv", params=300_000, size=(180, 320))
    p = plan(req, fake_step)
    assert (p.arch, p.params, p.height, p.width) == ("nerv", 300_000, 180, 320)
    fixed = plan(Request(num_frames=132, height=180, width=320, seconds=900, epochs=7), fake_step)
    assert fixed.epochs == 7 and fixed.estimated_seconds < 900


def test_a_budget_too_small_for_the_smallest_model_says_what_it_needs():
    with pytest.raises(ConfigError, match=r"cannot hold one segment's smallest model: .* give --time \d+"):
        plan(Request(num_frames=1500, height=720, width=1280, seconds=20, size=(720, 1280)), fake_step)


@pytest.mark.parametrize(
    "text, seconds", [("90s", 90), ("10m", 600), ("1h30m", 5400), ("1.5h", 5400), ("45", 45), ("2m30s", 150)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "10x", "m10", "1m1h", "10mm", "-5m", "0s", "1e400", "nan", "5 m 3"])
def test_bad_durations(text):
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_format_duration():
    assert [format_duration(s) for s in (45, 540, 5400, 7200)] == ["45 s", "9 min", "1 h 30 min", "2 h"]


def _nervplayer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nervplayer", *args], capture_output=True, text=True, timeout=120, env=os.environ
    )


def test_cli_bad_duration_is_one_line_exit_2(shapes_clip, tmp_path):
    r = _nervplayer("fit", str(shapes_clip), "--time", "ten minutes", "-o", str(tmp_path / "run"))
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "90s, 10m, 1h30m" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


def test_cli_too_small_budget_is_one_line_exit_2_nothing_started(shapes_clip, tmp_path):
    r = _nervplayer("fit", str(shapes_clip), "--time", "1s", "-o", str(tmp_path / "run"))
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "cannot hold one segment's smallest model" in r.stderr
    assert not (tmp_path / "run").exists()


def test_cli_fit_to_a_time_and_a_size_prints_the_plan_fits_compresses_to_the_cap_and_reports(shapes_clip, tmp_path):
    args = ["fit", str(shapes_clip), "--time", "45s", "--target-size", "20KB", "-o", str(tmp_path / "run")]
    r = subprocess.run(
        [sys.executable, "-m", "nervplayer", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=os.environ,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("plan: about 45 s on cpu") and "probe" in lines[0]
    assert re.search(r"≈ 20 kB · target 20,000 bytes \(probe", lines[0]), lines[0]  # the plan is sized to the cap
    assert "achieved" in lines[-1] and "% of the budget" in lines[-1]
    assert lines[-2].startswith("requested 20,000 bytes · achieved "), lines
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert 0 < config["fit"]["time_limit"] < 45
    # the bar counts the seconds of training up to the limit, not the epochs (a cap the clock reaches first)
    bars = re.findall(r"\| (\d+)/(\d+) s of training \[", r.stderr)
    assert bars and all(0 < int(total) <= round(config["fit"]["time_limit"]) for _, total in bars), r.stderr[-500:]
    assert int(bars[-1][0]) >= 0.9 * int(bars[-1][1]) and f"/{config['fit']['epochs']} " not in r.stderr
    nerv = tmp_path / "run" / f"{shapes_clip.stem}.nerv"
    assert 0.97 * 20_000 <= nerv.stat().st_size <= 20_000
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "run" / "target.json").read_text()) == {"kind": "size", "value": 20_000}


def test_cli_a_cap_below_the_plans_smallest_file_is_one_line_exit_2_nothing_started(shapes_clip, tmp_path):
    r = _nervplayer("fit", str(shapes_clip), "--time", "40s", "--target-size", "1KB", "-o", str(tmp_path / "run"))
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "a cap of 1,000 bytes is below the smallest file" in r.stderr
    assert not (tmp_path / "run").exists()


def test_a_size_cap_bounds_the_plan_and_its_search_counts_in_the_time():
    free = plan(Request(num_frames=132, height=180, width=320, seconds=300, size=(180, 320)), fake_step)
    cap = free.expected_bytes // 4
    capped = plan(
        Request(num_frames=132, height=180, width=320, seconds=300, size=(180, 320), size_cap=cap, searched=True),
        fake_step,
    )
    assert capped.expected_bytes <= cap
    assert (
        expected_bytes(capped.arch, capped.params, capped.prune, capped.bits) <= MAX_SHRINK * cap
    )  # rate control can reach it
    assert capped.params < free.params and capped.expected_psnr < free.expected_psnr
    assert capped.estimated_seconds <= 300
    same = dict(num_frames=132, height=180, width=320, seconds=300, size=(180, 320), params=300_000)
    searched, plain = plan(Request(**same, searched=True), fake_step), plan(Request(**same), fake_step)
    assert searched.after_seconds > plain.after_seconds and searched.fit_seconds < plain.fit_seconds
    # bits per pixel are a cap at the planned frame size
    bpp = plan(Request(num_frames=132, height=180, width=320, seconds=300, size=(180, 320), bpp_cap=0.05), fake_step)
    assert bpp.expected_bytes <= 0.05 * 132 * 180 * 320 / 8


def test_a_cap_below_the_smallest_file_says_so_before_anything_runs():
    with pytest.raises(ConfigError, match=r"a cap of 1,000 bytes is below the smallest file .* about [\d,]+ bytes"):
        plan(Request(num_frames=132, height=180, width=320, seconds=300, size_cap=1000), fake_step)


def test_a_quantization_aware_fit_spends_no_time_on_a_fine_tune_its_compression_does_not_run():
    same = dict(num_frames=132, height=180, width=320, seconds=1200, size=(180, 320), arch="grid", params=1_500_000)
    plain, aware = plan(Request(**same), fake_step), plan(Request(**same, quantized=frozenset({"grid"})), fake_step)
    assert plain.finetune_epochs > 0 and plain.prune > 0  # long enough to be pruned and fine-tuned
    assert aware.finetune_epochs == 0 and aware.prune == 0.0
    assert aware.epochs > plain.epochs and aware.after_seconds < plain.after_seconds
    # with a rate term the file's size and PSNR are what λ makes them: the expectations are bounds, and say so
    # (a grid 1.5M fit planned "≈ 942 kB" wrote 342 kB at --rate-lambda 0.03)
    assert "expect ≈ " in aware.line() and "rate term" not in aware.line()
    traded = plan(Request(**same, quantized=frozenset({"grid"}), rate_aware=frozenset({"grid"})), fake_step)
    assert re.search(r"expect ≤ \d+ dB, ≤ [\d.]+ [kM]B \(the rate term trades them\)$", traded.line()), traded.line()


def test_the_probe_times_the_step_the_fit_will_take(monkeypatch):
    from nervplayer.plan import probe

    built = []
    real = probe.FitNetwork.build

    def spy(spec, plugins, config, *args, **kw):
        built.append(config)
        return real(spec, plugins, config, *args, **kw)

    monkeypatch.setattr(probe.FitNetwork, "build", spy)
    optimizers = []
    real_optimizer = probe.build_optimizer
    monkeypatch.setattr(probe, "build_optimizer", lambda name, *a: optimizers.append(name) or real_optimizer(name, *a))
    recipe = {"qat": True, "rate_lambda": 0.1, "loss": "l2", "optimizer": "soap"}
    stepper = probe.StepProbe("cpu", "fp32", allowance=30.0, recipe=recipe)
    threads = torch.get_num_threads()
    try:
        assert stepper(Candidate("grid", 20_000, 32, 32, 8)) > 0
    finally:  # the probe leaves the process on the thread count it chose: the tests after it want their own
        torch.set_num_threads(threads)
    assert built and all(c.qat and c.rate_lambda == 0.1 and c.loss == "l2" for c in built)
    assert optimizers and set(optimizers) == {"soap"}  # SOAP's step, not Adam's


def test_a_size_far_from_the_probes_anchors_is_measured_itself(monkeypatch):
    """``fit --time 20m --params 3M`` was refused ("no model could be measured"): 3M is past what the anchors
    (100k, 600k) tell, so the size is measured itself, once; one that cannot be built stays unmeasured."""
    from nervplayer.plan import probe

    timed = []

    def fake_time(self, c):
        timed.append(c.params)
        return None if c.params == 9_000_000 else c.params * 1e-8  # 9M: too large for the clip

    monkeypatch.setattr(probe.StepProbe, "_time", fake_time)
    stepper = probe.StepProbe("cpu", "fp32", allowance=30.0)
    assert stepper(Candidate("grid", 3_000_000, 180, 320, 132)) == pytest.approx(0.03)
    assert timed == [100_000, 600_000, 3_000_000]
    assert stepper(Candidate("grid", 2_000_000, 180, 320, 132)) == pytest.approx(0.02)  # told from the points
    assert stepper(Candidate("grid", 9_000_000, 180, 320, 132)) == float("inf")
    assert stepper(Candidate("grid", 9_000_000, 180, 320, 132)) == float("inf")
    assert timed == [100_000, 600_000, 3_000_000, 9_000_000]
