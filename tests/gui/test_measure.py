"""Measurements on the bundled sample at full size (opt-in: NERVPLAYER_MEASURE=1; prints its numbers).

Fits nerv-xs for a few epochs, saves a .nerv, reopens it with its source, then measures scrub latency (timeline
click to painted frame, cached and uncached), playback fps and the longest GUI stalls.
"""

import os
import statistics
import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtWidgets import QApplication

from nervplayer.codec import CompressOptions
from nervplayer.sample import sample_video as sample_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("NERVPLAYER_MEASURE") or sample_path() is None,
        reason="set NERVPLAYER_MEASURE=1 to measure (needs resources/sample.mp4)",
    ),
]


class PaintClock(QObject):
    """Records when the canvas starts painting a given frame index."""

    def __init__(self, canvas) -> None:
        super().__init__()
        self.canvas, self.wanted, self.at = canvas, None, None
        canvas.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if (
            event.type() == QEvent.Type.Paint
            and self.wanted is not None
            and self.at is None
            and self.canvas.displayed_index == self.wanted
        ):
            self.at = time.perf_counter()
        return False


def scrub_ms(qtbot, player, clock: PaintClock, k: int) -> tuple[float, float]:
    """Milliseconds from the click to the start of the paint, and the paint itself."""
    clock.wanted, clock.at = k, None
    x = round(player.timeline.x_of(k))
    start = time.perf_counter()
    qtbot.mouseClick(player.timeline, Qt.MouseButton.LeftButton, pos=QPoint(x, 10))
    while clock.at is None and time.perf_counter() - start < 10:  # a live event loop, not qWait's 10 ms naps
        QApplication.processEvents()  # (the paint the filter saw has finished when this returns)
    return (clock.at - start) * 1000, player.canvas.paint_ms


def test_measure_the_sample(make_window, qtbot, tmp_path, kit):
    epochs = int(os.environ.get("NERVPLAYER_MEASURE_EPOCHS", "3"))
    window = make_window([str(sample_path())])
    panel, player = window.fit_panel, window.player
    qtbot.waitUntil(lambda: panel.state == "ready", timeout=60_000)
    panel.scale.setCurrentIndex(panel.scale.findData(1.0))
    panel.epochs.setValue(epochs)
    panel.eval_every.setValue(1)
    player.toggle_stats()
    probe = kit.StallProbe().start()
    panel.controls.start_button.click()
    qtbot.waitUntil(lambda: panel.state == "running", timeout=120_000)
    fit_started = time.perf_counter()
    qtbot.waitUntil(lambda: panel.state == "finished", timeout=900_000)
    fit_seconds = time.perf_counter() - fit_started
    stall_fit = probe.stop()

    out = tmp_path / "sample.nerv"
    window.save_nerv_to(out, CompressOptions(prune=0.0, finetune_epochs=0, device="cpu"))
    qtbot.waitUntil(lambda: panel.state == "finished", timeout=300_000)
    window.open_path(str(out), truth=str(sample_path()))
    qtbot.waitUntil(lambda: window.session.nerv is not None and player.truth is not None, timeout=60_000)
    qtbot.waitUntil(lambda: not np.isnan(player.timeline.psnr).any(), timeout=120_000)
    n = player.state.num_frames

    clock = PaintClock(player.canvas)
    frames = [n // 8 * i + 3 for i in range(1, 7)]
    uncached, cached = [], []
    for k in frames:
        player.decoder.cache.clear()
        uncached.append(scrub_ms(qtbot, player, clock, k))
    for k in range(n):  # decode everything once, so that no read-ahead competes for the CPU below
        player.state.frame = k
        qtbot.waitUntil(lambda: player.canvas.displayed_index == k, timeout=10_000)
    qtbot.waitUntil(lambda: not player._settle_timer.isActive(), timeout=10_000)  # nothing left to read ahead
    for k in frames:
        scrub_ms(qtbot, player, clock, 0)
        cached.append(scrub_ms(qtbot, player, clock, k))

    decode_ms = []
    for k in range(0, n, 4):
        start = time.perf_counter()
        window.session.nerv.frame(k)
        decode_ms.append((time.perf_counter() - start) * 1000)

    results = {}
    player.state.toggle_loop_all()
    clip_fps = player.state.fps
    for label, fps, cache_mb in (("25 fps, cache on", 25.0, 512), ("100 fps, cache off", 100.0, 0)):
        player.set_cache_mb(cache_mb)  # with no cache every frame shown is decoded while playing
        player.go_to(0)
        player.state.fps = fps
        player.dropped = 0
        probe = kit.StallProbe().start()
        shown = []
        player.frame_shown.connect(shown.append)
        player.toggle_play()
        qtbot.waitUntil(lambda: len(shown) >= 100, timeout=120_000)  # a hundred frames on screen
        results[label] = (player.display_fps(), fps, player.dropped, probe.stop())
        player.toggle_play()

    print(
        f"\n[measure] sample {player.source.size[1]}x{player.source.size[0]}, {n} frames, nerv-xs, "
        f"{epochs} epochs in {fit_seconds:.1f} s; clip fps {clip_fps:g}"
    )
    print(f"[measure] longest GUI stall while fitting: {stall_fit * 1000:.0f} ms")
    print(f"[measure] decode (NervVideo.frame, CPU): median {statistics.median(decode_ms):.1f} ms")
    for label, runs in (("uncached", uncached), ("cached", cached)):
        total = [a + b for a, b in runs]
        print(
            f"[measure] scrub latency, {label}: median {statistics.median(total):.1f} ms (max {max(total):.1f}):"
            f" {statistics.median(a for a, _ in runs):.1f} ms to the paint, "
            f"{statistics.median(b for _, b in runs):.1f} ms painting"
        )
    for label, (fps, target, dropped, stall) in results.items():
        print(
            f"[measure] playback, {label}: {fps:.1f} fps shown (target {target:g}), {dropped} dropped, "
            f"longest GUI stall {stall * 1000:.0f} ms"
        )
    assert stall_fit < 1.0
