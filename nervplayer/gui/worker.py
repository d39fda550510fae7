"""The session's runner in the GUI: each :class:`~nervplayer.session.Job` runs in a QThread of its own.

The job's work runs in the worker thread. If it is a generator, each item it yields becomes an ``event`` signal;
its return value comes back through ``done`` and an exception through ``failed``. Signals are queued to the GUI
thread, which therefore never waits on the work.

Workers have no Qt parent, and every running one is kept in a module-level set until its thread has ended: a
window that goes away never destroys a running thread (which would abort the interpreter). When the app quits,
:func:`stop_all` tells every job to stop and waits for the threads to end. A child process (a fit's, a save's, a
study's) gets a bounded wait to finish what it keeps (a checkpoint) and is killed after it, which ends the thread
that reads it.
"""

from __future__ import annotations

import atexit
import inspect

from PySide6.QtCore import QThread, Signal

from ..jobs.child import stop_children
from ..session import Job

_running: set[Worker] = set()


class Worker(QThread):
    job_event = Signal(object)  # what the job yields (not `event`: that is QObject.event())
    done = Signal(object)
    failed = Signal(object)

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.setObjectName(job.name)
        self.job = job
        self.job_event.connect(job.on_event)
        self.done.connect(job.on_done)
        self.failed.connect(job.on_failed)

    def is_running(self) -> bool:
        return self.isRunning()

    def run(self) -> None:
        try:
            result = self.job.work()
            if inspect.isgenerator(result):
                gen = result
                while True:
                    try:
                        self.job_event.emit(next(gen))
                    except StopIteration as stop:
                        result = stop.value
                        break
            self.done.emit(result)
        except BaseException as e:  # everything reaches the GUI as a dialog, nothing kills the app
            self.failed.emit(e)


def run_job(job: Job) -> Worker:
    """Start ``job`` in a new worker thread (the session's runner)."""
    worker = Worker(job)
    _running.add(worker)
    worker.finished.connect(lambda: _running.discard(worker))
    worker.start()
    return worker


def running_workers() -> list[Worker]:
    return [w for w in _running if w.isRunning()]


def stop_all() -> None:
    """Tell every running job to stop, then wait until their threads have ended (quitting the app)."""
    workers = list(_running)
    for worker in workers:
        worker.job.cancel()
    stop_children(timeout=10.0)
    for worker in workers:
        worker.wait()
    _running.clear()


atexit.register(stop_all)  # a script that never quits the event loop still ends its threads cleanly
