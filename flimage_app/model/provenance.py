"""How an output series was made: the provenance record, written and read.

The record lives in the group ``flimage_app/provenance`` at the series root,
where flimage never looks (it only reads ``fli_*`` groups).  It holds the
operation and method, every parameter (masks as boolean datasets), the fit
report and per-frame trace, the input file's name and SHA-256, the app
version and the date.  :func:`read_provenance` reads it back;
:func:`flimage_app.model.recipes.reapply` runs the same operation with the
same parameters on another series (that module sits above the engines, this
one below them).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import h5py
import numpy as np

from .. import __version__
from . import validate
from .errors import FileFormatError, file_open_error
from .meta import check_value
from .names import APP_GROUP
from .names import PROVENANCE_GROUP as PROVENANCE

#: Per-frame arrays stored with a bleach correction.
TRACE_KEYS = ("times", "intensity", "fitted", "correction", "background", "residuals")
MASK_KEYS = ("signal_mask", "background_mask")

#: The operations a record can describe.
OPERATIONS = ("bleach correction", "denoise", "import", "background")
#: Top-level fields of a record and the JSON types they may have (None: JSON null).
RECORD_FIELDS: dict[str, tuple[type | None, ...]] = {
    "operation": (str,), "method": (str,), "parameters": (dict,), "input": (dict,),
    "source": (dict, None), "app_version": (str,), "date": (str,), "report": (dict,),
    "metadata_changes": (dict,)}
#: Parameters each operation records, and their JSON types.
PARAMETERS: dict[str, dict[str, tuple[type | None, ...]]] = {
    "bleach correction": {"method": (str,), "border_px": (int,), "background": (str,),
                          "background_value": (int, float, None), "region": (str,),
                          "histogram_reference": (str,), "strict": (bool,),
                          "z_mode": (str,)},
    "denoise": {"weight": (int, float)},
    "import": {"pixel_size": (int, float, None), "interval": (int, float, None),
               "channel": (int, None), "plane": (int, None), "scene": (int, None)},
    "background": {"fit_profile": (str,), "fit_offset": (str,), "frames": (list,),
                   "regions": (int,), "frame_overrides": (list,), "data_background": (bool,)},
}
#: Fields of the description of an input file.
INPUT_FIELDS: dict[str, tuple[type | None, ...]] = {
    "file": (str, None), "path": (str, None), "sha256": (str, None), "frames": (int,),
    "frame_shape": (list,)}


def file_sha256(path: str | os.PathLike, block: int = 1 << 16) -> str:
    """Hex SHA-256 of a file's bytes.

    Small blocks: this runs on a thread beside the frame pipeline, and
    multi-megabyte buffers there would fragment that thread's malloc arena
    (≈ 13 MB more peak memory on an 800-frame series).  A file hashed before
    and not changed since (same device, inode, size and modification time) is
    not read again: a hyperstack corrected plane by plane records the same
    input for every plane.
    """
    status = os.stat(path)
    return _sha256_of(os.path.abspath(path), status.st_dev, status.st_ino, status.st_size,
                      status.st_mtime_ns, block)


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, device: int, inode: int, size: int, mtime_ns: int,
               block: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


class InputDescriptions:
    """Name, SHA-256 and size of input series; files are hashed on a background thread.

    Start it before the long pass over the frames, so that hashing overlaps
    the work, and call :meth:`result` afterwards.
    """

    def __init__(self, *readers) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        self._entries = [(reader.filename, len(reader), list(reader.shape),
                          self._pool.submit(file_sha256, reader.filename)
                          if reader.filename else None) for reader in readers]

    def result(self) -> list[dict[str, Any]]:
        """One description per reader, in the order given."""
        return [{"file": os.path.basename(name) if name else None,
                 "path": os.path.abspath(name) if name else None,
                 "sha256": digest.result() if digest is not None else None,
                 "frames": frames, "frame_shape": shape}
                for name, frames, shape, digest in self._entries]

    def close(self) -> None:
        """Stop hashing (after a cancel or an error)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def describe_file(path: str | os.PathLike | None, frames: int,
                  frame_shape: tuple[int, ...] | list[int]) -> dict[str, Any]:
    """Name, path, SHA-256, frames and frame shape of one input file (hashed now).

    The same entry as :class:`InputDescriptions` gives, for inputs that are
    not series readers (a TIFF stack being imported, an FLImage file).
    """
    return {"file": os.path.basename(path) if path else None,
            "path": os.path.abspath(path) if path else None,
            "sha256": file_sha256(path) if path else None,
            "frames": int(frames), "frame_shape": [int(n) for n in frame_shape]}


def import_record(kind: str, parameters: dict, inputs: list[dict[str, Any]]) -> dict:
    """The provenance of a stack imported as an FLSeries (`kind`: e.g. "ImageJ TIFF")."""
    return _base_record("import", kind, parameters, inputs)


def background_record(fit_profile: str, parameters: dict,
                      inputs: list[dict[str, Any]]) -> dict:
    """The provenance of a background fit on ROIs (the ROIs themselves are stored beside it)."""
    return _base_record("background", fit_profile, parameters, inputs)


def _base_record(operation: str, method: str, parameters: dict,
                 inputs: list[dict[str, Any]]) -> dict:
    record = {"operation": operation, "method": method, "parameters": parameters,
              "input": inputs[0], "app_version": __version__,
              "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    if len(inputs) > 1:
        record["source"] = inputs[1]
    return record


def bleach_record(result, inputs: list[dict[str, Any]],
                  masks: dict[str, np.ndarray | None]) -> dict:
    """The provenance of a bleach correction (see :func:`write_provenance`).

    `inputs` describes the measured series and, if different, the corrected one
    (see :class:`InputDescriptions`).
    """
    report = result.report
    record = _base_record("bleach correction", result.method, dict(result.settings), inputs)
    record["report"] = {"model": report.model, "parameters": report.parameters,
                        "errors": report.errors, "half_lives": report.half_lives,
                        "r_squared": report.r_squared, "time_unit": report.time_unit,
                        "time_origin": report.time_origin, "notes": report.notes,
                        "text": report.as_text()}
    record["trace"] = {"times": result.times, "intensity": result.intensity,
                       "fitted": result.fitted, "correction": result.correction,
                       "background": result.background, "residuals": report.residuals}
    record["masks"] = masks
    if result.meta_changes:
        # the fit used these values, not those in the input file
        record["metadata_changes"] = {str(index): changes
                                      for index, changes in result.meta_changes.items()}
    return record


def denoise_record(weight: float, inputs: list[dict[str, Any]]) -> dict:
    """The provenance of a total-variation denoising."""
    return _base_record("denoise", "tv_chambolle", {"weight": float(weight)}, inputs)


def write_provenance(root: h5py.Group, record: dict) -> None:
    """Store `record` in ``root/flimage_app/provenance`` (replacing an earlier one)."""
    app = root.require_group(APP_GROUP)
    if PROVENANCE in app:
        del app[PROVENANCE]
    group = app.create_group(PROVENANCE)
    scalars = {key: value for key, value in record.items() if key not in ("trace", "masks")}
    group.attrs["record"] = json.dumps(scalars, default=_json_default, allow_nan=True)
    if "report" in record:
        group.attrs["report"] = record["report"]["text"]
    for key, values in record.get("trace", {}).items():
        if values is not None:
            group.create_dataset(f"trace/{key}", data=np.asarray(values, dtype=float))
    for key, mask in record.get("masks", {}).items():
        if mask is not None:
            group.create_dataset(f"masks/{key}", data=np.asarray(mask, dtype=bool),
                                 compression="gzip", compression_opts=1)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Cannot store {type(value).__name__} in the provenance record")


def _root_of(path_or_series) -> tuple[h5py.Group, h5py.File | None]:
    if isinstance(path_or_series, (str, os.PathLike)):
        try:
            handle = h5py.File(path_or_series, "r")
        except OSError as exc:
            raise file_open_error(path_or_series, exc) from None
        return handle, handle
    if isinstance(path_or_series, h5py.Group):
        return path_or_series, None
    return path_or_series.h5, None


def has_provenance(series) -> bool:
    """True when the open `series` (or an h5py group) carries a provenance record at all.

    Whether the record is usable is :func:`read_provenance`'s to say; a link that
    leads out of the file is refused here already (FileFormatError).
    """
    root = series if isinstance(series, h5py.Group) else series.h5
    group = validate.member_path(root, f"{APP_GROUP}/{PROVENANCE}")
    return isinstance(group, h5py.Group) and bool(h5py.h5a.exists(group.id, b"record"))


def read_provenance(path_or_series) -> dict:
    """The provenance record of a series written by the app, validated.

    Returns
    -------
    dict
        ``operation``, ``method``, ``parameters``, ``input`` (file, sha256, …),
        ``app_version``, ``date``, and for bleach corrections ``report``,
        ``trace`` (arrays per frame) and ``masks`` (bool arrays or None).

    Raises
    ------
    FileFormatError
        The series carries no provenance record, or the record is not one
        the app wrote (see :func:`check_record`).
    """
    root, owned = _root_of(path_or_series)
    try:
        group = validate.member_path(root, f"{APP_GROUP}/{PROVENANCE}")
        if group is None or not isinstance(group, h5py.Group) or not h5py.h5a.exists(
                group.id, b"record"):
            raise FileFormatError("The series has no provenance record (not written by "
                                  "flimage-app)")
        where = validate.object_name(group)
        text = validate.read_attribute(group, "record", "text", warn=False,
                                       max_chars=validate.MAX_JSON_BYTES)
        if text is None:
            raise validate.refuse(where, "the provenance record is not one text value")
        record = check_record(validate.read_json_text(text, where, "the provenance record"),
                              where)
        if record["operation"] == "bleach correction":
            record["trace"] = {key: _trace(group, key) for key in TRACE_KEYS}
            record["masks"] = {key: _mask(group, key) for key in MASK_KEYS}
        return record
    finally:
        if owned is not None:
            owned.close()


def _trace(group: h5py.Group, key: str) -> np.ndarray | None:
    obj = validate.member_path(group, f"trace/{key}")
    if obj is None:
        return None
    where = validate.object_name(obj)
    return validate.read_array(validate.check_dataset(obj, where, ndims=(1,), kinds="biuf",
                                                      what="a per-frame trace",
                                                      allow_empty=True), where)


def _mask(group: h5py.Group, key: str) -> np.ndarray | None:
    obj = validate.member_path(group, f"masks/{key}")
    if obj is None:
        return None
    where = validate.object_name(obj)
    dset = validate.check_image(obj, where)
    return validate.read_array(dset, where).astype(bool)


def _check_type(value: Any, allowed: tuple[type | None, ...], where: str, name: str) -> None:
    kinds = tuple(kind for kind in allowed if kind is not None)
    ok = (value is None and None in allowed) or (
        isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds))
    if not ok:
        names = {str: "text", int: "a whole number", float: "a number", bool: "true/false",
                 dict: "an object", list: "a list"}
        expected = " or ".join(names.get(kind, "null") for kind in allowed)
        raise validate.refuse(where, f"the provenance record's {name} is "
                                     f"{type(value).__name__} {_short(value)}; expected "
                                     f"{expected}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_record(record: Any, where: str) -> dict:
    """A provenance record as read from a file, checked field by field.

    Known fields must have their JSON type, the operation must be one of
    :data:`OPERATIONS` and its parameters of the types of :data:`PARAMETERS`.
    Unknown top-level fields and unknown parameters are left out with a
    :class:`~flimage_app.model.validate.FileContentWarning`: nothing of the
    record is used unchecked (by :func:`~flimage_app.model.recipes.reapply`
    or ``flimage-app bleach --like``), and a record with an extra entry (a
    crafted one, or one of a later version) still tells what it can.
    Whether a value is in range is the business of whoever applies it.
    """
    record = dict(validate.checked_mapping(record, where, "the provenance record"))
    unknown = sorted(set(record) - set(RECORD_FIELDS))
    if unknown:
        validate._warn(f"{where}: the provenance record has unknown fields "
                       f"({', '.join(map(_short, unknown[:5]))}); ignored")
        for key in unknown:
            del record[key]
    for key, allowed in RECORD_FIELDS.items():
        if key in record:
            _check_type(record[key], allowed, where, f"{key!r}")
    if record.get("operation") not in OPERATIONS:
        raise validate.refuse(where, f"the provenance record's operation "
                                     f"{_short(record.get('operation'))} is not one of "
                                     f"{', '.join(OPERATIONS)}")
    allowed_parameters = PARAMETERS[record["operation"]]
    if "parameters" in record:
        parameters = dict(record["parameters"])
        unknown = sorted(set(parameters) - set(allowed_parameters))
        if unknown:
            validate._warn(f"{where}: the provenance record has parameters that "
                           f"{record['operation']} does not take "
                           f"({', '.join(map(_short, unknown[:5]))}); ignored")
            for key in unknown:
                del parameters[key]
        for key, value in parameters.items():
            _check_type(value, allowed_parameters[key], where, f"parameter {key!r}")
        record["parameters"] = parameters
    for field in ("input", "source"):
        if isinstance(record.get(field), dict):
            record[field] = _checked_input(record[field], where, field)
    if "metadata_changes" in record:
        record["metadata_changes"] = _checked_changes(record["metadata_changes"], where)
    return record


def _checked_input(description: dict, where: str, field: str) -> dict:
    checked = {}
    for key, allowed in INPUT_FIELDS.items():
        if key in description:
            _check_type(description[key], allowed, where, f"{field} {key!r}")
            checked[key] = description[key]
    shape = checked.get("frame_shape")
    if shape is not None and (len(shape) != 2 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        raise validate.refuse(where, f"the provenance record's {field} frame_shape "
                                     f"{_short(shape)} is not two positive whole numbers")
    return checked


def _checked_changes(changes: dict, where: str) -> dict:
    checked: dict[str, dict[str, Any]] = {}
    for index, entries in changes.items():
        if not index.isdigit() or not isinstance(entries, dict):
            raise validate.refuse(where, f"the provenance record's metadata_changes entry "
                                         f"{_short(index)} is not frame → changes")
        try:
            checked[index] = {key: check_value(key, value) for key, value in entries.items()}
        except (KeyError, ValueError) as exc:
            raise validate.refuse(where, f"the provenance record's metadata_changes for frame "
                                         f"{index}: {exc}") from None
    return checked

