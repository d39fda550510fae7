"""The checks made before Qt starts, simulated: a missing xcb library, no display, a PySide6 that does not match
the platform or misses a system library. In a real process each is exit 2 and one line naming the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nervplayer.cli import preflight
from nervplayer.errors import NervError

REPO = Path(__file__).resolve().parent.parent
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb platform is Linux's")


@pytest.fixture
def x11(monkeypatch):
    """An X11 session: DISPLAY set, no Wayland, no platform chosen."""
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)


@linux_only
def test_a_missing_xcb_library_is_named_with_the_install_commands(x11, monkeypatch):
    monkeypatch.setattr(preflight, "library_found", lambda name: name != "libxcb-cursor.so.0")
    with pytest.raises(NervError) as caught:
        preflight.check_xcb_libraries()
    line = str(caught.value)
    assert "libxcb-cursor.so.0" in line and "libxcb-icccm" not in line
    assert "sudo apt install libxcb-cursor0" in line
    assert "sudo dnf install xcb-util-cursor" in line and "sudo pacman -S xcb-util-cursor" in line


@linux_only
def test_several_missing_libraries_give_one_command_per_distribution(x11, monkeypatch):
    missing = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-shape.so.0", "libxcb-xkb.so.1"}
    monkeypatch.setattr(preflight, "library_found", lambda name: name not in missing)
    with pytest.raises(NervError) as caught:
        preflight.check_xcb_libraries()
    line = str(caught.value)
    assert "apt install libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xkb1' (" in line
    assert "dnf install xcb-util-wm xcb-util-keysyms libxcb' (" in line  # libxcb named once


@linux_only
@pytest.mark.parametrize("env", [{"QT_QPA_PLATFORM": "offscreen"}, {"WAYLAND_DISPLAY": "wayland-0"}])
def test_xcb_libraries_are_not_needed_off_x11(x11, monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(preflight, "library_found", lambda name: False)
    preflight.check_xcb_libraries()


def test_the_real_lookup_finds_the_c_library_and_not_a_made_up_one():
    assert not preflight.library_found("libnervplayer-no-such-library.so.7")
    if sys.platform.startswith("linux"):
        assert preflight.library_found("libc.so.6")


@linux_only
def test_no_display_points_to_the_headless_commands(monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(NervError) as caught:
        preflight.check_display()
    assert "needs a display" in str(caught.value) and "nervplayer fit VIDEO -o RUN" in str(caught.value)


def failing_import(message: str):
    def import_qt() -> None:
        raise ImportError(message)

    return import_qt


@pytest.mark.parametrize(
    "message",
    [
        "/venv/PySide6/QtCore.abi3.so: wrong ELF class: ELFCLASS32",
        "dlopen(/venv/PySide6/QtCore.abi3.so): mach-o file, but is an incompatible architecture",
        "/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found (required by libQt6Core.so.6)",
    ],
)
def test_a_pyside6_for_another_platform_says_so(monkeypatch, message):
    monkeypatch.setattr(preflight, "import_qt", failing_import(message))
    with pytest.raises(NervError) as caught:
        preflight.check_qt_imports()
    assert "does not match this system" in str(caught.value) and "--force-reinstall" in str(caught.value)


def test_a_system_library_qt_links_is_named(monkeypatch):
    monkeypatch.setattr(preflight, "import_qt", failing_import("libEGL.so.1: cannot open shared object file: No such"))
    with pytest.raises(NervError) as caught:
        preflight.check_qt_imports()
    assert "libEGL.so.1" in str(caught.value) and "apt install libegl1" in str(caught.value)


def test_pyside6_missing_names_the_extra(monkeypatch):
    def missing() -> None:
        raise ModuleNotFoundError("No module named 'PySide6'", name="PySide6")

    monkeypatch.setattr(preflight, "import_qt", missing)
    with pytest.raises(NervError, match=r"nervplayer\[gui\]"):
        preflight.check_qt_imports()


def run_player(patch: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``nervplayer`` with no arguments in a real process, after ``patch`` (Python) simulates the system."""
    code = (
        f"import sys; import nervplayer.cli.preflight as p; {patch}; "
        "from nervplayer.cli.main import main; sys.exit(main([]))"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**base, "PYTHONPATH": str(REPO), **env},
        timeout=120,
    )


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@linux_only
def test_missing_xcb_cursor_in_a_real_process_is_exit_2_and_one_line():
    result = run_player("p.library_found = lambda name: name != 'libxcb-cursor.so.0'", {"DISPLAY": ":99"})
    assert "sudo apt install libxcb-cursor0" in one_line(result)


def test_mismatched_pyside6_in_a_real_process_is_exit_2_and_one_line():
    patch = "p.import_qt = lambda: (_ for _ in ()).throw(ImportError('QtCore.abi3.so: wrong ELF class: ELFCLASS32'))"
    assert "does not match this system" in one_line(run_player(patch, {"QT_QPA_PLATFORM": "offscreen"}))
