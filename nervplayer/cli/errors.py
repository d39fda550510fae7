"""The CLI's error contract, in one place: what the user sees when a command fails.

* A problem the user caused (a :class:`~nervplayer.errors.NervError`, or an ``OSError`` on a path they gave)
  is one line on stderr and exit status 2.
* Anything else is a bug: one line saying so and naming a log file (under platformdirs' user log folder) that
  holds the full traceback; exit status 1. ``--debug`` prints the traceback instead.
* A closed output pipe (``nervplayer plugins | head``) ends the command quietly.
* FFmpeg's own log lines never reach the terminal: every failure it reports is turned into a one-line error.
"""

from __future__ import annotations

import contextlib
import datetime
import difflib
import errno
import os
import sys
import traceback
from pathlib import Path
from typing import Callable

from ..errors import NervError
from ..paths import log_dir

USER_ERROR = 2
BUG = 1
INTERRUPTED = 130


def bug_log_dir() -> Path:
    return log_dir()


def write_bug_log(exc: BaseException) -> Path | None:
    """Write ``exc``'s traceback to a new file in :func:`bug_log_dir`; its path, or None if it cannot be written."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    try:
        folder = bug_log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{stamp}-{os.getpid()}.log"
        path.write_text(
            f"nervplayer {' '.join(sys.argv[1:])}\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        )
        return path
    except OSError:
        return None


def os_error_line(e: OSError) -> str:
    """``[Errno 13] Permission denied: 'x'`` → ``cannot write x: permission denied`` style, one line."""
    reason = (e.strerror or type(e).__name__).rstrip(".")
    names = [str(n) for n in (e.filename, e.filename2) if n is not None]
    return f"{' -> '.join(names)}: {reason[:1].lower() + reason[1:]}" if names else reason


def quiet_ffmpeg() -> None:
    """Keep FFmpeg's log lines off the terminal; its errors reach us as exceptions anyway."""
    try:
        import av.logging
    except ImportError:
        return
    if hasattr(av.logging, "set_libav_level"):
        av.logging.set_libav_level(av.logging.PANIC)
    else:  # older PyAV: route FFmpeg's log through Python logging, at a level nobody shows
        av.logging.set_level(av.logging.PANIC)


def unknown_command(word: str, commands: list[str]) -> NervError:
    close = difflib.get_close_matches(word, commands, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f"; commands: {', '.join(commands)}"
    return NervError(f"unknown command '{word}'{hint}")


def _print_error(line: str) -> None:
    with contextlib.suppress(OSError):  # stderr closed too: nothing left to tell
        print(f"nervplayer: error: {line}", file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at devnull so the interpreter's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def guarded(run: Callable[[list[str]], int], argv: list[str], debug: bool) -> int:
    """Call ``run(argv)`` under the contract above; returns the exit status."""
    try:
        code = run(argv)
        sys.stdout.flush()
        return code
    except NervError as e:
        _print_error(str(e).strip().replace("\n", " "))
        return USER_ERROR
    except KeyboardInterrupt:
        _print_error("interrupted")
        return INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except MemoryError:
        _print_error("out of memory; try a smaller frame size, batch size or --memory-budget")
        return USER_ERROR
    except OSError as e:
        if e.errno == errno.EPIPE:
            _silence_stdout()
            return 0
        if e.filename is None:  # not about a path the user gave
            return _bug(e, debug)
        if debug:
            raise
        _print_error(os_error_line(e))
        return USER_ERROR
    except Exception as e:
        if _out_of_memory(e):
            _print_error("out of memory; try a smaller frame size, batch size or --memory-budget")
            return USER_ERROR
        return _bug(e, debug)


def _out_of_memory(e: Exception) -> bool:
    """torch reports a failed allocation as a RuntimeError (CPU) or OutOfMemoryError (accelerators)."""
    return type(e).__name__ == "OutOfMemoryError" or "can't allocate memory" in str(e)


def _bug(e: Exception, debug: bool) -> int:
    """A bug: the user gets one line and a log file (or the traceback with ``--debug``)."""
    if debug:
        raise e
    log = write_bug_log(e)
    where = f"the traceback is in {log}" if log else "run again with --debug to see the traceback"
    detail = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
    _print_error(f"this is a bug in nervplayer ({type(e).__name__}: {detail}); {where}; please report it")
    return BUG
