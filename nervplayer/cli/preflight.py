"""Checks made before Qt starts, so that a player that cannot open says why in one line, with the fix.

Without them Qt aborts the process with "could not load the Qt platform plugin" and names no missing library.
Three things are checked: that there is a display, that the installed PySide6 imports on this system (a wheel
for another platform, or a system library it links missing), and on an X11 display the xcb libraries Qt 6's
xcb platform plugin loads.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import sys

from ..errors import NervError

# soname -> package on Debian/Ubuntu (apt), Fedora (dnf), Arch (pacman)
SYSTEM_LIBRARIES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    # linked by QtGui itself: missing, they make `import PySide6.QtGui` fail
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
}
XCB_PLUGIN_LIBRARIES = [name for name in SYSTEM_LIBRARIES if "xcb" in name]
HEADLESS = (
    "without one, these work: 'nervplayer fit VIDEO -o RUN', 'nervplayer compress RUN -o FILE.nerv', "
    "'nervplayer export FILE.nerv -o video.mp4' ('nervplayer --help' lists all), or set QT_QPA_PLATFORM=offscreen"
)
_MISMATCH = re.compile(
    r"wrong ELF class|invalid ELF header|incompatible architecture|not a valid Win32|GLIBC_[\d.]+' not found|"
    r"undefined symbol|mach-o file|DLL load failed",
    re.IGNORECASE,
)
_MISSING_LIBRARY = re.compile(r"([\w.+-]+\.so[\w.]*): cannot open shared object file")


def library_found(soname: str) -> bool:
    """Whether the dynamic loader finds ``soname`` (the way Qt will look for it)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def install_hint(sonames: list[str]) -> str:
    """The install command for the packages holding ``sonames``, for each common distribution."""
    known = [SYSTEM_LIBRARIES[s] for s in sonames if s in SYSTEM_LIBRARIES]
    if not known:
        return "install the package that provides it with your distribution's package manager"
    apt, dnf, pacman = (" ".join(dict.fromkeys(p[i] for p in known)) for i in range(3))
    return (
        f"install with 'sudo apt install {apt}' (Debian, Ubuntu), 'sudo dnf install {dnf}' (Fedora) "
        f"or 'sudo pacman -S {pacman}' (Arch)"
    )


def check_display() -> None:
    """On Linux, a display (X11 or Wayland) or an explicit Qt platform such as ``offscreen``."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    ):
        raise NervError(f"the player needs a display (none found: DISPLAY and WAYLAND_DISPLAY are unset); {HEADLESS}")


def import_qt() -> None:
    """Import the Qt modules the player uses (this starts no Qt application)."""
    import PySide6.QtGui  # noqa: F401
    import PySide6.QtWidgets  # noqa: F401


def check_qt_imports() -> None:
    """PySide6 is installed, built for this platform, and finds the system libraries it links."""
    try:
        import_qt()
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] == "PySide6":
            raise NervError("the player needs PySide6: pip install 'nervplayer[gui]'") from None
        raise
    except ImportError as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        missing = _MISSING_LIBRARY.search(reason)
        if missing and not missing.group(1).startswith(("libpyside6", "libshiboken6", "libQt6")):
            library = missing.group(1)
            hint = install_hint([library])
            raise NervError(f"Qt needs the system library {library}, which is missing; {hint}") from None
        if _MISMATCH.search(reason) or missing:
            raise NervError(
                f"the installed PySide6 does not match this system ({platform.system()} {platform.machine()}, "
                f"Python {sys.version_info.major}.{sys.version_info.minor}): {reason}; reinstall it for this "
                "platform: pip install --force-reinstall --no-cache-dir PySide6-Essentials"
            ) from None
        raise


def uses_xcb() -> bool:
    """Whether Qt will use its xcb (X11) platform plugin."""
    chosen = os.environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(":")[0] == "xcb"
    return bool(os.environ.get("DISPLAY")) and not os.environ.get("WAYLAND_DISPLAY")


def check_xcb_libraries() -> None:
    """On an X11 display, every library Qt 6's xcb plugin loads."""
    if not (sys.platform.startswith("linux") and uses_xcb()):
        return
    missing = [name for name in XCB_PLUGIN_LIBRARIES if not library_found(name)]
    if missing:
        raise NervError(
            f"Qt's X11 (xcb) platform needs system libraries that are missing: {', '.join(missing)}; "
            f"{install_hint(missing)}"
        )


def check_platform() -> None:
    """All of the above, in the order a user would fix them."""
    check_display()
    check_qt_imports()
    check_xcb_libraries()
