"""What a plan should give: expected PSNR and file size, from a simple model calibrated on measured fits of bunny
at 320×180 (docs/models.md, docs/long-videos.md "Planner").

PSNR grows by about ``EPOCH_GAIN`` dB per doubling of the epochs (up to ``SATURATION_EPOCHS``) and ``VALUE_GAIN``
dB per doubling of the stored values per pixel (up to ``SATURATION_VALUES``), from a reference fit of each
architecture (``REFERENCE``: PSNR after ``REF_EPOCHS`` epochs at ``REF_VALUES_PER_PIXEL``). Content moves every
number by several dB (a static shot fits far better than bunny's motion): the expectation is for the order of
magnitude, and the fit reports what it reached.

A file stores about ``BITS_PER_VALUE`` bits per value at 8 bits (entropy-coded 8-bit symbols, measured per
architecture), less most of that for the pruned share.
"""

from __future__ import annotations

import math

REF_EPOCHS = 20.0
REF_VALUES_PER_PIXEL = 0.0395  # 300k stored values over 132 frames of 320×180
# dB at the reference: hnerv and nerv at lr 1e-3 (docs/models.md), grid at its planned lr 1e-2 (docs/long-videos.md:
# 26.55), +1.35 with its finest level twice as fine in space as in time (docs/models.md, "The grid's shape")
REFERENCE = {"hnerv": 26.4, "nerv": 24.4, "grid": 27.9}
EPOCH_GAIN = {"hnerv": 1.18, "nerv": 1.02, "grid": 0.4}  # dB per doubling of the epochs
VALUE_GAIN = {"hnerv": 0.65, "nerv": 0.96, "grid": 1.3}  # dB per doubling of the stored values per pixel
DEFAULT_REFERENCE, DEFAULT_GAIN = 22.0, 1.0  # an architecture nobody measured here
FLOOR_DB = 12.0  # a model that has barely started
SATURATION_EPOCHS = 300.0  # past this, more epochs are not counted (the paper's curves flatten there)
SATURATION_VALUES = 0.2  # values per pixel past which a larger model is not counted better (the largest measured)
# bits per stored value at 8 bits, entropy-coded: hnerv 5.1 (300k, bunny 320×180), 6.3 (300k, the one-minute clip at
# 160×90) and 7.4 (600k, at 320×180), their mean; grid 4.9 (1.5M) and 5.2 (300k); nerv 5.1 (docs/long-videos.md)
BITS_PER_VALUE = {"hnerv": 6.3, "grid": 5.0}
DEFAULT_BITS_PER_VALUE = 5.1
PRUNE_SAVING = 0.8  # share of a pruned value's bits saved (the mask costs the rest)
HEADER_BYTES = 4_000


def expected_psnr(arch: str, epochs: float, values_per_pixel: float) -> float:
    """Expected PSNR (dB) of ``epochs`` epochs of ``arch`` holding ``values_per_pixel`` stored values per pixel."""
    ref = REFERENCE.get(arch, DEFAULT_REFERENCE)
    de = EPOCH_GAIN.get(arch, DEFAULT_GAIN) * math.log2(min(max(epochs, 1e-3), SATURATION_EPOCHS) / REF_EPOCHS)
    vpp = min(max(values_per_pixel, 1e-9), SATURATION_VALUES)
    dv = VALUE_GAIN.get(arch, DEFAULT_GAIN) * math.log2(vpp / REF_VALUES_PER_PIXEL)
    return max(FLOOR_DB, ref + de + dv)


def expected_bytes(arch: str, values: int, prune: float, bits: int) -> int:
    """Expected size of a ``.nerv`` of ``arch`` holding ``values`` stored values, ``prune`` of them pruned, at
    ``bits`` bits."""
    per_value = BITS_PER_VALUE.get(arch, DEFAULT_BITS_PER_VALUE) * bits / 8 * (1 - PRUNE_SAVING * prune)
    return round(values * per_value / 8) + HEADER_BYTES
