"""Bjøntegaard delta rate (VCEG-M33): how many percent more bits one RD curve needs than another at equal PSNR.

Each curve's log10(rate) is fitted as a cubic polynomial of PSNR (a lower degree when a curve has fewer than four
points); both fits are integrated over the PSNR range the curves share, and the mean difference of log-rates
becomes a percentage: ``(10^mean − 1) · 100``. Negative: the test curve needs fewer bits. Curves whose PSNR
ranges do not overlap have no BD-rate; the result says so instead of extrapolating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

NARROW_DB = 1.0  # an overlap narrower than this is reported with a warning


@dataclass(frozen=True)
class BDRate:
    percent: float | None  # None when the curves do not overlap in PSNR
    overlap: tuple[float, float] | None  # the PSNR range (dB) the integral ran over
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "bd_rate_percent": self.percent,
            "overlap_psnr_db": list(self.overlap) if self.overlap else None,
            "note": self.note,
        }


def _fit(psnr: np.ndarray, log_rate: np.ndarray) -> np.poly1d:
    degree = min(3, len(psnr) - 1)
    return np.poly1d(np.polyfit(psnr, log_rate, degree))


def bd_rate(
    ref_rate: Sequence[float], ref_psnr: Sequence[float], test_rate: Sequence[float], test_psnr: Sequence[float]
) -> BDRate:
    """BD-rate of the test curve against the reference curve (rates in any common unit, e.g. bpp)."""
    curves = []
    for rate, psnr in ((ref_rate, ref_psnr), (test_rate, test_psnr)):
        r, p = np.asarray(rate, float), np.asarray(psnr, float)
        keep = np.isfinite(r) & np.isfinite(p) & (r > 0)
        r, p = r[keep], p[keep]
        if len(np.unique(p)) < 2:
            return BDRate(None, None, "a curve needs at least two points of different PSNR")
        curves.append((p, np.log10(r)))
    lo = max(c[0].min() for c in curves)
    hi = min(c[0].max() for c in curves)
    if lo >= hi:
        (p_ref, _), (p_test, _) = curves
        return BDRate(
            None,
            None,
            f"the curves do not overlap in PSNR (reference {p_ref.min():.2f}–"
            f"{p_ref.max():.2f} dB, test {p_test.min():.2f}–{p_test.max():.2f} dB)",
        )
    integrals = []
    for p, log_r in curves:
        antiderivative = _fit(p, log_r).integ()
        integrals.append((antiderivative(hi) - antiderivative(lo)) / (hi - lo))
    percent = (10 ** (integrals[1] - integrals[0]) - 1) * 100
    note = (
        f"the curves share only {hi - lo:.2f} dB: this is a rate ratio near one quality, not an average"
        if hi - lo < NARROW_DB
        else ""
    )
    return BDRate(float(percent) if math.isfinite(percent) else None, (float(lo), float(hi)), note)
