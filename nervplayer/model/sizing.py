"""The size rule: which fc grid and stride list cover a frame of any size.

Rule (documented in docs/architecture.md):

1. Start from the preset's stride list (NeRV: 5, 2, 2, 2, 2, i.e. ×80).
2. Keep the longest prefix of it whose product P leaves at least ``min_fc`` (default 9, the paper's
   720p grid) grid cells on the frame's shorter side: ``min(H, W) / P >= min_fc``. At least one stride is
   always kept. 1280×720 keeps all five (P = 80), 320×180 keeps 5, 2, 2 (P = 20), 160×90 keeps 5, 2.
3. The grid is ``fc_h = ceil(H / P)``, ``fc_w = ceil(W / P)``; the network renders ``fc_h·P × fc_w·P``
   pixels and the top-left H×W are kept (the padding sits on the bottom and right edges).

So 1280×720 gives exactly the paper's 9×16 grid at ×80, and 853×480 keeps 5, 2, 2, 2 (×40): a 12×22 grid
renders 480×880, cropped to 480×853.
"""

from __future__ import annotations

import math


def fit_grid(height: int, width: int, strides: tuple[int, ...], min_fc: int = 9) -> tuple[int, int, tuple[int, ...]]:
    """Return ``(fc_h, fc_w, strides)`` covering a ``height`` × ``width`` frame (see the module rule)."""
    if height < 1 or width < 1:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    if not strides:
        raise ValueError("at least one stride is needed")
    short = min(height, width)
    kept: tuple[int, ...] = (strides[0],)
    for n in range(len(strides), 0, -1):
        if short / math.prod(strides[:n]) >= min_fc:
            kept = tuple(strides[:n])
            break
    up = math.prod(kept)
    return math.ceil(height / up), math.ceil(width / up), kept
