"""Undo and redo of one document's edits: ROIs, metadata and panel settings.

Each open series has one :class:`History` (``Document.history``), so Edit ▸ Undo
always undoes the newest edit of the series in front, whatever panel made it,
and switching series never undoes or redoes another series' work.  Qt-free:
the Edit menu observes :attr:`History.changed`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from flimage_app.gui.events import Event


@dataclass
class Step:
    """One undoable edit: its menu text and the two functions that move between its states."""

    text: str
    undo: Callable[[], None]
    redo: Callable[[], None]
    #: steps with the same key that follow each other merge into one (e.g. a drag)
    merge_key: Hashable | None = None


class History:
    """The undo / redo stacks of one document.

    A step is pushed after its edit is done (``apply=False``, the default) or
    pushed and done at once (``apply=True``).  :meth:`mark_clean` records the
    state that is saved; :attr:`is_clean` tells whether undo/redo went back to it.
    """

    def __init__(self, limit: int = 500) -> None:
        self.limit = limit
        self._done: list[Step] = []
        self._undone: list[Step] = []
        #: number of done steps at the last save; None when that state can no longer be reached
        self._clean_depth: int | None = 0
        #: emitted after every push, undo, redo or clear
        self.changed = Event()

    # --- state --------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_text(self) -> str:
        """Text of the step that Undo would undo ('' if none)."""
        return self._done[-1].text if self._done else ""

    @property
    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    @property
    def is_clean(self) -> bool:
        return self._clean_depth == len(self._done)

    def mark_clean(self) -> None:
        self._clean_depth = len(self._done)
        self.changed.emit()

    # --- editing ------------------------------------------------------------------------
    def push(self, text: str, undo: Callable[[], None], redo: Callable[[], None], *,
             merge_key: Hashable | None = None, apply: bool = False) -> None:
        """Record an edit.  With `apply`, `redo` is called first to make it."""
        if apply:
            redo()
        if self._clean_depth is not None and self._clean_depth > len(self._done):
            self._clean_depth = None  # the saved state was in the redo stack, now dropped
        self._undone.clear()
        last = self._done[-1] if self._done else None
        if (merge_key is not None and last is not None and last.merge_key == merge_key
                and self._clean_depth != len(self._done)):
            self._done[-1] = Step(text, last.undo, redo, merge_key)
        else:
            self._done.append(Step(text, undo, redo, merge_key))
            if len(self._done) > self.limit:
                del self._done[0]
                if self._clean_depth is not None:
                    self._clean_depth = self._clean_depth - 1 if self._clean_depth else None
        self.changed.emit()

    def undo(self) -> None:
        if not self._done:
            return
        step = self._done.pop()
        step.undo()
        self._undone.append(step)
        self.changed.emit()

    def redo(self) -> None:
        if not self._undone:
            return
        step = self._undone.pop()
        step.redo()
        self._done.append(step)
        self.changed.emit()

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._clean_depth = 0
        self.changed.emit()
