"""Jobs as tasks on a Ray cluster (``--cluster auto|ADDRESS``, or ``RAY_ADDRESS``): the optional ``cluster`` extra.

Each job is one Ray task asking for the job's CPUs and, where the cluster has GPUs, one GPU. Ray runs the task on
any node with room; the job's folder must be where every node can read and write it (a shared file system), so a
task that runs again after its worker or node died resumes from the checkpoint its last attempt wrote. Ray's own
retries are off: this executor resubmits a task whose worker died (``retries`` times at most), so the attempts
are counted as the local executor counts them.

What this module changes in Ray's defaults, and why:

- usage statistics stay off (``RAY_USAGE_STATS_ENABLED=0``) unless the user set that variable themselves;
- on a loopback address (a cluster started on this machine with ``--node-ip-address 127.0.0.1``) this process
  joins as 127.0.0.1 too (``_node_ip_address``, and ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` so Ray's own lookup
  does not swap in another interface's address);
- an address is first reached with a plain TCP connection (a few seconds at most), so a wrong one is one line
  before Ray starts anything, rather than Ray's minute of retries.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

from ..errors import Cancelled, NervError
from . import Job, JobDone, JobsCancelled, WorkerDied, check_unique, request_stop

INSTALL = 'pip install "nervplayer[cluster]"'
#: Seconds to wait for a cluster's address to answer before saying it cannot be reached.
CONNECT_TIMEOUT_S = 5.0
#: Seconds running tasks get to end after a cancel or an error before they are killed.
STOP_GRACE_S = 60.0
#: Seconds between a task's looks at its run's :class:`StopFlag`.
STOP_POLL_S = 0.25
DEFAULT_PORT = 6379  # what `ray start --head` listens on unless told otherwise
CLIENT_PORT = 10001  # Ray Client (ray://) servers


class ClusterError(NervError):
    """The Ray cluster cannot be used: Ray is not installed, or the address cannot be reached."""


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--cluster runs jobs on Ray, which is not installed: {INSTALL}") from None
    return ray


def check_installed() -> None:
    """Ray is installed (found without importing it: some of its settings are read at import)."""
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        import_ray()  # the one message


def host_port(address: str) -> tuple[str, int]:
    """``"10.0.0.5:6379"``, ``"ray://head:10001"``, ``"[::1]:6379"``, ``"head"`` → (host, port)."""
    rest = address.removeprefix("ray://")
    default = CLIENT_PORT if rest != address else DEFAULT_PORT
    host, sep, port = rest.rpartition(":")
    if not sep or "]" in port:  # no port (an IPv6 literal's colons are inside brackets)
        host, port = rest, ""
    host = host.strip("[]")
    try:
        number = int(port) if port else default
    except ValueError:
        raise ClusterError(f"--cluster must be auto or HOST:PORT, got {address!r}") from None
    if not host or not 0 < number < 65536:
        raise ClusterError(f"--cluster must be auto or HOST:PORT, got {address!r}")
    return host, number


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_reachable(address: str, host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        reason = "no answer" if isinstance(e, TimeoutError) else (e.strerror or str(e) or type(e).__name__).lower()
        raise ClusterError(
            f"cannot reach the Ray cluster at {address} ({reason} within {CONNECT_TIMEOUT_S:.0f} s): start one with "
            f"`ray start --head` there, or check the address and the firewall"
        ) from None


def auto_address() -> str:
    """The address of the cluster ``ray start --head`` started on this machine (what Ray's ``auto`` means), read
    from the file Ray leaves in its temporary folder, without importing Ray (see :class:`RayExecutor`)."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    if "RAY_TMPDIR" in os.environ:  # Ray's own order of temporary folders
        temp = os.environ["RAY_TMPDIR"]
    elif sys.platform.startswith("linux") and "TMPDIR" in os.environ:
        temp = os.environ["TMPDIR"]
    else:
        temp = "/tmp" if sys.platform.startswith(("linux", "darwin")) else tempfile.gettempdir()
    try:
        return (Path(temp) / "ray" / "ray_current_cluster").read_text().strip()
    except OSError:
        raise ClusterError(
            "--cluster auto: no Ray cluster runs on this machine; start one with `ray start --head`"
        ) from None


class StopFlag:
    """What a run tells its tasks (a Ray actor of no CPU, one per run): set once the run stops them, a cancel or
    another job's error. Ray's own ``cancel`` of a running task raises KeyboardInterrupt in it only between Python
    bytecodes, and not at all in a task waiting in C (ray-project/ray#32954): it can neither reach a job reliably
    nor let it save its checkpoint first."""

    def __init__(self) -> None:
        self.stopped = False

    def set(self) -> None:
        self.stopped = True

    def get(self) -> bool:
        return self.stopped


def _call(fn: Callable[..., Any], args: tuple[Any, ...], threads: int, flag: Any) -> tuple[Any, float]:
    """A job inside a Ray task: torch gets the task's CPUs as threads; a thread polls the run's :class:`StopFlag`
    (every :data:`STOP_POLL_S`) and answers :func:`~nervplayer.jobs.stop_requested` from it; returns the job's
    result and wall time."""
    ray = sys.modules["ray"]
    request_stop(False)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(STOP_POLL_S):
            try:
                if ray.get(flag.get.remote()):
                    request_stop()
                    return
            except Exception:  # the run (and its flag) is gone: its tasks are being killed anyway
                return

    if ray.get(flag.get.remote()):
        raise Cancelled("stopped before it started")
    threading.Thread(target=watch, daemon=True).start()
    if "torch" in sys.modules:  # imported with the job's module, as the task's arguments arrived
        sys.modules["torch"].set_num_threads(threads)
    began = time.perf_counter()
    try:
        return fn(*args), time.perf_counter() - began
    finally:
        done.set()


class RayExecutor:
    """Runs jobs as tasks of the Ray cluster at ``address`` (``auto``: the one started on this machine). Connects
    at once: an unreachable address raises :class:`ClusterError` before anything is started."""

    def __init__(self, address: str, retries: int = 2) -> None:
        self.retries = retries
        check_installed()
        target = auto_address() if address == "auto" else address
        host, port = host_port(target)
        check_reachable(address, host, port)
        options: dict[str, Any] = {}
        if is_loopback(host):  # read when Ray is imported: set first
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            options["_node_ip_address"] = "127.0.0.1"
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            try:
                ray.init(address=target, logging_level=logging.WARNING, log_to_driver=False, **options)
            except Exception as e:  # ConnectionError, an auth token mismatch, a version mismatch ...
                lines = str(e).strip().splitlines()
                raise ClusterError(f"cannot join the Ray cluster at {address}: {lines[0] if lines else e!r}") from None
        resources = ray.cluster_resources()
        self.cpus, self.gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
        self.workers = self.gpus or max(1, self.cpus)
        self.name = f"ray at {target} ({self.cpus} CPUs, {self.gpus} GPUs)"
        self._remote = ray.remote(_call)
        self._flag = ray.remote(num_cpus=0)(StopFlag)
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    def _submit(self, job: Job, flag: Any) -> Any:
        return self._remote.options(
            name=f"nervplayer {job.key}",
            num_cpus=job.cpus,
            num_gpus=job.gpus or (1 if self.gpus else 0),
            max_retries=0,  # a dead worker's task is resubmitted by run(), which counts the attempts
            retry_exceptions=False,
        ).remote(job.fn, job.args, max(1, round(job.cpus)), flag)

    def run(self, jobs: Sequence[Job], on_done: Callable[[JobDone], None] | None = None) -> dict[str, Any]:
        ray, exceptions = self._ray, self._ray.exceptions
        died = tuple(
            getattr(exceptions, name)
            for name in ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "LocalRayletDiedError")
            if hasattr(exceptions, name)
        )
        check_unique(jobs)
        self._cancelled.clear()
        attempts = dict.fromkeys((job.key for job in jobs), 1)
        flag = self._flag.remote()
        refs = {self._submit(job, flag): job for job in jobs}
        results: dict[str, Any] = {}
        failure: BaseException | None = None
        stop_by: float | None = None
        try:
            while refs:
                stopping = failure is not None or self._cancelled.is_set()
                if stopping and stop_by is None:
                    stop_by = time.monotonic() + STOP_GRACE_S
                    flag.set.remote()  # running jobs stop at their next step, with their checkpoints; queued
                    # ones end as they start
                if stop_by is not None and time.monotonic() > stop_by:
                    break
                done, _ = ray.wait(list(refs), num_returns=1, timeout=0.2)
                for ref in done:
                    job = refs.pop(ref)
                    try:
                        result, seconds = ray.get(ref)
                    except exceptions.TaskCancelledError:
                        continue
                    except died as e:
                        if stopping:
                            continue
                        if attempts[job.key] > self.retries:
                            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                            failure = WorkerDied(
                                f"job {job.key}: its Ray worker died on each of {attempts[job.key]} attempts ({first})"
                            )
                        else:
                            attempts[job.key] += 1
                            refs[self._submit(job, flag)] = job  # it resumes from its checkpoint
                        continue
                    except exceptions.RayTaskError as e:
                        cause = e.cause if isinstance(e.cause, BaseException) else e
                        if not (stopping and isinstance(cause, (NervError, KeyboardInterrupt))):
                            failure = failure or (cause if isinstance(cause, NervError) else e)
                        continue
                    results[job.key] = result
                    if on_done is not None:
                        on_done(JobDone(job.key, result, seconds, attempts[job.key]))
        finally:
            for ref in refs:  # what did not stop in time (or the caller's own error): no task outlives the run
                ray.cancel(ref, force=True)
            ray.kill(flag)
        if failure is not None:
            raise failure
        if self._cancelled.is_set() and len(results) < len(jobs):
            raise JobsCancelled(f"cancelled: {len(results)} of {len(jobs)} jobs finished")
        return {job.key: results[job.key] for job in jobs}
