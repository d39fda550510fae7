"""``nervplayer export FILE -o out.mp4``: decode a .nerv to a video file (any PyAV encoder) or a PNG folder."""

from __future__ import annotations

import sys
from argparse import ArgumentTypeError
from pathlib import Path
from typing import Iterator

import numpy as np

from ..codec import NervVideo
from ..codec.classic import container_for, write_video
from ..errors import ConfigError
from ..video.writer import write_png
from .options import Parser, add_memory_budget, frame_range, output_file


def main(argv: list[str]) -> int:
    p = Parser(
        prog="nervplayer export",
        description="Decode a .nerv file to a video file (.mp4, .mkv, .webm, "
        ".mov) or, when OUTPUT is a folder (ends with '/' or exists), to PNG frames 000000.png, ...",
    )
    p.add_argument("file", type=Path)
    p.add_argument("-o", "--output", required=True)
    p.add_argument(
        "--codec",
        default="libx264",
        help="PyAV encoder: libx264 (default), libx265, libsvtav1, libvpx-vp9, ffv1 (lossless), ...",
    )
    p.add_argument("--crf", type=int, default=18, help="quality (the encoder's CRF; default 18)")
    p.add_argument(
        "--pix-fmt",
        default="yuv420p",
        help="pixel format (default yuv420p, what players expect; yuv444p keeps full colour)",
    )
    p.add_argument("--frames", type=frame_range, metavar="START:END", help="frame range (END exclusive)")
    p.add_argument("--device", default="auto")
    add_memory_budget(p)
    args = p.parse_args(argv)
    if not (args.output.endswith(("/", "\\")) or Path(args.output).is_dir()):
        try:
            output_file(args.output)
        except ArgumentTypeError as e:
            raise ConfigError(str(e)) from None
    video = NervVideo.open(args.file, args.device, memory_budget=args.memory_budget)
    start, end = args.frames or (0, None)
    end = video.num_frames if end is None else end
    if not 0 <= start < end <= video.num_frames:
        raise ConfigError(f"frame range {start}:{end} is outside the video (0:{video.num_frames})")

    from tqdm import tqdm

    bar = tqdm(total=end - start, unit="frame", desc=f"decoding (batches of {video.batch_size})", file=sys.stderr)

    def frames() -> Iterator[np.ndarray]:
        for i in range(start, end, video.batch_size):
            batch = video.frames(i, min(i + video.batch_size, end))
            bar.update(len(batch))
            yield from batch

    out = Path(args.output)
    if args.output.endswith(("/", "\\")) or out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        for k, frame in enumerate(frames()):
            write_png(out / f"{start + k:06d}.png", frame)
    else:
        write_video(out, frames(), video.fps, args.codec, args.crf, container_for(out), args.pix_fmt)
    seconds = bar.format_dict["elapsed"]
    bar.close()
    print(f"wrote {out}: {end - start} frames in {seconds:.1f} s", file=sys.stderr)
    return 0
