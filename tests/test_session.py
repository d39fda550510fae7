"""The player's session without Qt: opening, the fit and save lifecycle, stale reports, and ground truth that
streams from disk when it does not fit the memory budget."""

from __future__ import annotations

import gc
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nervplayer.codec import CompressOptions
from nervplayer.session import Job, Session
from nervplayer.train import FitConfig
from nervplayer.video.source import ArraySource, StoreSource, load_video

TINY = {"stem_dim": 32, "fc_c": 4, "lower_width": 4}


class Done:
    def is_running(self) -> bool:
        return False


def run_inline(job: Job) -> Done:
    """A runner that does the work at once, on this thread."""
    try:
        result = job.work()
        if inspect.isgenerator(result):
            gen = result
            while True:
                try:
                    job.on_event(next(gen))
                except StopIteration as stop:
                    result = stop.value
                    break
        job.on_done(result)
    except BaseException as e:
        job.on_failed(e)
    return Done()


class Held:
    """A runner that only keeps the jobs: the test decides when (and whether) they report."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def __call__(self, job: Job) -> Any:
        self.jobs.append(job)
        return self

    def is_running(self) -> bool:
        return True


def record(session: Session) -> list[tuple]:
    seen: list[tuple] = []
    for name in (
        "phase_changed",
        "opened",
        "open_failed",
        "fit_ended",
        "save_requested",
        "saved",
        "save_ended",
        "failed",
    ):
        getattr(session, name).connect(lambda *args, name=name: seen.append((name, *args)))
    return seen


@pytest.mark.parametrize("in_child", [True, False], ids=["child-process", "in-thread"])
def test_open_fit_and_save_a_clip(tmp_path, shapes_clip, in_child):
    session = Session(run_inline, tmp_path / "runs", fit_in_child=in_child)
    seen = record(session)
    session.open(str(shapes_clip))
    assert session.phase == "ready" and session.video is not None and session.video.num_frames == 16
    opened = next(e[1] for e in seen if e[0] == "opened")
    assert isinstance(opened.frames, ArraySource) and opened.frames.num_frames == 16

    config = FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=1, end=4, model=TINY)
    fit_events: list[Any] = []
    session.fit_event.connect(fit_events.append)
    session.start_fit(config)
    assert session.phase == "finished" and session.unsaved and session.fitter is not None
    assert [e for e in seen if e[0] == "fit_ended"] == [("fit_ended", "completed")]
    assert type(fit_events[0]).__name__ == ("RemoteFitter" if in_child else "Fitter")
    assert type(fit_events[-1]).__name__ == "Finished" and session.fitter is fit_events[0]
    assert session.fitter.decode([2]).shape == (1, 64, 64, 3)
    status = session.device_status()  # the fit's memory: its own process's when it ran in one
    assert status.startswith("cpu · ") and " MiB" in status and ("fit process" in status) == in_child
    assert session.run_dir is not None and session.run_dir.parent == tmp_path / "runs"

    session.request_save()
    assert ("save_requested",) in seen
    out = tmp_path / "clip.nerv"
    session.save(out, CompressOptions(prune=0.0, finetune_epochs=0, device="cpu", evaluate=False))
    assert out.is_file() and not session.unsaved and session.phase == "finished"
    assert seen[-1] == ("save_ended", "saved")


def test_after_a_fit_in_a_child_process_the_next_one_starts_in_a_spare_started_ahead(tmp_path, shapes_clip):
    from nervplayer.train import remote

    remote.close_spare()  # whatever an earlier test left
    session = Session(run_inline, tmp_path / "runs")
    session.open(str(shapes_clip))
    config = FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=1, end=4, model=TINY)
    fits: list[Any] = []
    session.fit_event.connect(lambda e: fits.append(e) if type(e).__name__ == "RemoteFitter" else None)
    session.start_fit(config)
    spare = remote.spare_pid()  # started as the fit ended, in the background
    assert session.phase == "finished" and spare is not None and spare != fits[0].pid
    session.start_fit(config)
    assert session.phase == "finished" and fits[1].pid == spare
    remote.close_spare()


def test_a_discarded_fit_never_reports_and_stopping_never_waits(tmp_path, shapes_clip):
    runner = Held()
    session = Session(runner, tmp_path / "runs")
    session.open(str(shapes_clip))
    run_inline(runner.jobs[-1])  # the open job reports
    assert session.phase == "ready"
    session.start_fit(FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=1, model=TINY))
    fit = runner.jobs[-1]
    assert session.phase == "starting"
    session.discard()  # returns at once: the held job has not even started
    assert session.phase == "ready" and not session.unsaved
    seen = record(session)
    fit.on_event(object())
    fit.on_failed(RuntimeError("late"))
    assert seen == []  # the discarded job's reports are dropped


def test_a_cancel_before_the_fitter_exists_reaches_it(tmp_path, shapes_clip, monkeypatch):
    from nervplayer import session as session_module

    made = []

    class FakeFitter:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.cancelled = False
            made.append(self)

        def cancel(self) -> None:
            self.cancelled = True

        def run(self):
            yield from ()

    monkeypatch.setattr(session_module, "Fitter", FakeFitter)
    runner = Held()
    session = Session(runner, tmp_path / "runs", fit_in_child=False)
    session.video = object()  # type: ignore[assignment]  # anything: the fake fitter never reads it
    session.phase = "ready"
    session.start_fit(FitConfig(video=str(shapes_clip)))
    job = runner.jobs[-1]
    job.cancel()  # e.g. the app quits while the clip is still being decoded
    list(job.work())
    assert made and made[0].cancelled


def test_a_cancel_before_the_child_process_describes_its_fit_reaches_it(tmp_path, shapes_clip):
    runner = Held()
    session = Session(runner, tmp_path / "runs")
    session.open(str(shapes_clip))
    run_inline(runner.jobs[-1])
    session.start_fit(FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=50, end=4, model=TINY))
    job = runner.jobs[-1]
    job.cancel()  # the app quits while the child is still starting
    events = list(job.work())
    assert type(events[0]).__name__ == "RemoteFitter"
    assert type(events[-1]).__name__ == "Finished" and events[-1].status == "cancelled" and events[-1].step == 0
    assert (session.run_dir / "checkpoint.pt").is_file()  # type: ignore[operator]


def test_an_error_in_the_child_process_is_reported_as_itself(tmp_path, shapes_clip):
    from nervplayer.errors import PluginError

    session = Session(run_inline, tmp_path / "runs")
    seen = record(session)
    session.open(str(shapes_clip))
    session.start_fit(
        FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=1, loss="nope", model=TINY)
    )
    failed = [e for e in seen if e[0] == "failed"]
    assert len(failed) == 1 and isinstance(failed[0][2], PluginError) and "unknown loss" in str(failed[0][2])
    assert session.phase == "ready" and session.fitter is None


def test_a_failed_open_is_reported_and_changes_nothing(tmp_path):
    session = Session(run_inline, tmp_path / "runs")
    seen = record(session)
    bad = tmp_path / "bad.nerv"
    bad.write_bytes(b"NERV" + bytes(100))
    session.open(str(bad))
    assert [e[0] for e in seen] == ["open_failed"] and session.path is None and session.phase == "empty"


def test_a_clip_over_the_memory_budget_streams_from_a_disk_cache(shapes_clip, shapes_frames):
    whole = load_video(str(shapes_clip))
    assert isinstance(whole, ArraySource)
    streamed = load_video(str(shapes_clip), budget_bytes=64 * 64 * 3 * 4)  # room for 4 of the 16 frames
    assert isinstance(streamed, StoreSource) and streamed.num_frames == 16 and streamed.size == (64, 64)
    for i in (0, 7, 15):
        assert np.array_equal(streamed.frame(i), whole.frame(i))
    cache = Path(streamed._owns.name)  # the disk cache lives as long as the source
    assert cache.is_dir() and any(cache.iterdir())
    del streamed
    gc.collect()
    assert not cache.exists()


def test_decoding_a_clip_stops_when_cancelled(shapes_clip):
    import threading

    from nervplayer.errors import Cancelled

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        load_video(str(shapes_clip), cancel=cancel)
