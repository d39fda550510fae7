"""PSNR, SSIM and MS-SSIM on float RGB frames [B, 3, H, W] in [0, 1].

MS-SSIM follows pytorch-msssim's defaults (11×11 Gaussian window, σ 1.5, 5 scales) whenever the frame is
large enough, and adapts on small frames instead of asserting (see :func:`ms_ssim_settings`).
Inputs are put in channels_last layout, where pytorch-msssim's grouped convolutions are ~10× faster.

SSIM's five local statistics are filtered as pytorch-msssim's ``_ssim`` filters them, in two grouped
convolutions instead of ten: one over the three that depend on the prediction (x, x², xy), which the loss
backpropagates through, one without gradient over the target's (y, y²). A training step of the grid model spent
a third of its time in the loss (tests/test_grid_speed.py checks the result against pytorch-msssim's).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim.ssim import _fspecial_gauss_1d

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame PSNR in dB, shape [B] (MSE clamped at 1e-10, i.e. at most 100 dB)."""
    mse = (pred.float() - target.float()).pow(2).flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-10))


def _window(size: int) -> torch.Tensor:
    return _fspecial_gauss_1d(size, 1.5)  # [1, 1, 1, size]


def _blur(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Every channel of ``x`` filtered by the separable window ``win`` [1, 1, 1, size] (valid part only), along
    the height first, as pytorch-msssim does."""
    w = win.to(x).repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(F.conv2d(x, w.transpose(2, 3), groups=x.shape[1]), w, groups=x.shape[1])


def _ssim(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SSIM and contrast-structure per frame and channel, [B, C] each: pytorch-msssim's ``_ssim`` (data range
    1, K = (0.01, 0.03)) with its five statistics filtered in two convolutions."""
    c1, c2, c = 0.01**2, 0.03**2, x.shape[1]
    mu1, e11, e12 = _blur(torch.cat([x, x * x, x * y], 1), win).split(c, 1)
    with torch.no_grad():
        mu2, e22 = _blur(torch.cat([y, y * y], 1), win).split(c, 1)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    cs_map = (2 * (e12 - mu12) + c2) / (e11 - mu1_sq + e22 - mu2_sq + c2)
    ssim_map = (2 * mu12 + c1) / (mu1_sq + mu2_sq + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def _layout(x: torch.Tensor) -> torch.Tensor:
    return x.float().contiguous(memory_format=torch.channels_last)


def ssim(pred: torch.Tensor, target: torch.Tensor, win_size: int = 11, per_frame: bool = False) -> torch.Tensor:
    """SSIM (Gaussian window, σ 1.5, data range 1); the window shrinks to fit frames smaller than it."""
    win_size = min(win_size, _largest_odd(min(pred.shape[-2:])))
    s, _ = _ssim(_layout(pred), _layout(target), _window(win_size))
    per = s.mean(1)
    return per if per_frame else per.mean()


def ms_ssim_settings(height: int, width: int) -> tuple[int, int]:
    """``(win_size, scales)`` for MS-SSIM on a frame of this size.

    The standard (11, 5) needs the shorter side > 160. Smaller frames keep 5 scales with the largest odd window
    that fits (shorter side > (win − 1)·16); frames of 32 px or less use a 3×3 window and as many scales as fit,
    with the standard weights of those scales renormalised.
    """
    short = min(height, width)
    for win in range(11, 2, -2):
        if short > (win - 1) * 16:
            return win, 5
    scales = 1
    while scales < 5 and short > 2 * 2**scales:
        scales += 1
    return 3, scales


def ms_ssim(pred: torch.Tensor, target: torch.Tensor, per_frame: bool = False) -> torch.Tensor:
    """MS-SSIM with the settings of :func:`ms_ssim_settings`; equals pytorch-msssim's on frames > 160 px."""
    win_size, scales = ms_ssim_settings(*pred.shape[-2:])
    win_size = min(win_size, _largest_odd(min(pred.shape[-2:])))
    weights = pred.new_tensor(MS_SSIM_WEIGHTS[:scales], dtype=torch.float32)
    weights = weights / weights.sum()
    win = _window(win_size)
    x, y = _layout(pred), _layout(target)
    mcs = []
    for i in range(scales):
        s, cs = _ssim(x, y, win)
        if i < scales - 1:
            mcs.append(torch.relu(cs))
            pad = [d % 2 for d in x.shape[2:]]
            x, y = F.avg_pool2d(x, 2, padding=pad), F.avg_pool2d(y, 2, padding=pad)
    stacked = torch.stack(mcs + [torch.relu(s)], dim=0)
    per = torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean(1)
    return per if per_frame else per.mean()


def _largest_odd(n: int) -> int:
    return max(1, n if n % 2 else n - 1)
