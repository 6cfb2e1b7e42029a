"""Open any file the app reads as an FLSeries, and summarise files.

* FLSeries files open read-only and lazily.
* FLImage files open as a one-frame in-memory series (the file is not touched).
* TIFF stacks and ``.npy`` files are imported on the fly
  (:func:`flimage_app.model.tiffio.import_stack`).
* Hyperstack files (channels / Z planes, :mod:`flimage_app.model.hyperstack`)
  open one leaf in :func:`open_series` (channel 0, plane 0 unless chosen),
  all of them in :func:`open_any`, which also imports TIFF hyperstacks whole
  (:func:`flimage_app.model.tiffio.inspect_planes`) into a temporary file.

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
    """"FLSeries", "FLImage", "hyperstack", "stack" (TIFF / NumPy) or "vendor"; else
    FileFormatError.  "vendor": CZI, ND2, LIF or OME-Zarr (:mod:`flimage_app.model.vendor`)."""
    from .vendor import is_vendor_path

    if is_vendor_path(path):
        if not Path(path).exists():
            raise FileFormatError(f"{path}: no such file")
        return "vendor"
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
    from .hyperstack import is_hyperstack

    if "fluorescence" in h5:
        return "FLImage"
    if is_hyperstack(h5):
        return "hyperstack"
    if len(h5) == 0 or any(key.startswith(FRAME_PREFIX) for key in h5):
        # an FLSeries to which no frame was added yet is an empty HDF5 file
        return "FLSeries"
    if any(key.startswith("qpi_") for key in h5) or "phase" in h5:
        raise FileFormatError(f"{path}: a qpimage (quantitative phase) file, not fluorescence")
    members = ", ".join(sorted(h5)[:5]) or "nothing"
    raise FileFormatError(f"{path}: HDF5 file without FLImage or FLSeries data "
                          f"(top level holds {members})")


def open_series(path: str | os.PathLike, channel: int | None = None,
                plane: int | None = None, scene: int | None = None,
                **import_options: Any) -> FLSeries:
    """Open `path` read-only as an FLSeries (one leaf of a file with channels / planes).

    Parameters
    ----------
    path : path
        FLSeries, hyperstack or FLImage HDF5 file, TIFF stack or ``.npy`` array.
    channel, plane : int, optional
        The leaf of a hyperstack or vendor file (default channel 0, plane 0);
        for a TIFF, the channel / Z plane to import.
    scene : int, optional
        The scene of a vendor file (default 0).
    **import_options
        Passed to :func:`flimage_app.model.tiffio.import_stack` for stacks
        (e.g. ``pixel_size``, ``interval``).

    Raises
    ------
    FileFormatError
        The file is missing, damaged, or of another kind.
    """
    kind = file_kind(path)
    if scene not in (None, 0) and kind != "vendor":
        raise FileFormatError(f"{path}: scene={scene} asked for, but only microscope files "
                              "(CZI, ND2, LIF, OME-Zarr) have scenes")
    if kind == "vendor":
        from .vendor import open_vendor

        # only the chosen leaf is imported (channel 0, plane 0 unless chosen)
        with open_vendor(path, scene or 0) as stack:
            leaf = stack.select(channel or 0, plane or 0).calibrated(
                pixel_size=import_options.get("pixel_size"),
                interval=import_options.get("interval"))
            parameters = {key: import_options.get(key) for key in ("pixel_size", "interval")}
            return open_planes(leaf, progress=import_options.get("progress"),
                               cancel=import_options.get("cancel"),
                               parameters={**parameters, "channel": channel or 0,
                                           "plane": plane or 0})
    if kind == "stack":
        if channel is not None:
            import_options["channel"] = channel
        if plane is not None:
            import_options["plane"] = plane
        return _open_stack(Path(path), import_options)
    if kind == "hyperstack":
        from .hyperstack import open_hyperstack

        series = open_hyperstack(path).take_series(channel or 0, plane or 0)
        return _checked_series(path, series)
    _no_leaf_choice(path, channel, plane)
    if kind == "FLImage":
        with FLImage(h5file=path, h5mode="r") as fli:
            _check_frame(path, fli)
            series = FLSeries()
            series.add_flimage(fli)
        return series
    return _checked_series(path, FLSeries(h5file=path, h5mode="r"))


def _no_leaf_choice(path, channel: int | None, plane: int | None) -> None:
    """Refuse a channel / plane other than 0 for a file of one channel and plane."""
    if channel not in (None, 0) or plane not in (None, 0):
        raise FileFormatError(f"{path}: channel={channel} / plane={plane} asked for, but the "
                              "file holds one series (one channel, one plane)")


def _checked_series(path, series: FLSeries) -> FLSeries:
    try:
        _check_frame_names(path, series)
        if len(series):
            _check_frame(path, series.get_flimage(0))
    except BaseException:
        series.close()
        raise
    return series


def open_any(path: str | os.PathLike, scene: int = 0, *, progress=None, cancel=None,
             **import_options: Any):
    """Open `path` with every channel and plane: a Hyperstack, or an FLSeries.

    A hyperstack file opens as it is (read-only); a TIFF with channels or Z
    planes (and no `channel` / `plane` chosen in `import_options`) is
    imported whole into a temporary hyperstack file, which disappears when
    it is closed.  Everything else opens as :func:`open_series` opens it.

    Returns
    -------
    Hyperstack or FLSeries
        :class:`~flimage_app.model.hyperstack.Hyperstack` for several
        channels or planes, else an FLSeries.
    """
    from .hyperstack import open_hyperstack

    kind = file_kind(path)
    if kind == "hyperstack":
        return open_hyperstack(path)
    if kind == "vendor":
        from .vendor import open_vendor

        with open_vendor(path, scene) as stack:
            stack = stack.calibrated(pixel_size=import_options.get("pixel_size"),
                                     interval=import_options.get("interval"))
            parameters = {key: import_options.get(key) for key in ("pixel_size", "interval")}
            return open_planes(stack, progress=progress, cancel=cancel, parameters=parameters)
    if scene not in (None, 0):
        raise FileFormatError(f"{path}: scene={scene} asked for, but only microscope files "
                              "(CZI, ND2, LIF, OME-Zarr) have scenes")
    if kind == "stack" and _is_tiff_hyperstack(Path(path), import_options):
        from .tiffio import inspect_planes

        with inspect_planes(path) as stack:
            stack = stack.calibrated(pixel_size=import_options.get("pixel_size"),
                                     interval=import_options.get("interval"))
            return open_planes(stack, progress=progress, cancel=cancel)
    if kind == "stack" and cancel is not None:
        import_options["cancel"] = cancel
    return open_series(path, **import_options)


def holds_planes(path: str | os.PathLike, scene: int = 0, **options: Any) -> bool:
    """Whether :func:`open_any` gives a Hyperstack for `path` (several channels or planes).

    Reads metadata only.  False when `options` choose one ``channel`` / ``plane``.
    """
    if options.get("channel") is not None or options.get("plane") is not None:
        return False
    kind = file_kind(path)
    if kind == "hyperstack":
        return True
    if kind == "vendor":
        from .vendor import open_vendor

        with open_vendor(path, scene) as stack:
            return stack.sizes["C"] > 1 or stack.sizes["Z"] > 1
    return kind == "stack" and _is_tiff_hyperstack(Path(path), options)


def recorded_dtype(path: str | os.PathLike, **options: Any) -> str | None:
    """The pixel type the data of `path` were recorded in ("uint16"), or None if unknown.

    A TIFF / ``.npy`` stack's or a microscope file's own type; the source type
    a hyperstack import recorded; the raw image's type of an HDF5 series if
    it is stored as integers.  `options`: the stack options (``scene`` of a
    microscope file, ``channel`` / ``plane`` of a TIFF; others are not needed).
    """
    scene = options.get("scene") or 0
    kind = file_kind(path)
    if kind == "vendor":
        from .vendor import open_vendor

        with open_vendor(path, scene) as stack:
            return stack.dtype.name
    if kind == "stack":
        from .tiffio import inspect_stack

        choice = {key: options[key] for key in ("channel", "plane") if options.get(key)
                  is not None}
        return inspect_stack(path, **choice).dtype.name
    if kind == "hyperstack":
        from .hyperstack import open_hyperstack

        with open_hyperstack(path) as stack:
            return stack.source_dtype
    with open_series(path) as series:
        if len(series) == 0:
            return None
        raw = validate.member_path(series.frame_group(0), "fluorescence/raw")
        return raw.dtype.name if raw is not None and raw.dtype.kind in "ui" else None


def _is_tiff_hyperstack(path: Path, import_options: dict[str, Any]) -> bool:
    """A TIFF whose channels or planes do not map to one series, none of them chosen."""
    from .tiffio import NPY_SUFFIXES, inspect_stack

    if path.suffix.lower() in NPY_SUFFIXES or import_options.get("channel") is not None \
            or import_options.get("plane") is not None:
        return False
    return inspect_stack(path).problem is not None


def open_planes(stack, *, progress=None, cancel=None, parameters: dict | None = None):
    """Import the PlaneStack `stack` into a temporary file and open it (Hyperstack or FLSeries).

    The file is unlinked at once (the open handle keeps it readable), so
    nothing is left behind however the program ends.
    """
    from .h5io import outside_output_groups
    from .hyperstack import open_hyperstack
    from .hyperstack_import import import_planes

    folder = Path(tempfile.mkdtemp(prefix="flimage-app-import-"))
    target = folder / f"{stack.path.stem or 'stack'}.h5"
    try:
        with outside_output_groups():  # a scratch file, not an output of the task
            import_planes(stack, target, progress=progress, cancel=cancel,
                          parameters=parameters)
        if stack.sizes["C"] == 1 and stack.sizes["Z"] == 1:
            opened = FLSeries(h5file=target, h5mode="r")
        else:
            opened = open_hyperstack(target)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        os.unlink(target)
        os.rmdir(folder)
    except OSError:  # Windows cannot delete an open file: remove it at exit
        atexit.register(shutil.rmtree, folder, True)
    return opened


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


def describe(path: str | os.PathLike, scene: int = 0) -> dict[str, Any]:
    """Summary of a file for ``flimage-app info`` (reads metadata only, no pixels of HDF5 files).

    Keys: path, kind, frames, shape (of the first frame), shapes (all distinct ones), dtype,
    time_range (s, s) or None, pixel_size (m) or None, identifier, frame_identifiers (first ones),
    backgrounds (sorted names present in any frame checked), provenance (dict or None).
    """
    kind = file_kind(path)
    if kind == "vendor":
        from .vendor import open_vendor

        with open_vendor(path, scene) as stack:
            return planes_summary(stack)
    layout = _hyperstack_summary(path) if kind == "hyperstack" else {}
    series = open_series(path)
    try:
        info: dict[str, Any] = {"path": str(path), "kind": kind if kind != "stack" else "TIFF",
                                "frames": len(series), **layout}
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


def _hyperstack_summary(path) -> dict[str, Any]:
    """Channels (name, colour), planes and Z step of a hyperstack file, for :func:`describe`."""
    from .hyperstack import open_hyperstack

    with open_hyperstack(path) as stack:
        return {"channels": [{"name": name, "colour": colour} for name, colour in
                             zip(stack.channel_names, stack.channel_colours, strict=True)],
                "planes": stack.n_planes, "z_step": stack.z_step,
                "source_dtype": stack.source_dtype}


def planes_summary(stack) -> dict[str, Any]:
    """Summary of a PlaneStack for ``flimage-app info`` (no pixels read).

    Keys as :func:`describe` (path, kind, frames, shape, dtype, time_range,
    pixel_size) plus channels (name, colour), planes, z_step, scene, scenes,
    time_source and notes.
    """
    times = stack.times
    return {"path": str(stack.path), "kind": stack.kind, "frames": stack.sizes["T"],
            "shape": stack.plane_shape, "dtype": str(stack.dtype),
            "time_range": (float(times.min()), float(times.max()))
            if times is not None and times.size else None,
            "time_source": stack.time_source, "pixel_size": stack.pixel_size,
            "channels": [{"name": name, "colour": colour} for name, colour in
                         zip(stack.channel_names, stack.channel_colours, strict=True)],
            "planes": stack.sizes["Z"], "z_step": stack.z_step,
            "scene": stack.scene, "scenes": list(stack.scene_names), "notes": list(stack.notes)}


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
