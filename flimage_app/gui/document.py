"""An open series as the GUI sees it: the file, its frame cache and all of its unsaved work.

The input file is never written.  Metadata edits, of frames and of the series
itself (its identifier), are kept in memory and written only into a copy by
:meth:`Document.save_copy` (File ▸ Save As), through
:func:`flimage_app.model.h5io.atomic_output`.  Every metadata edit is an undoable
step of :attr:`Document.history`, whoever makes it.
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
from flimage_app.gui.scratch import remove_scratch_file
from flimage_app.model.errors import FileFormatError
from flimage_app.model.h5io import atomic_output, copy_group
from flimage_app.model.meta import MetaDataMissingError, check_value

#: Series-level metadata keys (attributes of the FLSeries root group) and their meaning.
SERIES_DEF: dict[str, str] = {"identifier": "identifier of the whole series"}
SERIES_KEYS: list[str] = list(SERIES_DEF)

#: (frame edits, series edits): the whole of a document's metadata edits at one moment
MetaSnapshot = tuple[dict[int, dict[str, Any]], dict[str, Any]]


class Document:
    """One open series and everything the user did to it that is not yet saved.

    What a close would lose is listed by :meth:`unsaved_work`:

    * a series made in the app (no `source_path`, e.g. a corrected series) that was
      never saved;
    * metadata edits of frames and of the series (:meth:`set_meta`,
      :meth:`set_series_meta`, :meth:`set_interval`), each an undoable step of
      :attr:`history` ("Edit pixel size");
    * the panels' work, through the states in :attr:`panel_state`.

    Protocol of a panel state (any object; every method is optional):

    * ``unsaved_work() -> list[str]``: one short phrase per kind of unsaved work
      ("3 background ROIs"); [] when there is none;
    * ``mark_saved() -> None``: called after every successful :meth:`save_copy`
      that became the document's file (File ▸ Save / Save As, not Export), so the
      state can forget that its work was unsaved.

    A state whose unsaved work changes says so by pushing a step to :attr:`history`
    (which emits :attr:`changed`) or by calling ``document.changed.emit()``; the
    window's ``*`` marks and its Edit menu follow.

    A panel that stores data in saved copies appends a writer to
    :attr:`app_data_writers`.  :attr:`changed` is emitted whenever the unsaved
    work, the history or the title may have changed; :attr:`metadata_changed`
    (with the set of keys) after metadata edits and their undo / redo, so views
    of the metadata refresh whoever made the change.

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
        self.cache = self._make_cache(series)
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
        #: emitted with the set of metadata keys that changed (an edit, its undo or redo)
        self.metadata_changed = Event()
        self.history.changed.connect(self.changed.emit)
        self._provenance: dict | None | bool = False  # False: not read yet

    def _make_cache(self, series) -> FrameCache:
        """The frame cache of `series` (a hyperstack document shares one per leaf)."""
        return FrameCache(series)

    def __len__(self) -> int:
        return self.cache.length

    def all_panel_states(self) -> list[Any]:
        """Every panel state of the document (a hyperstack's of every channel and plane)."""
        return list(self.panel_state.values())

    @property
    def modified(self) -> bool:
        """True when a close would lose work: see :meth:`unsaved_work`."""
        return bool(self.unsaved_work())

    def metadata_modified(self) -> bool:
        """True when there are frame or series edits not yet written to a saved copy."""
        return (self.edits != self._saved_edits
                or self.series_edits != self._saved_series_edits)

    @property
    def is_result(self) -> bool:
        """True for a series made in the app (e.g. a corrected series), not opened from a file."""
        return self.source_path is None

    def unsaved_work(self) -> list[str]:
        """What a close would lose, one phrase per kind of work ([] when nothing)."""
        work: list[str] = []
        if self.is_result and self.saved_path is None:
            work.append("the series itself (made in this session and never saved)")
        if self.metadata_modified():
            # a frame edited since the save, or whose saved edit was undone
            frames = {index for index in set(self.edits) | set(self._saved_edits)
                      if self.edits.get(index, {}) != self._saved_edits.get(index, {})}
            if frames:
                work.append(f"metadata edits of {len(frames)} frame(s)")
            if self.series_edits != self._saved_series_edits:
                work.append("series metadata edits")
        for state in self.all_panel_states():
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

        def change() -> None:
            for index in frames:
                self.edits.setdefault(index, {})[key] = checked

        self._record(f"Edit {key}", change)
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
        times = [check_value("time", start + index * interval) for index in range(len(self))]

        def change() -> None:
            for index, time in enumerate(times):
                self.edits.setdefault(index, {})["time"] = time

        self._record("Set frame interval", change)

    def discard_edits(self) -> None:
        """Forget every metadata edit (an undoable step)."""
        self._record("Discard metadata edits", lambda: (self.edits.clear(),
                                                        self.series_edits.clear()))

    # --- undo / redo of metadata edits -----------------------------------------------------
    def _meta_snapshot(self) -> MetaSnapshot:
        return ({index: dict(changes) for index, changes in self.edits.items()},
                dict(self.series_edits))

    def _restore_meta(self, snapshot: MetaSnapshot) -> None:
        frames, series = snapshot
        before = self._meta_snapshot()
        # in place: views hold on to these dictionaries
        self.edits.clear()
        self.edits.update({index: dict(changes) for index, changes in frames.items()})
        self.series_edits.clear()
        self.series_edits.update(series)
        self.metadata_changed.emit(_changed_keys(before, self._meta_snapshot()))

    def _record(self, text: str, change: Callable[[], Any]) -> None:
        """Make a metadata edit and push it to :attr:`history` (nothing if it changed nothing)."""
        before = self._meta_snapshot()
        change()
        after = self._meta_snapshot()
        if after == before:
            return
        self.history.push(text, lambda: self._restore_meta(before),
                          lambda: self._restore_meta(after))
        self.metadata_changed.emit(_changed_keys(before, after))

    @property
    def has_series_level(self) -> bool:
        """False for a single FLImage file: it holds one image and no series attributes."""
        return self.source_kind != "FLImage"

    def _file_series_value(self, key: str) -> Any:
        """Series attribute `key` of the opened file (None if unset or empty)."""
        if key not in self._file_series_meta:
            # through the reading boundary: a file's series attribute may be of any shape
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
            self._record(f"Edit series {key}", lambda: self.series_edits.pop(key, None))
        else:
            self._record(f"Edit series {key}",
                         lambda: self.series_edits.__setitem__(key, checked))
        return checked

    # --- saving ---------------------------------------------------------------------------
    def save_copy(self, target: str | os.PathLike, overwrite: bool = False, *,
                  remember: bool = True) -> Path:
        """Write the series with its edits and the panels' data to `target` (atomic).

        A file opened from disk is copied byte for byte (nothing is recomputed
        or recompressed) and the edits are written into the copy: frame edits as
        attributes of the frames, series edits as attributes of the series root
        (an edit to None deletes the attribute); a series made in memory is
        written as an FLSeries file.  Every writer of :attr:`app_data_writers`
        adds its data (e.g. ROIs) to the copy.  The input file is never written.

        With `remember` (File ▸ Save / Save As) the copy becomes the document's
        file: its work is saved (:meth:`mark_saved`).  Without (File ▸ Export ▸
        HDF5), the copy is written and the document's unsaved work stays unsaved.
        Safe to call from a worker thread when `remember` is False.
        """
        target = Path(target)
        with H5_LOCK:
            reading = self.series.filename  # the file the series is read from (None: memory)
        refuse_own_file(target, self.source_path, self.temporary_path, reading)
        # the edits as they are now: a worker's copy is not changed by later edits
        edits, series_edits = self._meta_snapshot()
        byte_copy = (self.source_kind in ("FLSeries", "FLImage")
                     and self.source_path is not None)
        with atomic_output(target, overwrite=overwrite) as temporary:
            with H5_LOCK:
                if byte_copy:
                    shutil.copyfile(self.source_path, temporary)
                else:
                    with h5py.File(temporary, "w") as output:
                        copy_group(self.series.h5, output)
                frame_paths = {index: self._frame_path(index, byte_copy) for index in edits}
            with h5py.File(temporary, "r+") as output:
                root = output[self._root_path(byte_copy)]
                write_meta_edits(output, frame_paths, edits, root, series_edits)
                for write in self.app_data_writers:
                    write(root)
        if remember:
            self.mark_saved(target, (edits, series_edits))
        return target

    def mark_saved(self, target: str | os.PathLike,
                   saved: MetaSnapshot | None = None) -> None:
        """Record that `target` holds the edits `saved` (default: every edit so far).

        The history is marked clean and every panel state's ``mark_saved()`` is called.
        """
        # later saves start again from the input file and write every edit
        self.saved_path = str(target)
        self._saved_edits, self._saved_series_edits = saved or self._meta_snapshot()
        for state in self.all_panel_states():
            saved = getattr(state, "mark_saved", None)
            if saved is not None:
                saved()
        self.history.mark_clean()  # emits changed

    def provenance(self) -> dict | None:
        """The record of how the app made this series (see ``model.provenance``), or None.

        Read once; a series opened from a file the app wrote (e.g. a saved corrected
        series) has it too.
        """
        if self._provenance is False:
            from flimage_app.model.provenance import read_provenance

            try:
                with H5_LOCK:
                    self._provenance = read_provenance(self.series)
            except (FileFormatError, OSError, KeyError, ValueError):
                self._provenance = None
        return self._provenance

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
        """Stop reading, close the file, and remove the result's scratch file if it has one."""
        self.cache.close()
        with H5_LOCK:
            close = getattr(self.series, "close", None)
            if close is not None:
                close()
        if self.temporary_path is not None:
            remove_scratch_file(self.temporary_path)


def refuse_own_file(target: Path, *own: str | os.PathLike | None) -> None:
    """ValueError if `target` is one of the files the document reads (`own`)."""
    for path in own:
        if path and target.resolve() == Path(path).resolve():
            raise ValueError("Saving over the opened input file is not allowed; "
                             "choose another name")


def write_meta_edits(output: h5py.File, frame_paths: dict[int, str],
                     edits: dict[int, dict[str, Any]], root: h5py.Group,
                     series_edits: dict[str, Any]) -> None:
    """Write frame `edits` into the frames at `frame_paths` of a saved copy, and the
    `series_edits` into its series `root` (None removes the attribute)."""
    for index, changes in edits.items():
        attrs = output[frame_paths[index]].attrs
        for key, value in changes.items():
            attrs[key] = value
    for key, value in series_edits.items():
        if value is None:
            if key in root.attrs:
                del root.attrs[key]
        else:
            root.attrs[key] = value


def _changed_keys(before: MetaSnapshot, after: MetaSnapshot) -> set[str]:
    """Metadata keys whose edits differ between two snapshots ("identifier" for the series)."""
    keys: set[str] = set()
    for index in set(before[0]) | set(after[0]):
        old, new = before[0].get(index, {}), after[0].get(index, {})
        keys.update(key for key in set(old) | set(new) if old.get(key) != new.get(key))
    old, new = before[1], after[1]
    keys.update(f"series {key}" for key in set(old) | set(new) if old.get(key) != new.get(key))
    return keys
