"""The rate-aware step's quantizer and rate estimate (train/rate.py, train/laplace.py) computed in closed form: the
same values and gradients as autograd through the straight-through rounding and the two Laplace CDFs (in float64,
where the CDFs keep their small probabilities), in a fraction of the passes."""

import pytest
import torch

from nervplayer.train.laplace import laplace_bits
from nervplayer.train.rate import QMAX, QMIN, quantize_with_step


def symbols(scale: float, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Whole numbers, mostly small with a heavy tail (as fitted weights and latents are)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g) * scale * torch.rand(shape, generator=g).pow(4) * 5).round()


@pytest.mark.parametrize(
    ("scale", "shape"),
    [
        (0.0, (100,)),  # all zeros: the scale's floor
        (0.02, (1000,)),  # sparse: a few ±1, the rest zero
        (0.3, (7, 4, 50, 9)),  # some symbols past the probability floor (their bits capped, no gradient)
        (3.0, (5000,)),
        (1e4, (200,)),
        (0.5, (0,)),  # empty
    ],
)
def test_the_closed_form_is_the_laplace_cdf_formula_in_value_and_gradient(scale, shape):
    q = symbols(scale, shape)
    exact = q.double().requires_grad_()
    fast = q.clone().requires_grad_()
    want, got = laplace_bits(exact), laplace_bits(fast, integers=True)
    assert got.dtype == torch.float32 and got.shape == ()
    assert got.item() == pytest.approx(want.item(), rel=1e-5, abs=1e-6)
    if q.numel():
        want.backward(), got.backward()
        assert torch.allclose(fast.grad.double(), exact.grad, rtol=1e-4, atol=1e-6 * float(exact.grad.abs().max()))
        assert (fast.grad[q == 0] == 0).all()  # a zero's bits are flat in it


def test_symbols_past_the_floor_cost_its_bits_and_have_no_gradient():
    q = torch.zeros(1000)
    q[:3] = torch.tensor([1.0, 5.0, -40.0])  # scale 0.05: 5 and 40 are past a probability of 1e-9
    q.requires_grad_()
    bits = laplace_bits(q, integers=True)
    bits.backward()
    assert q.grad[1] == 0 and q.grad[2] == 0 and q.grad[0] > 0
    assert bits.item() == pytest.approx(laplace_bits(q.detach().double()).item(), rel=1e-6)


@pytest.mark.parametrize(("scale", "step"), [(0.05, 0.01), (1.0, 1e-5), (3.0, 0.5)])  # the middle one clamps
def test_hard_quantization_is_the_straight_through_rounding(scale, step):
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(6, 4, 10, 3, generator=g).contiguous(memory_format=torch.channels_last) * scale
    w = torch.randn(x0.shape, generator=g)

    def straight_through(x, s):
        y = (x / s).clamp(QMIN, QMAX)
        q = y.round().detach() + (y - y.detach())
        return q * s, q

    results = []
    for quantize in (straight_through, quantize_with_step):
        x, s = x0.clone().requires_grad_(), torch.tensor(step, requires_grad=True)
        x_hat, q = quantize(x, s)
        ((x_hat * w).sum() + laplace_bits(q, integers=True) * 0.3).backward()
        results.append((x_hat.detach(), q.detach(), x.grad, s.grad))
    (x_hat, q, grad_x, grad_s), (x_hat2, q2, grad_x2, grad_s2) = results
    assert torch.equal(x_hat2, x_hat) and torch.equal(q2, q) and x_hat2.stride() == x_hat.stride()
    assert not torch.signbit(q2[q2 == 0]).any()  # +0, as the file's integers decode
    assert torch.equal(grad_x2, grad_x)
    assert float(grad_s2) == pytest.approx(float(grad_s), rel=1e-5)
    if step == 1e-5:
        assert (q2.abs() >= QMAX).any()  # the clamp was exercised: its symbols pass no gradient through y
