"""The widgets of the Background panel and their layout (the behaviour is in background_panel).

Kept apart so that the panel module reads as what the panel does: it shows a
:class:`~.background_state.BackgroundState` and sends the user's edits to it.
The layout is narrow enough (about 275 px) for the side pane of a 1024 px wide
window: no horizontal scrolling.
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.widgets.roi_tools import tool_buttons

PROFILE_LABELS = {"tilt": "tilt (plane)", "offset": "offset (constant)",
                  "poly2o": "poly2o (2nd order)"}
OFFSET_LABELS = {"mean": "mean", "mode": "mode", "gauss": "gauss (histogram peak)",
                 "fit": "fit (profile constant)"}

class _PreviewImages(pg.GraphicsLayoutWidget):
    """The fitted background and the corrected frame, side by side."""

    def sizeHint(self) -> QtCore.QSize:
        # pyqtgraph asks for ~640 px of height; in the panel's scroll area that made
        # the panel taller than the window and pushed "Apply" out of view
        return QtCore.QSize(240, 200)

    def minimumSizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(160, 124)


class BackgroundView(QtWidgets.QWidget):
    """The Background panel's widgets, laid out; :class:`BackgroundPanel` adds what they do."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._build_widgets()

    def _build_widgets(self) -> None:
        self.tool_group, self.tool_buttons = tool_buttons(self)
        self.select_button = self.tool_buttons[None]
        self.rect_button = self.tool_buttons["rectangle"]
        self.ellipse_button = self.tool_buttons["ellipse"]
        self.polygon_button = self.tool_buttons["polygon"]
        self.freehand_button = self.tool_buttons["freehand"]
        self.border_spin = QtWidgets.QSpinBox()
        self.border_spin.setRange(1, 500)
        self.border_spin.setSuffix(" px")
        self.border_spin.setToolTip("Width of the image border used as background")
        self.border_button = _tool_button("Border", expanding=True)
        self.border_button.setToolTip("Add a frame of this width around the image")
        self.role_combo = QtWidgets.QComboBox()
        self.role_combo.addItem("include", "include")
        self.role_combo.addItem("exclude", "exclude")
        self.role_combo.setToolTip("Role of new regions: include (this is background) or "
                                   "exclude (cells drawn inside a background region)")

        self.roi_list = QtWidgets.QListWidget()
        self.roi_list.setToolTip("Double-click to rename; the selected region is yellow")
        self.roi_list.setMinimumHeight(72)
        self.role_button = _tool_button("Include ⇄ exclude")
        self.role_button.setToolTip("Switch the selected region between background and excluded")
        self.delete_button = _tool_button("Delete")
        self.delete_button.setToolTip("Remove the selected region (Delete on the image)")
        # a fixed text: the step undone is in the tooltip, so the panel's width never
        # depends on it; the shortcuts are the Edit menu's (one history per document)
        self.undo_button = QtWidgets.QToolButton()
        self.undo_button.setText("Undo")
        self.redo_button = QtWidgets.QToolButton()
        self.redo_button.setText("Redo")
        self.frame_only_check = QtWidgets.QCheckBox("Regions for this frame only")
        self.frame_only_check.setToolTip("Give this frame its own regions; the other frames "
                                         "keep the shared ones")

        self.geometry_spins: dict[str, QtWidgets.QDoubleSpinBox] = {}
        for key, tip in (("x", "Left edge [px]"), ("y", "Top edge [px]"),
                         ("w", "Width [px]"), ("h", "Height [px]")):
            spin = QtWidgets.QDoubleSpinBox()
            spin.setDecimals(1)
            spin.setRange(-100_000, 100_000) if key in "xy" else spin.setRange(0.1, 100_000)
            spin.setKeyboardTracking(False)  # one step per typed value, not per keystroke
            spin.setButtonSymbols(QtWidgets.QAbstractSpinBox.ButtonSymbols.NoButtons)
            spin.setToolTip(f"{tip} of the selected region")
            spin.setMinimumWidth(48)
            self.geometry_spins[key] = spin

        self.profile_combo = QtWidgets.QComboBox()
        for key in ("tilt", "offset", "poly2o"):
            self.profile_combo.addItem(PROFILE_LABELS[key], key)
        self.offset_combo = QtWidgets.QComboBox()
        for key in ("mean", "mode", "gauss", "fit"):
            self.offset_combo.addItem(OFFSET_LABELS[key], key)
        self.show_region_check = QtWidgets.QCheckBox("Show region on image")
        self.fitting_label = QtWidgets.QLabel("fitting…")
        self.fitting_label.setStyleSheet("color: #888888; font-style: italic;")
        self.fitting_label.setToolTip("The preview is being computed for the latest regions "
                                      "and settings")
        policy = self.fitting_label.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # the row must not jump when it appears
        self.fitting_label.setSizePolicy(policy)
        self.fitting_label.setVisible(False)

        self.preview = _PreviewImages()
        self.preview.setBackground(QtGui.QColor(24, 24, 28))
        self.preview.setMinimumHeight(124)
        self.preview_items: dict[str, pg.ImageItem] = {}
        for column, (key, title) in enumerate((("background", "fitted background"),
                                               ("corrected", "corrected"))):
            self.preview.addLabel(title, row=0, col=column, color="#dddddd", size="9pt")
            box = self.preview.addViewBox(row=1, col=column, lockAspect=True, invertY=True,
                                          enableMouse=False)
            item = pg.ImageItem(axisOrder="row-major")
            box.addItem(item)
            self.preview_items[key] = item
        self.stats_label = QtWidgets.QLabel("Draw a region where there is only background.")
        self.stats_label.setWordWrap(True)
        self.stats_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning_label = QtWidgets.QLabel("")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #d97a00; font-weight: bold;")

        self.experimental_label = QtWidgets.QLabel("none")
        self.experimental_label.setWordWrap(True)
        self.load_experimental_button = QtWidgets.QPushButton("Load…")
        self.load_experimental_button.setToolTip(
            "An image of the background (FLImage or TIFF), subtracted as flimage's 'data' "
            "background before the fit")
        self.clear_experimental_button = QtWidgets.QPushButton("Clear")

        self.scope_this = QtWidgets.QRadioButton("This frame")
        self.scope_all = QtWidgets.QRadioButton("All frames")
        self.scope_range = QtWidgets.QRadioButton("Frames")
        self.scope_buttons = {"this": self.scope_this, "all": self.scope_all,
                              "range": self.scope_range}
        self.range_first = QtWidgets.QSpinBox()
        self.range_last = QtWidgets.QSpinBox()
        self.apply_button = QtWidgets.QPushButton("Apply and save as…")
        self.apply_button.setToolTip("Fit the chosen frames and write a new file (the open file "
                                     "is not changed); the result opens as a new series")
        self.import_button = _tool_button("Import…")
        self.import_button.setToolTip("Load an ROI set (.json) or ImageJ/Fiji ROIs "
                                      "(.roi, RoiSet .zip)")
        self.export_button = _tool_button("Export…")
        self.export_button.setToolTip("Save the regions as a Fiji RoiSet (.zip), a Fiji .roi "
                                      "(the selected region) or an ROI set (.json)")
        self._lay_out()

    def _lay_out(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)

        regions = QtWidgets.QGroupBox("Background regions")
        grid = QtWidgets.QGridLayout(regions)
        grid.setContentsMargins(6, 6, 6, 6)
        tools = QtWidgets.QGridLayout()
        tools.setSpacing(2)
        for number, button in enumerate([*self.tool_buttons.values(), self.border_button]):
            tools.addWidget(button, number // 3, number % 3)
        grid.addLayout(tools, 0, 0, 1, 2)
        role_row = QtWidgets.QHBoxLayout()
        role_row.addWidget(QtWidgets.QLabel("New:"))
        role_row.addWidget(self.role_combo, 1)
        border_label = QtWidgets.QLabel("border")
        border_label.setBuddy(self.border_spin)
        role_row.addWidget(border_label)
        role_row.addWidget(self.border_spin)
        grid.addLayout(role_row, 1, 0, 1, 2)
        grid.addWidget(self.roi_list, 2, 0, 1, 2)
        geometry_row = QtWidgets.QHBoxLayout()
        geometry_row.setSpacing(3)
        for key, spin in self.geometry_spins.items():
            label = QtWidgets.QLabel(key)
            label.setBuddy(spin)
            geometry_row.addWidget(label)
            geometry_row.addWidget(spin, 1)
        grid.addLayout(geometry_row, 3, 0, 1, 2)
        edit_row = QtWidgets.QHBoxLayout()
        edit_row.addWidget(self.role_button)
        edit_row.addWidget(self.delete_button)
        edit_row.addStretch(1)
        grid.addLayout(edit_row, 4, 0, 1, 2)
        grid.addWidget(self.frame_only_check, 5, 0, 1, 2)
        # the ROI files and the undo buttons share a row: the panel stays narrow enough
        # for the side pane of a 1024 px wide window
        files_row = QtWidgets.QHBoxLayout()
        files_row.addWidget(self.import_button)
        files_row.addWidget(self.export_button)
        files_row.addStretch(1)
        files_row.addWidget(self.undo_button)
        files_row.addWidget(self.redo_button)
        grid.addLayout(files_row, 6, 0, 1, 2)
        layout.addWidget(regions)

        fit = QtWidgets.QGroupBox("Fit and preview")
        form = QtWidgets.QFormLayout(fit)
        form.setRowWrapPolicy(QtWidgets.QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("Profile:", self.profile_combo)
        form.addRow("Offset:", self.offset_combo)
        region_row = QtWidgets.QHBoxLayout()
        region_row.addWidget(self.show_region_check)
        region_row.addStretch(1)
        region_row.addWidget(self.fitting_label)
        form.addRow(region_row)
        form.addRow(self.preview)
        form.addRow(self.stats_label)
        form.addRow(self.warning_label)
        form.addRow(QtWidgets.QLabel("Background image:"))
        experimental_row = QtWidgets.QHBoxLayout()
        experimental_row.addWidget(self.experimental_label, 1)
        experimental_row.addWidget(self.load_experimental_button)
        experimental_row.addWidget(self.clear_experimental_button)
        form.addRow(experimental_row)
        layout.addWidget(fit)

        apply_box = QtWidgets.QGroupBox("Apply")
        apply_layout = QtWidgets.QGridLayout(apply_box)
        apply_layout.addWidget(self.scope_this, 0, 0)
        apply_layout.addWidget(self.scope_all, 0, 1)
        range_row = QtWidgets.QHBoxLayout()
        range_row.addWidget(self.scope_range)
        range_row.addWidget(self.range_first)
        range_row.addWidget(QtWidgets.QLabel("to"))
        range_row.addWidget(self.range_last)
        range_row.addStretch(1)
        apply_layout.addLayout(range_row, 1, 0, 1, 2)
        apply_layout.addWidget(self.apply_button, 2, 0, 1, 2)
        layout.addWidget(apply_box)
        layout.addStretch(1)


def _tool_button(text: str, expanding: bool = False) -> QtWidgets.QToolButton:
    """A button as narrow as its text (push buttons are at least 80 px wide)."""
    button = QtWidgets.QToolButton()
    button.setText(text)
    button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
    if expanding:
        button.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding,
                             QtWidgets.QSizePolicy.Policy.Fixed)
    return button
