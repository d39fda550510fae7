"""Cutting a clip into segments of about N frames, at scene cuts where it can.

Every segment is between ``min_length`` and ``max_length`` frames (by default N/2 and 3N/2, and never under 2).
Among all such cuttings, :func:`split` picks the one of least cost, found exactly by dynamic programming over the
frame positions: a segment of L frames costs ((L − N) / N)², and each boundary that is not on a scene cut costs
:data:`OFF_CUT` more. A scene cut within reach therefore always wins over a length of exactly N (a segment half
again as long costs 0.25), and where there is none the segments come out as even as the lengths allow.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from ..errors import ConfigError

OFF_CUT = 1.0
AUTO_PIXELS = 16_000_000  # pixels of one segment (frames × height × width) under --segment auto
AUTO_FRAMES = (30, 75)  # ...within these lengths (C3 fits 30–75-frame groups, Cool-chic groups of 32)


def auto_length(num_frames: int, height: int, width: int) -> int:
    """The segment length of ``--segment auto`` without a time budget: segments of about :data:`AUTO_PIXELS`
    pixels at the fit's frame size, so that an epoch of any segment costs about the same whatever the frame size
    (320×180: 75 frames, 640×360: 69, 1280×720: 30), within :data:`AUTO_FRAMES`; a clip shorter than two such
    segments is one segment."""
    length = min(max(round(AUTO_PIXELS / (height * width)), AUTO_FRAMES[0]), AUTO_FRAMES[1])
    return num_frames if num_frames < 2 * length else length


def length_bounds(target: int) -> tuple[int, int]:
    """(min, max) segment length around ``target``: any clip of at least ``min`` frames can be cut within them."""
    low = max(2, math.ceil(target / 2))
    return low, max(2 * low - 1, target + target // 2)


def check_length(target: int, num_frames: int) -> None:
    """A segment length of at least 2 frames and at most the clip's, or a :class:`ConfigError`."""
    if target < 2:
        raise ConfigError(f"a segment needs at least 2 frames, got {target}")
    if target > num_frames:
        raise ConfigError(f"a segment of {target} frames is longer than the clip ({num_frames} frames)")


def split(num_frames: int, target: int, cuts: Collection[int] = ()) -> list[tuple[int, int]]:
    """``(start, end)`` (end exclusive) of each segment of a clip of ``num_frames`` frames cut into segments of
    about ``target`` frames, boundaries preferring the frames in ``cuts`` (each the first frame of a scene)."""
    check_length(target, num_frames)
    low, high = length_bounds(target)
    cut_set = set(cuts)
    inf = math.inf
    cost = [0.0] + [inf] * num_frames  # cost[i]: the least cost of cutting frames 0..i-1
    back = [0] * (num_frames + 1)
    for end in range(low, num_frames + 1):
        boundary = 0.0 if end == num_frames or end in cut_set else OFF_CUT
        for length in range(low, min(high, end) + 1):
            start = end - length
            if cost[start] == inf:
                continue
            c = cost[start] + ((length - target) / target) ** 2 + boundary
            if c < cost[end]:
                cost[end], back[end] = c, start
    segments = []
    end = num_frames
    while end > 0:
        segments.append((back[end], end))
        end = back[end]
    return segments[::-1]
