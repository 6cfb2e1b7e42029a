"""Collect the warnings raised in one thread, leaving every other thread's warnings alone.

Why not :class:`warnings.catch_warnings`: it swaps state of the whole process
(the filter list and the display hook).  Used in a worker thread it also
swallows the GUI thread's warnings while it is active, and two threads that
enter and leave it out of order leave one thread's temporary hook installed
for good — the main window uses it whenever it opens a file, which a second
launch can make happen while a batch runs in a worker.

Instead, one router is installed for the rest of the process on
``warnings._showwarnmsg`` (the hook through which Python displays every
warning, documented in its source as "replace if you like"; ``catch_warnings``
never swaps it).  A warning raised in a thread that is collecting goes to that
thread's list; any other warning goes on to the display that was there
before.  A filter placed first in the filter list shows every warning of a
collecting thread each time it is raised (it matches in those threads only),
so that the same message for two files is collected twice.

Threads started by the collecting thread (e.g. decompression pools) are not
collecting; their warnings are displayed as usual.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: thread identifier → the list its innermost :func:`collect_warnings` fills
_collectors: dict[int, list[str]] = {}
_install_lock = threading.Lock()
_display_before = None


class _InCollectingThread:
    """Stands for the message pattern of a filter: matches in collecting threads only."""

    def match(self, _text: str) -> bool:
        return threading.get_ident() in _collectors


#: ("always", message pattern, category, module, line) in the form of ``warnings.filters``
_ALWAYS_WHILE_COLLECTING = ("always", _InCollectingThread(), Warning, None, 0)


def _route(message: warnings.WarningMessage) -> None:
    collector = _collectors.get(threading.get_ident())
    if collector is not None:
        collector.append(str(message.message))
    else:
        _display_before(message)


def _install() -> bool:
    """Put the router and the filter in place (again, if some code removed them).

    Returns False where this Python's warnings module has no such hook (the
    warnings are then displayed as usual, never lost).
    """
    global _display_before
    with _install_lock:
        display = getattr(warnings, "_showwarnmsg", None)
        if display is None:
            return False
        if display is not _route:
            _display_before = display
            warnings._showwarnmsg = _route
        if not any(entry is _ALWAYS_WHILE_COLLECTING for entry in warnings.filters):
            warnings.filters.insert(0, _ALWAYS_WHILE_COLLECTING)
        # forget which warnings were shown once already ("default" action), so that a
        # message seen before the block is collected in it
        forget = getattr(warnings, "_filters_mutated", None)
        if forget is not None:
            forget()
        return True


@contextmanager
def collect_warnings() -> Iterator[list[str]]:
    """Collect the messages of the warnings the calling thread raises inside the block.

    Blocks may be nested; a warning goes to the innermost one only.  Other
    threads' warnings are displayed as if no block were active.

    Yields
    ------
    list of str
        Filled with one message per warning raised, in order.
    """
    if not _install():
        yield []
        return
    ident = threading.get_ident()
    outer = _collectors.get(ident)
    collected: list[str] = []
    _collectors[ident] = collected
    try:
        yield collected
    finally:
        if outer is None:
            del _collectors[ident]
        else:
            _collectors[ident] = outer
