"""The executor contract (nervplayer/jobs) on each executor: this process, local worker processes and a real
Ray cluster started on the loopback address with 2 CPUs."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from nervplayer.errors import ConfigError
from nervplayer.jobs import Job, JobsCancelled, SerialExecutor
from nervplayer.jobs.child import ChildJob, Spare, Task
from nervplayer.jobs.local import LocalExecutor
from nervplayer.jobs.priority import NICENESS

sys.path.insert(0, str(Path(__file__).parent))
import job_fns  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HAS_RAY = importlib.util.find_spec("ray") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray head on 127.0.0.1 with 2 CPUs, its own temporary folder and home (auth token), usage statistics off;
    stopped (its processes only) at the end of the module. Yields its address."""
    if not HAS_RAY:
        pytest.skip('ray is not installed (pip install "nervplayer[cluster]")')
    home, temp = tempfile.mkdtemp(prefix="nvhome"), tempfile.mkdtemp(prefix="nvray")  # short: Ray's socket paths
    port = free_port()
    env = {
        **os.environ,
        "HOME": home,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]),
    }
    ports = [f"--{name}={free_port()}" for name in ("dashboard-port", "dashboard-agent-listen-port")]
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
         f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}",
         *ports],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (Path(temp) / "ray_current_cluster").exists():
            assert head.poll() is None, head.stderr.read().decode()[-2000:] if head.stderr else ""
            assert time.monotonic() < deadline, "the Ray head did not start in 2 minutes"
            time.sleep(0.2)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("HOME", home)
            mp.setenv("PYTHONPATH", env["PYTHONPATH"])
            yield f"127.0.0.1:{port}"
            import ray

            ray.shutdown()
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops its own processes
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # whatever is left of the group started here
        head.wait()


@pytest.fixture(params=["serial", "local", "ray"])
def executor(request):
    if request.param == "serial":
        return SerialExecutor()
    if request.param == "local":
        return LocalExecutor(2)
    from nervplayer.jobs.cluster import RayExecutor

    return RayExecutor(request.getfixturevalue("ray_cluster"))


def test_every_job_ends_with_its_result_and_on_done_in_the_callers_thread(executor):
    seen = []
    results = executor.run(
        [Job(f"j{i}", job_fns.square, (i,)) for i in range(5)],
        lambda done: seen.append((done.key, done.result, done.attempts, threading.current_thread())),
    )
    assert results == {f"j{i}": i * i for i in range(5)}
    assert sorted(seen) == sorted((f"j{i}", i * i, 1, threading.main_thread()) for i in range(5))


def test_a_job_that_raises_a_nerv_error_ends_the_run_with_it(executor, tmp_path):
    jobs = [Job("bad", job_fns.refuse, ("--segment 0 is not a segment length",)),
            Job("long", job_fns.until_stopped, (str(tmp_path / "long"),))]  # fmt: skip
    began = time.monotonic()
    with pytest.raises(ConfigError, match="--segment 0 is not a segment length"):
        executor.run(jobs)
    # the other job was stopped, not waited for (it runs 5 minutes); a loaded machine starts Ray's workers slowly
    assert time.monotonic() - began < 150


def test_a_job_whose_worker_is_killed_runs_again_from_its_checkpoint(executor, tmp_path):
    if isinstance(executor, SerialExecutor):
        pytest.skip("the serial executor's worker is this process")
    clean = job_fns.counting(str(tmp_path / "clean"), 12)
    seen = []
    results = executor.run(
        [Job("killed", job_fns.counting, (str(tmp_path / "killed"), 12, 5)), Job("other", job_fns.square, (3,))],
        seen.append,
    )
    assert results == {"killed": clean, "other": 9}
    assert (tmp_path / "killed" / "starts").read_text().split() == ["0", "5"]  # resumed, not restarted
    assert {d.key: d.attempts for d in seen} == {"killed": 2, "other": 1}


def test_cancel_starts_nothing_more_and_stops_the_running_jobs(executor, tmp_path):
    folders = [tmp_path / f"job{i}" for i in range(4)]
    jobs = [Job(f.name, job_fns.until_stopped, (str(f),)) for f in folders]

    def cancel_when_running():
        deadline = time.monotonic() + 60
        while not (folders[0] / "pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        executor.cancel()

    threading.Thread(target=cancel_when_running, daemon=True).start()
    began = time.monotonic()
    with pytest.raises(JobsCancelled):
        executor.run(jobs)
    assert time.monotonic() - began < 150  # the running jobs stopped at their next step (they run 5 minutes)
    assert not (folders[-1] / "pid").exists()  # never started
    # every running job checkpointed at its stop: asked, not killed (on Ray too: its stop flag, not ray.cancel)
    started = [f for f in folders if (f / "pid").exists()]
    assert started and all((f / "checkpoint").exists() for f in started)
    if isinstance(executor, LocalExecutor):  # and no worker is left
        for f in started:
            with pytest.raises(ProcessLookupError):
                os.kill(int((f / "pid").read_text()), 0)


def test_the_options_choose_the_executor(monkeypatch):
    from nervplayer.jobs.cluster import ClusterError
    from nervplayer.jobs.factory import executor_for

    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(ClusterError, match="cannot reach the Ray cluster at 127.0.0.1:"):
        executor_for()  # RAY_ADDRESS asks for a cluster when no option is given
    assert isinstance(executor_for(workers=3), LocalExecutor)  # --workers wins over RAY_ADDRESS
    with pytest.raises(ConfigError, match="give one of them"):
        executor_for(workers=2, cluster="auto")
    monkeypatch.delenv("RAY_ADDRESS")
    assert executor_for().workers >= 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a nice value is a thread's on Linux only")
@pytest.mark.parametrize("spare", [True, False], ids=["spare", "started for the task"])
def test_a_spare_sets_up_below_the_window_and_runs_its_task_at_the_windows_priority(spare):
    """A spare's imports (seconds of CPU, started as a fit ends) take no CPU from the window; a process started
    for a task the user waits on sets up at the window's priority; every task runs at it (the fit lowers its
    training threads itself)."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    ahead = Spare("nervplayer-test") if spare else None
    if ahead is not None:
        ahead.prepare(job_fns.note_setup_niceness)
        assert ahead.ready(timeout=60)
    job = ChildJob(Task(job_fns.niceness_seen), job_fns.note_setup_niceness, (), "the test's process", spare=ahead)
    ((setup, task),) = list(job)
    assert task == base and setup == (min(19, base + NICENESS) if spare else base)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a nice value is a thread's on Linux only")
def test_a_task_that_comes_while_the_spare_sets_up_gives_the_setup_the_windows_priority(tmp_path):
    """The user waits on a spare's imports once its task has come: they go on at the window's priority where
    the system lets a process raise a priority (root, or RLIMIT_NICE), else below it as before."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    limit = resource.getrlimit(resource.RLIMIT_NICE)[0]
    may_raise = os.geteuid() == 0 or limit == resource.RLIM_INFINITY or base >= 20 - limit
    seen, go = tmp_path / "seen", tmp_path / "go"

    def setup_at(niceness: int) -> bool:
        with contextlib.suppress(OSError, ValueError):  # not written yet, or being written
            return int(seen.read_text()) == niceness
        return False

    ahead = Spare("nervplayer-test")
    ahead.prepare(job_fns.slow_setup, str(seen), str(go))
    wait_for(lambda: setup_at(min(19, base + NICENESS)))  # it sets up below the window
    job = ChildJob(Task(job_fns.niceness_through_setup), job_fns.slow_setup, (), "the test's process", spare=ahead)
    job.start()  # the task comes while the setup works
    if may_raise:
        wait_for(lambda: setup_at(base))
    go.touch()
    ((at_start, at_end, task),) = list(job)
    assert at_start == min(19, base + NICENESS) and task == base
    assert at_end == (base if may_raise else at_start)


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
