"""Import TIFF / NumPy stacks as FLSeries, and export series as TIFF / NumPy stacks.

Import reads, frame by frame (never the whole stack at once):

* ImageJ TIFF and hyperstacks: axes from the ImageJ description, frame
  interval ``finterval`` (in ``tunit``), pixel size from the X resolution in
  the calibration ``unit``; per-frame slice labels ``t=<value> <unit>`` (as
  :func:`export_tiff` writes them) give irregular frame times.
* OME-TIFF: ``PhysicalSizeX``/``PhysicalSizeY`` with their units, per-plane
  ``DeltaT`` or else ``TimeIncrement``.
* Plain multi-page TIFF and single 2-D TIFF: pixel size from the TIFF
  resolution tags when the unit is centimetre, or inch with a value that is
  not a document default (72, 96, 150, 300, 600, 1200 dpi are written by
  image editors whether or not the image is calibrated).
* NumPy ``.npy`` arrays of shape (Y, X) or (T, Y, X) (no metadata).

Frame times are stored in seconds and the pixel size in metres; the
`interval` / `pixel_size` options override the file or supply what it lacks.
What the file lacks and no option supplies is left unset (flimage's "no
value"), and a :class:`MissingCalibrationWarning` says so.

Pixel values are stored as float32, which holds every integer up to
2**24 = 16,777,216 exactly: 8- and 16-bit data always, 32- and 64-bit
integer data after a scan of the stack shows that all values fit.  Integer
stacks with larger values are stored as float64 (exact up to 2**53); beyond
2**53 float64 rounds to the nearest representable value and a warning says
so.  Float64 stacks are stored as float32, flimage's storage type.

Export writes float32 stacks with axes TYX: an ImageJ TIFF (Fiji reads the
frame interval, the pixel size in µm and a ``t=… s`` label per frame) or a
``.npy`` array, streamed through :func:`flimage_app.model.h5io.atomic_output`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import warnings
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import tifffile

from .. import __version__
from . import validate
from .errors import Cancelled, FileFormatError
from .export_report import ExportReport, IntegerConverter
from .fastwrite import FrameWriter
from .flseries import FLSeries
from .h5io import atomic_output, readable_path
from .planes import PlaneStack
from .progress import start_pass

Progress = Callable[[int, int], None] | None
Cancel = Callable[[], bool] | None

TIFF_SUFFIXES: tuple[str, ...] = (".tif", ".tiff")
NPY_SUFFIXES: tuple[str, ...] = (".npy",)
#: exported .npy arrays: little-endian float32, whatever the machine
NPY_DTYPE = np.dtype("<f4")

#: largest integer magnitude float32 / float64 represent exactly
FLOAT32_EXACT_INT = 2**24
FLOAT64_EXACT_INT = 2**53

#: resolutions (dots per inch) that image editors write by default, not calibrations
DOCUMENT_DPI: frozenset[float] = frozenset({72.0, 96.0, 150.0, 300.0, 600.0, 1200.0})

#: length units found in ImageJ and OME metadata → metres
LENGTH_UNITS: dict[str, float] = {
    "m": 1.0, "meter": 1.0, "metre": 1.0, "meters": 1.0, "metres": 1.0,
    "cm": 1e-2, "centimeter": 1e-2, "centimetre": 1e-2,
    "mm": 1e-3, "millimeter": 1e-3, "millimetre": 1e-3,
    "um": 1e-6, "\u00b5m": 1e-6, "\u03bcm": 1e-6, "\\u00b5m": 1e-6, "micron": 1e-6,
    "microns": 1e-6, "micrometer": 1e-6, "micrometre": 1e-6,
    "nm": 1e-9, "nanometer": 1e-9, "nanometre": 1e-9,
    "pm": 1e-12, "\u00e5": 1e-10, "\u212b": 1e-10, "angstrom": 1e-10,
    "in": 0.0254, "inch": 0.0254, "inches": 0.0254,
}
#: ImageJ writes these when a stack has no spatial calibration
UNCALIBRATED_UNITS: frozenset[str] = frozenset({"", "pixel", "pixels", "px"})

#: time units found in ImageJ and OME metadata → seconds
TIME_UNITS: dict[str, float] = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "ms": 1e-3, "msec": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "usec": 1e-6, "microsecond": 1e-6,
    "microseconds": 1e-6, "ns": 1e-9, "nanosecond": 1e-9, "nanoseconds": 1e-9,
    "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}

#: slice label with a time, e.g. "t=1.25 s" (written by export_tiff)
TIME_LABEL = re.compile(r"^\s*t\s*=\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")

#: tifffile log messages that mean the file is damaged, not merely unusual
DAMAGE_SIGNS: tuple[str, ...] = ("invalid page offset", "corrupted", "failed to reshape")

#: axes that index samples of one pixel (RGB) or channels
CHANNEL_AXES = ("C", "S")


class MissingCalibrationWarning(UserWarning):
    """An imported stack lacks frame times or pixel size, or they are ambiguous."""


@dataclass
class StackInfo:
    """What an importable stack holds and how its frames map to a time series.

    Attributes
    ----------
    path : Path
    kind : str
        "ImageJ TIFF", "OME-TIFF", "TIFF" or "NumPy".
    axes : str
        Axes of the stack as stored (tifffile letters, e.g. "TZCYX"; "TYX" for NumPy).
    shape : tuple of int
        Shape along `axes`.
    dtype : numpy.dtype
        Data type of the pixels in the file.
    frame_axis : str or None
        The axis that becomes the series' frames (None: a single image).
    index : dict
        Fixed index of every other non-image axis (channel / plane chosen, else 0).
    times : ndarray or None
        Acquisition time [s] per frame, or None if unknown.
    pixel_size : float or None
        Pixel size [m], or None if unknown.
    notes : list of str
        Things the user should know (missing calibration, choices made).
    problem : str or None
        Why the stack cannot be imported as it is (e.g. channels and Z planes
        to choose from); :func:`import_stack` raises it as FileFormatError.
    """

    path: Path
    kind: str
    axes: str
    shape: tuple[int, ...]
    dtype: np.dtype
    frame_axis: str | None
    index: dict[str, int]
    times: np.ndarray | None = None
    pixel_size: float | None = None
    notes: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def n_frames(self) -> int:
        """Number of frames of the resulting series."""
        return self.shape[self.axes.index(self.frame_axis)] if self.frame_axis else 1

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(rows, columns) of every frame."""
        return (self.shape[self.axes.index("Y")], self.shape[self.axes.index("X")])


# ------------------------------------------------------------------ units
def length_to_metres(value: float, unit: str | None) -> float | None:
    """`value` in `unit` as metres; None for uncalibrated units ("pixel")."""
    key = _unit_key(unit)
    if key in UNCALIBRATED_UNITS:
        return None
    if key not in LENGTH_UNITS:
        raise ValueError(f"unknown length unit {unit!r}")
    return float(value) * LENGTH_UNITS[key]


def time_to_seconds(value: float, unit: str | None) -> float:
    """`value` in `unit` (default seconds) as seconds."""
    key = _unit_key(unit) or "s"
    if key not in TIME_UNITS:
        raise ValueError(f"unknown time unit {unit!r}")
    return float(value) * TIME_UNITS[key]


def _unit_key(unit: str | None) -> str:
    return "" if unit is None else str(unit).strip().lower()


# ------------------------------------------------------------------ axes
def _select_axes(path: Path, axes: str, shape: tuple[int, ...], channel: int | None,
                 plane: int | None) -> tuple[str | None, dict[str, int], list[str], str | None]:
    """Choose the frame axis and the fixed index of the other non-image axes.

    Returns (frame_axis, index, notes, problem); `problem` says why the axes
    do not map to one time series (None if they do).  Raises FileFormatError
    for a `channel` / `plane` the file does not have.
    """
    sizes = {axis: size for axis, size in zip(axes, shape, strict=True) if axis not in "YX"}
    notes: list[str] = []
    index = {axis: 0 for axis in sizes}
    found = ", ".join(f"{axis}={size}" for axis, size in sizes.items()) or "none"
    channel_axis = next((a for a in CHANNEL_AXES if sizes.get(a, 1) > 1), None)
    if channel is not None:
        if channel_axis is None and channel != 0:
            raise FileFormatError(f"{path.name}: channel={channel} asked for, but the file has "
                                  f"no channel axis (axes {found})")
        if channel_axis is not None:
            _check_choice(path, "channel", channel, sizes[channel_axis])
            index[channel_axis] = channel
            channel_axis = None
    if plane is not None:
        if sizes.get("Z", 1) <= 1 and plane != 0:
            raise FileFormatError(f"{path.name}: plane={plane} asked for, but the file has no "
                                  f"Z axis (axes {found})")
        if sizes.get("Z", 1) > 1:
            _check_choice(path, "plane", plane, sizes["Z"])
            index["Z"] = plane
    chosen = {a for a in ("Z",) if plane is not None} | (
        {a for a in CHANNEL_AXES if channel is not None})
    open_axes = [a for a, size in sizes.items() if size > 1 and a not in chosen]
    if "S" in open_axes:
        return None, index, notes, (
            f"{path.name}: the images have {sizes['S']} colour samples per pixel "
            f"(axes {found}); pick one with channel=N (--channel N)")
    if len(open_axes) > 1:
        options = []
        if any(a in CHANNEL_AXES for a in open_axes):
            options.append("a channel with channel=N (--channel N)")
        if "Z" in open_axes:
            options.append("a plane with plane=N (--plane N)")
        hint = "; pick " + " and ".join(options) if options else ""
        return None, index, notes, f"{path.name}: axes {found} do not map to one time series{hint}"
    if not open_axes:
        return None, index, notes, None
    frame_axis = open_axes[0]
    del index[frame_axis]
    if frame_axis == "C":
        notes.append(f"the {sizes['C']} channels are read as frames of a time series; "
                     "pass channel=N (--channel N) to import one channel instead")
    elif frame_axis == "Z":
        notes.append(f"the {sizes['Z']} Z planes are read as frames of a time series")
    return frame_axis, index, notes, None


def _check_choice(path: Path, name: str, value: int, size: int) -> None:
    if not 0 <= value < size:
        raise FileFormatError(f"{path.name}: {name}={value} is out of range; the file has "
                              f"{size} ({name} 0 to {size - 1})")


def _frame_indices(info: StackInfo, frame: int) -> dict[str, int]:
    """Index along every non-image axis of `frame`."""
    index = dict(info.index)
    if info.frame_axis:
        index[info.frame_axis] = frame
    return index


# ------------------------------------------------------------------ inspection
def inspect_stack(path: str | os.PathLike, *, pixel_size: float | None = None,
                  interval: float | None = None, channel: int | None = None,
                  plane: int | None = None) -> StackInfo:
    """Read the layout and calibration of a TIFF or ``.npy`` stack (no pixels).

    Parameters are those of :func:`import_stack`.  A stack whose axes do not
    map to one time series is described all the same, with ``problem`` set.

    Raises
    ------
    FileFormatError
        The file cannot be read, or `channel` / `plane` do not exist in it.
    """
    path = Path(path)
    _check_options(pixel_size, interval)
    suffix = path.suffix.lower()
    if suffix in NPY_SUFFIXES:
        info = _inspect_npy(path, channel, plane)
    elif suffix in TIFF_SUFFIXES:
        info = _inspect_tiff(path, channel, plane)
    else:
        raise FileFormatError(f"{path.name}: not a TIFF (.tif, .tiff) or NumPy (.npy) file")
    if info.problem is not None:
        info.times = None  # times of which frames? the frame axis is not known
    if interval is not None:
        with np.errstate(over="ignore"):
            info.times = interval * np.arange(info.n_frames, dtype=float)
        if not np.all(np.isfinite(info.times)):
            raise FileFormatError(f"{path.name}: a frame interval of {interval:g} s over "
                                  f"{info.n_frames} frames makes the times overflow")
    if pixel_size is not None:
        info.pixel_size = float(pixel_size)
    info.notes += calibration_notes(
        times_missing=info.times is None and info.n_frames > 1 and info.problem is None,
        pixel_size_missing=info.pixel_size is None)
    return info


def calibration_notes(times_missing: bool, pixel_size_missing: bool) -> list[str]:
    """What to tell the user of a stack without frame times or pixel size, and how to give them."""
    notes = []
    if times_missing:
        notes.append("the file holds no frame times; they are left unset "
                     "(give the frame interval with interval=S / --interval S)")
    if pixel_size_missing:
        notes.append("the file holds no pixel size; it is left unset "
                     "(give it with pixel_size=M / --pixel-size M, in metres)")
    return notes


def _check_options(pixel_size: float | None, interval: float | None) -> None:
    if pixel_size is not None and not (math.isfinite(pixel_size) and pixel_size > 0):
        raise FileFormatError(f"pixel size must be a positive number of metres, got {pixel_size}")
    if interval is not None and not (math.isfinite(interval) and interval > 0):
        raise FileFormatError(f"frame interval must be a positive number of seconds, "
                              f"got {interval}")


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """(shape, dtype, fortran order, data offset) from a ``.npy`` header, checked.

    Nothing but the header is read: the shape must be non-negative, the type a
    real number type, and the file must hold the bytes the header declares.
    """
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            reader = {(1, 0): np.lib.format.read_array_header_1_0,
                      (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if reader is None:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, fortran, dtype = reader(handle, max_header_size=2**16)
            offset = handle.tell()
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileFormatError(f"{path.name}: not a readable NumPy .npy array ({reason})") from None
    shape = tuple(shape)
    if dtype.hasobject:
        raise FileFormatError(f"{path.name}: not a readable NumPy .npy array (it holds Python "
                              "objects, which are never loaded)")
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise FileFormatError(f"{path.name}: the .npy header declares an invalid shape {shape}")
    _check_dtype(path, dtype)
    if any(n == 0 for n in shape):
        raise FileFormatError(f"{path.name}: the .npy array is empty (shape {shape})")
    needed = math.prod(shape) * dtype.itemsize
    available = path.stat().st_size - offset
    if needed > available:
        raise FileFormatError(f"{path.name}: the .npy header declares {needed:,} bytes of data "
                              f"(shape {shape}), the file holds {available:,}; truncated?")
    return shape, dtype, fortran, offset


def _open_npy(path: Path) -> np.ndarray:
    """The array of a checked ``.npy`` file, memory-mapped (nothing is loaded)."""
    shape, dtype, fortran, offset = _npy_header(path)
    try:
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                         order="F" if fortran else "C")
    except (ValueError, OSError, OverflowError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileFormatError(f"{path.name}: not a readable NumPy .npy array ({reason})") from None


def _inspect_npy(path: Path, channel: int | None, plane: int | None) -> StackInfo:
    shape, dtype, _, _ = _npy_header(path)
    if len(shape) not in (2, 3):
        raise FileFormatError(f"{path.name}: a .npy stack must have shape (Y, X) or (T, Y, X), "
                              f"got shape {shape}")
    if channel not in (None, 0) or plane not in (None, 0):
        raise FileFormatError(f"{path.name}: .npy arrays have no channel or Z axis to choose from")
    validate.check_frame_pixels(shape[-2:], path.name)
    axes = "TYX" if len(shape) == 3 else "YX"
    frame_axis = "T" if len(shape) == 3 else None
    return StackInfo(path, "NumPy", axes, shape, dtype, frame_axis, {})


def _check_dtype(path: Path, dtype: np.dtype) -> None:
    if dtype.kind not in "biuf":
        raise FileFormatError(f"{path.name}: pixel type {dtype} is not a real number type")


def _open_tiff(path: Path) -> tifffile.TiffFile:
    try:
        return tifffile.TiffFile(path)
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such file") from None
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileFormatError(f"{path.name}: not a readable TIFF file ({reason})") from None


def _image_series(path: Path, tif: tifffile.TiffFile) -> tifffile.TiffPageSeries:
    if not tif.series:
        raise FileFormatError(f"{path.name}: the TIFF file holds no images")
    series = tif.series[0]
    page_axes = series.keyframe.axes
    if not series.axes.endswith(page_axes) or page_axes not in ("YX", "YXS"):
        raise FileFormatError(f"{path.name}: unsupported TIFF layout (axes {series.axes}, "
                              f"image axes {page_axes})")
    return series


def _stack_axes(path: Path, axes: str, shape: tuple[int, ...]
                ) -> tuple[str, tuple[int, ...], str | None, str | None]:
    """Axes and shape with stack axes of unknown meaning merged into one axis "I".

    tifffile names the axes of a plain N-D TIFF "Q" (unknown) and repeats the
    letter ("QQYX" for a (2, 10, Y, X) array); letters are not unique keys
    then.  When repeated axes are the only ones with more than one entry, all
    stack axes are merged into one axis "I" of every image in file order, so
    no image is dropped; repeated axes beside another open axis are a
    problem.  Returns (axes, shape, note, problem).
    """
    stack = [(a, n) for a, n in zip(axes, shape, strict=True) if a not in "YXS"]
    if axes[:len(stack)] != "".join(a for a, _ in stack):
        return axes, shape, None, None  # image axes between stack axes: left to tifffile
    letters = [a for a, _ in stack]
    unknown = {a for a in letters if letters.count(a) > 1}
    open_axes = [(a, n) for a, n in stack if n > 1]
    if not any(a in unknown for a, _ in open_axes):
        return axes, shape, None, None
    found = " x ".join(f"{a}={n}" for a, n in stack)
    if any(a not in unknown for a, _ in open_axes):
        return axes, shape, None, (f"{path.name}: axes {found} do not map to one time series "
                                   "(axes with the same letter have no known meaning)")
    count = math.prod(n for _, n in stack)
    note = (f"the {count} images (axes {found}) are read as frames in file order")
    return "I" + axes[len(stack):], (count, *shape[len(stack):]), note, None


def _check_ome_claims(path: Path, tif: tifffile.TiffFile) -> None:
    """Refuse OME-XML whose sizes would make tifffile allocate more than the file holds.

    tifffile sizes an OME series from the XML (and pads missing planes with
    zeros), so false SizeX / SizeY / SizeT… are checked before the series is built.
    """
    xml = tif.pages.first.description or ""
    if len(xml) > validate.MAX_JSON_BYTES:
        raise FileFormatError(f"{path.name}: OME-XML of {len(xml):,} characters is too long")
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return  # tifffile reads it as a plain TIFF
    pages = len(tif.pages)
    for pixels in (e for e in root.iter() if _local_name(e.tag) == "Pixels"):
        try:
            sizes = {axis: int(pixels.attrib.get(f"Size{axis}", 1)) for axis in "XYCZT"}
        except ValueError as exc:
            raise FileFormatError(f"{path.name}: OME-XML has an invalid size ({exc})") from None
        if any(n < 1 for n in sizes.values()):
            raise FileFormatError(f"{path.name}: OME-XML declares a size below 1 ({sizes})")
        validate.check_frame_pixels((sizes["Y"], sizes["X"]), f"{path.name}: OME-XML")
        planes = sizes["C"] * sizes["Z"] * sizes["T"]
        if planes > pages:
            raise FileFormatError(f"{path.name}: the OME-XML describes {planes:,} planes, the "
                                  f"file holds {pages:,} images (part of a multi-file OME "
                                  "dataset, or false metadata)")


@contextlib.contextmanager
def _tifffile_messages() -> Iterator[list[str]]:
    """Collect tifffile's log warnings (instead of letting them reach stderr raw)."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # drop the "<tifffile.TiffFile 'name.tif'>" prefix: the caller names the file
            messages.append(re.sub(r"^<[^>]*>\s*", "", record.getMessage()))

    log = logging.getLogger("tifffile")
    handler, propagate = Collect(logging.WARNING), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield messages
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


def _inspect_tiff(path: Path, channel: int | None, plane: int | None) -> StackInfo:
    with _tifffile_messages() as messages:
        info = _read_tiff_layout(path, channel, plane)
    damage = [m for m in messages if any(sign in m for sign in DAMAGE_SIGNS)]
    if damage:
        raise FileFormatError(f"{path.name}: damaged or truncated TIFF file ({damage[0]})")
    info.notes.extend(f"tifffile: {message}" for message in dict.fromkeys(messages))
    return info


def _read_tiff_layout(path: Path, channel: int | None, plane: int | None) -> StackInfo:
    with _open_tiff(path) as tif:
        if tif.is_ome:
            _check_ome_claims(path, tif)
        series = _image_series(path, tif)
        _check_dtype(path, series.dtype)
        axes, shape, axes_note, axes_problem = _stack_axes(path, series.axes,
                                                            tuple(series.shape))
        validate.check_frame_pixels(shape[axes.index("Y"):axes.index("X") + 1], path.name)
        frame_axis, index, notes, problem = _select_axes(path, axes, shape, channel, plane)
        if axes_note:
            notes.append(axes_note)
        problem = axes_problem or problem
        kind = "OME-TIFF" if tif.is_ome else "ImageJ TIFF" if tif.is_imagej else "TIFF"
        info = StackInfo(path, kind, axes, shape, series.dtype, frame_axis, index, notes=notes,
                         problem=problem)
        if len(tif.series) > 1:
            info.notes.append(f"the file holds {len(tif.series)} image series; "
                              "the first is imported")
        page = series.keyframe
        if tif.is_ome:
            _read_ome_calibration(info, tif.ome_metadata or "")
        elif tif.is_imagej:
            _read_imagej_calibration(info, tif.imagej_metadata or {}, page)
        else:
            info.pixel_size = _tiff_resolution_pixel_size(page)
        return info


def _pixel_size_from_resolution(resolution: tuple[float, float],
                                unit_metres: float) -> float | None:
    x_per_unit = resolution[0]
    if not (x_per_unit and math.isfinite(x_per_unit) and x_per_unit > 0):
        return None
    return tidy_length(unit_metres / x_per_unit)


def tidy_length(metres: float) -> float:
    """Round to 12 significant digits.

    Unit conversions such as 0.2 * 1e-9 leave binary noise in the last digits
    (2.0000000000000003e-10), which would show up in every display of the
    pixel size; no calibration is known to 12 digits.
    """
    return float(f"{metres:.12g}")


def _tiff_resolution_pixel_size(page) -> float | None:
    unit = int(page.resolutionunit or 1)
    resolution = page.resolution
    if unit == tifffile.RESUNIT.CENTIMETER:
        return _pixel_size_from_resolution(resolution, 1e-2)
    if unit == tifffile.RESUNIT.INCH and float(resolution[0]) not in DOCUMENT_DPI:
        return _pixel_size_from_resolution(resolution, 0.0254)
    return None


def _read_imagej_calibration(info: StackInfo, meta: dict, page) -> None:
    unit = meta.get("unit")
    try:
        unit_metres = length_to_metres(1.0, unit)
    except ValueError:
        info.notes.append(f"unknown ImageJ length unit {unit!r}; pixel size ignored")
        unit_metres = None
    if unit_metres is not None:
        info.pixel_size = _pixel_size_from_resolution(page.resolution, unit_metres)
    info.times = _times_from_labels(info, meta.get("Labels"))
    if info.times is None and meta.get("finterval"):
        try:
            step = time_to_seconds(float(meta["finterval"]), meta.get("tunit"))
        except ValueError:
            info.notes.append(f"unknown ImageJ time unit {meta.get('tunit')!r}; "
                              "frame interval ignored")
        else:
            if step > 0:
                info.times = step * np.arange(info.n_frames, dtype=float)


def _page_index(info: StackInfo, frame: int) -> int:
    """Index of the page (= ImageJ image / label) that holds `frame`."""
    index = _frame_indices(info, frame)
    stack_axes = [(a, s) for a, s in zip(info.axes, info.shape, strict=True) if a not in "YXS"]
    coordinates = [index.get(a, 0) for a, _ in stack_axes]
    return int(np.ravel_multi_index(coordinates, [s for _, s in stack_axes])) if stack_axes else 0


def _times_from_labels(info: StackInfo, labels) -> np.ndarray | None:
    """Frame times from slice labels "t=<value> <unit>", if every frame has one."""
    if not labels or isinstance(labels, str):
        return None
    times = np.empty(info.n_frames)
    for frame in range(info.n_frames):
        page = _page_index(info, frame)
        text = str(labels[page]) if page < len(labels) else ""
        named = HYPERSTACK_LABEL.match(text)  # "<channel>, t=<time> s" of a hyperstack
        match = TIME_LABEL.match(named.group("time") if named else text)
        if match is None:
            return None
        try:
            times[frame] = time_to_seconds(float(match.group(1)), match.group(2) or "s")
        except ValueError:
            return None
    return times


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _ome_pixels(xml: str, notes: list[str]) -> ElementTree.Element | None:
    """The first Pixels element of an OME-XML text; None (with a note if unreadable)."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        notes.append(f"unreadable OME-XML ({exc}); no calibration read")
        return None
    return next((e for e in root.iter() if _local_name(e.tag) == "Pixels"), None)


def _read_ome_calibration(info: StackInfo, xml: str) -> None:
    pixels = _ome_pixels(xml, info.notes)
    if pixels is None:
        return
    attrs = pixels.attrib
    try:
        info.pixel_size = _ome_pixel_size(info, attrs)
    except ValueError as exc:
        info.notes.append(f"OME pixel size ignored: {exc}")
    planes = [e.attrib for e in pixels if _local_name(e.tag) == "Plane"]
    try:
        info.times = _ome_plane_times(info, planes)
        if info.times is None and attrs.get("TimeIncrement"):
            step = time_to_seconds(float(attrs["TimeIncrement"]), attrs.get("TimeIncrementUnit"))
            if step > 0:
                info.times = step * np.arange(info.n_frames, dtype=float)
    except ValueError as exc:
        info.notes.append(f"OME frame times ignored: {exc}")


def _ome_pixel_size(info: StackInfo, attrs: dict) -> float | None:
    if "PhysicalSizeX" not in attrs:
        return None
    # OME's default length unit is the micrometre
    size_x = length_to_metres(float(attrs["PhysicalSizeX"]), attrs.get("PhysicalSizeXUnit", "µm"))
    if "PhysicalSizeY" in attrs:
        size_y = length_to_metres(float(attrs["PhysicalSizeY"]),
                                  attrs.get("PhysicalSizeYUnit", "µm"))
        if size_x and size_y and not math.isclose(size_x, size_y, rel_tol=1e-6):
            info.notes.append(f"pixels are not square ({size_x:g} m × {size_y:g} m); "
                              "the X size is used as pixel size")
    return tidy_length(size_x) if size_x and size_x > 0 else None


def _ome_plane_times(info: StackInfo, planes: list[dict]) -> np.ndarray | None:
    """Per-frame DeltaT of the planes of the chosen channel / Z, if every frame has one."""
    if not planes:
        return None
    delta_t: dict[tuple[int, int, int], float] = {}
    for plane in planes:
        if "DeltaT" not in plane:
            continue
        key = (int(plane.get("TheT", 0)), int(plane.get("TheZ", 0)), int(plane.get("TheC", 0)))
        delta_t[key] = time_to_seconds(float(plane["DeltaT"]), plane.get("DeltaTUnit"))
    times = np.empty(info.n_frames)
    for frame in range(info.n_frames):
        index = _frame_indices(info, frame)
        key = (index.get("T", 0), index.get("Z", 0), index.get("C", 0))
        if key not in delta_t:
            return None
        times[frame] = delta_t[key]
    return times


def stack_summary(path: str | os.PathLike, **layout: Any) -> dict:
    """Summary of a stack for ``flimage-app info``, from its metadata only (no pixels).

    Keys as :func:`flimage_app.model.loader.describe` (path, kind, frames,
    shape, dtype, time_range, pixel_size) plus ``axes`` (as stored), ``notes``
    and ``problem`` (why it cannot be imported as it is, or None).  `layout`:
    ``pixel_size``, ``interval``, ``channel``, ``plane`` as for :func:`inspect_stack`.
    """
    info = inspect_stack(path, **layout)
    times = info.times
    valid = times[np.isfinite(times)] if times is not None else np.array([])
    return {
        "path": str(path), "kind": info.kind,
        "axes": " x ".join(f"{a}={n}" for a, n in zip(info.axes, info.shape, strict=True)),
        "frames": None if info.problem else info.n_frames, "shape": info.frame_shape,
        "dtype": str(info.dtype),
        "time_range": (float(valid.min()), float(valid.max())) if valid.size else None,
        "pixel_size": info.pixel_size, "notes": info.notes, "problem": info.problem,
    }


# ------------------------------------------------------------------ hyperstacks as planes
#: the label :func:`flimage_app.model.hyperstack_export.export_hyperstack_tiff` gives every
#: image of a hyperstack: "<channel name>, t=<time> s"
HYPERSTACK_LABEL = re.compile(r"^(?P<name>.*), (?P<time>t\s*=.*)$")


def inspect_planes(path: str | os.PathLike) -> PlaneStack:
    """A TIFF of any layout (ImageJ hyperstack, OME-TIFF, plain stack) as a PlaneStack.

    The T, C and Z axes map to the stack's axes (a plain stack's images are
    its time points); channel names and colours, the Z step, the pixel size
    and the times per time point come from the ImageJ or OME metadata (as
    :func:`inspect_stack` reads them).  Planes are read one at a time, from a
    memory map where the file allows it.  The stack holds the file open until
    :meth:`~flimage_app.model.planes.PlaneStack.release`.

    Raises
    ------
    FileFormatError
        Not a readable TIFF, or axes that are not T, C and Z (colour samples:
        pick one with ``channel=N`` and :func:`import_stack`).
    """
    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise FileFormatError(f"{path.name}: not a TIFF (.tif, .tiff) file")
    info = _inspect_tiff(path, None, None)
    stack_axes = [(a, n) for a, n in zip(info.axes, info.shape, strict=True) if a not in "YXS"]
    sizes = {"T": 1, "C": 1, "Z": 1}
    for axis, size in stack_axes:
        letter = "T" if axis in ("I", "Q") else axis
        if letter not in sizes or (size > 1 and sizes[letter] > 1):
            if size > 1:
                raise FileFormatError(f"{path.name}: axis {axis}={size} is not time, channel "
                                      f"or Z (axes {info.axes})")
            continue
        sizes[letter] = size
    if dict(zip(info.axes, info.shape, strict=True)).get("S", 1) > 1:
        raise FileFormatError(f"{path.name}: the images have colour samples (axes "
                              f"{info.axes}); pick one with channel=N (--channel N)")
    letters = ["T" if a in ("I", "Q") else a for a, _ in stack_axes]
    shape = [n for _, n in stack_axes]

    def page(t: int, c: int, z: int) -> int:
        if not stack_axes:
            return 0
        where = {"T": t, "C": c, "Z": z}
        return int(np.ravel_multi_index([where[a] if n > 1 else 0
                                         for a, n in zip(letters, shape, strict=True)], shape))

    notes = [n for n in info.notes if "read as frames of a time series" not in n]
    planes = PlaneStack(path=path, kind=info.kind, dtype=info.dtype,
                        sizes={**sizes, "Y": info.frame_shape[0], "X": info.frame_shape[1]},
                        read_plane=lambda t, c, z: None, pixel_size=info.pixel_size,
                        notes=notes)
    with _tifffile_messages(), _open_tiff(path) as tif:
        if tif.is_ome:
            _ome_planes_metadata(planes, tif.ome_metadata or "", page)
        elif tif.is_imagej:
            _imagej_planes_metadata(planes, tif.imagej_metadata or {}, page)
    files = contextlib.ExitStack()
    opened = files.enter_context(open_stack(info))

    def read(t: int, c: int, z: int) -> np.ndarray:
        number = page(t, c, z)
        if isinstance(opened, np.ndarray):
            return np.array(opened[number], dtype=opened.dtype.newbyteorder("="))
        return read_tiff_page(info, opened, number, f"plane t={t}, c={c}, z={z}")

    planes.read_plane = read
    planes.close = files.close
    planes.notes += calibration_notes(times_missing=planes.times is None and sizes["T"] > 1,
                                      pixel_size_missing=planes.pixel_size is None)
    return planes


def _times_or_none(planes: PlaneStack, times: list[float] | None, source: str) -> None:
    if times is not None and len(times) == planes.sizes["T"] and all(
            math.isfinite(t) for t in times):
        planes.times = np.asarray(times, dtype=float)
        planes.time_source = source


def _imagej_planes_metadata(planes: PlaneStack, meta: dict, page) -> None:
    """Times, channel names and colours, Z step of an ImageJ hyperstack."""
    sizes = planes.sizes
    labels = meta.get("Labels")
    labels = list(labels) if isinstance(labels, (list, tuple)) else []

    def label(t: int, c: int, z: int) -> str | None:
        number = page(t, c, z)
        return str(labels[number]) if number < len(labels) else None

    times: list[float] | None = []
    for t in range(sizes["T"]):
        text = label(t, 0, 0) or ""
        named = HYPERSTACK_LABEL.match(text)
        match = TIME_LABEL.match(named.group("time") if named else text)
        try:
            times.append(time_to_seconds(float(match.group(1)), match.group(2) or "s"))
        except (AttributeError, ValueError):
            times = None
            break
    _times_or_none(planes, times, "plane time stamps")
    if planes.times is None and meta.get("finterval"):
        try:
            step = time_to_seconds(float(meta["finterval"]), meta.get("tunit"))
        except (TypeError, ValueError):
            planes.notes.append(f"unknown ImageJ time unit {meta.get('tunit')!r}; frame "
                                "interval ignored")
        else:
            if step > 0:
                _times_or_none(planes, list(step * np.arange(sizes["T"])), "frame interval")
    names = []
    for c in range(sizes["C"]):
        named = HYPERSTACK_LABEL.match(label(0, c, 0) or "")
        names.append(named.group("name").strip() if named else "")
    if all(names) and sizes["C"] > 0:
        planes.channel_names = names
    luts = meta.get("LUTs")
    if isinstance(luts, (list, tuple)) and len(luts) == sizes["C"]:
        planes.channel_colours = [_lut_colour(lut) for lut in luts]
    if sizes["Z"] > 1 and meta.get("spacing"):
        try:
            planes.z_step = length_to_metres(float(meta["spacing"]), meta.get("unit"))
        except (TypeError, ValueError):
            planes.notes.append("the ImageJ Z spacing has an unknown unit; ignored")


def _lut_colour(lut) -> str | None:
    """The colour of an ImageJ LUT: its brightest entry, as "#rrggbb"."""
    table = np.asarray(lut)
    if table.shape != (3, 256) or table.dtype.kind not in "ui":
        return None
    red, green, blue = (int(v) for v in table[:, 255])
    return f"#{red:02x}{green:02x}{blue:02x}"


def _ome_colour(value: str | None) -> str | None:
    """OME's Color (a signed 32-bit RGBA integer) as "#rrggbb"."""
    if value is None:
        return None
    try:
        rgba = int(value) & 0xFFFFFFFF
    except ValueError:
        return None
    return f"#{rgba >> 24 & 0xFF:02x}{rgba >> 16 & 0xFF:02x}{rgba >> 8 & 0xFF:02x}"


def _ome_planes_metadata(planes: PlaneStack, xml: str, page) -> None:
    """Times per time point, channel names and colours, Z step of an OME-TIFF."""
    pixels = _ome_pixels(xml, planes.notes)
    if pixels is None:
        return
    attrs, sizes = pixels.attrib, planes.sizes
    channels = [e.attrib for e in pixels if _local_name(e.tag) == "Channel"]
    if len(channels) == sizes["C"]:
        names = [str(channel.get("Name") or "").strip() for channel in channels]
        if all(names):
            planes.channel_names = names
        planes.channel_colours = [_ome_colour(channel.get("Color")) for channel in channels]
    try:
        delta_t = {}
        for plane in (e.attrib for e in pixels if _local_name(e.tag) == "Plane"):
            if "DeltaT" in plane and int(plane.get("TheC", 0)) == 0 \
                    and int(plane.get("TheZ", 0)) == 0:
                delta_t[int(plane.get("TheT", 0))] = time_to_seconds(
                    float(plane["DeltaT"]), plane.get("DeltaTUnit"))
        if len(delta_t) == sizes["T"] and set(delta_t) == set(range(sizes["T"])):
            _times_or_none(planes, [delta_t[t] for t in range(sizes["T"])],
                           "plane time stamps")
        if planes.times is None and attrs.get("TimeIncrement"):
            step = time_to_seconds(float(attrs["TimeIncrement"]), attrs.get("TimeIncrementUnit"))
            if step > 0:
                _times_or_none(planes, list(step * np.arange(sizes["T"])), "frame interval")
        if sizes["Z"] > 1 and "PhysicalSizeZ" in attrs:
            step = length_to_metres(float(attrs["PhysicalSizeZ"]),
                                    attrs.get("PhysicalSizeZUnit", "µm"))
            planes.z_step = tidy_length(step) if step and step > 0 else None
    except ValueError as exc:
        planes.notes.append(f"OME times or Z step ignored: {exc}")


# ------------------------------------------------------------------ reading frames
def iter_frames(info: StackInfo) -> Iterator[np.ndarray]:
    """Yield the frames of a stack described by `info`, one 2-D array at a time."""
    if info.kind == "NumPy":
        array = _open_npy(info.path)
        for frame in range(info.n_frames):
            yield np.asarray(array[frame] if array.ndim == 3 else array)
        return
    with _tifffile_messages(), _open_tiff(info.path) as tif:
        for frame in range(info.n_frames):
            yield read_tiff_frame(info, tif, frame)


@contextlib.contextmanager
def open_stack(info: StackInfo) -> Iterator[tifffile.TiffFile | np.ndarray]:
    """The stack of `info` open for :func:`read_stack_frame`: a TiffFile or a mapped array.

    An uncompressed TIFF whose pages lie one after the other (as ImageJ and
    tifffile write stacks) is memory-mapped as pages × rows × columns:
    reading a frame is then a copy, without parsing its page again.
    """
    if info.kind == "NumPy":
        yield _open_npy(info.path)
        return
    with _tifffile_messages(), _open_tiff(info.path) as tif:
        pages = _mapped_pages(tif)
        yield tif if pages is None else pages


def _mapped_pages(tif: tifffile.TiffFile) -> np.ndarray | None:
    """The pages of an uncompressed, contiguous one-sample TIFF series as a memory map, or None."""
    try:
        series = tif.series[0]
        page = series.keyframe
        if (series.dataoffset is None or int(page.compression) != 1
                or page.samplesperpixel != 1 or page.dtype is None
                or page.dtype.kind not in "biuf" or len(page.shape) != 2):
            return None
        dtype = np.dtype(page.dtype).newbyteorder(tif.byteorder)
        count = len(series.pages)
        return np.memmap(tif.filehandle.path, dtype=dtype, mode="r",
                         offset=series.dataoffset, shape=(count, *page.shape))
    except (ValueError, OSError, TypeError, AttributeError, IndexError):
        return None  # e.g. shorter than it claims: read page by page, with the checks


def read_stack_frame(info: StackInfo, stack: tifffile.TiffFile | np.ndarray,
                     frame: int) -> np.ndarray:
    """Frame `frame` of the stack `info` (`stack` from :func:`open_stack`), as stored."""
    if isinstance(stack, np.ndarray):
        if info.kind == "NumPy":
            return np.array(stack[frame] if stack.ndim == 3 else stack)
        return np.array(stack[_page_index(info, frame)], dtype=stack.dtype.newbyteorder("="))
    return read_tiff_frame(info, stack, frame)


def read_tiff_frame(info: StackInfo, tif: tifffile.TiffFile, frame: int) -> np.ndarray:
    """Frame `frame` of the TIFF stack `info` (`tif` open), its compressed strips checked first."""
    return read_tiff_page(info, tif, _page_index(info, frame), f"frame {frame}")


def read_tiff_page(info: StackInfo, tif: tifffile.TiffFile, page: int, what: str) -> np.ndarray:
    """Image `page` of the TIFF `info` (`tif` open), its compressed strips checked first.

    `what` names the image in a refusal ("frame 3", "plane t=2, c=1, z=0").
    """
    pages = tif.series[0].pages
    try:
        if page < len(pages) and pages[page] is not None:
            _check_page_streams(info.path, tif, pages[page], what)
        image = tif.asarray(key=page, series=0)
    except FileFormatError:
        raise
    except (tifffile.TiffFileError, ValueError, OSError, IndexError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileFormatError(f"{info.path.name}: {what} cannot be read ({reason})") from None
    if image.ndim == 3:  # samples (RGB) last
        image = image[..., info.index.get("S", 0)]
    return image


#: TIFF compression codes whose decoders inflate without a bound: deflate (8, 32946), LZMA
_UNBOUNDED_CODECS = {8: "deflate", 32946: "deflate", 34925: "LZMA"}


def _check_page_streams(path: Path, tif: tifffile.TiffFile, page, what: str) -> None:
    """Refuse a page whose compressed strips or tiles inflate beyond the page's size.

    tifffile (without imagecodecs) inflates each strip completely before it
    cuts it to size, so a crafted strip of a few megabytes could take
    gigabytes; each one is inflated here first, in bounded steps.
    """
    keyframe = getattr(page, "keyframe", None) or page
    codec = _UNBOUNDED_CODECS.get(int(keyframe.compression))
    if codec is None:
        return
    limit = int(keyframe.nbytes)
    where = f"{path.name}: {what}"
    handle = tif.filehandle
    for offset, count in zip(page.dataoffsets, page.databytecounts, strict=False):
        if not count:
            continue
        handle.seek(offset)
        data = handle.read(min(int(count), handle.size))
        if codec == "deflate":
            validate.inflated_size(data, limit, where)
        else:
            _lzma_size(data, limit, where)


def _lzma_size(data: bytes, limit: int, where: str) -> None:
    import lzma

    try:
        out = lzma.LZMADecompressor().decompress(data, max_length=limit + 1)
    except lzma.LZMAError:
        return  # damage: tifffile reports it
    if len(out) > limit:
        raise FileFormatError(f"{where}: a compressed strip inflates beyond the image's "
                              f"{limit:,} bytes (a decompression bomb?)")


def storage_dtype(info: StackInfo, frames: Callable[[], Iterator[np.ndarray]]) -> str:
    """HDF5 storage type that keeps every value of the stack (see the module notes).

    `frames` is called only for 32- and 64-bit integer stacks, whose values are
    scanned to see whether they fit float32.
    """
    return lossless_float_type(info.dtype, frames, info.path.name)


def lossless_float_type(dtype: np.dtype, images: Callable[[], Iterable[np.ndarray]],
                        name: str) -> str:
    """"float32" if it holds every value of `images` (pixels of type `dtype`) exactly,
    else "float64" (with a warning naming the file `name` beyond 2**53).

    `images` is called only for 32- and 64-bit integer types, whose values are scanned.
    """
    if dtype.kind in "bf" or dtype.itemsize <= 2:
        return "float32"
    largest = 0
    for image in images():
        if image.size:
            largest = max(largest, abs(int(image.max())), abs(int(image.min())))
    if largest <= FLOAT32_EXACT_INT:
        return "float32"
    if largest > FLOAT64_EXACT_INT:
        warnings.warn(f"{name}: values up to {largest} exceed 2**53 and are rounded "
                      "to the nearest float64", MissingCalibrationWarning, stacklevel=4)
    return "float64"


# ------------------------------------------------------------------ import
def import_stack(path: str | os.PathLike, *, pixel_size: float | None = None,
                 interval: float | None = None, channel: int | None = None,
                 plane: int | None = None, h5file=None, overwrite: bool = False,
                 progress: Progress = None, cancel: Cancel = None) -> FLSeries:
    """Import a TIFF or ``.npy`` stack as an FLSeries.

    Parameters
    ----------
    path : path
        ImageJ TIFF / hyperstack, OME-TIFF, plain or single-image TIFF, or ``.npy``.
    pixel_size : float, optional
        Pixel size [m]; overrides the file's calibration.
    interval : float, optional
        Frame interval [s]; frame *i* gets the time ``i * interval``,
        overriding the file's times.
    channel, plane : int, optional
        0-based channel (or colour sample) and Z plane to import from stacks
        with several channels / planes.
    h5file : None, path or h5py.Group
        None keeps the series in memory.  A path creates that HDF5 file
        through :func:`~flimage_app.model.h5io.atomic_output` (so a failed or
        cancelled import leaves nothing there) and returns the finished file
        opened with mode "r+", with a provenance record of the import
        (:mod:`~flimage_app.model.provenance`); an existing file is replaced
        only with `overwrite`.  A group is filled directly (the caller owns it).
    overwrite : bool
        Allow replacing an existing `h5file` path.
    progress : callable(done, total), optional
    cancel : callable() -> bool, optional
        Polled before every frame; True stops the import with :class:`Cancelled`.

    Returns
    -------
    FLSeries
        Frames with "time" [s] and "pixel size" [m] where known; the series
        identifier is the source file name.  Missing calibration is reported
        as :class:`MissingCalibrationWarning`.

    Raises
    ------
    FileFormatError
        Unreadable file, unsupported pixel type, or axes that do not map to
        one time series (the message names the axes and the option to use).
    FileExistsError
        `h5file` exists and `overwrite` is False.
    Cancelled
    """
    info = inspect_stack(path, pixel_size=pixel_size, interval=interval, channel=channel,
                         plane=plane)
    if info.problem is not None:
        raise FileFormatError(info.problem)
    for note in info.notes:
        warnings.warn(f"{info.path.name}: {note}", MissingCalibrationWarning, stacklevel=2)
    if isinstance(h5file, (str, os.PathLike)):
        from .provenance import describe_file, import_record, write_provenance

        parameters = {"pixel_size": pixel_size, "interval": interval, "channel": channel,
                      "plane": plane}
        with atomic_output(h5file, overwrite=overwrite) as temporary:
            with h5py.File(temporary, "w") as h5:
                write_frames(h5, info, progress, cancel)
                inputs = [describe_file(info.path, info.n_frames, info.frame_shape)]
                write_provenance(h5, import_record(info.kind, parameters, inputs))
        return FLSeries(h5file=readable_path(h5file), h5mode="r+")
    series = FLSeries(h5file=h5file)
    try:
        # written beside the FLSeries object, before it has counted its frames
        write_frames(series.h5, info, progress, cancel)
    except BaseException:
        series.close()
        raise
    return series


def write_frames(group: h5py.Group, info: StackInfo, progress: Progress = None,
                 cancel: Cancel = None) -> None:
    """Append the frames of the stack `info`, with their metadata, to the series root `group`.

    Frames are compressed on a thread pool
    (:class:`~flimage_app.model.fastwrite.FrameWriter`) while the next ones are read.
    """
    total = info.n_frames

    def counted(name: str) -> Callable[[], Iterator[np.ndarray]]:
        def frames() -> Iterator[np.ndarray]:
            start_pass(progress, name)
            for done, image in enumerate(iter_frames(info), start=1):
                if cancel is not None and cancel():
                    raise Cancelled("Import cancelled")
                yield image
                if progress is not None:
                    progress(done, total)
        return frames

    # wide integers are scanned first for the largest value (see storage_dtype)
    h5dtype = storage_dtype(info, counted("scanning"))
    group.attrs["identifier"] = info.path.name
    with FrameWriter(group, dtype=h5dtype) as writer:
        for frame, image in enumerate(counted("importing")()):
            meta: dict[str, float] = {}
            if info.times is not None:
                meta["time"] = float(info.times[frame])
            if info.pixel_size is not None:
                meta["pixel size"] = info.pixel_size
            writer.submit(image, meta)


# ------------------------------------------------------------------ export
def _series_frames(series: FLSeries, raw: bool, progress: Progress,
                   cancel: Cancel) -> Iterator[np.ndarray]:
    """Frames as float32, one at a time, with progress and cancel."""
    total = len(series)
    shape = series.frame_shape
    start_pass(progress, "exporting")
    for index in range(total):
        if cancel is not None and cancel():
            raise Cancelled("Export cancelled")
        fli = series.get_flimage(index)
        image = fli.raw_fl if raw else fli.fl
        if image.shape != shape:
            raise FileFormatError(f"frame {index} has shape {image.shape}, frame 0 {shape}; "
                                  "a stack needs frames of one shape")
        yield np.asarray(image, dtype=np.float32)
        if progress is not None:
            progress(index + 1, total)


def _check_exportable(series: FLSeries) -> None:
    if len(series) == 0:
        raise FileFormatError("the series has no frames to export")


def series_pixel_size(series: FLSeries) -> float | None:
    """Pixel size [m] of the first frame, or None."""
    value = series.get_flimage(0).meta.get("pixel size")
    return float(value) if value is not None else None


def frame_interval(times: np.ndarray) -> float | None:
    """Mean interval [s] between frames, or None if times are missing or not increasing.

    ImageJ has one frame interval; for irregular times this is the mean step
    (the exact times travel in the slice labels).
    """
    if times.size < 2 or not np.all(np.isfinite(times)):
        return None
    step = (times[-1] - times[0]) / (times.size - 1)
    return float(step) if step > 0 else None


def _exported_content(series: FLSeries, raw: bool) -> str:
    """What the exported pixels are, truthfully: raw, or minus the backgrounds stored."""
    if raw:
        return "raw fluorescence"
    with_background = sum(bool(series.get_flimage(index).bg_keys)
                          for index in range(len(series)))
    if with_background == 0:
        return "fluorescence as recorded (no background stored, so none subtracted)"
    if with_background < len(series):
        return (f"fluorescence minus the stored background ({with_background} of "
                f"{len(series)} frames have one)")
    return "background-corrected fluorescence (stored background subtracted)"


def imagej_metadata(series: FLSeries, raw: bool, source: str | None = None
                    ) -> tuple[dict, tuple[float, float] | None]:
    """ImageJ metadata (axes, finterval, unit, labels, info) and resolution [px/µm].

    `source` names the exported file in the Info text (default: the
    series' file name or identifier).
    """
    if source is None:
        source = (Path(series.filename).name if series.filename else None) or \
            series.identifier or "a series held in memory"
    return stack_metadata(series.times(), series_pixel_size(series), source,
                          _exported_content(series, raw))


def stack_metadata(times: np.ndarray, pixel_size: float | None, source: str, content: str
                   ) -> tuple[dict, tuple[float, float] | None]:
    """ImageJ metadata and resolution [px/µm] of a stack of frames at `times` [s].

    `pixel_size` [m] or None; `source` and `content` (what the pixels are)
    go into the Info text.
    """
    metadata: dict = {"axes": "TYX"}
    step = frame_interval(times)
    if step is not None:
        metadata.update(finterval=step, tunit="sec")
    if np.all(np.isfinite(times)):
        # repr keeps every digit, so importing the TIFF restores the times exactly
        metadata["Labels"] = [f"t={float(t)!r} s" for t in times]
    resolution = None
    if pixel_size:
        pixels_per_um = 1e-6 / pixel_size
        resolution = (pixels_per_um, pixels_per_um)
        metadata["unit"] = "um"
    metadata["Info"] = f"Exported by flimage-app {__version__} from {source}\ndata: {content}"
    return metadata, resolution


#: sample types :func:`export_tiff` writes: ImageJ's 32-bit float, 16-bit and 8-bit images
EXPORT_DTYPES = ("float32", "uint16", "uint8")


def imagej_integer(image: np.ndarray, dtype: str | np.dtype) -> np.ndarray:
    """`image` in the integer type `dtype` as Fiji converts a 32-bit image without scaling.

    Image ▸ Type ▸ 16-bit (or 8-bit) with "Scale when converting" off: values are
    clipped to the type's range and rounded half up; NaN becomes 0.
    """
    info = np.iinfo(dtype)
    values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0,
                           posinf=info.max, neginf=info.min)
    return np.floor(np.clip(values, info.min, info.max) + 0.5).astype(dtype)


def export_tiff(series: FLSeries, path: str | os.PathLike, *, raw: bool = False,
                overwrite: bool = False, progress: Progress = None,
                cancel: Cancel = None, source: str | None = None,
                dtype: str = "float32") -> ExportReport:
    """Write a series as an ImageJ TIFF stack (axes TYX), frame by frame.

    Fiji opens it as a time series with the frame interval (``finterval``, the
    mean step for irregular times), the pixel size in µm, and a slice label
    ``t=<time> s`` per frame that :func:`import_stack` reads back exactly.

    Parameters
    ----------
    series : FLSeries
    path : path
        Target ``.tif`` file, written through ``atomic_output``.
    raw : bool
        Export the raw fluorescence instead of the background-corrected ``fl``.
    overwrite : bool
        Replace an existing `path`.
    progress, cancel
        See :func:`import_stack`.
    source : str, optional
        Name of the exported file for the TIFF's Info text (default: the
        series' file name or identifier).
    dtype : str
        One of :data:`EXPORT_DTYPES`: "float32" keeps the values; "uint16" and
        "uint8" write them as Fiji converts a 32-bit image (:func:`imagej_integer`),
        e.g. to give back a 16-bit camera stack in its own type.

    Returns
    -------
    ExportReport
        The path written (it is ``os.PathLike``) and, for an integer type,
        the pixels clipped below / above its range and the NaN pixels written
        as 0 (:meth:`ExportReport.message` says it in one line).
    """
    if dtype not in EXPORT_DTYPES:
        raise ValueError(f"Unknown TIFF sample type {dtype!r}; choose one of "
                         f"{', '.join(EXPORT_DTYPES)}")
    _check_exportable(series)
    rows, cols = series.frame_shape
    metadata, resolution = imagej_metadata(series, raw, source)
    frames = _series_frames(series, raw, progress, cancel)
    converter = IntegerConverter(dtype) if dtype != "float32" else None
    if converter is not None:
        frames = (converter(image) for image in frames)
    with atomic_output(path, overwrite=overwrite) as temporary:
        # no bigtiff: ImageJ reads its own >4 GB layout (contiguous data), tifffile writes it
        tifffile.imwrite(temporary, frames, shape=(len(series), rows, cols),
                         dtype=np.dtype(dtype), imagej=True, resolution=resolution,
                         metadata=metadata)
    if converter is not None:
        return converter.report(path, ["series"])
    return ExportReport(Path(path), dtype)


def export_npy(series: FLSeries, path: str | os.PathLike, *, raw: bool = False,
               overwrite: bool = False, progress: Progress = None,
               cancel: Cancel = None) -> Path:
    """Write a series as a float32 NumPy array of shape (T, Y, X), frame by frame.

    A ``.npy`` file holds pixels only: frame times and pixel size are not
    stored (use :func:`export_tiff` or the HDF5 file to keep them).
    Parameters as for :func:`export_tiff`.
    """
    _check_exportable(series)
    rows, cols = series.frame_shape
    header = {"descr": np.lib.format.dtype_to_descr(NPY_DTYPE), "fortran_order": False,
              "shape": (len(series), rows, cols)}
    with atomic_output(path, overwrite=overwrite) as temporary:
        # plain writes, not a memory map: a map would keep every written page resident
        with open(temporary, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            for image in _series_frames(series, raw, progress, cancel):
                handle.write(image.astype(NPY_DTYPE, copy=False).tobytes())
    return Path(path)


def is_stack_file(path: str | os.PathLike) -> bool:
    """True for the suffixes this module imports (.tif, .tiff, .npy)."""
    return Path(path).suffix.lower() in TIFF_SUFFIXES + NPY_SUFFIXES


__all__ = ["EXPORT_DTYPES", "MissingCalibrationWarning", "StackInfo", "export_npy",
           "export_tiff", "imagej_integer",
           "import_stack", "inspect_planes", "inspect_stack", "is_stack_file", "iter_frames",
           "length_to_metres", "stack_summary", "time_to_seconds", "write_frames"]
