"""How long the player's event loop stalls while a fit trains: in a child process (the default) or in a thread of
the GUI's own process (``Session(fit_in_child=False)``), against the same window with no fit (``idle``), optionally
with CPU hogs (one per core, or as many as ``--hogs`` says: the issue's "a core busy" is ``--hogs 1``).

Opens the window (offscreen works) on a clip, starts a fit from the fit panel and, until it finishes, ticks a
10 ms precise QTimer on the GUI thread and records how late each tick fires; every half second it also scrubs to
another frame and times until that frame is painted. It also times Start to the first training step on screen,
and, once the fit has finished, scrubs the same model for ``--after-seconds`` more: the scrub latency with no fit
running. ``--fits N`` fits N times in the same window, one after the other (a child process's fits after the first
take the spare process started ahead, once it is ready). Prints one table row per fit; "fit's process ends s
after" is how long the fit's child process ran on after the fit had finished (watched in ``/proc``).

The event loop sleeps between events, as ``app.exec()`` does in the player (until December 2026 this bench
polled ``processEvents`` instead: its GUI thread was then always on a CPU, a CPU hog of its own). "GUI thread
CPU %" is the GUI thread's CPU time over the fit's wall time.

``--profile`` also says what stalls the GUI thread: a sampler thread reads the GUI thread's Python stack every
millisecond, and the stacks seen within a late tick's gap are counted; for each gap, the GUI thread's time on a
CPU, waiting for one (on the run queue) and blocked (asleep past the timer: the interpreter lock, or another
lock), from Linux's ``/proc/.../schedstat``, and the CPU time every thread of the window and every child process
(the fit's, a hog, with its nice value) had in it; the window's other Python threads' stacks in the gaps; every
garbage collection is timed (and its thread named); a sampler that could not run for 20 ms (no GIL, no CPU) is
counted apart. ``--events`` times every event the GUI thread delivers (a ``QApplication.notify`` of its own) and
lists those over 6 ms by type and receiver: a chart's paint, a scene's processing of changed items, a signal's
slot.

    QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 python benches/gui_stall.py [VIDEO] [--scale 0.25] [--epochs 3]
        [--last 30] [--mode idle|child|thread|all] [--fits 1] [--load] [--hogs N] [--profile] [--events]
"""

from __future__ import annotations

import argparse
import bisect
import collections
import contextlib
import gc
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nervplayer.gui.main_window import MainWindow

# Qt and the GUI are imported in the functions: the fit's child process (spawn) imports this script again as
# its main module, and should not pay for them.

INTERVAL_MS = 10
POLL_MS = 5  # how often wait_until looks at its predicate
USAGE_EVERY = 20  # --profile: the CPU time of every thread and child process, every 20 samples (reading it costs)
HOG = "while True: pass"


def wait_until(predicate, timeout: float) -> None:
    """Run the event loop until ``predicate()`` holds (or fail after ``timeout`` seconds). The loop sleeps between
    events, as the player's ``app.exec()`` does: polling ``processEvents`` would keep the GUI thread on a CPU, a
    CPU hog of its own that the scheduler then treats as one."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout
    loop = QEventLoop()

    def look() -> None:
        if predicate() or time.monotonic() > deadline:
            loop.quit()

    timer = QTimer(interval=POLL_MS, timeout=look)
    timer.start()
    if not predicate():
        loop.exec()
    timer.stop()
    if not predicate():
        raise TimeoutError("timed out waiting for the window")


class Profile:
    """``--profile``: the GUI thread's stacks while the event loop is late, where its time went in each late gap
    (on a CPU, waiting for one, or neither: blocked, on the interpreter lock or on nothing to do), what the
    window's other Python threads ran meanwhile, garbage collections, starved samples."""

    def __init__(self) -> None:
        self.gui = threading.get_ident()
        self._schedstat = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
        self.samples: list[tuple[float, str, tuple[int, int], list[str]]] = []  # time, stack, (run, wait) ns, others
        self.collections: list[tuple[int, float, bool]] = []  # generation, ms, on the GUI thread
        self.starved: list[float] = []  # ms the sampler could not run
        self.usage: list[tuple[float, dict[str, int]]] = []  # each thread's and child's CPU time, every ~20 ms
        self._gc_began = 0.0
        self._running = True
        gc.callbacks.append(self._gc)
        self._thread = threading.Thread(target=self._sample, name="stall-sampler", daemon=True)
        self._thread.start()

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_began = time.perf_counter()
        else:
            ms = (time.perf_counter() - self._gc_began) * 1000
            self.collections.append((info["generation"], ms, threading.get_ident() == self.gui))

    def _cpu(self) -> tuple[int, int]:
        """The GUI thread's nanoseconds on a CPU and waiting for one, so far (0, 0 where Linux does not say)."""
        try:
            run, wait, _ = self._schedstat.read_text().split()
        except (OSError, ValueError):
            return 0, 0
        return int(run), int(wait)

    @staticmethod
    def _stack(frame: FrameType | None, depth: int) -> str:
        stack = []
        while frame is not None and len(stack) < depth:
            code = frame.f_code
            stack.append(f"{Path(code.co_filename).name}:{frame.f_lineno} {code.co_name}")
            frame = frame.f_back
        return " < ".join(stack)

    @staticmethod
    def _run_ns(task: Path) -> int:
        try:
            return int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    def _cpu_by_task(self) -> dict[str, int]:
        """Nanoseconds on a CPU so far: each thread of this process, each child process (its threads summed)."""
        names = {t.native_id: t.name for t in threading.enumerate()}
        used: dict[str, int] = collections.defaultdict(int)
        children: set[str] = set()
        for task in Path("/proc/self/task").iterdir():
            with contextlib.suppress(OSError):
                children.update((task / "children").read_text().split())
                comm = (task / "comm").read_text().strip()
                used[f"window {names.get(int(task.name), comm)}"] += self._run_ns(task)
        for pid in children:
            with contextlib.suppress(OSError, IndexError):
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
                kind = "hog" if HOG.encode() in command else "spare/fit" if b"spawn_main" in command else "other"
                for task in Path(f"/proc/{pid}/task").iterdir():
                    nice = (task / "stat").read_text().rsplit(")", 1)[1].split()[16]
                    used[f"{kind} {pid} nice {nice}"] += self._run_ns(task)
        return used

    def _sample(self) -> None:
        last = time.perf_counter()
        me = threading.get_ident()
        count = 0
        while self._running:
            if count % USAGE_EVERY == 0:
                self.usage.append((time.perf_counter(), self._cpu_by_task()))
            count += 1
            time.sleep(0.001)
            now = time.perf_counter()
            if now - last > 0.02:
                self.starved.append((now - last) * 1000)
            last = now
            cpu = self._cpu()
            frames = sys._current_frames()
            names = {t.ident: t.name for t in threading.enumerate()}
            others = [
                f"{names.get(ident, ident)}: {self._stack(frame, 3)}"
                for ident, frame in frames.items()
                if ident not in (self.gui, me)
            ]
            stack = self._stack(frames.get(self.gui), 8)
            del frames  # a frame kept alive keeps its locals alive: a paint event's QPainter would outlive it
            self.samples.append((now, stack, cpu, others))

    def report(self, ticks: list[float], threshold_ms: float = 20.0) -> None:
        """Print what the GUI thread ran within the gaps between ``ticks`` (perf_counter times) longer than
        ``threshold_ms``, where its time went, the other threads' stacks, the collections and the starved
        samples."""
        self._running = False
        self._thread.join()
        gc.callbacks.remove(self._gc)
        gaps = [(a, b) for a, b in zip(ticks, ticks[1:]) if (b - a) * 1000 > INTERVAL_MS + threshold_ms]
        counts: collections.Counter[str] = collections.Counter()
        others: collections.Counter[str] = collections.Counter()
        times = [t for t, *_ in self.samples]
        print(f"\n{len(gaps)} gaps over {INTERVAL_MS + threshold_ms:g} ms; the GUI thread's time in each:")
        for a, b in gaps:
            first = max(bisect.bisect_right(times, a) - 1, 0)  # the samples that enclose the gap
            end = min(bisect.bisect_left(times, b), len(times) - 1)
            if not self.samples or first >= end:
                continue
            (t0, _, (run0, wait0), _), (t1, _, (run1, wait1), _) = self.samples[first], self.samples[end]
            run, wait = (run1 - run0) / 1e6, (wait1 - wait0) / 1e6
            print(
                f"  gap {(b - a) * 1000:6.1f} ms (sampled {(t1 - t0) * 1000:.1f}): on a CPU {run:5.1f}, waiting "
                f"for one {wait:5.1f}, blocked {(t1 - t0) * 1000 - run - wait:5.1f} ms; {end - first} samples"
            )
            used_at = [t for t, _ in self.usage]
            u0 = self.usage[max(bisect.bisect_right(used_at, a) - 1, 0)]
            u1 = self.usage[min(bisect.bisect_left(used_at, b), len(self.usage) - 1)]
            ran = sorted(((v - u0[1].get(k, 0)) / 1e6, k) for k, v in u1[1].items())[::-1]
            print(
                f"    on the CPUs in {(u1[0] - u0[0]) * 1000:.1f} ms: "
                + ", ".join(f"{k} {ms:.1f}" for ms, k in ran if ms >= 1.0)
            )
            for _, stack, _, other in self.samples[first + 1 : end + 1]:
                counts[stack] += 1
                others.update(other)
        print("the GUI thread's stacks in them (1 ms samples):")
        for stack, n in counts.most_common(12):
            print(f"  {n:5d}  {stack}")
        print("the other Python threads' stacks in them:")
        for stack, n in others.most_common(12):
            print(f"  {n:5d}  {stack}")
        for generation in (0, 1, 2):
            ms = [m for g, m, _ in self.collections if g == generation]
            on_gui = sum(1 for g, _, gui in self.collections if g == generation and gui)
            if ms:
                print(
                    f"gc gen {generation}: {len(ms)} collections ({on_gui} on the GUI thread), max {max(ms):.1f} ms, "
                    f"total {sum(ms):.0f} ms"
                )
        if self.starved:
            print(f"sampler starved {len(self.starved)} times (no GIL or no CPU), max {max(self.starved):.1f} ms")


def process_ends(pid: int, since: float) -> list[float]:
    """Seconds from ``since`` to the end of process ``pid`` (gone or a zombie), filled in by a thread that looks
    every 10 ms (Linux; stays empty elsewhere, or if it has not ended within a minute)."""
    ended: list[float] = []
    stat = Path(f"/proc/{pid}/stat")

    def watch() -> None:
        while time.perf_counter() - since < 60:
            try:
                gone = stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
            except OSError:  # reaped
                gone = True
            if gone:
                ended.append(time.perf_counter() - since)
                return
            time.sleep(0.01)

    threading.Thread(target=watch, name="process-end", daemon=True).start()
    return ended


class Probe:
    """A 10 ms timer's lateness on the GUI thread, and the scrubs timed in between."""

    def __init__(self, window: MainWindow) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.player = window.player
        self.late: list[float] = []
        self._last = time.perf_counter()
        self.ticks: list[float] = [self._last]  # the first tick's gap counts from here
        self.scrubs: list[float] = []
        self._scrub: tuple[int, float] | None = None
        self._next_scrub = self._last + 0.5
        self.timer = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=INTERVAL_MS, timeout=self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.late.append(max(now - self._last - INTERVAL_MS / 1000, 0.0))
        self.ticks.append(now)
        self._last = now
        player, canvas = self.player, self.player.canvas
        if self._scrub is not None:
            index, since = self._scrub
            if canvas.displayed_index == index and canvas.frame.generation == player.decoder.generation:
                self.scrubs.append(now - since)
                self._scrub = None
        elif now >= self._next_scrub and player.state.num_frames > 1:
            index = random.choice([i for i in range(player.state.num_frames) if i != player.state.frame])
            self._scrub = (index, time.perf_counter())
            self._next_scrub = now + 0.5
            player.go_to(index)


def run(video: str, mode: str, args: argparse.Namespace, runs: Path) -> list[dict[str, object]]:
    from PySide6.QtCore import QSettings

    from nervplayer.gui import app
    from nervplayer.gui.settings import Settings
    from nervplayer.train import Step, remote

    settings = Settings(QSettings(str(runs / f"settings-{mode}.ini"), QSettings.Format.IniFormat))
    window = app.open_window([video], settings)
    window.ask_unsaved = lambda: "discard"  # type: ignore[method-assign]
    window.session.runs_dir = runs / mode
    window.session.fit_in_child = mode == "child"
    panel = window.fit_panel
    wait_until(lambda: panel.state == "ready", 120)
    panel.arch.setCurrentIndex(panel.arch.findData("nerv"))  # nerv-xs, as measured before hnerv became the default
    panel.scale.setCurrentIndex(panel.scale.findData(args.scale))
    if args.last is not None:
        panel.last.setValue(min(args.last, panel.last.maximum()))
    panel.epochs.setValue(args.epochs)
    panel.eval_every.setValue(1)
    first_step: list[float] = []
    window.session.fit_event.connect(
        lambda e: first_step.append(time.perf_counter()) if isinstance(e, Step) and not first_step else None
    )
    count = args.hogs if args.hogs is not None else (os.cpu_count() or 1) if args.load else 0
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(count)]
    rows = []
    try:
        for fit in range(1 if mode == "idle" else args.fits):
            if fit and mode == "child":  # the user looks at the result a while: the spare process gets ready
                wait_until(remote.spare_ready, 120)
            first_step.clear()
            probe = Probe(window)
            started = time.perf_counter()
            preparing = Profile() if args.profile and mode != "idle" else None
            if mode != "idle":
                window.start_fit()
                wait_until(lambda: window.session.phase == "running", 600)
            running, cpu = time.perf_counter(), time.thread_time()
            preparing_ms = max(probe.late, default=0.0) * 1000
            if preparing is not None:
                print(f"--- {mode}, fit {fit + 1}: Start until the fit runs")
                preparing.report(probe.ticks)
            probe.late.clear()  # from the first training step: preparing the fit is measured apart
            probe.ticks.clear()
            probe.scrubs.clear()
            profile = Profile() if args.profile else None
            if mode == "idle":  # the baseline: the same ticks and scrubs with no fit at all
                wait_until(lambda: time.perf_counter() - running > args.idle_seconds, args.idle_seconds + 60)
            else:
                wait_until(lambda: window.session.phase == "finished", 3600)
            fitted, cpu = time.perf_counter(), time.thread_time() - cpu
            pid = getattr(window.session.fitter, "pid", None) if mode == "child" else None
            fit_ends = process_ends(pid, fitted) if pid is not None and Path("/proc").is_dir() else []
            if profile is not None:
                print(f"--- {mode}, fit {fit + 1}")
                profile.report(probe.ticks)
            late_ms = np.array(probe.late) * 1000
            scrub_ms = np.array(probe.scrubs or [np.nan]) * 1000
            probe.scrubs.clear()
            if mode != "idle":  # the same model's frames with no fit running
                wait_until(lambda: time.perf_counter() - fitted > args.after_seconds, args.after_seconds + 60)
            after_ms = np.array(probe.scrubs or [np.nan]) * 1000
            probe.timer.stop()
            rows.append(
                {
                    "mode": mode if fit == 0 else f"{mode} (fit {fit + 1})",
                    "load": f"{count} hog{'s' if count > 1 else ''}" if count else "none",
                    "prepare s": f"{running - started:.1f}",
                    "start to first step s": f"{first_step[0] - started:.2f}" if first_step else "",
                    "prepare late max ms": f"{preparing_ms:.1f}",
                    "fit s": f"{fitted - running:.1f}",
                    "ticks": len(late_ms),
                    "late max ms": f"{late_ms.max():.1f}",
                    "late p99 ms": f"{np.percentile(late_ms, 99):.1f}",
                    "GUI thread CPU %": f"{100 * cpu / (fitted - running):.0f}",
                    "scrubs": int(np.count_nonzero(~np.isnan(scrub_ms))),
                    "scrub median ms": f"{np.nanmedian(scrub_ms):.1f}",
                    "scrub max ms": f"{np.nanmax(scrub_ms):.1f}",
                    "scrub after fit median ms": f"{np.nanmedian(after_ms):.1f}" if mode != "idle" else "",
                    "fit's process ends s after": fit_ends,  # filled in meanwhile: printed at the end
                }
            )
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    window.close()
    window.player.shutdown()
    return rows


def timed_application() -> list[tuple[float, str, str]]:
    """Create the application as one that times each event it delivers on the GUI thread (outermost deliveries
    only: a paint nested in another event counts in that one); returns the list it fills with (ms, event type,
    receiver) for every event over 6 ms. A Python ``notify`` slows every event a little: compare like with like."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    long: list[tuple[float, str, str]] = []
    depth = 0

    class TimedApplication(QApplication):
        def notify(self, receiver: QObject, event: QEvent) -> bool:
            nonlocal depth
            depth += 1
            started = time.perf_counter()
            try:
                return super().notify(receiver, event)
            finally:
                depth -= 1
                ms = (time.perf_counter() - started) * 1000
                if depth == 0 and ms > 6:
                    long.append((ms, event.type().name, f"{type(receiver).__name__} {receiver.objectName()}".strip()))

    TimedApplication(sys.argv[:1])
    return long


def print_events(long: list[tuple[float, str, str]]) -> None:
    print("events over 6 ms on the GUI thread, by type and receiver:")
    kinds = collections.defaultdict(list)
    for ms, kind, receiver in long:
        kinds[(kind, receiver)].append(ms)
    for (kind, receiver), times in sorted(kinds.items(), key=lambda item: -len(item[1])):
        times.sort()
        print(
            f"  {len(times):4d}  {kind:20s} {receiver:32s} median {times[len(times) // 2]:.1f} max {times[-1]:.1f} ms"
        )


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", nargs="?", default=None, help="default: the bundled sample")
    p.add_argument("--scale", type=float, default=0.25, help="one of the fit panel's scales")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--last", type=int, default=None, help="last frame to fit (default: the whole clip)")
    p.add_argument(
        "--mode",
        choices=["idle", "child", "thread", "all"],
        default="all",
        help="idle: no fit (the baseline); child / thread: where the fit runs; all: the three, one after the other",
    )
    p.add_argument("--idle-seconds", type=float, default=15.0, help="how long the idle baseline measures")
    p.add_argument("--fits", type=int, default=1, help="fits one after the other in the same window")
    p.add_argument("--after-seconds", type=float, default=5.0, help="how long scrubs are timed once a fit has finished")
    p.add_argument("--load", action="store_true", help="keep every core busy with a CPU hog while fitting")
    p.add_argument("--hogs", type=int, help="this many CPU hogs instead (1: a core busy)")
    p.add_argument("--profile", action="store_true", help="say what the GUI thread runs while it is late")
    p.add_argument("--events", action="store_true", help="time every Qt event the GUI thread handles; list the longest")
    args = p.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from nervplayer.sample import sample_video

    video = args.video or sample_video()
    if video is None:
        print("no video given and the bundled sample is missing", file=sys.stderr)
        return 2
    events = timed_application() if args.events else None
    QApplication.instance() or QApplication(sys.argv[:1])
    rows = []
    with tempfile.TemporaryDirectory(prefix="gui-stall-") as folder:
        for mode in ["idle", "child", "thread"] if args.mode == "all" else [args.mode]:
            rows += run(str(video), mode, args, Path(folder))
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print(
            "| "
            + " | ".join(", ".join(f"{s:.2f}" for s in v) if isinstance(v, list) else str(v) for v in row.values())
            + " |"
        )
    if events is not None:
        print_events(events)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
