"""The grid model's fast training step computes what the straightforward formulas compute.

The model samples its latents with matrix products and runs its 1×1 convolutions as matrix products over
pixel-major features (nervplayer/model/grid.py); the loss's SSIM filters its five statistics in one pass
(nervplayer/metrics.py). Each is compared here, value and gradient, with the formula it replaces, on random
inputs of awkward sizes; and the step's work is bounded in kernels, which is what made it slow.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from nervplayer.model.grid import LatentGrid


def reference_frames(model: LatentGrid, t: torch.Tensor) -> torch.Tensor:
    """The grid model as its docstring states it: per level, linear in time at u = i / (N − 1), bilinear
    upsampling (F.interpolate), the levels concatenated, the synthesis as 1×1 convolutions."""
    n = model.num_frames
    u = (t.float() * n / max(n - 1, 1)).clamp(0, 1)
    levels = []
    for grid in model.grids:
        pos = u * (grid.shape[0] - 1)
        i0 = pos.floor().long().clamp(0, grid.shape[0] - 1)
        i1 = (i0 + 1).clamp(max=grid.shape[0] - 1)
        w = (pos - i0.float()).view(-1, 1, 1, 1)
        x = (grid[i0] + w * (grid[i1] - grid[i0])) * model.gain
        levels.append(F.interpolate(x, size=(model.height, model.width), mode="bilinear", align_corners=False))
    x = torch.cat(levels, dim=1)
    for layer in model.synthesis:
        x = F.conv2d(x, layer.weight, layer.bias) if isinstance(layer, nn.Conv2d) else layer(x)
    return (torch.tanh(x + model.refine(x)) + 1) * 0.5


CASES = [  # (height, width, frames, grid_t, grid_h, grid_w, levels, channels, hidden)
    (18, 32, 12, 3, 3, 4, 4, 4, 16),  # the default shape of a grid, small
    (17, 29, 7, 7, 17, 29, 2, 3, 5),  # finest grid = one cell per pixel and frame (no upsampling)
    (9, 11, 1, 1, 2, 3, 3, 2, 4),  # one frame, odd sizes, coarsest levels of one cell
    (33, 20, 5, 2, 5, 1, 1, 1, 1),  # one level, one channel, a one-column grid
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("channels_last", [False, True])
def test_frames_and_gradients_equal_the_per_level_formula(case, channels_last):
    h, w, n, gt, gh, gw, levels, channels, hidden = case
    config = {"levels": levels, "channels": channels, "hidden": hidden, "latent_gain": 10.0}
    config |= {"grid_t": gt, "grid_h": gh, "grid_w": gw}
    torch.manual_seed(0)
    model = LatentGrid(h, w, n, config, nn.SiLU)
    with torch.no_grad():  # latents of a trained size (the initial ones are 100× smaller than the weights)
        for g in model.grids:
            g.normal_(0, 0.1)
    if channels_last:  # as a fit on the CPU holds it
        model = model.to(memory_format=torch.channels_last)
    t = torch.tensor([0.0, 1.5, n - 1, 0.25, n + 3.0]) / n  # fractional, first, last, beyond the end
    pred, ref = model(t), reference_frames(model, t)
    assert pred.shape == ref.shape == (5, 3, h, w)
    assert torch.allclose(pred, ref, atol=2e-6, rtol=0), (pred - ref).abs().max()
    weights = torch.rand_like(ref)  # a loss that weighs every output differently
    params = list(model.parameters())
    ours = torch.autograd.grad((pred * weights).sum(), params)
    theirs = torch.autograd.grad((ref * weights).sum(), params)
    for (name, _), a, b in zip(model.named_parameters(), ours, theirs):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), (name, (a - b).abs().max(), b.abs().max())


class _Kernels(TorchDispatchMode):
    """Counts the ATen kernels that run, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.__name__)
        return func(*args, **(kwargs or {}))


def test_a_training_step_samples_by_matrix_products_and_runs_no_pointwise_convolution():
    """What made the step slow: per level, a gather, a lerp and a bilinear upsampling whose backward scatters
    over the whole frame; and 1×1 convolutions on 16 channels (mkldnn's slowest case). Now a level is three small
    matrix products and the 1×1 layers are matrix products: the only convolution left is the 3×3 refinement."""
    config = {"levels": 4, "channels": 4, "hidden": 16, "latent_gain": 10.0, "grid_t": 8, "grid_h": 5, "grid_w": 8}
    model = LatentGrid(36, 64, 32, config, nn.SiLU).to(memory_format=torch.channels_last)
    t = torch.tensor([3.0]) / 32
    model(t)  # the interpolation weights are built once per size
    with _Kernels() as kernels:
        model(t).square().mean().backward()
    assert not [k for k in kernels.names if "upsample" in k or k.startswith("index")], kernels.names
    assert kernels.names.count("convolution.default") == 1, kernels.names


@pytest.mark.parametrize("shape", [(1, 3, 180, 320), (2, 3, 37, 50), (3, 1, 11, 16)])
def test_ssim_and_its_gradient_equal_pytorch_msssim(shape):
    """Value per frame and channel, contrast-structure, and the gradient the loss backpropagates."""
    from pytorch_msssim.ssim import _fspecial_gauss_1d
    from pytorch_msssim.ssim import _ssim as reference

    from nervplayer import metrics

    g = torch.Generator().manual_seed(1)
    y = torch.rand(shape, generator=g)
    x = (y + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    size = min(11, metrics._largest_odd(min(shape[-2:])))
    ours = metrics._ssim(x, y.contiguous(memory_format=torch.channels_last), metrics._window(size))
    theirs = reference(x, y, 1.0, _fspecial_gauss_1d(size, 1.5).repeat(shape[1], 1, 1, 1), size_average=False)
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-6, rtol=0), (a - b).abs().max()
    (ga,) = torch.autograd.grad(ours[0].sum() + ours[1].sum(), x)
    (gb,) = torch.autograd.grad(theirs[0].sum() + theirs[1].sum(), x)
    assert torch.allclose(ga, gb, atol=1e-7, rtol=1e-4), ((ga - gb).abs().max(), gb.abs().max())


def test_the_ssim_loss_filters_its_statistics_in_four_convolutions():
    """pytorch-msssim filters five statistics one by one, each in two passes: ten convolutions forward and six
    backward per SSIM. Here the prediction's three go in one pair and the target's two in another."""
    from nervplayer.metrics import ssim

    x = torch.rand(1, 3, 40, 60, requires_grad=True)
    y = torch.rand(1, 3, 40, 60)
    with _Kernels() as kernels:
        (1 - ssim(x, y)).backward()
    assert kernels.names.count("convolution.default") == 4, kernels.names
    assert kernels.names.count("convolution_backward.default") == 2, kernels.names


def test_a_decode_in_inference_mode_leaves_nothing_a_training_step_after_it_refuses():
    """The cached resize weights are made outside inference mode, whoever asks first (rd: a decode, then the next
    point's fine-tune, in one process)."""
    from nervplayer.model import grid as grid_module

    grid_module._resize_weights.cache_clear()
    grid_module._stacked_resize_weights.cache_clear()
    config = {"levels": 3, "channels": 2, "hidden": 8, "latent_gain": 10.0, "grid_t": 4, "grid_h": 5, "grid_w": 7}
    model = LatentGrid(37, 53, 8, config, nn.SiLU)  # sizes no other test uses: nothing cached for them yet
    t = torch.tensor([0.25])
    with torch.inference_mode():
        model(t)
    model(t).square().mean().backward()  # raised "Inference tensors cannot be saved for backward" before
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
