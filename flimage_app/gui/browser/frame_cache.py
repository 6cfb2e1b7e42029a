"""Lazy frame reading with a look-ahead cache, decoded on every core.

One :class:`FrameCache` per open series.  Its reader threads are the only
ones that read pixels from that series; the GUI thread asks for frames with
:meth:`FrameCache.request` and gets them through the ``frameReady`` signal
(immediately when the frame is cached).  While the user scrubs, only the most
recent request matters: requests not yet started are dropped, and once the
wanted frame is taken the readers fetch frames ahead in the direction of
movement, as many as the memory budget (bytes) holds.

h5py serialises its own calls, but a frame read is several calls on one file
object, and other GUI code reads attributes of the same file.  Everything in
the GUI that touches an open HDF5 file therefore holds :data:`H5_LOCK`.  A
reader holds it only to read a frame's stored chunk and metadata
(:func:`stage_frame`: no HDF5 filter runs); the checksum, the bounded
inflate (which releases the GIL) and the conversions run outside it
(:meth:`StagedFrame.finish`), in the reading boundary's own decoder
(:class:`flimage_app.model.validate.StoredChunk`), so the GUI thread never
waits for an inflate and the readers decode side by side.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from dataclasses import dataclass, field

import h5py
import numpy as np
from PyQt6 import QtCore

from flimage_app.gui.workers import error_message
from flimage_app.model import validate
from flimage_app.model.names import BG_DATA_PATH, RAW_PATH

log = logging.getLogger(__name__)

#: Held by every piece of GUI code while it reads from or writes to an open HDF5 file.
H5_LOCK = threading.RLock()

#: Reader threads per series: they decode (inflate, checksum, convert) on every core, ahead
#: of the slider; more than four would only hold more frames in flight.
READERS = max(1, min(4, os.cpu_count() or 1))

#: What the image view can show of a frame.
VIEW_MODES = ("raw", "background", "corrected")


@dataclass(frozen=True)
class Frame:
    """Pixels of one frame as read from a series.

    `corrected` is raw − background, flimage's definition of the
    background-corrected fluorescence; `background` is None when the frame
    stores no background (then corrected equals raw).  A cached frame is
    shared by every panel: its arrays are not to be modified (those the
    cache's readers decode are read-only).
    """

    index: int
    raw: np.ndarray
    background: np.ndarray | None
    corrected: np.ndarray = field(repr=False)
    #: The frame's metadata (SI units), read together with the pixels so that the GUI
    #: thread need not wait for the file while the reader holds it.
    meta: dict = field(default_factory=dict, repr=False, compare=False)
    #: Names of the stored backgrounds ("data", "fit").
    backgrounds: tuple[str, ...] = ()

    @classmethod
    def from_arrays(cls, index: int, raw: np.ndarray, background: np.ndarray | None,
                    meta: dict | None = None, backgrounds: tuple[str, ...] = ()) -> Frame:
        corrected = raw if background is None else raw - background
        return cls(index=index, raw=raw, background=background, corrected=corrected,
                   meta=dict(meta or {}), backgrounds=tuple(backgrounds))

    def image(self, mode: str) -> np.ndarray:
        """The array shown in view `mode` (one of :data:`VIEW_MODES`)."""
        if mode == "raw":
            return self.raw
        if mode == "corrected":
            return self.corrected
        if mode == "background":
            if self.background is None:
                return np.zeros_like(self.raw)
            return self.background
        raise ValueError(f"Unknown view mode {mode!r}; choose one of {', '.join(VIEW_MODES)}")

    @property
    def nbytes(self) -> int:
        arrays = {id(a): a for a in (self.raw, self.background, self.corrected) if a is not None}
        return sum(array.nbytes for array in arrays.values())


def read_frame(series, index: int) -> Frame:
    """Read frame `index` of `series`: raw, background (when stored) and metadata.

    The whole read holds :data:`H5_LOCK`; :class:`FrameCache` holds it only
    for :func:`stage_frame` and decodes outside it.
    """
    with H5_LOCK:
        image = series[index]
        backgrounds = tuple(image.bg_keys)
        raw = np.asarray(image.raw_fl)
        background = np.asarray(image.bg_fl) if backgrounds else None
        meta = dict(image.meta)
    return Frame.from_arrays(index, raw, background, meta, backgrounds)


@dataclass(frozen=True)
class StagedFrame:
    """A frame whose stored bytes are read and whose decoding is still to do.

    Either `frame` is complete (a frame not stored in the app's one-chunk
    encoding, read by HDF5 under the lock), or `raw` and `backgrounds` are
    stored chunks that :meth:`finish` decodes without the file.
    """

    index: int
    frame: Frame | None = None
    raw: validate.StoredChunk | None = None
    backgrounds: tuple[validate.StoredChunk, ...] = ()
    names: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    def finish(self) -> Frame | None:
        """The decoded frame; None if a checksum is not this reader's to judge (HDF5 reads it).

        Needs no HDF5 call and no lock; raises the reading boundary's
        one-line refusal for a damaged chunk.
        """
        if self.frame is not None:
            return self.frame
        # read-only, no copy: the cache shares its frames with every panel
        raw = self.raw.decode(writable=False)
        if raw is None:
            return None
        background = None
        if self.backgrounds:
            background = np.zeros(raw.shape, dtype=float)  # FLImage.bg_fl: a float64 sum
            for stored in self.backgrounds:
                image = stored.decode(writable=False)
                if image is None:
                    return None
                background += image
        return Frame.from_arrays(self.index, raw, background, self.meta, self.names)


def _stored_image(group, path: str, raw_shape: tuple[int, ...] | None = None
                  ) -> validate.StoredChunk | None:
    """The stored chunk of the 2-D image at `path`, checked as FLImage checks it.

    `raw_shape` None: the raw image (checked as an image); else a background,
    which must have the raw image's shape.  None for anything but a one-chunk
    deflated 2-D image: the caller then reads the frame the ordinary way,
    which gives the model's own refusals.
    """
    dset = validate.member_path(group, path)
    if not isinstance(dset, h5py.Dataset) or dset.ndim != 2:
        return None
    where = validate.object_name(dset)
    if raw_shape is None:
        validate.check_image(dset, where)
    elif tuple(dset.shape) != raw_shape:
        return None
    else:
        validate.check_dataset(dset, where, ndims=(0, 2), what="a background")
    return validate.stored_chunk(dset, where)


def stage_frame(series, index: int) -> StagedFrame:
    """Read what frame `index` needs from the file: metadata and the stored chunks.

    Holds :data:`H5_LOCK` for HDF5 calls that run no filter (``read_direct_chunk``
    and attributes), so other readers of the file wait milliseconds, not the
    inflate.  Frames stored any other way (contiguous, several chunks, other
    filters, a chunk with a skipped filter) are read whole by HDF5 here.
    """
    with H5_LOCK:
        image = series[index]
        names = tuple(image.bg_keys)
        raw = _stored_image(image.h5, RAW_PATH)
        stored = []
        if raw is not None and names:
            group = validate.member_path(image.h5, BG_DATA_PATH)
            stored = [_stored_image(group, name, raw.shape) for name in names]
        if raw is None or any(chunk is None for chunk in stored):
            return StagedFrame(index, frame=read_frame(series, index))
        return StagedFrame(index, raw=raw, backgrounds=tuple(stored), names=names,
                           meta=dict(image.meta))


def lookahead_indices(index: int, direction: int, count: int, length: int) -> list[int]:
    """Frames worth reading after `index` when moving in `direction` (+1 or −1)."""
    step = -1 if direction < 0 else 1
    candidates = (index + step * offset for offset in range(1, count + 1))
    return [candidate for candidate in candidates if 0 <= candidate < length]


class _Reader(threading.Thread):
    """A thread that reads frames of one series: staged under the lock, decoded outside it."""

    def __init__(self, cache: FrameCache, number: int) -> None:
        super().__init__(name=f"frame-reader-{number}", daemon=True)
        self._cache = cache

    def run(self) -> None:
        cache = self._cache
        while True:
            index = cache._next_index_to_read()
            if index is None:
                return
            try:
                staged = stage_frame(cache.series, index)
                frame = staged.finish()  # inflate, checksum, background sum: no lock held
                if frame is None:  # a checksum this reader cannot judge: HDF5 decides
                    frame = read_frame(cache.series, index)
            except Exception as error:  # a damaged frame must not kill the reader
                log.warning("Reading frame %d failed: %s", index, error)
                cache._read_failed(index, error_message(error))
            else:
                cache._store(frame)


class FrameCache(QtCore.QObject):
    """Frames of one series, read ahead by a few reader threads and kept in an LRU cache.

    Parameters
    ----------
    series
        An open series (``len(series)``, ``series[i]`` with ``h5``, ``raw_fl``,
        ``bg_fl``, ``bg_keys``, ``meta``).
    capacity_bytes
        Memory the decoded frames may take.  Look-ahead is cut to what fits;
        only the frame asked for last is kept when it alone is larger.
        Frames being decoded (at most one per reader) come on top.
    lookahead
        Frames read ahead of the wanted one in the direction of movement.
    readers
        Threads that decode frames (default :data:`READERS`).
    """

    frameReady = QtCore.pyqtSignal(int, object)
    readFailed = QtCore.pyqtSignal(int, str)

    def __init__(self, series, capacity_bytes: int = 384 * 2**20, lookahead: int = 8,
                 readers: int | None = None, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.series = series
        with H5_LOCK:
            self.length = len(series)
        self.capacity_bytes = int(capacity_bytes)
        self.lookahead = lookahead
        self._frames: collections.OrderedDict[int, Frame] = collections.OrderedDict()
        self._used = 0
        self._condition = threading.Condition()
        self._wanted: int | None = None
        #: the frame asked for last: never evicted (it is, or is about to be, on display)
        self._current: int | None = None
        self._prefetch: collections.deque[int] = collections.deque()
        self._in_progress: set[int] = set()
        self._failed: set[int] = set()
        #: decoded size of the last frame read: how many frames the look-ahead can afford
        self._frame_bytes = 0
        self._closed = False
        self._readers = [_Reader(self, number) for number in range(readers or READERS)]
        for reader in self._readers:
            reader.start()

    # --- GUI-thread API -------------------------------------------------------------------
    def cached(self, index: int) -> Frame | None:
        """The frame if it is in the cache, else None (never reads)."""
        with self._condition:
            frame = self._frames.get(index)
            if frame is not None:
                self._frames.move_to_end(index)
            return frame

    def request(self, index: int, direction: int = 1) -> Frame | None:
        """Ask for frame `index`; it arrives through ``frameReady``.

        Returns the frame at once when it is cached (``frameReady`` is then
        not emitted).  Earlier requests not yet started are dropped: the
        readers go on with this frame and the look-ahead after it.
        """
        if not 0 <= index < self.length:
            raise IndexError(f"Frame {index} does not exist; the series has {self.length}")
        with self._condition:
            self._failed.discard(index)
            self._current = index
            upcoming = lookahead_indices(index, direction, self._affordable_lookahead(),
                                         self.length)
            self._prefetch = collections.deque(i for i in upcoming if i not in self._frames)
            frame = self._frames.get(index)
            if frame is not None:
                self._frames.move_to_end(index)
                self._wanted = None
            else:
                self._wanted = index
            self._condition.notify_all()
        return frame

    def close(self) -> None:
        """Stop the reader threads and drop the cached frames."""
        with self._condition:
            self._closed = True
            self._frames.clear()
            self._used = 0
            self._condition.notify_all()
        for reader in self._readers:
            reader.join()

    @property
    def running(self) -> bool:
        """True while a reader thread is alive (until :meth:`close` returns)."""
        return any(reader.is_alive() for reader in self._readers)

    # --- reader-thread side ---------------------------------------------------------------
    def _affordable_lookahead(self) -> int:
        """Look-ahead frames that fit in the budget beside the frame on display."""
        if self._frame_bytes <= 0:
            return self.lookahead
        return max(0, min(self.lookahead, self.capacity_bytes // self._frame_bytes - 1))

    def _next_index_to_read(self) -> int | None:
        with self._condition:
            while True:
                if self._closed:
                    return None
                index = None
                if self._wanted is not None:
                    index, self._wanted = self._wanted, None
                while index is None and self._prefetch:
                    candidate = self._prefetch.popleft()
                    if candidate not in self._failed:
                        index = candidate
                if index is not None and index not in self._frames \
                        and index not in self._in_progress:
                    self._in_progress.add(index)
                    return index
                if index is None:
                    self._condition.wait()

    def _store(self, frame: Frame) -> None:
        with self._condition:
            self._in_progress.discard(frame.index)
            if self._closed:
                return
            if frame.index not in self._frames:
                self._frames[frame.index] = frame
                self._used += frame.nbytes
            self._frame_bytes = frame.nbytes
            self._evict()
        self.frameReady.emit(frame.index, frame)

    def _read_failed(self, index: int, message: str) -> None:
        with self._condition:
            self._in_progress.discard(index)
            if self._closed:
                return
            self._failed.add(index)
        self.readFailed.emit(index, message)

    def _evict(self) -> None:
        """Drop the least recently used frames beyond the budget, never the one asked for."""
        for index in list(self._frames):
            if self._used <= self.capacity_bytes:
                return
            if index != self._current:
                self._used -= self._frames.pop(index).nbytes

    def _used_bytes(self) -> int:
        """Bytes of the decoded frames held."""
        with self._condition:
            return self._used
