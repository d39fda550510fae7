"""Our SSIM / MS-SSIM equal pytorch-msssim's public functions where both apply (frames > 160 px for MS-SSIM):
the metrics build on two of its private functions, so pyproject pins its version and this test guards it."""

import pytest
import torch
from pytorch_msssim import ms_ssim as reference_ms_ssim
from pytorch_msssim import ssim as reference_ssim

from nervplayer.metrics import ms_ssim, ssim


@pytest.fixture(scope="module")
def pair():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 176, 192, generator=g)
    b = (a + 0.1 * torch.randn(2, 3, 176, 192, generator=g)).clamp(0, 1)
    return a, b


def test_ssim_matches_pytorch_msssim(pair):
    a, b = pair
    ours = ssim(a, b, per_frame=True)
    theirs = reference_ssim(a, b, data_range=1.0, size_average=False)
    assert torch.allclose(ours, theirs, atol=1e-5), (ours, theirs)


def test_ms_ssim_matches_pytorch_msssim(pair):
    a, b = pair
    ours = ms_ssim(a, b, per_frame=True)
    theirs = reference_ms_ssim(a, b, data_range=1.0, size_average=False)
    assert torch.allclose(ours, theirs, atol=1e-5), (ours, theirs)
