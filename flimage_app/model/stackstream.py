"""Bleach correction straight from a TIFF / .npy stack to a TIFF stack, frame by frame.

:class:`StackReader` gives the bleach engine a stack's frames as
:class:`~flimage_app.model.bleach.measure.FrameReader` gives those of an
HDF5 series — read lazily, one page at a time, each converted to the type an
import would store (so the numbers equal those of the import-then-correct
route) — and :class:`TiffSink` writes the corrected frames as they come, an
ImageJ TIFF in float32 or in an integer type (rounded, clipped, the clipped
pixels counted).  :func:`correct_stack` joins them: no HDF5 file is needed,
writing one is a choice.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from .bleach.engine import BleachResult, correct_series
from .bleach.measure import CACHE_BYTES, checked_meta_changes
from .errors import FileFormatError
from .h5io import atomic_output, exists_message
from .meta import MetaDict
from .tiffio import (
    MissingCalibrationWarning,
    inspect_stack,
    is_stack_file,
    iter_frames,
    open_stack,
    read_stack_frame,
    stack_metadata,
    storage_dtype,
)

#: Pixel types a corrected TIFF can have besides float32 (ImageJ's 8- and 16-bit images).
INTEGER_TYPES = ("uint8", "uint16", "int16")


class StackReader:
    """The frames of a TIFF / ``.npy`` stack through the engine's frame-reader interface.

    Parameters
    ----------
    path : path
        The stack (see :func:`~flimage_app.model.tiffio.import_stack` for what is read).
    pixel_size, interval, channel, plane
        As for :func:`~flimage_app.model.tiffio.import_stack`.
    meta_changes : mapping or None
        ``{frame index: {key: value}}`` laid over the stack's metadata.
    cache_bytes : int or None
        Memory budget for frames kept between passes (as ``FrameReader``).
    """

    def __init__(self, path: str | os.PathLike, *, pixel_size: float | None = None,
                 interval: float | None = None, channel: int | None = None,
                 plane: int | None = None,
                 meta_changes: Mapping[int, Mapping[str, Any]] | None = None,
                 cache_bytes: int | None = None) -> None:
        self.info = inspect_stack(path, pixel_size=pixel_size, interval=interval,
                                  channel=channel, plane=plane)
        if self.info.problem is not None:
            raise FileFormatError(self.info.problem)
        for note in self.info.notes:
            warnings.warn(f"{self.info.path.name}: {note}", MissingCalibrationWarning,
                          stacklevel=2)
        self.meta_changes = checked_meta_changes(meta_changes)
        self.length = self.info.n_frames
        self.shape: tuple[int, int] = tuple(self.info.frame_shape)
        # the type an import stores (wide integers scanned, as there)
        self.dtype = np.dtype(storage_dtype(self.info, lambda: iter_frames(self.info)))
        self.cache_bytes = CACHE_BYTES if cache_bytes is None else max(0, int(cache_bytes))
        self._cache: dict[int, np.ndarray] = {}
        self._cached_bytes = 0
        self.decoded = 0
        self._files = contextlib.ExitStack()
        self._stack = self._files.enter_context(open_stack(self.info))

    def __len__(self) -> int:
        return self.length

    def __enter__(self) -> StackReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the stack file (and drop its memory map)."""
        self._files.close()
        self._stack = None
        self._cache.clear()

    @property
    def filename(self) -> str:
        """Path of the stack."""
        return os.fspath(self.info.path)

    def keep_identifier(self, output) -> None:
        """Name the series written to `output` (an HDF5 group) after the stack, as an import."""
        output.attrs["identifier"] = self.info.path.name

    def times(self) -> np.ndarray:
        """Every frame's time [s] (NaN where unknown), with `meta_changes` laid over."""
        times = (np.array(self.info.times, dtype=float) if self.info.times is not None
                 else np.full(self.length, np.nan))
        for index, changes in self.meta_changes.items():
            if "time" in changes and index < times.size:
                times[index] = changes["time"]
        return times

    @property
    def pixel_size(self) -> float | None:
        """Pixel size [m] of the frames, or None."""
        value = self.meta_changes.get(0, {}).get("pixel size", self.info.pixel_size)
        return None if value is None else float(value)

    def meta(self, index: int) -> MetaDict:
        """Metadata of frame `index`, as an import stores it (time, pixel size)."""
        meta = MetaDict()
        if self.info.times is not None:
            meta["time"] = float(self.info.times[index])
        if self.info.pixel_size is not None:
            meta["pixel size"] = self.info.pixel_size
        meta.update(self.meta_changes.get(index, {}))
        return meta

    def stored_backgrounds(self, index: int) -> Iterator[np.ndarray]:
        """A stack stores no background."""
        return iter(())

    def _stored(self, index: int) -> np.ndarray:
        """Frame `index` as in the file (kept within the budget)."""
        raw = self._cache.get(index)
        if raw is None:
            raw = read_stack_frame(self.info, self._stack, index)
            self.decoded += 1
            if self._cached_bytes + raw.nbytes <= self.cache_bytes:
                self._cache[index] = raw
                self._cached_bytes += raw.nbytes
        return raw

    def fl(self, index: int) -> np.ndarray:
        """Frame `index` as float64, through the type an import would store it in."""
        if not 0 <= index < self.length:
            raise IndexError(f"frame {index} of {self.length}")
        raw = self._stored(index)
        if raw.dtype.kind in "biu" and raw.dtype.itemsize <= 2:
            return raw.astype(float)  # exact in float32 too: the same numbers, one copy less
        return raw.astype(self.dtype).astype(float)

    def iter_fl(self, indices: Sequence[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, fl(index))`` for every frame (or `indices`), in order."""
        for index in range(self.length) if indices is None else indices:
            yield index, self.fl(index)


class TiffSink:
    """Write corrected frames to an ImageJ TIFF as they come, on a writer thread.

    Parameters
    ----------
    path : path
        The file to write (a temporary of ``atomic_output``).
    count, shape
        Number and shape of the frames.
    dtype : str
        "float32" or one of :data:`INTEGER_TYPES`: values are rounded half up
        (as ImageJ rounds) and clipped to the type's range; NaN becomes 0.
        Every pixel changed by clipping is counted in :attr:`clipped`.
    metadata, resolution
        ImageJ metadata and resolution (see ``tiffio.stack_metadata``).
    """

    def __init__(self, path: str | os.PathLike, count: int, shape: tuple[int, int],
                 dtype: str, metadata: dict, resolution, max_pending: int = 4) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype.name != "float32" and self.dtype.name not in INTEGER_TYPES:
            raise ValueError(f"TIFF pixel type {dtype!r}: choose float32 or "
                             f"{', '.join(INTEGER_TYPES)}")
        self.count, self.clipped, self._received = count, 0, 0
        self._queue: queue.Queue = queue.Queue(max_pending)
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._write, name="tiff-sink", daemon=True,
            args=(os.fspath(path), (count, *shape), metadata, resolution))
        self._thread.start()

    def _frames(self) -> Iterator[np.ndarray]:
        for _ in range(self.count):
            image = self._queue.get()
            if image is None:
                raise _Stopped
            yield image

    def _write(self, path: str, shape, metadata: dict, resolution) -> None:
        try:
            # no bigtiff: ImageJ reads its own >4 GB layout (contiguous data), tifffile writes it
            tifffile.imwrite(path, self._frames(), shape=shape, dtype=self.dtype, imagej=True,
                             resolution=resolution, metadata=metadata)
        except BaseException as exc:  # reported in the engine's thread by submit / flush
            self._error = exc

    def converted(self, image: np.ndarray) -> np.ndarray:
        """`image` in the TIFF's pixel type (clipping counted)."""
        if self.dtype.kind == "f":
            return image.astype(self.dtype)
        limits = np.iinfo(self.dtype)
        rounded = image + 0.5
        np.floor(rounded, out=rounded)
        nan = np.isnan(rounded)
        if nan.any():
            rounded[nan] = 0
        with np.errstate(invalid="ignore"):
            self.clipped += int(np.count_nonzero(nan) + np.count_nonzero(rounded < limits.min)
                                + np.count_nonzero(rounded > limits.max))
        np.clip(rounded, limits.min, limits.max, out=rounded)
        return rounded.astype(self.dtype)

    def submit(self, image: np.ndarray, meta: Mapping[str, Any]) -> None:
        """Queue one frame (`meta` is not stored: the times travel in the ImageJ labels)."""
        frame = self.converted(image)
        while True:
            self._raise_error()
            try:
                self._queue.put(frame, timeout=0.1)
                break
            except queue.Full:
                continue
        self._received += 1

    def flush(self) -> None:
        """Wait until every frame is written."""
        if self._received != self.count:
            raise ValueError(f"{self._received} frames given for a TIFF of {self.count}")
        self._thread.join()
        self._raise_error()

    def close(self) -> None:
        """Stop the writer thread (unwritten frames are dropped)."""
        if self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                while True:  # make room, then tell the thread to stop
                    self._queue.get_nowait()
            self._queue.put(None)
            self._thread.join()

    def _raise_error(self) -> None:
        if self._error is not None and not isinstance(self._error, _Stopped):
            raise self._error


class _Stopped(Exception):
    """The engine stopped before the last frame (error or cancel)."""


def tiff_type(option: str, stack_dtype: np.dtype | None) -> str:
    """The pixel type of a corrected TIFF: "float32", an integer type, or "input".

    "input" keeps the input stack's type where it is an ImageJ integer type
    (as Fiji writes a corrected 16-bit stack in 16 bits), else float32.
    """
    if option == "input":
        if stack_dtype is not None and np.dtype(stack_dtype).name in INTEGER_TYPES:
            return np.dtype(stack_dtype).name
        return "float32"
    if option != "float32" and option not in INTEGER_TYPES:
        raise ValueError(f"TIFF pixel type {option!r}: choose float32, input or "
                         f"{', '.join(INTEGER_TYPES)}")
    return option


def correct_stack(source, tif: str | os.PathLike, *, h5: str | os.PathLike | None = None,
                  tif_type: str = "float32", overwrite: bool = False,
                  stack_options: Mapping[str, Any] | None = None,
                  cache_bytes: int | None = None, **options: Any) -> BleachResult:
    """Correct photobleaching of `source` and write the frames to the TIFF `tif` as they come.

    Parameters
    ----------
    source : path, FLSeries or h5py group
        A TIFF / ``.npy`` stack (read lazily, never imported) or an FLSeries.
    tif : path
        The corrected ImageJ TIFF (written through ``atomic_output``).
    h5 : path or None
        Also write the corrected FLSeries here, in the same pass.
    tif_type : str
        "float32", "input" (the stack's 8/16-bit type, else float32) or one of
        :data:`INTEGER_TYPES`; see :class:`TiffSink` for rounding and clipping.
    overwrite : bool
        Replace existing outputs.
    stack_options : mapping or None
        ``pixel_size``, ``interval``, ``channel``, ``plane`` for a stack.
    cache_bytes : int or None
        Memory budget of frames kept between passes.
    options
        Everything else of :func:`~flimage_app.model.bleach.correct_series`
        (method, background, masks, progress, cancel, …).

    Returns
    -------
    BleachResult
        With :attr:`~BleachResult.clipped` set for an integer TIFF.
    """
    if os.path.exists(tif) and not overwrite:
        raise FileExistsError(exists_message(tif))  # before the passes, not after them
    if isinstance(source, (str, os.PathLike)) and is_stack_file(source):
        reader = StackReader(source, **dict(stack_options or {}),
                             meta_changes=options.pop("meta_changes", None),
                             cache_bytes=cache_bytes)
        stack_dtype, name = reader.info.dtype, reader.info.path.name
    else:
        from .bleach.measure import FrameReader

        reader = FrameReader(source, options.get("workers"), options.pop("meta_changes", None),
                             cache_bytes=cache_bytes)
        stack_dtype, name = None, Path(reader.filename or "series").name
    with reader:
        pixel_size = reader.meta(0).get("pixel size")
        kind = tiff_type(tif_type, stack_dtype)
        content = f"bleach-corrected fluorescence (method {options.get('method', 'exp')})"
        metadata, resolution = stack_metadata(reader.times(), pixel_size, name, content)
        with atomic_output(tif, overwrite=overwrite) as temporary:
            sink = TiffSink(temporary, len(reader), reader.shape, kind, metadata, resolution)
            try:
                result = correct_series(reader, h5, sinks=[sink], overwrite=overwrite,
                                        **options)
            finally:
                sink.close()  # stops the writer thread when the engine failed before writing
        result.clipped = sink.clipped if kind != "float32" else None
    return result


__all__ = ["INTEGER_TYPES", "StackReader", "TiffSink", "correct_stack", "tiff_type"]
