"""The encoder recipe's multi-start warm-up (``--starts``) and SOAP optimiser (``--optimizer soap``): the default
fit is unchanged, the warm-up keeps its best start and is never redone, SOAP trains, resumes exactly and decodes,
and bad input or a missing package is one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nervplayer.cli.main import main
from nervplayer.train import Checkpointed, FitConfig, Fitter, Step
from nervplayer.train import fit as fit_module
from nervplayer.train.checkpoint import load_checkpoint
from nervplayer.train.starts import start_step, warmup_batches

REPO = Path(__file__).resolve().parent.parent


def _config(clip: Path, **kw) -> FitConfig:
    base = {"arch": "grid", "budget": 20_000, "epochs": 2, "lr": 3e-3, "device": "cpu", "precision": "fp32"}
    return FitConfig(video=str(clip), eval_every=100, checkpoint_every=1, **{**base, **kw})


def _weights(fitter: Fitter) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in fitter.model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _cancel_after(fitter: Fitter, steps: int) -> list:
    events = []
    for ev in fitter.run():
        events.append(ev)
        if isinstance(ev, Step) and ev.step == steps:
            fitter.cancel()
    return events


def test_one_start_is_the_fit_without_starts(shapes_clip, tmp_path):
    plain = Fitter(_config(shapes_clip, epochs=1), tmp_path / "plain")
    list(plain.run())
    one = Fitter(_config(shapes_clip, epochs=1, starts=1, optimizer="adam"), tmp_path / "one")
    list(one.run())
    assert _same(_weights(plain), _weights(one))
    assert "warmup" not in json.loads((tmp_path / "one" / "config.json").read_text())


def test_three_starts_continue_from_the_best_one(shapes_clip, tmp_path):
    cfg = _config(shapes_clip, starts=3, qat=True)
    fitter = Fitter(cfg, tmp_path / "run")
    events = []
    for ev in fitter.run():  # stop at the warm-up's checkpoint: the chosen start, before the fit's first step
        events.append(ev)
        if isinstance(ev, Checkpointed):
            fitter.cancel()
    assert not any(isinstance(ev, Step) for ev in events)  # the warm-up's steps are not the fit's
    warm = json.loads((tmp_path / "run" / "config.json").read_text())["warmup"]
    assert len(warm["seeds"]) == 3 and warm["seeds"][0] == cfg.seed and len(set(warm["seeds"])) == 3
    assert warm["chosen"] == warm["seeds"][int(np.argmin(warm["scores"]))]
    assert warm["steps"] == 8  # 3 % of 32 steps is less than the least a start trains
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert saved["step"] == 0 and saved["warmup"] == warm

    # the chosen start, trained again alone on the warm-up's batches, is what the fit goes on from
    again = Fitter(_config(shapes_clip, qat=True), tmp_path / "again")
    step = again.train_step if warm["chosen"] == cfg.seed else start_step(again, warm["chosen"])
    for indices, frames, lr in warmup_batches(again, warm["steps"]):
        step(indices, frames, lr)
    assert _same(saved["model"], step.model.state_dict())
    others = [s for s in warm["seeds"] if s != warm["chosen"]]
    other = Fitter(_config(shapes_clip, qat=True, seed=others[0]), tmp_path / "other")
    assert not _same(saved["model"], _weights(other))


def test_a_resumed_fit_keeps_its_start_and_equals_a_straight_run(shapes_clip, tmp_path, monkeypatch):
    cfg = _config(shapes_clip, starts=3, epochs=3)
    straight = Fitter(cfg, tmp_path / "straight")
    list(straight.run())
    stopped = Fitter(cfg, tmp_path / "run")
    _cancel_after(stopped, 20)
    monkeypatch.setattr(fit_module, "warm_up", lambda fit: pytest.fail("the resumed fit redid the warm-up"))
    resumed = Fitter(cfg, tmp_path / "run", resume=True)
    list(resumed.run())
    assert _same(_weights(straight), _weights(resumed))
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["warmup"] == stopped.warmup == resumed.warmup
    assert {**record["warmup"], "seconds": 0} == {**straight.warmup, "seconds": 0}  # the same choice


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--starts", "0"], {}, "starts must be in 1..16, got 0"),
        (["--starts", "17"], {}, "starts must be in 1..16, got 17"),
        (["--optimizer", "sgd"], {}, "invalid choice: 'sgd' (choose from 'adam', 'soap')"),
        (["--starts", "2"], {"WORLD_SIZE": "2", "RANK": "0"}, "under torchrun give --starts 1"),
    ],
)
def test_bad_starts_are_one_line(shapes_clip, tmp_path, args, env, message):
    out = subprocess.run(
        [sys.executable, "-m", "nervplayer", "fit", str(shapes_clip), "-o", str(tmp_path / "run"), *args],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.parametrize("arch", ["grid", "hnerv"])
def test_soap_trains_and_resumes_exactly(shapes_clip, tmp_path, arch):
    cfg = _config(shapes_clip, arch=arch, optimizer="soap", qat=True, lr=1e-2)
    straight = Fitter(cfg, tmp_path / "straight")
    losses = [ev.loss for ev in straight.run() if isinstance(ev, Step)]
    assert np.mean(losses[-8:]) < 0.9 * np.mean(losses[:8])
    assert set(load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["optimizer"]) == {"soap", "adam"}
    # SOAP holds the network's matrices and kernels; the latents, biases and learned steps stay with Adam
    soap = {id(p) for g in straight.optimizer.soap.param_groups for p in g["params"]}  # type: ignore[attr-defined]
    named = dict(straight.model.named_parameters())
    assert soap and all(
        named[n].ndim >= 2 and straight.network.stored.get(n) != "latents" for n in named if id(named[n]) in soap
    )
    latents = [n for n, kind in straight.network.stored.items() if kind == "latents" and n in named]
    assert all(id(named[n]) not in soap for n in latents)
    stopped = Fitter(cfg, tmp_path / "run")
    _cancel_after(stopped, 13)  # mid-epoch, past SOAP's first preconditioner update (every 10 steps)
    resumed = Fitter(cfg, tmp_path / "run", resume=True)
    list(resumed.run())
    assert _same(_weights(straight), _weights(resumed))


def test_a_soap_fit_compresses_and_decodes(shapes_clip, tmp_path):
    from nervplayer.codec import NervVideo

    run, out = tmp_path / "run", tmp_path / "clip.nerv"
    fit = ["fit", str(shapes_clip), "-o", str(run), "--arch", "grid", "--params", "20k", "--epochs", "2"]
    assert main([*fit, "--optimizer", "soap", "--starts", "2", "--device", "cpu"]) == 0
    assert main(["compress", str(run), "-o", str(out)]) == 0
    video = NervVideo.open(out)
    assert video.frames(0, 4).shape == (4, 64, 64, 3)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_soap_without_its_package_is_one_line(shapes_clip, tmp_path):
    code = (
        "import sys\n"
        "sys.modules['pytorch_optimizer'] = None  # as if not installed: importing it raises ImportError\n"
        "from nervplayer.cli.main import main\n"
        f"sys.exit(main(['fit', {str(shapes_clip)!r}, '-o', {str(tmp_path / 'run')!r}, '--optimizer', 'soap']))\n"
    )
    out = _python(code)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'nervplayer[soap]'" in lines[0], out.stderr


def test_an_adam_fit_never_imports_the_soap_package(shapes_clip, tmp_path):
    code = (
        "import sys\n"
        "from nervplayer.train import FitConfig, Fitter\n"
        f"cfg = FitConfig(video={str(shapes_clip)!r}, arch='grid', budget=20000, epochs=1, device='cpu', starts=2)\n"
        f"for ev in Fitter(cfg, {str(tmp_path / 'run')!r}).run(): pass\n"
        "print('pytorch_optimizer' in sys.modules)\n"
    )
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_the_warm_up_counts_against_a_time_limit_but_not_as_steps(shapes_clip, tmp_path, one_thread):
    """The warm-up's seconds are part of the limit; the step time that reserves the work after the fit
    (time_after_steps) is the fit's own steps', not inflated by the warm-up's."""
    cfg = _config(shapes_clip, epochs=1000, starts=3, time_limit=8.0, time_after_steps=1.0)
    fitter = Fitter(cfg, tmp_path / "run")
    arrivals = [time.perf_counter() for ev in fitter.run() if isinstance(ev, Step)]
    assert fitter.warmup is not None and fitter.warmup["seconds"] > 0
    assert fitter.time_limit is not None and fitter.time_limit.untimed == fitter.warmup["seconds"]
    # the step time the reserve uses is the fit's steps' alone, not the warm-up's seconds spread over them
    spent, steps = fitter.elapsed, max(fitter.step, 1)
    fit_steps_only = (spent - fitter.warmup["seconds"]) / steps / cfg.batch_size
    assert fitter.time_limit.training(spent, steps) == pytest.approx(8.0 - fitter.num_frames * fit_steps_only)
    # Against the fit's own steps, as this machine ran them (a loaded machine runs fewer): they span at least half
    # the time left after the warm-up and the reserve; the inflated estimate stopped the fit after its first step.
    assert len(arrivals) > 1, len(arrivals)
    span = arrivals[-1] - arrivals[0]
    step_s = span / (len(arrivals) - 1)  # the mean, checkpoints and a busy core's pauses included
    room = 8.0 - fitter.warmup["seconds"] - fitter.num_frames * step_s  # less one epoch's steps after the fit
    assert span >= 0.5 * room, (len(arrivals), span, room, step_s)
    assert fitter.elapsed <= 8.0 + 1.0
