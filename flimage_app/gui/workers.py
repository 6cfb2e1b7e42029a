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

The work may report ``progress(done, total)`` or ``progress(done, total, label)``
where `label` names the pass over the frames ("measuring", "writing"); the
dialog then says "Correcting bleaching — writing: 12 of 60".  A count that
starts again from a smaller `done` without a label is taken as the next pass
("pass 2: 12 of 60"), so each pass counts the frames it really goes through.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.model.errors import Cancelled, FLImageAppError

log = logging.getLogger(__name__)

#: Signature of the work a task runs: ``function(progress, cancel) -> result``;
#: ``progress(done, total, label=None)``.
TaskFunction = Callable[[Callable[..., None], Callable[[], bool]], Any]

#: Room a window manager's title bar takes besides the title: icon, buttons, margins (px).
TITLE_BAR_EXTRA = 140


def widen_for_title(dialog: QtWidgets.QWidget) -> None:
    """Make `dialog` at least as wide as its window title needs in a title bar.

    Small dialogs (an input box, a progress bar) are sized to their contents, and
    window managers cut the title short to that width.  The title font is the
    window manager's; the application's bold font is a close stand-in.
    """
    font = QtGui.QFont(dialog.font())
    font.setBold(True)
    needed = (QtGui.QFontMetrics(font).horizontalAdvance(dialog.windowTitle())
              + TITLE_BAR_EXTRA)
    if dialog.minimumWidth() < needed:
        dialog.setMinimumWidth(needed)


class ProgressText:
    """What a progress dialog shows for ``progress(done, total[, label])`` reports.

    Qt-free, so that the counting can be tested without a dialog.

    Parameters
    ----------
    title
        What is being done, e.g. "Correcting bleaching".
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.label: str | None = None
        self.pass_number = 1
        self._last_done = 0

    def set_label(self, label: str) -> None:
        """Name the pass that the following reports count ("fitting", "writing")."""
        self.label = label or self.label

    def update(self, done: int, total: int, label: str | None = None) -> tuple[int, int, str]:
        """The bar's value and maximum and the text for a report.

        `done` is clamped to ``0 … total``: the text never claims more work than
        there is.  A total of 0 or less means "unknown" (a busy bar, no count).
        """
        done, total = int(done), int(total)
        if label:
            self.set_label(label)
        elif done < self._last_done and self.label is None:
            self.pass_number += 1  # the count started again: the next pass over the frames
        self._last_done = done
        if self.label:
            stage = f"{self.title} — {self.label}"
        elif self.pass_number > 1:
            stage = f"{self.title} — pass {self.pass_number}"
        else:
            stage = self.title
        if total <= 0:
            return 0, 0, f"{stage}…"
        done = min(max(done, 0), total)
        return done, total, f"{stage}: {done} of {total}"


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
    #: the label of the pass the next ``progressed`` belongs to (emitted when it changes)
    stageChanged = QtCore.pyqtSignal(str)
    succeeded = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(str)
    cancelled = QtCore.pyqtSignal()
    finished = QtCore.pyqtSignal()

    def __init__(self, function: TaskFunction, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._function = function
        self._cancel_requested = threading.Event()
        self._done = threading.Event()
        self._stage: str | None = None
        # Set when ``finished`` reaches this object's thread (the GUI thread), i.e. after
        # the outcome's handlers ran: a panel that reports ``busy`` from is_done() must
        # not look idle while its result is still on its way.
        self.finished.connect(self._on_finished)

    def cancel(self) -> None:
        """Ask the task to stop at its next ``cancel()`` check."""
        self._cancel_requested.set()

    def is_cancel_requested(self) -> bool:
        return self._cancel_requested.is_set()

    def is_done(self) -> bool:
        """True once the outcome (succeeded / failed / cancelled) has been delivered."""
        return self._done.is_set()

    def _on_finished(self) -> None:
        self._done.set()

    def report_progress(self, done: int, total: int, label: str | None = None) -> None:
        """The ``progress`` callback the work gets (called in the worker thread)."""
        if label and label != self._stage:
            self._stage = label
            self.stageChanged.emit(label)  # queued before the count it labels
        self.progressed.emit(int(done), int(total))

    def start(self) -> None:
        """Run the task in Qt's global thread pool."""
        QtCore.QThreadPool.globalInstance().start(self.run)

    def run(self) -> None:
        """Execute the function in the calling thread and emit the outcome."""
        try:
            result = self._function(self.report_progress, self.is_cancel_requested)
        except Cancelled:
            self.cancelled.emit()
        except Exception as error:  # every failure must reach the user, not kill the thread
            if not isinstance(error, FLImageAppError | OSError | ValueError):
                log.exception("Task failed")
            self.failed.emit(error_message(error))
        else:
            self.succeeded.emit(result)
        finally:
            self.finished.emit()


def run_with_progress(parent: QtWidgets.QWidget | None, title: str, function: TaskFunction,
                      on_success: Callable[[Any], None] | None = None,
                      show_errors: bool = True, start: bool = True) -> Task:
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
    start
        Start the task now; False leaves that to the caller (:meth:`Task.start`), who
        can then connect to its signals first — a quick task may otherwise finish
        before a connection made after this call, which then never hears of it.

    Returns
    -------
    Task
        The running task (connect to its signals for more).
    """
    from flimage_app.gui.widgets.dialogs import show_error

    dialog = QtWidgets.QProgressDialog(title, "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title)
    widen_for_title(dialog)
    dialog.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(300)  # quick tasks finish without a flashing dialog
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    task = Task(function, parent)
    text = ProgressText(title)

    # setValue() of a shown modal dialog processes events, so later counts and the task's
    # `finished` can arrive inside it (counts nest, `finished` may come in the innermost);
    # the dialog is closed and deleted once, after the outermost setValue returned, and
    # no count touches it after that.
    status = {"updating": 0, "finished": False, "disposed": False}

    def dispose() -> None:
        if status["disposed"]:
            return
        status["disposed"] = True
        dialog.close()
        dialog.deleteLater()

    def show_progress(done: int, total: int) -> None:
        if status["finished"]:
            return
        value, maximum, label = text.update(done, total)
        dialog.setMaximum(maximum)
        dialog.setLabelText(label)
        status["updating"] += 1
        try:
            dialog.setValue(value)
        finally:
            status["updating"] -= 1
        if status["finished"] and not status["updating"]:
            dispose()

    def finish() -> None:
        status["finished"] = True
        if not status["updating"]:
            dispose()

    def request_cancel() -> None:
        dialog.setLabelText(f"{title}: cancelling…")
        task.cancel()

    task.stageChanged.connect(text.set_label)
    task.progressed.connect(show_progress)
    dialog.canceled.connect(request_cancel)
    if on_success is not None:
        task.succeeded.connect(on_success)
    if show_errors:
        task.failed.connect(lambda message: show_error(parent, f"{title} failed", message))
    task.finished.connect(finish)
    if start:
        task.start()
    return task
