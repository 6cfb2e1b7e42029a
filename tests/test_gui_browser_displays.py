"""The browser's displays stay true after steps, edits, switches and previews (issue 12).

Driven with real key and mouse events (QTest) where a user would press or click.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PyQt6 import QtCore, QtGui, QtTest, QtWidgets

from flimage_app.gui.browser.series_browser import (
    BACKGROUND_COLUMN,
    IDENTIFIER_COLUMN,
    SLIDER_MIN_WIDTH,
    TIME_COLUMN,
)
from flimage_app.gui.main_window import MainWindow
from flimage_app.model import FLImage, FLSeries
from tests.dialog_support import DialogAnswers
from tests.gui_support import PIXEL_SIZE, wait_for_frame, write_series

#: fixtures settings_file, errors, window
pytest_plugins = ["tests.gui_fixtures"]

Key = QtCore.Qt.Key
SMALL_SCREEN = (1024, 700)
LARGE_SCREEN = (1400, 900)


@pytest.fixture(autouse=True)
def discard_without_asking(monkeypatch):
    """Closing a window with unsaved edits asks first; tests answer "Discard" (no modal)."""
    monkeypatch.setattr(MainWindow, "_confirm_discard", lambda self, documents: True)


@pytest.fixture
def series_path(tmp_path):
    path = tmp_path / "cells.h5"
    write_series(path, count=25, shape=(24, 32))
    return path


@pytest.fixture
def full_window(qtbot, settings_file, errors):
    """A main window with the optional panels (background, bleach) as users get it."""
    main_window = MainWindow()
    qtbot.addWidget(main_window)
    yield main_window
    main_window.shutdown()


def show(qtbot, window, size=LARGE_SCREEN) -> None:
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    QtWidgets.QApplication.processEvents()


def bare_series(path, count=4, shape=(8, 8)):
    """A series without times or pixel size (as a TIFF stack imports)."""
    with FLSeries(h5file=path, h5mode="w") as series:
        for _ in range(count):
            series.add_flimage(FLImage(data=np.ones(shape, dtype=np.float32)))
    return path


# --- one current row --------------------------------------------------------------------------
def highlighted_rows(window) -> list[int]:
    """Rows of the frame table painted in the highlight colour, as on screen.

    The window's backing store holds what was really painted (a repaint of the
    whole widget, as ``grab()`` does, would hide rows that were never updated).
    """
    QtWidgets.QApplication.processEvents()
    table = window.browser.table
    image = window.screen().grabWindow(window.winId()).toImage()
    highlight = table.palette().color(QtGui.QPalette.ColorGroup.Active,
                                      QtGui.QPalette.ColorRole.Highlight)
    rows = []
    for row in range(table.model().rowCount()):
        rect = table.visualRect(table.model().index(row, IDENTIFIER_COLUMN))
        if not rect.isValid() or rect.bottom() > table.viewport().height():
            continue
        point = table.viewport().mapTo(window, QtCore.QPoint(rect.right() - 3,
                                                             rect.center().y()))
        ratio = image.devicePixelRatio()
        colour = image.pixelColor(round(point.x() * ratio), round(point.y() * ratio))
        if abs(colour.red() - highlight.red()) + abs(colour.green() - highlight.green()) \
                + abs(colour.blue() - highlight.blue()) < 30:
            rows.append(row)
    return rows


def test_stepping_and_playing_leave_one_highlighted_row(qtbot, window, series_path):
    show(qtbot, window)
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    graphics = window.image_view.graphics
    graphics.setFocus()
    qtbot.wait(50)
    for key, expected in [(Key.Key_Right, 1), (Key.Key_Right, 2), (Key.Key_Right, 3),
                          (Key.Key_Left, 2), (Key.Key_End, 24), (Key.Key_Home, 0),
                          (Key.Key_PageDown, 10)]:
        QtTest.QTest.keyClick(graphics, key)
        wait_for_frame(qtbot, window, expected)
        qtbot.wait(30)
        assert highlighted_rows(window) == [expected], key
        selected = window.browser.table.selectionModel().selectedRows()
        assert [index.row() for index in selected] == [expected]
    window.browser.rate_spin.setValue(50)
    QtTest.QTest.keyClick(graphics, Key.Key_Space)  # play
    qtbot.waitUntil(lambda: window.browser.index >= 14, timeout=5000)
    QtTest.QTest.keyClick(graphics, Key.Key_Space)  # pause
    assert not window.browser.playing
    stopped = window.browser.index
    qtbot.wait(50)
    assert highlighted_rows(window) == [stopped]


# --- keyboard ---------------------------------------------------------------------------------
def click_row(qtbot, table, row: int) -> None:
    rect = table.visualRect(table.model().index(row, IDENTIFIER_COLUMN))
    QtTest.QTest.mouseClick(table.viewport(), QtCore.Qt.MouseButton.LeftButton,
                            QtCore.Qt.KeyboardModifier.NoModifier, rect.center())


def test_navigation_keys_step_frames_in_the_table_and_tab_leaves_it(qtbot, window,
                                                                    series_path):
    show(qtbot, window)
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    table = window.browser.table
    click_row(qtbot, table, 2)
    wait_for_frame(qtbot, window, 2)
    assert table.hasFocus()
    for key, expected in [(Key.Key_Right, 3), (Key.Key_Down, 4), (Key.Key_Left, 3),
                          (Key.Key_Up, 2), (Key.Key_PageDown, 12), (Key.Key_PageUp, 2),
                          (Key.Key_End, 24), (Key.Key_Home, 0)]:
        QtTest.QTest.keyClick(table, key)
        assert window.current_index() == expected, key  # one step per press
        assert table.currentIndex().row() == expected
    QtTest.QTest.keyClick(table, Key.Key_Right)
    assert window.current_index() == 1
    QtTest.QTest.keyClick(table, Key.Key_Tab)
    assert not table.hasFocus()  # Tab leaves the table
    assert window.current_index() == 1  # and does not advance a frame
    assert QtWidgets.QApplication.focusWidget() is not None
    # the focus comes back with Shift+Tab
    QtTest.QTest.keyClick(QtWidgets.QApplication.focusWidget(), Key.Key_Backtab)
    assert table.hasFocus()
    assert window.current_index() == 1


def test_key_handlers_come_before_the_frame_keys(qtbot, window, series_path):
    show(qtbot, window)
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    view = window.image_view
    used: list[tuple[int, int]] = []

    def move_roi(key: int, modifiers: int) -> bool:
        if key in (Key.Key_Left.value, Key.Key_Up.value):
            used.append((key, modifiers))
            return True
        return False

    view.key_handlers.append(move_roi)
    view.graphics.setFocus()
    QtTest.QTest.keyClick(view.graphics, Key.Key_Right)
    assert window.current_index() == 1  # declined: the frame steps
    QtTest.QTest.keyClick(view.graphics, Key.Key_Left)
    QtTest.QTest.keyClick(view.graphics, Key.Key_Up, QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert window.current_index() == 1  # used: no step
    assert used == [(Key.Key_Left.value, 0),
                    (Key.Key_Up.value, QtCore.Qt.KeyboardModifier.ShiftModifier.value)]
    view.key_handlers.remove(move_roi)
    QtTest.QTest.keyClick(view.graphics, Key.Key_Left)
    assert window.current_index() == 0
    assert len(used) == 2


# --- the table shows the document's edits ---------------------------------------------------
def test_table_shows_times_set_with_the_frame_interval_and_typed_in(qtbot, window, tmp_path):
    show(qtbot, window)
    window.open_paths([bare_series(tmp_path / "stack.h5")])
    wait_for_frame(qtbot, window, 0)
    model = window.browser.table_model
    assert [model.data(model.index(row, TIME_COLUMN)) for row in range(4)] == ["–"] * 4
    panel = window.metadata_panel
    answers = DialogAnswers()
    answers.type_and_press("1.5")
    qtbot.mouseClick(panel.interval_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.wait(20)
    assert [model.data(model.index(row, TIME_COLUMN)) for row in range(4)] == \
        ["0.000", "1.500", "3.000", "4.500"]
    assert window.browser.time_label.text() == "t = 0.000 s"
    # the dialog was wide enough for its title
    title, width, _minimum = answers.seen[0]
    bold = QtGui.QFont(panel.font())
    bold.setBold(True)
    assert width >= QtGui.QFontMetrics(bold).horizontalAdvance(title) + 100

    # a time typed into the Metadata panel for the frame shown
    window.activateWindow()  # back from the dialog
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    window.browser.set_index(2)
    wait_for_frame(qtbot, window, 2)
    cell = panel.table.visualItemRect(panel.table.item(panel.key_row("time"), 1))
    for click in (QtTest.QTest.mouseClick, QtTest.QTest.mouseDClick):
        click(panel.table.viewport(), QtCore.Qt.MouseButton.LeftButton,
              QtCore.Qt.KeyboardModifier.NoModifier, cell.center())
    editor = QtWidgets.QApplication.focusWidget()
    assert isinstance(editor, QtWidgets.QLineEdit)
    editor.selectAll()
    QtTest.QTest.keyClicks(editor, "7.25")
    QtTest.QTest.keyClick(editor, Key.Key_Return)
    qtbot.waitUntil(lambda: model.data(model.index(2, TIME_COLUMN)) == "7.250", timeout=2000)
    assert window.browser.time_label.text() == "t = 7.250 s"
    assert model.data(model.index(3, TIME_COLUMN)) == "4.500"


def test_table_follows_document_changes_from_anywhere(qtbot, window, series_path):
    """Whoever edits the document (undo, another panel) and emits ``changed``."""
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    document = window.current_document()
    model = window.browser.table_model
    assert model.data(model.index(4, TIME_COLUMN)) == "8.000"
    document.set_interval(0.5)
    document.changed.emit()
    assert model.data(model.index(4, TIME_COLUMN)) == "2.000"
    document.discard_edits()
    document.changed.emit()
    assert model.data(model.index(4, TIME_COLUMN)) == "8.000"
    # a closed series is no longer observed
    window.close_current()
    assert window.browser.document is None
    document.changed.emit()


# --- status bar readout -----------------------------------------------------------------------
def hover_image_centre(qtbot, window) -> tuple[int, int]:
    """Rest the mouse on the image's centre; the pixel (x, y) the readout names."""
    view = window.image_view
    rows, columns = window.current_frame().raw.shape
    scene_point = view.view_box.mapViewToScene(QtCore.QPointF(columns / 2, rows / 2))
    point = view.graphics.mapFromScene(scene_point)
    # from off the centre: a move to where the mouse already is sends nothing
    QtTest.QTest.mouseMove(view.graphics.viewport(), point + QtCore.QPoint(9, 7))
    QtTest.QTest.mouseMove(view.graphics.viewport(), point)
    qtbot.waitUntil(lambda: window.readout_label.text() != "", timeout=2000)
    where = window.readout_label.text().split(" px")[0]  # "x 16, y 12"
    x, y = (int(part.split()[1]) for part in where.split(", "))
    return x, y


def position_um(pixel: tuple[int, int], pixel_size: float) -> str:
    x, y = pixel
    return f"({(x + 0.5) * pixel_size * 1e6:.2f}, {(y + 0.5) * pixel_size * 1e6:.2f} µm)"


def test_readout_and_status_follow_the_series_shown(qtbot, window, series_path, tmp_path):
    other = tmp_path / "other.h5"
    write_series(other, count=3, shape=(24, 32), seed=1)
    with h5py.File(other, "a") as h5:
        for name in ("fli_0", "fli_1", "fli_2"):
            h5[name].attrs["pixel size"] = 0.8e-6
    show(qtbot, window)
    window.open_paths([series_path, other])
    wait_for_frame(qtbot, window, 0)
    window.series_list.setCurrentRow(0)
    wait_for_frame(qtbot, window, 0)
    pixel = hover_image_centre(qtbot, window)
    x, y = pixel
    assert position_um(pixel, PIXEL_SIZE) in window.readout_label.text()
    first_raw = window.current_frame().raw[y, x]
    assert f"raw {first_raw:.6g}" in window.readout_label.text()

    # stepping under the resting cursor reads the new frame
    QtTest.QTest.keyClick(window.image_view.graphics, Key.Key_End)
    wait_for_frame(qtbot, window, 24)
    raw = window.current_frame().raw[y, x]
    assert raw != first_raw
    assert f"raw {raw:.6g}" in window.readout_label.text()

    # switching series: nothing of the first series' µm or values stays
    item = window.series_list.item(1)
    QtTest.QTest.mouseClick(window.series_list.viewport(), QtCore.Qt.MouseButton.LeftButton,
                            QtCore.Qt.KeyboardModifier.NoModifier,
                            window.series_list.visualItemRect(item).center())
    wait_for_frame(qtbot, window, 0)
    assert "pixel size 0.8 µm" in window.info_label.text()
    text = window.readout_label.text()
    assert position_um(pixel, PIXEL_SIZE) not in text and f"raw {raw:.6g}" not in text

    # the new series under the cursor: its position and value
    pixel = hover_image_centre(qtbot, window)
    x, y = pixel
    assert position_um(pixel, 0.8e-6) in window.readout_label.text()
    assert f"raw {window.current_frame().raw[y, x]:.6g}" in window.readout_label.text()
    # a pixel size edit shows at once under the resting cursor
    window.metadata_panel.set_pixel_size(2.0)
    assert position_um(pixel, 2.0e-6) in window.readout_label.text()

    # moving off the image clears it
    QtWidgets.QApplication.sendEvent(window.image_view.graphics.viewport(),
                                     QtCore.QEvent(QtCore.QEvent.Type.Leave))
    assert window.readout_label.text() == ""


def test_preview_values_are_called_preview(qtbot, window, series_path):
    from flimage_app.gui.browser.frame_cache import Frame

    show(qtbot, window)
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    x, y = hover_image_centre(qtbot, window)
    assert "raw " in window.readout_label.text()
    view = window.image_view
    shown = window.current_frame()
    preview = Frame.from_arrays(0, shown.raw * 2, None)
    # as the bleach panel shows its preview
    view.set_frame(preview, PIXEL_SIZE, "cells.h5   frame 0   PREVIEW: bleach-corrected",
                   values_label="preview")
    text = window.readout_label.text()
    assert f"preview {shown.raw[y, x] * 2:.6g}" in text
    assert "raw" not in text and "corrected" not in text.split("µm)")[1]
    view.set_frame(preview, PIXEL_SIZE, "frame 0", values_label="denoised")
    assert "denoised " in window.readout_label.text()
    view.set_frame(shown, PIXEL_SIZE, "frame 0")
    assert "raw " in window.readout_label.text()
    # the caption holds the file's name: a file named PREVIEW... still shows raw values
    view.set_frame(shown, PIXEL_SIZE, "PREVIEW_cells.h5   frame 0")
    assert "raw " in window.readout_label.text() and "preview" not in window.readout_label.text()


# --- glyphs -----------------------------------------------------------------------------------
def test_play_button_has_a_real_icon_in_both_states(qtbot, window, series_path):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    button = window.browser.play_button
    assert not button.icon().isNull()
    assert button.toolButtonStyle() == QtCore.Qt.ToolButtonStyle.ToolButtonIconOnly
    play_icon = button.icon().pixmap(16, 16).toImage()
    qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)
    assert window.browser.playing
    assert not button.icon().isNull()
    assert button.icon().pixmap(16, 16).toImage() != play_icon  # pause looks different
    assert "Pause" in button.toolTip()
    qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)
    assert not window.browser.playing and "Play" in button.toolTip()


# --- layout -----------------------------------------------------------------------------------
def time_column_visible(table) -> bool:
    if table.isColumnHidden(TIME_COLUMN) or table.columnWidth(TIME_COLUMN) <= 0:
        return False
    right = table.columnViewportPosition(TIME_COLUMN) + table.columnWidth(TIME_COLUMN)
    return table.columnViewportPosition(TIME_COLUMN) >= 0 and right <= table.viewport().width()


def check_layout(window, size) -> None:
    assert (window.width(), window.height()) == size
    browser = window.browser
    assert browser.slider.width() >= SLIDER_MIN_WIDTH
    table = browser.table
    assert time_column_visible(table)
    assert table.columnWidth(IDENTIFIER_COLUMN) >= 36
    if not table.isColumnHidden(BACKGROUND_COLUMN):  # shown: whole, not cut at the right
        header = table.horizontalHeader()
        assert table.columnWidth(BACKGROUND_COLUMN) >= header.sectionSizeHint(BACKGROUND_COLUMN)
        assert sum(table.columnWidth(column) for column in range(4)) \
            <= table.viewport().width()
    page = window.panel_tabs.currentWidget()
    assert not page.horizontalScrollBar().isVisible()
    assert page.viewport().width() >= page.widget().minimumSizeHint().width()
    assert page.widget().width() == page.viewport().width()


@pytest.mark.parametrize("panel", ["metadata", "background", "bleach"])
def test_layout_fits_a_laptop_screen_and_grows_back(qtbot, full_window, series_path, panel):
    if full_window.panel(panel) is None:
        pytest.skip(f"the {panel} panel is not installed")
    show(qtbot, full_window, SMALL_SCREEN)
    full_window.open_paths([series_path])
    wait_for_frame(qtbot, full_window, 0)
    full_window.show_panel(panel)
    qtbot.wait(50)
    check_layout(full_window, SMALL_SCREEN)
    full_window.resize(*LARGE_SCREEN)
    qtbot.waitUntil(lambda: full_window.width() == LARGE_SCREEN[0], timeout=2000)
    qtbot.wait(50)
    check_layout(full_window, LARGE_SCREEN)


def test_table_columns_are_refitted_on_every_resize(qtbot, window, series_path):
    show(qtbot, window)
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    table = window.browser.table
    sizes = window.splitter.sizes()
    assert not table.isColumnHidden(BACKGROUND_COLUMN)
    window.splitter.setSizes([table.minimumSizeHint().width() + 10, sizes[1] + sizes[0] - 170,
                              sizes[2]])
    qtbot.wait(20)
    assert table.isColumnHidden(BACKGROUND_COLUMN)  # too narrow: the least needed goes
    assert time_column_visible(table)
    window.splitter.setSizes(sizes)
    qtbot.wait(20)
    assert not table.isColumnHidden(BACKGROUND_COLUMN)  # and comes back, at its full width
    header = table.horizontalHeader()
    assert table.columnWidth(BACKGROUND_COLUMN) >= header.sectionSizeHint(BACKGROUND_COLUMN)
    assert time_column_visible(table)
    assert window.splitter.sizes()[0] >= table.minimumSizeHint().width()


def test_slider_row_folds_instead_of_shrinking_the_slider(qtbot, window, series_path):
    show(qtbot, window)
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    browser = window.browser
    assert not browser.two_rows
    left, centre, right = window.splitter.sizes()
    narrow = browser.one_row_width() - 40
    window.splitter.setSizes([left, narrow, right + centre - narrow])
    qtbot.wait(20)
    assert browser.two_rows
    assert browser.slider.width() >= SLIDER_MIN_WIDTH
    assert browser.slider.geometry().top() < browser.index_spin.geometry().top()
    window.splitter.setSizes([left, centre, right])
    qtbot.wait(20)
    assert not browser.two_rows
    assert browser.slider.width() >= SLIDER_MIN_WIDTH


@pytest.mark.parametrize("panel", ["metadata", "background", "bleach"])
def test_tab_runs_through_the_panel_and_back_to_the_table(qtbot, full_window, series_path,
                                                         panel):
    if full_window.panel(panel) is None:
        pytest.skip(f"the {panel} panel is not installed")
    show(qtbot, full_window)
    full_window.open_paths([series_path])
    wait_for_frame(qtbot, full_window, 0)
    full_window.show_panel(panel)
    table = full_window.browser.table
    click_row(qtbot, table, 3)
    wait_for_frame(qtbot, full_window, 3)
    front = full_window.panel(panel)
    visited: list[QtWidgets.QWidget] = []
    for _press in range(200):
        QtTest.QTest.keyClick(QtWidgets.QApplication.focusWidget(), Key.Key_Tab)
        focus = QtWidgets.QApplication.focusWidget()
        if focus is table:
            break
        assert focus not in visited, f"{type(focus).__name__} reached twice in one round"
        visited.append(focus)
    else:
        pytest.fail("Tab never came back to the frame table")
    assert full_window.current_index() == 3  # no Tab stepped a frame
    assert any(front.isAncestorOf(widget) for widget in visited)  # through the panel
    assert full_window.image_view.graphics in visited
    assert not any(isinstance(widget, QtWidgets.QScrollArea)
                   and not isinstance(widget, QtWidgets.QAbstractItemView)
                   and not isinstance(widget, QtWidgets.QGraphicsView)
                   and not isinstance(widget, QtWidgets.QPlainTextEdit | QtWidgets.QTextEdit)
                   for widget in visited)  # no invisible stop on a page


def test_space_plays_from_the_table_too(qtbot, window, series_path):
    show(qtbot, window)
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    table = window.browser.table
    click_row(qtbot, table, 0)
    QtTest.QTest.keyClick(table, Key.Key_Space)
    assert window.browser.playing
    QtTest.QTest.keyClick(table, Key.Key_Space)
    assert not window.browser.playing
