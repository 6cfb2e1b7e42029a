"""PanelPage: a panel fills its tab and scrolls only below its minimum size."""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from flimage_app.gui.widgets.panel_page import PanelPage


def tall_panel() -> tuple[QtWidgets.QWidget, QtWidgets.QPushButton, QtWidgets.QLabel]:
    """Plots that prefer ~640 px but can shrink, a wrapped message and a button below."""
    panel = QtWidgets.QWidget()
    layout = QtWidgets.QVBoxLayout(panel)
    message = QtWidgets.QLabel("A fit failed: the series does not decay; the fitted "
                               "intensity changes by -0.02 from the first to the last frame")
    message.setWordWrap(True)
    plots = pg.GraphicsLayoutWidget()
    plots.setMinimumHeight(150)
    button = QtWidgets.QPushButton("Correct series")
    layout.addWidget(message)
    layout.addWidget(plots, 1)
    layout.addWidget(button)
    return panel, button, message


def show_page(qtbot, width: int, height: int) -> tuple[PanelPage, QtWidgets.QPushButton,
                                                        QtWidgets.QLabel]:
    panel, button, message = tall_panel()
    page = PanelPage(panel)
    qtbot.addWidget(page)
    page.resize(width, height)
    page.show()
    qtbot.waitExposed(page)
    QtWidgets.QApplication.processEvents()
    return page, button, message


def test_a_panel_that_can_shrink_fills_the_page_without_scrolling(qtbot):
    page, button, message = show_page(qtbot, 300, 420)
    assert not page.verticalScrollBar().isVisible()
    assert page.widget().height() == page.viewport().height()
    # the button is inside the visible page and the message has all its lines
    assert button.geometry().bottom() <= page.viewport().height()
    assert message.height() >= message.heightForWidth(message.width())


def test_below_its_minimum_the_panel_scrolls(qtbot):
    page, _button, _message = show_page(qtbot, 300, 150)
    assert page.verticalScrollBar().isVisible()
    assert page.widget().height() >= page.minimum_height_for(page.viewport().width())


def wide_panel(minimum_width: int = 420) -> QtWidgets.QWidget:
    panel = QtWidgets.QWidget()
    layout = QtWidgets.QVBoxLayout(panel)
    button = QtWidgets.QPushButton("Apply to other files…")
    button.setMinimumWidth(minimum_width)
    layout.addWidget(button)
    return panel


def test_a_page_never_scrolls_sideways_and_the_panel_follows_its_width(qtbot):
    page = PanelPage(wide_panel(420))
    qtbot.addWidget(page)
    page.resize(300, 200)  # narrower than the panel (a splitter would not allow it)
    page.show()
    qtbot.waitExposed(page)
    QtWidgets.QApplication.processEvents()
    assert page.horizontalScrollBarPolicy() == QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    assert not page.horizontalScrollBar().isVisible()
    assert page.widget().width() == page.viewport().width()
    # the page asks for the panel's width (and room for a vertical scroll bar)
    assert page.minimumSizeHint().width() >= 420 + page.verticalScrollBar().sizeHint().width()
    page.resize(600, 200)
    QtWidgets.QApplication.processEvents()
    assert page.widget().width() == page.viewport().width() == 600


def test_the_side_pane_follows_the_panel_in_front(qtbot):
    narrow, wide = wide_panel(150), wide_panel(480)
    tabs = QtWidgets.QTabWidget()
    tabs.addTab(PanelPage(narrow), "Metadata")
    tabs.addTab(PanelPage(wide), "Bleach")
    splitter = QtWidgets.QSplitter()
    splitter.addWidget(QtWidgets.QLabel("image"))
    splitter.addWidget(tabs)
    splitter.setChildrenCollapsible(False)
    qtbot.addWidget(splitter)
    splitter.resize(1000, 400)
    splitter.show()
    qtbot.waitExposed(splitter)
    splitter.setSizes([800, 200])
    QtWidgets.QApplication.processEvents()
    assert splitter.sizes()[1] < 480  # the narrow panel in front: the pane stays narrow
    tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: splitter.sizes()[1] >= 480, timeout=2000)
    page = tabs.currentWidget()
    assert page.viewport().width() >= 480 and not page.horizontalScrollBar().isVisible()
    # the hidden page does not hold the pane wide
    tabs.setCurrentIndex(0)
    QtWidgets.QApplication.processEvents()
    assert tabs.minimumSizeHint().width() < 480
