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

h5py's high-level calls cost about 1 ms per frame (seven attributes, three
groups, a dataset with its filters): a tenth of a corrected 512² frame's
budget.  The first frame is written with them; the next ones are created
with HDF5's calls directly (:class:`_FrameLayout`), reusing the first
frame's property lists and attribute types, so that every frame is stored
exactly as h5py stores the first (the tests compare the two).
"""

from __future__ import annotations

import collections
import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import h5py
import numpy as np
from h5py import h5a, h5d, h5g, h5p, h5s, h5t

from .chunks import encode_frame_chunk
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


def _attribute_value(value: Any) -> np.ndarray | None:
    """`value` as the array h5py stores for it, if it is of a kind written directly here."""
    if isinstance(value, float):
        return np.array(value, dtype=np.float64)
    if isinstance(value, str):
        return np.array(value, dtype=h5py.string_dtype())
    if isinstance(value, np.bytes_):
        return np.array(value)
    return None  # anything else: h5py's attrs decide


class _FrameLayout:
    """Creates frames the way h5py created a first one, through HDF5's calls directly.

    Holds the property lists of the first frame's groups and image dataset,
    and the HDF5 types h5py chose for its attributes (by NumPy type), so
    that later frames carry the same storage, filters and types.
    """

    def __init__(self, frame: h5py.Group, raw: h5py.Dataset) -> None:
        self.group_plist = frame.id.get_create_plist()
        self.dataset_plist = raw.id.get_create_plist()
        self.dataset_type = raw.id.get_type()
        self.link_plist = h5p.create(h5p.LINK_CREATE)  # as h5py's for an ASCII name
        self.link_plist.set_create_intermediate_group(True)
        self.link_plist.set_char_encoding(h5t.CSET_ASCII)
        self.scalar = h5s.create(h5s.SCALAR)
        self._types: dict[np.dtype, tuple[h5t.TypeID, h5t.TypeID]] = {}

    def group(self, parent: h5g.GroupID, name: str) -> h5g.GroupID:
        return h5g.create(parent, name.encode("ascii"), lcpl=self.link_plist,
                          gcpl=self.group_plist)

    def dataset(self, parent: h5g.GroupID, name: str, shape: tuple[int, ...]) -> h5d.DatasetID:
        return h5d.create(parent, name.encode("ascii"), self.dataset_type,
                          h5s.create_simple(shape), dcpl=self.dataset_plist,
                          lcpl=self.link_plist)

    def attribute(self, owner, name: str, value: Any) -> bool:
        """Store scalar attribute `name`; False if `value` is of a kind left to h5py."""
        data = _attribute_value(value)
        if data is None or not name.isascii():
            return False
        types = self._types.get(data.dtype)
        if types is None:  # what h5py's attrs.create passes: logical and memory types
            types = (h5t.py_create(data.dtype, logical=True), h5t.py_create(data.dtype))
            self._types[data.dtype] = types
        attr = h5a.create(owner, name.encode("ascii"), types[0], self.scalar)
        try:
            attr.write(data, mtype=types[1])
        finally:
            attr.close()
        return True


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
    executor : ThreadPoolExecutor or None
        Threads to compress on, shared with other work (e.g. the frame
        reader's: fewer threads, fewer malloc arenas holding freed frames —
        about 10 MB less peak memory on a long series); left running by
        :meth:`close`.  Default: the writer's own `workers` threads.
    """

    def __init__(self, group: h5py.Group, dtype="float32", workers: int | None = None,
                 max_pending: int | None = None,
                 executor: ThreadPoolExecutor | None = None) -> None:
        self.group = group
        self.dtype = np.dtype(dtype)
        self.index = sum(1 for key in group if key.startswith(FRAME_PREFIX))
        self.direct = not is_in_memory(group)
        self._level = _compression_level()
        self._shuffle = bool(COMPRESSION.get("shuffle", False))
        self._layout: _FrameLayout | None = None
        workers = workers or os.cpu_count() or 1
        self._max_pending = max_pending or workers
        self._own_pool = executor is None
        self._pool = executor or ThreadPoolExecutor(max_workers=workers,
                                                    thread_name_prefix="fastwrite")
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
            future = self._pool.submit(encode_frame_chunk, data, self._level, self._shuffle)
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
        if self._own_pool:
            self._pool.shutdown(wait=True)

    def _write_oldest(self) -> None:
        data_or_shape, future, meta = self._pending.popleft()
        name = frame_name(self.index)
        if future is not None and self._layout is not None and name.isascii():
            self._write_direct(name, data_or_shape, *future.result(), meta)
        else:
            self._write_with_h5py(name, data_or_shape, future, meta)
        self.index += 1

    def _frame_attributes(self, meta: Mapping[str, Any]) -> dict[str, Any]:
        attributes = {key: check_value(key, value) for key, value in meta.items()}
        attributes.setdefault("qpimage version", QPIMAGE_FORMAT_VERSION)
        attributes.setdefault("flimage version", FLIMAGE_FORMAT_VERSION)
        return attributes

    def _write_with_h5py(self, name: str, data_or_shape, future: Future | None,
                         meta: Mapping[str, Any]) -> None:
        frame = self.group.create_group(name)
        fluorescence = frame.create_group(FLUORESCENCE)
        fluorescence.create_group(BG_DATA)
        if future is None:
            dset = write_image_dataset(fluorescence, RAW, data_or_shape, self.dtype)
        else:
            dset = create_image_dataset(fluorescence, RAW, data_or_shape, self.dtype)
            chunk, filter_mask = future.result()
            dset.id.write_direct_chunk((0,) * len(data_or_shape), chunk, filter_mask)
        for key, value in self._frame_attributes(meta).items():
            frame.attrs[key] = value
        if future is not None and self._layout is None:
            self._layout = _FrameLayout(frame, dset)

    def _write_direct(self, name: str, shape: tuple[int, ...], chunk: bytes, filter_mask: int,
                      meta: Mapping[str, Any]) -> None:
        """One frame through HDF5's calls, laid out as :meth:`_write_with_h5py` lays it out."""
        layout = self._layout
        frame = layout.group(self.group.id, name)
        fluorescence = layout.group(frame, FLUORESCENCE)
        layout.group(fluorescence, BG_DATA)
        dset = layout.dataset(fluorescence, RAW, shape)
        dset.write_direct_chunk((0,) * len(shape), chunk, filter_mask)
        for key, value in IMAGE_ATTRS.items():
            layout.attribute(dset, key, value)
        for key, value in self._frame_attributes(meta).items():
            if not layout.attribute(frame, key, value):
                h5py.Group(frame).attrs[key] = value
