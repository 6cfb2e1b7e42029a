"""An open series as the GUI sees it: the file, its frame cache and unsaved metadata edits.

The input file is never written.  Metadata edits, of frames and of the series
itself (its identifier), are kept in memory and written only into a copy by
:meth:`Document.save_copy` (File ▸ Save As), through
:func:`flimage_app.model.h5io.atomic_output`.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py

from flimage_app.gui.browser.frame_cache import H5_LOCK, FrameCache
from flimage_app.gui.events import Event
from flimage_app.gui.history import History
from flimage_app.model.h5io import atomic_output, copy_group
from flimage_app.model.meta import MetaDataMissingError, check_value

#: Series-level metadata keys (attributes of the FLSeries root group) and their meaning.
SERIES_DEF: dict[str, str] = {"identifier": "identifier of the whole series"}
SERIES_KEYS: list[str] = list(SERIES_DEF)


class Document:
    """One open series.

    Parameters
    ----------
    series
        The open FLSeries (from :func:`flimage_app.model.loader.open_series`).
    name
        Name shown in the list of open series.
    source_path
        The file it came from, or None for a series made in the app.
    source_kind
        "FLSeries", "FLImage" or "stack" (see ``loader.file_kind``), or None.
    temporary_path
        For a result made in the app (a corrected series): its file in the scratch
        folder (:mod:`flimage_app.gui.scratch`).  The result is unsaved work until it is
        saved, and the file is removed when the document closes.
    """

    def __init__(self, series, name: str, source_path: str | None = None,
                 source_kind: str | None = None, *,
                 temporary_path: str | os.PathLike | None = None) -> None:
        self.series = series
        self.name = name
        self.source_path = os.path.abspath(source_path) if source_path else None
        self.source_kind = source_kind
        self.cache = FrameCache(series)
        self.temporary_path = os.fspath(temporary_path) if temporary_path else None
        #: Unsaved metadata edits: frame index → {key: value (SI, validated)}.
        self.edits: dict[int, dict[str, Any]] = {}
        #: Where File ▸ Save writes after a first Save As.
        self.saved_path: str | None = None
        self._saved_edits: dict[int, dict[str, Any]] = {}
        #: Unsaved series metadata edits: key → value (validated; None removes the attribute).
        #: Only values that differ from the opened file are kept, so setting a value back
        #: to the file's is no edit.
        self.series_edits: dict[str, Any] = {}
        self._saved_series_edits: dict[str, Any] = {}
        self._file_series_meta: dict[str, Any] = {}
        #: Metadata as read from the file, by frame (filled by the reader thread's frames).
        self._file_meta: dict[int, dict[str, Any]] = {}
        self.current_index = 0
        #: Panels' writers of app data (e.g. ROI sets): called with the root group of the
        #: saved copy inside the atomic write, so the copy is complete or absent.
        self.app_data_writers: list[Callable[[h5py.Group], None]] = []
        #: Undo / redo of every edit of this series (ROIs, metadata, panel settings).
        self.history = History()
        #: Each panel's Qt-free state for this series (its settings, ROIs, results), by panel
        #: name.  A state object may define ``unsaved_work() -> list[str]``: one short phrase
        #: per kind of unsaved work ("3 background ROIs"), named before a close discards it.
        self.panel_state: dict[str, Any] = {}
        #: emitted when the unsaved work or the title may have changed
        self.changed = Event()

    def __len__(self) -> int:
        return self.cache.length

    @property
    def modified(self) -> bool:
        """True when a close would lose work: see :meth:`unsaved_work`."""
        return bool(self.unsaved_work())

    def metadata_modified(self) -> bool:
        """True when there are frame or series edits not yet written to a saved copy."""
        return (self.edits != self._saved_edits
                or self.series_edits != self._saved_series_edits)

    def unsaved_work(self) -> list[str]:
        """What a close would lose, one phrase per kind of work ([] when nothing)."""
        work: list[str] = []
        if self.temporary_path is not None and self.saved_path is None:
            work.append("the result itself (it was never saved)")
        if self.metadata_modified():
            frames = {index for index, changes in self.edits.items()
                      if changes != self._saved_edits.get(index)}
            if frames:
                work.append(f"metadata edits of {len(frames)} frame(s)")
            if self.series_edits != self._saved_series_edits:
                work.append("series metadata edits")
        for state in self.panel_state.values():
            describe = getattr(state, "unsaved_work", None)
            if describe is not None:
                work.extend(describe())
        return work

    @property
    def title(self) -> str:
        return f"{self.name}{' *' if self.modified else ''}"

    # --- metadata -------------------------------------------------------------------------
    def frame_meta(self, index: int) -> dict[str, Any]:
        """Metadata of frame `index` with the unsaved edits applied."""
        if index not in self._file_meta:
            with H5_LOCK:
                self._file_meta[index] = dict(self.series[index].meta)
        meta = dict(self._file_meta[index])
        meta.update(self.edits.get(index, {}))
        return meta

    def remember_frame(self, frame) -> None:
        """Keep the metadata that came with a frame read by the cache (saves a file access)."""
        self._file_meta.setdefault(frame.index, frame.meta)

    def meta_value(self, index: int, key: str, default: Any = None) -> Any:
        try:
            return self.frame_meta(index)[key]
        except (KeyError, MetaDataMissingError):
            return default

    def pixel_size(self, index: int) -> float | None:
        """Pixel size of frame `index` in metres, or None if unknown."""
        value = self.meta_value(index, "pixel size")
        try:
            return float(value) if value is not None and float(value) > 0 else None
        except (TypeError, ValueError):
            return None

    def set_meta(self, key: str, value: Any, frames: list[int]) -> Any:
        """Record an edit of `key` for `frames` after validating it; returns the stored value.

        Raises
        ------
        KeyError, ValueError
            Unknown key or invalid value (message fit for the user).
        """
        checked = check_value(key, value)
        for index in frames:
            self.edits.setdefault(index, {})[key] = checked
        return checked

    def set_interval(self, interval: float, start: float = 0.0) -> None:
        """Record the times ``start + i · interval`` [s] as edits of every frame `i`.

        For series saved without times or with a wrong frame interval.

        Raises
        ------
        ValueError
            `interval` is not a positive number or `start` is not a number.
        """
        interval, start = float(interval), float(start)
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"The frame interval must be a positive number of seconds, "
                             f"got {interval!r}")
        if not math.isfinite(start):
            raise ValueError(f"The time of the first frame must be a number, got {start!r}")
        for index in range(len(self)):
            self.edits.setdefault(index, {})["time"] = check_value("time",
                                                                   start + index * interval)

    def discard_edits(self) -> None:
        self.edits.clear()
        self.series_edits.clear()

    @property
    def has_series_level(self) -> bool:
        """False for a single FLImage file: it holds one image and no series attributes."""
        return self.source_kind != "FLImage"

    def _file_series_value(self, key: str) -> Any:
        """Series attribute `key` of the opened file (None if unset or empty)."""
        if key not in self._file_series_meta:
            with H5_LOCK:
                value = self.series.series_meta(key)  # checked by the model's reading boundary
            self._file_series_meta[key] = None if value == "" else value
        return self._file_series_meta[key]

    def series_meta(self, key: str) -> Any:
        """Series metadata `key` (e.g. "identifier") with the unsaved edit applied.

        Returns None when it is unset, removed by an edit, or when the file is a
        single FLImage (no series level).
        """
        if not self.has_series_level:
            return None
        if key in self.series_edits:
            return self.series_edits[key]
        return self._file_series_value(key)

    def series_meta_edited(self, key: str) -> bool:
        """True when series metadata `key` differs from the last saved copy (or the file)."""
        unset = object()
        return self.series_edits.get(key, unset) != self._saved_series_edits.get(key, unset)

    def set_series_meta(self, key: str, value: Any) -> Any:
        """Record an edit of series metadata `key`; returns the stored value.

        An empty string removes the attribute from saved copies (stored as None).

        Raises
        ------
        KeyError, ValueError
            Unknown series key, invalid value, or a single FLImage file, which has
            no series metadata (messages fit for the user).
        """
        if key not in SERIES_DEF:
            raise KeyError(f"Unknown series metadata key {key!r}; "
                           f"valid keys are: {', '.join(SERIES_KEYS)}")
        if not self.has_series_level:
            raise ValueError("This file is a single FLImage and has no series metadata; "
                             "edit the frame's identifier instead")
        checked = check_value(key, value)
        if checked == "":
            checked = None
        if checked == self._file_series_value(key):
            # the copy starts from the input file, which already has this value
            self.series_edits.pop(key, None)
        else:
            self.series_edits[key] = checked
        return checked

    # --- saving ---------------------------------------------------------------------------
    def save_copy(self, target: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the series with its edits to `target` (atomic; input file untouched).

        A file opened from disk is copied byte for byte (nothing is recomputed
        or recompressed) and the edits are written into the copy: frame edits as
        attributes of the frames, series edits as attributes of the series root
        (an edit to None deletes the attribute); a series made in memory is
        written as an FLSeries file.
        """
        target = Path(target)
        if self.source_path and target.resolve() == Path(self.source_path).resolve():
            raise ValueError("Saving over the opened input file is not allowed; "
                             "choose another name")
        byte_copy = (self.source_kind in ("FLSeries", "FLImage")
                     and self.source_path is not None)
        with atomic_output(target, overwrite=overwrite) as temporary:
            with H5_LOCK:
                if byte_copy:
                    shutil.copyfile(self.source_path, temporary)
                else:
                    with h5py.File(temporary, "w") as output:
                        copy_group(self.series.h5, output)
                frame_paths = {index: self._frame_path(index, byte_copy) for index in self.edits}
            with h5py.File(temporary, "r+") as output:
                for index, changes in self.edits.items():
                    attrs = output[frame_paths[index]].attrs
                    for key, value in changes.items():
                        attrs[key] = value
                root = output[self._root_path(byte_copy)]
                for key, value in self.series_edits.items():
                    if value is None:
                        if key in root.attrs:
                            del root.attrs[key]
                    else:
                        root.attrs[key] = value
                for write in self.app_data_writers:
                    write(root)
        # the copy holds every edit so far; later saves start again from the input file
        self.saved_path = str(target)
        self._saved_edits = {index: dict(changes) for index, changes in self.edits.items()}
        self._saved_series_edits = dict(self.series_edits)
        return target

    def _root_path(self, byte_copy: bool) -> str:
        """HDF5 path, in the saved copy, of the group that holds the series (or the FLImage)."""
        if byte_copy:
            return self.series.h5.name if self.source_kind == "FLSeries" else "/"
        return "/"

    def _frame_path(self, index: int, byte_copy: bool) -> str:
        """HDF5 path of frame `index` in the saved copy."""
        if byte_copy and self.source_kind == "FLImage":
            return "/"  # an FLImage file keeps its image at the root
        frame_name = self.series[index].h5.name
        root = self.series.h5.name.rstrip("/")
        relative = frame_name[len(root):] if frame_name.startswith(root) else frame_name
        return relative or "/"

    def close(self) -> None:
        """Stop reading and close the file."""
        self.cache.close()
        with H5_LOCK:
            close = getattr(self.series, "close", None)
            if close is not None:
                close()
