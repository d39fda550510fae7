"""Jobs in worker processes on this machine: one per GPU, or one per group of CPU cores.

Each worker is a spawned process (a fresh interpreter: no state, threads or CUDA context copied from the caller)
that takes one job at a time through a pipe and sends back its result. A worker that dies mid-job (killed,
out of memory, a crash in native code) is replaced and the job runs again, up to ``retries`` times: the job
resumes from its own checkpoint. A worker whose caller dies sees its pipe close and exits, so no worker outlives
the run; Ctrl-C reaches the caller only (workers ignore SIGINT), which cancels the run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from collections import deque
from multiprocessing.process import BaseProcess
from typing import Any, Callable, Sequence

from ..errors import NervError
from . import Job, JobDone, JobsCancelled, WorkerDied, available_cpus, check_unique, cuda_devices, request_stop

#: Seconds running jobs get to stop at their next step (after a cancel or an error) before their worker is killed.
STOP_GRACE_S = 60.0


class RemoteTraceback(Exception):
    """The traceback of an unexpected error in a worker (chained to the error the caller sees)."""

    def __str__(self) -> str:
        return f"\n\n--- in the worker process ---\n{self.args[0]}"


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a NervError or RuntimeError with its message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return (NervError if isinstance(exc, NervError) else RuntimeError)(f"{type(exc).__name__}: {exc}")


def _worker_main(conn: multiprocessing.connection.Connection, threads: int, gpu: int | None) -> None:
    """A worker process: run the jobs that come through ``conn`` one at a time until told to exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller handles Ctrl-C and stops the jobs
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # before CUDA starts: the job's "cuda" is this GPU
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)  # before torch is imported (by the first job's module)
    jobs: queue.Queue[tuple[str, Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue()

    def listen() -> None:  # a stop must arrive while a job runs, so one thread reads the pipe
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the caller is gone: so is its run
                os._exit(1)
            if message == "stop":
                request_stop()
            else:
                # a new job starts unstopped; cleared here, in the order the messages came, so a stop that
                # arrives before the job's first step is not cleared by the job's start
                request_stop(False)
                jobs.put(message)
                if message is None:
                    return

    threading.Thread(target=listen, daemon=True).start()
    while (message := jobs.get()) is not None:
        key, fn, args = message
        if "torch" in sys.modules:  # the job's module imported it: its intra-op threads are this worker's cores
            sys.modules["torch"].set_num_threads(threads)
        began = time.perf_counter()
        try:
            reply: tuple[Any, ...] = ("done", key, fn(*args), time.perf_counter() - began)
        except BaseException as e:
            reply = ("error", key, _sendable(e), "".join(traceback.format_exception(type(e), e, e.__traceback__)))
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            conn.send(("error", key, RuntimeError(f"the result of job {key} cannot be sent back: {e}"), ""))
        except (BrokenPipeError, OSError):
            os._exit(1)


class _Worker:
    def __init__(self, ctx: multiprocessing.context.SpawnContext, threads: int, gpu: int | None) -> None:
        self.conn, child = ctx.Pipe()
        self.process: BaseProcess = ctx.Process(target=_worker_main, args=(child, threads, gpu), name="nervplayer-job")
        self.process.start()
        child.close()
        self.gpu = gpu
        self.job: Job | None = None

    def give(self, job: Job) -> None:
        self.job = job
        self.conn.send((job.key, job.fn, job.args))

    def ask(self, message: str | None) -> None:
        with contextlib.suppress(OSError):  # it has died already
            self.conn.send(message)


class LocalExecutor:
    """Runs jobs in ``workers`` processes on this machine: with GPUs, worker ``i`` has GPU ``i % gpus``; without,
    each worker's torch uses ``cores // workers`` threads. A job whose worker died runs again, ``retries`` times
    at most."""

    def __init__(self, workers: int, retries: int = 2, gpus: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.retries = retries
        self.gpus = cuda_devices() if gpus is None else gpus
        self.threads = max(1, available_cpus() // workers)
        per = f"one GPU each of {self.gpus}" if self.gpus else f"{self.threads} CPU thread{'s' * (self.threads > 1)}"
        self.name = f"{workers} local worker{'s' * (workers > 1)} ({per})"
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    def run(self, jobs: Sequence[Job], on_done: Callable[[JobDone], None] | None = None) -> dict[str, Any]:
        check_unique(jobs)
        self._cancelled.clear()
        ctx = multiprocessing.get_context("spawn")
        pending, attempts = deque(jobs), dict.fromkeys((job.key for job in jobs), 0)
        results: dict[str, Any] = {}
        count = min(self.workers, len(jobs))
        workers = [_Worker(ctx, self.threads, i % self.gpus if self.gpus else None) for i in range(count)]
        failure: BaseException | None = None
        stop_by: float | None = None  # once stopping: the time the running jobs have to end
        try:
            while True:
                stopping = failure is not None or self._cancelled.is_set()
                if stopping and stop_by is None:
                    stop_by = time.monotonic() + STOP_GRACE_S
                    for w in workers:
                        if w.job is not None:
                            w.ask("stop")
                busy = [w for w in workers if w.job is not None]
                if not stopping:
                    for dead in [w for w in workers if w.job is None and not w.process.is_alive()]:
                        dead.conn.close()  # died between jobs: replaced before it is given one
                        workers[workers.index(dead)] = _Worker(ctx, self.threads, dead.gpu)
                    for w in workers:
                        if w.job is None and pending:
                            job = pending.popleft()
                            attempts[job.key] += 1
                            w.give(job)
                            busy.append(w)
                if not busy or (stop_by is not None and time.monotonic() > stop_by):
                    break
                ready = multiprocessing.connection.wait([w.conn for w in busy], timeout=0.2)
                for w in busy:
                    if w.conn not in ready:
                        continue
                    running = w.job
                    assert running is not None
                    try:
                        reply = w.conn.recv()
                    except (EOFError, OSError):  # the worker died mid-job
                        w.process.join(5)
                        w.conn.close()
                        code = w.process.exitcode
                        workers.remove(w)
                        if stopping:
                            continue
                        workers.append(_Worker(ctx, self.threads, w.gpu))
                        if attempts[running.key] > self.retries:
                            failure = WorkerDied(
                                f"job {running.key}: its worker process died on each of {attempts[running.key]} "
                                f"attempts (exit code {code}{'; out of memory?' if code == -signal.SIGKILL else ''})"
                            )
                        else:
                            pending.appendleft(running)  # again, first: it resumes from its checkpoint
                        continue
                    w.job = None
                    if reply[0] == "done":
                        _, key, result, seconds = reply
                        results[key] = result
                        if on_done is not None:
                            on_done(JobDone(key, result, seconds, attempts[key]))
                    elif failure is None and not (stopping and isinstance(reply[2], NervError)):
                        failure = reply[2]  # a NervError as it is; a bug with its traceback in the worker
                        if not isinstance(failure, NervError) and reply[3]:
                            failure.__cause__ = RemoteTraceback(reply[3])
            if failure is not None:
                raise failure
            if self._cancelled.is_set() and len(results) < len(jobs):
                raise JobsCancelled(f"cancelled: {len(results)} of {len(jobs)} jobs finished")
            return {job.key: results[job.key] for job in jobs}
        finally:
            _shut_down(workers)


def _shut_down(workers: list[_Worker]) -> None:
    """Ask every worker to exit and wait; kill what is still running (its job checkpointed or is lost anyway)."""
    for w in workers:
        w.ask(None)
    deadline = time.monotonic() + 5
    for w in workers:
        w.process.join(max(0.0, deadline - time.monotonic()) if w.job is None else 0)
    for w in workers:
        if w.process.is_alive():
            w.process.kill()
        w.process.join()
        w.conn.close()
