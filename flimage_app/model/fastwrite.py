"""Writing FLImage frames fast: compress chunks on all cores, store them pre-compressed.

Writing a series is dominated by deflate.  HDF5 compresses a chunk inside
``H5Dwrite`` on the calling thread, one chunk at a time.  Here the chunk
bytes are produced exactly as HDF5's filter pipeline would produce them
(optional byte shuffle, zlib deflate at the configured level, then the
fletcher32 checksum appended in little-endian byte order) in a thread pool —
zlib releases the GIL — and handed to HDF5 with ``write_direct_chunk``,
which bypasses the filters.  The datasets are created with the same filter
pipeline as :func:`flimage_app.model.h5io.write_image_dataset`, so every
HDF5 reader decodes and verifies them as usual.

Every image dataset the app writes has one chunk (chunk shape = image shape),
as in flimage.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import h5py
import numpy as np

from .chunks import encode_chunk
from .h5io import COMPRESSION, IMAGE_ATTRS, is_in_memory, write_image_dataset
from .meta import check_value
from .names import (
    BG_DATA,
    FLIMAGE_FORMAT_VERSION,
    FLUORESCENCE,
    FRAME_PREFIX,
    QPIMAGE_FORMAT_VERSION,
    RAW,
    frame_name,
)


def _compression_level() -> int:
    if COMPRESSION.get("compression") != "gzip":
        raise ValueError(f"fastwrite implements gzip only, not {COMPRESSION.get('compression')}")
    return int(COMPRESSION.get("compression_opts", 4))


def create_image_dataset(group: h5py.Group, key: str, shape: tuple[int, ...],
                         dtype) -> h5py.Dataset:
    """An empty one-chunk image dataset with the app's filters and image attributes."""
    dset = group.create_dataset(key, shape=shape, dtype=dtype, chunks=shape, fletcher32=True,
                                **COMPRESSION)
    for name, value in IMAGE_ATTRS.items():
        dset.attrs.create(name, value)
    return dset


def bound_metadata_cache(handle: h5py.File, max_bytes: int = 4 << 20) -> None:
    """Keep HDF5's metadata cache of `handle` below `max_bytes`.

    HDF5 lets the cache grow to 32 MB per file as a series' thousands of
    frame groups pass through it; a streaming pass touches each group once
    or twice, so a small cache costs nothing and keeps memory flat.
    """
    config = handle.id.get_mdc_config()
    config.set_initial_size = True
    config.initial_size = min(config.initial_size, max_bytes // 2)
    config.min_size = min(config.min_size, max_bytes // 2)
    config.max_size = max_bytes
    handle.id.set_mdc_config(config)


class FrameWriter:
    """Append FLImage frames to a series group, compressing them on a thread pool.

    Frames are written in the order submitted; at most `max_pending` frames
    wait in memory, so memory stays a few frames whatever the series length.

    Parameters
    ----------
    group : h5py.Group
        The series root (frames become ``fli_<start>, fli_<start+1>, …``).
    dtype : numpy dtype
        Stored data type of the images (float32 as FLImage stores them).
    workers : int or None
        Compression threads (default: the number of CPUs).
    max_pending : int or None
        Frames compressed ahead of writing (default: one per worker).
    """

    def __init__(self, group: h5py.Group, dtype="float32", workers: int | None = None,
                 max_pending: int | None = None) -> None:
        self.group = group
        self.dtype = np.dtype(dtype)
        self.index = sum(1 for key in group if key.startswith(FRAME_PREFIX))
        self.direct = not is_in_memory(group)
        self._level = _compression_level()
        self._shuffle = bool(COMPRESSION.get("shuffle", False))
        workers = workers or os.cpu_count() or 1
        self._max_pending = max_pending or workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastwrite")
        self._pending: collections.deque[tuple[np.ndarray | None, Future | None,
                                               Mapping[str, Any]]] = collections.deque()

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, *exc_info) -> None:
        if exc_type is None:
            self.flush()
        self.close()

    def submit(self, image: np.ndarray, meta: Mapping[str, Any]) -> None:
        """Queue one frame: `image` becomes ``fluorescence/raw``, `meta` its metadata.

        `image` is copied, so the caller may reuse its buffer at once.
        """
        data = np.array(image, dtype=self.dtype, copy=True)
        if data.ndim != 2:
            raise ValueError(f"Frames must be 2-D images, got shape {data.shape}")
        if self.direct:
            future = self._pool.submit(encode_chunk, data, self._level, self._shuffle)
            self._pending.append((data.shape, future, dict(meta)))
        else:
            self._pending.append((data, None, dict(meta)))
        while len(self._pending) > self._max_pending:
            self._write_oldest()

    def flush(self) -> None:
        """Write every queued frame."""
        while self._pending:
            self._write_oldest()

    def close(self) -> None:
        """Stop the threads; frames still queued are dropped."""
        for _, future, _ in self._pending:
            if future is not None:
                future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)

    def _write_oldest(self) -> None:
        data_or_shape, future, meta = self._pending.popleft()
        frame = self.group.create_group(frame_name(self.index))
        for key, value in meta.items():
            frame.attrs[key] = check_value(key, value)
        fluorescence = frame.create_group(FLUORESCENCE)
        fluorescence.create_group(BG_DATA)
        if future is None:
            write_image_dataset(fluorescence, RAW, data_or_shape, self.dtype)
        else:
            dset = create_image_dataset(fluorescence, RAW, data_or_shape, self.dtype)
            dset.id.write_direct_chunk((0,) * len(data_or_shape), future.result())
        frame.attrs.setdefault("qpimage version", QPIMAGE_FORMAT_VERSION)
        frame.attrs.setdefault("flimage version", FLIMAGE_FORMAT_VERSION)
        self.index += 1
