"""Errors as dialogs. Every failure (a bad file, a failing plugin, out of memory) ends up here and the app
stays usable. Dialogs are window-modal but opened asynchronously, so no code path blocks on them."""

from __future__ import annotations

import sys
import traceback
from types import TracebackType

from PySide6.QtWidgets import QMessageBox, QWidget

from ..errors import NervError
from ..jobs.child import ChildError


def describe(error: BaseException) -> tuple[str, str]:
    """The message for the user and the details (a traceback only for errors that are bugs)."""
    if isinstance(error, NervError):
        return str(error), ""
    if isinstance(error, ChildError):  # a bug in a child process (a fit, a save, a study): its traceback is the detail
        return str(error), error.details
    if isinstance(error, MemoryError) or "out of memory" in str(error).lower():
        return ("Out of memory. Try a smaller preset, a smaller size, or a smaller batch.", str(error))
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return f"{type(error).__name__}: {error}", details


def show_error(parent: QWidget | None, title: str, error: BaseException | str) -> QMessageBox:
    text, details = (error, "") if isinstance(error, str) else describe(error)
    box = QMessageBox(QMessageBox.Icon.Warning, title, title, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("error-dialog")
    box.setInformativeText(text)
    if details:
        box.setDetailedText(details)
    box.setModal(True)
    box.open()
    return box


def install_excepthook(parent: QWidget) -> None:
    """Exceptions escaping a slot become a dialog instead of ending the program."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, error, tb)
            return
        traceback.print_exception(kind, error, tb)
        show_error(parent, "Something went wrong", error)

    sys.excepthook = hook
