"""The bleach-correction panel: choose a correction, judge the fit, correct and export.

The panel sits in the main window's panel area (registered as ``"bleach"``).
Whenever the series or a setting changes it measures the intensity trace and
fits the chosen model in a worker thread with
``correct_series(..., output=None)`` (no frames are written) and shows:

* the intensity trace with the fitted curve, the residuals, the correction
  factor and the corrected trace against time (:mod:`.bleach_plots`), with a
  marker at the browsed frame; clicking a plot jumps to the nearest frame;
* the fit report (model, parameters ± SE, half-lives, R², frames used),
  copyable; a failed fit shows its reason instead.

"Preview" shows the browsed frame corrected in the image view; "Correct
series" writes the corrected series (worker, progress, Cancel) and opens it
as a new series carrying its provenance; "Export" writes the corrected
series as FLSeries ``.h5`` or ImageJ TIFF, the plots as PNG/SVG and the
curves and report as CSV; "Apply to other files…" runs the same recipe on
other files (:mod:`.batch_dialog`).

Background and signal ROIs come from the background panel when it offers
``masks_changed``, ``background_mask()`` and ``signal_mask()``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.bleach.bleach_plots import BleachPlots, write_curves_csv, write_report_csv
from flimage_app.gui.browser.frame_cache import H5_LOCK, Frame, read_frame
from flimage_app.gui.workers import Task, error_message
from flimage_app.model.bleach import METHODS, correct_series
from flimage_app.model.bleach import corrected_frame as engine_corrected_frame
from flimage_app.model.errors import FitError
from flimage_app.model.h5io import atomic_output

log = logging.getLogger(__name__)

METHOD_LABELS = {
    "flimage": "flimage 0.3.3 (exponential, compatible)",
    "ratio": "Simple ratio (Fiji)",
    "exp": "Exponential + offset",
    "biexp": "Bi-exponential + offset",
    "histogram": "Histogram matching",
}
METHOD_TIPS = {
    "flimage": "flimage 0.3.3's exponential fit and intensity (sum of pixels above the "
               "background): the same numbers as flimage",
    "ratio": "Scale every frame by I(first) / I(frame); no model, follows noise",
    "exp": "A·exp(−k·t) + C fitted against the frame times",
    "biexp": "A₁·exp(−k₁·t) + A₂·exp(−k₂·t) + C: a fast and a slow bleaching component",
    "histogram": "Match every frame's intensity histogram to a reference frame (no model)",
}
REGION_LABELS = {
    "frame": "Whole frame",
    "signal": "Signal ROI",
    "outside": "Outside the background ROIs",
}
BACKGROUND_LABELS = {
    "border": "Border of the frame",
    "constant": "Constant level",
    "mask": "Background ROIs",
    "stored": "Stored per-frame background only",
}
HISTOGRAM_REFERENCES = {"first": "first frame", "previous": "previous frame"}
#: Waiting time after a setting changed before the fit runs again (typing, spinning).
FIT_DELAY_MS = 250
#: Width the panel area gets when the bleach panel is first shown (the plots need room).
PREFERRED_WIDTH = 560


@dataclass(frozen=True)
class BleachSettings:
    """What the user chose in the panel (everything but the ROI masks)."""

    method: str = "exp"
    region: str = "frame"
    background: str = "border"
    border_px: int = 20
    background_value: float = 0.0
    histogram_reference: str = "first"
    strict: bool = True

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~flimage_app.model.bleach.correct_series`."""
        return {"method": self.method, "region": self.region, "background": self.background,
                "border_px": int(self.border_px),
                "background_value": (float(self.background_value)
                                     if self.background == "constant" else None),
                "histogram_reference": self.histogram_reference, "strict": bool(self.strict)}

    def measurement_text(self) -> str:
        """One line: where and how the intensity is measured."""
        what = "Σ of pixels above background" if self.method == "flimage" else "mean − background"
        background = {
            "border": f"border of the frame ({self.border_px} px)",
            "constant": f"constant level {self.background_value:g}",
            "mask": "background ROIs",
            "stored": "stored per-frame background only",
        }[self.background]
        return f"{what} in {REGION_LABELS[self.region].lower()}; background: {background}"


@dataclass
class Masks:
    """ROI masks from the background panel (None where there is none)."""

    signal: np.ndarray | None = None
    background: np.ndarray | None = None

    def engine_options(self) -> dict[str, np.ndarray | None]:
        return {"signal_mask": self.signal, "background_mask": self.background}


def make_recipe(settings: BleachSettings, masks: Masks) -> dict[str, Any]:
    """The correction as a provenance-style record that ``provenance.reapply`` runs again."""
    parameters = settings.engine_options()
    method = parameters.pop("method")
    return {"operation": "bleach correction", "method": method, "parameters": parameters,
            "masks": {"signal_mask": masks.signal if settings.region == "signal" else None,
                      "background_mask": (masks.background if settings.background == "mask"
                                          or settings.region == "outside" else None)}}


@dataclass
class FitOutcome:
    """What a measure-and-fit run produced: a result, or the reason there is none."""

    settings: BleachSettings
    result: Any = None  # BleachResult
    failure: str | None = None
    #: the measured trace (mean − background) shown when the fit failed, if measurable
    trace: Any = None


def measure_and_fit(series, settings: BleachSettings, masks: Masks,
                    progress: Callable[[int, int], None] | None = None,
                    cancel: Callable[[], bool] | None = None,
                    meta_changes: dict[int, dict[str, Any]] | None = None) -> FitOutcome:
    """Measure and fit without writing frames; a failed fit is an outcome, not an error.

    When the fit fails (:class:`FitError`), the trace is measured again with
    the simple ratio (which fits nothing) so that the panel can show the data
    the model could not describe.  `meta_changes` are unsaved metadata edits
    (e.g. corrected times) that the fit uses instead of the file's values.
    """
    options = {**settings.engine_options(), **masks.engine_options(),
               "meta_changes": meta_changes}
    try:
        return FitOutcome(settings, result=correct_series(series, None, **options,
                                                          progress=progress, cancel=cancel))
    except FitError as error:
        reason = error_message(error)
    options["method"] = "ratio"
    try:
        trace = correct_series(series, None, **options, cancel=cancel)
    except FitError:
        trace = None
    return FitOutcome(settings, failure=reason, trace=trace)


def masks_equal(first: Masks, second: Masks) -> bool:
    """True when both hold the same masks (None equals only None)."""
    def same(a, b) -> bool:
        if a is None or b is None:
            return a is b
        return a.shape == b.shape and bool(np.array_equal(a, b))
    return same(first.signal, second.signal) and same(first.background, second.background)


def corrected_frame(series, result, index: int, settings: BleachSettings,
                    masks: Masks) -> np.ndarray:
    """Frame `index` as the correction in `result` would write it (for the preview)."""
    with H5_LOCK:
        return engine_corrected_frame(series, result, index, region=settings.region,
                                      histogram_reference=settings.histogram_reference,
                                      **masks.engine_options())


def bleachcorr_path(source: str | os.PathLike | None, folder: str | os.PathLike,
                    stem: str, suffix: str) -> Path:
    """Proposed output name: ``<stem>_bleachcorr<suffix>`` beside `source` (else in `folder`)."""
    if source:
        source = Path(source)
        return source.with_name(f"{source.stem}_bleachcorr{suffix}")
    return Path(folder) / f"{stem}_bleachcorr{suffix}"


@dataclass
class CorrectedSeries:
    """A corrected series the panel wrote to its scratch folder."""

    path: str
    source_name: str
    source_path: str | None
    key: tuple
    result: Any


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
        self.outcome: FitOutcome | None = None
        self.masks = Masks()
        self._mask_version = 0
        self._edit_version = 0
        self._roi_panel = None
        self._generation = 0
        self._fit_task: Task | None = None
        self._preview_task: Task | None = None
        self._scratch = tempfile.TemporaryDirectory(prefix="flimage-app-bleach-",
                                                    ignore_cleanup_errors=True)
        self._corrected: list[CorrectedSeries] = []
        self._widened = False
        self.fit_timer = QtCore.QTimer(self)
        self.fit_timer.setSingleShot(True)
        self.fit_timer.setInterval(FIT_DELAY_MS)
        self.fit_timer.timeout.connect(self.fit_now)

        self._build()
        self._connect()
        self._connect_roi_panel()
        self._update_parameter_rows()
        self._update_mask_choices()
        self.set_document(main_window.current_document())

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        self.method_combo = QtWidgets.QComboBox()
        for method in METHODS:
            self.method_combo.addItem(METHOD_LABELS.get(method, method), method)
            self.method_combo.setItemData(self.method_combo.count() - 1,
                                          METHOD_TIPS.get(method, ""),
                                          QtCore.Qt.ItemDataRole.ToolTipRole)
        self.method_combo.setCurrentIndex(METHODS.index(BleachSettings.method))
        self.strict_check = QtWidgets.QCheckBox("Refuse a stalled fit")
        self.strict_check.setChecked(True)
        self.strict_check.setToolTip(
            "flimage 0.3.3 can return a fit that stalled far from the data; ticked, the panel\n"
            "reports that instead (untick to get exactly what flimage returns)")
        self.reference_combo = QtWidgets.QComboBox()
        for key, label in HISTOGRAM_REFERENCES.items():
            self.reference_combo.addItem(label, key)
        self.reference_combo.setToolTip("Frame each frame's histogram is matched to")
        self.region_combo = _choice_combo(REGION_LABELS)
        self.region_combo.setToolTip("Where the intensity trace is measured")
        self.background_combo = _choice_combo(BACKGROUND_LABELS)
        self.background_combo.setToolTip(
            "Level subtracted before measuring (in addition to any background stored in the "
            "frames)")
        self.border_spin = QtWidgets.QSpinBox()
        self.border_spin.setRange(1, 10_000)
        self.border_spin.setValue(BleachSettings.border_px)
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
        settings_box = QtWidgets.QGroupBox("Correction")
        settings_box.setLayout(form)

        self.status_label = QtWidgets.QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.provenance_label = QtWidgets.QLabel("")
        self.provenance_label.setWordWrap(True)
        self.provenance_label.setStyleSheet("color: #2a5d9f;")
        self.provenance_label.setVisible(False)
        self.fit_progress = QtWidgets.QProgressBar()
        self.fit_progress.setMaximumHeight(10)
        self.fit_progress.setTextVisible(False)
        self.fit_progress.setVisible(False)

        self.plots = BleachPlots()
        self.plots.setMinimumHeight(260)
        self.plots.setToolTip("Click a point to show that frame")
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
        self.splitter.setSizes([460, 250])

        self.preview_button = QtWidgets.QPushButton("Preview frame")
        self.preview_button.setCheckable(True)
        self.preview_button.setToolTip("Show the browsed frame as the correction will write it")
        self.correct_button = QtWidgets.QPushButton("Correct series")
        self.correct_button.setToolTip(
            "Correct every frame (in the background, with Cancel) and open the result "
            "as a new series")
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
        buttons = QtWidgets.QHBoxLayout()
        buttons.setSpacing(4)
        for button in (self.preview_button, self.correct_button, self.export_button,
                       self.batch_button):
            buttons.addWidget(button)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(settings_box)
        layout.addWidget(self.provenance_label)
        layout.addWidget(self.status_label)
        layout.addWidget(self.fit_progress)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(buttons)

    def _connect(self) -> None:
        for combo in (self.method_combo, self.reference_combo, self.region_combo,
                      self.background_combo):
            combo.currentIndexChanged.connect(self._on_settings_changed)
        self.strict_check.toggled.connect(self._on_settings_changed)
        self.border_spin.valueChanged.connect(self._on_settings_changed)
        self.value_spin.valueChanged.connect(self._on_settings_changed)
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
        """The settings chosen in the panel."""
        return BleachSettings(
            method=self.method_combo.currentData(), region=self.region_combo.currentData(),
            background=self.background_combo.currentData(), border_px=self.border_spin.value(),
            background_value=self.value_spin.value(),
            histogram_reference=self.reference_combo.currentData(),
            strict=self.strict_check.isChecked())

    def set_settings(self, settings: BleachSettings) -> None:
        """Show `settings` in the widgets (one fit follows)."""
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
        self._on_settings_changed()

    def _on_settings_changed(self, *_args) -> None:
        self._update_parameter_rows()
        self.request_fit()

    def _update_parameter_rows(self) -> None:
        method = self.method_combo.currentData()
        background = self.background_combo.currentData()
        for widget, visible in ((self.strict_check, method == "flimage"),
                                (self.reference_combo, method == "histogram"),
                                (self.border_spin, background == "border"),
                                (self.value_spin, background == "constant")):
            self.form.setRowVisible(widget, visible)

    def _on_masks_changed(self, *_args) -> None:
        panel = self._roi_panel
        masks = Masks()
        if panel is not None:
            masks = Masks(signal=_mask_or_none(panel.signal_mask),
                          background=_mask_or_none(panel.background_mask))
        if masks_equal(masks, self.masks):
            return  # the ROI editor re-announces unchanged masks, e.g. on a frame change
        self.masks = masks
        self._mask_version += 1
        self._update_mask_choices()
        self.request_fit()

    def _update_mask_choices(self) -> None:
        has_signal = self.masks.signal is not None
        has_background = self.masks.background is not None
        hint = "draw it in the Background panel"
        _enable_choice(self.region_combo, "signal", has_signal, f"No signal ROI: {hint}")
        _enable_choice(self.region_combo, "outside", has_background,
                       f"No background ROI: {hint}")
        _enable_choice(self.background_combo, "mask", has_background,
                       f"No background ROI: {hint}")

    # ------------------------------------------------------------------ document and frames
    def set_document(self, document) -> None:
        """Follow the series shown in the main window (None: nothing open)."""
        if document is self.document and document is not None:
            return
        self.document = document
        self._cancel_tasks()
        self.outcome = None
        self.plots.clear_plots()
        self.report_text.clear()
        self._show_provenance(document)
        self._update_buttons()
        if document is None:
            self._set_status("Open a series to correct bleaching.")
            return
        if len(document) < 2:
            self._set_status("Bleach correction needs a series of at least two frames.",
                             error=True)
            return
        self.fit_now()

    def _show_provenance(self, document) -> None:
        text = ""
        if document is not None:
            from flimage_app.model.provenance import read_provenance

            try:
                with H5_LOCK:
                    record = read_provenance(document.series)
            except Exception:  # most series carry no provenance: nothing to show
                record = None
            if record and record.get("operation") == "bleach correction":
                source = (record.get("input") or {}).get("file") or "an in-memory series"
                method = METHOD_LABELS.get(record.get("method"), record.get("method"))
                text = (f"This series is a bleach correction ({method}) of {source}, "
                        f"made {record.get('date', '')} by flimage-app "
                        f"{record.get('app_version', '')}.")
        self.provenance_label.setText(text)
        self.provenance_label.setVisible(bool(text))

    def _on_metadata_edited(self, key: str) -> None:
        # corrections written from now on carry the edit; only new times change the fit
        self._edit_version += 1
        if key == "time":
            self.request_fit()

    def _meta_changes(self) -> dict[int, dict[str, Any]]:
        """A snapshot of the unsaved metadata edits, for a worker to use."""
        if self.document is None:
            return {}
        return {index: dict(changes) for index, changes in self.document.edits.items()}

    def _on_frame_changed(self, index: int) -> None:
        self.plots.set_marker(index)

    def _on_frame_shown(self, frame: Frame) -> None:
        self.plots.set_marker(frame.index)
        if self.preview_button.isChecked():
            self.start_preview(frame.index)

    def _on_frame_clicked(self, index: int) -> None:
        self.main_window.browser.set_index(index)

    # ------------------------------------------------------------------ fitting
    @property
    def busy(self) -> bool:
        """True while a fit or preview runs or is about to run."""
        return (self.fit_timer.isActive()
                or any(task is not None and not task.is_done()
                       for task in (self._fit_task, self._preview_task)))

    def request_fit(self) -> None:
        """Fit again shortly (settings are often changed several times in a row)."""
        if self.document is not None and len(self.document) >= 2:
            self.fit_timer.start()

    def fit_now(self) -> None:
        """Measure and fit the current series with the current settings, in a worker."""
        self.fit_timer.stop()
        document = self.document
        if document is None or len(document) < 2:
            return
        self._cancel_task(self._fit_task)
        self._generation += 1
        generation = self._generation
        settings, masks, changes = self.settings(), self.masks, self._meta_changes()
        series = document.series
        task = Task(lambda progress, cancel: measure_and_fit(series, settings, masks,
                                                             progress, cancel, changes), self)
        task.progressed.connect(self._show_fit_progress)
        task.succeeded.connect(lambda outcome: self._on_fit_done(generation, outcome))
        task.failed.connect(lambda message: self._on_fit_error(generation, settings, message))
        task.finished.connect(lambda: self._on_task_finished(generation))
        self._fit_task = task
        self._set_status(f"Measuring and fitting ({METHOD_LABELS[settings.method]})…")
        self.fit_progress.setRange(0, 0)
        self.fit_progress.setVisible(True)
        task.start()

    def _show_fit_progress(self, done: int, total: int) -> None:
        self.fit_progress.setRange(0, max(total, 0))
        self.fit_progress.setValue(min(done, total))

    def _on_fit_done(self, generation: int, outcome: FitOutcome) -> None:
        if generation != self._generation:
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

    def _on_fit_error(self, generation: int, settings: BleachSettings, message: str) -> None:
        if generation != self._generation:
            return
        self.outcome = FitOutcome(settings, failure=message)
        self._show_failure(settings, message, None)
        self._update_buttons()

    def _on_task_finished(self, generation: int) -> None:
        if generation == self._generation:
            self.fit_progress.setVisible(False)
            self.fitFinished.emit()

    def _show_failure(self, settings: BleachSettings, message: str, trace) -> None:
        label = METHOD_LABELS[settings.method]
        self._set_status(f"No correction with {label}: {message}", error=True)
        if trace is not None:
            self.plots.show_trace(trace.times, trace.intensity, trace.method,
                                  trace.report.time_unit, "fit failed: see the message above")
        else:
            self.plots.clear_plots("nothing to plot: see the message above")
        lines = [f"Method: {label}", f"Measured: {settings.measurement_text()}",
                 f"Result: no correction. {message}"]
        if trace is not None:
            lines.append(f"The points show the measured trace (mean − background, "
                         f"{trace.times.size} frames).")
        self.report_text.setPlainText("\n".join(lines))

    def _summary(self, result) -> str:
        report = result.report
        parts = [METHOD_LABELS[result.method]]
        if report.half_lives:
            unit = report.time_unit
            parts.append("half-life " + ", ".join(f"{value:.3g} ± {error:.2g} {unit}"
                                                  for value, error in report.half_lives))
        if not math.isnan(report.r_squared):
            parts.append(f"R² = {report.r_squared:.4f}")
        factor = np.asarray(result.correction, dtype=float)
        if factor.size and np.isfinite(factor).all():
            parts.append(f"last frame × {factor[-1]:.3g}")
        return "Fit: " + "; ".join(parts)

    def report_as_text(self) -> str:
        """The fit report shown in the panel (also what "Copy report" copies)."""
        if self.outcome is None:
            return ""
        if self.outcome.result is None:
            return self.report_text.toPlainText()
        result = self.outcome.result
        lines = [f"Method: {METHOD_LABELS[result.method]} ({result.method})"]
        lines.extend(f"{key}: {value}" for key, value in self._report_context(result))
        lines.append(result.report.as_text())
        return "\n".join(lines)

    def _report_context(self, result) -> list[tuple[str, str]]:
        settings = self.outcome.settings
        times = np.asarray(result.times, dtype=float)
        unit = result.report.time_unit
        series_name = self.document.name if self.document is not None else "?"
        context = [("Series", series_name),
                   ("Measured", settings.measurement_text()),
                   ("Frames used", f"{times.size} (frames 0–{times.size - 1}, "
                                   f"t = {times[0]:.4g} … {times[-1]:.4g} {unit})")]
        if result.background.size and settings.background in ("border", "mask"):
            context.append(("Background level", f"{float(result.background[0]):.6g}"))
        return context

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
        for widget in (self.correct_button, self.preview_button, self.export_h5_action,
                       self.export_tiff_action, self.export_png_action,
                       self.export_svg_action, self.export_curves_action,
                       self.export_report_action):
            widget.setEnabled(has_result)
        self.batch_button.setEnabled(has_series)
        if not has_result and self.preview_button.isChecked():
            self.preview_button.setChecked(False)

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
        """The BleachResult of the last successful fit of the current settings, or None."""
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
        if result is None or document is None:
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
                or index != self.main_window.current_index()):
            return
        shown = self.main_window.current_frame()
        if shown is None or shown.index != index:
            # the raw frame is still being read and would replace the preview when it
            # arrives; its frameShown starts the preview again
            return
        from flimage_app.gui.main_window import frame_caption

        frame = Frame.from_arrays(index, np.asarray(image, dtype=np.float32), None)
        caption = (f"{frame_caption(document, index)}   PREVIEW: bleach-corrected "
                   f"({self.outcome.settings.method})")
        self.main_window.image_view.set_frame(frame, document.pixel_size(index), caption)
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

    # ------------------------------------------------------------------ correcting
    def _key(self) -> tuple:
        return (id(self.document), self.outcome.settings if self.outcome else None,
                self._mask_version, self._edit_version)

    def corrected_for_current(self) -> CorrectedSeries | None:
        """The corrected series of the current series and settings, if written already."""
        if self.document is None:
            return None
        path = self._document_file(self.document)
        for corrected in self._corrected:
            if corrected.key == self._key() or (path and corrected.path == path):
                if os.path.exists(corrected.path):
                    return corrected
        return None

    def _document_file(self, document) -> str | None:
        filename = getattr(document.series, "filename", None)
        return os.path.abspath(filename) if filename else None

    def _origin(self) -> tuple[str, str | None]:
        """Name and path of the series the current correction comes from."""
        path = self._document_file(self.document) if self.document else None
        for corrected in self._corrected:
            if path and corrected.path == path:
                return corrected.source_name, corrected.source_path
        return self.document.name, self.document.source_path

    @property
    def scratch_folder(self) -> Path:
        """Folder of the corrected series written but not exported (removed on exit)."""
        return Path(self._scratch.name)

    def _scratch_path(self) -> Path:
        name, _source = self._origin()
        stem = Path(name).stem
        folder = Path(tempfile.mkdtemp(dir=self._scratch.name))
        return folder / f"{stem}_bleachcorr.h5"

    def _correction_task(self) -> tuple[Callable, Callable[[Any], CorrectedSeries]] | None:
        """The work that writes the corrected series to the scratch folder, and its record."""
        result = self.current_result()
        if result is None or self.document is None:
            return None
        settings, masks = self.outcome.settings, self.masks
        options = {**settings.engine_options(), **masks.engine_options(),
                   "meta_changes": self._meta_changes()}
        series, target, key = self.document.series, self._scratch_path(), self._key()
        source_name, source_path = self._origin()

        def work(progress, cancel):
            try:
                return correct_series(series, target, **options, progress=progress,
                                      cancel=cancel)
            finally:
                if not target.exists():
                    shutil.rmtree(target.parent, ignore_errors=True)

        def record(corrected_result) -> CorrectedSeries:
            corrected = CorrectedSeries(str(target), source_name, source_path, key,
                                        corrected_result)
            self._corrected.append(corrected)
            self.seriesCorrected.emit(str(target))
            return corrected

        return work, record

    def run_correction(self) -> Task | None:
        """Correct the whole series in a worker and open the result as a new series."""
        job = self._correction_task()
        if job is None:
            return None
        work, record = job
        return self.main_window.run_task("Correcting bleaching", work,
                                         lambda result: self._open_corrected(record(result)))

    def _open_corrected(self, corrected: CorrectedSeries) -> None:
        from flimage_app.model.loader import open_series

        try:
            series = open_series(corrected.path)
        except Exception as error:
            self.main_window.report_error("Cannot open the corrected series",
                                          error_message(error))
            return
        self.main_window.add_series(series, f"{Path(corrected.source_name).stem}_bleachcorr")

    def _with_corrected(self, title: str, then: Callable[..., Any],
                        done: Callable[[Any], None]) -> Task | None:
        """Run ``then(path of the corrected series)`` in a worker, correcting first if needed."""
        corrected = self.corrected_for_current()
        if corrected is not None:
            path = corrected.path
            return self.main_window.run_task(
                title, lambda progress, cancel: then(path, progress, cancel), done)
        job = self._correction_task()
        if job is None:
            return None
        work, record = job
        outcome: dict[str, Any] = {}

        def both(progress, cancel):
            outcome["result"] = work(progress, cancel)
            return then(outcome["result"].output, progress, cancel)

        def finished(value) -> None:
            record(outcome["result"])
            done(value)

        return self.main_window.run_task(title, both, finished)

    # ------------------------------------------------------------------ exporting
    def ask_save_path(self, title: str, suffix: str, file_filter: str) -> tuple[str, bool] | None:
        """Ask where to save, proposing ``<input>_bleachcorr<suffix>`` beside the input.

        `suffix` ends with the file extension, which is added when the user leaves it out.

        Returns ``(path, overwrite)``, or None when the user cancelled or
        refused to replace an existing file.  The opened input file is never
        offered for replacement.
        """
        name, source = self._origin()
        folder = str(self.main_window.settings.value("last_folder", str(Path.home())))
        proposal = bleachcorr_path(source, folder, Path(name).stem, suffix)
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, title, str(proposal), file_filter,
            options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
        if not path:
            return None
        extension = suffix[suffix.rfind("."):] if "." in suffix else ""  # ".h5", not Path's ""
        if extension and not path.lower().endswith(extension.lower()):
            path += extension
        inputs = {os.path.abspath(p) for p in (source, self._document_file(self.document)) if p}
        if os.path.abspath(path) in inputs:
            self.main_window.report_error("Export", f"{path} is the input file; it is never "
                                                    "overwritten. Choose another name.")
            return None
        overwrite = os.path.exists(path)
        if overwrite and not self.main_window.confirm_overwrite(path):
            return None
        return path, overwrite

    def export_h5(self) -> Task | None:
        """Export the corrected series as an FLSeries HDF5 file."""
        chosen = self.ask_save_path("Export corrected series", ".h5", "FLSeries HDF5 (*.h5)")
        if chosen is None:
            return None
        target, overwrite = chosen

        def copy(path, _progress, _cancel):
            with atomic_output(target, overwrite=overwrite) as temporary:
                shutil.copyfile(path, temporary)
            return target

        return self._with_corrected("Exporting corrected series", copy, self._exported)

    def export_tiff(self) -> Task | None:
        """Export the corrected series as an ImageJ TIFF stack."""
        chosen = self.ask_save_path("Export corrected series as ImageJ TIFF", ".tif",
                                    "ImageJ TIFF (*.tif *.tiff)")
        if chosen is None:
            return None
        target, overwrite = chosen

        def export(path, progress, cancel):
            from flimage_app.model.loader import open_series
            from flimage_app.model.tiffio import export_tiff

            with open_series(path) as series:
                return export_tiff(series, target, overwrite=overwrite, progress=progress,
                                   cancel=cancel)

        return self._with_corrected("Exporting ImageJ TIFF", export, self._exported)

    def _exported(self, path) -> None:
        self.main_window.statusBar().showMessage(f"Exported {path}", 5000)

    def _export_now(self, title: str, suffix: str, file_filter: str,
                    write: Callable[[str, bool], Any]) -> None:
        chosen = self.ask_save_path(title, suffix, file_filter)
        if chosen is None:
            return
        try:
            write(*chosen)
        except (OSError, ValueError) as error:
            self.main_window.report_error(f"{title} failed", error_message(error))
            return
        self._exported(chosen[0])

    def export_png(self) -> None:
        """Export the four plots as PNG."""
        self._export_now("Export plots as PNG", "_plots.png", "PNG image (*.png)",
                         lambda path, overwrite: self.plots.export_png(path, overwrite))

    def export_svg(self) -> None:
        """Export the four plots as SVG."""
        self._export_now("Export plots as SVG", "_plots.svg", "SVG drawing (*.svg)",
                         lambda path, overwrite: self.plots.export_svg(path, overwrite))

    def export_curves_csv(self) -> None:
        """Export the per-frame curves as CSV."""
        result = self.current_result()
        if result is not None:
            self._export_now("Export curves as CSV", "_curves.csv", "CSV table (*.csv)",
                             lambda path, overwrite: write_curves_csv(result, path, overwrite))

    def export_report_csv(self) -> None:
        """Export the fit report as CSV."""
        result = self.current_result()
        if result is not None:
            context = self._report_context(result)
            self._export_now("Export fit report as CSV", "_report.csv", "CSV table (*.csv)",
                             lambda path, overwrite: write_report_csv(result, path, context,
                                                                      overwrite))

    # ------------------------------------------------------------------ batch
    def recipe(self) -> dict[str, Any]:
        """The current correction as a recipe for other files."""
        return make_recipe(self.settings(), self.masks)

    def open_batch_dialog(self) -> None:
        """"Apply the same correction to other files…"."""
        from flimage_app.gui.batch.batch_dialog import BatchDialog

        settings = self.settings()
        folder = str(self.main_window.settings.value("last_folder", str(Path.home())))
        dialog = BatchDialog(self.recipe(), METHOD_LABELS[settings.method] + "; "
                             + settings.measurement_text(), folder, self)
        dialog.exec()

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
        # the room comes out of the image; the frame table keeps its width
        splitter.setSizes([sizes[0], max(total - sizes[0] - right, 200), right])

    def cleanup(self) -> None:
        """Stop work and remove the scratch folder (corrected series not exported)."""
        self._cancel_tasks()
        with contextlib.suppress(OSError):
            self._scratch.cleanup()


# ---------------------------------------------------------------------- widget helpers
def _choice_combo(labels: dict[str, str]) -> QtWidgets.QComboBox:
    combo = QtWidgets.QComboBox()
    for key, label in labels.items():
        combo.addItem(label, key)
    return combo


def _enable_choice(combo: QtWidgets.QComboBox, key: str, enabled: bool, reason: str) -> None:
    """Enable or grey out the item `key` of `combo`; leave it if it becomes unavailable."""
    row = combo.findData(key)
    item = combo.model().item(row)
    item.setEnabled(enabled)
    item.setToolTip("" if enabled else reason)
    if not enabled and combo.currentIndex() == row:
        combo.setCurrentIndex(0)


def _mask_or_none(getter: Callable[[], Any]) -> np.ndarray | None:
    try:
        mask = getter()
    except Exception:  # the ROI editor has no usable mask right now
        log.debug("ROI mask not available", exc_info=True)
        return None
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    return mask if mask.any() else None


def _bold_label(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


__all__ = ["BleachPanel", "BleachSettings", "CorrectedSeries", "FitOutcome", "Masks",
           "bleachcorr_path", "corrected_frame", "make_recipe", "measure_and_fit"]
