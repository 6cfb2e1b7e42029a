"""PanelPage: a panel fills its tab and scrolls only below its minimum size."""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6 import QtWidgets

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
