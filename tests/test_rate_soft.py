"""Soft rounding with annealed noise (``--soft-rounding``, train/softround.py): the soft-round function, which
steps round softly and which hard, the file of such a fit decoding what its last evaluation saw, resumption, and
bad input."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nervplayer.codec import CompressOptions, Compressor, NervVideo
from nervplayer.errors import ConfigError
from nervplayer.train import FitConfig, Fitter, Step
from nervplayer.train.softround import Annealing, noise_start, soft_round

REPO = Path(__file__).resolve().parent.parent


def _config(clip: Path, arch: str, epochs: int = 4, **kw) -> FitConfig:
    return FitConfig(
        video=str(clip),
        arch=arch,
        budget=kw.pop("budget", 21_000),
        end=8,  # 8 frames in batches of 2: 4 steps an epoch
        batch_size=2,
        epochs=epochs,
        eval_every=epochs,
        checkpoint_every=1,
        lr=1e-2,
        device="cpu",
        precision="fp32",
        qat=True,
        rate_lambda=kw.pop("rate_lambda", 0.01),
        **kw,
    )


def _fit(config: FitConfig, run: Path, on_event=None) -> tuple[Fitter, list]:
    fitter = Fitter(config, run)
    events = []
    for ev in fitter.run():
        events.append(ev)
        if on_event:
            on_event(fitter, ev)
    return fitter, events


def test_soft_round_goes_from_the_identity_to_rounding_continuously_with_a_gradient():
    y = torch.linspace(-3.2, 3.2, 641, dtype=torch.float64)
    away_from_halves = y[(y - y.floor() - 0.5).abs() > 0.02]
    assert torch.equal(soft_round(away_from_halves, 1e-3), away_from_halves.round())
    assert torch.allclose(soft_round(y, 100.0), y, atol=1e-4)
    ints = torch.arange(-3.0, 4.0, dtype=torch.float64)
    assert torch.allclose(soft_round(ints, 0.2), ints)  # integers are fixed points
    for t in (0.08, 0.35):  # continuous across the integers, where floor() jumps
        assert torch.allclose(soft_round(ints - 1e-9, t), soft_round(ints + 1e-9, t), atol=1e-6)
        x = torch.tensor([-1.3, 0.2, 0.5, 2.7], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda v, t=t: soft_round(v, t), (x,))
        soft_round(x, t).sum().backward()
        assert (x.grad > 0).all()  # where the straight-through gradient is 1, soft rounding's is not 0
        assert x.grad[2] > 1 > x.grad[1]  # steepest half-way between integers


def test_noise_starts_from_lambda_within_a_sane_range_and_the_schedule_anneals_then_rounds_hard():
    assert noise_start(0.0) == 0.22
    assert noise_start(0.01) == pytest.approx((0.864 + 0.747) / 10)
    assert noise_start(1e-9) == 0.3 and noise_start(100.0) == 0.1
    schedule = Annealing(hard_share=0.2, sigma0=0.22, seed=3)
    cpu = torch.device("cpu")
    start, late = schedule.at(0.0, 0, cpu), schedule.at(0.6, 0, cpu)
    assert start is not None and late is not None
    assert (start.temperature, start.sigma) == (0.35, 0.22)
    assert late.temperature == pytest.approx(0.35 + (0.08 - 0.35) * 0.75)
    assert 0.15 < late.sigma < 0.22
    assert schedule.at(0.8, 0, cpu) is None and schedule.at(0.99, 5, cpu) is None
    y = torch.linspace(-4, 4, 100)
    first = schedule.at(0.3, 7, cpu)
    again = schedule.at(0.3, 7, cpu)
    assert first is not None and again is not None
    assert torch.equal(first(y), again(y))  # the noise is a function of (seed, step)
    other = schedule.at(0.3, 8, cpu)
    assert other is not None and not torch.equal(first(y), other(y))


@pytest.mark.parametrize("arch", ["grid", "hnerv"])
def test_training_steps_of_the_main_phase_round_softly_everything_else_hard(arch, shapes_clip, tmp_path):
    fitter = Fitter(_config(shapes_clip, arch, soft_rounding=True, hard_rounding=0.25), tmp_path / "run")
    network, quantizer = fitter.network, fitter.quantizer
    assert quantizer is not None
    target = network.to_float(fitter.store.get([0, 1]))

    def symbols(progress: float | None, train: bool) -> list[torch.Tensor]:
        if progress is not None:
            network.anneal(progress, 3)
        with torch.no_grad():
            network.forward([0, 1], target if train else None)
        out = [q for q, *_ in quantizer._symbols]
        quantizer.clear()
        return out

    def integral(qs: list[torch.Tensor]) -> bool:
        return all(torch.equal(q, q.round()) for q in qs)

    soft = symbols(0.5, train=True)
    assert soft and not any(torch.equal(q, q.round()) for q in soft if q.numel() > 10)
    assert integral(symbols(None, train=False))  # an evaluation, the main phase's rounding set
    assert integral(symbols(0.75, train=True))  # the hard phase
    assert integral(symbols(0.99, train=True))


def test_a_fit_that_rounds_hard_throughout_is_a_plain_qat_fit_and_soft_rounding_changes_it(shapes_clip, tmp_path):
    plain, _ = _fit(_config(shapes_clip, "grid", 2), tmp_path / "plain")
    hard, _ = _fit(_config(shapes_clip, "grid", 2, soft_rounding=True, hard_rounding=1.0), tmp_path / "hard")
    soft, _ = _fit(_config(shapes_clip, "grid", 2, soft_rounding=True), tmp_path / "soft")
    a, b, c = plain.model.state_dict(), hard.model.state_dict(), soft.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert plain.quantizer is not None and hard.quantizer is not None
    assert plain.quantizer.steps() == hard.quantizer.steps()


@pytest.mark.parametrize("arch", ["grid", "hnerv", "nerv"])
def test_the_file_of_a_soft_rounding_fit_decodes_what_its_last_evaluation_saw(arch, shapes_clip, tmp_path):
    budget = 40_000 if arch == "nerv" else 21_000
    fitter, _ = _fit(_config(shapes_clip, arch, 4, soft_rounding=True, budget=budget), tmp_path / "run")
    path = tmp_path / "f.nerv"
    for _ in Compressor(tmp_path / "run", path, CompressOptions(evaluate=False, device="cpu")).run():
        pass
    video = NervVideo.open(path)
    for idx in ([0, 5], [7]):
        assert torch.equal(video.predict(idx), fitter.predict(idx))
    assert (video.frames(0, 8) == fitter.decode(range(8))).all()


@pytest.mark.parametrize("arch", ["grid", "hnerv"])
def test_a_cancelled_soft_rounding_fit_resumes_to_the_uninterrupted_result(arch, shapes_clip, tmp_path):
    config = _config(shapes_clip, arch, 3, soft_rounding=True, hard_rounding=0.3)
    straight, _ = _fit(config, tmp_path / "straight")

    def stop(fitter, ev):
        if isinstance(ev, Step) and ev.step == 6:  # in the main phase of epoch 2 (4 steps each)
            fitter.cancel()

    _, events = _fit(config, tmp_path / "split", stop)
    assert events[-1].status == "cancelled"
    resumed = Fitter(config, tmp_path / "split", resume=True)
    for _ in resumed.run():
        pass
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert straight.quantizer is not None and resumed.quantizer is not None
    assert straight.quantizer.steps() == resumed.quantizer.steps()


def test_soft_rounding_needs_qat_and_a_share_in_0_to_1(shapes_clip):
    with pytest.raises(ConfigError, match="needs quantization-aware training"):
        FitConfig(video="x", soft_rounding=True, qat=False).validate()
    for share in (1.5, -0.1, math.nan):
        with pytest.raises(ConfigError, match="hard-rounding share"):
            FitConfig(video="x", qat=True, soft_rounding=True, hard_rounding=share).validate()
    old = {k: v for k, v in FitConfig(video="x", qat=True).to_dict().items() if "rounding" not in k}
    assert not FitConfig.from_dict(old).soft_rounding  # a run folder written before the fields


@pytest.mark.parametrize(
    "args, message",
    [
        (["--soft-rounding", "--hard-rounding", "1.5"], "hard-rounding share of the fit must be in 0..1, got 1.5"),
        (["--soft-rounding", "--hard-rounding", "-0.1"], "must be in 0..1, got -0.1"),
        (["--hard-rounding", "0.2"], "give --soft-rounding too"),
    ],
)
def test_bad_rounding_flags_are_one_line_and_exit_2(args, message, shapes_clip, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "nervplayer", "fit", str(shapes_clip), "-o", str(tmp_path / "run"), *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "run").exists()


def test_a_soft_rounding_fit_killed_mid_fit_resumes_to_the_uninterrupted_result(shapes_clip, tmp_path):
    from nervplayer.cli.main import main as cli_main
    from nervplayer.train.checkpoint import load_weights

    args = [str(shapes_clip), "--arch", "grid", "--params", "21000", "--frames", "0:8", "--batch-size", "2"]
    args += ["--epochs", "6", "--lr", "0.01", "--eval-every", "100", "--checkpoint-every", "1", "--device", "cpu"]
    args += ["--precision", "fp32", "--rate-lambda", "0.01", "--soft-rounding", "--hard-rounding", "0.3"]
    run = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nervplayer", "fit", *args, "-o", str(run)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not (run / "checkpoint.pt").is_file():
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the fit ended"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert not (run / "model.safetensors").exists()
    assert cli_main(["fit", "--resume", "-o", str(run)]) == 0
    assert cli_main(["fit", *args, "-o", str(tmp_path / "straight")]) == 0
    a, b = load_weights(tmp_path / "straight" / "model.safetensors"), load_weights(run / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
