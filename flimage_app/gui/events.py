"""Change notification for the GUI's Qt-free state objects (documents, panel states).

A state object owns :class:`Event` attributes; widgets connect callbacks to them,
as napari's layers emit events that their Qt views observe.  Nothing here
imports Qt, so presenters and documents can be driven and tested without widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Event:
    """A list of callbacks called, in order, with the arguments given to :meth:`emit`."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[[], None]:
        """Call `callback` on every emit; returns a function that disconnects it."""
        self._callbacks.append(callback)
        return lambda: self.disconnect(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        # a copy: a callback may disconnect itself
        for callback in list(self._callbacks):
            callback(*args)
