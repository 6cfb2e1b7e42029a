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


def test_running_app_opens_files_from_a_second_launch(tmp_path):
    """Two real processes: the second `flimage-app FILE` hands FILE to the first."""
    import subprocess
    import sys
    import textwrap
    import time

    from tests.gui_support import write_series

    series = tmp_path / "handed_over.h5"
    write_series(series, count=2)
    marker = tmp_path / "opened.txt"
    ready = tmp_path / "ready.txt"
    first_script = textwrap.dedent(f"""
        import sys
        from PyQt6 import QtCore
        from flimage_app.gui import main_window
        original = main_window.MainWindow.open_paths
        def recording(self, paths, *args, **kwargs):
            result = original(self, paths, *args, **kwargs)
            open({str(marker)!r}, "a").write("\\n".join(map(str, paths)) + "\\n")
            QtCore.QTimer.singleShot(100, self.close)
            return result
        main_window.MainWindow.open_paths = recording
        from flimage_app.gui import main
        from flimage_app.gui.app import ensure_application
        ensure_application()
        # fires once the event loop runs, i.e. after the app listens for files
        QtCore.QTimer.singleShot(0, lambda: open({str(ready)!r}, "w").write("ready"))
        sys.exit(main([]))
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               FLIMAGE_APP_SETTINGS=str(tmp_path / "settings.ini"),
               USER=f"flimage-test-{os.getpid()}", LOGNAME=f"flimage-test-{os.getpid()}")
    first = subprocess.Popen([sys.executable, "-c", first_script], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ready.exists():
            time.sleep(0.05)
        assert ready.exists(), "the first app did not start"
        second = subprocess.run([sys.executable, "-m", "flimage_app", str(series)],
                                env=env, capture_output=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert first.wait(timeout=30) == 0
        assert marker.read_text().split() == [str(series)]
    finally:
        if first.poll() is None:
            first.kill()
