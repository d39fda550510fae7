"""Rebuild resources/sample.mp4: frames 0-47 of Big Buck Bunny (the NeRV paper's clip) at 320×180.

Run from the repository root: ``python resources/make_sample.py PATH/TO/bigbuckbunny.mp4``.
"""

import sys
from fractions import Fraction

import av

SOURCE = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/bigbuckbunny.mp4"
FRAMES, WIDTH, HEIGHT = 48, 320, 180

with av.open(SOURCE) as src, av.open("resources/sample.mp4", "w") as out:
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
