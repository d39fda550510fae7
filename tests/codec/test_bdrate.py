"""Bjøntegaard delta rate on curves whose answer is known."""

import math

import numpy as np
import pytest

from nervplayer.codec.bdrate import bd_rate

PSNR = [30.0, 32.5, 35.0, 37.5, 40.0]
RATE = [0.05, 0.09, 0.17, 0.33, 0.70]


@pytest.mark.parametrize("factor,expected", [(0.5, -50.0), (2.0, 100.0), (1.0, 0.0), (1.3, 30.0)])
def test_a_constant_rate_factor_is_its_bd_rate(factor, expected):
    result = bd_rate(RATE, PSNR, [r * factor for r in RATE], PSNR)
    assert result.percent == pytest.approx(expected, abs=1e-6)
    assert result.overlap == (30.0, 40.0)


def test_only_the_overlapping_psnr_range_counts():
    # The test curve is 2x the rate below 35 dB and equal above; it only spans 35-45 dB, so it counts as equal.
    test_psnr = [35.0, 37.5, 40.0, 42.5, 45.0]
    ref = np.poly1d(np.polyfit(PSNR, np.log10(RATE), 3))
    test_rate = [10 ** ref(p) for p in test_psnr]
    result = bd_rate(RATE, PSNR, test_rate, test_psnr)
    assert result.overlap == (35.0, 40.0)
    assert result.percent == pytest.approx(0.0, abs=1e-6)


def test_a_shift_in_psnr_matches_the_integral_of_the_log_rate_gap():
    # log10(rate) linear in PSNR: slope 0.1 per dB; the test curve is 1 dB better everywhere → 10^-0.1 - 1.
    psnr = np.linspace(30, 40, 6)
    result = bd_rate(10 ** (0.1 * psnr - 4), psnr, 10 ** (0.1 * (psnr - 1) - 4), psnr)
    assert result.percent == pytest.approx((10**-0.1 - 1) * 100, abs=1e-6)


def test_curves_that_do_not_overlap_have_no_bd_rate_and_say_why():
    result = bd_rate(RATE, PSNR, [0.01, 0.02, 0.03], [20.0, 22.0, 24.0])
    assert result.percent is None and result.overlap is None
    assert "do not overlap" in result.note and "20.00–24.00 dB" in result.note


def test_two_points_are_fitted_by_a_line():
    result = bd_rate([0.1, 0.4], [30.0, 36.0], [0.05, 0.2], [30.0, 36.0])
    assert math.isclose(result.percent, -50.0, abs_tol=1e-6)


def test_a_narrow_overlap_is_flagged():
    result = bd_rate(RATE, PSNR, [0.3, 0.5], [39.5, 42.0])
    assert result.overlap == (39.5, 40.0) and result.percent is not None
    assert "share only 0.50 dB" in result.note
