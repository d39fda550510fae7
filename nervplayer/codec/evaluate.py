"""Quality of a ``.nerv`` file against a video (``nervplayer eval FILE VIDEO``), and whether that video is the
file's source (the seams of a segmented file: codec/seams.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from ..errors import VideoError
from ..train import FitConfig, load_source
from ..train.evaluate import FrameMetrics, evaluate
from ..video import FrameStore, file_hash, probe
from .reader import NervVideo


def evaluate_nerv(
    path: str | os.PathLike,
    video: str,
    device: str = "auto",
    any_source: bool = False,
    memory_budget: int | None = None,
) -> tuple[FrameMetrics, list[int], int]:
    """Per-frame metrics of the file's frames against ``video`` (its frame range, resized to the file's size).

    Returns ``(metrics, seen, first)``: the indices the model was trained on (every ``stride``-th), and the
    source index of frame 0. Unless ``any_source``, a video that is not the recorded source is refused.
    """
    return evaluate_video(NervVideo.open(path, device, memory_budget=memory_budget), path, video, any_source)


def evaluate_video(
    nerv: NervVideo, path: str | os.PathLike, video: str, any_source: bool = False
) -> tuple[FrameMetrics, list[int], int]:
    """:func:`evaluate_nerv` of an open file."""
    return evaluate_against(nerv, reference_of(nerv, path, video, any_source))


def reference_of(nerv: NervVideo, path: str | os.PathLike, video: str, any_source: bool = False) -> FrameStore:
    """The frames of ``video`` that ``nerv`` (read from ``path``) decodes: its range, at its size; unless
    ``any_source``, a video that is not the recorded source is refused."""
    v = nerv.file.video
    if not any_source:
        check_source({**nerv.file.video, **nerv.file.source}, path, video)
    start = int(v.get("start", 0))
    reference, _ = load_source(
        FitConfig(video=video, start=start, end=start + nerv.num_frames, size=nerv.size), nerv.device
    )
    return reference


def evaluate_against(nerv: NervVideo, reference: FrameStore) -> tuple[FrameMetrics, list[int], int]:
    """:func:`evaluate_nerv` against frames already loaded (:func:`reference_of`). A segmented file's segments were
    each trained on every ``stride``-th frame of their own."""
    v = nerv.file.video
    with torch.inference_mode():
        metrics = evaluate(nerv.predict, reference)
    stride = int(v.get("stride", 1))
    return metrics, [i for a, b in nerv.segments for i in range(a, b, stride)], int(v.get("start", 0))


def check_source(recorded: Mapping[str, Any], model: str | os.PathLike, video: str) -> None:
    """Refuse ``video`` as the ground truth of ``model`` (a ``.nerv`` or a run folder) when it is not the source
    ``model`` records: scoring the wrong video gives a plausible number, so this is an error, not a warning."""
    why = source_mismatch(recorded, video)
    if why is not None:
        raise VideoError(f"{not_the_source(recorded, model, video, why)}; to compare anyway, pass --any-source")


def source_mismatch(recorded: Mapping[str, Any], video: str, content: bool = True) -> str | None:
    """Why ``video`` cannot be the source ``recorded`` describes (``original_size``, ``end``, ``sha256``, each
    when present): another frame size, fewer frames than the recorded range, or (``content``: hashing the whole
    file) other content. None when it may be the source."""
    info = probe(video)
    original, end, sha = (recorded.get(k) for k in ("original_size", "end", "sha256"))
    if original and [info.height, info.width] != list(original):
        return f"it is {info.width}×{info.height}, the source was {original[1]}×{original[0]}"
    if end and info.num_frames < int(end):
        return f"it has {info.num_frames} frames, the source has frames {recorded.get('start', 0)}:{end}"
    if content and sha and file_hash(video) != sha:
        return "its content differs (sha256)"
    return None


def not_the_source(recorded: Mapping[str, Any], model: str | os.PathLike, video: str, why: str) -> str:
    return f"{video} is not the source of {model} ({recorded.get('name') or 'unnamed'}): {why}"
