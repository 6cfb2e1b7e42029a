"""The progress protocol of long operations: frames counted within named passes.

A long operation takes ``progress(done, total)`` and calls it after every
frame of a pass over the frames, with `done` and `total` counted in frames
of that pass (``40/80``, not steps summed over all passes).  Before each
pass it calls :func:`start_pass`: a `progress` object that has a
``start_pass(name)`` method learns the pass's name ("measuring",
"writing" …) and can show it; a plain two-argument function is called as
before and sees the count start again at every pass.
"""

from __future__ import annotations

from collections.abc import Callable

#: ``progress(done, total)``: frames done in the current pass, and its frames
Progress = Callable[[int, int], None]
#: ``cancel()``: True when the user asked to stop
Cancel = Callable[[], bool]


def start_pass(progress: Progress | None, name: str) -> None:
    """Tell `progress` that the pass `name` starts, if it listens (has ``start_pass``)."""
    listener = getattr(progress, "start_pass", None)
    if callable(listener):
        listener(name)


__all__ = ["Cancel", "Progress", "start_pass"]
