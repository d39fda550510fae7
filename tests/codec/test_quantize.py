import numpy as np
import pytest
import torch

from nervplayer.codec.prune import global_magnitude_masks, sparsity
from nervplayer.codec.qat import fake_quantize
from nervplayer.codec.quantize import levels, quantize


@pytest.mark.parametrize("bits", [2, 3, 8, 12, 16])
def test_2_to_the_b_minus_1_steps_cover_the_range(bits):
    w = np.linspace(-1.0, 3.0, 1001, dtype=np.float32).reshape(1, -1)
    q = quantize(w, bits, per_channel=True)
    assert q.symbols.min() == 0 and q.symbols.max() == levels(bits) == 2**bits - 1
    assert len(np.unique(q.symbols)) == min(2**bits, 1001)
    err = np.abs(q.dequantize() - w).max()
    assert err <= float(q.step[0]) / 2 * 1.001
    # The public NeRV code divides by 2^b: its top level is never used. Ours lands on the stored maximum.
    assert q.minimum[0] == -1.0 and q.maximum[0] == 3.0
    assert q.dequantize().max() == 3.0


def test_pruned_entries_get_no_symbol_and_decode_to_zero():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    mask = np.abs(w) > 0.5
    q = quantize(w, 6, per_channel=True, mask=mask)
    assert q.symbols.size == mask.sum()
    out = q.dequantize()
    assert (out[~mask] == 0).all()
    # Ranges come from kept values only.
    rows_lo = np.where(mask, w, np.inf).reshape(16, -1).min(1)
    assert np.allclose(q.minimum.astype(np.float32), rows_lo, atol=2e-3)


def test_per_channel_beats_per_tensor_on_uneven_channels():
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((8, 64)) * np.logspace(-3, 0, 8)[:, None]).astype(np.float32)
    err = {pc: np.abs(quantize(w, 6, pc).dequantize() - w).mean() for pc in (True, False)}
    assert err[True] < err[False] / 5
    assert quantize(w, 6, False).channels == 1 and quantize(w, 6, True).channels == 8


def test_constant_and_fully_pruned_channels():
    w = np.zeros((3, 4), np.float32)
    w[1] = 0.25
    mask = np.ones((3, 4), bool)
    mask[2] = False
    q = quantize(w, 4, True, mask)
    assert (q.dequantize() == w).all() and (q.step == 0).all()


def test_bit_width_bounds():
    for bits in (1, 17):
        with pytest.raises(ValueError):
            quantize(np.ones((2, 2), np.float32), bits, True)


def test_fake_quantize_matches_quantize():
    torch.manual_seed(0)
    w = torch.randn(12, 5, 3, 3) * 0.1
    mask = torch.rand(12, 5, 3, 3) > 0.3
    for pc in (True, False):
        a = fake_quantize(w, 5, pc, mask).numpy()
        b = quantize(w.numpy(), 5, pc, mask.numpy()).dequantize()
        assert np.abs(a - b).max() < 1e-6


def test_fake_quantize_is_straight_through():
    w = torch.randn(4, 4, requires_grad=True)
    fake_quantize(w, 3, True).sum().backward()
    assert torch.equal(w.grad, torch.ones(4, 4))


def test_global_magnitude_pruning_removes_the_fraction_across_layers():
    small = torch.full((10, 10), 0.01) * torch.randn(10, 10).sign()
    large = torch.randn(30, 10) + 5
    masks = global_magnitude_masks({"small": small, "large": large}, 0.25)
    assert sum(int((~m).sum()) for m in masks.values()) == 100  # 25% of 400 removed: a fraction REMOVED
    assert not masks["small"].any() and masks["large"].all()  # ranked globally, not per layer
    assert sparsity(masks) == pytest.approx(0.25)
    assert global_magnitude_masks({"a": small}, 0.0)["a"].all()
    with pytest.raises(ValueError):
        global_magnitude_masks({"a": small}, 1.0)
