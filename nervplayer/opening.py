"""What the player opens, read in a worker thread: a video to fit, or a ``.nerv`` to play with its ground truth
(found beside the file, or given); and how an open ``.nerv`` is described. No Qt."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from .codec import NervVideo
from .codec.evaluate import not_the_source, source_mismatch
from .errors import Cancelled, NervError, VideoError
from .video import VideoInfo, probe
from .video.source import ArraySource, FrameSource, StoreSource, load_video


@dataclass
class Opened:
    """A file the session opened: a video to fit (``video`` set) or a ``.nerv`` to play (``nerv`` set)."""

    path: str
    frames: FrameSource  # what to play
    truth: FrameSource | None
    truth_path: str | None
    frame: int | None  # where to start; None: where the user left it
    video: VideoInfo | None = None
    nerv: NervVideo | None = None


def load_clip(path: str, frame: int | None, cancel: threading.Event) -> Opened:
    info = probe(path)
    return Opened(path, load_video(path, cancel=cancel), None, None, frame, video=info)


def load_nerv(path: str, truth: str | None, frame: int | None, cancel: threading.Event) -> Opened:
    """The file, and its ground truth: ``truth`` if given, else the recorded source when it lies beside the file
    (checked by hash)."""
    nerv = NervVideo.open(path, device="auto")
    if truth is not None:
        return Opened(path, nerv, truth_for(nerv, truth, False, cancel), truth, frame, nerv=nerv)
    name = str(nerv.file.source.get("name", ""))
    beside = Path(path).parent / name
    if name and beside.is_file():
        try:
            return Opened(path, nerv, truth_for(nerv, str(beside), True, cancel), str(beside), frame, nerv=nerv)
        except Cancelled:
            raise
        except NervError:
            pass  # a different clip of the same name: play without ground truth
    return Opened(path, nerv, None, None, frame, nerv=nerv)


def truth_for(
    nerv: NervVideo, path: str, check_hash: bool, cancel: threading.Event | None = None
) -> ArraySource | StoreSource:
    """The frames of ``path`` that ``nerv`` was made from (its range, at its size); streamed from a disk cache
    when they do not fit the memory budget. A video that cannot be the source (another size, too short) is
    refused, and with ``check_hash`` one of other content too."""
    recorded = {**nerv.file.video, **nerv.file.source}
    why = source_mismatch(recorded, path, content=check_hash)
    if why is not None:
        raise VideoError(not_the_source(recorded, "this .nerv", path, why))
    start = int(nerv.file.video.get("start", 0))
    truth = load_video(path, nerv.size, start, start + nerv.num_frames, cancel=cancel)
    if truth.num_frames < nerv.num_frames:
        raise VideoError(f"{path} has {truth.num_frames} frames from {start}, the .nerv has {nerv.num_frames}")
    return truth


def describe_nerv(path: str, nerv: NervVideo, size_bytes: int) -> tuple[str, list[str]]:
    """A one-line summary of an open ``.nerv`` (the status bar) and the lines the fit panel shows about it."""
    name = Path(path).name
    meta, made = nerv.file.metrics or {}, nerv.file.compression or {}
    h, w = nerv.size
    bpp = size_bytes * 8 / (nerv.num_frames * h * w)
    quality = f" · {meta['psnr']:.2f} dB" if meta.get("psnr") is not None else ""
    arch = nerv.file.model.arch
    count = len(nerv.segments)
    networks = f"{count} segments · " if count > 1 else ""
    summary = (
        f"{name} · {networks}{arch} · {nerv.num_frames} frames · {w}×{h} · {size_bytes / 1024:.1f} KiB · "
        f"{bpp:.4f} bpp{quality}"
    )
    lines = [
        f"<b>{name}</b>",
        f"{count} segments, a {arch} network each"
        if count > 1
        else f"a {arch} network (model plugin version {nerv.file.model.version})",
        f"{nerv.num_frames} frames · {w}×{h} · {nerv.fps:g} fps",
        f"{size_bytes / 1024:.1f} KiB · {bpp:.4f} bpp{quality}",
    ]
    if made:
        lines.append(f"pruned {made.get('prune_ratio', 0):.0%} · {made.get('bits', '?')}-bit weights")
    if nerv.file.source.get("name"):
        lines.append(f"made from {nerv.file.source['name']}")
    return summary, lines
