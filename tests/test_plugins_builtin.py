"""Every registered built-in, checked against hand computations (timm-style: parametrized over the registry)."""

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim as ref_ms_ssim
from pytorch_msssim import ssim as ref_ssim

from nervplayer.errors import PluginError
from nervplayer.plugins import load_plugins

REG = load_plugins(safe_mode=True)

# Fusion weights written out independently of the plugin (nerv.md).
FUSION = {
    1: (0, 0.3, 0.7, 0),
    2: (0.3, 0, 0.7, 0),
    3: (0, 0.5, 0.5, 0),
    4: (0.5, 0, 0.5, 0),
    5: (0, 0.7, 0.3, 0),
    6: (0.7, 0, 0.3, 0),
    7: (0.3, 0.7, 0, 0),
    8: (0.5, 0.5, 0, 0),
    9: (0.9, 0, 0.1, 0),
    10: (0.7, 0, 0, 0.3),
    11: (0.9, 0, 0, 0.1),
    12: (0.8, 0, 0, 0.2),
}


def _pair(size=176):
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, size, size, generator=g)
    return a, (a + 0.1 * torch.randn(a.shape, generator=g)).clamp(0, 1)


def _by_hand(loss_id: str, a, b) -> float:
    l1 = (a - b).abs().mean().item()
    l2 = ((a - b) ** 2).mean().item()
    dssim = 1 - ref_ssim(a, b, data_range=1.0).item()
    dms = 1 - ref_ms_ssim(a, b, data_range=1.0).item()  # 176 px: pytorch-msssim's defaults apply
    if loss_id.startswith("fusion"):
        w1, w2, ws, wm = FUSION[int(loss_id[6:])]
        return w1 * l1 + w2 * l2 + ws * dssim + wm * dms
    return {"l1": l1, "l2": l2, "ssim": dssim, "ms-ssim": dms, "l1-ssim": 0.7 * l1 + 0.3 * dssim}[loss_id]


def test_all_papers_losses_are_registered():
    ids = set(REG.ids("loss"))
    assert {"l1", "l2", "ssim", "ms-ssim", "l1-ssim"} | {f"fusion{i}" for i in range(1, 13)} <= ids


@pytest.mark.parametrize("loss_id", REG.ids("loss"))
def test_loss_matches_hand_computation(loss_id):
    a, b = _pair()
    got = REG.create("loss", loss_id)(a, b).item()
    assert got == pytest.approx(_by_hand(loss_id, a, b), rel=1e-4, abs=1e-6)
    assert REG.create("loss", loss_id)(a, a).item() == pytest.approx(0, abs=1e-5)


def test_l1_ssim_mix_honours_alpha():
    a, b = _pair()
    l1 = (a - b).abs().mean().item()
    dssim = 1 - ref_ssim(a, b, data_range=1.0).item()
    got = REG.create("loss", "l1-ssim", {"alpha": 0.25})(a, b).item()
    assert got == pytest.approx(0.25 * l1 + 0.75 * dssim, rel=1e-4)


def test_ms_ssim_loss_works_on_small_frames():
    a, b = _pair(size=48)
    assert 0 < REG.create("loss", "ms-ssim")(a, b).item() < 1


REFERENCE_ACTIVATIONS = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "gelu": F.gelu,
    "silu": F.silu,
    "softplus": F.softplus,
    "hardswish": F.hardswish,
    "sine": torch.sin,
}


@pytest.mark.parametrize("act_id", REG.ids("activation"))
def test_activation_matches_reference(act_id):
    x = torch.linspace(-4, 4, 101)
    assert torch.allclose(REG.create("activation", act_id)(x), REFERENCE_ACTIVATIONS[act_id](x), atol=1e-6)


def test_swish_is_an_alias_of_silu():
    assert REG.get("activation", "swish").id == "silu"


def test_paper_schedule_curve():
    lr = REG.create("scheduler", "warmup-cosine")
    total, base = 100, 5e-4
    assert lr(0, total, base) == pytest.approx(0.1 * base)
    assert lr(10, total, base) == pytest.approx(base * (0.1 + 0.9 * 0.5))
    assert lr(20, total, base) == pytest.approx(base)
    assert lr(60, total, base) == pytest.approx(base * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr(100, total, base) == pytest.approx(0, abs=1e-12)
    curve = [lr(e / 10, total, base) for e in range(1001)]
    peak = curve.index(max(curve))
    assert all(x <= y for x, y in zip(curve[:peak], curve[1 : peak + 1]))  # rises during warmup
    assert all(x >= y for x, y in zip(curve[peak:], curve[peak + 1 :]))  # then only falls


def test_constant_step_and_restart_schedules():
    assert REG.create("scheduler", "constant")(37.5, 100, 1e-3) == 1e-3
    step = REG.create("scheduler", "step", {"step_size": 10, "gamma": 0.5})
    assert [step(e, 100, 1.0) for e in (0, 9.9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    sgdr = REG.create("scheduler", "cosine-restarts", {"period": 10, "mult": 2})
    assert sgdr(0, 100, 1.0) == pytest.approx(1.0)
    assert sgdr(5, 100, 1.0) == pytest.approx(0.5)
    assert sgdr(10, 100, 1.0) == pytest.approx(1.0)  # restart; the second cycle lasts 20 epochs
    assert sgdr(20, 100, 1.0) == pytest.approx(0.5)


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(PluginError, match="available: .*silu"):
        REG.get("activation", "mish")


def test_bad_parameter_is_a_clear_error():
    with pytest.raises(PluginError, match="negative_slope"):
        REG.create("activation", "leaky_relu", {"negative_slope": "steep"})
    with pytest.raises(PluginError, match="has no parameter"):
        REG.create("loss", "l1-ssim", {"beta": 1})
