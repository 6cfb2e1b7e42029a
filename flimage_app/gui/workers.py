"""Run long model work off the GUI thread, with a progress dialog and Cancel.

Model functions take ``progress(done, total)`` and ``cancel() -> bool``
callbacks (see docs/ARCHITECTURE.md).  :class:`Task` runs such a callable in
Qt's thread pool and turns its outcome into signals:

* ``succeeded(result)`` when it returns,
* ``cancelled()`` when it raised :class:`~flimage_app.model.errors.Cancelled`,
* ``failed(message)`` with a one-line message for any other error,
* ``finished()`` in every case, last.

:func:`run_with_progress` adds a modal progress dialog whose Cancel button
asks the task to stop, and shows an error dialog when it fails.  Panels reuse
it for every operation that may take more than a moment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PyQt6 import QtCore, QtWidgets

from flimage_app.model.errors import Cancelled, FLImageAppError

log = logging.getLogger(__name__)

#: Signature of the work a task runs: ``function(progress, cancel) -> result``.
TaskFunction = Callable[[Callable[[int, int], None], Callable[[], bool]], Any]


def error_message(error: BaseException) -> str:
    """One line describing `error` for a dialog.

    The app's own errors and OS errors already carry a message written for
    users; anything else is a bug, so its type is named to make reports useful.
    """
    if isinstance(error, FLImageAppError | OSError | ValueError | KeyError):
        text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        return text.splitlines()[0] if text else type(error).__name__
    return f"Unexpected {type(error).__name__}: {error}"


class Task(QtCore.QObject):
    """A callable ``function(progress, cancel)`` run once in a worker thread."""

    progressed = QtCore.pyqtSignal(int, int)
    succeeded = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(str)
    cancelled = QtCore.pyqtSignal()
    finished = QtCore.pyqtSignal()

    def __init__(self, function: TaskFunction, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._function = function
        self._cancel_requested = threading.Event()
        self._done = threading.Event()

    def cancel(self) -> None:
        """Ask the task to stop at its next ``cancel()`` check."""
        self._cancel_requested.set()

    def is_cancel_requested(self) -> bool:
        return self._cancel_requested.is_set()

    def is_done(self) -> bool:
        return self._done.is_set()

    def start(self) -> None:
        """Run the task in Qt's global thread pool."""
        QtCore.QThreadPool.globalInstance().start(self.run)

    def run(self) -> None:
        """Execute the function in the calling thread and emit the outcome."""
        try:
            result = self._function(self.progressed.emit, self.is_cancel_requested)
        except Cancelled:
            self.cancelled.emit()
        except Exception as error:  # every failure must reach the user, not kill the thread
            if not isinstance(error, FLImageAppError | OSError | ValueError):
                log.exception("Task failed")
            self.failed.emit(error_message(error))
        else:
            self.succeeded.emit(result)
        finally:
            self._done.set()
            self.finished.emit()


def run_with_progress(parent: QtWidgets.QWidget | None, title: str, function: TaskFunction,
                      on_success: Callable[[Any], None] | None = None,
                      show_errors: bool = True) -> Task:
    """Run `function` in a worker thread behind a modal progress dialog with Cancel.

    Parameters
    ----------
    parent
        Widget the dialog belongs to.
    title
        What is being done, e.g. "Correcting bleaching".
    function
        ``function(progress, cancel)``; see :data:`TaskFunction`.
    on_success
        Called in the GUI thread with the function's result.
    show_errors
        Show an error dialog when the task fails.

    Returns
    -------
    Task
        The running task (connect to its signals for more).
    """
    from flimage_app.gui.widgets.dialogs import show_error

    dialog = QtWidgets.QProgressDialog(title, "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(300)  # quick tasks finish without a flashing dialog
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    task = Task(function, parent)

    def show_progress(done: int, total: int) -> None:
        dialog.setMaximum(max(total, 0))
        dialog.setValue(min(done, total) if total > 0 else 0)
        dialog.setLabelText(f"{title}… {done} of {total}" if total > 0 else f"{title}…")

    def request_cancel() -> None:
        dialog.setLabelText(f"{title}: cancelling…")
        task.cancel()

    task.progressed.connect(show_progress)
    dialog.canceled.connect(request_cancel)
    if on_success is not None:
        task.succeeded.connect(on_success)
    if show_errors:
        task.failed.connect(lambda message: show_error(parent, f"{title} failed", message))
    task.finished.connect(dialog.close)
    task.finished.connect(dialog.deleteLater)
    task.start()
    return task
