"""A segmented fit from the window (issue 18): a time budget with a segment length gives a plan of several
segments, shown before Start; Start fits them out of the window's process, the timeline's strip follows each
segment's state and PSNR, the bar shows the time left, and Save writes the gathered format-3 .nerv, which reopens
with the same strip."""

import multiprocessing

from PySide6.QtCore import Qt

from nervplayer.codec import CompressOptions
from nervplayer.codec.nervfile import load_any
from nervplayer.codec.segtable import SegmentedFile
from nervplayer.segments.control import CONTROL, PAUSE, RUN
from nervplayer.segments.status import DONE, FITTING, PENDING
from nervplayer.train import decoder, remote


def test_a_time_budget_in_segments_fits_each_segment_out_of_the_window_and_saves_one_file(
    make_window, qtbot, tmp_path, shapes_clip
):
    window = make_window([str(shapes_clip)])
    panel, timeline = window.fit_panel, window.player.timeline
    qtbot.waitUntil(lambda: panel.state == "ready", timeout=30_000)
    panel.segment.setValue(8)
    panel.time.setCurrentText("30 s")
    qtbot.waitUntil(lambda: panel.planned is not None, timeout=120_000)
    plan = panel.planned.plan
    assert plan.segments == 2 and plan.segment_frames == 8
    assert "2 segments" in panel.plan_label.text() and "each" in panel.plan_label.text()
    assert "expect ≈" in panel.plan_label.text() and not timeline.shows_segments  # nothing fitted yet
    states = []
    window.session.fit_event.connect(lambda e: states.append([s.state for s in timeline.segments]))
    qtbot.mouseClick(panel.controls.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: timeline.shows_segments, timeout=120_000)
    assert [(s.start, s.end) for s in timeline.segments] == [(0, 8), (8, 16)]
    assert states[-1] == [PENDING, PENDING]
    # the window trains nothing: the segments fit in a child process
    spares = {remote.spare_pid(), decoder.spare_pid()}
    assert any(p.pid not in spares for p in multiprocessing.active_children())
    folders = [window.session.run_dir / "segments" / name for name in ("0000_0008", "0008_0016")]

    def controls():
        return [(f / CONTROL).read_text().strip() if (f / CONTROL).is_file() else None for f in folders]

    # paused at once: the 30 s the fit may run (paused time does not count) cannot have passed, however slow the
    # test (a loaded run once clicked Pause after the fit had ended); it reaches every segment, running or not
    qtbot.mouseClick(panel.controls.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: controls() == [PAUSE, PAUSE], timeout=30_000)
    assert window.session.phase == "paused" and panel.controls.pause_button.text() == "Resume"
    qtbot.mouseClick(panel.controls.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: controls() == [RUN, RUN], timeout=30_000)
    # the time left, before any segment ends
    qtbot.waitUntil(lambda: "left" in panel.controls.timing.text(), timeout=10_000)
    assert "of 2 segments done" in panel.controls.bar.format() and "stops at" in panel.controls.bar.format()
    qtbot.waitUntil(lambda: window.session.phase == "finished", timeout=120_000)
    assert window.session.unsaved and panel.controls.bar.format().startswith("completed at 2 of 2 segments")
    assert [s.state for s in timeline.segments] == [DONE, DONE]
    assert all(s.psnr is not None and s.bytes for s in timeline.segments)
    assert any(FITTING in seen for seen in states)  # each segment seen fitting (polled 4 times a second)
    assert "segment 1: frames 8–15" in timeline.tooltip(9) and "dB" in timeline.tooltip(9)
    shown = [(s.psnr, s.bytes) for s in timeline.segments]

    out = tmp_path / "segmented.nerv"
    window.save_nerv_to(out, CompressOptions())  # the options do not apply: each segment is compressed already
    qtbot.waitUntil(lambda: not window.session.unsaved and window.session.phase == "finished", timeout=60_000)
    saved = load_any(out)
    assert isinstance(saved, SegmentedFile) and [(s.start, s.end) for s in saved.segments] == [(0, 8), (8, 16)]
    assert "Saved segmented.nerv" in panel.controls.result.text()

    window.open_path(str(out))  # reopened: the same segments, their PSNR and size from the file's table
    qtbot.waitUntil(lambda: window.session.nerv is not None and timeline.shows_segments, timeout=30_000)
    assert [(s.psnr, s.bytes) for s in timeline.segments] == [(s.psnr, s.bytes) for s in saved.segments]
    # the sizes the fit showed; the PSNR of each segment's own frames, now as the file decodes them (faded at the
    # boundary), where the fit showed them as the segment's own file decodes them (unfaded)
    assert [s.bytes for s in timeline.segments] == [b for _, b in shown]
    assert all(abs(s.psnr - p) < 1.0 for s, (p, _) in zip(timeline.segments, shown))
