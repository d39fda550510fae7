"""``Event``: the one way a plain Python model (the player state, the session) tells whoever is bound to it that
something changed, napari style. No Qt: the models stay testable without a display, and the GUI binds to them."""

from __future__ import annotations

from typing import Any, Callable


class Event:
    """A list of callbacks, called in order with the new value."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.append(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Stop calling ``callback`` (a no-op if it is not connected)."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)
