"""Writers of File ▸ Export: what each format holds, with the document's unsaved edits.

Qt-free; every writer goes through :func:`flimage_app.model.h5io.atomic_output`
(the target is complete or absent) and refuses an existing target unless
`overwrite` is given.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from flimage_app.gui.browser.frame_cache import H5_LOCK
from flimage_app.gui.document import Document
from flimage_app.model.errors import FLImageAppError
from flimage_app.model.h5io import atomic_output

Progress = Callable[[int, int], None] | None
Cancel = Callable[[], bool] | None

#: columns of the curves CSV: provenance trace key → column heading
CURVE_COLUMNS = {"times": "time [s]", "intensity": "intensity", "fitted": "fitted",
                 "correction": "correction factor", "background": "background",
                 "residuals": "residual"}


def input_integer_dtype(document: Document) -> str | None:
    """The integer sample type the series was recorded in ("uint16"), or None for floats.

    A TIFF or NumPy stack is imported as floats: its own file tells the type.
    """
    if len(document) == 0:
        return None
    try:
        if document.source_kind == "stack" and document.source_path:
            from flimage_app.model.tiffio import inspect_stack

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # missing calibration: not asked here
                dtype = inspect_stack(document.source_path).dtype
        else:
            with H5_LOCK:
                dtype = document.series.frame_group(0)["fluorescence/raw"].dtype
    except (FLImageAppError, KeyError, OSError, IndexError, ValueError):
        return None
    # ImageJ images are 8- or 16-bit unsigned; other integer types are written as floats
    return dtype.name if dtype.name in ("uint8", "uint16") else None


class _EditedFrame:
    """One frame as ``tiffio`` reads it: pixels read on first use under the file lock,
    metadata with the document's unsaved edits."""

    def __init__(self, document: Document, index: int) -> None:
        self.document, self.index = document, index
        self.meta = document.frame_meta(index)

    def _read(self, name: str) -> Any:
        with H5_LOCK:
            return getattr(self.document.series.get_flimage(self.index), name)

    @property
    def raw_fl(self) -> np.ndarray:
        return self._read("raw_fl")

    @property
    def fl(self) -> np.ndarray:
        return self._read("fl")

    @property
    def bg_keys(self) -> list[str]:
        return self._read("bg_keys")


class EditedSeries:
    """A document's series as the exporters see it: with its unsaved metadata edits.

    Offers what :func:`flimage_app.model.tiffio.export_tiff` reads of a series,
    each read holding the GUI's HDF5 lock, so the export can run in a worker
    while the window keeps reading frames.
    """

    def __init__(self, document: Document) -> None:
        self.document = document
        self.filename = document.source_path
        self.identifier = document.series_meta("identifier")

    def __len__(self) -> int:
        return len(self.document)

    @property
    def frame_shape(self) -> tuple[int, int]:
        with H5_LOCK:
            return self.document.series.frame_shape

    def times(self) -> np.ndarray:
        return np.array([_float_or_nan(self.document.meta_value(index, "time"))
                         for index in range(len(self))], dtype=float)

    def get_flimage(self, index: int) -> _EditedFrame:
        return _EditedFrame(self.document, index)


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def export_hdf5(document: Document, path: str | os.PathLike, *, overwrite: bool = False,
                progress: Progress = None, cancel: Cancel = None) -> Path:
    """A copy of the series with its edits and the panels' data; the document stays unsaved."""
    if progress is not None:
        progress(0, 1)
    written = document.save_copy(path, overwrite=overwrite, remember=False)
    if progress is not None:
        progress(1, 1)
    return written


def export_tiff(document: Document, path: str | os.PathLike, *, dtype: str = "float32",
                overwrite: bool = False, progress: Progress = None,
                cancel: Cancel = None) -> Path:
    """An ImageJ TIFF of the background-corrected frames, with the edited times and pixel size."""
    from flimage_app.model.tiffio import export_tiff as write_tiff

    return write_tiff(EditedSeries(document), path, dtype=dtype, overwrite=overwrite,
                      progress=progress, cancel=cancel)


def bleach_record(document: Document) -> dict | None:
    """The bleach-correction provenance of `document` (a corrected series), or None."""
    record = document.provenance()
    if record is None or record.get("operation") != "bleach correction":
        return None
    return record


def curve_rows(record: dict) -> tuple[list[str], list[list[str]]]:
    """Heading and rows of the per-frame curves of a bleach-correction record."""
    trace = record.get("trace") or {}
    columns = [key for key in CURVE_COLUMNS if trace.get(key) is not None]
    if not columns:
        raise ValueError("The correction record holds no per-frame curves")
    length = max(len(trace[key]) for key in columns)
    rows = []
    for index in range(length):
        row = [str(index)]
        for key in columns:
            values = trace[key]
            row.append(repr(float(values[index])) if index < len(values) else "")
        rows.append(row)
    return ["frame", *(CURVE_COLUMNS[key] for key in columns)], rows


def report_rows(record: dict) -> list[list[str]]:
    """The fit report of a bleach-correction record as [quantity, value, error, unit] rows."""
    report = record.get("report") or {}
    unit = report.get("time_unit", "s")
    rows = [["method", str(record.get("method", "")), "", ""],
            ["model", str(report.get("model", "")), "", ""]]
    source = record.get("input") or {}
    if source.get("file"):
        rows.append(["input", str(source["file"]), "", ""])
    errors = report.get("errors") or {}
    for name, value in (report.get("parameters") or {}).items():
        error = errors.get(name)
        rows.append([name, repr(float(value)),
                     "" if error is None else repr(float(error)), ""])
    half_lives = report.get("half_lives") or []
    for number, pair in enumerate(half_lives, start=1):
        value, error = (list(pair) + [None])[:2]
        label = "half-life" if len(half_lives) == 1 else f"half-life {number}"
        rows.append([label, repr(float(value)), "" if error is None else repr(float(error)),
                     unit])
    r_squared = report.get("r_squared")
    if r_squared is not None and not math.isnan(float(r_squared)):
        rows.append(["R²", repr(float(r_squared)), "", ""])
    rows.extend(["note", str(note), "", ""] for note in report.get("notes") or [])
    return rows


def _write_csv(path: str | os.PathLike, heading: list[str], rows: list[list[str]],
               overwrite: bool) -> Path:
    with atomic_output(path, overwrite=overwrite) as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(heading)
            writer.writerows(rows)
    return Path(path)


def export_curves_csv(document: Document, path: str | os.PathLike, *,
                      overwrite: bool = False, progress: Progress = None,
                      cancel: Cancel = None) -> Path:
    """The measured, fitted and correction curves per frame of a corrected series."""
    record = _require_bleach_record(document)
    heading, rows = curve_rows(record)
    return _write_csv(path, heading, rows, overwrite)


def export_report_csv(document: Document, path: str | os.PathLike, *,
                      overwrite: bool = False, progress: Progress = None,
                      cancel: Cancel = None) -> Path:
    """The fit report (model, parameters, half-lives, R²) of a corrected series."""
    record = _require_bleach_record(document)
    return _write_csv(path, ["quantity", "value", "standard error", "unit"],
                      report_rows(record), overwrite)


def _require_bleach_record(document: Document) -> dict:
    record = bleach_record(document)
    if record is None:
        raise ValueError(f"{document.name} is not a bleach-corrected series: it has no "
                         "curves or report to export")
    return record


# ---------------------------------------------------------------------- hyperstacks
#: integer types an ImageJ hyperstack can hold (other integer inputs are written as floats)
IMAGEJ_INTEGER_TYPES = ("uint8", "uint16")


def hyperstack_integer_dtype(document: Document) -> str | None:
    """The integer type a multi-channel / Z document was recorded in ("uint16"), or None."""
    hyperstack = getattr(document, "hyperstack", None)
    dtype = getattr(hyperstack, "source_dtype", None)
    return dtype if dtype in IMAGEJ_INTEGER_TYPES else None


def export_hyperstack(document: Document, path: str | os.PathLike, *, dtype: str = "float32",
                      overwrite: bool = False, progress: Progress = None,
                      cancel: Cancel = None) -> tuple[Path, Any]:
    """Every channel and plane of `document` as an ImageJ hyperstack; returns (path, report).

    `dtype` is "float32" or "input" (the recorded integer type: rounded, clipped
    and the clipped pixels counted in the report).  The file is read through a
    handle of its own, so the export runs in a worker while the window browses.
    """
    from flimage_app.model.hyperstack import open_hyperstack
    from flimage_app.model.hyperstack_export import export_hyperstack_tiff

    with H5_LOCK:
        source = document.hyperstack.filename
    with open_hyperstack(source) as hyperstack:
        report = export_hyperstack_tiff(hyperstack, path, dtype=dtype, overwrite=overwrite,
                                        progress=progress, cancel=cancel)
    return Path(path), report


def hyperstack_export_message(document: Document, path: str | os.PathLike, report) -> str:
    """The result message of a hyperstack export: where, which type, what was clipped."""
    message = f"Exported {path} ({report.dtype}, {len(report.channel_names)} channels)"
    if report.dtype != "float32":
        # the export report counts, per channel, what the conversion clipped
        message += f"; {report.message() or 'no pixel was clipped'}"
    if document.metadata_modified():
        message += ("; the unsaved metadata edits are not in it (File ▸ Save As first, then "
                    "export the saved series)")
    return message
