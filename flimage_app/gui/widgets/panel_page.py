"""The page of a panel's tab: it scrolls only when the window is smaller than the panel.

A ``QScrollArea`` with ``widgetResizable`` gives a panel whose layout has
height-for-width items (wrapped labels) its *preferred* height for the width,
so a panel scrolled as soon as its widgets' preferred heights added up to
more than the window — hiding buttons at the bottom of a window that could
show everything.  Here the panel gets the viewport's size, shrinking down to
its *minimum* height for that width before the scroll bar appears.
"""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets


class PanelPage(QtWidgets.QScrollArea):
    """Holds one panel; the panel fills the page and scrolls below its minimum size."""

    def __init__(self, panel: QtWidgets.QWidget,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(False)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setWidget(panel)
        panel.installEventFilter(self)
        self.viewport().installEventFilter(self)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if ((watched is self.widget() and event.type() == QtCore.QEvent.Type.LayoutRequest)
                or (watched is self.viewport() and event.type() == QtCore.QEvent.Type.Resize)):
            self.fit_panel()
        return super().eventFilter(watched, event)

    def minimum_height_for(self, width: int) -> int:
        """The least height at which the panel's contents fit `width`.

        Qt's minimum height counts one line per wrapped label and its height for
        a width is the *preferred* height of everything; here the minimum gets the
        lines that the wrapped labels really need at their width.
        """
        panel = self.widget()
        height = panel.minimumSizeHint().height()
        for label in panel.findChildren(QtWidgets.QLabel):
            if label.wordWrap() and label.isVisibleTo(panel) and label.text():
                label_width = label.width() if label.width() > 1 else width
                height += max(0, label.heightForWidth(label_width)
                              - label.minimumSizeHint().height())
        return height

    def fit_panel(self) -> None:
        """Size the panel to the viewport, but never below its minimum."""
        panel = self.widget()
        if panel is None:
            return
        available = self.viewport().size()
        width = max(available.width(), panel.minimumSizeHint().width())
        height = max(available.height(), self.minimum_height_for(width))
        if panel.size() != QtCore.QSize(width, height):
            panel.resize(width, height)
