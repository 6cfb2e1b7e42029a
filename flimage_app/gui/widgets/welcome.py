"""The page shown while no series is open: what to do first, in one glance.

It replaces the image, its toolbar and the frame slider (which mean nothing
without data) by buttons to open a file or the demo series, the drag-and-drop
hint and the recently opened files.
"""

from __future__ import annotations

import os

from PyQt6 import QtCore, QtWidgets

#: Recent files listed on the page (File ▸ Open Recent keeps more).
RECENT_SHOWN = 5

FILE_KINDS_TEXT = ("FLSeries and FLImage HDF5 files (.h5), TIFF stacks (.tif) and "
                   "NumPy arrays (.npy)")


class WelcomeView(QtWidgets.QWidget):
    """Empty-state page: "Open…", "Open demo series", drop hint and recent files.

    Signals
    -------
    openRequested()
        The user asked for the file dialog.
    demoRequested()
        The user asked for the demo series.
    recentRequested(str)
        The user picked a recently opened file (its path).
    helpRequested()
        The user asked for Help ▸ Getting started.
    """

    openRequested = QtCore.pyqtSignal()
    demoRequested = QtCore.pyqtSignal()
    recentRequested = QtCore.pyqtSignal(str)
    helpRequested = QtCore.pyqtSignal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        title = QtWidgets.QLabel("No series open")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        title.setFont(font)
        intro = QtWidgets.QLabel("Open a fluorescence image or time series to view it, "
                                 "browse its frames and correct background and bleaching.")
        intro.setWordWrap(True)

        self.open_button = QtWidgets.QPushButton("Open file…")
        self.open_button.setDefault(True)
        self.open_button.setToolTip(f"Choose files to open (Ctrl+O): {FILE_KINDS_TEXT}")
        self.demo_button = QtWidgets.QPushButton("Open demo series")
        self.demo_button.setToolTip("A small synthetic time series of bleaching cells, "
                                    "to try the app without data of your own")
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)

        self.drop_hint = QtWidgets.QLabel(
            f"…or drag and drop files anywhere onto this window: {FILE_KINDS_TEXT}. "
            "Your files are opened read-only; edits are saved only into copies.")
        self.drop_hint.setWordWrap(True)

        self.recent_heading = QtWidgets.QLabel("<b>Recent files</b>")
        self.recent_box = QtWidgets.QVBoxLayout()
        self.recent_box.setSpacing(0)
        self.recent_buttons: list[QtWidgets.QPushButton] = []

        self.help_button = QtWidgets.QPushButton("New here? Help ▸ Getting started")
        self.help_button.setFlat(True)
        self.help_button.setCursor(QtCore.Qt.CursorShape.PointingHandCursor)
        self.help_button.setToolTip("A one-page guide to the window")
        self.help_button.setStyleSheet("text-align: left; color: palette(link);")

        column = QtWidgets.QVBoxLayout()
        column.setSpacing(10)
        column.addWidget(title)
        column.addWidget(intro)
        column.addSpacing(6)
        column.addLayout(buttons)
        column.addWidget(self.drop_hint)
        column.addSpacing(12)
        column.addWidget(self.recent_heading)
        column.addLayout(self.recent_box)
        column.addSpacing(12)
        column.addWidget(self.help_button, 0, QtCore.Qt.AlignmentFlag.AlignLeft)
        content = QtWidgets.QWidget()
        content.setLayout(column)
        content.setMaximumWidth(520)

        # centred, with room around it, whatever the size of the window
        outer = QtWidgets.QGridLayout(self)
        outer.addWidget(content, 1, 1)
        outer.setRowStretch(0, 1)
        outer.setRowStretch(2, 2)
        outer.setColumnStretch(0, 1)
        outer.setColumnStretch(2, 1)

        self.open_button.clicked.connect(self.openRequested)
        self.demo_button.clicked.connect(self.demoRequested)
        self.help_button.clicked.connect(self.helpRequested)
        self.set_recent_files([])

    def set_recent_files(self, paths: list[str]) -> None:
        """List the most recent of `paths` (newest first) as buttons that open them."""
        for button in self.recent_buttons:
            self.recent_box.removeWidget(button)
            # hidden now: deleteLater waits for the event loop, and a screenshot may come first
            button.hide()
            button.deleteLater()
        self.recent_buttons = []
        for path in paths[:RECENT_SHOWN]:
            folder = os.path.basename(os.path.dirname(path))
            button = QtWidgets.QPushButton(f"{os.path.basename(path)}   —   {folder}")
            button.setFlat(True)
            button.setCursor(QtCore.Qt.CursorShape.PointingHandCursor)
            button.setStyleSheet("text-align: left; color: palette(link); padding: 2px 0;")
            button.setToolTip(f"Open {path}")
            button.clicked.connect(lambda _checked=False, p=path: self.recentRequested.emit(p))
            self.recent_box.addWidget(button)
            self.recent_buttons.append(button)
        self.recent_heading.setVisible(bool(self.recent_buttons))
