import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

from clips import moving_shapes, write_video  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "resources" / "sample.mp4"


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow (bundle, wheel: minutes)")


def pytest_collection_modifyitems(config, items):
    """Tests marked slow run only with --slow (``scripts/test --slow``): the default run stays fast."""
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow (scripts/test --slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shapes_frames():
    return moving_shapes(16, 64, 64)


@pytest.fixture(scope="session")
def shapes_clip(tmp_path_factory, shapes_frames) -> Path:
    """16 frames 64×64, lossless H.264 4:4:4."""
    return write_video(tmp_path_factory.mktemp("clips") / "shapes.mp4", shapes_frames)


@pytest.fixture(autouse=True)
def _isolated_user_plugins(tmp_path_factory, monkeypatch):
    """Never load plugins from the real user folder during tests."""
    from nervplayer import plugins

    empty = tmp_path_factory.getbasetemp() / "no-user-plugins"
    empty.mkdir(exist_ok=True)
    monkeypatch.setattr(plugins, "_options", {"safe_mode": False, "user_dir": empty})
    monkeypatch.setattr(plugins, "_registry", None)


@pytest.fixture
def one_thread():
    """One intra-op thread: on a loaded machine two threads that wait on each other make a tiny step take up to a
    second, longer than the tolerance a timing test checks."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
