"""The power-of-two step search of `compress --step-search` (issue 19 item 2): it never raises the fit's objective
on the frames it measures, coarsens a step made too fine, writes a file that decodes exactly to the symbols it
chose, leaves the file byte for byte alone when no shift pays, and refuses what it cannot do in one line."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_subprocess import error_line, main_error_line, run_nervplayer

from nervplayer.cli.main import main
from nervplayer.codec import Compressed, CompressOptions, Compressor, NervVideo, nervfile, stepsearch
from nervplayer.codec.latentcode import encode_tensor
from nervplayer.codec.measure import spread_frames
from nervplayer.codec.packing import activation_ref, pack_learned, video_record
from nervplayer.codec.pipeline import source_reference
from nervplayer.codec.ratecontrol import SEARCH_FRAMES
from nervplayer.codec.stepquant import StepQuantizedTensor, quantize_step
from nervplayer.model.render import times
from nervplayer.plugins import get_registry
from nervplayer.train import FitConfig, Fitter, open_run
from nervplayer.train.checkpoint import load_weights, save_weights, weights_metadata
from nervplayer.train.runfolder import WEIGHTS

LAMBDA = 0.01


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shapes_clip):
    """``runs(arch, lam)``: a rate-aware run of ~20k stored values fitted 3 epochs to the 16-frame 64×64 clip."""
    made: dict[tuple[str, float], Path] = {}

    def run(arch: str = "grid", lam: float = LAMBDA) -> Path:
        if (arch, lam) not in made:
            path = tmp_path_factory.mktemp("ss") / f"{arch}-{lam}"
            cfg = FitConfig(
                video=str(shapes_clip),
                arch=arch,
                budget=20_000,
                epochs=3,
                eval_every=3,
                lr=3e-3,
                qat=True,
                rate_lambda=lam,
                device="cpu",
                precision="fp32",
            )
            for _ in Fitter(cfg, path).run():
                pass
            made[arch, lam] = path
        return made[arch, lam]

    return run


def _compress(run: Path, out: Path, *extra: str) -> None:
    assert main(["compress", str(run), "-o", str(out), "--device", "cpu", *extra]) == 0


def _objective(run: Path, steps: dict[str, float]) -> float:
    """J = the fit's loss on the search frames + λ · coded bits per pixel, of the file written at ``steps``,
    measured here independently of the search (the file's own decode and its own coding of each tensor)."""
    r = open_run(run)
    state = {k: v.float() for k, v in r.state_dict().items()}
    nf = pack_learned(state, r.model_spec, steps, video=video_record(r), activation=activation_ref(r))
    reference = source_reference(r, None, torch.device("cpu"))
    idx = spread_frames(nf.num_frames, SEARCH_FRAMES)
    with torch.inference_mode():
        decoded = NervVideo(nf, "cpu").predict(idx)
        loss = get_registry().create("loss", r.fit_config.loss, r.fit_config.loss_params)
        d = float(loss(decoded, reference.get(idx).float().div(255)))
    kinds = {name: kind for name, (_, kind) in nervfile.stored_shapes(nf.model).items()}
    bits = sum(8 * sum(map(len, encode_tensor(q, kinds[n], "ans")[:2])) for n, q in nf.tensors.items())
    return d + r.fit_config.rate_lambda * bits / (nf.num_frames * nf.model.height * nf.model.width)


def _searched(run: Path) -> stepsearch.StepSearch:
    r = open_run(run)
    state = {k: v.float() for k, v in r.state_dict().items()}
    steps = r.quant_steps()
    assert steps is not None
    nf = pack_learned(state, r.model_spec, steps, video=video_record(r), activation=activation_ref(r))
    loss = get_registry().create("loss", r.fit_config.loss, r.fit_config.loss_params)
    reference = source_reference(r, None, torch.device("cpu"))
    return stepsearch.search_steps(nf, state, reference, loss, r.fit_config.rate_lambda, torch.device("cpu"))


@pytest.mark.parametrize("arch", ["grid", "hnerv"])
def test_the_search_never_raises_the_objective_on_the_frames_it_measures(arch, runs):
    run = runs(arch)
    learned = open_run(run).quant_steps()
    assert learned is not None
    found = _searched(run)
    before, after = _objective(run, learned), _objective(run, found.steps)
    assert after <= before
    assert found.loss == pytest.approx((before, after), rel=1e-6, abs=1e-7)  # its J is the file's J
    for name, k in found.shifts.items():  # every step is the learned one times 2^k, |k| ≤ 2
        assert found.steps[name] == learned[name] * 2.0**k and 1 <= abs(k) <= stepsearch.MAX_SHIFT
    assert found.decodes <= 1 + stepsearch.SWEEPS * len(learned) * 2 * stepsearch.MAX_SHIFT  # the stated bound


def _halved(run: Path, dst: Path) -> tuple[Path, str, float]:
    """A copy of ``run`` whose largest tensor's learned step is halved: (the copy, that tensor, its true step)."""
    copy = Path(shutil.copytree(run, dst))
    meta = weights_metadata(copy / WEIGHTS)
    state = load_weights(copy / WEIGHTS)
    name = max(meta["quant_steps"], key=lambda n: state[n].numel())
    step = meta["quant_steps"][name]
    meta["quant_steps"][name] = step / 2
    save_weights(copy / WEIGHTS, state, meta)
    return copy, name, step


def test_a_step_made_too_fine_is_coarsened_back(runs, tmp_path, capsys):
    run, name, step = _halved(runs("grid"), tmp_path / "run")
    _compress(run, tmp_path / "a.nerv", "--step-search", "--no-eval")
    nf = nervfile.load(tmp_path / "a.nerv")
    q = nf.tensors[name]
    assert isinstance(q, StepQuantizedTensor)
    assert q.step >= step and nf.compression["step_search_lambda"] == LAMBDA
    out = capsys.readouterr().out
    assert "tensors changed" in out and "step search (λ 0.01): " in out

    _compress(run, tmp_path / "b.nerv", "--no-eval")  # without the search the halved step is written as it is
    assert nervfile.load(tmp_path / "b.nerv").tensors[name].step == pytest.approx(step / 2)
    assert (tmp_path / "a.nerv").stat().st_size < (tmp_path / "b.nerv").stat().st_size


@pytest.mark.parametrize("arch", ["grid", "hnerv"])
def test_the_file_decodes_exactly_to_the_symbols_the_search_chose(arch, runs, tmp_path):
    run, name, _ = _halved(runs(arch), tmp_path / "run")
    _compress(run, tmp_path / "s.nerv", "--step-search", "--no-eval")
    nf = nervfile.load(tmp_path / "s.nerv")
    r = open_run(run)
    state = {k: v.float() for k, v in r.state_dict().items()}
    learned = r.quant_steps()
    assert learned is not None and nf.compression["step_search_lambda"] == LAMBDA
    chosen, shifts = {}, {}
    for n, q in nf.tensors.items():
        assert isinstance(q, StepQuantizedTensor)
        shifts[n] = round(math.log2(q.step / learned[n]))
        assert q.step == np.float32(learned[n] * 2.0 ** shifts[n]) and abs(shifts[n]) <= stepsearch.MAX_SHIFT
        expected = quantize_step(state[n], q.step)  # round(x / s') from the fit's floats, training's function
        assert q.offset == expected.offset and np.array_equal(q.symbols, expected.symbols)
        chosen[n] = torch.from_numpy(expected.dequantize())
    assert shifts[name] >= 1  # the halved step, coarsened back
    model = r.build_model("cpu")
    model.load_state_dict(chosen, strict=False)
    idx = list(range(nf.num_frames))
    with torch.inference_mode():
        assert torch.equal(NervVideo(nf, "cpu").predict(idx), model(times(idx, nf.num_frames, "cpu")).float())


def test_when_no_shift_pays_the_file_is_byte_identical_to_a_plain_compress(runs, tmp_path, monkeypatch):
    run = runs("grid")
    monkeypatch.setattr(stepsearch, "MAX_SHIFT", 0)  # nothing to try: k = 0 everywhere

    def written(path: Path, **options) -> tuple[bytes, Compressed]:
        opts = CompressOptions(device="cpu", evaluate=False, **options)
        report = [e for e in Compressor(run, path, opts).run() if isinstance(e, Compressed)][-1]
        nf = nervfile.load(path)
        nf.created = {"time": "the same"}
        return nervfile.encode(nf)[0], report

    searched, report = written(tmp_path / "s.nerv", step_search=True)
    plain, _ = written(tmp_path / "p.nerv")
    assert searched == plain
    assert report.step_search.startswith("step search (λ 0.01): 0 of 12 tensors changed, +0.0% coded bytes")


def test_with_a_size_target_the_target_search_runs_on_the_searched_steps(runs, tmp_path, capsys):
    run, _, _ = _halved(runs("grid"), tmp_path / "run")
    _compress(run, tmp_path / "full.nerv", "--no-eval")
    cap = int((tmp_path / "full.nerv").stat().st_size * 0.6)
    capsys.readouterr()
    _compress(run, tmp_path / "c.nerv", "--step-search", "--target-size", f"{cap}B", "--no-eval")
    assert 0.97 * cap <= (tmp_path / "c.nerv").stat().st_size <= cap
    made = nervfile.load(tmp_path / "c.nerv").compression
    assert made["step_search_lambda"] == LAMBDA and made["step_scale"] >= 1
    out = capsys.readouterr().out
    assert "step search (λ 0.01): " in out and f"requested {cap:,} bytes · achieved" in out


def test_a_run_fitted_without_a_rate_term_is_not_searched_unless_given_a_lambda(runs, tmp_path, capsys):
    run = runs("grid", 0.0)
    _compress(run, tmp_path / "a.nerv", "--step-search", "--no-eval")
    assert "step search: skipped: the run was fitted without a rate term (λ 0)" in capsys.readouterr().out
    assert "step_search_lambda" not in nervfile.load(tmp_path / "a.nerv").compression
    _compress(run, tmp_path / "b.nerv", "--step-search", "--step-search-lambda", "1", "--no-eval")
    assert "step search (λ 1): " in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(tmp_path, fitted_run, runs, capsys):
    out = str(tmp_path / "x.nerv")
    line = error_line(run_nervplayer("compress", str(fitted_run), "-o", out, "--step-search", "--device", "cpu"))
    assert "--step-search searches the learned steps of a rate-aware fit" in line and "is a plain fit" in line
    line = main_error_line(capsys, "compress", str(runs()), "-o", out, "--step-search-lambda", "0.1")
    assert "give --step-search too" in line
    for bad in ("-1", "0", "nan", "inf"):
        line = main_error_line(capsys, "compress", str(runs()), "-o", out, "--step-search", "--step-search-lambda", bad)
        assert "--step-search-lambda must be a positive number" in line
    assert not Path(out).exists()
