"""Reading frames: any file PyAV decodes, or a folder of PNG/JPEG frames, as uint8 RGB H×W×3 arrays."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..errors import ConfigError, VideoError
from ..sorting import natural_key

if TYPE_CHECKING:  # av is imported when a video is opened
    from av.container import InputContainer

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class VideoInfo:
    """What a source holds. ``num_frames`` is exact (counted by demuxing when the container does not say)."""

    path: str
    kind: str  # "video" or "images"
    num_frames: int
    fps: float
    width: int
    height: int


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: natural_key(p.name)
    )


def _open_container(path: Path) -> InputContainer:
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoError(f"{path}: not a video PyAV can read ({_short(e)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: has no video stream")
    return container


def probe(path: str | Path) -> VideoInfo:
    """Describe a video file or image folder; raises :class:`VideoError` if it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"no such file or folder: {path}")
    if path.is_dir():
        files = _image_files(path)
        if not files:
            raise VideoError(f"{path}: folder has no PNG or JPEG frames")
        first = _read_image(files[0])
        return VideoInfo(str(path), "images", len(files), 25.0, first.shape[1], first.shape[0])
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        count = 0
        try:
            for packet in container.demux(stream):
                if packet.size:
                    count += 1
        except Exception as e:  # av.FFmpegError and friends: corrupt data mid-file
            raise VideoError(f"{path}: unreadable video data ({_short(e)})") from None
        width, height = stream.codec_context.width, stream.codec_context.height
        declared = stream.frames
    finally:
        container.close()
    if count == 0 or not width or not height:
        raise VideoError(f"{path}: no decodable video frames")
    if declared > count:  # the index lists frames whose data is missing
        raise VideoError(
            f"{path}: truncated or damaged: the container lists {declared} frames, only {count} are present"
        )
    return VideoInfo(str(path), "video", count, fps, width, height)


def output_size(info: VideoInfo, size: tuple[int, int] | None = None, scale: float | None = None) -> tuple[int, int]:
    """(height, width) after an explicit ``size`` (h, w) or a ``scale`` factor."""
    if size is not None and scale is not None:
        raise ConfigError("give a target size or a scale, not both")
    if size is not None:
        h, w = size
    elif scale is not None:
        if scale <= 0:
            raise ConfigError(f"scale must be positive, got {scale}")
        h, w = round(info.height * scale), round(info.width * scale)
    else:
        h, w = info.height, info.width
    if h < 1 or w < 1:
        raise ConfigError(f"target size {w}x{h} is empty")
    return int(h), int(w)


def iter_frames(
    info: VideoInfo, start: int = 0, end: int | None = None, size: tuple[int, int] | None = None
) -> Iterator[np.ndarray]:
    """Yield frames ``start``..``end``-1 as uint8 H×W×3 RGB, resized to ``size`` (h, w) if given."""
    end = info.num_frames if end is None else end
    if info.kind == "images":
        for p in _image_files(Path(info.path))[start:end]:
            yield _read_image(p, size)
        return
    container = _open_container(Path(info.path))
    produced = 0
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            if index >= end:
                break
            if index >= start:
                if size is not None and (frame.height, frame.width) != size:
                    frame = frame.reformat(width=size[1], height=size[0], format="rgb24", interpolation="AREA")
                yield frame.to_ndarray(format="rgb24")
                produced += 1
    except VideoError:
        raise
    except Exception as e:  # av.FFmpegError, ValueError from bad pixel formats
        raise VideoError(f"{info.path}: decoding failed at frame {start + produced} ({_short(e)})") from None
    finally:
        container.close()
    if produced < end - start:
        raise VideoError(f"{info.path}: only {start + produced} of {end} frames could be decoded")


def _read_image(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if size is not None and (im.height, im.width) != size:
                im = im.resize((size[1], size[0]), Image.Resampling.BOX)
            return np.asarray(im, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError) as e:
        raise VideoError(f"{path}: not a readable image ({_short(e)})") from None


def file_hash(path: str | Path) -> str:
    """sha256 of a file, or of a folder's image files in order (their names and bytes)."""
    path = Path(path)
    h = hashlib.sha256()
    files = _image_files(path) if path.is_dir() else [path]
    for p in files:
        if path.is_dir():
            h.update(p.name.encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _short(e: BaseException) -> str:
    return str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
