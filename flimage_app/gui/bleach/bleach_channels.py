"""The bleach panel's "Correct all channels" of a multi-channel / Z document.

Shown only for a :class:`~flimage_app.gui.hyperstack_document.HyperstackDocument`.
Every channel gets its own fit and report (``model.hyperstack_bleach.correct_hyperstack``),
with the method and measurement settings of the channel on display and the ROIs
of the series (the same pixels in every channel).  With Z planes the user
chooses how: one factor per time point from the intensity of all its planes
(as Fiji's Bleach Correction does), or each plane its own fit.

The correction runs in a worker (progress, Cancel) into the scratch folder and
opens as a new, unsaved hyperstack document with every channel and plane; each
of its channels shows its own recorded fit and report in the panel.  The fits
of the run are summarised, one line per channel, under the button.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6 import QtCore, QtWidgets

from flimage_app.gui.bleach.bleach_report import summary_text
from flimage_app.gui.scratch import remove_scratch_file, scratch_path
from flimage_app.gui.workers import Task, error_message

#: Z modes of the correction: engine name → what the user reads
Z_MODES = {"time point": "per time point (as Fiji)", "plane": "per plane"}
Z_MODE_TIPS = {
    "time point": "One correction factor per time point, from the mean intensity of all "
                  "its Z planes (Fiji's Bleach Correction of a Z-stack time series)",
    "plane": "Every Z plane is fitted and corrected on its own",
}


def result_lines(results: dict, names: list[str], planes: int) -> list[str]:
    """One line per fit of a run: the channel (and plane) and its summary."""
    lines = []
    for key, result in results.items():
        channel, plane = (key, None) if isinstance(key, int) else key
        where = names[channel] if 0 <= channel < len(names) else f"channel {channel}"
        if plane is not None and planes > 1:
            where += f", z {plane}"
        lines.append(f"{where}: {summary_text(result).removeprefix('Fit: ')}")
    return lines


class AllChannelsBox(QtWidgets.QGroupBox):
    """Z mode choice, the *Correct all channels* button and the last run's fits."""

    def __init__(self, panel) -> None:
        super().__init__("All channels")
        self.panel = panel
        self.main_window = panel.main_window
        self.task: Task | None = None
        #: fits of the last run, by channel or (channel, plane)
        self.results: dict | None = None

        self.z_mode_combo = QtWidgets.QComboBox()
        for mode, label in Z_MODES.items():
            self.z_mode_combo.addItem(label, mode)
            self.z_mode_combo.setItemData(self.z_mode_combo.count() - 1, Z_MODE_TIPS[mode],
                                          QtCore.Qt.ItemDataRole.ToolTipRole)
        self.z_mode_combo.setToolTip("How the Z planes of a time point are corrected")
        self.z_mode_label = QtWidgets.QLabel("&Z planes:")
        self.z_mode_label.setBuddy(self.z_mode_combo)
        self.correct_button = QtWidgets.QPushButton("Correct all channels")
        self.correct_button.setToolTip(
            "Correct every channel (and plane) with the settings above, each channel with "
            "its own fit, and open the result as a new series (unsaved until you save it)")
        self.results_label = QtWidgets.QLabel("")
        self.results_label.setWordWrap(True)
        self.results_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.z_mode_label)
        row.addWidget(self.z_mode_combo, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(row)
        layout.addWidget(self.correct_button)
        layout.addWidget(self.results_label)
        self.results_label.setVisible(False)  # until a run has something to say
        self.correct_button.clicked.connect(self.run)
        self.set_document(None)

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.is_done()

    def z_mode(self) -> str:
        return str(self.z_mode_combo.currentData())

    def set_z_mode(self, mode: str) -> None:
        if mode not in Z_MODES:
            raise ValueError(f"Unknown Z mode {mode!r}; choose one of {', '.join(Z_MODES)}")
        self.z_mode_combo.setCurrentIndex(self.z_mode_combo.findData(mode))

    def set_document(self, document) -> None:
        """Show the box for a hyperstack document, hide it otherwise."""
        view = getattr(document, "view", None)
        self.setVisible(view is not None)
        if view is None:
            return
        planes = view.planes > 1
        self.z_mode_label.setVisible(planes)
        self.z_mode_combo.setVisible(planes)
        self.update_enabled()

    def update_enabled(self) -> None:
        document, state = self.panel.document, self.panel.state
        ready = (getattr(document, "view", None) is not None and state is not None
                 and not state.showing_provenance and len(document) >= 2
                 and not state.missing_roi())
        self.correct_button.setEnabled(ready and not self.busy)

    # ------------------------------------------------------------------ correcting
    def run(self) -> Task | None:
        """Correct every channel of the document in front in a worker; open the result."""
        from flimage_app.model.hyperstack import open_hyperstack
        from flimage_app.model.hyperstack_bleach import correct_hyperstack

        document, state = self.panel.document, self.panel.state
        if getattr(document, "view", None) is None or state is None or self.busy:
            return None
        if state.showing_provenance:
            return None
        if document.metadata_modified():
            # the correction reads the file: edited times would not be the ones fitted
            self.main_window.report_error(
                "Correct all channels", f"{document.name} has unsaved metadata edits, which "
                "the correction of all channels would not use: save it (File ▸ Save As) "
                "and correct the saved series")
            return None
        options: dict[str, Any] = {**state.settings.engine_options(),
                                   **state.masks.engine_options()}
        z_mode = self.z_mode() if document.n_planes > 1 else "time point"
        source = document.hyperstack.filename
        stem = Path(document.name).stem.split(" [")[0]
        target = scratch_path(f"{stem}_bleachcorr.h5")
        names = list(document.view.names)

        def work(progress, cancel):
            try:
                with open_hyperstack(source) as hyperstack:  # the worker's own handle
                    return correct_hyperstack(hyperstack, target, z_mode=z_mode,
                                              progress=progress, cancel=cancel, **options)
            finally:
                if not target.exists():
                    remove_scratch_file(target)

        self.results = None
        self.results_label.setText("")
        self.results_label.setVisible(False)
        self.task = self.main_window.run_task(
            "Correcting bleaching of all channels", work,
            lambda results: self._corrected(document, target, stem, names, results))
        self.task.failed.connect(lambda message: self._failed(target, message))
        self.task.cancelled.connect(lambda: remove_scratch_file(target))
        self.task.finished.connect(self.update_enabled)
        self.update_enabled()
        return self.task

    def _failed(self, target: Path, message: str) -> None:
        remove_scratch_file(target)
        self.results_label.setText(f"Not corrected: {message}")
        self.results_label.setVisible(True)

    def _corrected(self, document, target: Path, stem: str, names: list[str],
                   results: dict) -> None:
        from flimage_app.gui.hyperstack_document import HyperstackDocument
        from flimage_app.model.hyperstack import open_hyperstack

        self.results = results
        lines = result_lines(results, names, document.n_planes)
        self.results_label.setText("\n".join([f"Fits of {document.name}, one per channel:",
                                              *lines]))
        self.results_label.setVisible(True)
        try:
            hyperstack = open_hyperstack(target)
            try:
                corrected = HyperstackDocument(
                    hyperstack, f"{stem}_bleachcorr", temporary_path=target,
                    origin=f"the bleach correction of {document.name}")
            except Exception:
                hyperstack.close()
                raise
        except Exception as error:
            remove_scratch_file(target)
            self.main_window.report_error("Cannot open the corrected series",
                                          error_message(error))
            return
        self.main_window.add_document(corrected)
        self.main_window.statusBar().showMessage(
            f"Corrected every channel of {document.name}: " + "; ".join(lines), 15000)


__all__ = ["Z_MODES", "AllChannelsBox", "result_lines"]
