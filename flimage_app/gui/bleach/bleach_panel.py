"""The bleach-correction panel (view): choose a correction, judge the fit, correct and export.

The panel sits in the main window's panel area (registered as ``"bleach"``).
It holds no settings of its own: each series has a Qt-free
:class:`~.bleach_state.BleachState` in ``document.panel_state["bleach"]``,
which the widgets show and observe.  Changing a widget changes that state as
one step of the series' undo history; undo / redo change the state and the
widgets follow.

For the series in front the panel measures the intensity trace and fits the
chosen model in a worker thread (``correct_series(..., output=None)``, no
frames written), keeps the outcome in the series' state (coming back to the
series shows it again without a new fit) and shows:

* the intensity trace with the fitted curve, the residuals, the correction
  factor and the corrected trace against time (:mod:`.bleach_plots`), with a
  marker at the browsed frame; clicking a plot jumps to the nearest frame;
* the fit report (model, parameters ± SE, half-lives, R², frames used),
  copyable; a failed fit shows its reason instead.

A series that is itself a bleach correction shows its provenance: the
method, parameters, report and curves recorded when it was made, not a fit of
itself (*Correct again* is an explicit choice).

"Preview" shows the browsed frame corrected in the image view; "Correct
series" writes the corrected series into the app's scratch folder (worker,
progress, Cancel) and opens it as a new, unsaved series carrying its
provenance; "Export" writes the corrected series as FLSeries ``.h5`` or ImageJ
TIFF, the plots as PNG/SVG and the curves and report as CSV; "Apply to other
files…" runs the same recipe on other files (:mod:`flimage_app.gui.batch.batch_dialog`).

Background and signal ROIs come from the Background panel's state of the series
(``document.panel_state["background"]``, when it holds a ``roiset``), else from
the Background panel's ``masks_changed``, ``background_mask()`` and ``signal_mask()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.bleach.bleach_channels import AllChannelsBox
from flimage_app.gui.bleach.bleach_outputs import BleachOutputs
from flimage_app.gui.bleach.bleach_plots import BleachPlots
from flimage_app.gui.bleach.bleach_report import (
    failure_text,
    report_context,
    report_text,
    summary_text,
)
from flimage_app.gui.bleach.bleach_sources import read_bleach_provenance, read_masks, state_of
from flimage_app.gui.bleach.bleach_state import (
    BACKGROUND_LABELS,
    HISTOGRAM_REFERENCES,
    METHOD_LABELS,
    METHOD_TIPS,
    REGION_LABELS,
    ROI_HINT,
    BleachSettings,
    BleachState,
    CorrectedSeries,
    FitOutcome,
    Masks,
    bleachcorr_path,
    make_recipe,
    masks_equal,
    measure_and_fit,
)
from flimage_app.gui.browser.frame_cache import H5_LOCK, Frame, read_frame
from flimage_app.gui.workers import Task
from flimage_app.model.bleach import METHODS
from flimage_app.model.bleach import corrected_frame as engine_corrected_frame

log = logging.getLogger(__name__)

#: Waiting time after a setting changed before the fit runs again (typing, spinning).
FIT_DELAY_MS = 250
#: Width the panel area gets when the bleach panel is first shown (the plots need room).
PREFERRED_WIDTH = 560
#: Characters a choice box shows at least; longer labels are elided to fit narrow windows.
COMBO_MIN_CHARACTERS = 14


def corrected_frame(series, result, index: int, settings: BleachSettings,
                    masks: Masks) -> np.ndarray:
    """Frame `index` as the correction in `result` would write it (for the preview)."""
    with H5_LOCK:
        return engine_corrected_frame(series, result, index, region=settings.region,
                                      histogram_reference=settings.histogram_reference,
                                      **masks.engine_options())


class BleachPanel(QtWidgets.QWidget):
    """Bleach-correction panel (see the module docstring).

    Parameters
    ----------
    main_window
        The :class:`~flimage_app.gui.main_window.MainWindow` hosting the panel.

    Signals
    -------
    fitFinished()
        A measure-and-fit run ended (result, failure or error shown).
    previewShown(int)
        The corrected preview of a frame is on display.
    seriesCorrected(str)
        A corrected series was written (its path).
    """

    fitFinished = QtCore.pyqtSignal()
    previewShown = QtCore.pyqtSignal(int)
    seriesCorrected = QtCore.pyqtSignal(str)

    def __init__(self, main_window) -> None:
        super().__init__()
        self.main_window = main_window
        self.document = None
        self.state: BleachState | None = None
        #: the outcome on display (None while a fit is due or nothing can be fitted)
        self.outcome: FitOutcome | None = None
        self._unwatch: list[Callable[[], None]] = []
        self._roi_panel = None
        self._generation = 0
        self._fit_task: Task | None = None
        self._preview_task: Task | None = None
        self._widened = False
        self.fit_timer = QtCore.QTimer(self)
        self.fit_timer.setSingleShot(True)
        self.fit_timer.setInterval(FIT_DELAY_MS)
        self.fit_timer.timeout.connect(self.fit_now)

        self.outputs = BleachOutputs(self)
        self._build()
        self._connect()
        self._connect_roi_panel()
        self._show_settings(BleachSettings())
        self.set_document(main_window.current_document())

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        self.method_combo = QtWidgets.QComboBox()
        for method in METHODS:
            self.method_combo.addItem(METHOD_LABELS.get(method, method), method)
            self.method_combo.setItemData(self.method_combo.count() - 1,
                                          METHOD_TIPS.get(method, ""),
                                          QtCore.Qt.ItemDataRole.ToolTipRole)
        self.strict_check = QtWidgets.QCheckBox("Refuse a stalled fit")
        self.strict_check.setToolTip(
            "flimage 0.3.3 can return a fit that stalled far from the data; ticked, the panel\n"
            "reports that instead (untick to get exactly what flimage returns)")
        self.reference_combo = _choice_combo(HISTOGRAM_REFERENCES)
        self.reference_combo.setToolTip("Frame each frame's histogram is matched to")
        self.region_combo = _choice_combo(REGION_LABELS)
        self.region_combo.setToolTip("Where the intensity trace is measured")
        self.background_combo = _choice_combo(BACKGROUND_LABELS)
        self.background_combo.setToolTip(
            "Level subtracted before measuring (in addition to any background stored in the "
            "frames)")
        for combo in (self.method_combo, self.reference_combo, self.region_combo,
                      self.background_combo):
            # long labels must not make the panel wider than a laptop's side pane
            combo.setSizeAdjustPolicy(
                QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(COMBO_MIN_CHARACTERS)
        self.border_spin = QtWidgets.QSpinBox()
        self.border_spin.setRange(1, 10_000)
        self.border_spin.setSuffix(" px")
        self.border_spin.setToolTip("Width of the frame border whose mean is the background")
        self.value_spin = QtWidgets.QDoubleSpinBox()
        self.value_spin.setRange(-1e12, 1e12)
        self.value_spin.setDecimals(3)
        self.value_spin.setToolTip("Constant background level subtracted from every frame")

        form = QtWidgets.QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(3)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("Method", self.method_combo)
        form.addRow("", self.strict_check)
        form.addRow("Match to", self.reference_combo)
        form.addRow("Measure in", self.region_combo)
        form.addRow("Background", self.background_combo)
        form.addRow("Border width", self.border_spin)
        form.addRow("Level", self.value_spin)
        self.form = form
        self.settings_box = QtWidgets.QGroupBox("Correction")
        self.settings_box.setLayout(form)

        self.status_label = QtWidgets.QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.provenance_label = QtWidgets.QLabel("")
        self.provenance_label.setWordWrap(True)
        self.provenance_label.setStyleSheet("color: #2a5d9f;")
        self.again_button = QtWidgets.QPushButton("Correct again")
        self.again_button.setCheckable(True)
        self.again_button.setToolTip(
            "Fit this corrected series itself with new settings (it should no longer decay);\n"
            "release to show the correction recorded when it was made")
        provenance_row = QtWidgets.QHBoxLayout()
        provenance_row.setContentsMargins(0, 0, 0, 0)
        provenance_row.addWidget(self.provenance_label, 1)
        provenance_row.addWidget(self.again_button, 0, QtCore.Qt.AlignmentFlag.AlignTop)
        self.provenance_box = QtWidgets.QWidget()
        self.provenance_box.setLayout(provenance_row)
        self.provenance_box.setVisible(False)
        self.fit_progress = QtWidgets.QProgressBar()
        self.fit_progress.setMaximumHeight(10)
        self.fit_progress.setTextVisible(False)
        self.fit_progress.setVisible(False)

        self.plots = BleachPlots()
        self.plots.setMinimumHeight(260)
        self.plots.setToolTip("Click a point to show that frame")
        # the plots answer clicks, not keys: no stop for Tab on the way to the buttons
        self.plots.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.report_text = QtWidgets.QPlainTextEdit()
        self.report_text.setReadOnly(True)
        self.report_text.setFont(QtGui.QFontDatabase.systemFont(
            QtGui.QFontDatabase.SystemFont.FixedFont))
        self.report_text.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.copy_button = QtWidgets.QPushButton("Copy report")
        self.copy_button.setToolTip("Copy the fit report as text (for a lab notebook)")
        report = QtWidgets.QWidget()
        report_layout = QtWidgets.QVBoxLayout(report)
        report_layout.setContentsMargins(0, 0, 0, 0)
        report_layout.setSpacing(2)
        report_header = QtWidgets.QHBoxLayout()
        report_header.addWidget(_bold_label("Fit report"))
        report_header.addStretch(1)
        report_header.addWidget(self.copy_button)
        report_layout.addLayout(report_header)
        report_layout.addWidget(self.report_text)
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.splitter.addWidget(self.plots)
        self.splitter.addWidget(report)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([560, 170])  # the plots first: they are what one judges
        self.splitter.setChildrenCollapsible(False)

        self.preview_button = QtWidgets.QPushButton("Preview frame")
        self.preview_button.setCheckable(True)
        self.preview_button.setToolTip("Show the browsed frame as the correction will write it")
        self.correct_button = QtWidgets.QPushButton("Correct series")
        self.correct_button.setToolTip(
            "Correct every frame (in the background, with Cancel) and open the result "
            "as a new series (unsaved until you save it)")
        self.export_button = QtWidgets.QPushButton("Export")
        self.export_menu = QtWidgets.QMenu(self)
        self.export_h5_action = self.export_menu.addAction("Corrected series as HDF5 (.h5)…",
                                                           self.export_h5)
        self.export_tiff_action = self.export_menu.addAction(
            "Corrected series as ImageJ TIFF…", self.export_tiff)
        self.export_menu.addSeparator()
        self.export_png_action = self.export_menu.addAction("Plots as PNG…", self.export_png)
        self.export_svg_action = self.export_menu.addAction("Plots as SVG…", self.export_svg)
        self.export_curves_action = self.export_menu.addAction("Curves as CSV…",
                                                               self.export_curves_csv)
        self.export_report_action = self.export_menu.addAction("Fit report as CSV…",
                                                               self.export_report_csv)
        self.export_button.setMenu(self.export_menu)
        self.batch_button = QtWidgets.QPushButton("Apply to other files…")
        self.batch_button.setToolTip("Apply the same correction to other files")
        # two rows of two: the four buttons side by side are wider than a laptop's pane
        buttons = QtWidgets.QGridLayout()
        buttons.setSpacing(4)
        for number, button in enumerate((self.preview_button, self.correct_button,
                                         self.export_button, self.batch_button)):
            buttons.addWidget(button, number // 2, number % 2)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.settings_box)
        layout.addWidget(self.provenance_box)
        layout.addWidget(self.status_label)
        layout.addWidget(self.fit_progress)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(buttons)
        # a multi-channel / Z series: every channel at once (hidden for other series),
        # right under the settings it uses, where it is seen without scrolling
        self.all_channels = AllChannelsBox(self)
        layout.insertWidget(layout.indexOf(self.settings_box) + 1, self.all_channels)

    def _connect(self) -> None:
        for combo, key in ((self.method_combo, "method"),
                           (self.reference_combo, "histogram_reference"),
                           (self.region_combo, "region"), (self.background_combo, "background")):
            combo.currentIndexChanged.connect(
                lambda _row, c=combo, k=key: self._change(k, c.currentData()))
        self.strict_check.toggled.connect(lambda checked: self._change("strict", bool(checked)))
        self.border_spin.valueChanged.connect(lambda value: self._change("border_px", int(value)))
        self.value_spin.valueChanged.connect(
            lambda value: self._change("background_value", float(value)))
        self.again_button.toggled.connect(self._on_again_toggled)
        self.copy_button.clicked.connect(self.copy_report)
        self.preview_button.toggled.connect(self._on_preview_toggled)
        self.correct_button.clicked.connect(self.run_correction)
        self.batch_button.clicked.connect(self.open_batch_dialog)
        self.plots.frameClicked.connect(self._on_frame_clicked)
        window = self.main_window
        window.documentChanged.connect(self.set_document)
        window.frameChanged.connect(self._on_frame_changed)
        window.frameShown.connect(self._on_frame_shown)
        window.metadata_panel.metadataEdited.connect(self._on_metadata_edited)
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.cleanup)

    def _connect_roi_panel(self) -> None:
        """Follow the background panel's ROIs when it offers them."""
        panel = self.main_window.panel("background")
        if panel is None or panel is self._roi_panel:
            return
        if not all(hasattr(panel, name) for name in ("masks_changed", "background_mask",
                                                    "signal_mask")):
            return
        self._roi_panel = panel
        panel.masks_changed.connect(self._on_masks_changed)
        self._on_masks_changed()

    # ------------------------------------------------------------------ settings
    def settings(self) -> BleachSettings:
        """The settings of the series in front (the defaults without a series)."""
        return self.state.settings if self.state is not None else BleachSettings()

    @property
    def masks(self) -> Masks:
        """The ROI masks of the series in front."""
        return self.state.masks if self.state is not None else Masks()

    def set_settings(self, settings: BleachSettings) -> None:
        """Make `settings` those of the series in front (one undo step; a fit follows)."""
        if self.state is not None:
            self.state.change(**{item.name: getattr(settings, item.name)
                                 for item in fields(BleachSettings)})

    def _change(self, key: str, value: Any) -> None:
        """A widget changed: record it in the series' state (the widgets follow the state)."""
        if self.state is None or self.state.showing_provenance:
            return
        try:
            self.state.change(**{key: value})
        except ValueError as error:
            self._set_status(str(error), error=True)

    def _on_state_settings(self, _settings: BleachSettings) -> None:
        self._show_settings(self.shown_settings())
        self._refresh(delay=True)

    def shown_settings(self) -> BleachSettings:
        state = self.state
        if state is None:
            return BleachSettings()
        if state.showing_provenance and state.provenance is not None:
            return state.provenance.settings
        return state.settings

    def _show_settings(self, settings: BleachSettings) -> None:
        """Show `settings` in the widgets without recording a change."""
        widgets = (self.method_combo, self.region_combo, self.background_combo,
                   self.reference_combo, self.border_spin, self.value_spin, self.strict_check)
        for widget in widgets:
            widget.blockSignals(True)
        try:
            for combo, value in ((self.method_combo, settings.method),
                                 (self.region_combo, settings.region),
                                 (self.background_combo, settings.background),
                                 (self.reference_combo, settings.histogram_reference)):
                combo.setCurrentIndex(combo.findData(value))
            self.border_spin.setValue(settings.border_px)
            self.value_spin.setValue(settings.background_value)
            self.strict_check.setChecked(settings.strict)
        finally:
            for widget in widgets:
                widget.blockSignals(False)
        self._update_parameter_rows(settings)

    def _update_parameter_rows(self, settings: BleachSettings) -> None:
        for widget, visible in ((self.strict_check, settings.method == "flimage"),
                                (self.reference_combo, settings.method == "histogram"),
                                (self.border_spin, settings.background == "border"),
                                (self.value_spin, settings.background == "constant")):
            self.form.setRowVisible(widget, visible)

    # ------------------------------------------------------------------ ROI masks
    def _read_masks(self, document) -> Masks | None:
        """The ROI masks of `document` (None when no source of ROIs knows them)."""
        return read_masks(document, self._roi_panel,
                          document is self.main_window.current_document())

    def _on_masks_changed(self, *_args) -> None:
        # the Background panel announces the masks of the series in front, possibly
        # before this panel hears of the switch: they belong to that series' state
        document = self.main_window.current_document()
        if document is None:
            return
        masks = self._read_masks(document)
        if masks is not None:
            self._state_of(document).set_masks(masks)

    def _on_state_masks(self, _masks: Masks) -> None:
        self._update_mask_choices()
        self._refresh(delay=True)

    def _update_mask_choices(self) -> None:
        masks = self.masks
        has_signal = masks.signal is not None
        has_background = masks.background is not None
        _enable_choice(self.region_combo, "signal", has_signal, f"No signal ROI: {ROI_HINT}")
        _enable_choice(self.region_combo, "outside", has_background,
                       f"No background ROI: {ROI_HINT}")
        _enable_choice(self.background_combo, "mask", has_background,
                       f"No background ROI: {ROI_HINT}")

    # ------------------------------------------------------------------ document and frames

    def _state_of(self, document) -> BleachState:
        """The document's bleach state; a stored record that cannot be used is said in a dialog."""
        return state_of(document, on_problem=lambda message: self.main_window.report_error(
            "Recorded correction", message))

    def set_document(self, document) -> None:
        """Follow the series shown in the main window (None: nothing open)."""
        if document is self.document and document is not None:
            return
        self._cancel_tasks()
        for unwatch in self._unwatch:
            unwatch()
        self._unwatch = []
        self.document = document
        self.state = self._state_of(document) if document is not None else None
        if self.state is not None:
            state = self.state
            self._unwatch = [state.settings_changed.connect(self._on_state_settings),
                             state.masks_changed.connect(self._on_state_masks),
                             state.outcome_changed.connect(self._on_state_outcome),
                             state.mode_changed.connect(self._on_state_mode)]
            masks = self._read_masks(document)
            if masks is not None and not masks_equal(masks, state.masks):
                state.masks = masks  # shown below; no event: nothing else watches yet
        self.outcome = None
        self.plots.clear_plots()
        self.report_text.clear()
        self.all_channels.set_document(document)
        # of a multi-channel series, "Correct series" corrects the channel on display
        self.correct_button.setText("Correct this channel"
                                    if getattr(document, "view", None) is not None
                                    else "Correct series")
        self._show_mode()
        self._show_settings(self.shown_settings())
        self._update_mask_choices()
        self._refresh(delay=True)

    def _show_mode(self) -> None:
        state = self.state
        provenance = state.provenance if state is not None else None
        self.provenance_box.setVisible(provenance is not None)
        if provenance is not None:
            source = provenance.source()[0] or "an in-memory series"
            # correcting again, the full record is one click away: keep the plots' room
            self.provenance_label.setText(
                provenance.describe() if state.showing_provenance
                else f"Fitting this series itself: it is already a correction of {source}.")
            self.again_button.blockSignals(True)
            self.again_button.setChecked(not state.showing_provenance)
            self.again_button.blockSignals(False)
            # the button says what a click does
            self.again_button.setText("Show recorded" if self.again_button.isChecked()
                                      else "Correct again")
        else:
            self.provenance_label.setText("")
        # the recorded settings are a fact about the file, not a choice: the provenance line
        # and the report name them, and the plots get the room
        showing = state is not None and state.showing_provenance
        self.settings_box.setVisible(not showing)
        self.settings_box.setEnabled(state is not None)

    def _on_again_toggled(self, checked: bool) -> None:
        if self.state is not None:
            self.state.set_correcting_again(bool(checked))

    def _on_state_mode(self, _showing_provenance: bool) -> None:
        self._show_mode()
        self._show_settings(self.shown_settings())
        self.plots.clear_plots()
        self.report_text.clear()
        self.outcome = None
        self._refresh(delay=False)

    def _on_metadata_edited(self, key: str) -> None:
        # only new times change the fit; corrections written from now on carry every edit
        if key == "time":
            self._refresh(delay=True)

    def meta_changes(self, document=None) -> dict[int, dict[str, Any]]:
        """A snapshot of the unsaved metadata edits, for a worker to use."""
        document = document if document is not None else self.document
        if document is None:
            return {}
        return {index: dict(changes) for index, changes in document.edits.items()}

    def current_key(self) -> tuple | None:
        """What the fit of the series in front depends on (None without a series)."""
        if self.state is None:
            return None
        return self.state.fit_key(self.meta_changes())

    def _on_frame_changed(self, index: int) -> None:
        self.plots.set_marker(index)

    def _on_frame_shown(self, frame: Frame) -> None:
        self.plots.set_marker(frame.index)
        if self.preview_button.isChecked():
            self.start_preview(frame.index)

    def _on_frame_clicked(self, index: int) -> None:
        self.main_window.browser.set_index(index)

    # ------------------------------------------------------------------ what to show
    def _refresh(self, delay: bool) -> None:
        """Show the stored outcome of the current settings, or say why not, or fit."""
        document, state = self.document, self.state
        if document is None or state is None:
            self.fit_timer.stop()
            self._show_nothing("Open a series to correct bleaching.", error=False)
            return
        if len(document) < 2:
            self._show_nothing("Bleach correction needs a series of at least two frames.",
                               error=True)
            return
        key = self.current_key()
        shown = state.shown_outcome(key)
        if shown is not None:
            self.fit_timer.stop()
            self._cancel_task(self._fit_task)
            self._show_outcome(shown)
            return
        missing = state.missing_roi()
        if missing:
            self.fit_timer.stop()
            self._cancel_task(self._fit_task)
            self._show_nothing(f"Not measured: {missing}", error=True)
            return
        if delay:
            self.request_fit()
        else:
            self.fit_now()

    def _show_nothing(self, message: str, error: bool) -> None:
        self.outcome = None
        self.plots.clear_plots()
        self.report_text.clear()
        self._set_status(message, error=error)
        self._update_buttons()

    def _on_state_outcome(self, _outcome) -> None:
        self._refresh(delay=True)

    def _show_outcome(self, outcome: FitOutcome) -> None:
        if outcome is self.outcome:
            return
        self.outcome = outcome
        if outcome.result is not None:
            self.plots.show_result(outcome.result)
            self.report_text.setPlainText(self.report_as_text())
            self._set_status(self._summary(outcome.result))
        else:
            self._show_failure(outcome.settings, outcome.failure or "The fit failed",
                               outcome.trace)
        self.plots.set_marker(self.main_window.current_index())
        self._update_buttons()
        if self.preview_button.isChecked():
            self.start_preview(self.main_window.current_index())

    @property
    def showing_provenance(self) -> bool:
        """True when the panel shows the correction recorded in the series, not a fit."""
        return self.state is not None and self.state.showing_provenance

    # ------------------------------------------------------------------ fitting
    @property
    def busy(self) -> bool:
        """True while a fit or preview runs or is about to run."""
        return (self.fit_timer.isActive() or self.all_channels.busy
                or any(task is not None and not task.is_done()
                       for task in (self._fit_task, self._preview_task)))

    def request_fit(self) -> None:
        """Fit again shortly (settings are often changed several times in a row)."""
        if self.document is not None and len(self.document) >= 2:
            self._set_status(f"Measuring and fitting ({METHOD_LABELS[self.settings().method]})…")
            self.fit_timer.start()

    def fit_now(self) -> None:
        """Measure and fit the series in front with its settings, in a worker."""
        self.fit_timer.stop()
        document, state = self.document, self.state
        if document is None or state is None or len(document) < 2:
            return
        key = self.current_key()
        if state.shown_outcome(key) is not None or state.missing_roi():
            self._refresh(delay=False)
            return
        self._cancel_task(self._fit_task)
        self._generation += 1
        generation = self._generation
        settings, masks, changes = state.settings, state.masks, self.meta_changes()
        series = document.series
        task = Task(lambda progress, cancel: measure_and_fit(series, settings, masks,
                                                             progress, cancel, changes), self)
        task.progressed.connect(self._show_fit_progress)
        task.succeeded.connect(lambda outcome: self._on_fit_done(document, state, key, outcome))
        task.failed.connect(lambda message: self._on_fit_done(
            document, state, key, FitOutcome(settings, failure=message)))
        task.finished.connect(lambda: self._on_task_finished(generation))
        self._fit_task = task
        self._set_status(f"Measuring and fitting ({METHOD_LABELS[settings.method]})…")
        self.fit_progress.setRange(0, 0)
        self.fit_progress.setVisible(True)
        task.start()

    def _show_fit_progress(self, done: int, total: int) -> None:
        self.fit_progress.setRange(0, max(total, 0))
        self.fit_progress.setValue(min(done, total))

    def _on_fit_done(self, document, state: BleachState, key: tuple,
                     outcome: FitOutcome) -> None:
        # a fit is kept with its series only while it still describes that series' settings
        if key == state.fit_key(self.meta_changes(document)):
            state.set_outcome(outcome, key)

    def _on_task_finished(self, generation: int) -> None:
        if generation == self._generation:
            self.fit_progress.setVisible(False)
            self.fitFinished.emit()

    def _show_failure(self, settings: BleachSettings, message: str, trace) -> None:
        status, report = failure_text(settings, message, trace)
        self._set_status(status, error=True)
        if trace is not None:
            self.plots.show_trace(trace.times, trace.intensity, trace.method,
                                  trace.report.time_unit, "fit failed: see the message above")
        else:
            self.plots.clear_plots("nothing to plot: see the message above")
        self.report_text.setPlainText(report)

    def _summary(self, result) -> str:
        text = summary_text(result, recorded=self.showing_provenance)
        view = getattr(self.document, "view", None)
        if view is not None:  # of a multi-channel series: the fit of the channel on display
            text = f"{self.channel_label()} — {text}"
        return text

    def channel_label(self) -> str:
        """ "GFP" or "GFP, z 1" of a multi-channel / Z series in front ("" otherwise)."""
        view = getattr(self.document, "view", None)
        if view is None:
            return ""
        label = view.names[view.channel]
        return f"{label}, z {view.plane}" if view.planes > 1 else label

    def report_as_text(self) -> str:
        """The fit report shown in the panel (also what "Copy report" copies)."""
        if self.outcome is None:
            return ""
        if self.outcome.result is None:
            return self.report_text.toPlainText()
        return report_text(self.outcome.result, self.report_context(self.outcome.result))

    def report_context(self, result) -> list[tuple[str, str]]:
        """The facts around the report of `result` (series, source, measurement, frames)."""
        provenance = self.state.provenance if self.showing_provenance else None
        name = self.document.name if self.document is not None else "?"
        if self.channel_label():
            name += f" (channel {self.channel_label()})"
        return report_context(result, self.outcome.settings, name, provenance)

    def copy_report(self) -> None:
        """Copy the fit report to the clipboard."""
        QtWidgets.QApplication.clipboard().setText(self.report_text.toPlainText())
        self.main_window.statusBar().showMessage("Fit report copied", 3000)

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #b00020; font-weight: bold;" if error else "")

    def _update_buttons(self) -> None:
        has_result = self.outcome is not None and self.outcome.result is not None
        has_series = self.document is not None and len(self.document) >= 2
        recorded = self.showing_provenance
        # a corrected series exports what it records; correcting or previewing it again
        # would correct twice (that is "Correct again", an explicit choice)
        # a failed fit still plots the measured trace: the plots can be kept
        has_plot = has_result or (self.outcome is not None and self.outcome.trace is not None)
        for widget in (self.export_png_action, self.export_svg_action):
            widget.setEnabled(has_plot)
        for widget in (self.export_curves_action, self.export_report_action):
            widget.setEnabled(has_result)
        for widget in (self.export_h5_action, self.export_tiff_action):
            widget.setEnabled(has_result or (recorded and self.outputs.document_file() is not None))
        for widget in (self.correct_button, self.preview_button):
            widget.setEnabled(has_result and not recorded)
        self.batch_button.setEnabled(has_series and (not recorded or has_result))
        if not self.preview_button.isEnabled() and self.preview_button.isChecked():
            self.preview_button.setChecked(False)
        self.all_channels.update_enabled()

    def _cancel_task(self, task: Task | None) -> None:
        if task is not None and not task.is_done():
            task.cancel()

    def _cancel_tasks(self) -> None:
        self.fit_timer.stop()
        self._generation += 1
        self._cancel_task(self._fit_task)
        self._cancel_task(self._preview_task)
        self.fit_progress.setVisible(False)

    def current_result(self):
        """The BleachResult on display (a fit, or a corrected series' record), or None."""
        if self.outcome is None or self.outcome.result is None:
            return None
        return self.outcome.result

    # ------------------------------------------------------------------ preview
    def _on_preview_toggled(self, checked: bool) -> None:
        if checked:
            self.start_preview(self.main_window.current_index())
            return
        self._cancel_task(self._preview_task)
        self._restore_frame()

    def start_preview(self, index: int) -> None:
        """Show frame `index` corrected in the image view (computed in a worker)."""
        result, document = self.current_result(), self.document
        if result is None or document is None or self.showing_provenance:
            return
        self._cancel_task(self._preview_task)
        settings, masks = self.outcome.settings, self.masks
        series = document.series
        task = Task(lambda _progress, _cancel: corrected_frame(series, result, index,
                                                               settings, masks), self)
        task.succeeded.connect(lambda image: self._show_preview(document, index, image))
        task.failed.connect(lambda message: self._set_status(f"Preview failed: {message}",
                                                             error=True))
        self._preview_task = task
        task.start()

    def _show_preview(self, document, index: int, image: np.ndarray) -> None:
        if (not self.preview_button.isChecked() or document is not self.document
                or index != self.main_window.current_index() or self.outcome is None):
            return
        shown = self.main_window.current_frame()
        if shown is None or shown.index != index:
            # the raw frame is still being read and would replace the preview when it
            # arrives; its frameShown starts the preview again
            return
        from flimage_app.gui.browser.image_view import PREVIEW_LABEL
        from flimage_app.gui.main_window import frame_caption

        frame = Frame.from_arrays(index, np.asarray(image, dtype=np.float32), None)
        caption = (f"{frame_caption(document, index)}   PREVIEW: bleach-corrected "
                   f"({self.outcome.settings.method})")
        # the status-bar readout names these values "preview", not raw
        self.main_window.image_view.set_frame(frame, document.pixel_size(index), caption,
                                              values_label=PREVIEW_LABEL)
        self.previewShown.emit(index)

    def _restore_frame(self) -> None:
        document = self.document
        if document is None:
            return
        from flimage_app.gui.main_window import frame_caption

        index = self.main_window.current_index()
        frame = document.cache.cached(index)
        if frame is None:
            frame = read_frame(document.series, index)
        self.main_window.image_view.set_frame(frame, document.pixel_size(index),
                                              frame_caption(document, index))

    # ------------------------------------------------------------------ outputs
    def corrected_for_current(self) -> CorrectedSeries | None:
        """The corrected series of the series in front and its settings, if written already."""
        return self.outputs.corrected_for_current()

    def run_correction(self) -> Task | None:
        """Correct the whole series in a worker and open the result as a new, unsaved series."""
        return self.outputs.run_correction()

    def ask_save_path(self, title: str, suffix: str, file_filter: str) -> tuple[str, bool] | None:
        """Ask where to save (see :meth:`.BleachOutputs.ask_save_path`)."""
        return self.outputs.ask_save_path(title, suffix, file_filter)

    def export_h5(self) -> Task | None:
        """Export the corrected series as an FLSeries HDF5 file."""
        return self.outputs.export_h5()

    def export_tiff(self) -> Task | None:
        """Export the corrected series as an ImageJ TIFF stack."""
        return self.outputs.export_tiff()

    def export_png(self) -> None:
        self.outputs.export_png()

    def export_svg(self) -> None:
        self.outputs.export_svg()

    def export_curves_csv(self) -> None:
        self.outputs.export_curves_csv()

    def export_report_csv(self) -> None:
        self.outputs.export_report_csv()

    def recipe(self) -> dict[str, Any]:
        """The correction on display as a recipe for other files."""
        return self.outputs.recipe()

    def open_batch_dialog(self) -> None:
        self.outputs.open_batch_dialog()

    # ------------------------------------------------------------------ lifecycle
    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        self._connect_roi_panel()
        self._widen_panel_area()

    def _widen_panel_area(self) -> None:
        """Give the panel area room for the plots the first time the panel is shown."""
        splitter = getattr(self.main_window, "splitter", None)
        if self._widened or splitter is None or splitter.count() != 3:
            return
        self._widened = True
        sizes = splitter.sizes()
        if sizes[2] >= PREFERRED_WIDTH:
            return
        total = sum(sizes)
        right = min(PREFERRED_WIDTH, total // 2)
        # the room comes out of the image; the frame table keeps its width.  Lent
        # through the main window, which gives it back when a narrower panel comes in front
        widen = getattr(self.main_window, "widen_panel_pane", splitter.setSizes)
        widen([sizes[0], max(total - sizes[0] - right, 200), right])

    def cleanup(self) -> None:
        """Stop the panel's work (corrected series are documents: their files go with them)."""
        self._cancel_tasks()


# ---------------------------------------------------------------------- widget helpers
def _choice_combo(labels: dict[str, str]) -> QtWidgets.QComboBox:
    combo = QtWidgets.QComboBox()
    for key, label in labels.items():
        combo.addItem(label, key)
    return combo


def _enable_choice(combo: QtWidgets.QComboBox, key: str, enabled: bool, reason: str) -> None:
    """Enable or grey out the item `key` of `combo`.

    A greyed-out choice that is chosen stays chosen: the series keeps its setting and
    the panel says what is missing (the ROIs may come back, e.g. by Undo).
    """
    item = combo.model().item(combo.findData(key))
    item.setEnabled(enabled)
    item.setToolTip("" if enabled else reason)


def _bold_label(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


__all__ = ["BleachPanel", "BleachSettings", "BleachState", "CorrectedSeries", "FitOutcome",
           "Masks", "bleachcorr_path", "corrected_frame", "make_recipe", "measure_and_fit",
           "read_bleach_provenance", "state_of"]
