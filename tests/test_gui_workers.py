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
    assert task.is_done() and failing.is_done()
