"""Reading frames of a series and measuring background and intensity over regions.

The engine reads frames through :class:`FrameReader`, which works on the
HDF5 layout directly (``fli_<i>/fluorescence/raw`` minus the sum of
``fli_<i>/fluorescence/bg_data/*``), so that an app FLSeries, a flimage
FLSeries, an h5py group or a path can be corrected the same way, one frame
at a time.
"""

from __future__ import annotations

import collections
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from .. import validate
from ..chunks import decode_chunk, direct_decoding
from ..errors import FileFormatError, FitError, file_open_error
from ..fastwrite import bound_metadata_cache
from ..image import read_meta
from ..meta import MetaDict, check_value
from ..names import BG_DATA_PATH, RAW_PATH
from ..series import FLSeriesBase

#: Where the intensity is measured.
REGIONS = ("frame", "signal", "outside")
#: Which background level is subtracted.
BACKGROUNDS = ("constant", "border", "mask", "stored")


class MissingTimeWarning(UserWarning):
    """Frames lack the "time" metadata; frame indices are used instead."""


#: Memory budget of the decoded frames a :class:`FrameReader` keeps between passes
#: (bytes) for a series too long to keep whole: its first frames are read once, the
#: rest once per pass, with memory bounded whatever the length.
CACHE_BYTES = 8 << 20
#: A series whose stored frames take at most this many bytes (and at most
#: :func:`~flimage_app.model.validate.memory_budget`) is kept whole between the passes
#: when no budget is given, i.e. read and inflated once: for the flimage method (three
#: passes) that is a third of the inflating, for the others a half.  Longer series fall
#: back to :data:`CACHE_BYTES`, so that memory stays bounded for any length.
WHOLE_SERIES_BYTES = 128 << 20


def default_cache_bytes(frame_bytes: int, frames: int) -> int:
    """The frame cache budget when none is given: the whole series if it fits, else a little."""
    whole = frame_bytes * frames
    if whole <= min(WHOLE_SERIES_BYTES, validate.memory_budget()):
        return whole
    return CACHE_BYTES


def _decoded(chunk: bytes, dtype: np.dtype, shape: tuple[int, ...], shuffled: bool,
             checksummed: bool, where: str, filter_mask: int = 0, convert: bool = True
             ) -> tuple[np.ndarray, np.ndarray | None, bool] | None:
    """The raw image in `chunk`, its float64 copy (if `convert`) and True (on a thread)."""
    raw = decode_chunk(chunk, dtype, shape, shuffled, checksummed, where, filter_mask)
    return None if raw is None else (raw, raw.astype(float) if convert else None, True)


def _converted(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """A kept raw image, its float64 copy and False (not read from the file; on a thread)."""
    return raw, raw.astype(float), False


class FrameReader:
    """Frame-by-frame access to a series on disk or in memory.

    Parameters
    ----------
    series : FLSeries, h5py.Group, str or os.PathLike
        Anything with an ``h5`` group of ``fli_<i>`` frames (app or flimage
        FLSeries), such a group itself, or the path of an FLSeries file
        (opened read-only and closed by :meth:`close`).
    workers : int or None
        Threads that decompress frames ahead of :meth:`iter_fl` (default:
        the number of CPUs).
    meta_changes : mapping or None
        ``{frame index: {key: value}}`` laid over the file's metadata by
        :meth:`meta` and :meth:`times` (edits not saved to the file).
    cache_bytes : int or None
        Memory budget for raw frames kept, as decoded, for the next pass
        (default :func:`default_cache_bytes`: the whole series up to
        :data:`WHOLE_SERIES_BYTES`, else :data:`CACHE_BYTES`; 0 keeps
        none).  The first frames read that fit are kept, so a series within
        the budget is read from the file once, and a longer one is read
        once per pass past its first frames with memory bounded by the
        budget.
    """

    def __init__(self, series, workers: int | None = None,
                 meta_changes: Mapping[int, Mapping[str, Any]] | None = None,
                 cache_bytes: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._cache: dict[int, np.ndarray] = {}
        self._cached_bytes = 0
        #: frames decoded from the file so far (counts every pass; for tests and benchmarks)
        self.decoded = 0
        self.meta_changes = checked_meta_changes(meta_changes)
        self._pool: ThreadPoolExecutor | None = None
        self._owned: h5py.File | None = None
        if isinstance(series, (str, os.PathLike)):
            try:
                self._owned = h5py.File(series, "r")
            except OSError as exc:
                raise file_open_error(series, exc) from None
            bound_metadata_cache(self._owned)
            group = self._owned
        elif isinstance(series, h5py.Group):
            group = series
        elif isinstance(getattr(series, "h5", None), h5py.Group):
            group = series.h5
        else:
            raise TypeError(f"Expected an FLSeries, an h5py group or a path, got {series!r}")
        self.h5: h5py.Group = group
        try:
            # frame look-ups, link checks and times as everywhere in the model
            self.frames = FLSeriesBase(h5file=group)
        except ValueError as exc:
            self.close()
            raise FileFormatError(str(exc)) from None
        self.length = len(self.frames)
        #: frames known to store no background (flags, one byte per frame)
        self._without_stored = bytearray(self.length)
        if self.length == 0:
            self.close()
            raise FileFormatError(f"{self.filename or 'The series'} holds no frames (no fli_0)")
        first = self._raw(0)
        self.shape: tuple[int, int] = tuple(first.shape)
        self.cache_bytes = (default_cache_bytes(first.dtype.itemsize * first.size, self.length)
                            if cache_bytes is None else max(0, int(cache_bytes)))

    def __len__(self) -> int:
        return self.length

    def keep_identifier(self, output: h5py.Group) -> None:
        """Give the series written to `output` this series' identifier (flimage's series name)."""
        identifier = self.frames.identifier
        if isinstance(identifier, str) and identifier:
            output.attrs["identifier"] = identifier

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop the decompression threads; close the file if this reader opened it."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._owned is not None and self._owned.id.valid:
            self._owned.close()

    @property
    def filename(self) -> str | None:
        """Path of the file on disk, or None for an in-memory series."""
        if self.h5.file.driver == "core":
            return None
        return self.h5.file.filename

    def group(self, index: int) -> h5py.Group:
        """HDF5 group of frame `index` (external links are refused, as everywhere)."""
        return self.frames.frame_group(index)

    def _raw(self, index: int) -> h5py.Dataset:
        """The checked raw image dataset of frame `index` (kind, type, storage, size)."""
        group = self.group(index)
        raw = validate.member_path(group, RAW_PATH)
        if raw is None:
            raise validate.refuse(validate.object_name(group), "has no fluorescence/raw image")
        return validate.check_image(raw, validate.object_name(raw))

    def meta(self, index: int) -> MetaDict:
        """Metadata of frame `index` (with its entry of `meta_changes` applied)."""
        meta = read_meta(self.group(index))
        meta.update(self.meta_changes.get(index, {}))
        return meta

    def fl(self, index: int) -> np.ndarray:
        """Background-corrected image (raw − stored backgrounds) of frame `index`, float64.

        Same arithmetic as ``FLImage.fl`` in the app and in flimage.
        """
        return self._minus_stored(index, self._raw_array(index).astype(float))

    def _raw_array(self, index: int) -> np.ndarray:
        """The stored raw image of frame `index`, from the cache or read by HDF5."""
        raw = self._cache.get(index)
        if raw is None:
            dset = self._checked_raw(index)
            raw = self._kept(index, validate.read_array(dset, validate.object_name(dset)))
        return raw

    def _kept(self, index: int, raw: np.ndarray) -> np.ndarray:
        """Count a frame decoded from the file; keep it for the next pass if it fits the budget."""
        self.decoded += 1
        if index not in self._cache and self._cached_bytes + raw.nbytes <= self.cache_bytes:
            self._cache[index] = raw
            self._cached_bytes += raw.nbytes
        return raw

    def release_cache(self) -> None:
        """Drop the kept frames (e.g. before the last pass, which needs them no more)."""
        self._cache.clear()
        self._cached_bytes = 0

    def _checked_raw(self, index: int) -> h5py.Dataset:
        dset = self._raw(index)
        if dset.shape != self.shape:
            raise FileFormatError(f"Frame {index} has shape {dset.shape}, the first frame "
                                  f"{self.shape}; all frames must have the same shape")
        return dset

    def _minus_stored(self, index: int, image: np.ndarray) -> np.ndarray:
        if self._without_stored[index]:
            return image
        subtracted = False
        for stored in self.stored_backgrounds(index):
            image -= stored
            subtracted = True
        if not subtracted:  # looked up once: the later passes skip the group's checks
            self._without_stored[index] = True
        return image

    def iter_fl(self, indices: Sequence[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, fl(index))`` for every frame, in order, decompressed ahead on threads.

        HDF5 decompresses on the calling thread only; here the stored chunk
        bytes are read with ``read_direct_chunk`` and checked (fletcher32),
        inflated and converted on a thread pool while the caller works on
        the previous frame.  Frames stored in any other way are read by HDF5.
        """
        return self._iterate(indices, convert=True)

    def iter_raw(self, indices: Sequence[int] | None = None
                 ) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        """``(index, raw, fl)`` for every frame, in order, as :meth:`iter_fl` reads them.

        `raw` is the image as stored (e.g. float32; read-only); `fl` is None
        when the frame stores no background, i.e. when ``fl(index)`` is
        `raw` in float64 — a measurement that needs only some pixels, or
        that converts as it computes, is spared a float64 copy of the frame.
        """
        for index, (raw, image) in self._iterate(indices, convert=False):
            if image is None and not self._stores_no_background(index):
                image = self._minus_stored(index, raw.astype(float))
            yield index, raw, image

    def _iterate(self, indices: Sequence[int] | None, convert: bool) -> Iterator:
        indices = range(self.length) if indices is None else indices
        pending: collections.deque[tuple[int, Future | tuple | None]] = collections.deque()
        try:
            for index in indices:
                pending.append((index, self._submit(index, convert)))
                if len(pending) > self.workers:
                    yield self._collect(*pending.popleft(), convert)
            while pending:
                yield self._collect(*pending.popleft(), convert)
        finally:
            for _, future in pending:
                if isinstance(future, Future):
                    future.cancel()

    def _stores_no_background(self, index: int) -> bool:
        """True if frame `index` has no stored background to subtract (looked up once)."""
        if not self._without_stored[index]:
            bg_group = validate.member_path(self.group(index), BG_DATA_PATH)
            if bg_group is not None and not (isinstance(bg_group, h5py.Group)
                                             and len(bg_group) == 0):
                return False  # backgrounds, or something stored_backgrounds() refuses
            self._without_stored[index] = True
        return True

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The reader's threads (started on first use; a writer may share them)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="frame-reader")
        return self._pool

    def _submit(self, index: int, convert: bool = True) -> Future | tuple | None:
        """Start making ``fl(index)``: from the cache or the chunk, on a thread; None: by HDF5."""
        cached = self._cache.get(index)
        if cached is not None and not convert:
            return cached, None, False
        if cached is not None:  # kept from an earlier pass: only the conversion is left
            return self.executor.submit(_converted, cached)
        dset = self._checked_raw(index)
        decoding = direct_decoding(dset)
        if decoding is None:
            return None
        try:
            filter_mask, chunk = dset.id.read_direct_chunk((0,) * dset.ndim)
        except (OSError, RuntimeError, ValueError):
            return None  # no chunk written, or unreadable: HDF5 decides, in its own words
        # an optional filter skipped for this chunk: deflate (stored as it is) is decoded
        # here, anything else left to HDF5
        return self.executor.submit(_decoded, chunk, dset.dtype, dset.shape, *decoding,
                                    validate.object_name(dset), filter_mask, convert)

    def _collect(self, index: int, future: Future | tuple | None, convert: bool = True):
        """``(index, fl)``, or with `convert` False ``(index, (raw, fl or None))``."""
        decoded = future.result() if isinstance(future, Future) else future
        if decoded is None:
            if convert:
                return index, self.fl(index)
            raw = self._raw_array(index)
            return index, (raw, None)
        raw, image, from_file = decoded
        if from_file:
            self._kept(index, raw)
        if not convert:
            return index, (raw, None)
        return index, self._minus_stored(index, image)

    def stored_backgrounds(self, index: int) -> Iterator[np.ndarray]:
        """The background images stored with frame `index` (flimage sums them all)."""
        bg_group = validate.member_path(self.group(index), BG_DATA_PATH)
        if bg_group is None:
            return
        if not isinstance(bg_group, h5py.Group) or len(bg_group) > validate.MAX_BACKGROUNDS:
            raise validate.refuse(validate.object_name(bg_group), "is not a group of at most "
                                  f"{validate.MAX_BACKGROUNDS} backgrounds")
        for name in bg_group:
            yield validate.read_background(bg_group, name, self.shape)

    def times(self) -> np.ndarray:
        """Every frame's "time" [s], NaN where missing (attributes only, no pixels)."""
        times = self.frames.times()
        for index, changes in self.meta_changes.items():
            if "time" in changes and index < times.size:
                times[index] = changes["time"]
        return times


def checked_meta_changes(changes: Mapping[int, Mapping[str, Any]] | None
                         ) -> dict[int, dict[str, Any]]:
    """``{frame index: {key: value}}`` with every key and value checked like the file's."""
    checked: dict[int, dict[str, Any]] = {}
    for index, entries in (changes or {}).items():
        checked[int(index)] = {key: check_value(key, value) for key, value in entries.items()}
    return checked


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
            "the frame index is used as time, so rates and half-lives are per frame")
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


def finite_values(image: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    """The pixels of `image` inside `region` (all if None), without NaN and ±Inf.

    Dead or saturated pixels stored as NaN / Inf are left out of every
    measurement rather than spoiling the whole trace.
    """
    values = image if region is None else image[region]
    finite = np.isfinite(values)
    return values if finite.all() else values[finite]


def positive_sum(image: np.ndarray, level: float, region: np.ndarray | None) -> float:
    """Sum of the positive pixels of ``image − level`` (inside `region`, if given).

    NaN if the region holds no finite pixel.
    """
    values = finite_values(image, region)
    if values.size == 0:
        return float("nan")
    # a stored image (float32) is converted as it is subtracted: the same float64 values
    shifted = (values - level if values.dtype == np.float64
               else np.subtract(values, level, dtype=np.float64))
    # the positive values themselves, in order: summed as flimage sums them, to the last
    # bit (zeros in their place would change numpy's pairwise grouping and the rounding)
    return float(np.sum(shifted[shifted > 0]))


def region_mean(image: np.ndarray, region: np.ndarray | None) -> float:
    """Mean of the finite pixels of `image` over `region` (the whole image if None); NaN if none."""
    values = finite_values(image, region)
    if values.dtype != np.float64:  # a stored image: its region's pixels in float64
        values = values.astype(np.float64)  # (np.mean(dtype=) would round differently)
    return float(np.mean(values)) if values.size else float("nan")


def check_finite_trace(values: np.ndarray, what: str) -> None:
    """Raise FitError naming the frames whose measured `what` is not a number."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        shown = ", ".join(map(str, bad[:5])) + (" …" if bad.size > 5 else "")
        raise FitError(f"Frames {shown} have no finite pixel in the {what} (NaN or Inf "
                       "everywhere); remove those frames or choose another region")
