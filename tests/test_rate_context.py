"""The rate term's context model (train/contextrate.py): it reads the contexts the file's coder reads, prices a
tensor about as the file's context model codes it, gives each symbol the gradient of its own context's price, and
is a recorded part of a fit's recipe (old runs keep the one Laplace they trained with)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from nervplayer.codec import context
from nervplayer.train import FitConfig
from nervplayer.train.contextrate import CAP, CUTS, context_bits, contexts, fit_code, symbol_bits
from nervplayer.train.laplace import laplace_bits


def _latents(seed: int = 0) -> torch.Tensor:
    """Whole-number symbols with the structure of a trained grid level: mostly zeros, busy in patches (a third of
    the area) that persist over time."""
    g = torch.Generator().manual_seed(seed)
    busy = (torch.rand(1, 4, 24, 32, generator=g) < 0.04).float()
    busy = torch.nn.functional.max_pool2d(busy, 3, 1, 1).expand(6, 4, 24, 32)
    u = torch.rand(busy.shape, generator=g) - 0.5
    laplace = -(0.15 + 1.6 * busy) * u.sign() * torch.log1p(-2 * u.abs())
    return torch.round(laplace).clamp(-40, 40)


def test_the_contexts_are_the_ones_the_files_coder_reads():
    v = _latents()
    activity = context._all_activity(v.abs().numpy().astype(np.int32))
    want = np.searchsorted(np.array(CUTS), activity, side="right")
    assert np.array_equal(contexts(v.abs()).numpy(), want)
    assert len(np.unique(want)) == len(CUTS) + 1  # every context is used


def test_the_estimate_is_close_to_what_the_files_context_model_codes_and_below_one_laplace():
    v = _latents()
    centre = int(-v.min())
    symbols = (v + centre).to(torch.int64).numpy()
    _, file_bits = context.fit(symbols.ravel(), int(symbols.max()) + 1, tuple(v.shape), True)
    bits = float(context_bits(v))
    assert bits == pytest.approx(file_bits, rel=0.02)
    assert float(laplace_bits(v, integers=True)) > 1.15 * bits  # the price list it replaces was far off here


def test_each_symbol_is_priced_by_its_own_context():
    v = _latents().requires_grad_()
    bits = context_bits(v)
    bits.backward()
    _, code = fit_code(v)
    ctx = contexts(v.detach().abs())
    unit = torch.tensor(code.per_unit)[ctx]
    priced = (v.detach() != 0) & (torch.tensor(code.zero_bits)[ctx] + v.detach().abs() * unit < CAP)
    assert torch.allclose(v.grad[priced], (unit * v.detach().sign())[priced])
    assert torch.all(v.grad[~priced] == 0)  # zeros, and symbols past the floor of their probability
    assert code.per_unit[0] > code.per_unit[-1] + 2  # a quiet neighbourhood makes a nonzero dearer
    assert float(bits) == pytest.approx(float(symbol_bits(v.detach(), code, ctx).sum()))


def test_a_config_without_a_rate_model_is_the_one_laplace_it_trained_with():
    config = FitConfig(video="x.mp4", qat=True, rate_lambda=0.01)
    assert config.rate_model == "context"
    old = {k: v for k, v in config.to_dict().items() if k != "rate_model"}
    assert FitConfig.from_dict(old).rate_model == "laplace"


def test_the_cli_records_the_rate_model_and_refuses_an_unknown_one(shapes_clip, tmp_path):
    cmd = [sys.executable, "-m", "nervplayer", "fit", str(shapes_clip), "--device", "cpu", "--epochs", "1"]
    cmd += ["--params", "21k", "--frames", "0:4", "--eval-every", "1"]
    done = subprocess.run([*cmd, "-o", str(tmp_path / "a"), "--rate-model", "laplace"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "a" / "config.json").read_text())["fit"]["rate_model"] == "laplace"
    bad = subprocess.run([*cmd, "-o", str(tmp_path / "b"), "--rate-model", "arm"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'arm'" in bad.stderr and "Traceback" not in bad.stderr
