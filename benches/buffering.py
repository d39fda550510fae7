"""How long the player buffers a heavy model before it plays smoothly: decode frames/s of a NeRV-S-shaped network
(random weights: the decoding time does not depend on their values) at batch 1 and batched, what the player's
buffering rule then asks for a clip at its frame rate, and with ``--widget`` the same measured in the player
(offscreen): the time from pressing play to the end of buffering, and whether every frame then played in order.

The player decodes one frame a call (a scrub never waits for a batch); the batched rate says what batching the
buffer would gain on this machine.

    python benches/buffering.py                                   # NeRV-S at 1280x720, 132 frames at 25 fps
    python benches/buffering.py --size 320x180 --frames 32 --widget   # a quick check

The machine may be shared: the median of ``--repeats`` timed decodes is reported (after one warm-up).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from nervplayer.gui.buffering import frames_to_buffer
from nervplayer.model import architectures
from nervplayer.model.render import render
from nervplayer.plugins.api import Frames

CACHE_MB = 512  # the player's default cache


class ModelSource:
    """A frame source decoding from a network as the player plays a ``.nerv`` (the decode thread calls it)."""

    def __init__(self, model: torch.nn.Module, num_frames: int, fps: float, size: tuple[int, int]) -> None:
        self.model, self.num_frames, self.fps, self.size = model, num_frames, fps, size

    def frame(self, index: int) -> np.ndarray:
        return render(self.model, [index], self.num_frames, batch_size=1)[0]


def decode_fps(source: ModelSource, batch: int, repeats: int) -> float:
    """Frames per second decoding ``batch`` frames a call (median over ``repeats`` calls)."""
    n = source.num_frames
    render(source.model, list(range(batch)), n, batch)  # warm-up
    seconds = []
    for r in range(repeats):
        indices = [(r * batch + i) % n for i in range(batch)]
        start = time.perf_counter()
        render(source.model, indices, n, batch)
        seconds.append(time.perf_counter() - start)
    return batch / statistics.median(seconds)


def buffer_in_widget(source: ModelSource) -> tuple[float, float, bool]:
    """Seconds from play to the end of the first buffering, of the whole playback, and whether every frame
    after the first played in order."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from nervplayer.gui.player import PlayerWidget

    app = QApplication.instance() or QApplication([])
    player = PlayerWidget(cache_mb=CACHE_MB)
    player.resize(960, 600)
    player.show()
    loop = QEventLoop()
    player.frame_shown.connect(lambda i: loop.quit() if i == 0 else None)
    player.set_source(source)
    loop.exec()  # the first frame is on screen: its decode measured the rate
    shown: list[int] = []
    buffered: list[float] = []
    player.frame_shown.connect(shown.append)
    start = time.perf_counter()
    player.buffering.connect(lambda p: buffered.append(time.perf_counter() - start) if p is None else None)
    player.state.playing_changed.connect(lambda playing: loop.quit() if not playing else None)
    player.toggle_play()
    loop.exec()
    total = time.perf_counter() - start
    player.shutdown()
    del app
    return (buffered[0] if buffered else 0.0), total, shown == list(range(1, source.num_frames))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="nerv-s")
    p.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    p.add_argument("--frames", type=int, default=132)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--widget", action="store_true", help="also measure in the player, offscreen")
    args = p.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    spec = architectures.resolve("nerv", Frames(h, w, args.frames), preset=args.preset)
    torch.manual_seed(0)
    model = architectures.build(spec).eval()
    source = ModelSource(model, args.frames, args.fps, (h, w))
    params = sum(t.numel() for t in model.parameters())
    print(f"{args.preset} at {w}x{h}: {params:,} parameters, {torch.get_num_threads()} threads")
    one = decode_fps(source, 1, args.repeats)
    batched = decode_fps(source, args.batch, max(1, args.repeats // 2))
    print(f"decode: {one:.2f} frames/s at batch 1, {batched:.2f} frames/s at batch {args.batch}")
    room = CACHE_MB * (1 << 20) // (w * h * 3) - 2
    need = frames_to_buffer(args.frames - 1, one, args.fps, room)
    print(
        f"buffering rule: {need} of {args.frames - 1} frames ahead (cache room {room}) before playing at "
        f"{args.fps:g} fps: about {need / one:.0f} s of buffering at batch 1, {need / batched:.0f} s batched"
    )
    if args.widget:
        buffering, total, in_order = buffer_in_widget(source)
        print(
            f"in the player: buffered {buffering:.1f} s, played to the end in {total:.1f} s, "
            f"every frame in order: {in_order}"
        )


if __name__ == "__main__":
    main()
