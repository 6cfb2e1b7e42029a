"""Reading frames of a series and measuring background and intensity over regions.

The engine reads frames through :class:`FrameReader`, which works on the
HDF5 layout directly (``fli_<i>/fluorescence/raw`` minus the sum of
``fli_<i>/fluorescence/bg_data/*``), so that an app FLSeries, a flimage
FLSeries, an h5py group or a path can be corrected the same way, one frame
at a time.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import h5py
import numpy as np

from ..errors import FileFormatError
from ..image import python_value, read_meta
from ..meta import MetaDict
from ..series import FRAME_PREFIX, frame_name

#: Where the intensity is measured.
REGIONS = ("frame", "signal", "outside")
#: Which background level is subtracted.
BACKGROUNDS = ("constant", "border", "mask", "stored")


class MissingTimeWarning(UserWarning):
    """Frames lack the "time" metadata; frame indices are used instead."""


class FrameReader:
    """Frame-by-frame access to a series on disk or in memory.

    Parameters
    ----------
    series : FLSeries, h5py.Group, str or os.PathLike
        Anything with an ``h5`` group of ``fli_<i>`` frames (app or flimage
        FLSeries), such a group itself, or the path of an FLSeries file
        (opened read-only and closed by :meth:`close`).
    """

    def __init__(self, series) -> None:
        self._owned: h5py.File | None = None
        if isinstance(series, (str, os.PathLike)):
            try:
                self._owned = h5py.File(series, "r")
            except OSError as exc:
                raise FileFormatError(f"{os.fspath(series)} cannot be opened as HDF5 "
                                      f"({str(exc).splitlines()[0]})") from None
            group = self._owned
        elif isinstance(series, h5py.Group):
            group = series
        elif isinstance(getattr(series, "h5", None), h5py.Group):
            group = series.h5
        else:
            raise TypeError(f"Expected an FLSeries, an h5py group or a path, got {series!r}")
        self.h5: h5py.Group = group
        self.length = sum(1 for key in group if key.startswith(FRAME_PREFIX))
        if self.length == 0:
            self.close()
            raise FileFormatError(f"{self.filename or 'The series'} holds no frames (no fli_0)")
        self.shape: tuple[int, int] = tuple(self._raw(0).shape)

    def __len__(self) -> int:
        return self.length

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the file if this reader opened it."""
        if self._owned is not None and self._owned.id.valid:
            self._owned.close()

    @property
    def filename(self) -> str | None:
        """Path of the file on disk, or None for an in-memory series."""
        if self.h5.file.driver == "core":
            return None
        return self.h5.file.filename

    def group(self, index: int) -> h5py.Group:
        """HDF5 group of frame `index`."""
        try:
            return self.h5[frame_name(index)]
        except KeyError:
            raise FileFormatError(f"Frame {frame_name(index)} is missing "
                                  f"(the series has {self.length} frames)") from None

    def _raw(self, index: int) -> h5py.Dataset:
        try:
            return self.group(index)["fluorescence/raw"]
        except KeyError:
            raise FileFormatError(f"Frame {index} has no fluorescence/raw image") from None

    def meta(self, index: int) -> MetaDict:
        """Metadata of frame `index`."""
        return read_meta(self.group(index).attrs)

    def fl(self, index: int) -> np.ndarray:
        """Background-corrected image (raw − stored backgrounds) of frame `index`, float64.

        Same arithmetic as ``FLImage.fl`` in the app and in flimage.
        """
        raw = self._raw(index)[()]
        if raw.shape != self.shape:
            raise FileFormatError(f"Frame {index} has shape {raw.shape}, the first frame "
                                  f"{self.shape}; all frames must have the same shape")
        image = raw.astype(float)
        for stored in self.stored_backgrounds(index):
            image -= stored
        return image

    def stored_backgrounds(self, index: int) -> Iterator[np.ndarray]:
        """The background images stored with frame `index` (flimage sums them all)."""
        bg_group = self.group(index).get("fluorescence/bg_data")
        if bg_group is not None:
            for dataset in bg_group.values():
                yield dataset[()]

    def times(self) -> np.ndarray:
        """Every frame's "time" [s], NaN where missing (attributes only, no pixels)."""
        times = np.full(self.length, np.nan)
        for index in range(self.length):
            value = self.group(index).attrs.get("time")
            try:
                times[index] = float(python_value(value))
            except (TypeError, ValueError):
                pass
        return times


@dataclass(frozen=True)
class TimeAxis:
    """The times the fit uses and where they came from."""

    values: np.ndarray
    unit: str  # "s" or "frame"
    note: str  # empty, or why frame indices are used


def time_axis(times: np.ndarray) -> TimeAxis:
    """Use the frames' times if all are known, else frame indices with a warning."""
    missing = np.flatnonzero(~np.isfinite(times))
    if missing.size == 0:
        return TimeAxis(np.asarray(times, dtype=float), "s", "")
    shown = ", ".join(map(str, missing[:5])) + (" …" if missing.size > 5 else "")
    note = (f"{missing.size} of {times.size} frames have no \"time\" metadata (frames {shown}); "
            "the fit uses the frame index as time, so rates are per frame")
    warnings.warn(note, MissingTimeWarning, stacklevel=3)
    return TimeAxis(np.arange(times.size, dtype=float), "frame", note)


def border_mask(shape: tuple[int, int], border_px: int) -> np.ndarray:
    """True on the `border_px` wide frame around the image (flimage's background region)."""
    if border_px <= 0:
        raise ValueError(f"border_px must be positive, got {border_px}")
    if 2 * border_px >= min(shape):
        raise ValueError(f"border_px={border_px} leaves no interior in a {shape} image")
    mask = np.ones(shape, dtype=bool)
    mask[border_px:-border_px, border_px:-border_px] = False
    return mask


def check_mask(mask, shape: tuple[int, int], name: str) -> np.ndarray:
    """`mask` as a boolean array of `shape` with at least one True pixel."""
    if mask is None:
        raise ValueError(f"A {name} is required for this choice")
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape):
        raise ValueError(f"The {name} has shape {mask.shape}, the frames {tuple(shape)}")
    if not mask.any():
        raise ValueError(f"The {name} selects no pixel")
    return mask


def positive_sum(image: np.ndarray, level: float, region: np.ndarray | None) -> float:
    """Sum of the positive pixels of ``image − level`` (inside `region`, if given)."""
    values = image if region is None else image[region]
    shifted = values - level
    return float(np.sum(shifted[shifted > 0]))


def region_mean(image: np.ndarray, region: np.ndarray | None) -> float:
    """Mean of `image` over `region` (the whole image if None)."""
    return float(np.mean(image if region is None else image[region]))
