"""Measuring cells over time: named measurement ROIs and per-ROI intensity traces.

Measurement ROIs are kept apart from the background ROIs of
:mod:`flimage_app.model.rois` (stored in ``flimage_app/measure_rois``, not
``flimage_app/rois``) but are the same shapes, rasterised by the same
``mask()`` rule.  Each has a unique name ("1", "2", … as ImageJ's ROI
Manager numbers them, or the user's) and may be moved on single frames
(a per-frame override, as the background ROIs have).

:func:`measure_series` reads the frames one at a time, through the bleach
engine's :class:`~flimage_app.model.bleach.measure.FrameReader` (the
validation boundary of :mod:`flimage_app.model.validate` applies), and
measures, for every ROI and frame, the area and the statistics of ImageJ's
*Measure* on up to three versions of the data in the same pass:

* ``raw``: the recorded image;
* ``background_corrected``: the raw image minus the background stored in
  the frame (flimage's ``fl``);
* ``bleach_corrected``: the frames of a bleach-corrected series, or the
  background-corrected frame with a bleach correction applied on the fly.

The result, a :class:`Measurement`, writes CSV tables (long or wide) and
stores itself with its record (ROIs, series, correction) in an HDF5 group.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from . import rois as rois_module
from . import validate
from .errors import Cancelled, FileFormatError, file_open_error
from .h5io import atomic_output
from .names import APP_GROUP, MEASURE_ROIS_DATASET, MEASUREMENT_GROUP
from .progress import Cancel, Progress, start_pass
from .rois import (
    MAX_ROIS,
    ROI,
    BorderROI,
    EllipseROI,
    import_imagej,
    load_roiset_json,
    roi_from_dict,
)

#: Identifies measurement-ROI JSON documents written by the app.
SCHEMA_NAME = "flimage_app.measure_rois"
#: Version of that JSON schema.
SCHEMA_VERSION = 1
#: The versions of the data measured, in table order.
DATA_SETS: tuple[str, ...] = ("raw", "background_corrected", "bleach_corrected")
#: Statistics of every ROI, frame and data set (ImageJ's Mean, RawIntDen, Min, Max, StdDev).
STATISTICS: tuple[str, ...] = ("mean", "sum", "min", "max", "std")
#: Normalised traces, computed from the mean when baseline frames are given.
NORMALISED: tuple[str, ...] = ("F/F0", "dF/F0")
#: Version of the stored measurement (group ``flimage_app/measurement``).
MEASUREMENT_VERSION = 1
#: The name of the measurement's pass over the frames (a bleach correction before it has its own)
PASS_NAME = "measuring the ROIs"
#: Most frames a stored measurement may declare (a bound on what a file makes us allocate).
MAX_FRAMES = 10_000_000


# --------------------------------------------------------------------------- ROI sets

def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > validate.MAX_TEXT_CHARS:
        raise ValueError("a measurement ROI needs a name: non-empty text of at most "
                         f"{validate.MAX_TEXT_CHARS} characters")
    return name


def next_number_name(taken: Iterable[str]) -> str:
    """The smallest whole number ≥ 1, as text, that is not among `taken` (ROI Manager style)."""
    taken = set(taken)
    number = 1
    while str(number) in taken:
        number += 1
    return str(number)


@dataclass(frozen=True)
class MeasureROISet:
    """Named measurement ROIs, with optional per-frame positions.

    Parameters
    ----------
    rois
        The ROIs, each with a unique, non-empty ``name``; their order is the
        table's.  Roles are ignored (a measurement ROI is measured as drawn).
    overrides
        Frame index → {ROI name → ROI used on that frame instead}: a ROI
        moved on some frames (a cell that drifts).  Names must be those of
        `rois`.
    """

    rois: tuple[ROI, ...] = ()
    overrides: Mapping[int, Mapping[str, ROI]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rois = tuple(self.rois)
        names = [_check_name(roi.name) for roi in rois]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"measurement ROI names must be unique; repeated: "
                             f"{', '.join(duplicates)[:200]}")
        for roi in rois:
            if isinstance(roi, BorderROI):
                raise ValueError("an image border is not a measurement ROI")
        overrides: dict[int, dict[str, ROI]] = {}
        for frame, moved in dict(self.overrides).items():
            if int(frame) != frame or frame < 0:
                raise ValueError(f"per-frame ROIs need a frame index >= 0, got {frame!r}")
            unknown = sorted(set(moved) - set(names))
            if unknown:
                raise ValueError(f"frame {frame} moves ROIs that are not in the set: "
                                 f"{', '.join(unknown)[:200]}")
            if moved:
                overrides[int(frame)] = {name: replace(roi, name=name)
                                         for name, roi in moved.items()}
        object.__setattr__(self, "rois", rois)
        object.__setattr__(self, "overrides", overrides)

    @classmethod
    def numbered(cls, rois: Iterable[ROI]) -> MeasureROISet:
        """A set of `rois`; unnamed or repeated names become the next free number ("1", "2" …).

        The first ROI of each name keeps it; roles are dropped (all "include").
        """
        rois = list(rois)
        kept: list[str | None] = []
        taken: set[str] = set()
        for roi in rois:
            name = roi.name.strip() if roi.name else ""
            if name and name not in taken and len(name) <= validate.MAX_TEXT_CHARS:
                kept.append(name)
                taken.add(name)
            else:
                kept.append(None)
        named = []
        for roi, name in zip(rois, kept, strict=True):
            if name is None:
                name = next_number_name(taken)
                taken.add(name)
            named.append(replace(roi, name=name, role="include"))
        return cls(rois=tuple(named))

    @property
    def names(self) -> list[str]:
        """The ROIs' names, in order."""
        return [roi.name for roi in self.rois]

    def __len__(self) -> int:
        return len(self.rois)

    def roi(self, name: str, frame: int | None = None) -> ROI:
        """ROI `name` as used on `frame` (its per-frame position if it was moved there)."""
        if frame is not None and name in self.overrides.get(frame, {}):
            return self.overrides[frame][name]
        for roi in self.rois:
            if roi.name == name:
                return roi
        raise KeyError(f"no measurement ROI named {name!r}")

    def with_roi(self, roi: ROI, frame: int | None = None) -> MeasureROISet:
        """A copy with `roi` added or replacing the one of its name (on `frame` only if given)."""
        if frame is not None:
            self.roi(roi.name)  # must exist
            overrides = {k: dict(v) for k, v in self.overrides.items()}
            overrides.setdefault(int(frame), {})[roi.name] = roi
            return replace(self, overrides=overrides)
        rois = list(self.rois)
        for number, old in enumerate(rois):
            if old.name == roi.name:
                rois[number] = roi
                break
        else:
            rois.append(roi)
        return replace(self, rois=tuple(rois))

    def without(self, name: str) -> MeasureROISet:
        """A copy without ROI `name` (and its per-frame positions)."""
        overrides = {k: {n: r for n, r in v.items() if n != name}
                     for k, v in self.overrides.items()}
        return MeasureROISet(rois=tuple(r for r in self.rois if r.name != name),
                             overrides=overrides)

    def without_override(self, name: str, frame: int) -> MeasureROISet:
        """A copy in which ROI `name` is at its shared position on `frame` again."""
        overrides = {k: {n: r for n, r in v.items() if not (k == frame and n == name)}
                     for k, v in self.overrides.items()}
        return replace(self, overrides=overrides)

    def renamed(self, old: str, new: str) -> MeasureROISet:
        """A copy in which ROI `old` is called `new` (per-frame positions follow)."""
        _check_name(new)
        if new != old and new in self.names:
            raise ValueError(f"there is already a measurement ROI named {new!r}")
        rois = tuple(replace(r, name=new) if r.name == old else r for r in self.rois)
        overrides = {k: {(new if n == old else n): r for n, r in v.items()}
                     for k, v in self.overrides.items()}
        return MeasureROISet(rois=rois, overrides=overrides)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (schema :data:`SCHEMA_NAME`)."""
        return {"schema": SCHEMA_NAME, "version": SCHEMA_VERSION,
                "rois": [roi.to_dict() for roi in self.rois],
                "frame_overrides": {str(k): [roi.to_dict() for roi in v.values()]
                                    for k, v in sorted(self.overrides.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeasureROISet:
        """Inverse of :meth:`to_dict`; an untrusted document is checked.

        Raises
        ------
        FileFormatError
            Not a measurement-ROI document, a newer version, or invalid ROIs.
        """
        if not isinstance(data, Mapping) or data.get("schema") != SCHEMA_NAME:
            raise FileFormatError("Not a set of measurement ROIs written by flimage-app "
                                  f"(missing \"schema\": \"{SCHEMA_NAME}\")")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise FileFormatError(f"measurement ROIs have an invalid version {version!r:.40}")
        if version > SCHEMA_VERSION:
            raise FileFormatError(f"measurement ROIs use version {version}; this flimage-app "
                                  f"reads up to {SCHEMA_VERSION} — please update")
        shared, per_frame = data.get("rois", []), data.get("frame_overrides", {})
        if not isinstance(shared, list) or not isinstance(per_frame, Mapping) or not all(
                isinstance(v, list) for v in per_frame.values()):
            raise FileFormatError("Invalid measurement ROIs: \"rois\" must be a list and "
                                  "\"frame_overrides\" an object of lists")
        count = len(shared) + sum(len(v) for v in per_frame.values())
        if count > MAX_ROIS:
            raise FileFormatError(f"Invalid measurement ROIs: {count:,} ROIs (at most "
                                  f"{MAX_ROIS:,} are read)")
        overrides: dict[int, dict[str, ROI]] = {}
        for key, value in per_frame.items():
            if not str(key).isdigit() or len(str(key)) > 12:
                raise FileFormatError(f"Invalid measurement ROIs: frame {str(key)[:20]!r} is "
                                      "not a frame number")
            overrides[int(key)] = {roi.name: roi for roi in map(roi_from_dict, value)}
        try:
            return cls(rois=tuple(roi_from_dict(r) for r in shared), overrides=overrides)
        except ValueError as exc:
            raise FileFormatError(f"Invalid measurement ROIs: {exc}") from None


def write_measure_rois(group: h5py.Group, roiset: MeasureROISet) -> None:
    """Store the measurement ROIs as JSON text in ``group/flimage_app/measure_rois``."""
    app = group.require_group(APP_GROUP)
    if MEASURE_ROIS_DATASET in app:
        del app[MEASURE_ROIS_DATASET]
    app.create_dataset(MEASURE_ROIS_DATASET, data=json.dumps(roiset.to_dict(), indent=1),
                       dtype=h5py.string_dtype("utf-8"))


def read_measure_rois(group: h5py.Group) -> MeasureROISet | None:
    """The measurement ROIs stored in `group` by :func:`write_measure_rois`, or None."""
    app = validate.member(group, APP_GROUP)
    if not isinstance(app, h5py.Group):
        return None
    stored = validate.member(app, MEASURE_ROIS_DATASET)
    if stored is None:
        return None
    return _roiset_from_text(stored, validate.object_name(app, MEASURE_ROIS_DATASET))


def _roiset_from_text(stored: Any, where: str) -> MeasureROISet:
    text = validate.read_text_dataset(stored, where, "measurement ROIs (JSON text)")
    try:
        return MeasureROISet.from_dict(validate.read_json_text(text, where,
                                                               "the measurement ROIs"))
    except FileFormatError as exc:
        message = str(exc)
        raise FileFormatError(message if message.startswith(where) else f"{where}: {message}"
                              ) from None


#: suffixes of the files :func:`load_measure_rois` reads
MEASURE_ROI_SUFFIXES: tuple[str, ...] = (".json", ".roi", ".zip", ".h5", ".hdf5", ".hdf")


def load_measure_rois(path: str | os.PathLike) -> MeasureROISet:
    """Measurement ROIs from any ROI file, chosen by suffix.

    ``.json``: the app's measurement ROIs (or a background ROI set, whose
    shared ROIs are taken); ``.roi`` / RoiSet ``.zip``: Fiji's ROI Manager
    (its names kept, unnamed ROIs numbered); ``.h5``: the measurement ROIs
    stored in ``flimage_app/measure_rois`` (File ▸ Save, ``measure --h5``).

    Raises
    ------
    FileFormatError
        Another kind of file, an unreadable one, or one without ROIs.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            size = path.stat().st_size
            if size > validate.MAX_JSON_BYTES:
                raise FileFormatError(f"{path.name}: an ROI file of {size:,} bytes is too "
                                      f"large (limit {validate.MAX_JSON_BYTES:,})")
            data = validate.read_json_text(path.read_text(encoding="utf-8"), path.name,
                                           "the ROIs")
        except (OSError, UnicodeDecodeError) as exc:
            raise FileFormatError(f"Cannot read ROI file {path}: {exc}") from None
        if isinstance(data, Mapping) and data.get("schema") == SCHEMA_NAME:
            try:
                roiset = MeasureROISet.from_dict(data)
            except FileFormatError as exc:
                raise FileFormatError(f"{path.name}: {exc}") from None
        else:
            roiset = _numbered(load_roiset_json(path).rois, path)
    elif suffix in (".roi", ".zip"):
        roiset = _numbered(import_imagej(path), path)
    elif suffix in (".h5", ".hdf5", ".hdf"):
        try:
            with h5py.File(path, "r") as h5:
                roiset = read_measure_rois(h5)
        except OSError as exc:
            raise file_open_error(path, exc) from None
        if roiset is None:
            raise FileFormatError(f"{path.name} holds no measurement ROIs "
                                  f"({APP_GROUP}/{MEASURE_ROIS_DATASET})")
    else:
        raise FileFormatError(f"{path.name}: measurement ROIs are read from "
                              f"{', '.join(MEASURE_ROI_SUFFIXES)} files")
    if not roiset.rois:
        raise FileFormatError(f"{path.name} holds no measurement ROI")
    return roiset


def _numbered(rois: Sequence[ROI], path: Path) -> MeasureROISet:
    try:
        return MeasureROISet.numbered(rois)
    except ValueError as exc:  # e.g. an image border, which is no region to measure
        raise FileFormatError(f"{path.name}: {exc}") from None


def save_measure_rois_json(roiset: MeasureROISet, path: str | os.PathLike,
                           overwrite: bool = False) -> None:
    """Write the measurement ROIs to a JSON file (atomically)."""
    with atomic_output(path, overwrite=overwrite) as temporary:
        Path(temporary).write_text(json.dumps(roiset.to_dict(), indent=1), encoding="utf-8")


def export_imagej(roiset: MeasureROISet, path: str | os.PathLike,
                  overwrite: bool = False) -> None:
    """Write the shared ROIs to a Fiji ``.roi`` (one ROI) or RoiSet ``.zip``, atomically.

    Written by :func:`flimage_app.model.rois.export_imagej` (the one Fiji
    writer), after one check that matters for measuring: an ellipse off the
    whole-pixel grid, or rotated, has no ImageJ shape that Fiji measures on the
    same pixels as the app, so it is refused (ValueError) instead of being
    measured differently in the two programs.  Per-frame positions are not
    exported: Fiji's Multi Measure measures every ROI on every frame.
    """
    for roi in roiset.rois:
        if isinstance(roi, EllipseROI) and not (roi.angle % 360 == 0 and _whole(
                roi.x, roi.y, roi.width, roi.height)):
            raise ValueError(f"ROI {roi.name!r}: ImageJ has no oval that covers the same pixels "
                             "as a rotated ellipse or one off the whole-pixel grid")
    rois_module.export_imagej(roiset.rois, path, overwrite=overwrite)


def _whole(*values: float) -> bool:
    return all(float(v).is_integer() for v in values)


# --------------------------------------------------------------------------- measurement

@dataclass
class Measurement:
    """Per-ROI, per-frame measurements of a series (the result of :func:`measure_series`).

    Attributes
    ----------
    roi_names : list of str
        The ROIs, in the order of the arrays' first axis.
    times : ndarray
        Time of every frame [s] from the frames' metadata, NaN where missing.
    area_px : ndarray, shape (ROIs, frames)
        Pixels of each ROI on each frame (its mask clipped to the image).
    pixel_size : float
        Pixel size [m] (of the first frame), NaN when unknown.
    values : dict
        Data set (:data:`DATA_SETS`, those measured) → statistic
        (:data:`STATISTICS`) → array (ROIs, frames).  ``std`` is the *sample*
        standard deviation (n − 1 in the denominator), as ImageJ's StdDev;
        ``sum`` is ImageJ's RawIntDen (the sum of the pixel values), which is
        its IntDen on an uncalibrated image.  Non-finite pixels are left out
        of the statistics (ImageJ ignores NaN pixels of float images); an ROI
        without finite pixels gives NaN (ImageJ's std of one pixel, 0, is kept).
    baseline : list of int or None
        Frames whose mean is F₀ of the normalised traces, or None.
    record : dict
        How the table was made: ROIs, series, correction (see :meth:`write_to`).
    rois : MeasureROISet
        The ROIs measured.
    """

    roi_names: list[str]
    times: np.ndarray
    area_px: np.ndarray
    pixel_size: float
    values: dict[str, dict[str, np.ndarray]]
    rois: MeasureROISet
    baseline: list[int] | None = None
    record: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.times.size)

    @property
    def data_sets(self) -> list[str]:
        """The data sets measured, in :data:`DATA_SETS` order."""
        return [name for name in DATA_SETS if name in self.values]

    @property
    def area_m2(self) -> np.ndarray:
        """Area of each ROI on each frame [m²] (NaN when the pixel size is unknown)."""
        return self.area_px * self.pixel_size ** 2

    def f0(self, data: str) -> np.ndarray:
        """F₀ of every ROI: the mean over the baseline frames of its mean (NaN without any)."""
        if not self.baseline:
            return np.full(len(self.roi_names), np.nan)
        means = self.values[data]["mean"][:, self.baseline]
        finite = np.isfinite(means)
        counts = finite.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(counts > 0, np.where(finite, means, 0.0).sum(axis=1) / counts,
                            np.nan)

    def normalised(self, data: str) -> dict[str, np.ndarray]:
        """``{"F/F0": mean / F₀, "dF/F0": (mean − F₀) / F₀}`` of every ROI and frame."""
        mean = self.values[data]["mean"]
        f0 = self.f0(data)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = mean / f0
        return {"F/F0": ratio, "dF/F0": ratio - 1.0}

    def quantities(self) -> list[str]:
        """The quantities of each data set in the tables."""
        return list(STATISTICS) + (list(NORMALISED) if self.baseline else [])

    def table(self, data: str) -> dict[str, np.ndarray]:
        """Every quantity of data set `data`, arrays (ROIs, frames)."""
        table = dict(self.values[data])
        if self.baseline:
            table.update(self.normalised(data))
        return table

    def to_csv(self, path: str | os.PathLike, wide: bool = False) -> None:
        """Write the table as CSV, UTF-8 with a byte-order mark (Excel reads µ and ²).

        Long form (default): one row per ROI × frame × data set, with columns
        roi, frame, time [s], data, area [px], area [µm²] and the quantities.
        Wide form: one row per frame; after frame and time, one column per
        ROI, data set and quantity (``"ROI: data quantity"``, areas as
        ``"ROI: area [px]"``).  Numbers are written in full precision.
        """
        area_um2 = self.area_m2 * 1e12
        tables = {data: self.table(data) for data in self.data_sets}
        quantities = self.quantities()
        with open(path, "w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            if not wide:
                writer.writerow(["roi", "frame", "time [s]", "data", "area [px]",
                                 "area [µm²]", *quantities])
                for r, name in enumerate(self.roi_names):
                    for frame in range(self.frames):
                        for data in self.data_sets:
                            writer.writerow([name, frame, _number(self.times[frame]), data,
                                             int(self.area_px[r, frame]),
                                             _number(area_um2[r, frame]),
                                             *(_number(tables[data][q][r, frame])
                                               for q in quantities)])
                return
            header = ["frame", "time [s]"]
            for name in self.roi_names:
                header += [f"{name}: area [px]", f"{name}: area [µm²]"]
                header += [f"{name}: {data} {q}" for data in self.data_sets for q in quantities]
            writer.writerow(header)
            for frame in range(self.frames):
                row: list[Any] = [frame, _number(self.times[frame])]
                for r in range(len(self.roi_names)):
                    row += [int(self.area_px[r, frame]), _number(area_um2[r, frame])]
                    row += [_number(tables[data][q][r, frame])
                            for data in self.data_sets for q in quantities]
                writer.writerow(row)

    def write_to(self, group: h5py.Group) -> None:
        """Store the table and its record in ``group/flimage_app/measurement``.

        `group` is a series root (or any HDF5 group; the CLI's ``--h5`` file).
        The measured ROIs go beside the table (``measurement/rois``) and also
        become the group's measurement ROIs (``flimage_app/measure_rois``).
        Arrays are in SI units (areas in pixels, times in seconds); an
        earlier measurement is replaced.
        """
        app = group.require_group(APP_GROUP)
        if MEASUREMENT_GROUP in app:
            del app[MEASUREMENT_GROUP]
        out = app.create_group(MEASUREMENT_GROUP)
        record = dict(self.record)
        record.update({"version": MEASUREMENT_VERSION, "roi_names": self.roi_names,
                       "data_sets": self.data_sets, "statistics": list(STATISTICS),
                       "baseline": self.baseline,
                       "pixel_size": None if math.isnan(self.pixel_size) else self.pixel_size})
        out.attrs["record"] = json.dumps(record, default=_json_default, allow_nan=True)
        out.create_dataset("times", data=np.asarray(self.times, dtype=float))
        out.create_dataset("area_px", data=np.asarray(self.area_px, dtype=np.int64))
        for data in self.data_sets:
            for stat in STATISTICS:
                out.create_dataset(f"{data}/{stat}", data=self.values[data][stat])
        out.create_dataset("rois", data=json.dumps(self.rois.to_dict(), indent=1),
                           dtype=h5py.string_dtype("utf-8"))
        write_measure_rois(group, self.rois)


def _number(value: float) -> str:
    value = float(value)
    return "" if math.isnan(value) else repr(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Cannot store {type(value).__name__} in the measurement record")


def read_measurement(group: h5py.Group) -> Measurement | None:
    """The measurement stored in `group` by :meth:`Measurement.write_to`, or None; checked.

    Raises
    ------
    FileFormatError
        A stored measurement that is damaged or inconsistent (one line).
    """
    app = validate.member(group, APP_GROUP)
    stored = validate.member(app, MEASUREMENT_GROUP) if isinstance(app, h5py.Group) else None
    if stored is None:
        return None
    where = validate.object_name(app, MEASUREMENT_GROUP)
    if not isinstance(stored, h5py.Group):
        raise validate.refuse(where, "is not a group")
    record = validate.read_json_text(stored.attrs.get("record"), where, "the measurement record")
    if not isinstance(record, dict):
        raise validate.refuse(where, "its record is not a table of settings")
    version = record.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise validate.refuse(where, f"has an invalid version {version!r:.40}")
    if version > MEASUREMENT_VERSION:
        raise validate.refuse(where, f"is of version {version}; this flimage-app reads up to "
                                     f"{MEASUREMENT_VERSION} — please update")
    rois = _roiset_from_text(validate.member(stored, "rois"),
                             validate.object_name(stored, "rois"))
    names = record.get("roi_names")
    if names != rois.names:
        raise validate.refuse(where, "its ROI names do not match its ROIs")
    times = _stored_array(stored, "times", (1,))
    frames = times.size
    shape = (len(names), frames)
    area = _stored_array(stored, "area_px", (2,), shape)
    data_sets = record.get("data_sets")
    if not isinstance(data_sets, list) or not data_sets or not set(data_sets) <= set(DATA_SETS):
        raise validate.refuse(where, f"names unknown data sets {data_sets!r:.60}")
    values = {data: {stat: _stored_array(stored, f"{data}/{stat}", (2,), shape)
                     for stat in STATISTICS} for data in data_sets}
    baseline = record.get("baseline")
    if baseline is not None and not (isinstance(baseline, list) and baseline and all(
            type(b) is int and 0 <= b < frames for b in baseline)):
        raise validate.refuse(where, f"has invalid baseline frames {baseline!r:.60}")
    pixel_size = record.get("pixel_size")
    if pixel_size is None:
        pixel_size = math.nan
    elif type(pixel_size) not in (int, float) or not pixel_size > 0:
        raise validate.refuse(where, f"has an invalid pixel size {pixel_size!r:.40}")
    return Measurement(roi_names=list(names), times=times, area_px=area,
                       pixel_size=float(pixel_size), values=values, rois=rois,
                       baseline=baseline, record=record)


def _stored_array(group: h5py.Group, name: str, ndims: tuple[int, ...],
                  shape: tuple[int, ...] | None = None) -> np.ndarray:
    where = validate.object_name(group, name)
    dset = validate.check_dataset(validate.member_path(group, name), where, ndims=ndims,
                                  what="a table column", allow_empty=True)
    if ndims == (1,) and dset.shape[0] > MAX_FRAMES:
        raise validate.refuse(where, f"declares {dset.shape[0]:,} frames")
    if shape is not None and tuple(dset.shape) != shape:
        raise validate.refuse(where, f"has shape {dset.shape}, expected {shape}")
    return np.asarray(validate.read_array(dset, where), dtype=float)


def load_measurement(path: str | os.PathLike) -> Measurement:
    """The measurement stored in an HDF5 file (opened read-only).

    Raises
    ------
    FileFormatError
        Not an HDF5 file, or none stored in it.
    """
    try:
        with h5py.File(path, "r") as h5:
            measurement = read_measurement(h5)
    except OSError as exc:
        raise file_open_error(path, exc) from None
    if measurement is None:
        raise FileFormatError(f"{Path(path).name} holds no measurement "
                              f"({APP_GROUP}/{MEASUREMENT_GROUP})")
    return measurement


def parse_frames(text: str, frames: int | None = None) -> list[int]:
    """Frame numbers from text such as ``"0-4"``, ``"0,2,5-7"`` (counted from 0, ranges inclusive).

    Raises
    ------
    ValueError
        Malformed text, or a frame beyond `frames` when given.
    """
    chosen: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        first, dash, last = part.partition("-")
        if not first.strip().isdigit() or (dash and not last.strip().isdigit()):
            raise ValueError(f"frames are written as 0-4 or 0,2,5-7; got {text!r:.60}")
        start, stop = int(first), int(last) if last else int(first)
        if stop < start:
            raise ValueError(f"the range {part} runs backwards")
        if stop - start > MAX_FRAMES:
            raise ValueError(f"the range {part} is too long")
        chosen.update(range(start, stop + 1))
    if frames is not None and max(chosen) >= frames:
        raise ValueError(f"baseline frame {max(chosen)} is beyond the series' last frame "
                         f"({frames - 1})")
    return sorted(chosen)


def _statistics(values: np.ndarray) -> tuple[float, float, float, float, float]:
    """mean, sum, min, max and sample standard deviation of the finite `values`."""
    finite = values[np.isfinite(values)]
    n = finite.size
    if n == 0:
        return (math.nan,) * 5
    total = float(finite.sum())
    mean = total / n
    std = float(np.sqrt(np.sum((finite - mean) ** 2) / (n - 1))) if n > 1 else 0.0
    return mean, total, float(finite.min()), float(finite.max()), std


def _bleach_factors(series, bleach: Any, meta_changes, progress: Progress | None,
                    cancel: Cancel | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Background level and factor per frame of the correction `bleach`, and its settings.

    A correction computed here fits the times with `meta_changes` laid over
    the file's, as the table reports them.
    """
    from .bleach import BleachResult, correct_series

    run = {"progress": progress, "cancel": cancel, "meta_changes": meta_changes}
    if isinstance(bleach, str):
        bleach = correct_series(series, None, bleach, **run)
    elif isinstance(bleach, Mapping):
        bleach = correct_series(series, None, **dict(bleach), **run)
    if not isinstance(bleach, BleachResult):
        raise TypeError(f"bleach must be a method name, correct_series options or a "
                        f"BleachResult, got {type(bleach).__name__}")
    if bleach.method == "histogram":
        raise ValueError("histogram matching changes every pixel differently; measure the "
                         "histogram-corrected series itself (corrected=…, --corrected)")
    settings = {"method": bleach.method, **dict(bleach.settings)}
    return (np.asarray(bleach.background, dtype=float),
            np.asarray(bleach.correction, dtype=float), settings)


def measure_series(series, rois: MeasureROISet, *, corrected=None, bleach: Any = None,
                   baseline: Sequence[int] | None = None, pixel_size: float | None = None,
                   source: str | os.PathLike | None = None,
                   meta_changes: Mapping[int, Mapping[str, Any]] | None = None,
                   progress: Progress | None = None, cancel: Cancel | None = None
                   ) -> Measurement:
    """Measure every ROI on every frame of `series`, one frame in memory at a time.

    Parameters
    ----------
    series : FLSeries, h5py.Group or path
        The series (a path is opened read-only).
    rois : MeasureROISet
        The measurement ROIs (with their per-frame positions).
    corrected : FLSeries, h5py.Group, path or None
        A bleach-corrected copy of `series` (same frames and shape): its
        frames (their ``fl``) are the ``bleach_corrected`` data.
    bleach : str, mapping, BleachResult or None
        Without `corrected`: a bleach correction applied on the fly to the
        background-corrected frames, ``(fl − level) × factor`` per frame as
        :func:`~flimage_app.model.bleach.correct_series` writes them.  A method
        name or a mapping of ``correct_series`` options is computed on
        `series` first (its own passes); a BleachResult is used as it is.
        Histogram matching is refused (not a per-frame factor).
    baseline : sequence of int or None
        Frames whose mean is F₀ of the normalised traces F/F₀ and ΔF/F₀.
    pixel_size : float or None
        Pixel size [m], instead of the frames' "pixel size".
    source : path or None
        The file an in-memory `series` was read from (an imported TIFF stack),
        named in the record instead of the series' own file.
    meta_changes : mapping or None
        ``{frame: {key: value}}`` laid over the file's metadata (edits not yet
        saved, e.g. corrected times in the app): the table's times and pixel
        size follow them, and the record lists them.
    progress, cancel
        See :mod:`flimage_app.model.progress`; the pass is "measuring the ROIs",
        after the passes of a bleach correction computed here.

    Returns
    -------
    Measurement
        Areas and, per data set, mean, sum, min, max and sample std (ImageJ's).

    Raises
    ------
    ValueError
        No ROIs, a corrected series of other frames, baseline frames out of range.
    Cancelled
        `cancel` returned True.
    """
    from .bleach.measure import FrameReader
    from .provenance import InputDescriptions, describe_file

    if not rois.rois:
        raise ValueError("no measurement ROIs to measure")
    if corrected is not None and bleach is not None:
        raise ValueError("give the corrected series or a bleach correction, not both")
    with FrameReader(series, workers=1, meta_changes=meta_changes) as reader:
        frames, shape = len(reader), reader.shape
        if baseline is not None:
            baseline = sorted({int(b) for b in baseline})
            if not baseline or baseline[0] < 0 or baseline[-1] >= frames:
                raise ValueError(f"baseline frames must lie in 0 … {frames - 1}, got "
                                 f"{baseline[:1] + baseline[-1:]}")
        levels = factors = None
        bleach_settings = None
        if bleach is not None:
            levels, factors, bleach_settings = _bleach_factors(series if not isinstance(
                series, (str, os.PathLike)) else reader.h5, bleach, meta_changes, progress,
                cancel)
            if levels.size != frames:
                raise ValueError(f"the bleach correction is of {levels.size} frames, the "
                                 f"series has {frames}")
        size = pixel_size
        if size is None:
            size = reader.meta(0).get("pixel size")
        size = float(size) if size is not None and float(size) > 0 else math.nan
        other = FrameReader(corrected, workers=1) if corrected is not None else None
        inputs = None
        try:
            if other is not None and (len(other), other.shape) != (frames, shape):
                raise ValueError(f"the corrected series has {len(other)} frames of "
                                 f"{other.shape[0]} x {other.shape[1]} px, the measured one "
                                 f"{frames} of {shape[0]} x {shape[1]} px")
            # the files are hashed for the record while the frames are measured
            inputs = InputDescriptions(*(r for r in (reader, other) if r is not None))
            data_sets = list(DATA_SETS[:2])
            if other is not None or factors is not None:
                data_sets.append("bleach_corrected")
            values = {data: {stat: np.full((len(rois), frames), np.nan)
                             for stat in STATISTICS} for data in data_sets}
            area = np.zeros((len(rois), frames), dtype=np.int64)
            shared = {roi.name: np.flatnonzero(roi.mask(shape)) for roi in rois.rois}
            start_pass(progress, PASS_NAME)
            corrected_frames = other.iter_fl() if other is not None else None
            for index, fl in reader.iter_fl():
                if cancel is not None and cancel():
                    raise Cancelled("measurement cancelled")
                stored = list(reader.stored_backgrounds(index))
                background = sum(np.asarray(b, dtype=float) for b in stored) if stored else 0.0
                bleached = next(corrected_frames)[1] if corrected_frames is not None else None
                moved = rois.overrides.get(index, {})
                for r, name in enumerate(rois.names):
                    pixels = (np.flatnonzero(moved[name].mask(shape)) if name in moved
                              else shared[name])
                    area[r, index] = pixels.size
                    fl_values = fl.reshape(-1)[pixels]
                    raw_values = fl_values + (np.broadcast_to(background, shape).reshape(-1)[
                        pixels] if stored else 0.0)
                    samples = {"raw": raw_values, "background_corrected": fl_values}
                    if bleached is not None:
                        samples["bleach_corrected"] = bleached.reshape(-1)[pixels]
                    elif factors is not None:
                        samples["bleach_corrected"] = (fl_values - levels[index]) * factors[index]
                    for data, sample in samples.items():
                        for stat, value in zip(STATISTICS, _statistics(sample), strict=True):
                            values[data][stat][r, index] = value
                if progress is not None:
                    progress(index + 1, frames)
            described = inputs.result()
            record = {"operation": "measurement",
                      "input": (describe_file(source, frames, shape) if source is not None
                                else described[0]),
                      "corrected": described[1] if other is not None else None,
                      "bleach": bleach_settings,
                      "metadata_changes": {str(k): v for k, v in
                                           reader.meta_changes.items()},
                      "stored_background": bool(any(True for _ in reader.stored_backgrounds(0))),
                      "app_version": __version__,
                      "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
            return Measurement(roi_names=rois.names, times=reader.times(), area_px=area,
                               pixel_size=size, values=values, rois=rois, baseline=baseline,
                               record=record)
        finally:
            if inputs is not None:
                inputs.close()
            if other is not None:
                other.close()


__all__ = ["DATA_SETS", "MEASURE_ROI_SUFFIXES", "NORMALISED", "STATISTICS", "MeasureROISet",
           "Measurement", "export_imagej", "load_measure_rois", "load_measurement",
           "measure_series", "next_number_name", "parse_frames", "read_measure_rois",
           "read_measurement", "save_measure_rois_json", "write_measure_rois"]
