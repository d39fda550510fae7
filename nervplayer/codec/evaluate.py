"""Quality of a ``.nerv`` file against a video (``nervplayer eval FILE VIDEO``)."""

from __future__ import annotations

import os

import torch

from ..errors import VideoError
from ..train import FitConfig, load_source
from ..train.evaluate import FrameMetrics, evaluate
from ..video import file_hash
from .reader import NervVideo


def evaluate_nerv(
    path: str | os.PathLike,
    video: str,
    device: str = "auto",
    check_hash: bool = False,
    memory_budget: int | None = None,
) -> tuple[FrameMetrics, list[int], int]:
    """Per-frame metrics of the file's frames against ``video`` (its frame range, resized to the file's size).

    Returns ``(metrics, seen, first)``: the indices the model was trained on (every ``stride``-th), and the
    source index of frame 0. With ``check_hash``, a video other than the recorded source is refused.
    """
    nerv = NervVideo.open(path, device, memory_budget=memory_budget)
    v = nerv.file.video
    sha = nerv.file.source.get("sha256")
    if check_hash and sha and file_hash(video) != sha:
        raise VideoError(f"{video} is not the source of {path} ({nerv.file.source.get('name')})")
    start = int(v.get("start", 0))
    reference, _ = load_source(
        FitConfig(video=video, start=start, end=start + nerv.num_frames, size=nerv.size), nerv.device
    )
    with torch.inference_mode():
        metrics = evaluate(nerv.predict, reference)
    return metrics, list(range(0, nerv.num_frames, int(v.get("stride", 1)))), start
