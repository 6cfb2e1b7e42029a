"""Worker tasks: results, progress, cancel and error messages reach the GUI thread."""

from __future__ import annotations

from flimage_app.gui.workers import Task, error_message, run_with_progress
from flimage_app.model.errors import Cancelled, FileFormatError


def test_task_reports_progress_and_result(qtbot):
    def work(progress, cancel):
        for done in range(1, 4):
            progress(done, 3)
        return "result"

    task = Task(work)
    steps = []
    task.progressed.connect(lambda done, total: steps.append((done, total)))
    with qtbot.waitSignals([task.succeeded, task.finished], timeout=5000) as signals:
        task.start()
    assert signals.all_signals_and_args[0].args == ("result",)
    qtbot.waitUntil(lambda: len(steps) == 3)
    assert steps == [(1, 3), (2, 3), (3, 3)]


def test_task_cancel_raises_cancelled_in_the_work(qtbot):
    def work(progress, cancel):
        while not cancel():
            qtbot_sleep()
        raise Cancelled("stopped")

    task = Task(work)
    with qtbot.waitSignal(task.cancelled, timeout=5000):
        task.start()
        task.cancel()
    qtbot.waitUntil(task.is_done)


def qtbot_sleep():
    import time

    time.sleep(0.001)


def test_task_failure_gives_one_line_message(qtbot):
    def work(progress, cancel):
        raise FileFormatError("data.h5: not an HDF5 file\nsecond line")

    task = Task(work)
    with qtbot.waitSignal(task.failed, timeout=5000) as signal:
        task.start()
    assert signal.args == ["data.h5: not an HDF5 file"]


def test_unexpected_errors_are_named():
    assert error_message(ZeroDivisionError("division by zero")) == \
        "Unexpected ZeroDivisionError: division by zero"
    assert error_message(KeyError("no such key")) == "no such key"


def test_run_with_progress_calls_back_and_shows_errors(qtbot, monkeypatch):
    from flimage_app.gui.widgets import dialogs

    shown = []
    monkeypatch.setattr(dialogs.QtWidgets.QMessageBox, "critical",
                        lambda _parent, title, message: shown.append((title, message)))
    results = []
    task = run_with_progress(None, "Adding", lambda progress, cancel: 2 + 2, results.append)
    qtbot.waitUntil(lambda: results == [4], timeout=5000)

    def fail(progress, cancel):
        raise OSError("disk full")

    failing = run_with_progress(None, "Failing", fail)
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
    assert shown[0] == ("Failing failed", "disk full")
    qtbot.waitUntil(lambda: task.is_done() and failing.is_done(), timeout=5000)


# --- what the progress dialog says ------------------------------------------------------------
def test_progress_text_counts_each_pass_and_names_it():
    from flimage_app.gui.workers import ProgressText

    text = ProgressText("Correcting bleaching")
    assert text.update(0, 0) == (0, 0, "Correcting bleaching…")
    assert text.update(30, 60) == (30, 60, "Correcting bleaching: 30 of 60")
    assert text.update(60, 60)[2] == "Correcting bleaching: 60 of 60"
    # the count starts again: the second pass over the 60 frames
    assert text.update(4, 60) == (4, 60, "Correcting bleaching — pass 2: 4 of 60")
    # never more done than there is work
    assert text.update(64, 60) == (60, 60, "Correcting bleaching — pass 2: 60 of 60")
    assert text.update(-3, 60)[0] == 0
    named = ProgressText("Correcting bleaching")
    assert named.update(5, 60, "measuring")[2] == "Correcting bleaching — measuring: 5 of 60"
    assert named.update(2, 60, "writing")[2] == "Correcting bleaching — writing: 2 of 60"
    assert named.update(3, 60)[2] == "Correcting bleaching — writing: 3 of 60"


def test_progress_dialog_shows_the_pass_label_and_real_counts(qtbot):
    import threading

    from PyQt6 import QtWidgets

    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    release = threading.Event()
    stages = []

    def work(progress, cancel):
        progress(1, 60, "measuring")
        progress(60, 60)
        progress(12, 60, "writing")
        release.wait(5)
        return "done"

    results = []
    task = run_with_progress(parent, "Correcting bleaching", work, results.append)
    task.stageChanged.connect(stages.append)
    dialog = parent.findChild(QtWidgets.QProgressDialog)
    qtbot.waitUntil(lambda: dialog.labelText().endswith("12 of 60"), timeout=5000)
    assert dialog.labelText() == "Correcting bleaching — writing: 12 of 60"
    assert dialog.maximum() == 60 and dialog.value() == 12
    release.set()
    qtbot.waitUntil(lambda: results == ["done"], timeout=5000)


def test_progress_dialog_is_wide_enough_for_its_title(qtbot):
    from PyQt6 import QtGui, QtWidgets

    from flimage_app.gui.workers import widen_for_title

    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    title = "Correcting bleaching of HeLa-GFP_2024-05-03_dish2_timelapse"
    task = run_with_progress(parent, title, lambda progress, cancel: None)
    dialog = parent.findChild(QtWidgets.QProgressDialog)
    bold = QtGui.QFont(dialog.font())
    bold.setBold(True)
    assert dialog.minimumWidth() >= QtGui.QFontMetrics(bold).horizontalAdvance(title) + 100
    qtbot.waitUntil(task.is_done, timeout=5000)
    box = QtWidgets.QInputDialog()
    qtbot.addWidget(box)
    box.setMinimumWidth(2000)
    box.setWindowTitle("Pixel size")
    widen_for_title(box)
    assert box.minimumWidth() == 2000  # never narrower than it was


def test_a_task_is_done_only_once_its_outcome_arrived(qtbot):
    """``busy`` flags built on is_done() must not look idle while the result travels."""
    import threading
    import time

    returned = threading.Event()

    def work(progress, cancel):
        returned.set()
        return 7

    results = []
    task = Task(work)
    task.succeeded.connect(results.append)
    task.start()
    assert returned.wait(5)
    time.sleep(0.1)  # the worker has long finished; the GUI thread has not heard yet
    assert not task.is_done() and results == []
    qtbot.waitUntil(task.is_done, timeout=5000)
    assert results == [7]


def test_progress_dialog_survives_the_task_finishing_inside_its_update(qtbot, monkeypatch):
    """A shown modal QProgressDialog processes events in setValue(), so the task's
    `finished` (and, under load, the deletion of the dialog) can come inside the update
    of a count; the count must not then touch a deleted dialog ("wrapped C/C++ object
    of type QProgressDialog has been deleted", seen exporting a TIFF in the session
    workflow).  The test makes setValue() do what Qt does when the dialog is shown, and
    deletes what was scheduled for deletion meanwhile."""
    from PyQt6 import QtCore, QtWidgets

    set_value = QtWidgets.QProgressDialog.setValue
    processing = []

    def set_value_processing_events(dialog, value):
        set_value(dialog, value)
        if processing:  # as in Qt: a setValue() inside another one processes no events
            return
        processing.append(True)
        try:
            QtCore.QCoreApplication.processEvents()
        finally:
            processing.pop()
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)

    monkeypatch.setattr(QtWidgets.QProgressDialog, "setValue", set_value_processing_events)
    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)

    def work(progress, cancel):
        for done in range(1, 4):  # the later counts and `finished` arrive in the first count
            progress(done, 3)
        return "done"

    results = []
    task = run_with_progress(parent, "Exporting", work, results.append)
    qtbot.waitUntil(lambda: results == ["done"] and task.is_done(), timeout=5000)
    qtbot.waitUntil(lambda: parent.findChild(QtWidgets.QProgressDialog) is None, timeout=5000)
