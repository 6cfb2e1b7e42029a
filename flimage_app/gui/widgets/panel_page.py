"""The page of a panel's tab: as wide as the pane, scrolling only vertically.

A ``QScrollArea`` with ``widgetResizable`` gives a panel whose layout has
height-for-width items (wrapped labels) its *preferred* height for the width,
so a panel scrolled as soon as its widgets' preferred heights added up to
more than the window — hiding buttons at the bottom of a window that could
show everything.  Here the panel gets the viewport's size, shrinking down to
its *minimum* height for that width before the vertical scroll bar appears.

The page never scrolls sideways: the panel is always exactly as wide as the
page, and the page asks for the panel's minimum width (plus a vertical scroll
bar) as its own minimum.  Only the page in front asks, so the side pane follows
the panel in front: the splitter widens the pane for a wide panel and lets it
narrow again behind a narrow one.
"""

from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets


class PanelPage(QtWidgets.QScrollArea):
    """Holds one panel; the panel fills the page's width and scrolls below its minimum
    height."""

    def __init__(self, panel: QtWidgets.QWidget,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(False)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Tab goes from the tab bar straight into the panel (the page itself is no stop);
        # a scroll area still scrolls to the control that gets the focus
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        #: the panel width last given as this page's minimum (None: not asked yet)
        self._reported_width: int | None = None
        self.setWidget(panel)
        panel.installEventFilter(self)
        self.viewport().installEventFilter(self)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if watched is self.widget() and event.type() == QtCore.QEvent.Type.LayoutRequest:
            # the panel's minimum width may have changed: the pane must hear of it (only
            # then: a label updated on every frame must not re-lay out the window)
            if self.panel_minimum_width() != self._reported_width:
                self.updateGeometry()
            self.fit_panel()
        elif watched is self.viewport() and event.type() == QtCore.QEvent.Type.Resize:
            self.fit_panel()
        return super().eventFilter(watched, event)

    def panel_minimum_width(self) -> int:
        """The width the page needs so that the panel fits it without scrolling sideways."""
        panel = self.widget()
        if panel is None:
            return 0
        scroll_bar = self.style().pixelMetric(QtWidgets.QStyle.PixelMetric.PM_ScrollBarExtent)
        return max(panel.minimumSizeHint().width(), panel.minimumWidth()) + scroll_bar \
            + 2 * self.frameWidth()

    def minimumSizeHint(self) -> QtCore.QSize:
        hint = super().minimumSizeHint()
        if self.isHidden():  # a page behind another tab does not widen the pane
            return hint
        self._reported_width = self.panel_minimum_width()
        return QtCore.QSize(max(hint.width(), self._reported_width), hint.height())

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        self.updateGeometry()

    def hideEvent(self, event: QtGui.QHideEvent) -> None:
        super().hideEvent(event)
        self.updateGeometry()

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
        """Size the panel to the viewport's width, and its height but never below its
        minimum (then the page scrolls vertically)."""
        panel = self.widget()
        if panel is None:
            return
        available = self.viewport().size()
        width = available.width()
        height = max(available.height(), self.minimum_height_for(width))
        if panel.size() != QtCore.QSize(width, height):
            panel.resize(width, height)
