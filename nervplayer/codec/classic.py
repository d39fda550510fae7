"""Classic codecs through PyAV: writing exports, and encoding a clip at a quality setting to compare with NeRV.

Frames go through yuv420p (what players expect); odd sizes are padded by edge replication and cropped back.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import numpy as np

from ..errors import ConfigError

# Encoder → (quality option, settings swept by ``nervplayer rd --codecs``, fixed options).
CODECS: dict[str, tuple[str, tuple[int, ...], dict[str, str]]] = {
    "libx264": ("crf", (18, 23, 28, 33, 38, 43), {"preset": "medium"}),
    "libx265": ("crf", (18, 23, 28, 33, 38, 43), {"preset": "medium", "x265-params": "log-level=error"}),
    "libsvtav1": ("crf", (20, 30, 40, 50, 58), {"preset": "8"}),
}
CONTAINERS = {".mp4": "mp4", ".mkv": "matroska", ".webm": "webm", ".mov": "mov"}


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") if h % 2 or w % 2 else frame


def write_video(
    out: str | os.PathLike | io.BytesIO,
    frames: Iterable[np.ndarray],
    fps: float,
    codec: str,
    quality: int | None = None,
    container: str = "mp4",
    pix_fmt: str = "yuv420p",
) -> int:
    """Encode uint8 H×W×3 frames; returns the number of frames written. ``quality`` is the codec's CRF.

    A file appears only when complete: it is written beside the target, then renamed over it."""
    if isinstance(out, io.BytesIO):
        return _encode(out, frames, fps, codec, quality, container, pix_fmt)
    final = Path(out)
    part = final.with_name(f".{final.name}.part")
    try:
        with open(part, "wb") as f:
            count = _encode(f, frames, fps, codec, quality, container, pix_fmt)
        os.replace(part, final)
    finally:
        part.unlink(missing_ok=True)
    return count


@contextlib.contextmanager
def _same_scheduling() -> Iterator[None]:
    """Give the calling thread back its scheduling policy. SVT-AV1 run as root moves the thread that opens it to
    real-time scheduling (SCHED_FIFO, priority 99), and every thread started from it afterwards inherits that:
    later compute threads that busy-wait for each other at that priority starve the machine (a test run hung in
    a decode after an AV1 curve)."""
    if not hasattr(os, "sched_getscheduler"):  # Linux only
        yield
        return
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        if (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority) != (policy, param.sched_priority):
            os.sched_setscheduler(0, policy, param)


def _encode(
    out: BinaryIO,
    frames: Iterable[np.ndarray],
    fps: float,
    codec: str,
    quality: int | None,
    container: str,
    pix_fmt: str,
) -> int:
    import av

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner to stderr otherwise
    option, _, fixed = CODECS.get(codec, ("crf", (), {}))
    opts = dict(fixed)
    if quality is not None:
        opts[option] = str(quality)
    count = 0
    try:
        with _same_scheduling(), av.open(out, mode="w", format=container) as c:
            stream = None
            for frame in frames:
                frame = _even(frame)
                if stream is None:
                    stream = c.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
                    stream.height, stream.width = frame.shape[:2]
                    stream.pix_fmt = pix_fmt
                    stream.options = opts
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    c.mux(packet)
                count += 1
            if stream is not None:
                for packet in stream.encode():
                    c.mux(packet)
    except (av.FFmpegError, ValueError) as e:
        raise ConfigError(f"encoding with {codec} failed: {e}") from None
    return count


def decode_video(data: bytes, height: int, width: int) -> np.ndarray:
    """All frames of an encoded clip as uint8 [N, height, width, 3] (padding cropped)."""
    import av

    with av.open(io.BytesIO(data)) as c:
        return np.stack([f.to_ndarray(format="rgb24")[:height, :width] for f in c.decode(video=0)])


@dataclass
class Encoded:
    codec: str
    quality: int
    bytes: int
    frames: np.ndarray  # decoded, uint8 [N, H, W, 3]
    encoding_time: float
    decoding_time: float


def encode_clip(frames: np.ndarray, fps: float, codec: str, quality: int) -> Encoded:
    """Encode a clip into an in-memory MP4 and decode it back; ``bytes`` is the whole file, as for a .nerv."""
    buf = io.BytesIO()
    t0 = time.perf_counter()
    write_video(buf, iter(frames), fps, codec, quality)
    t1 = time.perf_counter()
    decoded = decode_video(buf.getvalue(), *frames.shape[1:3])
    return Encoded(codec, quality, len(buf.getvalue()), decoded, t1 - t0, time.perf_counter() - t1)


def container_for(path: Path) -> str:
    try:
        return CONTAINERS[path.suffix.lower()]
    except KeyError:
        raise ConfigError(
            f"{path}: unknown video extension; use one of {', '.join(CONTAINERS)} or a folder for PNG frames"
        ) from None
