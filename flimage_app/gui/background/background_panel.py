"""The Background panel: draw where the background is, fit it, see the corrected image, apply.

The panel is the view of the series' :class:`~.background_state.BackgroundState`
(``document.panel_state["background"]``): it shows that state and sends the
user's edits to it; every ROI edit is a step of the document's history (Edit ▸
Undo).  ROIs are drawn on the main image with Fiji's tools (:class:`DrawingTool`:
drag a rectangle or an ellipse, click a polygon, drag a free-hand outline), or
added as a border of N px, and listed in the panel, where they are renamed,
switched between include and exclude, deleted, and given a position and size.
On the image, a click selects a region; the arrow keys move it by 1 px (Shift:
10 px) and Delete removes it.

A debounced preview fits the background of the frame on display with the
model's :func:`~flimage_app.model.background.estimate` in a worker thread
(:mod:`.background_preview`) and shows the region, the fitted background, the
corrected frame and the residual in the region with warnings.

*Apply* writes a new file with :func:`~flimage_app.model.background_apply.apply_background`
in a worker thread and opens it.  ROIs are stored in the series' own
``flimage_app`` group: in every file written by *Apply*, and in every copy
written by File ▸ Save / Save As; they are restored when such a file is opened.
They are imported from and exported to JSON and Fiji (``.roi``, RoiSet ``.zip``).

Other panels (bleach correction) read the regions through
:meth:`BackgroundPanel.background_mask` and :meth:`BackgroundPanel.signal_mask`
and listen to :attr:`BackgroundPanel.masks_changed`.
"""

from __future__ import annotations

import logging
import os
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
from flimage_app.gui.background.background_state import (
    KIND_LABELS,
    BackgroundState,
    bounds,
)
from flimage_app.gui.background.background_view import BackgroundView
from flimage_app.gui.background.roi_layer import RoiKeys, RoiLayer
from flimage_app.gui.browser.frame_cache import H5_LOCK
from flimage_app.gui.history import History
from flimage_app.gui.widgets.roi_tools import (
    ROI_FILE_ERRORS,
    ROLE_COLOURS,
    DrawingTool,
    roi_file_problem,
)
from flimage_app.gui.workers import error_message
from flimage_app.model.background_apply import (
    ApplyResult,
    apply_background,
    load_background_image,
)
from flimage_app.model.errors import FLImageAppError
from flimage_app.model.rois import (
    EllipseROI,
    FreehandROI,
    PolygonROI,
    RectangleROI,
    ROISet,
    export_imagej,
    import_imagej,
    load_roiset_json,
    read_roiset,
    save_roiset_json,
)

log = logging.getLogger(__name__)

#: wait this long after the last edit before the preview is recomputed (ms)
PREVIEW_DELAY_MS = 200
#: a fit that takes longer than this says "fitting…" (quicker ones would only flicker) (ms)
FITTING_HINT_DELAY_MS = 300
ROI_FILTER = "ROI sets (*.json *.roi *.zip);;flimage-app ROI sets (*.json);;" \
             "ImageJ / Fiji ROIs (*.roi *.zip);;All files (*)"
EXPORT_FILTERS = {"Fiji RoiSet (*.zip)": ".zip", "Fiji ROI, the selected one (*.roi)": ".roi",
                  "flimage-app ROI set (*.json)": ".json"}


class BackgroundPanel(BackgroundView):
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
        super().__init__()  # the widgets (background_view)
        self.main_window = main_window
        self.image_view = main_window.image_view
        self.view_box: pg.ViewBox = self.image_view.view_box
        #: the state on display: the current document's, or an empty one without a document
        self.state = BackgroundState(History())
        self._document = None
        self._disconnect: list = []
        #: residual statistics of the preview on display (None without a fit)
        self.preview_quality = None
        #: the preview on display, full resolution (None without one)
        self.preview_result: PreviewResult | None = None

        self.layer = RoiLayer(self.view_box)
        self.layer.set_interactive(False)  # until the panel is on screen (showEvent)
        self.tool = DrawingTool(self.view_box, passthrough=self.layer.claims_press)
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

        self._connect()
        self.keys = RoiKeys(self.tool, lambda: self.state, active=lambda: self.layer.interactive)
        self.image_view.graphics.installEventFilter(self.keys)
        self.roi_list.installEventFilter(self.keys.list_keys)
        self._show_state()

    # ------------------------------------------------------------------ construction
    def _connect(self) -> None:
        for kind, button in self.tool_buttons.items():
            button.toggled.connect(lambda on, k=kind: on and self.pick_tool(k))
        self.tool.kindChanged.connect(self._show_tool)
        self.tool.finished.connect(self._on_drawn)
        self.tool.clicked.connect(self._on_image_clicked)
        scene = self.view_box.scene()
        if scene is not None:
            scene.sigMouseClicked.connect(self._on_scene_clicked)
        self.layer.regionChanging.connect(self.schedule_preview)
        self.border_button.clicked.connect(lambda: self.state.add_border())
        self.border_spin.valueChanged.connect(lambda v: self.state.set_setting(border_px=v))
        self.role_combo.currentIndexChanged.connect(
            lambda _: self.state.set_setting(new_role=self.role_combo.currentData()))
        self.roi_list.currentRowChanged.connect(lambda row: self.state.select(row))
        self.roi_list.itemChanged.connect(self._on_item_renamed)
        self.role_button.clicked.connect(lambda: self.state.toggle_selected_role())
        self.delete_button.clicked.connect(lambda: self.state.delete_selected())
        self.undo_button.clicked.connect(lambda: self.state.history.undo())
        self.redo_button.clicked.connect(lambda: self.state.history.redo())
        self.frame_only_check.toggled.connect(lambda on: self.state.set_frame_override(on))
        for spin in self.geometry_spins.values():
            spin.valueChanged.connect(lambda _value: self._on_geometry_typed())
        self.profile_combo.currentIndexChanged.connect(
            lambda _: self.state.set_fit(profile=self.profile_combo.currentData()))
        self.offset_combo.currentIndexChanged.connect(
            lambda _: self.state.set_fit(offset=self.offset_combo.currentData()))
        self.show_region_check.toggled.connect(
            lambda on: self.state.set_setting(show_region=on))
        self.load_experimental_button.clicked.connect(self.load_experimental_dialog)
        self.clear_experimental_button.clicked.connect(lambda: self.set_experimental(None))
        self.apply_button.clicked.connect(lambda: self.apply())
        self.import_button.clicked.connect(self.import_dialog)
        self.export_button.clicked.connect(self.export_dialog)
        for scope, button in self.scope_buttons.items():
            button.toggled.connect(lambda on, s=scope: on and self.state.set_setting(scope=s))
        self.range_first.valueChanged.connect(
            lambda v: self.state.set_setting(range_first=v, scope="range"))
        self.range_last.valueChanged.connect(
            lambda v: self.state.set_setting(range_last=v, scope="range"))
        self.preview_timer.timeout.connect(self.update_preview)
        self._preview_runner.succeeded.connect(self._show_preview_result)
        self._preview_runner.failed.connect(self._show_preview_failure)
        self._fitting_hint_timer.timeout.connect(self._show_fitting_hint)
        self.main_window.documentChanged.connect(self.set_document)
        self.main_window.frameShown.connect(self._on_frame_shown)

    # ------------------------------------------------------------------ documents, frames
    @property
    def roiset(self) -> ROISet:
        """The ROI set of the series on display."""
        return self.state.roiset

    def set_document(self, document) -> None:
        """Show the state of `document` (made, with the ROIs stored in its file, the first time)."""
        self.tool.cancel_shape()
        self._preview_runner.invalidate()  # a preview of the previous series is never shown
        for disconnect in self._disconnect:
            disconnect()
        self._disconnect = []
        self._document = document
        if document is None:
            self.state = BackgroundState(History())
        else:
            state = BackgroundState.of(document)
            if state is None:
                state = BackgroundState.attach(document, self._stored_roiset(document))
            self.state = state
        frame = self.main_window.current_frame()
        self.state.show_frame(frame.index if frame is not None and document is not None
                              else None)
        self._disconnect = [self.state.changed.connect(self._on_state_changed),
                            self.state.history.changed.connect(self._show_history)]
        self._show_state()

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
        if self._document is None:
            return
        shape_changed = tuple(frame.raw.shape[:2]) != self.layer.shape
        self.state.show_frame(frame.index)  # emits "rois" when the frame has other regions
        if shape_changed:
            self._show_rois(force=True)
        self.schedule_preview()

    def frame_index(self) -> int | None:
        """Index of the frame on display (None without one)."""
        frame = self.main_window.current_frame()
        return frame.index if frame is not None else None

    def frame_shape(self) -> tuple[int, int] | None:
        return self.main_window.current_frame_shape()

    # ------------------------------------------------------------------ showing the state
    def _on_state_changed(self, what: str) -> None:
        if what == "rois":
            self._show_rois()
            self.masks_changed.emit()
            self.schedule_preview()
        elif what == "selection":
            self._show_selection()
        else:
            self._show_settings()

    def _show_state(self) -> None:
        self._show_rois(force=True)
        self._show_settings()
        self._show_history()
        self.masks_changed.emit()
        self.schedule_preview()

    def _show_rois(self, force: bool = False) -> None:
        """Make the items on the image, the list and the fit choices match the state."""
        state = self.state
        shape = self.frame_shape() if self._document is not None else None
        self.layer.sync(state, shape, force=force)
        _set_combo(self.profile_combo, state.roiset.fit_profile)
        _set_combo(self.offset_combo, state.roiset.fit_offset)
        with QtCore.QSignalBlocker(self.roi_list):
            self.roi_list.clear()
            for roi in state.current_rois():
                item = QtWidgets.QListWidgetItem(roi.name)
                item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsEditable)
                item.setToolTip(f"{KIND_LABELS[roi.kind]}, {roi.role}")
                item.setIcon(_role_icon(roi.role))
                self.roi_list.addItem(item)
        with QtCore.QSignalBlocker(self.frame_only_check):
            self.frame_only_check.setChecked(state.has_own_regions())
        self._show_selection()

    def _show_selection(self) -> None:
        self.layer.show_selection()
        selected = self.state.selected
        with QtCore.QSignalBlocker(self.roi_list):
            self.roi_list.setCurrentRow(-1 if selected is None else selected)
        roi = self.state.selected_roi()
        box = bounds(roi) if roi is not None else None
        for key, value in zip("xywh", box or (0, 0, 1, 1), strict=True):
            spin = self.geometry_spins[key]
            with QtCore.QSignalBlocker(spin):
                spin.setValue(value)
            spin.setEnabled(box is not None)
        self._update_enabled()

    def _show_settings(self) -> None:
        state = self.state
        with QtCore.QSignalBlocker(self.border_spin):
            self.border_spin.setValue(state.border_px)
        _set_combo(self.role_combo, state.new_role)
        with QtCore.QSignalBlocker(self.show_region_check):
            self.show_region_check.setChecked(state.show_region)
        self.overlay.setVisible(state.show_region)
        for scope, button in self.scope_buttons.items():
            with QtCore.QSignalBlocker(button):
                button.setChecked(scope == state.scope)
        last = max(state.frame_count - 1, 0)
        for spin, value in ((self.range_first, state.range_first),
                            (self.range_last, state.range_last)):
            with QtCore.QSignalBlocker(spin):
                spin.setRange(0, last)
                spin.setValue(value)
        if state.experimental is None:
            # short: a wrapped second line was cut off in a narrow pane
            self.experimental_label.setText("none")
            self.experimental_label.setToolTip("No image loaded: the frames' stored 'data' "
                                               "background, if any, is subtracted")
        else:
            name, image = state.experimental
            self.experimental_label.setText(f"{name} ({image.shape[1]}×{image.shape[0]} px)")
            self.experimental_label.setToolTip("Subtracted from every frame before the fit")
        self._update_enabled()

    def _show_history(self) -> None:
        history = self.state.history
        self.undo_button.setEnabled(history.can_undo)
        self.redo_button.setEnabled(history.can_redo)
        self.undo_button.setToolTip(f"Undo {history.undo_text} (Edit ▸ Undo)"
                                    if history.can_undo else "Nothing to undo")
        self.redo_button.setToolTip(f"Redo {history.redo_text} (Edit ▸ Redo)"
                                    if history.can_redo else "Nothing to redo")

    def _update_enabled(self) -> None:
        has_document = self._document is not None
        for widget in (*self.tool_buttons.values(), self.border_button, self.apply_button,
                       self.import_button, self.export_button, self.frame_only_check,
                       self.load_experimental_button):
            widget.setEnabled(has_document)
        selected = self.state.selected_roi() is not None
        self.role_button.setEnabled(selected)
        self.delete_button.setEnabled(selected)
        self.clear_experimental_button.setEnabled(self.state.experimental is not None)

    # ------------------------------------------------------------------ drawing tools
    def pick_tool(self, kind: str | None) -> None:
        """Pick a drawing tool ("rectangle", "ellipse", "polygon", "freehand") or None
        (select/pan); it stays picked after a shape is drawn, as in Fiji."""
        self.tool.set_kind(kind)

    def hideEvent(self, event: QtGui.QHideEvent) -> None:
        """Another panel comes to the front: the image pans again (its tools are here), and
        the regions stay on the image, dimmed and deselected, out of reach of that panel's
        clicks, drags and keys (its own ROIs, e.g. the Measure panel's, take them)."""
        if not event.spontaneous():  # not when the window is only minimised
            self.pick_tool(None)
            self.state.select(None)
            self.layer.set_interactive(False)
        super().hideEvent(event)

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        self.layer.set_interactive(True)

    def _show_tool(self, kind: str | None) -> None:
        button = self.tool_buttons[kind]
        if not button.isChecked():
            with QtCore.QSignalBlocker(button):
                button.setChecked(True)  # the group un-presses the others

    def _on_drawn(self, kind: str, shape) -> None:
        try:
            if kind in ("rectangle", "ellipse"):
                cls = RectangleROI if kind == "rectangle" else EllipseROI
                roi = cls(*(float(v) for v in shape), role=self.state.new_role)
            else:
                cls = PolygonROI if kind == "polygon" else FreehandROI
                roi = cls(points=tuple(map(tuple, shape)), role=self.state.new_role)
        except ValueError as error:
            self.main_window.statusBar().showMessage(str(error), 5000)
            return
        self.state.add_roi(roi)

    def _on_image_clicked(self, scene_pos: QtCore.QPointF) -> None:
        """A click that drew nothing (drawing tool picked): select what is under it."""
        self.state.select(self.layer.index_at(scene_pos))

    def _on_scene_clicked(self, event) -> None:
        """A click on the image with the select tool that no region took: select nothing."""
        if not self.layer.interactive or self.tool.active or event.isAccepted() or \
                event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        self.state.select(self.layer.index_at(event.scenePos()))

    def _on_item_renamed(self, item: QtWidgets.QListWidgetItem) -> None:
        index, state = self.roi_list.row(item), self.state
        QtCore.QTimer.singleShot(0, lambda: state.rename(index, item.text()))

    def _on_geometry_typed(self) -> None:
        """A typed position or size: move / resize the selected region (one step)."""
        if self.state.selected is None:
            return
        values = [self.geometry_spins[key].value() for key in "xywh"]
        try:
            self.state.set_bounds(self.state.selected, *values)
        except ValueError as error:
            self.main_window.statusBar().showMessage(str(error), 5000)

    # ------------------------------------------------------------------ edits (for scripts)
    def add_roi(self, roi) -> None:
        """Add `roi` to the regions of the frame on display (one undo step)."""
        self.state.add_roi(roi)

    def add_rois(self, rois, text: str) -> None:
        self.state.add_rois(rois, text)

    def replace_roi(self, index: int, roi, text: str) -> None:
        self.state.replace_roi(index, roi, text)

    def select(self, index: int | None) -> None:
        self.state.select(index)

    def set_fit(self, profile: str | None = None, offset: str | None = None) -> None:
        self.state.set_fit(profile, offset)

    def current_rois(self):
        return self.state.current_rois()

    # ------------------------------------------------------------------ masks for other panels
    def background_mask(self, index: int | None = None) -> np.ndarray | None:
        """Boolean background mask of frame `index` (default: on display); None without ROIs."""
        shape = self.frame_shape()
        if shape is None:
            return None
        return self.state.background_mask(shape, index)

    def signal_mask(self, index: int | None = None) -> np.ndarray | None:
        """Where the signal is: the exclude regions (cells drawn over) when there are any,
        else everything outside the background; None without ROIs."""
        shape = self.frame_shape()
        if shape is None:
            return None
        return self.state.signal_mask(shape, index)

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
        roiset = self.state.roiset
        if not self.layer.graphics:
            return roiset
        target = self.state.frame_index if self.state.has_own_regions() else None
        return roiset.with_rois(self.layer.current_rois(), target)

    def preview_request(self) -> PreviewRequest | None:
        """The inputs of the preview fit of the frame on display (None: nothing to fit)."""
        frame = self.main_window.current_frame()
        document = self._document
        if frame is None or document is None:
            return None
        roiset = self._provisional_roiset()
        if not roiset.rois_for_frame(frame.index):
            return None
        if self.state.experimental is not None:
            return PreviewRequest(frame.index, frame.raw, roiset, self.state.experimental[1])
        stored = self.state.data_backgrounds
        if frame.index in stored:
            return PreviewRequest(frame.index, frame.raw, roiset, stored[frame.index])
        # the file is read in the worker, not here: the GUI thread never waits for it
        return PreviewRequest(frame.index, frame.raw, roiset, None,
                              stored_data_background_reader(document.series, frame.index))

    def update_preview(self) -> None:
        """Fit the frame on display with the current regions in a worker; show it when done."""
        self.preview_timer.stop()
        request = self.preview_request()
        if request is None:
            self._preview_runner.invalidate()
            self._set_preview(None, None)
            self._clear_preview("Draw a region where there is only background "
                                "(rectangle, ellipse, polygon, free-hand or border).")
            self._preview_done()
            return
        state = self.state
        self._preview_runner.submit(
            lambda _progress, cancel: (state, compute_preview(request, cancel)))
        if not self._fitting_hint_timer.isActive() and self.fitting_label.isHidden():
            self._fitting_hint_timer.start()

    def _set_preview(self, result: PreviewResult | None, quality) -> None:
        self.preview_result = result
        self.preview_quality = quality
        self.state.set_fitted(result.request.roiset if result is not None else None)

    def _show_fitting_hint(self) -> None:
        if self._preview_runner.busy:
            self.fitting_label.setVisible(True)

    def _preview_done(self) -> None:
        self._fitting_hint_timer.stop()
        self.fitting_label.setVisible(False)
        self.previewUpdated.emit()

    def _show_preview_result(self, outcome) -> None:
        state, result = outcome
        request = result.request
        if result.data_background_was_read:
            state.data_backgrounds[request.index] = result.data_background_read
        if state is not self.state:
            return  # another series is shown (its request was invalidated already)
        self._show_overlay(result.overlay)
        if result.failure is not None:
            self._set_preview(None, None)
            self._clear_preview(result.failure, keep_overlay=True)
            self._preview_done()
            return
        self._set_preview(result, result.quality)
        for key, (image, levels) in result.thumbnails.items():
            self.preview_items[key].setImage(image, autoLevels=False, levels=levels)
        self.stats_label.setText(result.text)
        self.warning_label.setText("\n".join(f"⚠ {w}" for w in result.quality.warnings))
        self._preview_done()

    def _show_preview_failure(self, message: str) -> None:
        self._set_preview(None, None)
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
        self.overlay.setVisible(self.state.show_region)

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
        self.state.set_setting(experimental=experimental)
        self.schedule_preview()

    # ------------------------------------------------------------------ apply
    def frames_to_apply(self) -> list[int] | None:
        """The frames chosen under Apply (None: all)."""
        return self.state.frames_to_apply()

    def apply(self, output: str | os.PathLike | None = None, overwrite: bool = False):
        """Fit the chosen frames and write them to `output` (asked for when None).

        Returns the running task, or None when nothing was started.
        """
        document = self._document
        if document is None:
            return None
        state = self.state
        if state.roiset.is_empty():
            self.main_window.report_error("Background", "Draw at least one background region "
                                          "first")
            return None
        if output is None:
            output, overwrite = self._ask_output(document)
            if output is None:
                return None
        frames = state.frames_to_apply()
        roiset = state.roiset
        data_background = state.experimental[1] if state.experimental is not None else None
        as_image = document.source_kind == "FLImage" and len(document) == 1
        series = document.series

        def work(progress, cancel) -> ApplyResult:
            return apply_background(series, output, roiset, frames=frames,
                                    data_background=data_background, as_image=as_image,
                                    progress=progress, cancel=cancel, overwrite=overwrite,
                                    input_lock=H5_LOCK)

        def done(result: ApplyResult) -> None:
            state.mark_applied(roiset)
            self._on_applied(str(output), result)

        return self.main_window.run_task("Fitting the background", work, done)

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
        return self._confirmed(path)

    def _confirmed(self, path: str) -> tuple[str | None, bool]:
        """(path, overwrite) after asking whether an existing `path` may be replaced."""
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
        """Load a JSON ROI set (replaces the regions) or Fiji ROIs (added); one undo step.

        A file that cannot be read is reported in a one-line dialog naming it.
        """
        path = Path(path)
        try:
            if path.suffix.lower() == ".json":
                self.state.replace_all(load_roiset_json(path), f"Import {path.name}")
            else:
                self.state.add_rois(import_imagej(path), f"Import {path.name}")
        except ROI_FILE_ERRORS as error:
            self.main_window.report_error("Import ROIs", roi_file_problem(path, error))
            return False
        return True

    def export_dialog(self) -> None:
        document = self._document
        stem = Path(document.source_path or document.name).stem if document else "rois"
        dialog_filter = ";;".join(EXPORT_FILTERS)
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export ROIs", os.path.join(self._folder(), f"{stem}_RoiSet.zip"),
            dialog_filter, options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
        if not path:
            return
        suffix = EXPORT_FILTERS.get(chosen, ".zip")
        if Path(path).suffix.lower() not in EXPORT_FILTERS.values():
            path += suffix
        path, overwrite = self._confirmed(path)
        if path is not None:
            self.export_rois(path, overwrite=overwrite)

    def export_rois(self, path: str | os.PathLike, overwrite: bool = False) -> bool:
        """Write the regions: ``.json`` (the whole ROI set with its settings), a Fiji
        RoiSet ``.zip`` (the regions of the frame on display) or ``.roi`` (the selected
        region, or the only one)."""
        path = Path(path)
        suffix = path.suffix.lower()
        try:
            if suffix == ".json":
                save_roiset_json(self.state.roiset, path, overwrite=overwrite)
            else:
                rois = list(self.state.current_rois())
                if suffix == ".roi" and self.state.selected_roi() is not None:
                    rois = [self.state.selected_roi()]
                export_imagej(rois, path, shape=self.frame_shape(), overwrite=overwrite)
        except (FLImageAppError, OSError, ValueError) as error:
            self.main_window.report_error("Export ROIs", f"{path.name}: {error_message(error)}")
            return False
        self.main_window.statusBar().showMessage(f"Exported the ROIs to {path}", 5000)
        return True


def _set_combo(combo: QtWidgets.QComboBox, key: str) -> None:
    index = combo.findData(key)
    if index >= 0 and index != combo.currentIndex():
        with QtCore.QSignalBlocker(combo):
            combo.setCurrentIndex(index)


def _role_icon(role: str) -> QtGui.QIcon:
    pixmap = QtGui.QPixmap(12, 12)
    pixmap.fill(ROLE_COLOURS[role])
    return QtGui.QIcon(pixmap)
