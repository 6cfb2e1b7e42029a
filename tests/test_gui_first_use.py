"""What a first-time user meets: the empty state, a small screen, tooltips, drops,
readable frame-table columns and the controls of a single image."""

from __future__ import annotations

import h5py
import pytest
from PyQt6 import QtCore, QtWidgets

from flimage_app.gui.browser.image_view import EMPTY_MESSAGE
from flimage_app.gui.browser.series_browser import (
    BACKGROUND_COLUMN,
    IDENTIFIER_COLUMN,
    INDEX_COLUMN,
    TIME_COLUMN,
    FrameTableModel,
)
from flimage_app.gui.main_window import MIN_IMAGE_SHARE, MainWindow, default_splitter_sizes
from tests.gui_support import wait_for_frame, write_series

#: fixtures settings_file, errors, window
pytest_plugins = ["tests.gui_fixtures"]

#: A small laptop screen, less the title bar and a task bar.
SMALL_SCREEN = (1024, 700)


@pytest.fixture
def series_path(tmp_path):
    path = tmp_path / "cells.h5"
    write_series(path, count=5, with_background=True)
    return path


@pytest.fixture
def full_window(qtbot, settings_file, errors):
    """A main window with the optional panels (background, bleach) as users get it."""
    main_window = MainWindow()
    qtbot.addWidget(main_window)
    yield main_window
    main_window.shutdown()


# --- empty state ------------------------------------------------------------------------------
def test_empty_window_says_what_to_do(qtbot, window, series_path):
    window.show()
    qtbot.waitExposed(window)
    assert window.centre.currentWidget() is window.welcome
    assert window.welcome.isVisible() and not window.image_view.isVisible()
    assert window.welcome.open_button.isVisible() and window.welcome.demo_button.isVisible()
    assert "drag and drop" in window.welcome.drop_hint.text()
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    assert not window.welcome.isVisible() and window.image_view.isVisible()
    window.close_current()
    assert window.welcome.isVisible() and not window.image_view.isVisible()


def test_welcome_buttons_open_files_and_the_demo(qtbot, window, series_path, monkeypatch):
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileNames",
                        lambda *args, **kwargs: ([str(series_path)], ""))
    qtbot.mouseClick(window.welcome.open_button, QtCore.Qt.MouseButton.LeftButton)
    assert window.current_document().source_path == str(series_path)
    window.close_current()
    qtbot.mouseClick(window.welcome.demo_button, QtCore.Qt.MouseButton.LeftButton)
    assert window.current_document() is not None and len(window.current_document()) > 1
    wait_for_frame(qtbot, window, 0)


def test_welcome_lists_recent_files(qtbot, window, series_path, tmp_path):
    other = tmp_path / "other.h5"
    write_series(other, count=2, seed=4)
    window.open_paths([series_path, other])
    while window.documents:
        window.close_current()
    buttons = window.welcome.recent_buttons
    assert [button.toolTip() for button in buttons] == [f"Open {other}", f"Open {series_path}"]
    assert not window.welcome.recent_heading.isHidden()
    buttons[1].click()
    assert window.current_document().source_path == str(series_path)


def test_replaced_recent_buttons_are_hidden_at_once(qtbot, window):
    window.welcome.set_recent_files(["/data/a.h5", "/data/b.h5"])
    old = list(window.welcome.recent_buttons)
    window.welcome.set_recent_files(["/data/c.h5"])
    # before the event loop deletes them, they must not be drawn over the new list
    assert all(button.isHidden() for button in old)
    visible = [child for child in window.welcome.findChildren(QtWidgets.QPushButton)
               if child.toolTip().startswith("Open /data/") and not child.isHidden()]
    assert [button.toolTip() for button in visible] == ["Open /data/c.h5"]


def test_welcome_hides_recent_heading_without_recent_files(window):
    assert window.welcome.recent_buttons == []
    assert window.welcome.recent_heading.isHidden()


def test_view_message_tells_reading_from_unreadable(qtbot, window, tmp_path):
    path = tmp_path / "damaged.h5"
    write_series(path, count=3)
    with h5py.File(path, "a") as h5:
        del h5["fli_1/fluorescence"]
    assert window.image_view.message == EMPTY_MESSAGE
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    window.browser.set_index(1)
    qtbot.waitUntil(lambda: window.image_view.message.startswith("Frame 1 cannot be read"),
                    timeout=5000)
    assert window.current_frame() is None
    assert window.image_view.placeholder.isVisible()


# --- small screens ----------------------------------------------------------------------------
def test_window_fits_a_small_laptop_screen(full_window):
    assert {"background", "bleach"} <= set(full_window.panel_names())
    minimum = full_window.minimumSizeHint()
    assert minimum.width() <= SMALL_SCREEN[0] and minimum.height() <= SMALL_SCREEN[1], minimum


def test_tall_panels_scroll_inside_their_tab(full_window):
    for name in full_window.panel_names():
        assert full_window.show_panel(name)
        assert full_window.current_panel() is full_window.panel(name)
        assert isinstance(full_window.panel_tabs.currentWidget(), QtWidgets.QScrollArea)


@pytest.mark.parametrize("width", [1024, 1280, 1400, 1920])
def test_default_splitter_shares_the_width(width):
    left, centre, right = default_splitter_sizes(width)
    assert left + centre + right == width
    assert centre >= width / 2 - 30  # the image keeps about half the window or more
    assert left >= 250 and right >= 250


def test_every_tab_title_stays_readable(full_window):
    for index in range(full_window.panel_tabs.count()):
        assert full_window.panel_tabs.tabToolTip(index) == full_window.panel_tabs.tabText(index)
    assert not full_window.panel_tabs.usesScrollButtons()


# --- tooltips and drops -----------------------------------------------------------------------
def toolbar_widgets(window) -> list[QtWidgets.QWidget]:
    toolbar = window.image_view.toolbar
    widgets = [toolbar.widgetForAction(action) for action in toolbar.actions()]
    # a labelled control is one toolbar item holding both
    direct = QtCore.Qt.FindChildOption.FindDirectChildrenOnly
    widgets += [child for widget in widgets
                for child in widget.findChildren(QtWidgets.QWidget, options=direct)]
    # spacers and gaps are plain QWidgets: nothing to hover
    return [widget for widget in widgets if type(widget) is not QtWidgets.QWidget]


def test_every_toolbar_and_slider_widget_has_a_tooltip(window):
    widgets = toolbar_widgets(window)
    assert window.image_view.mode_combo in widgets and window.image_view.fit_button in widgets
    # the slider row (one or two rows, as the width allows)
    widgets += window.browser.findChildren(QtWidgets.QWidget,
                                           options=QtCore.Qt.FindChildOption.FindDirectChildrenOnly)
    assert len(widgets) >= 14
    untipped = [widget.text() if hasattr(widget, "text") else type(widget).__name__
                for widget in widgets if not widget.toolTip().strip()]
    assert untipped == []


def test_frame_table_headers_explain_the_columns():
    model = FrameTableModel()
    for column in range(model.columnCount()):
        tip = model.headerData(column, QtCore.Qt.Orientation.Horizontal,
                               QtCore.Qt.ItemDataRole.ToolTipRole)
        assert tip and len(tip) > 20
    horizontal = QtCore.Qt.Orientation.Horizontal
    assert model.headerData(0, QtCore.Qt.Orientation.Vertical) is None
    assert model.headerData(TIME_COLUMN, horizontal) == "Time [s]"


def test_files_dropped_on_the_image_or_plots_reach_the_window(full_window):
    """Qt gives a drop to the innermost widget that accepts drops; only the window may."""
    accepting = [widget for widget in full_window.findChildren(QtWidgets.QWidget)
                 if widget.acceptDrops()]
    assert accepting == []
    assert full_window.acceptDrops()


# --- frame table ------------------------------------------------------------------------------
def header_width(table, column) -> int:
    return table.horizontalHeader().sectionSizeHint(column)


def test_frame_table_columns_fit_their_headers_at_the_default_size(qtbot, window,
                                                                   series_path):
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    table = window.browser.table
    for column in range(table.model().columnCount()):
        assert table.columnWidth(column) >= header_width(table, column), column
    visible = sum(table.columnWidth(column) for column in range(4))
    assert visible <= table.viewport().width()  # nothing cut off at the right


def test_fixed_columns_fit_values_whatever_the_pane_width(qtbot, window, tmp_path):
    path = tmp_path / "long.h5"
    write_series(path, count=2)
    window.open_paths([path])
    table = window.browser.table
    metrics = table.fontMetrics()
    window.browser.table_model._length = 12_000  # as a long series would have
    window.browser._length = 12_000
    window.browser.fit_columns()
    samples = {INDEX_COLUMN: "11999", TIME_COLUMN: "1172.500", BACKGROUND_COLUMN: "fitted"}
    for column, text in samples.items():
        assert table.columnWidth(column) >= metrics.horizontalAdvance(text) + 8, column
        assert table.columnWidth(column) >= header_width(table, column), column
    header = table.horizontalHeader()
    assert header.sectionResizeMode(IDENTIFIER_COLUMN) == QtWidgets.QHeaderView.ResizeMode.Stretch
    assert table.textElideMode() == QtCore.Qt.TextElideMode.ElideMiddle


def test_background_column_uses_plain_words(qtbot, window, series_path, tmp_path):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    model = window.browser.table_model
    assert model.data(model.index(1, BACKGROUND_COLUMN)) == "image"
    plain = tmp_path / "plain.h5"
    write_series(plain, count=2)
    window.open_paths([plain])
    wait_for_frame(qtbot, window, 0)
    model = window.browser.table_model
    assert model.data(model.index(1, BACKGROUND_COLUMN)) == "none"


# --- a single image ---------------------------------------------------------------------------
def test_single_image_has_no_playback_controls_to_click(qtbot, window, tmp_path):
    path = tmp_path / "one.h5"
    write_series(path, count=1)
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    browser = window.browser
    assert not browser.slider.isEnabled()
    assert not browser.play_button.isEnabled()
    assert not browser.rate_spin.isEnabled()
    assert browser.count_label.text() == "of 1"
    two = tmp_path / "two.h5"
    write_series(two, count=2)
    window.open_paths([two])
    assert browser.slider.isEnabled() and browser.play_button.isEnabled()
    assert browser.rate_spin.isEnabled()


def test_small_window_is_as_small_as_asked(qtbot, full_window, series_path):
    full_window.resize(*SMALL_SCREEN)
    full_window.open_paths([series_path])
    full_window.show()
    qtbot.waitExposed(full_window)
    wait_for_frame(qtbot, full_window, 0)
    assert (full_window.width(), full_window.height()) == SMALL_SCREEN
    table = full_window.browser.table
    for column in (INDEX_COLUMN, TIME_COLUMN, BACKGROUND_COLUMN):
        assert table.columnWidth(column) >= header_width(table, column), column
    # the image keeps room: the panes at its sides took their share, not more
    assert full_window.image_view.width() >= 0.45 * SMALL_SCREEN[0]


@pytest.mark.parametrize(("size", "panel_width"), [((1400, 900), 520), (SMALL_SCREEN, 300)])
def test_wide_panel_gets_room_from_the_image(qtbot, full_window, size, panel_width):
    """A panel wider than the default pane gets its width from the image when it comes
    to the front, and the image keeps (about) its share.  The app's own panels fit the
    default pane now (the Background panel is 275 px wide), so a test-only panel stands
    for the wide ones: 520 px in a large window, 300 px (wider than the default pane,
    narrower than what the image and the series pane can spare) at 1024×700."""
    panel = QtWidgets.QWidget()
    layout = QtWidgets.QVBoxLayout(panel)
    content = QtWidgets.QLabel("a wide panel")
    content.setMinimumWidth(panel_width)
    layout.addWidget(content)
    full_window.add_panel("wide", panel, "Wide")
    full_window.resize(*size)
    full_window.show()
    qtbot.waitExposed(full_window)
    _left, _centre, before = full_window.splitter.sizes()
    needed = panel.minimumSizeHint().width()
    assert before < needed  # the default pane is narrower than the wide panel
    full_window.show_panel("wide")
    left, centre, right = full_window.splitter.sizes()
    assert right > before
    # the panel fits without scrolling sideways; the image keeps (about) its share
    page = full_window.panel_tabs.currentWidget()
    assert page.viewport().width() >= needed
    assert centre >= MIN_IMAGE_SHARE * sum((left, centre, right)) - 8
    if size == (1400, 900):  # enough room: the whole panel shows, no horizontal scrolling
        page = full_window.panel_tabs.currentWidget()
        qtbot.waitUntil(lambda: page.viewport().width() >= needed, timeout=5000)
        assert page.horizontalScrollBar().maximum() == 0
    # a narrower panel in front: the width lent to the wide one goes back
    full_window.show_panel("metadata")
    assert full_window.splitter.sizes()[2] == before
    # but a split the user dragged is theirs: it is not shrunk behind their back
    full_window.show_panel("background")
    left, centre, right = full_window.splitter.sizes()
    full_window.splitter.moveSplitter(left + 10, 1)  # what a drag of the handle does
    dragged = full_window.splitter.sizes()
    full_window.show_panel("metadata")
    assert full_window.splitter.sizes() == dragged


def test_side_panes_follow_the_window_width_until_the_user_drags(qtbot, full_window):
    full_window.resize(1400, 900)
    full_window.show()
    qtbot.waitExposed(full_window)
    full_window.resize(*SMALL_SCREEN)
    qtbot.waitUntil(lambda: full_window.width() == SMALL_SCREEN[0], timeout=3000)
    left, centre, right = full_window.splitter.sizes()
    expected = default_splitter_sizes(full_window.splitter.width())
    assert (left, right) == (expected[0], expected[2])  # the image: the rest, less the handles
    assert left + right < 330 + 400  # not the side panes of a 1400 px window
    # once dragged, a resize keeps the user's side panes (the image takes the change)
    full_window.splitter.moveSplitter(left + 20, 1)
    dragged = full_window.splitter.sizes()
    full_window.resize(1200, 700)
    qtbot.waitUntil(lambda: full_window.width() == 1200, timeout=3000)
    sizes = full_window.splitter.sizes()
    assert (sizes[0], sizes[2]) == (dragged[0], dragged[2])


def test_first_start_fits_the_screen(qtbot, settings_file, errors):
    window = MainWindow(load_optional_panels=False)
    qtbot.addWidget(window)
    try:
        available = window.screen().availableGeometry()
        assert available.width() < 1400  # the offscreen screen: smaller than the default
        assert window.width() <= available.width() and window.height() <= available.height()
    finally:
        window.shutdown()


def test_status_message_from_before_the_window_showed_hides_the_info(qtbot, window,
                                                                     series_path):
    window.open_paths([series_path])
    window.statusBar().showMessage("a warning about the file", 60_000)
    assert not window.isVisible()
    window.show()
    qtbot.waitExposed(window)
    assert window.statusBar().currentMessage() == "a warning about the file"
    assert not window.info_label.isVisible()  # not drawn under the message
    window.statusBar().clearMessage()
    assert window.info_label.isVisible()

