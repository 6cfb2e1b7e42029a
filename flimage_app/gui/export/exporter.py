"""The File ▸ Export actions: ask where, never replace a file unasked, write in a worker."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6 import QtWidgets

from flimage_app.gui.document import Document
from flimage_app.gui.export import formats
from flimage_app.gui.export.frame_png import render_frame, write_png
from flimage_app.gui.workers import Task

TIFF_FLOAT_FILTER = "ImageJ TIFF, 32-bit float (*.tif *.tiff)"
HYPERSTACK_FLOAT_FILTER = "ImageJ hyperstack, every channel and plane, 32-bit float (*.tif *.tiff)"


def hyperstack_integer_filter(dtype: str) -> str:
    """The file-type choice that writes the hyperstack in the input's integer type."""
    return (f"ImageJ hyperstack, every channel and plane, {dtype} like the input: rounded, "
            "clipped pixels counted (*.tif *.tiff)")


def tiff_integer_filter(dtype: str) -> str:
    """The file-type choice that writes the TIFF in the input's integer type `dtype`."""
    return (f"ImageJ TIFF, {dtype} like the input: rounded and clipped as Fiji converts "
            "(*.tif *.tiff)")


class Exporter:
    """The Export menu's work for the document in front of `main_window`.

    Every method returns the running :class:`~flimage_app.gui.workers.Task`, or
    None when nothing is written (no document, the user cancelled the dialog or
    declined to replace a file).
    """

    def __init__(self, main_window) -> None:
        self.window = main_window
        #: the result message of the last export (also shown in the status bar)
        self.last_message = ""

    # ------------------------------------------------------------------ the formats
    def export_hdf5(self) -> Task | None:
        """A copy in HDF5 with every edit and the panels' data (the series stays unsaved)."""
        return self._export("Export a copy as HDF5", "_copy.h5",
                            ["HDF5 FLSeries / FLImage (*.h5)"],
                            lambda document, path, overwrite, _filter: (
                                lambda progress, cancel: formats.export_hdf5(
                                    document, path, overwrite=overwrite, progress=progress,
                                    cancel=cancel)))

    def export_tiff(self) -> Task | None:
        """An ImageJ TIFF stack: 32-bit float, or in the input's integer type.

        A multi-channel / Z document is written whole, as an ImageJ hyperstack
        (:meth:`export_hyperstack`).
        """
        document = self.window.current_document()
        if getattr(document, "hyperstack", None) is not None:
            return self.export_hyperstack()
        integer = formats.input_integer_dtype(document) if document is not None else None
        filters = [TIFF_FLOAT_FILTER] + ([tiff_integer_filter(integer)] if integer else [])

        def job(document, path, overwrite, chosen_filter):
            dtype = integer if integer and chosen_filter == tiff_integer_filter(integer) \
                else "float32"
            return lambda progress, cancel: formats.export_tiff(
                document, path, dtype=dtype, overwrite=overwrite, progress=progress,
                cancel=cancel)

        return self._export("Export as ImageJ TIFF", ".tif", filters, job)

    def export_hyperstack(self) -> Task | None:
        """Every channel and plane as one ImageJ hyperstack (TCYX / TZCYX), float32 or the
        input's type; the pixels clipped to that type are counted in the result message."""
        document = self.window.current_document()
        if document is None:
            return None
        integer = formats.hyperstack_integer_dtype(document)
        filters = [HYPERSTACK_FLOAT_FILTER] + ([hyperstack_integer_filter(integer)]
                                               if integer else [])

        def job(document, path, overwrite, chosen_filter):
            dtype = "input" if integer and chosen_filter == hyperstack_integer_filter(integer) \
                else "float32"
            return lambda progress, cancel: formats.export_hyperstack(
                document, path, dtype=dtype, overwrite=overwrite, progress=progress,
                cancel=cancel)

        chosen = self.ask_target(document, "Export as ImageJ hyperstack", ".tif", filters)
        if chosen is None:
            return None
        path, overwrite, chosen_filter = chosen
        return self.window.run_task("Export as ImageJ hyperstack",
                                    job(document, path, overwrite, chosen_filter),
                                    lambda written: self._hyperstack_exported(document,
                                                                              written))

    def _hyperstack_exported(self, document: Document, written) -> None:
        path, report = written
        message = formats.hyperstack_export_message(document, path, report)
        self.last_message = message
        self.window.statusBar().showMessage(message, 20000)

    def export_curves_csv(self) -> Task | None:
        """The per-frame curves of a bleach-corrected series."""
        return self._export_record("Export curves as CSV", "_curves.csv",
                                   formats.export_curves_csv)

    def export_report_csv(self) -> Task | None:
        """The fit report of a bleach-corrected series."""
        return self._export_record("Export the report as CSV", "_report.csv",
                                   formats.export_report_csv)

    def export_png(self) -> Task | None:
        """The frame on display with its scale bar, as shown."""
        document = self.window.current_document()
        if document is None:
            return None
        try:
            picture = render_frame(self.window.image_view)
        except ValueError as error:
            self.window.report_error("Export the frame as PNG", str(error))
            return None
        index = self.window.current_index()
        return self._export("Export the frame as PNG", f"_frame{index}.png",
                            ["PNG image (*.png)"],
                            lambda _document, path, overwrite, _filter: (
                                lambda _progress, _cancel: write_png(picture, path,
                                                                     overwrite=overwrite)))

    def can_export_record(self, document: Document | None) -> bool:
        """True when `document` has bleach curves and a report (a corrected series)."""
        return document is not None and formats.bleach_record(document) is not None

    # ------------------------------------------------------------------ shared steps
    def _export_record(self, title: str, suffix: str,
                       write: Callable[..., Path]) -> Task | None:
        document = self.window.current_document()
        if document is None:
            return None
        if not self.can_export_record(document):
            self.window.report_error(title, f"{document.name} is not a bleach-corrected "
                                            "series; correct it in the Bleach correction "
                                            "panel first")
            return None
        return self._export(title, suffix, ["CSV table (*.csv)"],
                            lambda document, path, overwrite, _filter: (
                                lambda progress, cancel: write(
                                    document, path, overwrite=overwrite, progress=progress,
                                    cancel=cancel)))

    def _export(self, title: str, suffix: str, filters: list[str],
                job: Callable[[Document, str, bool, str], Callable[..., Any]]) -> Task | None:
        document = self.window.current_document()
        if document is None:
            return None
        chosen = self.ask_target(document, title, suffix, filters)
        if chosen is None:
            return None
        path, overwrite, chosen_filter = chosen
        return self.window.run_task(title, job(document, path, overwrite, chosen_filter),
                                    lambda written: self._exported(written))

    def ask_target(self, document: Document, title: str, suffix: str,
                   filters: list[str]) -> tuple[str, bool, str] | None:
        """Ask for the target file; returns (path, overwrite, chosen filter) or None.

        The file dialog does not confirm replacing a file; :meth:`MainWindow.confirm_overwrite`
        does, in every case.  The document's own files are refused.
        """
        folder = str(self.window.settings.value("last_folder", str(Path.home())))
        stem = Path(document.source_path or document.name).stem
        path, chosen_filter = QtWidgets.QFileDialog.getSaveFileName(
            self.window, title, os.path.join(folder, stem + suffix), ";;".join(filters),
            initialFilter=filters[0], options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
        if not path:
            return None
        extension = Path(suffix).suffix
        if not path.lower().endswith((extension, ".tiff") if extension == ".tif"
                                     else (extension,)):
            path += extension
        own = {os.path.abspath(p) for p in (document.source_path, document.temporary_path,
                                             document.series.filename) if p}
        if os.path.abspath(path) in own:
            self.window.report_error(title, f"{path} is the series' own file; it is never "
                                            "overwritten. Choose another name.")
            return None
        overwrite = os.path.exists(path)
        if overwrite and not self.window.confirm_overwrite(path):
            return None
        return path, overwrite, chosen_filter or filters[0]

    def _exported(self, path) -> None:
        message = f"Exported {path}"
        clipping = getattr(path, "message", None)  # a TIFF export's report of clipped pixels
        if callable(clipping) and clipping():
            message += f"; {clipping()}"
        self.last_message = message
        self.window.statusBar().showMessage(message, 8000)

