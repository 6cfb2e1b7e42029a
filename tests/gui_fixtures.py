"""Fixtures of the GUI tests (load with ``pytest_plugins = ["tests.gui_fixtures"]``)."""

from __future__ import annotations

import pytest


@pytest.fixture
def settings_file(tmp_path, monkeypatch):
    """Redirect the app's settings to an INI file in tmp_path."""
    from flimage_app.gui.app import SETTINGS_ENV

    path = tmp_path / "settings.ini"
    monkeypatch.setenv(SETTINGS_ENV, str(path))
    return path


@pytest.fixture
def errors(monkeypatch):
    """Record error dialogs instead of showing them: a list of (title, message)."""
    from PyQt6 import QtWidgets

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical",
                        lambda _parent, title, message, *args: shown.append((title, message)))
    return shown


@pytest.fixture
def window(qtbot, settings_file, errors):
    """A main window without the optional panels, closed (threads stopped) after the test."""
    from flimage_app.gui.main_window import MainWindow

    main_window = MainWindow(load_optional_panels=False)
    # pytest-qt closes the window before this fixture ends: close the series first, or a
    # test that leaves unsaved work would wait for an answer to the quit prompt
    qtbot.addWidget(main_window, before_close_func=lambda widget: widget.shutdown())
    yield main_window
    main_window.shutdown()


@pytest.fixture
def discard_without_asking(monkeypatch):
    """Closing a series or the window with unsaved work (edits, ROIs) discards it unasked.

    For tests about something else that close a window with unsaved work; the close/quit
    prompt itself is tested by answering the real message box
    (``tests.gui_support.answer_message_boxes``).
    """
    from flimage_app.gui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "_confirm_discard", lambda self, documents: True)
