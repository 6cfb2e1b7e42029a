"""Files passed by the desktop reach the running app."""

import os

from PyQt6 import QtCore

from flimage_app.gui.file_open import FileOpenReceiver, send_to_running_app


def test_second_launch_hands_files_to_the_running_app(qtbot, tmp_path):
    name = f"flimage-app-test-{os.getpid()}"
    receiver = FileOpenReceiver(name=name)
    assert receiver.listening
    try:
        with qtbot.waitSignal(receiver.files_requested, timeout=3000) as blocker:
            assert send_to_running_app([tmp_path / "a.h5", "b.tif"], name=name)
        assert blocker.args[0] == [str(tmp_path / "a.h5"), os.path.abspath("b.tif")]
    finally:
        receiver.close()


def test_no_running_app_means_start_a_new_one(qtbot):
    assert not send_to_running_app(["x.h5"], name=f"flimage-app-nobody-{os.getpid()}")


def test_stale_socket_is_taken_over(qtbot):
    name = f"flimage-app-stale-{os.getpid()}"
    first = FileOpenReceiver(name=name)
    second = FileOpenReceiver(name=name)  # as after a crash of the first
    try:
        assert second.listening
    finally:
        first.close()
        second.close()


class FinderOpenEvent:
    """Stands in for QFileOpenEvent, which PyQt6 cannot construct."""

    def type(self):
        return QtCore.QEvent.Type.FileOpen

    def file(self):
        return "/data/cell.h5"


def test_macos_open_event(qtbot):
    receiver = FileOpenReceiver(name=f"flimage-app-event-{os.getpid()}")
    try:
        with qtbot.waitSignal(receiver.files_requested, timeout=1000) as blocker:
            assert receiver.eventFilter(QtCore.QObject(), FinderOpenEvent())
        assert blocker.args[0] == ["/data/cell.h5"]
    finally:
        receiver.close()
