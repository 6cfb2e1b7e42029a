"""Workflow tests: a biologist's sessions replayed with real mouse and key events.

Every step a user takes is a QTest click, drag or key press on the widget the
user would touch (menus through their shortcuts, the list of open series, the
panel tabs, the panels' buttons, the image's viewport, the message box's
buttons).  Only the operating system's file dialogs are answered by the test.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PyQt6 import QtCore, QtGui, QtWidgets
from PyQt6.QtTest import QTest

from flimage_app.model.loader import open_series
from flimage_app.model.provenance import read_provenance
from flimage_app.model.rois import RectangleROI, read_roiset
from tests.gui_support import answer_message_boxes

#: fixtures settings_file, errors
pytest_plugins = ["tests.gui_fixtures"]

LEFT = QtCore.Qt.MouseButton.LeftButton
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
BUTTONS = QtWidgets.QMessageBox.StandardButton
FRAMES, ROWS, COLUMNS = 12, 96, 112
PIXEL_SIZE_UM = 0.5
INTERVAL_S = 2.0


def write_cells_tiff(path, decay=0.08, seed=0):
    """A 16-bit ImageJ stack of two bleaching cells on a flat background (as a camera writes)."""
    rng = np.random.default_rng(seed)
    rows, columns = np.indices((ROWS, COLUMNS))
    cells = (900 * np.exp(-((rows - 40) ** 2 + (columns - 70) ** 2) / 150)
             + 600 * np.exp(-((rows - 60) ** 2 + (columns - 40) ** 2) / 100))
    stack = np.stack([100 + cells * np.exp(-decay * index) + rng.normal(0, 3, cells.shape)
                      for index in range(FRAMES)]).round().astype(np.uint16)
    tifffile.imwrite(path, stack, imagej=True,
                     resolution=(1 / PIXEL_SIZE_UM, 1 / PIXEL_SIZE_UM),
                     metadata={"axes": "TYX", "finterval": INTERVAL_S, "unit": "um"})
    return stack


def make_window(qtbot, load_optional_panels=True, size=(1400, 900)):
    """The app's main window, shown and active, as a user gets it."""
    from flimage_app.gui.main_window import MainWindow

    window = MainWindow(load_optional_panels=load_optional_panels)

    def before_close(widget) -> None:
        # pytest-qt closes the window at the end: stop work and close the series first
        for name in widget.panel_names():
            panel = widget.panel(name)
            qtbot.waitUntil(lambda p=panel: not getattr(p, "busy", False), timeout=20_000)
        widget.shutdown()

    qtbot.addWidget(window, before_close_func=before_close)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window, timeout=5000)
    return window


def focus_of(window) -> QtWidgets.QWidget:
    """Where a key the user presses now goes: the window's focus widget."""
    if QtWidgets.QApplication.activeWindow() is not window:
        # a closed message box gives the activation back (the offscreen platform does not)
        window.activateWindow()
        assert QTest.qWaitForWindowActive(window, 3000)
    target = QtWidgets.QApplication.focusWidget()
    return target if target is not None and target.window() is window else window


def press(window, key, modifier=QtCore.Qt.KeyboardModifier.NoModifier) -> None:
    """A key press where the user's keyboard focus is (shortcuts of the window answer it)."""
    QTest.keyClick(focus_of(window), key, modifier)


def press_sequence(window, sequence: QtGui.QKeySequence) -> None:
    """The keys of a shortcut, pressed where the keyboard focus is."""
    QTest.keySequence(focus_of(window), sequence)


def click(widget, position: QtCore.QPoint | None = None) -> None:
    if position is None:
        QTest.mouseClick(widget, LEFT)
    else:
        QTest.mouseClick(widget, LEFT, QtCore.Qt.KeyboardModifier.NoModifier, position)


def click_series(qtbot, window, name: str) -> None:
    """Click a series in the list of open series and wait for its first frame on display."""
    names = [document.name for document in window.documents]
    item = window.series_list.item(names.index(name))
    click(window.series_list.viewport(), window.series_list.visualItemRect(item).center())
    qtbot.waitUntil(lambda: window.current_document().name == name
                    and window.current_frame() is not None, timeout=5000)


def click_tab(window, title: str) -> None:
    bar = window.panel_tabs.tabBar()
    titles = [window.panel_tabs.tabText(index) for index in range(bar.count())]
    click(bar, bar.tabRect(titles.index(title)).center())


def viewport_point(window, x: float, y: float) -> QtCore.QPoint:
    """Where image pixel coordinate (x, y) is in the image view's viewport."""
    view = window.image_view
    scene = view.view_box.mapViewToScene(QtCore.QPointF(x, y))
    return view.graphics.mapFromScene(scene)


def drag_on_image(window, start: tuple[float, float], end: tuple[float, float],
                  steps: int = 8) -> None:
    """Press the left button at `start`, move in steps to `end` and release (image px)."""
    viewport = window.image_view.graphics.viewport()
    first, last = viewport_point(window, *start), viewport_point(window, *end)
    QTest.mousePress(viewport, LEFT, QtCore.Qt.KeyboardModifier.NoModifier, first)
    for step in range(1, steps + 1):
        point = first + (last - first) * (step / steps)
        QTest.mouseMove(viewport, point, 15)
    QTest.mouseRelease(viewport, LEFT, QtCore.Qt.KeyboardModifier.NoModifier, last, 15)


def answer_save_dialogs(monkeypatch, *paths) -> list[str]:
    """The operating system's save dialog: answers with `paths` in turn; returns the titles."""
    queue, titles = list(map(str, paths)), []

    def answer(_parent, title, _proposal, filters, **_kwargs):
        titles.append(title)
        return (queue.pop(0) if queue else ""), filters.split(";;")[0]

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", answer)
    return titles


def wait_tasks(qtbot, window, timeout=30_000) -> None:
    """Wait until the window's and the panels' background work is done."""
    qtbot.waitUntil(lambda: not window._tasks and not any(
        getattr(window.panel(name), "busy", False) for name in window.panel_names()),
        timeout=timeout)
    QtWidgets.QApplication.processEvents()


@pytest.fixture
def stacks(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_cells_tiff(folder / "cells.tif")
    write_cells_tiff(folder / "neighbour.tif", decay=0.03, seed=1)
    return folder


# ---------------------------------------------------------------------- session 1
def test_background_bleach_save_export_quit_reopen(qtbot, settings_file, errors, stacks,
                                                   tmp_path, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    window = make_window(qtbot)
    assert {"background", "bleach"} <= set(window.panel_names())

    # File ▸ Open (Ctrl+O): two TIFF stacks
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileNames", lambda *args, **kwargs: (
        [str(stacks / "cells.tif"), str(stacks / "neighbour.tif")], ""))
    press(window, QtCore.Qt.Key.Key_O, CTRL)
    qtbot.waitUntil(lambda: len(window.documents) == 2, timeout=5000)
    click_series(qtbot, window, "cells.tif")

    # the Background panel: pick Rectangle and drag over background in the top-left corner
    click_tab(window, "Background")
    background = window.panel("background")
    qtbot.waitUntil(background.isVisible, timeout=3000)
    click(background.rect_button)
    drag_on_image(window, (4, 4), (30, 20))
    qtbot.waitUntil(lambda: len(background.current_rois()) >= 1, timeout=3000)
    rois = background.current_rois()
    wait_tasks(qtbot, window)  # the background fit of the frame on display
    assert background.stats_label.text() != "Draw a region where there is only background."
    assert "*" not in window.series_list.item(1).text()  # the neighbour is untouched

    # the Bleach panel: its settings, then another series and back: nothing changed
    click_tab(window, "Bleach")
    bleach = window.panel("bleach")
    wait_tasks(qtbot, window)
    settings = bleach.settings()
    click_series(qtbot, window, "neighbour.tif")
    assert window.panel("background").current_rois() == ()
    click_series(qtbot, window, "cells.tif")
    wait_tasks(qtbot, window)
    assert background.current_rois() == rois
    assert bleach.settings() == settings

    # Correct series: the result opens as a new, unsaved series
    qtbot.waitUntil(bleach.correct_button.isEnabled, timeout=10_000)
    click(bleach.correct_button)
    qtbot.waitUntil(lambda: len(window.documents) == 3, timeout=30_000)
    wait_tasks(qtbot, window)
    corrected = window.current_document()
    assert corrected.name == "cells_bleachcorr"
    assert window.windowTitle().startswith("cells_bleachcorr *")
    assert window.series_list.item(2).text() == "cells_bleachcorr *"

    # Ctrl+Q: one prompt names the unsaved result; Cancel keeps everything open
    seen: list[str] = []
    stop = answer_message_boxes(BUTTONS.Cancel, seen)
    press(window, QtCore.Qt.Key.Key_Q, CTRL)
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    stop()
    assert len(seen) == 1
    assert "cells_bleachcorr:" in seen[0] and "the series itself" in seen[0]
    assert window.isVisible() and len(window.documents) == 3

    # save the result (Ctrl+S asks for a name) and the TIFF's session with its ROIs
    titles = answer_save_dialogs(monkeypatch, results / "cells_bleachcorr.h5")
    press(window, QtCore.Qt.Key.Key_S, CTRL)
    assert titles == ["Save cells_bleachcorr as"]
    assert window.series_list.item(2).text() == "cells_bleachcorr"
    click_series(qtbot, window, "cells.tif")
    answer_save_dialogs(monkeypatch, results / "cells_session.h5")
    press(window, QtCore.Qt.Key.Key_S, CTRL)
    assert "*" not in window.windowTitle()

    # File ▸ Export ▸ ImageJ TIFF (Ctrl+E) of the corrected series
    click_series(qtbot, window, "cells_bleachcorr")
    answer_save_dialogs(monkeypatch, results / "cells_bleachcorr.tif")
    press(window, QtCore.Qt.Key.Key_E, CTRL)
    wait_tasks(qtbot, window)
    exported = tifffile.imread(results / "cells_bleachcorr.tif")
    assert exported.shape == (FRAMES, ROWS, COLUMNS) and exported.dtype == np.float32
    assert errors == []

    # Ctrl+Q again: nothing is unsaved, so no prompt, and the window closes
    seen.clear()
    stop = answer_message_boxes(BUTTONS.Cancel, seen)
    press(window, QtCore.Qt.Key.Key_Q, CTRL)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    stop()
    assert seen == [] and window.documents == []

    # the saved files: the result keeps its provenance, the session its ROIs
    assert read_provenance(results / "cells_bleachcorr.h5")["operation"] == "bleach correction"
    with open_series(results / "cells_session.h5") as saved:
        assert read_roiset(saved.h5).rois == rois

    # reopen the saved session in a new window: the ROIs are there
    again = make_window(qtbot)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileNames", lambda *args, **kwargs: (
        [str(results / "cells_session.h5")], ""))
    press(again, QtCore.Qt.Key.Key_O, CTRL)
    qtbot.waitUntil(lambda: again.current_frame() is not None, timeout=5000)
    click_tab(again, "Background")
    assert again.panel("background").current_rois() == rois
    assert "*" not in again.windowTitle()


def test_rectangle_is_drawn_where_it_is_dragged(qtbot, settings_file, errors, stacks):
    window = make_window(qtbot)
    window.open_paths([stacks / "cells.tif"])
    qtbot.waitUntil(lambda: window.current_frame() is not None, timeout=5000)
    click_tab(window, "Background")
    background = window.panel("background")
    range_before = window.image_view.view_box.viewRange()
    click(background.rect_button)
    assert background.rect_button.isChecked()  # the active tool shows as pressed
    drag_on_image(window, (6, 8), (36, 28))
    qtbot.waitUntil(lambda: len(background.current_rois()) == 1, timeout=3000)
    roi = background.current_rois()[0]
    assert isinstance(roi, RectangleROI)
    assert (roi.x, roi.y) == pytest.approx((6, 8), abs=1.0)
    assert (roi.width, roi.height) == pytest.approx((30, 20), abs=1.0)
    # the drag drew; it did not pan the image
    np.testing.assert_allclose(window.image_view.view_box.viewRange(), range_before)


# ---------------------------------------------------------------------- session 2
def metadata_cell(panel, key: str) -> QtCore.QPoint:
    item = panel.table.item(panel.key_row(key), 1)
    return panel.table.visualItemRect(item).center()


def test_metadata_edit_undo_redo_and_the_close_prompt(qtbot, settings_file, errors, stacks):
    window = make_window(qtbot)
    window.open_paths([stacks / "cells.tif"])
    qtbot.waitUntil(lambda: window.current_frame() is not None, timeout=5000)
    document = window.current_document()
    panel = window.metadata_panel
    assert panel.value_text("pixel size") == "0.5"

    # double-click the pixel size, type a new value, Enter
    table, cell = panel.table, metadata_cell(panel, "pixel size")
    # a double click is a click and a second press that Qt reports as a double click
    click(table.viewport(), cell)
    QTest.mouseDClick(table.viewport(), LEFT, QtCore.Qt.KeyboardModifier.NoModifier, cell)
    qtbot.waitUntil(lambda: isinstance(QtWidgets.QApplication.focusWidget(),
                                       QtWidgets.QLineEdit), timeout=3000)
    editor = QtWidgets.QApplication.focusWidget()
    editor.selectAll()
    QTest.keyClicks(editor, "0.65")
    QTest.keyClick(editor, QtCore.Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.value_text("pixel size") == "0.65", timeout=3000)
    assert window.windowTitle().startswith("cells.tif *")
    assert window.undo_action.text() == "&Undo Edit pixel size"
    assert window.image_view.pixel_size == pytest.approx(0.65e-6)

    # Ctrl+Z undoes it everywhere: table, title, scale bar; Ctrl+Y redoes it
    window.activateWindow()
    press(window, QtCore.Qt.Key.Key_Z, CTRL)
    qtbot.waitUntil(lambda: panel.value_text("pixel size") == "0.5", timeout=3000)
    assert not window.windowTitle().startswith("cells.tif *")
    assert window.image_view.pixel_size == pytest.approx(0.5e-6)
    assert not document.modified
    press(window, QtCore.Qt.Key.Key_Y, CTRL)
    qtbot.waitUntil(lambda: panel.value_text("pixel size") == "0.65", timeout=3000)
    assert window.windowTitle().startswith("cells.tif *")
    press(window, QtCore.Qt.Key.Key_Z, CTRL | QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert window.redo_action.isEnabled() is False  # nothing left to redo

    # File ▸ Close series (its shortcut): the prompt names the edit; Cancel, then Discard
    seen: list[str] = []
    stop = answer_message_boxes(BUTTONS.Cancel, seen)
    assert not window.close_action.shortcut().isEmpty()  # the menu lists it
    press_sequence(window, window.close_action.shortcut())
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    stop()
    assert "cells.tif:" in seen[0] and "metadata edits of 12 frame(s)" in seen[0]
    assert window.current_document() is document
    stop = answer_message_boxes(BUTTONS.Discard, seen)
    press_sequence(window, window.close_action.shortcut())
    qtbot.waitUntil(lambda: window.documents == [], timeout=5000)
    stop()
    assert len(seen) == 2
    assert QtCore.QFileInfo(str(stacks / "cells.tif")).size() > 0  # the input is untouched


def test_laptop_window_quit_prompt_lists_every_series(qtbot, settings_file, errors, stacks,
                                                      tmp_path, monkeypatch):
    """At 1024×700: two series with unsaved work, one prompt, Save saves both, then quits."""
    window = make_window(qtbot, load_optional_panels=False, size=(1024, 700))
    window.open_paths([stacks / "cells.tif", stacks / "neighbour.tif"])
    qtbot.waitUntil(lambda: window.current_frame() is not None, timeout=5000)
    for document in window.documents:
        document.set_meta("identifier", "dish 3", [0])
    seen: list[str] = []
    titles = answer_save_dialogs(monkeypatch, tmp_path / "one.h5", tmp_path / "two.h5")
    stop = answer_message_boxes(BUTTONS.Save, seen)
    press(window, QtCore.Qt.Key.Key_Q, CTRL)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    stop()
    assert len(seen) == 1 and "cells.tif:" in seen[0] and "neighbour.tif:" in seen[0]
    assert titles == ["Save cells.tif as", "Save neighbour.tif as"]
    for name in ("one.h5", "two.h5"):
        with open_series(tmp_path / name) as saved:
            assert saved[0]["identifier"] == "dish 3"
