"""Open any file the app reads as an FLSeries, and summarise files.

* FLSeries files open read-only and lazily.
* FLImage files open as a one-frame in-memory series (the file is not touched).
* TIFF stacks and ``.npy`` files are imported on the fly
  (:func:`flimage_app.model.tiffio.import_stack`).

Every failure is a :class:`~flimage_app.model.errors.FileFormatError` whose
message names the file and says what is wrong in one line.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import validate
from .errors import FileFormatError, file_open_error, hdf5_open_problem  # noqa: F401 (re-export)
from .flseries import FLSeries
from .image import FLImage
from .names import FRAME_PREFIX

#: suffixes imported through tiffio
STACK_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".npy")
#: stacks whose float32 pixels exceed this are imported into a temporary file, not into memory
IN_MEMORY_LIMIT_BYTES = 512 * 2**20
#: suffixes of HDF5 files
HDF5_SUFFIXES: tuple[str, ...] = (".h5", ".hdf5", ".hdf")


def check_readable(path: str | os.PathLike) -> Path:
    """Return `path` as a Path if it names a readable regular file, else raise FileFormatError."""
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if path.is_dir():
        raise FileFormatError(f"{path}: is a folder, not a file")
    if not os.access(path, os.R_OK):
        raise FileFormatError(f"{path}: permission denied (the file is not readable)")
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path}: the file is empty")
    return path


def file_kind(path: str | os.PathLike) -> str:
    """"FLSeries", "FLImage" or "stack" (TIFF / NumPy); FileFormatError for anything else."""
    path = check_readable(path)
    if path.suffix.lower() in STACK_SUFFIXES:
        return "stack"
    if not h5py.is_hdf5(path):
        raise FileFormatError(f"{path}: not an HDF5, TIFF or NumPy file")
    with _open_hdf5(path) as h5:
        return _hdf5_kind(path, h5)


def _open_hdf5(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise file_open_error(path, exc) from None


def _hdf5_kind(path: Path, h5: h5py.File) -> str:
    if "fluorescence" in h5:
        return "FLImage"
    if len(h5) == 0 or any(key.startswith(FRAME_PREFIX) for key in h5):
        # an FLSeries to which no frame was added yet is an empty HDF5 file
        return "FLSeries"
    if any(key.startswith("qpi_") for key in h5) or "phase" in h5:
        raise FileFormatError(f"{path}: a qpimage (quantitative phase) file, not fluorescence")
    members = ", ".join(sorted(h5)[:5]) or "nothing"
    raise FileFormatError(f"{path}: HDF5 file without FLImage or FLSeries data "
                          f"(top level holds {members})")


def open_series(path: str | os.PathLike, **import_options: Any) -> FLSeries:
    """Open `path` read-only as an FLSeries.

    Parameters
    ----------
    path : path
        FLSeries or FLImage HDF5 file, TIFF stack or ``.npy`` array.
    **import_options
        Passed to :func:`flimage_app.model.tiffio.import_stack` for stacks
        (e.g. ``pixel_size``, ``interval``).

    Raises
    ------
    FileFormatError
        The file is missing, damaged, or of another kind.
    """
    kind = file_kind(path)
    if kind == "stack":
        return _open_stack(Path(path), import_options)
    if kind == "FLImage":
        with FLImage(h5file=path, h5mode="r") as fli:
            _check_frame(path, fli)
            series = FLSeries()
            series.add_flimage(fli)
        return series
    series = FLSeries(h5file=path, h5mode="r")
    try:
        _check_frame_names(path, series)
        if len(series):
            _check_frame(path, series.get_flimage(0))
    except BaseException:
        series.close()
        raise
    return series


def _open_stack(path: Path, import_options: dict[str, Any]) -> FLSeries:
    """Import a TIFF / NumPy stack: in memory if small, else into a temporary HDF5 file."""
    from .tiffio import import_stack, inspect_stack

    layout = {key: import_options[key] for key in ("pixel_size", "interval", "channel", "plane")
              if key in import_options}
    info = inspect_stack(path, **layout)
    if 4 * int(np.prod(info.shape)) <= IN_MEMORY_LIMIT_BYTES:
        return import_stack(path, **import_options)
    folder = Path(tempfile.mkdtemp(prefix="flimage-app-import-"))
    series = import_stack(path, h5file=folder / f"{path.stem}.h5", **import_options)
    # the open handle keeps the data readable; the file and folder vanish with it
    try:
        os.unlink(folder / f"{path.stem}.h5")
        os.rmdir(folder)
    except OSError:  # Windows cannot delete an open file: remove it at exit
        atexit.register(shutil.rmtree, folder, True)
    return series


def _check_frame_names(path, series: FLSeries) -> None:
    """Frames must be numbered fli_0 … fli_{N-1} without gaps (flimage finds them by index)."""
    names = {key for key in series.h5 if key.startswith(FRAME_PREFIX)}
    expected = {f"{FRAME_PREFIX}{index}" for index in range(len(names))}
    missing = sorted(expected - names, key=lambda name: int(name[len(FRAME_PREFIX):]))
    if missing:
        extra = sorted(names - expected)
        raise FileFormatError(f"{path}: frame {missing[0]} is missing ({len(missing)} gap(s) in "
                              f"the numbering; unexpected: {', '.join(extra[:3])})")


def _check_frame(path, fli: FLImage) -> None:
    """Refuse a frame whose raw image or backgrounds are not what an FLImage holds."""
    group = validate.group_member(fli.h5, "fluorescence")
    if group is None:
        raise FileFormatError(f"{path}: {fli.h5.name} has no fluorescence group")
    validate.check_image(validate.member(group, "raw"), validate.object_name(group, "raw"))
    fli.bg_keys  # noqa: B018 - the background group is checked on access


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """Summary of a file for ``flimage-app info`` (reads metadata only, no pixels of HDF5 files).

    Keys: path, kind, frames, shape (of the first frame), shapes (all distinct ones), dtype,
    time_range (s, s) or None, pixel_size (m) or None, identifier, frame_identifiers (first ones),
    backgrounds (sorted names present in any frame checked), provenance (dict or None).
    """
    kind = file_kind(path)
    series = open_series(path)
    try:
        info: dict[str, Any] = {"path": str(path), "kind": kind if kind != "stack" else "TIFF",
                                "frames": len(series)}
        if Path(path).suffix.lower() == ".npy":
            info["kind"] = "NumPy"
        if len(series) == 0:
            info.update(shape=None, shapes=[], dtype=None, time_range=None, pixel_size=None,
                        identifier=series.identifier, frame_identifiers=[], backgrounds=[],
                        provenance=None)
            return info
        first = series.get_flimage(0)
        times = series.times()
        valid = times[np.isfinite(times)]
        backgrounds: set[str] = set()
        for index in sorted({0, len(series) // 2, len(series) - 1}):
            backgrounds.update(series.get_flimage(index).bg_keys)
        identifiers = series.identifiers()
        shapes = sorted(set(series.frame_shapes()))
        info.update(
            shape=first.shape,
            shapes=shapes,
            dtype=str(first.dtype),
            time_range=(float(valid.min()), float(valid.max())) if valid.size else None,
            frames_with_time=int(valid.size),
            pixel_size=first.meta.get("pixel size"),
            identifier=series.identifier,
            frame_identifiers=[i for i in identifiers[:5] if i is not None],
            backgrounds=sorted(backgrounds),
            # an FLImage file opens as a copy in memory: its record is read from the file
            provenance=_read_provenance(path if kind == "FLImage" else series),
        )
        return info
    finally:
        series.close()


def _read_provenance(series: FLSeries | str | os.PathLike) -> dict | None:
    """How the app made the series (operation, method, parameters, input, date), or None.

    The per-frame trace and the masks of the record are left out: this is a summary.
    """
    from .provenance import read_provenance

    try:
        record = read_provenance(series)
    except (FileFormatError, OSError, KeyError, ValueError):
        return None
    brief = {key: record[key] for key in ("operation", "method", "date", "app_version")
             if key in record}
    brief["input"] = (record.get("input") or {}).get("file")
    brief["parameters"] = record.get("parameters")
    return brief
