"""The window's bulk work runs below its GUI thread: ``run_lowered`` and the decodes that use it."""

import os
import sys
import threading

import pytest

from nervplayer.jobs.priority import WORKER_NICENESS, run_lowered
from nervplayer.train import remote
from nervplayer.train.config import FitConfig
from nervplayer.video import source
from nervplayer.video.source import load_video

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@linux
def test_work_runs_in_another_thread_below_the_callers_priority_and_the_caller_keeps_its_own():
    before = _nice()
    seen = run_lowered(lambda: (threading.get_native_id(), _nice()))
    assert seen[0] != threading.get_native_id()
    assert seen[1] == min(19, before + WORKER_NICENESS)
    assert _nice() == before


def test_the_works_exception_is_raised_in_the_caller():
    class Broken(Exception):
        pass

    error = Broken("decoding failed")

    def fail() -> None:
        raise error

    with pytest.raises(Broken) as raised:
        run_lowered(fail)
    assert raised.value is error


@linux
def test_a_clip_to_look_at_and_a_fits_ground_truth_are_decoded_below_the_callers_priority(shapes_clip, monkeypatch):
    seen: list[int] = []

    def watched(decode):
        def frames(*args, **kwargs):
            seen.append(_nice())
            yield from decode(*args, **kwargs)

        return frames

    monkeypatch.setattr(source, "iter_frames", watched(source.iter_frames))
    monkeypatch.setattr(remote, "iter_frames", watched(remote.iter_frames))
    clip = load_video(str(shapes_clip))
    truth = remote.ground_truth(FitConfig(video=str(shapes_clip), epochs=1))
    assert clip.num_frames == truth.num_frames > 0
    assert seen == [min(19, _nice() + WORKER_NICENESS)] * 2
