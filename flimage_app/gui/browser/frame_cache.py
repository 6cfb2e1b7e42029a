"""Lazy frame reading with a small look-ahead cache on a reader thread.

One :class:`FrameCache` per open series.  Its reader thread is the only one
that reads pixels from that series; the GUI thread asks for frames with
:meth:`FrameCache.request` and gets them through the ``frameReady`` signal
(immediately when the frame is cached).  While the user scrubs, only the most
recent request matters: older requests are dropped, and once the wanted frame
is read the reader fetches a few frames ahead in the direction of movement.

h5py serialises its own calls, but a frame read is several calls on one file
object, and other GUI code reads attributes of the same file.  Everything in
the GUI that touches an open HDF5 file therefore holds :data:`H5_LOCK`.
"""

from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass, field

import numpy as np
from PyQt6 import QtCore

from flimage_app.gui.workers import error_message

log = logging.getLogger(__name__)

#: Held by every piece of GUI code while it reads from or writes to an open HDF5 file.
H5_LOCK = threading.RLock()

#: What the image view can show of a frame.
VIEW_MODES = ("raw", "background", "corrected")


@dataclass(frozen=True)
class Frame:
    """Pixels of one frame as read from a series.

    `corrected` is raw − background, flimage's definition of the
    background-corrected fluorescence; `background` is None when the frame
    stores no background (then corrected equals raw).
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
    """Read frame `index` of `series`: raw, background (when stored) and metadata."""
    with H5_LOCK:
        image = series[index]
        backgrounds = tuple(image.bg_keys)
        raw = np.asarray(image.raw_fl)
        background = np.asarray(image.bg_fl) if backgrounds else None
        meta = dict(image.meta)
    return Frame.from_arrays(index, raw, background, meta, backgrounds)


def lookahead_indices(index: int, direction: int, count: int, length: int) -> list[int]:
    """Frames worth reading after `index` when moving in `direction` (+1 or −1)."""
    step = -1 if direction < 0 else 1
    candidates = (index + step * offset for offset in range(1, count + 1))
    return [candidate for candidate in candidates if 0 <= candidate < length]


class _Reader(QtCore.QThread):
    """The thread that owns all pixel reads of one series."""

    def __init__(self, cache: FrameCache) -> None:
        super().__init__()
        self._cache = cache

    def run(self) -> None:
        cache = self._cache
        while True:
            index = cache._next_index_to_read()
            if index is None:
                return
            try:
                frame = read_frame(cache.series, index)
            except Exception as error:  # a damaged frame must not kill the reader
                log.warning("Reading frame %d failed: %s", index, error)
                cache._read_failed(index, error_message(error))
            else:
                cache._store(frame)


class FrameCache(QtCore.QObject):
    """Frames of one series, read on demand by a reader thread and kept in an LRU cache.

    Parameters
    ----------
    series
        An open series (``len(series)``, ``series[i].raw_fl``, ``.bg_fl``, ``.bg_keys``).
    capacity_bytes
        Memory the cache may hold; at least the wanted frame and its look-ahead are kept.
    lookahead
        Frames read ahead of the wanted one in the direction of movement.
    """

    frameReady = QtCore.pyqtSignal(int, object)
    readFailed = QtCore.pyqtSignal(int, str)

    def __init__(self, series, capacity_bytes: int = 384 * 2**20, lookahead: int = 4,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.series = series
        with H5_LOCK:
            self.length = len(series)
        self.capacity_bytes = capacity_bytes
        self.lookahead = lookahead
        self._frames: collections.OrderedDict[int, Frame] = collections.OrderedDict()
        self._condition = threading.Condition()
        self._wanted: int | None = None
        self._prefetch: collections.deque[int] = collections.deque()
        self._failed: set[int] = set()
        self._closed = False
        self._reader = _Reader(self)
        self._reader.start()

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
        not emitted).  Any earlier request that is still pending is dropped.
        """
        if not 0 <= index < self.length:
            raise IndexError(f"Frame {index} does not exist; the series has {self.length}")
        with self._condition:
            self._failed.discard(index)
            upcoming = lookahead_indices(index, direction, self.lookahead, self.length)
            self._prefetch = collections.deque(i for i in upcoming if i not in self._frames)
            frame = self._frames.get(index)
            if frame is not None:
                self._frames.move_to_end(index)
                self._wanted = None
            else:
                self._wanted = index
            self._condition.notify()
        return frame

    def close(self) -> None:
        """Stop the reader thread and drop the cached frames."""
        with self._condition:
            self._closed = True
            self._frames.clear()
            self._condition.notify()
        self._reader.wait()

    # --- reader-thread side ---------------------------------------------------------------
    def _next_index_to_read(self) -> int | None:
        with self._condition:
            while True:
                if self._closed:
                    return None
                if self._wanted is not None:
                    index, self._wanted = self._wanted, None
                    if index not in self._frames:
                        return index
                    continue
                while self._prefetch:
                    index = self._prefetch.popleft()
                    if index not in self._frames and index not in self._failed:
                        return index
                self._condition.wait()

    def _store(self, frame: Frame) -> None:
        with self._condition:
            if self._closed:
                return
            self._frames[frame.index] = frame
            self._evict()
        self.frameReady.emit(frame.index, frame)

    def _read_failed(self, index: int, message: str) -> None:
        with self._condition:
            self._failed.add(index)
        self.readFailed.emit(index, message)

    def _evict(self) -> None:
        keep = self.lookahead + 2
        while len(self._frames) > keep and self._used_bytes() > self.capacity_bytes:
            self._frames.popitem(last=False)

    def _used_bytes(self) -> int:
        return sum(frame.nbytes for frame in self._frames.values())
