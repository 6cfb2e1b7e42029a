"""What the bleach panel writes: the corrected series, its exports, and the batch recipe.

:class:`BleachOutputs` belongs to one :class:`~.bleach_panel.BleachPanel` and works
on the series in front and its :class:`~.bleach_state.BleachState`:

* *Correct series* writes the corrected series into the app's scratch folder
  (:func:`flimage_app.gui.scratch.scratch_path`) in a worker with progress and
  Cancel, and opens it as a new document with ``temporary_path`` — unsaved until
  the user saves it; its file goes when the document closes;
* *Export* writes the corrected series (HDF5 straight into the target, ImageJ
  TIFF through a scratch file removed afterwards), the plots (PNG, SVG), the
  curves and the report (CSV); on a corrected series, from what it records;
* *Apply to other files…* hands the recipe to the batch dialog.

Every output goes through :func:`~flimage_app.model.h5io.atomic_output`; an
existing file is replaced only after the user said so, the input never.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6 import QtWidgets

from flimage_app.gui.bleach.bleach_plots import write_curves_csv, write_report_csv
from flimage_app.gui.bleach.bleach_state import (
    METHOD_LABELS,
    BleachSettings,
    CorrectedSeries,
    Masks,
    bleachcorr_path,
    make_recipe,
)
from flimage_app.gui.scratch import remove_scratch_file, scratch_path
from flimage_app.gui.workers import Task, error_message, widen_for_title
from flimage_app.model.bleach import correct_series
from flimage_app.model.h5io import atomic_output


class BleachOutputs:
    """Correcting, exporting and the batch recipe of a bleach panel (see the module docstring).

    Parameters
    ----------
    panel
        The :class:`~.bleach_panel.BleachPanel` whose series, state and plots are used.
    """

    def __init__(self, panel) -> None:
        self.panel = panel
        self.main_window = panel.main_window

    # ------------------------------------------------------------------ correcting
    def corrected_for_current(self) -> CorrectedSeries | None:
        """The corrected series of the series in front and its settings, if written already.

        On a corrected series showing its provenance: that series itself.
        """
        state = self.panel.state
        if state is None:
            return None
        if state.showing_provenance:
            path = self.document_file()
            if path is None or self.panel.outcome is None:
                return None
            document = self.panel.document
            name, source = state.origin(document.name, document.source_path)
            return CorrectedSeries(path, name, source, self.panel.current_key(),
                                   self.panel.current_result())
        return state.corrected_for(self.panel.current_key())

    def document_file(self, document=None) -> str | None:
        document = document if document is not None else self.panel.document
        if document is None:
            return None
        filename = getattr(document.series, "filename", None)
        return os.path.abspath(filename) if filename else None

    def origin(self) -> tuple[str, str | None]:
        """Name and path of the series the current correction comes from."""
        return self.panel.state.origin(self.panel.document.name, self.panel.document.source_path)

    def scratch_path_for(self) -> Path:
        name, _source = self.origin()
        return scratch_path(f"{Path(name).stem}_bleachcorr.h5")

    def correction_task(self) -> tuple[Callable, Callable[[Any], CorrectedSeries]] | None:
        """The work that writes the corrected series to the scratch folder, and its record."""
        result, state = self.panel.current_result(), self.panel.state
        if result is None or state is None or state.showing_provenance:
            return None
        settings, masks = self.panel.outcome.settings, state.masks
        options = {**settings.engine_options(), **masks.engine_options(),
                   "meta_changes": self.panel.meta_changes()}
        series, target = self.panel.document.series, self.scratch_path_for()
        key = self.panel.current_key()
        source_name, source_path = self.origin()

        def work(progress, cancel):
            try:
                return correct_series(series, target, **options, progress=progress,
                                      cancel=cancel)
            finally:
                if not target.exists():
                    remove_scratch_file(target)

        def record(corrected_result) -> CorrectedSeries:
            corrected = CorrectedSeries(str(target), source_name, source_path, key,
                                        corrected_result)
            state.corrected.append(corrected)
            self.panel.seriesCorrected.emit(str(target))
            return corrected

        return work, record

    def run_correction(self) -> Task | None:
        """Correct the whole series in a worker and open the result as a new, unsaved series."""
        job = self.correction_task()
        if job is None:
            return None
        work, record = job
        return self.main_window.run_task("Correcting bleaching", work,
                                         lambda result: self.open_corrected(record(result)))

    def open_corrected(self, corrected: CorrectedSeries) -> None:
        from flimage_app.model.loader import open_series

        try:
            series = open_series(corrected.path)
        except Exception as error:
            remove_scratch_file(corrected.path)
            self.main_window.report_error("Cannot open the corrected series",
                                          error_message(error))
            return
        self.main_window.add_series(series, f"{Path(corrected.source_name).stem}_bleachcorr",
                                    temporary_path=corrected.path)

    # ------------------------------------------------------------------ exporting
    def ask_save_path(self, title: str, suffix: str, file_filter: str) -> tuple[str, bool] | None:
        """Ask where to save, proposing ``<input>_bleachcorr<suffix>`` beside the input.

        `suffix` ends with the file extension, which is added when the user leaves it out.

        Returns ``(path, overwrite)``, or None when the user cancelled or
        refused to replace an existing file.  The opened input file is never
        offered for replacement.
        """
        name, source = self.origin()
        folder = str(self.main_window.settings.value("last_folder", str(Path.home())))
        proposal = bleachcorr_path(source, folder, Path(name).stem, suffix)
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.panel, title, str(proposal), file_filter,
            options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
        if not path:
            return None
        extension = suffix[suffix.rfind("."):] if "." in suffix else ""  # ".h5", not Path's ""
        if extension and not path.lower().endswith(extension.lower()):
            path += extension
        inputs = {os.path.abspath(p) for p in (source, self.panel.document.source_path,
                                               self.document_file()) if p}
        if os.path.abspath(path) in inputs:
            self.main_window.report_error("Export", f"{path} is the input file; it is never "
                                                    "overwritten. Choose another name.")
            return None
        overwrite = os.path.exists(path)
        if overwrite and not self.main_window.confirm_overwrite(path):
            return None
        return path, overwrite

    def export_series(self, title: str, target: str, overwrite: bool,
                       convert: Callable[[str, Any, Any], Any] | None) -> Task | None:
        """Write the corrected series to `target`: copied, or made by `convert(path, …)`.

        The corrected series is the one on display (a corrected series' own file), the
        one already written for these settings, or written now (straight into `target`
        for HDF5; through a scratch file removed afterwards for a conversion).
        """
        corrected = self.corrected_for_current()
        if corrected is not None:
            path = corrected.path

            def from_file(progress, cancel):
                if convert is not None:
                    return convert(path, progress, cancel)
                with atomic_output(target, overwrite=overwrite) as temporary:
                    shutil.copyfile(path, temporary)
                return target

            return self.main_window.run_task(title, from_file, self.exported)
        panel = self.panel
        if panel.current_result() is None or panel.state is None or panel.showing_provenance:
            return None
        settings, masks = self.panel.outcome.settings, self.panel.state.masks
        options = {**settings.engine_options(), **masks.engine_options(),
                   "meta_changes": self.panel.meta_changes()}
        series = self.panel.document.series
        scratch = self.scratch_path_for() if convert is not None else None

        def correct_and_write(progress, cancel):
            if convert is None:
                correct_series(series, target, **options, progress=progress, cancel=cancel,
                               overwrite=overwrite)
                return target
            try:
                correct_series(series, scratch, **options, progress=progress, cancel=cancel)
                return convert(str(scratch), progress, cancel)
            finally:
                remove_scratch_file(scratch)

        return self.main_window.run_task(title, correct_and_write, self.exported)

    def export_h5(self) -> Task | None:
        """Export the corrected series as an FLSeries HDF5 file."""
        chosen = self.ask_save_path("Export corrected series", ".h5", "FLSeries HDF5 (*.h5)")
        if chosen is None:
            return None
        return self.export_series("Exporting corrected series", *chosen, None)

    def export_tiff(self) -> Task | None:
        """Export the corrected series as an ImageJ TIFF stack."""
        chosen = self.ask_save_path("Export as ImageJ TIFF", ".tif",
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

        return self.export_series("Exporting ImageJ TIFF", target, overwrite, export)

    def exported(self, path) -> None:
        self.main_window.statusBar().showMessage(f"Exported {path}", 5000)

    def export_now(self, title: str, suffix: str, file_filter: str,
                    write: Callable[[str, bool], Any]) -> None:
        chosen = self.ask_save_path(title, suffix, file_filter)
        if chosen is None:
            return
        try:
            write(*chosen)
        except (OSError, ValueError) as error:
            self.main_window.report_error(f"{title} failed", error_message(error))
            return
        self.exported(chosen[0])

    def export_png(self) -> None:
        """Export the four plots as PNG."""
        self.export_now("Export plots as PNG", "_plots.png", "PNG image (*.png)",
                         lambda path, overwrite: self.panel.plots.export_png(path, overwrite))

    def export_svg(self) -> None:
        """Export the four plots as SVG."""
        self.export_now("Export plots as SVG", "_plots.svg", "SVG drawing (*.svg)",
                         lambda path, overwrite: self.panel.plots.export_svg(path, overwrite))

    def export_curves_csv(self) -> None:
        """Export the per-frame curves as CSV."""
        result = self.panel.current_result()
        if result is not None:
            self.export_now("Export curves as CSV", "_curves.csv", "CSV table (*.csv)",
                             lambda path, overwrite: write_curves_csv(result, path, overwrite))

    def export_report_csv(self) -> None:
        """Export the fit report as CSV."""
        result = self.panel.current_result()
        if result is not None:
            context = self.panel.report_context(result)
            self.export_now("Export fit report as CSV", "_report.csv", "CSV table (*.csv)",
                             lambda path, overwrite: write_report_csv(result, path, context,
                                                                      overwrite))

    # ------------------------------------------------------------------ batch
    def recipe(self) -> dict[str, Any]:
        """The correction on display as a recipe for other files."""
        if self.panel.state is None:
            return make_recipe(BleachSettings(), Masks())
        return make_recipe(self.panel.shown_settings(), self.panel.state.shown_masks())

    def open_batch_dialog(self) -> None:
        """"Apply the same correction to other files…"."""
        from flimage_app.gui.batch.batch_dialog import BatchDialog

        settings = self.panel.shown_settings()
        folder = str(self.main_window.settings.value("last_folder", str(Path.home())))
        dialog = BatchDialog(self.recipe(), METHOD_LABELS[settings.method] + "; "
                             + settings.measurement_text(), folder, self.panel)
        widen_for_title(dialog)
        dialog.exec()


__all__ = ["BleachOutputs"]
