"""The Background panel: draw where the background is, fit it, see the corrected image, apply.

ROIs are drawn on the main image (rectangle, ellipse, polygon, free-hand,
border of N px) and listed in the panel, where they are renamed, switched
between include and exclude, and deleted.  Every edit — including a change
of profile or offset — is an undoable step (one ``QUndoStack`` per series).

A debounced preview fits the background of the frame on display with the
model's :func:`~flimage_app.model.background.estimate` and shows the region
on the image, the fitted background, the corrected frame, and the residual
in the region with warnings (:func:`~flimage_app.model.background_apply.assess_region`).
The fit runs in a worker thread (:mod:`.background_preview`): the GUI thread
only collects the inputs and shows the result of the newest request; results
of regions, settings, frames or series changed since are dropped.

*Apply* writes a new file with :func:`~flimage_app.model.background_apply.apply_background`
in a worker thread and opens it.  ROIs are stored in the series' own
``flimage_app`` group: in every file written by *Apply*, and in the copy
written by File ▸ Save / Save As; they are restored when such a file is opened.

Other panels (bleach correction) read the regions through
:meth:`BackgroundPanel.background_mask` and :meth:`BackgroundPanel.signal_mask`
and listen to :attr:`BackgroundPanel.masks_changed`.
"""

from __future__ import annotations

import logging
import os
import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.background.background_preview import (
    LatestTaskRunner,
    PreviewRequest,
    PreviewResult,
    compute_preview,
    stored_data_background_reader,
)
from flimage_app.gui.browser.frame_cache import H5_LOCK
from flimage_app.gui.widgets.roi_tools import DrawingTool, RoiGraphic
from flimage_app.gui.workers import error_message
from flimage_app.model.background_apply import (
    ApplyResult,
    apply_background,
    load_background_image,
)
from flimage_app.model.errors import FLImageAppError
from flimage_app.model.rois import (
    ROI,
    BorderROI,
    EllipseROI,
    FreehandROI,
    PolygonROI,
    RectangleROI,
    ROISet,
    import_imagej,
    load_roiset_json,
    read_roiset,
    save_roiset_json,
    unique_name,
    write_roiset,
)

log = logging.getLogger(__name__)

#: wait this long after the last edit before the preview is recomputed (ms)
PREVIEW_DELAY_MS = 200
#: a fit that takes longer than this says "fitting…" (quicker ones would only flicker) (ms)
FITTING_HINT_DELAY_MS = 300
#: new rectangles and ellipses span this fraction of the visible image
NEW_SHAPE_FRACTION = 0.2
PROFILE_LABELS = {"tilt": "tilt (plane)", "offset": "offset (constant)",
                  "poly2o": "poly2o (2nd order)"}
OFFSET_LABELS = {"mean": "mean", "mode": "mode", "gauss": "gauss (histogram peak)",
                 "fit": "fit (profile constant)"}
ROI_FILTER = "ROI sets (*.json *.roi *.zip);;flimage-app ROI sets (*.json);;" \
             "ImageJ ROIs (*.roi *.zip);;All files (*)"
KIND_LABELS = {"rectangle": "rectangle", "ellipse": "ellipse", "polygon": "polygon",
               "freehand": "free-hand", "border": "border"}


class RoiSetCommand(QtGui.QUndoCommand):
    """One undoable edit: the panel's ROI set before and after."""

    def __init__(self, panel: BackgroundPanel, before: ROISet, after: ROISet,
                 text: str) -> None:
        super().__init__(text)
        self._panel = panel
        self._before = before
        self._after = after

    def redo(self) -> None:
        self._panel.set_roiset(self._after)

    def undo(self) -> None:
        self._panel.set_roiset(self._before)


class _PreviewImages(pg.GraphicsLayoutWidget):
    """The fitted background and the corrected frame, side by side."""

    def sizeHint(self) -> QtCore.QSize:
        # pyqtgraph asks for ~640 px of height; in the panel's scroll area that made
        # the panel taller than the window and pushed "Apply" out of view
        return QtCore.QSize(300, 200)


class BackgroundPanel(QtWidgets.QWidget):
    """Background ROI editor with live preview (see the module docstring).

    Signals
    -------
    masks_changed()
        The regions of the current series changed (or another series is shown).
    previewUpdated()
        The preview shows the newest regions and settings (a fit, or a message).
    """

    masks_changed = QtCore.pyqtSignal()
    previewUpdated = QtCore.pyqtSignal()

    def __init__(self, main_window) -> None:
        super().__init__()
        self.main_window = main_window
        self.image_view = main_window.image_view
        self.view_box: pg.ViewBox = self.image_view.view_box
        self.roiset = ROISet()
        #: residual statistics of the preview on display (None without a fit)
        self.preview_quality = None
        #: the preview on display, full resolution (None without one)
        self.preview_result: PreviewResult | None = None
        self._document = None
        self._graphics: list[RoiGraphic] = []
        self._selected: int | None = None
        self._roisets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._stacks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        #: document → frame index → its stored "data" background (None: it has none)
        self._data_backgrounds: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._experimental: tuple[str, np.ndarray] | None = None
        self.undo_group = QtGui.QUndoGroup(self)
        self._empty_stack = QtGui.QUndoStack(self)
        self.undo_group.addStack(self._empty_stack)
        self.undo_group.setActiveStack(self._empty_stack)

        self.tool = DrawingTool(self.view_box)
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(5)
        self.view_box.addItem(self.overlay)
        self.preview_timer = QtCore.QTimer(self)
        self.preview_timer.setSingleShot(True)
        self.preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_runner = LatestTaskRunner(self)
        self._fitting_hint_timer = QtCore.QTimer(self)
        self._fitting_hint_timer.setSingleShot(True)
        self._fitting_hint_timer.setInterval(FITTING_HINT_DELAY_MS)

        self._build_widgets()
        self._connect()
        self._update_enabled()

    # ------------------------------------------------------------------ construction
    def _build_widgets(self) -> None:
        self.rect_button = _tool_button("Rectangle", "Add a rectangle (drag to move, corner "
                                        "handle to resize)")
        self.ellipse_button = _tool_button("Ellipse", "Add an ellipse (given by its bounding box)")
        self.polygon_button = _tool_button("Polygon", "Click corners on the image; double-click "
                                           "or right-click closes", checkable=True)
        self.freehand_button = _tool_button("Free-hand", "Press and drag on the image to draw "
                                            "an outline; release closes it", checkable=True)
        self.border_spin = QtWidgets.QSpinBox()
        self.border_spin.setRange(1, 500)
        self.border_spin.setValue(10)
        self.border_spin.setSuffix(" px")
        self.border_spin.setToolTip("Width of the image border used as background")
        self.border_button = _tool_button("Border", "Add a frame of this width around the image")
        self.role_combo = QtWidgets.QComboBox()
        self.role_combo.addItem("include (background)", "include")
        self.role_combo.addItem("exclude (cells)", "exclude")
        self.role_combo.setToolTip("Role of new regions: background, or excluded from it "
                                   "(draw over cells inside a background region)")

        self.roi_list = QtWidgets.QListWidget()
        self.roi_list.setToolTip("Double-click to rename; the selected region is yellow")
        self.roi_list.setMinimumHeight(72)
        self.role_button = QtWidgets.QPushButton("Include ⇄ exclude")
        self.delete_button = QtWidgets.QPushButton("Delete")
        self.delete_button.setShortcut(QtGui.QKeySequence.StandardKey.Delete)
        self.undo_action = self.undo_group.createUndoAction(self, "Undo")
        self.undo_action.setShortcut(QtGui.QKeySequence.StandardKey.Undo)
        self.redo_action = self.undo_group.createRedoAction(self, "Redo")
        self.redo_action.setShortcut(QtGui.QKeySequence.StandardKey.Redo)
        self.main_window.addAction(self.undo_action)
        self.main_window.addAction(self.redo_action)
        self.undo_button = QtWidgets.QToolButton()
        self.undo_button.setDefaultAction(self.undo_action)
        self.redo_button = QtWidgets.QToolButton()
        self.redo_button.setDefaultAction(self.redo_action)
        self.frame_only_check = QtWidgets.QCheckBox("Regions for this frame only")
        self.frame_only_check.setToolTip("Give this frame its own regions; the other frames "
                                         "keep the shared ones")

        self.profile_combo = QtWidgets.QComboBox()
        for key in ("tilt", "offset", "poly2o"):
            self.profile_combo.addItem(PROFILE_LABELS[key], key)
        self.offset_combo = QtWidgets.QComboBox()
        for key in ("mean", "mode", "gauss", "fit"):
            self.offset_combo.addItem(OFFSET_LABELS[key], key)
        self.show_region_check = QtWidgets.QCheckBox("Show region on image")
        self.show_region_check.setChecked(True)
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
        self.scope_all.setChecked(True)
        self.range_first = QtWidgets.QSpinBox()
        self.range_last = QtWidgets.QSpinBox()
        self.apply_button = QtWidgets.QPushButton("Apply and save as…")
        self.apply_button.setToolTip("Fit the chosen frames and write a new file (the open file "
                                     "is not changed); the result opens as a new series")
        self.import_button = QtWidgets.QPushButton("Import…")
        self.import_button.setToolTip("Load an ROI set (.json) or ImageJ/Fiji ROIs "
                                      "(.roi, RoiSet .zip)")
        self.export_button = QtWidgets.QPushButton("Export…")
        self.export_button.setToolTip("Save the ROI set as JSON")

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        regions = QtWidgets.QGroupBox("Background regions")
        grid = QtWidgets.QGridLayout(regions)
        grid.addWidget(self.rect_button, 0, 0)
        grid.addWidget(self.ellipse_button, 0, 1)
        grid.addWidget(self.polygon_button, 1, 0)
        grid.addWidget(self.freehand_button, 1, 1)
        border_row = QtWidgets.QHBoxLayout()
        border_row.addWidget(self.border_button)
        border_row.addWidget(self.border_spin)
        grid.addLayout(border_row, 2, 0, 1, 2)
        role_row = QtWidgets.QHBoxLayout()
        role_row.addWidget(QtWidgets.QLabel("New:"))
        role_row.addWidget(self.role_combo, 1)
        grid.addLayout(role_row, 3, 0, 1, 2)
        grid.addWidget(self.roi_list, 4, 0, 1, 2)
        edit_row = QtWidgets.QHBoxLayout()
        edit_row.addWidget(self.role_button)
        edit_row.addWidget(self.delete_button)
        edit_row.addStretch(1)
        edit_row.addWidget(self.undo_button)
        edit_row.addWidget(self.redo_button)
        grid.addLayout(edit_row, 5, 0, 1, 2)
        grid.addWidget(self.frame_only_check, 6, 0, 1, 2)
        files_row = QtWidgets.QHBoxLayout()
        files_row.addWidget(QtWidgets.QLabel("ROI files:"))
        files_row.addWidget(self.import_button)
        files_row.addWidget(self.export_button)
        grid.addLayout(files_row, 7, 0, 1, 2)
        layout.addWidget(regions)

        fit = QtWidgets.QGroupBox("Fit and preview")
        form = QtWidgets.QFormLayout(fit)
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
        experimental_row = QtWidgets.QHBoxLayout()
        experimental_row.addWidget(self.experimental_label, 1)
        experimental_row.addWidget(self.load_experimental_button)
        experimental_row.addWidget(self.clear_experimental_button)
        form.addRow("Background image:", experimental_row)
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

    def _connect(self) -> None:
        self.rect_button.clicked.connect(lambda: self.add_default_shape("rectangle"))
        self.ellipse_button.clicked.connect(lambda: self.add_default_shape("ellipse"))
        self.polygon_button.toggled.connect(lambda on: self._toggle_tool("polygon", on))
        self.freehand_button.toggled.connect(lambda on: self._toggle_tool("freehand", on))
        self.border_button.clicked.connect(
            lambda: self.add_roi(BorderROI(self.border_spin.value(), role=self.new_role())))
        self.tool.finished.connect(self._on_drawn)
        self.tool.stopped.connect(self._on_tool_stopped)
        self.roi_list.currentRowChanged.connect(self.select)
        self.roi_list.itemChanged.connect(self._on_item_renamed)
        self.role_button.clicked.connect(self.toggle_role)
        self.delete_button.clicked.connect(self.delete_selected)
        self.frame_only_check.toggled.connect(self.set_frame_override)
        self.profile_combo.currentIndexChanged.connect(
            lambda _: self.set_fit(profile=self.profile_combo.currentData()))
        self.offset_combo.currentIndexChanged.connect(
            lambda _: self.set_fit(offset=self.offset_combo.currentData()))
        self.show_region_check.toggled.connect(self.overlay.setVisible)
        self.load_experimental_button.clicked.connect(self.load_experimental_dialog)
        self.clear_experimental_button.clicked.connect(lambda: self.set_experimental(None))
        self.apply_button.clicked.connect(lambda: self.apply())
        self.import_button.clicked.connect(self.import_dialog)
        self.export_button.clicked.connect(self.export_dialog)
        self.range_first.valueChanged.connect(lambda _: self.scope_range.setChecked(True))
        self.range_last.valueChanged.connect(lambda _: self.scope_range.setChecked(True))
        self.preview_timer.timeout.connect(self.update_preview)
        self._preview_runner.succeeded.connect(self._show_preview_result)
        self._preview_runner.failed.connect(self._show_preview_failure)
        self._fitting_hint_timer.timeout.connect(self._show_fitting_hint)
        self.main_window.documentChanged.connect(self.set_document)
        self.main_window.frameShown.connect(self._on_frame_shown)
        # after the main window's own handlers: store the ROIs in the copy just saved

    # ------------------------------------------------------------------ documents, frames
    def set_document(self, document) -> None:
        """Show the regions of `document` (restored from its file the first time)."""
        self.tool.cancel()
        self._preview_runner.invalidate()  # a preview of the previous series is never shown
        if self._document is not None:
            self._roisets[self._document] = self.roiset
        self._document = document
        if document is None:
            self.undo_group.setActiveStack(self._empty_stack)
            self.set_roiset(ROISet())
        else:
            if document not in self._stacks:
                stack = QtGui.QUndoStack(self)
                self.undo_group.addStack(stack)
                self._stacks[document] = stack
                self._roisets[document] = self._stored_roiset(document) or ROISet()
                document.app_data_writers.append(self._roi_writer(document))
            self.undo_group.setActiveStack(self._stacks[document])
            last = max(len(document) - 1, 0)
            for spin in (self.range_first, self.range_last):
                spin.blockSignals(True)
                spin.setRange(0, last)
                spin.blockSignals(False)
            self.range_last.blockSignals(True)
            self.range_last.setValue(last)
            self.range_last.blockSignals(False)
            self.set_roiset(self._roisets[document])
        self._update_enabled()

    def _stored_roiset(self, document) -> ROISet | None:
        """ROIs stored in the opened file: at the series root or, for an FLImage, its root."""
        try:
            with H5_LOCK:
                stored = read_roiset(document.series.h5)
                if stored is None and document.source_kind == "FLImage" and len(document):
                    stored = read_roiset(document.series[0].h5)
        except FLImageAppError as error:
            self.main_window.statusBar().showMessage(
                f"Stored ROIs not restored: {error_message(error)}", 8000)
            return None
        return stored

    def _on_frame_shown(self, frame) -> None:
        previous, self._shown_index = self._shown_index, frame.index
        if self._shape_changed(frame):
            self._sync_graphics(force=True)
        elif self.roiset.overrides and previous != frame.index:
            self._sync_graphics()
            self.masks_changed.emit()
        self.schedule_preview()

    _shown_index: int | None = None
    _graphics_shape: tuple[int, int] | None = None

    def _shape_changed(self, frame) -> bool:
        return tuple(frame.raw.shape[:2]) != self._graphics_shape

    def frame_index(self) -> int | None:
        """Index of the frame on display (None without one)."""
        frame = self.main_window.current_frame()
        return frame.index if frame is not None else None

    def frame_shape(self) -> tuple[int, int] | None:
        frame = self.main_window.current_frame()
        if frame is not None:
            return tuple(frame.raw.shape[:2])
        series = self.main_window.current_series()
        if series is not None and len(series):
            with H5_LOCK:
                return tuple(series.frame_shape)
        return None

    # ------------------------------------------------------------------ the ROI set
    def current_rois(self) -> tuple[ROI, ...]:
        """The regions that apply to the frame on display."""
        return self.roiset.rois_for_frame(self.frame_index())

    def _edit_target(self) -> int | None:
        index = self.frame_index()
        return index if index is not None and index in self.roiset.overrides else None

    def change(self, after: ROISet, text: str) -> None:
        """Make `after` the ROI set as one undoable step."""
        if after == self.roiset:
            return
        self.undo_group.activeStack().push(RoiSetCommand(self, self.roiset, after, text))

    def set_roiset(self, roiset: ROISet) -> None:
        """Show `roiset` (no undo step; used by undo/redo and when switching series)."""
        self.roiset = roiset
        self._set_combo(self.profile_combo, roiset.fit_profile)
        self._set_combo(self.offset_combo, roiset.fit_offset)
        self._sync_graphics()
        self.masks_changed.emit()
        self.schedule_preview()

    def _set_combo(self, combo: QtWidgets.QComboBox, key: str) -> None:
        index = combo.findData(key)
        if index >= 0 and index != combo.currentIndex():
            combo.blockSignals(True)
            combo.setCurrentIndex(index)
            combo.blockSignals(False)

    def _change_rois(self, rois: list[ROI], text: str) -> None:
        self.change(self.roiset.with_rois(rois, self._edit_target()), text)

    def new_role(self) -> str:
        return self.role_combo.currentData()

    def add_roi(self, roi: ROI) -> None:
        """Add `roi` (named after its kind when it has no name) to the current regions."""
        rois = list(self.current_rois())
        if not roi.name:
            roi = replace(roi, name=unique_name(KIND_LABELS[roi.kind], (r.name for r in rois)))
        rois.append(roi)
        self._change_rois(rois, f"Add {roi.name}")
        self.select(len(rois) - 1)

    def add_rois(self, new: list[ROI], text: str) -> None:
        """Add several regions as one step (e.g. an imported ImageJ RoiSet)."""
        rois = list(self.current_rois())
        for roi in new:
            if not roi.name:
                roi = replace(roi, name=unique_name(KIND_LABELS[roi.kind],
                                                    (r.name for r in rois)))
            rois.append(roi)
        self._change_rois(rois, text)

    def add_default_shape(self, kind: str) -> None:
        """Add a rectangle or ellipse in the middle of the visible part of the image."""
        shape = self.frame_shape()
        if shape is None:
            return
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        x0, x1 = max(x0, 0), min(x1, shape[1])
        y0, y1 = max(y0, 0), min(y1, shape[0])
        if x1 <= x0 or y1 <= y0:
            x0, x1, y0, y1 = 0, shape[1], 0, shape[0]
        width = max(round((x1 - x0) * NEW_SHAPE_FRACTION), 2)
        height = max(round((y1 - y0) * NEW_SHAPE_FRACTION), 2)
        x = round((x0 + x1 - width) / 2)
        y = round((y0 + y1 - height) / 2)
        cls = RectangleROI if kind == "rectangle" else EllipseROI
        self.add_roi(cls(x, y, width, height, role=self.new_role()))

    def remove_roi(self, index: int) -> None:
        rois = list(self.current_rois())
        if 0 <= index < len(rois):
            removed = rois.pop(index)
            self._selected = None
            self._change_rois(rois, f"Delete {removed.name}")

    def delete_selected(self) -> None:
        if self._selected is not None:
            self.remove_roi(self._selected)

    def replace_roi(self, index: int, roi: ROI, text: str) -> None:
        rois = list(self.current_rois())
        if 0 <= index < len(rois) and rois[index] != roi:
            rois[index] = roi
            self._change_rois(rois, text)

    def rename(self, index: int, name: str) -> None:
        rois = self.current_rois()
        name = name.strip()
        if 0 <= index < len(rois) and name and name != rois[index].name:
            self.replace_roi(index, replace(rois[index], name=name), f"Rename to {name}")

    def set_role(self, index: int, role: str) -> None:
        rois = self.current_rois()
        if 0 <= index < len(rois):
            self.replace_roi(index, replace(rois[index], role=role),
                             f"Make {rois[index].name} {role}")

    def toggle_role(self) -> None:
        rois = self.current_rois()
        if self._selected is not None and self._selected < len(rois):
            role = rois[self._selected].role
            self.set_role(self._selected, "exclude" if role == "include" else "include")

    def set_fit(self, profile: str | None = None, offset: str | None = None) -> None:
        """Choose the background profile and/or offset (one undoable step)."""
        after = replace(self.roiset, fit_profile=profile or self.roiset.fit_profile,
                        fit_offset=offset or self.roiset.fit_offset)
        self.change(after, f"Profile {after.fit_profile}, offset {after.fit_offset}")

    def set_frame_override(self, on: bool) -> None:
        """Give the frame on display its own regions (a copy of the shared ones), or not."""
        index = self.frame_index()
        if index is None or on == (index in self.roiset.overrides):
            return
        if on:
            self.change(self.roiset.with_rois(self.roiset.rois, index),
                        f"Own regions for frame {index}")
        else:
            self.change(self.roiset.without_override(index), f"Shared regions for frame {index}")

    # ------------------------------------------------------------------ graphics
    def _sync_graphics(self, force: bool = False) -> None:
        """Make the items on the image and the list match the current regions."""
        shape = self.frame_shape()
        rois = self.current_rois() if shape is not None else ()
        for index, roi in enumerate(rois):
            graphic = self._graphics[index] if index < len(self._graphics) else None
            if graphic is not None and not force and _same_geometry(graphic.roi, roi):
                graphic.roi = roi
                continue
            if graphic is not None:
                self._remove_graphic(graphic)
            graphic = RoiGraphic(roi, shape)
            self._add_graphic(graphic)
            if index < len(self._graphics):
                self._graphics[index] = graphic
            else:
                self._graphics.append(graphic)
        for graphic in self._graphics[len(rois):]:
            self._remove_graphic(graphic)
        del self._graphics[len(rois):]
        self._graphics_shape = shape
        if self._selected is not None and self._selected >= len(rois):
            self._selected = None
        for index, graphic in enumerate(self._graphics):
            graphic.set_selected(index == self._selected)
        self._fill_list(rois)
        index = self.frame_index()
        self.frame_only_check.blockSignals(True)
        self.frame_only_check.setChecked(index is not None and index in self.roiset.overrides)
        self.frame_only_check.blockSignals(False)
        self._update_enabled()

    def _add_graphic(self, graphic: RoiGraphic) -> None:
        self.view_box.addItem(graphic.item)
        item = graphic.item
        if isinstance(item, pg.ROI):
            item.sigRegionChanged.connect(lambda _item: self.schedule_preview())
            item.sigRegionChangeFinished.connect(lambda _item, g=graphic: self._on_moved(g))
            item.sigRemoveRequested.connect(lambda _item, g=graphic: self._on_remove_request(g))
            item.sigClicked.connect(lambda _item, _event, g=graphic: self._on_clicked(g))

    def _remove_graphic(self, graphic: RoiGraphic) -> None:
        item = graphic.item
        if isinstance(item, pg.ROI):
            for signal in (item.sigRegionChanged, item.sigRegionChangeFinished,
                           item.sigRemoveRequested, item.sigClicked):
                signal.disconnect()
        self.view_box.removeItem(item)

    def _fill_list(self, rois) -> None:
        self.roi_list.blockSignals(True)
        self.roi_list.clear()
        for roi in rois:
            item = QtWidgets.QListWidgetItem(roi.name)
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(f"{KIND_LABELS[roi.kind]}, {roi.role}")
            item.setIcon(_role_icon(roi.role))
            self.roi_list.addItem(item)
        if self._selected is not None:
            self.roi_list.setCurrentRow(self._selected)
        self.roi_list.blockSignals(False)

    def select(self, index: int | None) -> None:
        """Highlight region `index` on the image and in the list (None or -1: nothing)."""
        if index is not None and not 0 <= index < len(self._graphics):
            index = None
        self._selected = index
        for number, graphic in enumerate(self._graphics):
            graphic.set_selected(number == index)
        self.roi_list.blockSignals(True)
        self.roi_list.setCurrentRow(-1 if index is None else index)
        self.roi_list.blockSignals(False)
        self._update_enabled()

    def _index_of(self, graphic: RoiGraphic) -> int | None:
        for index, candidate in enumerate(self._graphics):
            if candidate is graphic:
                return index
        return None

    def _on_moved(self, graphic: RoiGraphic) -> None:
        index = self._index_of(graphic)
        if index is None:
            return
        moved = graphic.current_roi()
        if moved != graphic.roi:
            graphic.roi = moved  # the item already shows it: keep it through the sync
            self.replace_roi(index, moved, f"Move {moved.name}")

    def _on_remove_request(self, graphic: RoiGraphic) -> None:
        index = self._index_of(graphic)
        if index is not None:
            # removing the item inside its own signal handler is unsafe: defer
            QtCore.QTimer.singleShot(0, lambda: self.remove_roi(index))

    def _on_clicked(self, graphic: RoiGraphic) -> None:
        self.select(self._index_of(graphic))

    def _on_item_renamed(self, item: QtWidgets.QListWidgetItem) -> None:
        index = self.roi_list.row(item)
        QtCore.QTimer.singleShot(0, lambda: self.rename(index, item.text()))

    # ------------------------------------------------------------------ drawing tools
    def _toggle_tool(self, kind: str, on: bool) -> None:
        other = self.freehand_button if kind == "polygon" else self.polygon_button
        if on:
            other.blockSignals(True)
            other.setChecked(False)
            other.blockSignals(False)
            self.tool.start(kind)
        elif self.tool.kind == kind:
            if kind == "polygon":
                self.tool.finish()  # un-checking the button closes the polygon
            else:
                self.tool.cancel()

    def _on_tool_stopped(self) -> None:
        for button in (self.polygon_button, self.freehand_button):
            button.blockSignals(True)
            button.setChecked(False)
            button.blockSignals(False)

    def _on_drawn(self, kind: str, points: np.ndarray) -> None:
        cls = PolygonROI if kind == "polygon" else FreehandROI
        try:
            roi = cls(points=tuple(map(tuple, points)), role=self.new_role())
        except ValueError as error:
            self.main_window.statusBar().showMessage(str(error), 5000)
            return
        self.add_roi(roi)

    # ------------------------------------------------------------------ masks for other panels
    def background_mask(self, index: int | None = None) -> np.ndarray | None:
        """Boolean background mask of frame `index` (default: on display); None without ROIs."""
        shape = self.frame_shape()
        if shape is None:
            return None
        index = self.frame_index() if index is None else index
        return self.roiset.mask(shape, index)

    def signal_mask(self, index: int | None = None) -> np.ndarray | None:
        """Where the signal is: the exclude regions (cells drawn over) when there are any,
        else everything outside the background; None without ROIs."""
        shape = self.frame_shape()
        if shape is None:
            return None
        return self.roiset.signal_mask(shape, self.frame_index() if index is None else index)

    # ------------------------------------------------------------------ preview
    @property
    def busy(self) -> bool:
        """True while the preview of the newest regions and settings is not shown yet."""
        return self.preview_timer.isActive() or self._preview_runner.busy

    def schedule_preview(self) -> None:
        """Recompute the preview shortly (edits in quick succession trigger it once).

        The preview being computed is out of date from now on: it is not shown.
        """
        self._preview_runner.invalidate()
        self.preview_timer.start()

    def _provisional_roiset(self) -> ROISet:
        """The ROI set with the regions as currently dragged (not yet an undo step)."""
        if not self._graphics:
            return self.roiset
        rois = [graphic.current_roi() for graphic in self._graphics]
        return self.roiset.with_rois(rois, self._edit_target())

    def preview_request(self) -> PreviewRequest | None:
        """The inputs of the preview fit of the frame on display (None: nothing to fit)."""
        frame = self.main_window.current_frame()
        roiset = self._provisional_roiset()
        if frame is None or not roiset.rois_for_frame(frame.index):
            return None
        if self._experimental is not None:
            return PreviewRequest(frame.index, frame.raw, roiset, self._experimental[1])
        document = self.main_window.current_document()
        stored = self._data_backgrounds.get(document, {}) if document is not None else {}
        if document is None or frame.index in stored:
            return PreviewRequest(frame.index, frame.raw, roiset, stored.get(frame.index))
        # the file is read in the worker, not here: the GUI thread never waits for it
        return PreviewRequest(frame.index, frame.raw, roiset, None,
                              stored_data_background_reader(document.series, frame.index))

    def update_preview(self) -> None:
        """Fit the frame on display with the current regions in a worker; show it when done."""
        self.preview_timer.stop()
        request = self.preview_request()
        if request is None:
            self._preview_runner.invalidate()
            self.preview_quality = None
            self.preview_result = None
            self._clear_preview("Draw a region where there is only background "
                                "(rectangle, ellipse, polygon, free-hand or border).")
            self._preview_done()
            return
        self._preview_runner.submit(lambda _progress, cancel: compute_preview(request, cancel))
        if not self._fitting_hint_timer.isActive() and self.fitting_label.isHidden():
            self._fitting_hint_timer.start()

    def _show_fitting_hint(self) -> None:
        if self._preview_runner.busy:
            self.fitting_label.setVisible(True)

    def _preview_done(self) -> None:
        self._fitting_hint_timer.stop()
        self.fitting_label.setVisible(False)
        self.previewUpdated.emit()

    def _show_preview_result(self, result: PreviewResult) -> None:
        request = result.request
        if result.data_background_was_read:
            document = self.main_window.current_document()
            if document is not None:
                stored = self._data_backgrounds.setdefault(document, {})
                stored[request.index] = result.data_background_read
        self._show_overlay(result.overlay)
        if result.failure is not None:
            self.preview_quality = None
            self.preview_result = None
            self._clear_preview(result.failure, keep_overlay=True)
            self._preview_done()
            return
        self.preview_quality = result.quality
        self.preview_result = result
        for key, (image, levels) in result.thumbnails.items():
            self.preview_items[key].setImage(image, autoLevels=False, levels=levels)
        self.stats_label.setText(result.text)
        self.warning_label.setText("\n".join(f"⚠ {w}" for w in result.quality.warnings))
        self._preview_done()

    def _show_preview_failure(self, message: str) -> None:
        self.preview_quality = None
        self.preview_result = None
        self._clear_preview(f"Preview failed: {message}", keep_overlay=True)
        self._preview_done()

    def _clear_preview(self, message: str, keep_overlay: bool = False) -> None:
        if not keep_overlay:
            self.overlay.clear()
        for item in self.preview_items.values():
            item.clear()
        self.stats_label.setText(message)
        self.warning_label.setText("")

    def _show_overlay(self, rgba: np.ndarray) -> None:
        # no levels: 8-bit RGBA then goes to the screen as it is (with levels (0, 255)
        # pyqtgraph rescales every pixel, 5 ms at 2048² px on the GUI thread)
        self.overlay.setImage(rgba, autoLevels=False)
        self.overlay.setVisible(self.show_region_check.isChecked())

    # ------------------------------------------------------------------ experimental background
    def load_experimental_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Background image", self._folder(),
            "Images (*.h5 *.hdf5 *.tif *.tiff *.npy);;All files (*)")
        if path:
            self.load_experimental(path)

    def load_experimental(self, path: str | os.PathLike) -> bool:
        """Use the image in `path` as experimental background; False (and a message) if not."""
        try:
            image = load_background_image(path)
        except (FLImageAppError, OSError, ValueError) as error:
            self.main_window.report_error("Background image", error_message(error))
            return False
        shape = self.frame_shape()
        if shape is not None and image.shape != shape:
            self.main_window.report_error(
                "Background image", f"{Path(path).name} is {image.shape[1]}×{image.shape[0]} "
                f"px, the frames {shape[1]}×{shape[0]} px")
            return False
        self.set_experimental((Path(path).name, image))
        return True

    def set_experimental(self, experimental: tuple[str, np.ndarray] | None) -> None:
        self._experimental = experimental
        if experimental is None:
            self.experimental_label.setText("none (stored 'data' background, if any)")
        else:
            name, image = experimental
            self.experimental_label.setText(f"{name} ({image.shape[1]}×{image.shape[0]} px)")
        self.clear_experimental_button.setEnabled(experimental is not None)
        self.schedule_preview()

    # ------------------------------------------------------------------ apply
    def frames_to_apply(self) -> list[int] | None:
        """The frames chosen under Apply (None: all)."""
        if self.scope_this.isChecked():
            return [self.main_window.current_index()]
        if self.scope_range.isChecked():
            first, last = self.range_first.value(), self.range_last.value()
            return list(range(min(first, last), max(first, last) + 1))
        return None

    def apply(self, output: str | os.PathLike | None = None, overwrite: bool = False):
        """Fit the chosen frames and write them to `output` (asked for when None).

        Returns the running task, or None when nothing was started.
        """
        document = self.main_window.current_document()
        if document is None:
            return None
        if self.roiset.is_empty():
            self.main_window.report_error("Background", "Draw at least one background region "
                                          "first")
            return None
        if output is None:
            output, overwrite = self._ask_output(document)
            if output is None:
                return None
        frames = self.frames_to_apply()
        roiset = self.roiset
        data_background = self._experimental[1] if self._experimental is not None else None
        as_image = document.source_kind == "FLImage" and len(document) == 1
        series = document.series

        def work(progress, cancel) -> ApplyResult:
            return apply_background(series, output, roiset, frames=frames,
                                    data_background=data_background, as_image=as_image,
                                    progress=progress, cancel=cancel, overwrite=overwrite,
                                    input_lock=H5_LOCK)

        return self.main_window.run_task("Fitting the background", work,
                                         lambda result: self._on_applied(str(output), result))

    def _ask_output(self, document) -> tuple[str | None, bool]:
        stem = Path(document.source_path or document.name).stem
        proposal = os.path.join(self._folder(), f"{stem}_bg.h5")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save the background-corrected series", proposal,
            "HDF5 FLSeries / FLImage (*.h5)",
            options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
        if not path:
            return None, False
        if not path.lower().endswith((".h5", ".hdf5", ".hdf")):
            path += ".h5"
        if os.path.exists(path):
            if not self.main_window.confirm_overwrite(path):
                return None, False
            return path, True
        return path, False

    def _on_applied(self, output: str, result: ApplyResult) -> None:
        stds = result.residual_std
        summary = (f"Background fitted on {len(result.fitted_frames)} frame(s); residual std "
                   f"{stds.min():.3g}…{stds.max():.3g}" if len(stds) else "No frame fitted")
        self.main_window.statusBar().showMessage(f"{summary}; wrote {output}", 10000)
        self.main_window.open_paths([output])

    # ------------------------------------------------------------------ files
    def _folder(self) -> str:
        return str(self.main_window.settings.value("last_folder", str(Path.home())))

    def import_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Import ROIs", self._folder(),
                                                        ROI_FILTER)
        if path:
            self.import_rois(path)

    def import_rois(self, path: str | os.PathLike) -> bool:
        """Load a JSON ROI set (replaces the regions) or ImageJ ROIs (added as include)."""
        path = Path(path)
        try:
            if path.suffix.lower() == ".json":
                self.change(load_roiset_json(path), f"Import {path.name}")
            else:
                self.add_rois(import_imagej(path), f"Import {path.name}")
        except (FLImageAppError, OSError) as error:
            self.main_window.report_error("Import ROIs", error_message(error))
            return False
        return True

    def export_dialog(self) -> None:
        document = self.main_window.current_document()
        stem = Path(document.source_path or document.name).stem if document else "rois"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export ROIs", os.path.join(self._folder(), f"{stem}_rois.json"),
            "ROI sets (*.json)")
        if path:
            if not path.lower().endswith(".json"):
                path += ".json"
            self.export_rois(path, overwrite=True)  # the file dialog asked already

    def export_rois(self, path: str | os.PathLike, overwrite: bool = False) -> bool:
        try:
            save_roiset_json(self.roiset, path, overwrite=overwrite)
        except (FLImageAppError, OSError) as error:
            self.main_window.report_error("Export ROIs", error_message(error))
            return False
        self.main_window.statusBar().showMessage(f"Exported the ROIs to {path}", 5000)
        return True

    def _roi_writer(self, document):
        """Writes the regions of `document` into its saved copy (File ▸ Save / Save As)."""
        panel = weakref.ref(self)

        def write(root) -> None:
            alive = panel()
            if alive is None:
                return
            roiset = alive.roiset if alive._document is document else alive._roisets.get(document)
            if roiset is not None and not roiset.is_empty():
                write_roiset(root, roiset)

        return write

    # ------------------------------------------------------------------ state of buttons
    def _update_enabled(self) -> None:
        has_frame = self.main_window.current_document() is not None
        for widget in (self.rect_button, self.ellipse_button, self.polygon_button,
                       self.freehand_button, self.border_button, self.apply_button,
                       self.import_button, self.export_button, self.frame_only_check,
                       self.load_experimental_button):
            widget.setEnabled(has_frame)
        selected = self._selected is not None
        self.role_button.setEnabled(selected)
        self.delete_button.setEnabled(selected)
        self.clear_experimental_button.setEnabled(self._experimental is not None)


def _tool_button(text: str, tip: str, checkable: bool = False) -> QtWidgets.QPushButton:
    button = QtWidgets.QPushButton(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    return button


def _role_icon(role: str) -> QtGui.QIcon:
    from flimage_app.gui.widgets.roi_tools import ROLE_COLOURS

    pixmap = QtGui.QPixmap(12, 12)
    pixmap.fill(ROLE_COLOURS[role])
    return QtGui.QIcon(pixmap)


def _same_geometry(a: ROI, b: ROI) -> bool:
    """True when `a` and `b` differ at most in name and role (so the drawn item can stay)."""
    return type(a) is type(b) and replace(a, name="", role="include") == \
        replace(b, name="", role="include")
