"""The session's segmented fit without Qt (issue 18: the API twin of the window's): a plan of the time budget that
cuts the clip, the fit of every segment with each one's state reported as it changes, pause / resume / cancel of
every segment, and Save writing the gathered format-3 .nerv."""

from __future__ import annotations

import os
from pathlib import Path

from clips import write_video
from test_segments import two_scenes
from test_session import run_inline

from nervplayer.codec import CompressOptions, NervVideo
from nervplayer.codec.nervfile import load_any
from nervplayer.codec.segtable import SegmentedFile
from nervplayer.segments.control import CONTROL
from nervplayer.segments.live import SegmentChanged, SegmentsEnded, SegmentsStarted
from nervplayer.segments.status import DONE, FITTING, PENDING
from nervplayer.session import Session
from nervplayer.train import FitConfig
from nervplayer.video import probe

TINY = {"stem_dim": 32, "fc_c": 4, "lower_width": 4}
STORE = CompressOptions(prune=0.0, finetune_epochs=0, device="cpu")  # measured: each segment's PSNR


def test_a_segmented_fit_reports_each_segment_and_saves_the_gathered_file(tmp_path):
    clip = write_video(tmp_path / "cut.mp4", two_scenes(6, 10, 32, 32))
    session = Session(run_inline, tmp_path / "runs", fit_in_child=False)
    session.video = probe(str(clip))
    session.phase = "ready"
    events, phases, ended = [], [], []
    session.fit_event.connect(events.append)
    session.phase_changed.connect(phases.append)
    session.fit_ended.connect(ended.append)
    config = FitConfig(
        video=str(clip), arch="nerv", preset="nerv-xs", model=TINY, loss="l2", epochs=2, eval_every=2, device="cpu"
    )
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    session.start_segmented_fit(config, STORE, 8, "cold")
    assert os.getpriority(os.PRIO_PROCESS, 0) == niceness  # inline, the caller's process keeps its priority
    started = next(e for e in events if isinstance(e, SegmentsStarted))
    assert [(s.start, s.end, s.state) for s in started.segments] == [(0, 6, PENDING), (6, 16, PENDING)]  # at the cut
    changes = [(e.index, e.status.state) for e in events if isinstance(e, SegmentChanged)]
    assert [c for c in changes if c[1] == DONE] == [(0, DONE), (1, DONE)]
    for k in (0, 1):  # fitting (when a poll saw it: a segment may end between two) before done
        assert [state for i, state in changes if i == k] in ([FITTING, DONE], [DONE])
    done = [e.status for e in events if isinstance(e, SegmentChanged) and e.status.state == DONE]
    assert all(s.psnr is not None and s.bytes for s in done)
    assert isinstance(events[-1], SegmentsEnded) and events[-1].status == "completed"
    assert ended == ["completed"] and phases[-1] == "finished" and session.unsaved
    out = tmp_path / "saved.nerv"
    session.save(out, CompressOptions())
    assert not session.unsaved and session.phase == "finished"
    saved = load_any(out)
    assert isinstance(saved, SegmentedFile) and [(s.start, s.end) for s in saved.segments] == [(0, 6), (6, 16)]
    assert out.read_bytes() == Path(events[-1].output).read_bytes()  # what `fit --segment` gathers
    assert NervVideo.open(out).frames(0, 16).shape == (16, 32, 32, 3)


def test_pause_resume_and_cancel_reach_every_segment(tmp_path):
    clip = write_video(tmp_path / "cut.mp4", two_scenes(6, 10, 32, 32))
    session = Session(run_inline, tmp_path / "runs", fit_in_child=False)
    session.video = probe(str(clip))
    session.phase = "ready"
    seen = []

    def on_event(event):
        seen.append(event)
        if isinstance(event, SegmentsStarted):  # every segment cut: pause, resume, then cancel all of them
            session.toggle_pause()
            assert session.phase == "paused"
            folders = sorted((Path(event.run_dir) / "segments").iterdir())
            assert [(f / CONTROL).read_text().strip() for f in folders] == ["pause", "pause"]
            session.toggle_pause()
            assert [(f / CONTROL).read_text().strip() for f in folders] == ["run", "run"]
            session.cancel()
            assert [(f / CONTROL).read_text().strip() for f in folders] == ["cancel", "cancel"]

    session.fit_event.connect(on_event)
    config = FitConfig(video=str(clip), arch="nerv", preset="nerv-xs", model=TINY, loss="l2", epochs=50, device="cpu")
    session.start_segmented_fit(config, STORE, 8, "cold")
    assert isinstance(seen[-1], SegmentsEnded) and seen[-1].status == "cancelled"
    assert session.phase == "finished" and not session.unsaved
    session.save(tmp_path / "x.nerv", CompressOptions())  # nothing gathered: one clear error, nothing written
    assert not (tmp_path / "x.nerv").exists()


def test_a_segment_that_fails_is_marked_failed_and_the_fit_ends_with_its_error(tmp_path, monkeypatch):
    from nervplayer.errors import NervError
    from nervplayer.segments import fit as segmented
    from nervplayer.segments.status import FAILED

    def broken(task):  # the segment's fit starts (its run folder has a config), then fails
        (Path(task.folder) / "config.json").write_text("{}")
        raise NervError("the disk is full")

    monkeypatch.setattr(segmented, "run_segment", broken)
    clip = write_video(tmp_path / "cut.mp4", two_scenes(6, 10, 32, 32))
    session = Session(run_inline, tmp_path / "runs", fit_in_child=False)
    session.video = probe(str(clip))
    session.phase = "ready"
    events, ended, failed = [], [], []
    session.fit_event.connect(events.append)
    session.fit_ended.connect(ended.append)
    session.failed.connect(lambda title, error: failed.append(str(error)))
    config = FitConfig(video=str(clip), arch="nerv", preset="nerv-xs", model=TINY, loss="l2", epochs=2, device="cpu")
    session.start_segmented_fit(config, STORE, 8, "cold")
    changes = [(e.index, e.status.state) for e in events if isinstance(e, SegmentChanged)]
    assert changes in ([(0, FITTING), (0, FAILED)], [(0, FAILED)])  # seen fitting if a poll came in between
    assert ended == ["failed"] and failed == ["the disk is full"] and session.phase == "finished"
    assert not session.unsaved
