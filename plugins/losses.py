"""Built-in losses: L1, L2, SSIM, MS-SSIM, the paper's Fusion1–12, and a parametric L1 + SSIM mix."""

from __future__ import annotations

import torch

from nervplayer.plugins.api import Param, Registrar, ms_ssim, ssim


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().mean()


def l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).pow(2).mean()


def dssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 1 - ssim(pred, target)


def dms_ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 1 - ms_ssim(pred, target)


TERMS = {"L1": l1, "L2": l2, "SSIM": dssim, "MS-SSIM": dms_ssim}

# (weight, term) pairs, exactly as in the paper's code (nerv.md).
FUSIONS: dict[int, tuple[tuple[float, str], ...]] = {
    1: ((0.3, "L2"), (0.7, "SSIM")),
    2: ((0.3, "L1"), (0.7, "SSIM")),
    3: ((0.5, "L2"), (0.5, "SSIM")),
    4: ((0.5, "L1"), (0.5, "SSIM")),
    5: ((0.7, "L2"), (0.3, "SSIM")),
    6: ((0.7, "L1"), (0.3, "SSIM")),
    7: ((0.7, "L2"), (0.3, "L1")),
    8: ((0.5, "L2"), (0.5, "L1")),
    9: ((0.9, "L1"), (0.1, "SSIM")),
    10: ((0.7, "L1"), (0.3, "MS-SSIM")),
    11: ((0.9, "L1"), (0.1, "MS-SSIM")),
    12: ((0.8, "L1"), (0.2, "MS-SSIM")),
}


def weighted(parts: tuple[tuple[float, str], ...]):
    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * TERMS[term](pred, target) for w, term in parts)

    return loss


def _describe(parts: tuple[tuple[float, str], ...]) -> str:
    return " + ".join(f"{w}·{t if t in ('L1', 'L2') else '(1 − ' + t + ')'}" for w, t in parts)


def register(r: Registrar) -> None:
    r.loss("l1", lambda: l1, description="mean absolute error")
    r.loss("l2", lambda: l2, description="mean squared error")
    r.loss("ssim", lambda: dssim, description="1 − SSIM (11×11 Gaussian window, σ 1.5)")
    r.loss("ms-ssim", lambda: dms_ssim, description="1 − MS-SSIM (5 scales; adapts on small frames)")
    for n, parts in FUSIONS.items():
        r.loss(
            f"fusion{n}",
            lambda parts=parts: weighted(parts),
            description=_describe(parts) + (" (the paper's default)" if n == 6 else ""),
        )
    r.loss(
        "l1-ssim",
        lambda alpha: weighted(((alpha, "L1"), (1 - alpha, "SSIM"))),
        description="α·L1 + (1 − α)·(1 − SSIM)",
        params=[Param("alpha", 0.7, "weight of L1", minimum=0.0, maximum=1.0)],
    )
