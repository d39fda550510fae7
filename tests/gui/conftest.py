"""GUI tests run offscreen: the platform is chosen here, before anything imports Qt."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtGui import QImage  # noqa: E402

from nervplayer.gui.binding import check_binding  # noqa: E402
from nervplayer.video.source import ArraySource  # noqa: E402

check_binding()  # a broken binding crashes the interpreter minutes into a run: fail here, saying why


def synthetic_clip(num_frames: int = 16, height: int = 64, width: int = 64, seed: int = 0) -> np.ndarray:
    """uint8 [N, H, W, 3]: a moving gradient plus noise, every frame distinct."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for i in range(num_frames):
        frames[i, ..., 0] = (x * 4 + i * 13) % 256
        frames[i, ..., 1] = (y * 4 + i * 7) % 256
        frames[i, ..., 2] = rng.integers(0, 256, (height, width))
    return frames


def noisy(frames: np.ndarray, amount: int = 12, seed: int = 1) -> np.ndarray:
    """A stand-in reconstruction: the clip with a little noise."""
    rng = np.random.default_rng(seed)
    return np.clip(frames.astype(int) + rng.integers(-amount, amount + 1, frames.shape), 0, 255).astype(np.uint8)


class SlowSource(ArraySource):
    """An array source that takes ``delay`` seconds per frame and records what it decoded. While ``gate`` is
    clear, a decode waits for it: a test holds the decoder on one frame for as long as it needs."""

    def __init__(self, frames: np.ndarray, fps: float = 25.0, delay: float = 0.0) -> None:
        super().__init__(frames, fps)
        self.delay = delay
        self.decoded: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()

    def frame(self, index: int) -> np.ndarray:
        self.gate.wait(30)
        time.sleep(self.delay)
        with self._lock:
            self.decoded.append(index)
        return self.frames_array[index].copy()


def grab(widget) -> np.ndarray:
    """What the widget shows, as uint8 H×W×3."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = image.width(), image.height(), image.bytesPerLine()
    return np.frombuffer(image.constBits(), dtype=np.uint8).reshape(h, bpl)[:, : w * 3].reshape(h, w, 3).copy()


def shown_frame(player) -> np.ndarray:
    """The frame area of the canvas at 1:1 zoom."""
    canvas = player.canvas
    canvas.zoom_native()
    h, w = player.source.size
    x, y = round(canvas.view.ox), round(canvas.view.oy)
    return grab(canvas)[y : y + h, x : x + w]


@pytest.fixture
def clip() -> np.ndarray:
    return synthetic_clip()


class StallProbe:
    """Ticks a 10 ms timer on the GUI thread and records the longest gap between ticks (a stalled event loop)."""

    def __init__(self, interval_ms: int = 10) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.max_gap = 0.0
        self.ticks = 0
        self._last: float | None = None

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.max_gap = max(self.max_gap, now - self._last)
        self._last = now
        self.ticks += 1

    def start(self) -> StallProbe:
        self._last = time.perf_counter()
        self.timer.start()
        return self

    def stop(self) -> float:
        self.timer.stop()
        return self.max_gap


class Kit:
    """The helpers above, handed to tests as the ``kit`` fixture (test modules cannot import conftest)."""

    synthetic_clip = staticmethod(synthetic_clip)
    noisy = staticmethod(noisy)
    SlowSource = SlowSource
    StallProbe = StallProbe
    grab = staticmethod(grab)
    shown = staticmethod(shown_frame)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


@pytest.fixture
def make_player(qtbot):
    from nervplayer.gui.player import PlayerWidget

    made = []

    def make(source=None, truth=None, cache_mb: int = 64, **kw):
        player = PlayerWidget(cache_mb=cache_mb)
        qtbot.addWidget(player)
        player.resize(640, 480)
        if source is not None:
            player.set_source(source, truth, **kw)
        player.show()
        player.activateWindow()
        qtbot.waitUntil(player.isActiveWindow, timeout=3000)  # window-wide shortcuts need an active window
        made.append(player)
        return player

    yield make
    for p in made:
        p.shutdown()


@pytest.fixture
def settings(tmp_path):
    """Settings in a throwaway ini file, never the user's."""
    from PySide6.QtCore import QSettings

    from nervplayer.gui.settings import Settings

    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def make_window(qtbot, settings, tmp_path, monkeypatch):
    """``make_window(argv)``: the main window as ``nervplayer ARGV`` opens it, runs kept under tmp_path."""
    from nervplayer.gui import app
    from nervplayer.gui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "ask_unsaved", lambda self: "discard")
    made = []

    def make(argv=(), store=None):
        window = app.open_window(list(argv), store or settings)
        window.session.runs_dir = tmp_path / "runs"
        window.player.screenshot_dir = tmp_path / "shots"
        qtbot.addWidget(window)
        made.append(window)
        return window

    yield make
    for window in made:
        if window.isVisible():
            window.close()
        window.player.shutdown()
