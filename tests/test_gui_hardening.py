"""The GUI with bad input and faults: a dialog, never a crash; files stay safe."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.corpus import CASES, running_as_root
from tests.gui_support import wait_for_frame, write_series
from tests.test_faults import write_long_series

#: fixtures settings_file, errors, window
pytest_plugins = ["tests.gui_fixtures"]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


@pytest.mark.parametrize("name, expected, make", CASES, ids=[case[0] for case in CASES])
def test_bad_files_give_a_dialog_and_the_app_stays_usable(qtbot, window, errors, tmp_path,
                                                         name, expected, make):
    if name == "unreadable file" and running_as_root():
        pytest.skip("root reads files without read permission")
    good = tmp_path / "good.h5"
    write_series(good, count=3)
    window.open_paths([good])
    wait_for_frame(qtbot, window, 0)
    bad = make(tmp_path)
    before = digest(bad)
    window.open_paths([bad])
    if expected["read"] == "error":
        assert errors, f"no dialog for {name}"
        title, message = errors[-1]
        assert bad.name in message and "\n" not in message.strip()
    if window.current_document() is not None and len(window.current_document()) > 0:
        # step through the odd file: frames that cannot be read are reported, not fatal
        for _ in range(min(len(window.current_document()), 8)):
            window.browser.step("next")
            qtbot.wait(20)
    # the app still works: the good series is there and shows its frames
    window.set_current_document(window.documents[0])
    window.browser.step("first")
    wait_for_frame(qtbot, window, 0)
    window.browser.step("next")
    wait_for_frame(qtbot, window, 1)
    assert digest(bad) == before


def test_file_deleted_while_open(qtbot, window, errors, tmp_path):
    path = tmp_path / "vanishing.h5"
    write_series(path, count=6)
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    os.remove(path)
    for index in range(1, 6):
        window.browser.step("next")
        wait_for_frame(qtbot, window, index)  # the open handle keeps the data readable


def test_file_replaced_while_open(qtbot, window, errors, tmp_path):
    path = tmp_path / "replaced.h5"
    write_series(path, count=6)
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    replacement = tmp_path / "other.h5"
    replacement.write_bytes(b"not hdf5 at all")
    os.replace(replacement, path)
    for index in range(1, 6):
        window.browser.step("next")
        wait_for_frame(qtbot, window, index)
    # reopening the path now gives a clear dialog about the new content
    window.open_paths([path])
    assert errors and "replaced.h5" in errors[-1][1]


SAVE_SCRIPT = textwrap.dedent("""
    import sys
    from flimage_app.gui.app import ensure_application
    from flimage_app.gui.main_window import MainWindow
    app = ensure_application()
    window = MainWindow(load_optional_panels=False)
    window.headless = True
    document = window.open_paths([sys.argv[1]])[0]
    # an in-memory edit forces a rewrite, not only a byte copy
    document.set_meta("device", "microscope 2", list(range(len(document))))
    print("saving", flush=True)
    while True:  # save again and again until killed
        document.save_copy(sys.argv[2], overwrite=True)
""")


def test_sigkill_during_gui_save(tmp_path):
    source = write_long_series(tmp_path / "input.h5", frames=120)
    before = digest(source)
    target = tmp_path / "saved.h5"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               FLIMAGE_APP_SETTINGS=str(tmp_path / "settings.ini"))
    process = subprocess.Popen([sys.executable, "-c", SAVE_SCRIPT, str(source), str(target)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert process.stdout.readline().strip() == b"saving"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
        if partial and partial[0].stat().st_size > 500_000:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert digest(source) == before
    # the target is either absent or a complete earlier save, never a partial file
    if target.exists():
        from flimage_app.model import FLSeries

        with FLSeries(h5file=target, h5mode="r") as saved:
            assert len(saved) == 120
            assert saved[119]["device"] == "microscope 2"
