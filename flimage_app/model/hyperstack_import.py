"""Import a :class:`~flimage_app.model.planes.PlaneStack` (any reader's) into one HDF5 file.

One channel and one Z plane become a plain FLSeries at the root, as a TIFF
import always did; anything else becomes a hyperstack file (layout in
:mod:`flimage_app.model.hyperstack`).  Planes are read one at a time, in
the order the source stores them (t, then c, then z), and compressed on a
thread pool per leaf while the next ones are read.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import h5py

from .errors import Cancelled
from .fastwrite import FrameWriter, bound_metadata_cache
from .h5io import atomic_output, readable_path
from .hyperstack import leaf_path, make_layout, write_layout
from .planes import PlaneStack
from .progress import Cancel, Progress, start_pass
from .provenance import file_sha256, import_record, write_provenance
from .tiffio import MissingCalibrationWarning, calibration_notes, lossless_float_type


def storage_dtype(stack: PlaneStack, progress: Progress | None = None,
                  cancel: Cancel | None = None) -> str:
    """HDF5 storage type that keeps every value (float32, else float64), as a TIFF import.

    Only 32- and 64-bit integer stacks are scanned (a pass "scanning").
    """
    def planes():
        start_pass(progress, "scanning")
        for done, (t, c, z) in enumerate(_plane_order(stack), start=1):
            _check_cancel(cancel)
            yield stack.read(t, c, z)
            if progress is not None:
                progress(done, stack.n_planes)

    return lossless_float_type(stack.dtype, planes, stack.path.name)


def _plane_order(stack: PlaneStack):
    sizes = stack.sizes
    for t in range(sizes["T"]):
        for c in range(sizes["C"]):
            for z in range(sizes["Z"]):
                yield t, c, z


def _check_cancel(cancel: Cancel | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("Import cancelled")


def describe_source(stack: PlaneStack) -> dict[str, Any]:
    """The provenance description of the source (a file is hashed; a folder is not)."""
    path = stack.path
    return {"file": path.name, "path": os.path.abspath(path),
            "sha256": file_sha256(path) if path.is_file() else None,
            "frames": stack.sizes["T"], "frame_shape": list(stack.plane_shape)}


def import_planes(stack: PlaneStack, h5file: str | os.PathLike, *, overwrite: bool = False,
                  progress: Progress | None = None, cancel: Cancel | None = None,
                  parameters: dict[str, Any] | None = None) -> Path:
    """Write every plane of `stack` into the HDF5 file `h5file`.

    Parameters
    ----------
    stack : PlaneStack
        From a vendor reader or :func:`flimage_app.model.tiffio.inspect_planes`.
    h5file : path
        Written through :func:`~flimage_app.model.h5io.atomic_output`: a failed
        or cancelled import leaves nothing there.
    overwrite : bool
        Replace an existing `h5file`.
    progress, cancel
        Progress counts planes (T × C × Z) of the pass "importing" (and of
        "scanning" for wide integer types); `cancel` is polled before every plane.
    parameters : dict, optional
        The import options to record (``pixel_size``, ``interval``); the
        scene is recorded from the stack.

    Returns
    -------
    Path
        Where the file can be read now: `h5file`, or inside
        :func:`~flimage_app.model.h5io.output_group` its held-back temporary.
        A plain FLSeries for one channel and one plane, else a hyperstack file.
    """
    # a reader that has not said so already: the times are missing (a TIFF's reader has)
    missing = calibration_notes(times_missing=stack.times is None and stack.sizes["T"] > 1,
                                pixel_size_missing=False)
    for note in [*stack.notes, *(note for note in missing if note not in stack.notes)]:
        warnings.warn(f"{stack.path.name}: {note}", MissingCalibrationWarning, stacklevel=2)
    recorded = {"pixel_size": None, "interval": None, "channel": None, "plane": None,
                **(parameters or {}), "scene": int(stack.scene)}
    source = describe_source(stack)
    with atomic_output(h5file, overwrite=overwrite) as temporary:
        with h5py.File(temporary, "w") as h5:
            bound_metadata_cache(h5)
            dtype = storage_dtype(stack, progress, cancel)
            leaves = _write_planes(h5, stack, dtype, progress, cancel)
            record = import_record(stack.kind, recorded, [source])
            write_provenance(h5, record)
            if leaves:
                sizes = stack.sizes
                write_layout(h5, make_layout(stack.channel_names, stack.channel_colours,
                                             sizes["Z"], stack.z_step, stack.dtype.name))
                for (c, z), group in leaves.items():
                    write_provenance(group, import_record(
                        stack.kind, {**recorded, "channel": c, "plane": z}, [source]))
    return readable_path(h5file)


def _write_planes(h5: h5py.File, stack: PlaneStack, dtype: str, progress: Progress | None,
                  cancel: Cancel | None) -> dict[tuple[int, int], h5py.Group]:
    """Write the frames; returns the leaf groups of a hyperstack ({} for a plain series)."""
    sizes = stack.sizes
    single = sizes["C"] == 1 and sizes["Z"] == 1
    leaves: dict[tuple[int, int], h5py.Group] = {}
    if single:
        h5.attrs["identifier"] = stack.path.name
        groups = {(0, 0): h5}
    else:
        for c in range(sizes["C"]):
            for z in range(sizes["Z"]):
                group = h5.require_group(leaf_path(c, z, sizes["Z"]))
                name = f"{stack.path.name} {stack.channel_names[c]}"
                group.attrs["identifier"] = name if sizes["Z"] == 1 else f"{name} z={z}"
                leaves[(c, z)] = group
        groups = leaves
    # the cores are shared among the leaves' compression pools
    workers = max(1, (os.cpu_count() or 1) // len(groups))
    writers = {key: FrameWriter(group, dtype=dtype, workers=workers)
               for key, group in groups.items()}
    try:
        start_pass(progress, "importing")
        for done, (t, c, z) in enumerate(_plane_order(stack), start=1):
            _check_cancel(cancel)
            writers[(c, z)].submit(stack.read(t, c, z), _frame_meta(stack, t))
            if progress is not None:
                progress(done, stack.n_planes)
        for writer in writers.values():
            writer.flush()
    finally:
        for writer in writers.values():
            writer.close()
    return leaves


def _frame_meta(stack: PlaneStack, t: int) -> dict[str, float]:
    meta: dict[str, float] = {}
    if stack.times is not None:
        meta["time"] = float(stack.times[t])
    if stack.pixel_size is not None:
        meta["pixel size"] = float(stack.pixel_size)
    return meta


__all__ = ["describe_source", "import_planes", "storage_dtype"]
