"""Scene cuts, found from the decoded frames.

The clip is streamed once at a thumbnail size (:data:`THUMB_WIDTH` pixels wide): memory holds two thumbnails and
one number per frame, whatever the clip's length. The difference between neighbouring frames is the distance of
their colour histograms (half the L1 distance of per-channel 16-bin histograms: 0 for the same colours, 1 for
none in common), which motion and camera pans barely move and a change of scene moves a lot. A frame starts a
new scene when its difference is large in absolute terms (:data:`MIN_CUT`) and large against its neighbourhood
(:data:`CONTRAST` times the median of the differences within :data:`WINDOW` frames either side), so a clip that
is all fast motion is not cut at every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .reader import VideoInfo, iter_frames

THUMB_WIDTH = 64
BINS = 16
MIN_CUT = 0.25
CONTRAST = 3.0
WINDOW = 8


@dataclass(frozen=True)
class SceneCut:
    frame: int  # the first frame of the new scene
    score: float  # the histogram distance to the frame before, in [0, 1]


def thumbnail_size(info: VideoInfo) -> tuple[int, int]:
    """(height, width) of the thumbnails: :data:`THUMB_WIDTH` wide (or the frame's width), the frame's aspect."""
    w = min(THUMB_WIDTH, info.width)
    return max(1, round(info.height * w / info.width)), w


def _histogram(frame: np.ndarray) -> np.ndarray:
    """Per-channel histograms of a uint8 H×W×3 frame, each normalised to sum 1: [3, BINS]."""
    pixels = frame.reshape(-1, 3) // (256 // BINS)
    counts = np.stack([np.bincount(pixels[:, c], minlength=BINS) for c in range(3)]).astype(np.float64)
    return counts / len(pixels)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance of two frames' histograms, averaged over the 3 channels: in [0, 1]."""
    return float(np.abs(a - b).sum() / 6)


def differences(info: VideoInfo, start: int = 0, end: int | None = None) -> np.ndarray:
    """The histogram distance of each frame of ``start:end`` to the one before it (the first: 0), streaming the
    range once; index 0 is frame ``start``."""
    end = info.num_frames if end is None else end
    out = np.zeros(end - start)
    previous = None
    for i, frame in enumerate(iter_frames(info, start, end, thumbnail_size(info))):
        hist = _histogram(frame)
        if previous is not None:
            out[i] = _distance(hist, previous)
        previous = hist
    return out


def cuts_from_differences(diffs: np.ndarray) -> list[SceneCut]:
    """The frames (indices into ``diffs``) where a new scene starts, given each frame's difference to the one
    before."""
    found = []
    for i in range(1, len(diffs)):
        around = np.concatenate([diffs[max(1, i - WINDOW) : i], diffs[i + 1 : i + 1 + WINDOW]])
        local = float(np.median(around)) if len(around) else 0.0
        if diffs[i] >= MIN_CUT and diffs[i] >= CONTRAST * local:
            found.append(SceneCut(i, float(diffs[i])))
    return found


def starts_scene(frames: np.ndarray, at: int) -> bool:
    """Whether frame ``at`` of ``frames`` (uint8 N×H×W×3, consecutive frames of a clip around it) starts a new
    scene by the rule of :func:`cuts_from_differences`, its neighbourhood being the frames given. The frames are
    sampled to about :data:`THUMB_WIDTH` pixels wide by striding, as the thumbnails of :func:`differences` are."""
    step = max(1, frames.shape[2] // THUMB_WIDTH)
    hists = [_histogram(f[::step, ::step]) for f in frames]
    diffs = np.zeros(len(hists))
    for i in range(1, len(hists)):
        diffs[i] = _distance(hists[i], hists[i - 1])
    return any(c.frame == at for c in cuts_from_differences(diffs))


def scene_cuts(info: VideoInfo, start: int = 0, end: int | None = None) -> list[SceneCut]:
    """The scene cuts within frames ``start:end`` of a clip, in clip numbering (see the module docstring)."""
    return [SceneCut(start + c.frame, c.score) for c in cuts_from_differences(differences(info, start, end))]
