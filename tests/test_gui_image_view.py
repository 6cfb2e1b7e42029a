"""Image view: captions and messages that explain an empty or black view."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6 import QtGui, QtWidgets

from flimage_app.gui.browser.frame_cache import Frame
from flimage_app.gui.browser.image_view import (
    EMPTY_MESSAGE,
    NO_BACKGROUND_NOTE,
    READING_MESSAGE,
    ImageView,
)


@pytest.fixture
def view(qtbot):
    image_view = ImageView()
    qtbot.addWidget(image_view)
    return image_view


def test_background_mode_without_background_says_so(view):
    bare = Frame.from_arrays(0, np.ones((4, 5), dtype=np.float32), None)
    view.set_frame(bare, caption="cells.h5   frame 0 of 3")
    assert view.caption.text() == "cells.h5   frame 0 of 3"
    view.set_mode("background")
    assert view.caption.text() == f"cells.h5   frame 0 of 3\n{NO_BACKGROUND_NOTE}"
    view.set_mode("raw")
    assert view.caption.text() == "cells.h5   frame 0 of 3"
    view.set_mode("background")
    with_background = Frame.from_arrays(1, np.ones((4, 5), dtype=np.float32),
                                        np.full((4, 5), 0.5, dtype=np.float32))
    view.set_frame(with_background, caption="frame 1")
    assert view.caption.text() == "frame 1"
    view.set_frame(None)
    assert view.caption.text() == ""


def test_message_is_centred_and_shown_only_without_frame(view, qtbot):
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    assert view.message == EMPTY_MESSAGE and view.placeholder.isVisible()
    view.show_message(READING_MESSAGE)
    box = view.view_box.boundingRect()
    text = view.placeholder.mapRectToParent(view.placeholder.boundingRect())
    assert abs(text.center().x() - box.center().x()) < 2
    assert abs(text.center().y() - box.center().y()) < 2
    view.set_frame(Frame.from_arrays(0, np.ones((4, 5), dtype=np.float32), None))
    assert not view.placeholder.isVisible()
    view.set_frame(None)
    assert view.placeholder.isVisible() and view.message == READING_MESSAGE


def test_toolbar_labels_name_their_controls(view):
    toolbar = view.toolbar
    labels = [label for action in toolbar.actions()
              for label in toolbar.widgetForAction(action).findChildren(QtWidgets.QLabel)]
    buddies = {label.text(): label.buddy() for label in labels}
    assert buddies == {"Show:": view.mode_combo, "Colour map:": view.colormap_combo}


@pytest.mark.parametrize("width", [280, 420, 560, 900])
def test_a_narrow_toolbar_never_shows_a_label_without_its_control(view, qtbot, width):
    view.resize(width, 300)
    view.show()
    qtbot.waitExposed(view)
    QtWidgets.QApplication.processEvents()
    for label in view.toolbar.findChildren(QtWidgets.QLabel):
        if label.isVisible() and label.buddy() is not None:
            shown = label.buddy()
            assert shown.isVisible(), label.text()
            # inside the toolbar, not in its » menu
            assert view.toolbar.rect().contains(
                shown.mapTo(view.toolbar, shown.rect().center())), label.text()


def test_a_narrow_view_wraps_the_caption_instead_of_cutting_it(view, qtbot):
    caption = "HeLa-GFP_2024-05-03_dish2.h5   frame 17 of 360   t = 4.292 s"
    view.resize(900, 400)
    view.show()
    qtbot.waitExposed(view)
    view.set_frame(Frame.from_arrays(0, np.ones((40, 50), dtype=np.float32), None),
                   caption=caption)
    assert view.caption.text() == caption  # room for one line
    view.resize(260, 400)
    qtbot.waitUntil(lambda: "\n" in view.caption.text(), timeout=2000)
    lines = view.caption.text().split("\n")
    assert [part for line in lines for part in line.split("   ")] == caption.split("   ")
    room = view.view_box.boundingRect().width()
    metrics = QtGui.QFontMetricsF(view.caption.font())
    assert all(metrics.horizontalAdvance(line) <= room for line in lines[1:])
    view.resize(900, 400)
    qtbot.waitUntil(lambda: view.caption.text() == caption, timeout=2000)
