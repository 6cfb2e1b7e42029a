"""The Measure panel: draw cells, measure their intensity over time, plot, copy and export.

The panel is the view of the series' :class:`~flimage_app.gui.measure_state.MeasureState`
(the measurement ROIs and the last table; every ROI edit an undo step) and of
its :class:`~.measure_session.MeasureSession` (ROIs of the frame on display,
selection, display choices).  ROIs are drawn on the image with the tools of the
Background panel (:class:`~flimage_app.gui.widgets.roi_tools.DrawingTool`, shown
by the same :class:`~flimage_app.gui.background.roi_layer.RoiLayer`), each in
its own colour, named "1", "2" … as Fiji's ROI Manager numbers them; they are
renamed, recoloured, deleted, moved on one frame only, imported from and
exported to Fiji (RoiSet ``.zip`` / ``.roi``) or JSON.

*Measure* runs :func:`~flimage_app.model.roi_measure.measure_series` in a
worker (progress and Cancel) on the raw and background-corrected data, and the
bleach-corrected data when a correction is chosen (the Bleach panel's fit, or
an open corrected copy of the series).  The traces are plotted
(:mod:`.trace_plot`: a click on a point shows its frame) and tabulated
(:mod:`.measure_table`: Ctrl+C copies to a spreadsheet); the table is exported
as CSV (long or wide, UTF-8 with BOM) and saved with the series (File ▸ Save).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.background.roi_layer import RoiKeys, RoiLayer
from flimage_app.gui.browser.frame_cache import H5_LOCK
from flimage_app.gui.history import History
from flimage_app.gui.measure.measure_session import (
    DATA_LABELS,
    NO_BLEACH,
    NORMALISED_QUANTITIES,
    QUANTITY_LABELS,
    BleachSource,
    MeasureSession,
    bleach_sources,
    session_for,
)
from flimage_app.gui.measure.measure_table import MeasureTableView, swatch
from flimage_app.gui.measure.table_data import TraceTable
from flimage_app.gui.measure.trace_plot import TracePlot
from flimage_app.gui.measure_state import MeasureState
from flimage_app.gui.widgets.roi_tools import (
    ROI_FILE_ERRORS,
    DrawingTool,
    roi_file_problem,
    tool_buttons,
)
from flimage_app.gui.workers import Task, error_message
from flimage_app.model.errors import FLImageAppError
from flimage_app.model.h5io import atomic_output
from flimage_app.model.roi_measure import (
    DATA_SETS,
    Measurement,
    MeasureROISet,
    export_imagej,
    load_measure_rois,
    measure_series,
    next_number_name,
    save_measure_rois_json,
)
from flimage_app.model.rois import EllipseROI, FreehandROI, PolygonROI, RectangleROI

ROI_FILTER = ("ROIs (*.zip *.roi *.json *.h5);;Fiji RoiSet / ROI (*.zip *.roi);;"
              "flimage-app measurement ROIs (*.json);;Saved series (*.h5);;All files (*)")
EXPORT_FILTERS = {"Fiji RoiSet (*.zip)": ".zip", "Fiji ROI, the selected one (*.roi)": ".roi",
                  "flimage-app measurement ROIs (*.json)": ".json"}
CSV_FILTER = "CSV table, UTF-8 (*.csv)"
KIND_LABELS = {"rectangle": "rectangle", "ellipse": "ellipse", "polygon": "polygon",
               "freehand": "free-hand outline"}


class MeasurePanel(QtWidgets.QWidget):
    """Measurement ROIs, traces and table of the series in front (see the module docstring).

    Signals
    -------
    measured()
        A measurement ended (its table is shown) or failed.
    """

    measured = QtCore.pyqtSignal()

    def __init__(self, main_window) -> None:
        super().__init__()
        self.main_window = main_window
        self.image_view = main_window.image_view
        self.view_box = self.image_view.view_box
        self.document = None
        self.session = MeasureSession(MeasureState(History()))
        self._disconnect: list = []
        self._task: Task | None = None
        self._sources: list[BleachSource] = [NO_BLEACH]
        self.layer = RoiLayer(self.view_box, colour_of=self._colour_of)
        self.tool = DrawingTool(self.view_box, passthrough=self.layer.claims_press)
        self.keys = RoiKeys(self.tool, lambda: self.session)
        self._build_widgets()
        self._lay_out()
        self._connect()
        self.image_view.graphics.installEventFilter(self.keys)
        self.roi_list.installEventFilter(self.keys.list_keys)
        self._show_all()

    # ------------------------------------------------------------------ construction
    def _build_widgets(self) -> None:
        self.tool_group, self.tool_buttons = tool_buttons(self)
        self.rect_button = self.tool_buttons["rectangle"]
        self.ellipse_button = self.tool_buttons["ellipse"]

        self.roi_list = QtWidgets.QListWidget()
        self.roi_list.setToolTip("Measurement ROIs, numbered as in Fiji's ROI Manager; "
                                 "double-click to rename")
        self.roi_list.setMinimumHeight(64)
        self.roi_list.setMaximumHeight(76)
        self.colour_button = _button("Colour…", "Choose the colour of the selected ROI")
        self.delete_button = _button("Delete", "Remove the selected ROI (Delete on the image)")
        self.frame_only_check = QtWidgets.QCheckBox("Moved on this frame only")
        self.frame_only_check.setToolTip(
            "The selected ROI has its own position on this frame (a cell that drifted); "
            "the other frames keep the shared one. Untick to use the shared one again.")
        self.import_button = _button("Import…", "Add ROIs from a Fiji RoiSet (.zip), a Fiji "
                                     ".roi, a .json file or a saved series (.h5)")
        self.export_button = _button("Export…", "Save the ROIs as a Fiji RoiSet (.zip), a "
                                     "Fiji .roi (the selected ROI) or .json")

        self.bleach_combo = QtWidgets.QComboBox()
        self.bleach_combo.setToolTip(
            "Also measure bleach-corrected data: the Bleach panel's fit applied to the "
            "background-corrected frames, or an open corrected copy of this series")
        self.bleach_combo.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.bleach_combo.setMinimumContentsLength(12)
        self.baseline_edit = QtWidgets.QLineEdit()
        self.baseline_edit.setPlaceholderText("e.g. 0-4")
        self.baseline_edit.setToolTip("Frames whose mean is F₀ of F/F₀ and ΔF/F₀ "
                                      "(counted from 0: 0-4 or 0,2,5-7)")
        self.baseline_edit.setAcceptDrops(False)  # a file dropped here opens, as elsewhere
        self.measure_button = QtWidgets.QPushButton("Measure")
        self.measure_button.setToolTip("Measure every ROI on every frame (area, mean, sum, "
                                       "min, max, std), as Fiji's Multi Measure")
        self.status_label = QtWidgets.QLabel("")
        self.status_label.setWordWrap(True)

        self.data_combo = QtWidgets.QComboBox()
        for key in DATA_SETS:
            self.data_combo.addItem(DATA_LABELS[key], key)
        self.data_combo.setToolTip("Which data the plot and the table show (the CSV has all)")
        self.quantity_combo = QtWidgets.QComboBox()
        for key, label in QUANTITY_LABELS.items():
            self.quantity_combo.addItem(label, key)
        self.quantity_combo.setToolTip("What the plot and the table show")
        self.plot = TracePlot()
        self.readout_label = QtWidgets.QLabel("")
        self.readout_label.setStyleSheet("color: #555555;")
        self.readout_label.setMinimumWidth(10)
        self.table = MeasureTableView()
        self.copy_button = _button("Copy table", "Copy the whole table, tab-separated with "
                                   "headers, to paste into a spreadsheet (Ctrl+C copies the "
                                   "selected cells)")
        self.csv_long_button = _button("CSV long…", "Export every value, one row per ROI, "
                                       "frame and data set (UTF-8 with BOM)")
        self.csv_wide_button = _button("CSV wide…", "Export every value, one row per frame "
                                       "and a column per ROI and quantity (UTF-8 with BOM)")

    def _lay_out(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)

        rois = QtWidgets.QGroupBox("Measurement ROIs")
        grid = QtWidgets.QVBoxLayout(rois)
        grid.setContentsMargins(6, 6, 6, 6)
        tools = QtWidgets.QGridLayout()
        tools.setSpacing(2)
        for number, button in enumerate(self.tool_buttons.values()):
            tools.addWidget(button, number // 3, number % 3)
        grid.addLayout(tools)
        grid.addWidget(self.roi_list)
        edit_row = QtWidgets.QHBoxLayout()
        for button in (self.colour_button, self.delete_button):
            edit_row.addWidget(button)
        edit_row.addStretch(1)
        edit_row.addWidget(self.import_button)
        edit_row.addWidget(self.export_button)
        grid.addLayout(edit_row)
        grid.addWidget(self.frame_only_check)
        layout.addWidget(rois)

        measure = QtWidgets.QGroupBox("Measure")
        form = QtWidgets.QGridLayout(measure)
        form.setContentsMargins(6, 6, 6, 6)
        bleach_label = QtWidgets.QLabel("Bleach corr.:")
        bleach_label.setBuddy(self.bleach_combo)
        form.addWidget(bleach_label, 0, 0)
        form.addWidget(self.bleach_combo, 0, 1, 1, 2)
        baseline_label = QtWidgets.QLabel("F₀ frames:")
        baseline_label.setBuddy(self.baseline_edit)
        form.addWidget(baseline_label, 1, 0)
        form.addWidget(self.baseline_edit, 1, 1)
        form.addWidget(self.measure_button, 1, 2)
        form.addWidget(self.status_label, 2, 0, 1, 3)
        # the table's outputs up here: in a low window they stay in view above the plot
        files_row = QtWidgets.QHBoxLayout()
        files_row.addWidget(self.copy_button)
        files_row.addStretch(1)
        files_row.addWidget(self.csv_long_button)
        files_row.addWidget(self.csv_wide_button)
        form.addLayout(files_row, 3, 0, 1, 3)
        form.setColumnStretch(1, 1)
        layout.addWidget(measure)

        traces = QtWidgets.QGroupBox("Traces")
        box = QtWidgets.QVBoxLayout(traces)
        box.setContentsMargins(6, 6, 6, 6)
        choice_row = QtWidgets.QHBoxLayout()
        choice_row.addWidget(self.data_combo, 3)
        choice_row.addWidget(self.quantity_combo, 2)
        box.addLayout(choice_row)
        box.addWidget(self.plot, 3)
        box.addWidget(self.readout_label)
        box.addWidget(self.table, 2)
        layout.addWidget(traces, 1)

    def _connect(self) -> None:
        for kind, button in self.tool_buttons.items():
            button.toggled.connect(lambda on, k=kind: on and self.pick_tool(k))
        self.tool.kindChanged.connect(self._show_tool)
        self.tool.finished.connect(self._on_drawn)
        self.tool.clicked.connect(lambda pos: self.session.select(self.layer.index_at(pos)))
        scene = self.view_box.scene()
        if scene is not None:
            scene.sigMouseClicked.connect(self._on_scene_clicked)
        self.roi_list.currentRowChanged.connect(lambda row: self.session.select(
            row if row >= 0 else None))
        self.roi_list.itemChanged.connect(self._on_item_renamed)
        self.colour_button.clicked.connect(self.choose_colour)
        self.delete_button.clicked.connect(lambda: self.session.delete_selected())
        self.frame_only_check.toggled.connect(lambda on: self.session.set_frame_only(on))
        self.import_button.clicked.connect(self.import_dialog)
        self.export_button.clicked.connect(self.export_dialog)
        self.bleach_combo.currentIndexChanged.connect(self._on_bleach_chosen)
        self.baseline_edit.editingFinished.connect(
            lambda: self.set_baseline(self.baseline_edit.text()))
        self.measure_button.clicked.connect(lambda: self.measure())
        self.data_combo.currentIndexChanged.connect(
            lambda _i: self.session.set_display(data=self.data_combo.currentData()))
        self.quantity_combo.currentIndexChanged.connect(
            lambda _i: self.session.set_display(quantity=self.quantity_combo.currentData()))
        self.plot.frameClicked.connect(self.go_to_frame)
        self.plot.hovered.connect(self.readout_label.setText)
        self.table.frameClicked.connect(self.go_to_frame)
        self.copy_button.clicked.connect(self.table.copy_all)
        self.csv_long_button.clicked.connect(lambda: self.export_csv(wide=False))
        self.csv_wide_button.clicked.connect(lambda: self.export_csv(wide=True))
        self.main_window.documentChanged.connect(self.set_document)
        self.main_window.frameShown.connect(self._on_frame_shown)

    # ------------------------------------------------------------------ documents, frames
    @property
    def state(self) -> MeasureState:
        """The measurement state of the series on display."""
        return self.session.state

    @property
    def busy(self) -> bool:
        """True while a measurement runs."""
        return self._task is not None and not self._task.is_done()

    def set_document(self, document) -> None:
        """Show the ROIs and the table of `document` (read from its file the first time)."""
        self.tool.cancel_shape()
        for disconnect in self._disconnect:
            disconnect()
        self._disconnect = []
        self.document = document
        if document is None:
            self.session = MeasureSession(MeasureState(History()))
        else:
            with H5_LOCK:  # the stored ROIs and table are read from the open file
                self.session = session_for(document)
            if self.state.load_problem:
                self.main_window.statusBar().showMessage(
                    f"Stored measurement not restored: {self.state.load_problem}", 10000)
        frame = self.main_window.current_frame()
        self.session.show_frame(frame.index if frame is not None and document else None)
        self._disconnect = [self.session.changed.connect(self._on_session_changed)]
        leaf_changed = getattr(document, "leaf_changed", None)
        if leaf_changed is not None:  # another channel or plane: the table may not be its own
            self._disconnect.append(leaf_changed.connect(self._show_status))
        self._refresh_sources()
        self._show_all()

    def _on_frame_shown(self, frame) -> None:
        if self.document is None:
            return
        shape_changed = tuple(frame.raw.shape[:2]) != self.layer.shape
        self.session.show_frame(frame.index)
        if shape_changed:
            self._show_rois(force=True)
        self._show_frame_marks()

    def frame_shape(self) -> tuple[int, int] | None:
        return self.main_window.current_frame_shape()

    def go_to_frame(self, frame: int) -> None:
        """Show frame `frame` in the browser (a click on a trace point or a table row)."""
        if self.document is not None and 0 <= frame < len(self.document):
            self.main_window.browser.set_index(frame)

    # ------------------------------------------------------------------ showing the state
    def _colour_of(self, roi) -> str | None:
        return self.state.colour(roi.name) if roi.name in self.state.names else None

    def _on_session_changed(self, what: str) -> None:
        if what == "rois":
            self._show_rois()
            self._show_traces()  # names and colours of the curves follow the ROIs
        elif what == "selection":
            self._show_selection()
        else:
            self._show_traces()
        self._show_status()

    def _show_all(self) -> None:
        self._show_rois(force=True)
        self._show_choices()
        self._show_traces()
        self._show_status()

    def _on_screen(self) -> bool:
        return self.document is not None and self.isVisible()

    def _show_rois(self, force: bool = False) -> None:
        """The items on the image (while the panel is in front) and the list follow the ROIs."""
        session = self.session
        if self._on_screen():
            self.layer.sync(session, self.frame_shape(), force=force)
        else:
            self.layer.sync(None, None)
        with QtCore.QSignalBlocker(self.roi_list):
            self.roi_list.clear()
            for roi in session.current_rois():
                item = QtWidgets.QListWidgetItem(swatch(self.state.colour(roi.name)), roi.name)
                item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsEditable)
                moved = session.frames_moved(roi.name)
                tip = KIND_LABELS.get(roi.kind, roi.kind)
                if moved:
                    tip += f"; moved on frame{'s' if len(moved) > 1 else ''} " + \
                           ", ".join(map(str, moved[:8])) + (" …" if len(moved) > 8 else "")
                if session.moved_here(roi.name):
                    font = item.font()
                    font.setItalic(True)
                    item.setFont(font)
                    tip += " (this frame: its own position)"
                item.setToolTip(tip)
                self.roi_list.addItem(item)
        self._show_selection()

    def _show_selection(self) -> None:
        self.layer.show_selection()
        session = self.session
        with QtCore.QSignalBlocker(self.roi_list):
            self.roi_list.setCurrentRow(-1 if session.selected is None else session.selected)
        name = session.selected_name()
        with QtCore.QSignalBlocker(self.frame_only_check):
            self.frame_only_check.setChecked(name is not None and session.moved_here(name))
        self._update_enabled()

    def _update_enabled(self) -> None:
        has_document = self.document is not None
        selected = self.session.selected_roi() is not None
        for widget in (*self.tool_buttons.values(), self.import_button, self.bleach_combo,
                       self.baseline_edit):
            widget.setEnabled(has_document)
        self.export_button.setEnabled(has_document and bool(self.state.names))
        for widget in (self.colour_button, self.delete_button):
            widget.setEnabled(selected)
        self.frame_only_check.setEnabled(selected and self.session.frame_index is not None)
        self.measure_button.setEnabled(has_document and bool(self.state.names)
                                       and not self.busy)
        has_table = self.state.table is not None
        for widget in (self.copy_button, self.csv_long_button, self.csv_wide_button):
            widget.setEnabled(has_table)

    def _show_choices(self) -> None:
        session = self.session
        table = self.state.table
        with QtCore.QSignalBlocker(self.data_combo):
            model = self.data_combo.model()
            for row, key in enumerate(DATA_SETS):
                item = model.item(row)
                item.setEnabled(table is None or key in table.data_sets)
            self.data_combo.setCurrentIndex(self.data_combo.findData(session.shown_data()))
        with QtCore.QSignalBlocker(self.quantity_combo):
            self.quantity_combo.setCurrentIndex(self.quantity_combo.findData(session.quantity))
        if not self.baseline_edit.hasFocus():
            text = session.baseline_text
            if table is not None and table.baseline:
                text = _frames_text(table.baseline)
            self.baseline_edit.setText(text)
        with QtCore.QSignalBlocker(self.bleach_combo):
            self.bleach_combo.clear()
            for source in self._sources:
                self.bleach_combo.addItem(source.label, source.key)
            index = self.bleach_combo.findData(session.bleach_key)
            self.bleach_combo.setCurrentIndex(max(index, 0))

    def _show_traces(self) -> None:
        self._show_choices()
        table = self.state.table
        if table is None:
            self.plot.show_message("Draw ROIs on the image, then press Measure"
                                   if self.document is not None else "Open a series first")
            self.table.set_table(TraceTable())
            self._show_frame_marks()
            return
        shown = self.session.series_values()
        if self.session.quantity in NORMALISED_QUANTITIES and not table.baseline:
            self.plot.show_message("F/F₀ needs baseline frames: type them under F₀ frames")
        else:
            self.plot.set_traces(shown["x"], shown["x_label"], shown["curves"],
                                 shown["axis_label"])
        colours = {name: colour for name, colour, _values in shown["curves"]}
        values = [values for _name, _colour, values in shown["curves"]]
        self.table.set_table(TraceTable(table.times, table.roi_names,
                                        np.array(values).reshape(len(values), table.frames),
                                        shown["label"]), colours)
        self._show_frame_marks()

    def _show_frame_marks(self) -> None:
        index = self.session.frame_index
        self.plot.show_frame(index)
        self.table.show_frame(index)

    def _show_status(self) -> None:
        table = self.state.table
        names = self.state.names
        if self.document is None:
            text = ""
        elif not names:
            text = "Pick Rectangle, Ellipse, Polygon or Free-hand and draw on a cell."
        elif table is None:
            text = f"{len(names)} ROI{'s' if len(names) != 1 else ''}, not measured yet."
        else:
            sets = ", ".join(DATA_LABELS[d].lower() for d in table.data_sets)
            text = (f"Measured {len(table.roi_names)} ROI{'s' if len(table.roi_names) != 1 else ''}"
                    f" on {table.frames} frames: {sets}.")
            measured_on = self.state.measured_on
            if measured_on is not None and measured_on != getattr(self.document, "leaf", None):
                text = (f"Measured on {self.document.leaf_name(measured_on)}, not on "
                        f"{self.document.leaf_name(self.document.leaf)} shown now: press "
                        f"Measure to measure it. " + text)
            if table.record.get("stored_background") is False:
                # else a user compares two identical curves and wonders what went wrong
                text += " No background is stored in the frames: background-corrected = raw."
            unmeasured = self.state.unmeasured()
            removed = [name for name in table.roi_names
                       if self.session.current_name(name) is None]
            if unmeasured:
                text += f" Changed since: {', '.join(unmeasured[:6])} — Measure again."
            if removed:
                # their traces stay (grey) until the next measurement
                text += f" Removed since: {', '.join(removed[:6])}."
        self.status_label.setText(text)
        self._update_enabled()

    # ------------------------------------------------------------------ drawing
    def pick_tool(self, kind: str | None) -> None:
        """Pick a drawing tool ("rectangle", "ellipse", "polygon", "freehand") or None."""
        self.tool.set_kind(kind)

    def _show_tool(self, kind: str | None) -> None:
        button = self.tool_buttons[kind]
        if not button.isChecked():
            with QtCore.QSignalBlocker(button):
                button.setChecked(True)

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        self._refresh_sources()
        self._show_all()

    def hideEvent(self, event: QtGui.QHideEvent) -> None:
        """Another panel in front: its ROIs, not these, are on the image and take the mouse."""
        if not event.spontaneous():
            self.pick_tool(None)
            self.session.select(None)
            self.layer.sync(None, None)
        super().hideEvent(event)

    def _on_drawn(self, kind: str, shape) -> None:
        try:
            if kind in ("rectangle", "ellipse"):
                cls = RectangleROI if kind == "rectangle" else EllipseROI
                roi = cls(*(float(v) for v in shape))
            else:
                cls = PolygonROI if kind == "polygon" else FreehandROI
                roi = cls(points=tuple(map(tuple, shape)))
        except ValueError as error:
            self.main_window.statusBar().showMessage(str(error), 5000)
            return
        self.add_roi(roi)

    def add_roi(self, roi) -> str:
        """Add `roi` as the next numbered ROI (one undo step); returns its name."""
        return self.session.add_roi(roi)

    def _on_scene_clicked(self, event) -> None:
        if not self._on_screen() or self.tool.active or event.isAccepted() or \
                event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        self.session.select(self.layer.index_at(event.scenePos()))

    def _on_item_renamed(self, item: QtWidgets.QListWidgetItem) -> None:
        index, session, text = self.roi_list.row(item), self.session, item.text()

        def rename() -> None:
            try:
                session.rename(index, text)
            except ValueError as error:
                self.main_window.statusBar().showMessage(str(error), 6000)
                self._show_rois()

        QtCore.QTimer.singleShot(0, rename)

    def choose_colour(self) -> None:
        name = self.session.selected_name()
        if name is None:
            return
        colour = QtWidgets.QColorDialog.getColor(QtGui.QColor(self.state.colour(name)), self,
                                                 f"Colour of ROI {name}")
        if colour.isValid():
            self.state.set_colour(name, colour.name())

    # ------------------------------------------------------------------ measuring
    def _refresh_sources(self) -> None:
        document = self.document
        self._sources = (bleach_sources(document, self.main_window.documents)
                         if document is not None else [NO_BLEACH])
        if self.session.bleach_key not in [s.key for s in self._sources]:
            self.session.bleach_key = NO_BLEACH.key
        self._show_choices()

    def _on_bleach_chosen(self, index: int) -> None:
        if 0 <= index < len(self._sources):
            self.session.set_display(bleach_key=self._sources[index].key)

    def set_baseline(self, text: str) -> bool:
        """Baseline frames for F₀ (the table's F/F₀ follows at once); False if malformed."""
        try:
            self.session.set_baseline(text)
        except ValueError as error:
            self.main_window.statusBar().showMessage(f"F₀ frames: {error}", 8000)
            return False
        return True

    def measure(self) -> Task | None:
        """Measure every ROI on every frame in a worker (progress, Cancel); returns the task."""
        document, session = self.document, self.session
        if document is None or not self.state.names or self.busy:
            return None
        try:
            baseline = session.baseline(len(document))
        except ValueError as error:
            self.main_window.report_error("Measure", f"F₀ frames: {error}")
            return None
        source = next((s for s in self._sources if s.key == session.bleach_key), NO_BLEACH)
        rois, series = self.state.rois, document.series
        edits = {index: dict(changes) for index, changes in document.edits.items() if changes}
        # an imported stack is measured in memory: the record names the file it came from
        origin = document.source_path if document.source_kind == "stack" else None
        state = self.state
        leaf = getattr(document, "leaf", None)

        def work(progress, cancel) -> Measurement:
            return measure_series(series, rois, baseline=baseline, meta_changes=edits or None,
                                  source=origin, progress=progress, cancel=cancel,
                                  **source.options)

        def done(measurement: Measurement) -> None:
            state.set_table(measurement, leaf)

        # one pass over the frames (a chosen correction is fitted already): the dialog's
        # title says it all ("Measuring the ROIs: 12 of 60")
        self._task = self.main_window.run_task("Measuring the ROIs", work, done)
        self._task.finished.connect(self._on_measure_finished)
        self._update_enabled()
        return self._task

    def _on_measure_finished(self) -> None:
        self._show_status()
        self.measured.emit()

    # ------------------------------------------------------------------ ROI files
    def _folder(self) -> str:
        return str(self.main_window.settings.value("last_folder", str(Path.home())))

    def import_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Import measurement ROIs",
                                                        self._folder(), ROI_FILTER)
        if path:
            self.import_rois(path)

    def import_rois(self, path: str | os.PathLike) -> bool:
        """Add the ROIs of a Fiji RoiSet / .roi, JSON or saved series (one undo step).

        Names taken already become the next free numbers; a file that cannot be
        read is reported in a one-line dialog naming it.
        """
        path = Path(path)
        try:
            imported = load_measure_rois(path)
        except ROI_FILE_ERRORS as error:
            self.main_window.report_error("Import ROIs", roi_file_problem(path, error))
            return False
        self.state.replace_rois(merged(self.state.rois, imported), f"Import {path.name}")
        return True

    def export_dialog(self) -> None:
        document = self.document
        if document is None:
            return
        stem = Path(document.source_path or document.name).stem
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export measurement ROIs", os.path.join(self._folder(), f"{stem}_RoiSet.zip"),
            ";;".join(EXPORT_FILTERS), options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
        if not path:
            return
        if Path(path).suffix.lower() not in EXPORT_FILTERS.values():
            path += EXPORT_FILTERS.get(chosen, ".zip")
        overwrite = os.path.exists(path)
        if overwrite and not self.main_window.confirm_overwrite(path):
            return
        self.export_rois(path, overwrite=overwrite)

    def export_rois(self, path: str | os.PathLike, overwrite: bool = False) -> bool:
        """Write the ROIs: ``.zip`` (Fiji RoiSet), ``.roi`` (the selected or only one) or
        ``.json`` (with the per-frame positions)."""
        path = Path(path)
        rois = self.state.rois
        try:
            if path.suffix.lower() == ".json":
                save_measure_rois_json(rois, path, overwrite=overwrite)
            else:
                if path.suffix.lower() == ".roi":
                    selected = self.session.selected_name() or (
                        rois.names[0] if len(rois) == 1 else None)
                    if selected is None:
                        raise ValueError("a .roi file holds one ROI: select it first (or "
                                         "export a RoiSet .zip)")
                    rois = MeasureROISet(rois=(rois.roi(selected),))
                export_imagej(rois, path, overwrite=overwrite)
        except (FLImageAppError, OSError, ValueError) as error:
            self.main_window.report_error("Export ROIs", f"{path.name}: {error_message(error)}")
            return False
        self.main_window.statusBar().showMessage(f"Exported the ROIs to {path}", 5000)
        return True

    # ------------------------------------------------------------------ tables
    def export_csv(self, wide: bool = False, path: str | os.PathLike | None = None,
                   overwrite: bool = False) -> Task | None:
        """Write the table as CSV (long or `wide`), asking where when `path` is None.

        An existing file is replaced only after the user said so (or with
        `overwrite`); the file appears complete or not at all.
        """
        document, table = self.document, self.state.table
        if document is None or table is None:
            return None
        title = f"Export the measurement as CSV ({'wide' if wide else 'long'})"
        if path is None:
            chosen = self.main_window.exporter.ask_target(
                document, title, "_measure_wide.csv" if wide else "_measure.csv",
                [CSV_FILTER])
            if chosen is None:
                return None
            path, overwrite, _filter = chosen
        elif os.path.exists(path) and not overwrite:
            self.main_window.report_error(title, f"{path} exists; it is not replaced unasked")
            return None

        def work(_progress, _cancel) -> str:
            with atomic_output(path, overwrite=overwrite) as temporary:
                table.to_csv(temporary, wide=wide)
            return str(path)

        return self.main_window.run_task(
            title, work, lambda written: self.main_window.statusBar().showMessage(
                f"Exported {written}", 8000))


def merged(current: MeasureROISet, imported: MeasureROISet) -> MeasureROISet:
    """`current` with the ROIs of `imported` added after them; a name already taken
    becomes the next free number (its per-frame positions follow it)."""
    if not current.rois:
        return imported
    taken = set(current.names)
    renames = {}
    rois = list(current.rois)
    for roi in imported.rois:
        name = roi.name if roi.name not in taken else next_number_name(taken)
        taken.add(name)
        renames[roi.name] = name
        rois.append(replace(roi, name=name))
    overrides = {frame: dict(moved) for frame, moved in current.overrides.items()}
    for frame, moved in imported.overrides.items():
        for name, roi in moved.items():
            overrides.setdefault(frame, {})[renames[name]] = replace(roi, name=renames[name])
    return MeasureROISet(rois=tuple(rois), overrides=overrides)


def _frames_text(frames: list[int]) -> str:
    """"0-4" or "0,2,5-7" for sorted frame numbers (what parse_frames reads)."""
    parts, start, last = [], None, None
    for frame in frames:
        if start is None:
            start = last = frame
        elif frame == last + 1:
            last = frame
        else:
            parts.append(f"{start}-{last}" if last != start else str(start))
            start = last = frame
    if start is not None:
        parts.append(f"{start}-{last}" if last != start else str(start))
    return ",".join(parts)


def _button(text: str, tip: str) -> QtWidgets.QToolButton:
    button = QtWidgets.QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
    return button


__all__ = ["MeasurePanel", "merged"]
