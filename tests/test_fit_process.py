"""A fit in a child process (train/remote.py, train/child.py): events in order, the parent's copy of the final
weights, pause / resume / cancel with a resumable checkpoint, errors that keep their type, and no child left
behind when the parent is killed."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from multiprocessing import resource_tracker
from pathlib import Path

import numpy as np
import pytest
import torch
from processes import gone, stop

from nervplayer import plugins
from nervplayer.errors import ConfigError, NervError, PluginError
from nervplayer.jobs.child import ChildError, portable
from nervplayer.jobs.priority import NICENESS
from nervplayer.model.render import render
from nervplayer.train import (
    Checkpointed,
    Evaluated,
    Finished,
    FitConfig,
    Fitter,
    Paused,
    Resumed,
    Started,
    Step,
    decoder,
    open_run,
    remote,
)
from nervplayer.train.checkpoint import load_checkpoint
from nervplayer.train.child import SNAPSHOT_SECONDS, ModelCopy
from nervplayer.train.remote import FitProcess, RemoteFitter

REPO = Path(__file__).resolve().parent.parent
TINY = {"stem_dim": 32, "fc_c": 4, "lower_width": 4}


def config(clip: Path, **changes) -> FitConfig:
    return replace(FitConfig(video=str(clip), arch="nerv", preset="nerv-xs", epochs=2, end=4, model=TINY), **changes)


def test_events_arrive_in_order_and_the_parent_decodes_with_the_final_weights(tmp_path, shapes_clip):
    run = tmp_path / "run"
    process = FitProcess(config(shapes_clip, eval_every=1), run)
    events = list(process)
    remote = events[0]
    assert isinstance(remote, RemoteFitter) and remote.pid != os.getpid()
    assert isinstance(events[1], Started) and isinstance(events[-1], Finished)
    assert events[-1].status == "completed" and events[-1].weights_path
    steps = [e.step for e in events if isinstance(e, Step)]
    assert steps == list(range(1, 9))  # 4 frames, batch 1, 2 epochs
    evaluated = [e for e in events if isinstance(e, Evaluated)]
    assert len(evaluated) == 2 and evaluated[-1].preview is not None and evaluated[-1].preview.shape == (64, 64, 3)
    assert process.exitcode == 0

    assert (remote.num_frames, remote.store.height, remote.store.width) == (4, 64, 64)
    in_thread = Fitter(config(shapes_clip))  # the same options, fitted here: what the remote must describe
    assert (remote.device, remote.precision, remote.spec) == (in_thread.device, in_thread.precision, in_thread.spec)
    expected = render(open_run(run).build_model(), [0, 1, 2, 3], 4)
    assert np.array_equal(remote.decode([0, 1, 2, 3]), expected)
    assert np.array_equal(evaluated[-1].preview, expected[0])
    # The ground truth the player compares with is the fit's frame range at the fitted size.
    assert np.array_equal(remote.store.get([0, 3]).numpy(), in_thread.store.get([0, 3]).numpy())
    # The status bar speaks of the fit's process: its resident memory, as its last snapshot reported it.
    memory, label = remote.memory
    assert label == "RSS" and memory is not None and memory > 50 * 2**20  # torch alone holds more than that


def test_a_rate_aware_content_adaptive_fit_decodes_as_its_fitter_does(tmp_path, shapes_clip):
    """QAT (the stored tensors decode quantized) on HNeRV (latents written into the model): the parent's copy
    decodes bit for bit what the same fit in this process decodes."""
    hnerv = config(shapes_clip, arch="hnerv", preset=None, budget=20_000, model={}, qat=True)
    here = Fitter(hnerv, tmp_path / "here")
    list(here.run())
    process = FitProcess(hnerv, tmp_path / "child")
    list(process)
    assert process.fitter is not None
    assert np.array_equal(process.fitter.decode(range(4)), here.decode(range(4)))


def test_pause_resume_and_cancel_leave_a_resumable_checkpoint(tmp_path, shapes_clip):
    run = tmp_path / "run"
    process = FitProcess(config(shapes_clip, epochs=500, eval_every=100), run)
    events = iter(process)
    remote = next(events)
    assert isinstance(remote, RemoteFitter)
    seen: list = []
    for event in events:
        seen.append(event)
        if isinstance(event, Step) and event.step == 2:
            remote.pause()
        elif isinstance(event, Paused):
            assert remote.paused
            remote.resume()
        elif isinstance(event, Resumed):
            assert not remote.paused
        elif isinstance(event, Step) and any(isinstance(e, Resumed) for e in seen) and event.step >= 6:
            remote.cancel()  # only once resumed: the steps read here may run ahead of the pause the child takes
    kinds = [type(e).__name__ for e in seen]
    assert kinds.index("Paused") < kinds.index("Resumed") and kinds[-2:] == ["Checkpointed", "Finished"]
    finished = seen[-1]
    assert finished.status == "cancelled" and finished.step < 500 * 4
    assert isinstance(seen[-2], Checkpointed) and process.exitcode == 0
    done = load_checkpoint(run / "checkpoint.pt")["step"]
    assert done == finished.step

    resumed = Fitter(config(shapes_clip, epochs=int(finished.epoch) + 1, eval_every=100), run, resume=True)
    events = list(resumed.run())
    assert events[0].start_epoch == pytest.approx(finished.epoch)
    assert events[-1].status == "completed" and events[-1].step > done


def test_a_quick_pause_and_resume_never_reports_paused_while_it_runs(tmp_path, shapes_clip):
    """The child's report of a pause or a resume arrives a while after it took it (a weight snapshot first, then
    the pipe; here the consumer sleeps instead): a report the user's next click has made stale is not passed on,
    so the window never shows "paused" while the fit runs, nor "running" while it is paused."""
    process = FitProcess(config(shapes_clip, epochs=500, eval_every=100), tmp_path / "run")
    events = iter(process)
    remote = next(events)
    reported: list[tuple[str, bool]] = []  # each Paused / Resumed passed on, and whether paused was asked then
    stage = "pause and resume"
    for event in events:
        if isinstance(event, (Paused, Resumed)):
            reported.append((type(event).__name__, remote.paused))
        if stage == "pause and resume" and isinstance(event, Step):
            remote.pause()
            time.sleep(1.0)  # the child pauses and reports it; the user resumes before the report is read
            remote.resume()
            stage = "running"
        elif stage == "running" and isinstance(event, Step) and event.step >= 10:  # past the first pause
            remote.pause()
            stage = "pausing"
        elif stage == "pausing" and isinstance(event, Paused):
            remote.resume()
            time.sleep(1.0)  # the child resumes and reports it; the user pauses again before the report is read
            remote.pause()
            threading.Timer(1.0, remote.cancel).start()
            stage = "paused again"
    assert stage == "paused again"
    assert all(paused == (kind == "Paused") for kind, paused in reported), reported
    assert reported[-1] == ("Resumed", False)  # the cancel resumed it


def test_a_user_error_in_the_child_arrives_as_itself(tmp_path, shapes_clip):
    with pytest.raises(PluginError, match="unknown loss 'nope'"):  # the plugins are checked in the child
        list(FitProcess(config(shapes_clip, loss="nope"), tmp_path / "run"))


def test_a_bug_in_the_child_arrives_with_its_type_and_traceback(tmp_path, shapes_clip, monkeypatch):
    user = tmp_path / "user-plugins"
    user.mkdir()
    (user / "boom.py").write_text(
        textwrap.dedent(
            """
            def boom(pred, target):
                if pred.shape[-1] == 64:  # the test clip's width: the loader's smoke test (32x32) passes
                    raise RuntimeError("the loss exploded")
                return (pred - target).abs().mean()

            def register(r):
                r.loss("boom", lambda: boom, description="fails on the first step of a fit")
            """
        )
    )
    plugins.configure(user_dir=user)  # the child loads plugins as the parent does
    with pytest.raises(ChildError) as caught:
        list(FitProcess(config(shapes_clip, loss="boom"), tmp_path / "run"))
    error = caught.value
    assert (error.type_name, error.message) == ("RuntimeError", "the loss exploded")
    assert "boom.py" in error.details and str(error) == "RuntimeError: the loss exploded"


def test_a_child_that_dies_is_an_error_not_a_hang(tmp_path, shapes_clip):
    process = FitProcess(config(shapes_clip, epochs=500, eval_every=100), tmp_path / "run")
    events = iter(process)
    remote = next(events)
    with pytest.raises(NervError, match="ended unexpectedly"):
        for event in events:
            if isinstance(event, Step) and event.step == 2:
                os.kill(remote.pid, signal.SIGKILL)  # e.g. the system's out-of-memory killer
    assert process.exitcode == -signal.SIGKILL


def test_errors_travel_as_their_kind():
    assert type(portable(ConfigError("bad size"))) is ConfigError
    bug = portable(KeyError("k"))
    assert isinstance(bug, ChildError) and bug.type_name == "KeyError"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_consumer_that_raises_still_leaves_a_resumable_checkpoint_and_no_open_pipe(tmp_path, shapes_clip):
    """The consumer stops reading while the child sends on: stopping still reaches the child, which keeps its
    checkpoint and ends in seconds, and the pipes are closed."""
    run = tmp_path / "run"
    resource_tracker.ensure_running()  # one per parent, started by the first fit's process: not the fit's
    open_files = len(os.listdir("/proc/self/fd"))
    process = FitProcess(config(shapes_clip, epochs=500, eval_every=100), run)
    with pytest.raises(RuntimeError, match="the consumer failed"):
        for event in process:
            if isinstance(event, Step) and event.step == 2:
                time.sleep(2 * SNAPSHOT_SECONDS)  # a slow consumer: the child steps on and sends a snapshot
                stopped = time.monotonic()
                raise RuntimeError("the consumer failed")
    assert time.monotonic() - stopped < 5.0
    assert process.exitcode == 0  # it ended by itself, not killed
    assert load_checkpoint(run / "checkpoint.pt")["step"] >= 2
    resumed = Fitter(config(shapes_clip, epochs=500, eval_every=100), run, resume=True)
    assert resumed.step == load_checkpoint(run / "checkpoint.pt")["step"]
    assert len(os.listdir("/proc/self/fd")) == open_files


def test_an_error_in_the_iterator_itself_still_lets_the_child_end_with_its_checkpoint(
    tmp_path, shapes_clip, monkeypatch
):
    real = remote.ground_truth  # the clip seems to change while the fit starts: the iterator raises
    monkeypatch.setattr(remote, "ground_truth", lambda config, video=None: real(replace(config, end=3), video))
    process = FitProcess(config(shapes_clip, epochs=500, eval_every=100), tmp_path / "run")
    with pytest.raises(NervError, match="changed while the fit started"):
        list(process)
    assert process.exitcode == 0  # it ended by itself, not killed
    assert (tmp_path / "run" / "checkpoint.pt").is_file()


def _thread_niceness(pid: int) -> dict[int, int]:
    """Each thread's nice value, from /proc/PID/task/TID/stat (field 19; the name in field 2 may hold spaces)."""
    niceness = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rpartition(")")[2].split()  # fields 3, 4, ... of the line
        niceness[int(task.name)] = int(fields[19 - 3])
    return niceness


def _thread_cpu_ns(pid: int) -> dict[int, int]:
    """Each thread's time on a CPU so far, in nanoseconds (/proc/PID/task/TID/schedstat, its first field)."""
    return {
        int(task.name): int((task / "schedstat").read_text().split()[0]) for task in Path(f"/proc/{pid}/task").iterdir()
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_fit_process_trains_at_the_lower_priority_and_decodes_at_the_windows(tmp_path, shapes_clip):
    """Every thread that trains runs at the lower priority; the one that decodes the player's frames (and the
    compute threads it starts) at the window's: a scrub during a fit does not wait behind the training."""
    process = FitProcess(config(shapes_clip, epochs=500, eval_every=100), tmp_path / "run")
    events = iter(process)
    remote = next(events)
    try:
        for event in events:
            if isinstance(event, Step) and event.step == 4:  # past the first steps: torch's threads exist
                niceness = _thread_niceness(remote.pid)
                remote.decode([1])  # the frames' thread computes: its compute threads start now
                after = _thread_niceness(remote.pid)
                break
    finally:
        events.close()
    base = os.getpriority(os.PRIO_PROCESS, 0)
    lower = min(19, base + NICENESS)
    assert len(niceness) > 2 and sorted(niceness.values()) == [base] + [lower] * (len(niceness) - 1), niceness
    assert all(after[tid] == value for tid, value in niceness.items() if tid in after), after
    assert all(value == base for tid, value in after.items() if tid not in niceness), after


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_live_frames_are_decoded_beside_the_child_and_the_weights_travel_once(tmp_path, shapes_clip, monkeypatch):
    """While the fit runs the parent holds no weights: the child decodes the frames asked for from its latest
    snapshot (paused: the weights the checkpoint keeps) until its decode process, started by that first request,
    serves them (the same frames, even with the child stopped), and ends with the fit; the final weights come
    with the Finished, and the parent decodes the same frames, bit for bit, once the child has ended."""
    monkeypatch.setattr(remote, "FRAME_TIMEOUT_S", 5.0)  # the stopped child, if asked, fails the test soon
    # the children's temporary folder, where they leave nothing; longer than a socket's path may be (107 bytes):
    # their listener's address is abstract, and a user's long TMPDIR refused it when it was a file in there
    temp = tmp_path / ("temporary-" + "x" * 100)
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    run = tmp_path / "run"
    process = FitProcess(config(shapes_clip, epochs=500, eval_every=100), run)
    events = iter(process)
    fitter = next(events)
    assert isinstance(fitter, RemoteFitter)
    while_paused = decoder_pid = None
    for event in events:
        if isinstance(event, Step) and event.step == 3:
            fitter.pause()
        elif isinstance(event, Paused):
            while_paused = fitter.decode([0, 1, 2, 3])  # the child's: its decode process starts now
            assert fitter._copy is None  # decoded by the child: no weights here yet
            floats = fitter.predict([2])
            assert floats.dtype == torch.float32 and floats.shape == (1, 3, 64, 64)
            assert process.decoder is not None and process.decoder.ready(timeout=60)
            decoder_pid = process.decoder.pid
            assert decoder_pid not in (None, fitter.pid, os.getpid())
            stop(fitter.pid)  # the child answers nothing now: the decode process does
            try:
                cpu = _thread_cpu_ns(decoder_pid)
                assert np.array_equal(fitter.decode([0, 1, 2, 3]), while_paused)
                assert torch.equal(fitter.predict([2]), floats)
                worked = {tid for tid, ns in _thread_cpu_ns(decoder_pid).items() if ns > cpu.get(tid, 0)}
            finally:
                os.kill(fitter.pid, signal.SIGCONT)
            # the threads that decoded, and the process's main thread, at the window's priority (its set-up ran
            # below it, in a thread of its own: the idle pools libraries started then stay there)
            base = os.getpriority(os.PRIO_PROCESS, 0)
            niceness = _thread_niceness(decoder_pid)
            assert worked and {niceness[tid] for tid in worked | {decoder_pid}} == {base}, (worked, niceness)
            fitter.cancel()
    assert decoder_pid is not None and gone(decoder_pid)  # it ended with the fit
    assert not list(temp.iterdir())  # their sockets' folders too (the children end without the usual teardown)
    assert while_paused is not None and process.exitcode == 0 and fitter._copy is not None
    assert np.array_equal(fitter.decode([0, 1, 2, 3]), while_paused)  # here, from the final weights
    checkpoint = Fitter(config(shapes_clip, epochs=500, eval_every=100), tmp_path / "run", resume=True)
    kept = ModelCopy(checkpoint.spec, checkpoint.device, checkpoint.num_frames)  # the fit's model runs channels
    kept.load(checkpoint.model.state_dict())  # last, a copy contiguous: compare the weights through one layout
    assert np.array_equal(kept.decode([0, 1, 2, 3]), while_paused)


def _gives_up_on_a_hung(pid: int, fitter: RemoteFitter, match: str) -> None:
    """With process ``pid`` stopped (hung: it answers nothing), a decode fails within the timeout, not forever."""
    stop(pid)
    try:
        asked = time.monotonic()
        with pytest.raises(NervError, match=match):
            fitter.decode([0])
        assert time.monotonic() - asked < 10
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_decode_never_waits_on_a_child_that_is_dead_or_hung(tmp_path, shapes_clip, monkeypatch):
    monkeypatch.setattr(remote, "FRAME_TIMEOUT_S", 2.0)
    process = FitProcess(config(shapes_clip, epochs=500, eval_every=100), tmp_path / "run")
    events = iter(process)
    fitter = next(events)
    for event in events:
        if isinstance(event, Step):
            break
    _gives_up_on_a_hung(fitter.pid, fitter, "answered no decode request")
    assert fitter.decode([0]).shape == (1, 64, 64, 3)  # the late answer to the request given up is not taken
    decoder = process.decoder  # the same for the decode process that those requests started
    assert decoder is not None and decoder.ready(timeout=60) and decoder.pid is not None
    _gives_up_on_a_hung(decoder.pid, fitter, "decode process answered no decode request")
    with pytest.warns(RuntimeWarning, match="decode process ended unexpectedly"):
        os.kill(decoder.pid, signal.SIGKILL)  # its crash is reported; the fit goes on, the child decodes
        deadline = time.monotonic() + 10
        while decoder.failure is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert fitter.decode([0]).shape == (1, 64, 64, 3)
    assert any(isinstance(event, Step) for event in itertools.islice(events, 3))
    os.kill(fitter.pid, signal.SIGKILL)  # dead, with no final weights sent
    with pytest.raises(NervError, match="ended unexpectedly"):
        for _ in events:
            pass
    asked = time.monotonic()
    with pytest.raises(NervError, match="ended without its weights"):
        fitter.decode([0])
    assert time.monotonic() - asked < 2


def test_a_spare_process_started_ahead_takes_the_next_fit_even_while_it_starts(tmp_path, shapes_clip):
    remote.prepare_spare()
    deadline = time.monotonic() + 10
    while (pid := remote.spare_pid()) is None:  # started in the background
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process = FitProcess(config(shapes_clip), tmp_path / "run")  # at once: the spare is still importing torch
    events = list(process)
    assert events[0].pid == pid and events[-1].status == "completed" and remote.spare_pid() is None

    remote.prepare_spare()  # a spare that died meanwhile is replaced by a new process
    deadline = time.monotonic() + 10
    while (pid := remote.spare_pid()) is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    while not gone(pid):
        time.sleep(0.01)
    process = FitProcess(config(shapes_clip), tmp_path / "again")
    events = list(process)
    assert events[0].pid != pid and events[-1].status == "completed"

    remote.prepare_spare()
    assert remote.spare_ready(timeout=120)  # it has imported torch and loaded the plugins: a fit starts at once
    pid, decoding = remote.spare_pid(), decoder.spare_pid()  # and its decode process's spare beside it
    remote.close_spare()  # quitting: the spares end, nothing is left running
    assert pid is not None and gone(pid) and decoding is not None and gone(decoding)
    assert remote.spare_pid() is None and decoder.spare_pid() is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("end", ["kill -9", "exit"])
def test_a_parent_that_dies_or_exits_leaves_no_child(tmp_path, shapes_clip, end):
    run = tmp_path / "run"
    script = textwrap.dedent(
        f"""
        from nervplayer.train import FitConfig, Step
        from nervplayer.train.remote import FitProcess

        if __name__ == "__main__":
            config = FitConfig(video={str(shapes_clip)!r}, arch="nerv", preset="nerv-xs", epochs=500, eval_every=100,
                               end=4, model={TINY!r})
            process = FitProcess(config, {str(run)!r})
            for event in process:
                if isinstance(event, Step):
                    print(process.process.pid, flush=True)
                    break
            if {end!r} == "exit":
                raise SystemExit(0)  # mid-fit: the exit handler cancels the child and waits for its checkpoint
            input()  # wait here until killed
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = int(parent.stdout.readline())
        assert not gone(child)
        if end == "kill -9":
            parent.send_signal(signal.SIGKILL)
        assert parent.wait(timeout=60) == (-signal.SIGKILL if end == "kill -9" else 0)
        deadline = time.monotonic() + 60
        while not gone(child):
            assert time.monotonic() < deadline, "the fit's child process outlived its parent"
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.wait()
    assert load_checkpoint(run / "checkpoint.pt")["step"] > 0  # it cancelled and kept its work
