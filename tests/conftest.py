"""Shared test set-up: offscreen Qt, the reference files, and small synthetic series."""

import gc
import os
import pathlib
import shutil
import sys

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# every test (and every CLI or GUI process it starts) behaves as on a computer with 2 GB
# of free memory, so that the bad-input corpus is refused the same way on any machine
# (flimage_app.model.validate.MEMORY_LIMIT_VARIABLE)
os.environ.setdefault("FLIMAGE_APP_MEMORY_LIMIT", str(2 * 2**30))


#: the environment variable that points the app at its settings file
#: (flimage_app.gui.app.SETTINGS_ENV, not imported here: that would load Qt for every test)
SETTINGS_ENV = "FLIMAGE_APP_SETTINGS"


@pytest.fixture(autouse=True)
def own_settings(tmp_path, monkeypatch):
    """Every test (and every process it starts) keeps its settings in its own file.

    Without this, a test that opened a window without asking for `settings_file`
    wrote its window geometry and recent files into the user's own settings.
    """
    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "settings.ini"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item):
    """Delete the widgets a test closed before the next test runs.

    pytest-qt closes a test's widgets with deleteLater(), which only an event loop
    carries out. Left pending, they were freed by the garbage collector during a later
    test, which could clear a pyqtgraph item's attributes before Qt's destructor asked
    it for its bounding rectangle (an AttributeError in an unrelated test).
    """
    result = yield
    widgets = sys.modules.get("PyQt6.QtWidgets")
    if widgets is not None and widgets.QApplication.instance() is not None:
        from PyQt6 import QtCore

        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)
        gc.collect()
    return result


#: reference files written by flimage (read-only; copy before writing)
REFERENCE_DIR = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flimage"


@pytest.fixture
def reference_file(tmp_path):
    """Copy a reference file of flimage to tmp_path and return the copy's path."""
    def copy(name: str) -> pathlib.Path:
        source = REFERENCE_DIR / name
        if not source.exists():
            pytest.skip(f"reference file {source} not available")
        target = tmp_path / name
        shutil.copy(source, target)
        return target
    return copy
