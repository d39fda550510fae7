"""Rebuild the bundled sample, in two steps, from the repository root:

    python resources/make_sample.py clip PATH/TO/bigbuckbunny.mp4   # sample.mp4: frames 0-47 at 320x180
    python resources/make_sample.py nerv                             # sample.nerv: a NeRV fitted to sample.mp4

``nerv`` runs our own tools, exactly these two commands (about 4 minutes of one CPU core with
``OMP_NUM_THREADS=1``: 210 s to fit, 40 s to compress):

    nervplayer fit resources/sample.mp4 -o RUN --arch hnerv --params 100k --epochs 60 --lr 2e-3 --seed 0 --device cpu
    nervplayer compress RUN -o resources/sample.nerv --prune 0.4 --finetune-epochs 8 --bits 5 --device cpu

An HNeRV of 100k stored values is the size where the file stays in the tens of KB (56 KB: 0.16 bpp) and the clip
still reads as video (24.2 dB PSNR, MS-SSIM 0.90; 24.6 dB before compression) after a fit of a few CPU minutes.
"""

from __future__ import annotations

import sys
import tempfile
from fractions import Fraction
from pathlib import Path

FRAMES, WIDTH, HEIGHT = 48, 320, 180
FIT = ["--arch", "hnerv", "--params", "100k", "--epochs", "60", "--lr", "2e-3", "--seed", "0", "--device", "cpu"]
COMPRESS = ["--prune", "0.4", "--finetune-epochs", "8", "--bits", "5", "--device", "cpu"]


def make_clip(source: str) -> None:
    import av

    with av.open(source) as src, av.open("resources/sample.mp4", "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "12", "preset": "slow"}
        out.metadata["comment"] = "Big Buck Bunny (c) Blender Foundation, CC-BY 3.0, www.bigbuckbunny.org"
        for i, frame in enumerate(src.decode(video=0)):
            if i == FRAMES:
                break
            small = frame.reformat(width=WIDTH, height=HEIGHT, format="yuv420p", interpolation="AREA")
            small.pts, small.time_base = i, Fraction(1, 25)  # one frame every 1/25 s
            for packet in stream.encode(small):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def make_nerv() -> int:
    from nervplayer.cli.main import main

    with tempfile.TemporaryDirectory(prefix="nervplayer-sample-") as tmp:
        run = str(Path(tmp) / "run")
        code = main(["fit", "resources/sample.mp4", "-o", run, *FIT])
        return code or main(["compress", run, "-o", "resources/sample.nerv", *COMPRESS])


if __name__ == "__main__":
    step = sys.argv[1] if len(sys.argv) > 1 else ""
    if step == "clip":
        make_clip(sys.argv[2] if len(sys.argv) > 2 else "../shared/data/bigbuckbunny.mp4")
    elif step == "nerv":
        sys.exit(make_nerv())
    else:
        sys.exit(__doc__)
