"""A multi-channel / Z document: one open hyperstack file, browsed one leaf series at a time.

A hyperstack file (``flimage_app.model.hyperstack``) holds one complete FLSeries
per channel and Z plane (its *leaves*).  The GUI opens it as one
:class:`HyperstackDocument`: a :class:`~flimage_app.gui.document.Document`
whose :attr:`~flimage_app.gui.document.Document.series` and ``cache`` are the
leaf of the channel and plane chosen in its :attr:`HyperstackDocument.view`
(:class:`~flimage_app.gui.channels.ChannelView`).  Every panel keeps working on
``document.series`` and needs to know nothing else; when the choice changes the
document swaps the leaf and emits :attr:`HyperstackDocument.leaf_changed`, and
the window shows the new leaf as it shows another document.

What is per leaf and what is shared:

* panel states named in :data:`PER_LEAF_PANELS` (the bleach panel: each channel
  has its own fit) are kept per leaf; the others (background ROIs, measurements)
  are shared by every channel and plane, as the ROIs are drawn on the same
  pixels;
* metadata edits are by frame (= time point) and apply to every leaf;
* File ▸ Save As copies the whole file (every channel and plane) and writes the
  edits and the panels' data into every leaf it concerns.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import h5py

from flimage_app.gui.browser.frame_cache import H5_LOCK, FrameCache
from flimage_app.gui.channels import ChannelView
from flimage_app.gui.document import Document, refuse_own_file, write_meta_edits
from flimage_app.gui.events import Event
from flimage_app.gui.scratch import remove_scratch_file
from flimage_app.model.h5io import atomic_output

#: Panel states kept per channel and plane (every other state is shared by all leaves).
PER_LEAF_PANELS = frozenset({"bleach"})

#: Memory the frame caches of one document may hold together (split over the leaves shown).
CACHE_BYTES = 384 * 2**20

Leaf = tuple[int, int]
Writer = Callable[[h5py.Group], None]


class LeafPanelState(MutableMapping):
    """``document.panel_state`` of a hyperstack: per-leaf keys go to the current leaf's dict."""

    def __init__(self, document: HyperstackDocument) -> None:
        self._document = document
        self.shared: dict[str, Any] = {}
        self.by_leaf: dict[Leaf, dict[str, Any]] = {}
        #: (key, leaf) of the state stored last: the writer appended next belongs to it
        self.last_stored: tuple[str, Leaf | None] | None = None

    def _dict_for(self, key: str) -> dict[str, Any]:
        if key in PER_LEAF_PANELS:
            return self.by_leaf.setdefault(self._document.leaf, {})
        return self.shared

    def __getitem__(self, key: str) -> Any:
        return self._dict_for(key)[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._dict_for(key)[key] = value
        self.last_stored = (key, self._document.leaf if key in PER_LEAF_PANELS else None)

    def __delitem__(self, key: str) -> None:
        del self._dict_for(key)[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.shared
        yield from self.by_leaf.get(self._document.leaf, {})

    def __len__(self) -> int:
        return len(self.shared) + len(self.by_leaf.get(self._document.leaf, {}))

    def every_state(self) -> list[tuple[Leaf | None, str, Any]]:
        """(leaf or None for shared, key, state) of every state of the document."""
        states: list[tuple[Leaf | None, str, Any]] = [(None, key, state)
                                                      for key, state in self.shared.items()]
        for leaf, states_of_leaf in self.by_leaf.items():
            states.extend((leaf, key, state) for key, state in states_of_leaf.items())
        return states


class LeafWriters(list):
    """``document.app_data_writers`` of a hyperstack: each writer knows its leaf.

    Panel states are attached as ``panel_state[key] = state`` followed by
    ``app_data_writers.append(state.writer)``: the writer belongs to the state
    stored just before, so a per-leaf state's writer writes into its own leaf of
    a saved copy and a shared state's writer into every leaf.
    """

    def __init__(self, panel_state: LeafPanelState) -> None:
        super().__init__()
        self._panel_state = panel_state
        #: writer id → its leaf (None: every leaf)
        self.leaf_of: dict[int, Leaf | None] = {}

    def append(self, writer: Writer) -> None:
        stored = self._panel_state.last_stored
        self.leaf_of[id(writer)] = stored[1] if stored is not None else None
        super().append(writer)

    def writers_for(self, leaf: Leaf) -> list[Writer]:
        """The writers whose data goes into `leaf`'s group of a saved copy."""
        return [writer for writer in self if self.leaf_of.get(id(writer)) in (None, leaf)]


class HyperstackDocument(Document):
    """An open hyperstack file (see the module docstring).

    Parameters
    ----------
    hyperstack
        The open file (``flimage_app.model.hyperstack.open_hyperstack``): its
        ``channel_names``, ``channel_colours``, ``n_channels``, ``n_planes``,
        ``z_step``, ``filename``, ``series(channel, plane)`` and ``close()`` are used.
    name
        Name shown in the list of open series.
    source_path
        The hyperstack file the user opened, or None for one made in the app
        (an import of a microscope file, a corrected hyperstack).
    temporary_path
        Its scratch file when it was made in the app.
    origin
        What it was made from, for the unsaved-work text ("the import of cells.czi").
    """

    def __init__(self, hyperstack, name: str, source_path: str | None = None, *,
                 temporary_path: str | os.PathLike | None = None,
                 origin: str | None = None) -> None:
        self.hyperstack = hyperstack
        self.view = ChannelView(list(hyperstack.channel_names),
                                list(hyperstack.channel_colours), int(hyperstack.n_planes),
                                hyperstack.z_step)
        self.origin = origin
        self.leaf: Leaf = (0, 0)
        self._leaf_series: dict[Leaf, Any] = {}
        self._caches: dict[Leaf, FrameCache] = {}
        self._leaf_meta: dict[Leaf, dict[int, dict[str, Any]]] = {}
        self._leaf_provenance: dict[Leaf, Any] = {}
        with H5_LOCK:
            first = self.leaf_series(0, 0)
        super().__init__(first, name, source_path, "hyperstack", temporary_path=temporary_path)
        self._leaf_meta[self.leaf] = self._file_meta
        self.panel_state = LeafPanelState(self)
        self.app_data_writers = LeafWriters(self.panel_state)
        #: emitted after :attr:`series` and ``cache`` became another leaf's
        self.leaf_changed = Event()
        self.view.changed.connect(self._on_view_changed)

    # ------------------------------------------------------------------ leaves
    @property
    def n_channels(self) -> int:
        return self.view.n_channels

    @property
    def n_planes(self) -> int:
        return self.view.planes

    def leaves(self) -> list[Leaf]:
        """Every (channel, plane) of the file, channel by channel."""
        return [(channel, plane) for channel in range(self.n_channels)
                for plane in range(self.n_planes)]

    def leaf_name(self, leaf: Leaf) -> str:
        """The channel's name, and the plane where there are several ("GFP, plane 2")."""
        channel, plane = leaf
        name = self.view.names[channel]
        return f"{name}, plane {plane}" if self.n_planes > 1 else name

    def leaf_series(self, channel: int, plane: int):
        """The FLSeries of `channel` and `plane` (opened on first use)."""
        key = (int(channel), int(plane))
        if key not in self._leaf_series:
            with H5_LOCK:
                self._leaf_series[key] = self.hyperstack.series(channel=key[0], plane=key[1])
        return self._leaf_series[key]

    def _make_cache(self, series) -> FrameCache:
        return self.cache_for(*self.leaf)

    def cache_for(self, channel: int, plane: int) -> FrameCache:
        """The frame cache of a leaf (made on first use; the composite reads several)."""
        key = (int(channel), int(plane))
        if key not in self._caches:
            share = max(CACHE_BYTES // max(self.n_channels, 1), 32 * 2**20)
            self._caches[key] = FrameCache(self.leaf_series(*key), capacity_bytes=share)
        return self._caches[key]

    def channel_caches(self) -> list[FrameCache]:
        """The frame cache of every channel at the plane on display."""
        return [self.cache_for(channel, self.view.plane) for channel in range(self.n_channels)]

    def _drop_caches(self, keep_plane: int) -> None:
        """Stop the readers of other planes: stepping through Z keeps one plane's caches,
        not a reader thread and its frames for every plane ever shown."""
        for key in [key for key in self._caches if key[1] != keep_plane]:
            self._caches.pop(key).close()

    def _on_view_changed(self, what: str) -> None:
        if what in ("channel", "plane"):
            self.select_leaf(self.view.channel, self.view.plane)

    def select_leaf(self, channel: int, plane: int) -> None:
        """Make the leaf of `channel` and `plane` the document's :attr:`series`."""
        key = (int(channel), int(plane))
        if key == self.leaf:
            return
        self._leaf_provenance[self.leaf] = self._provenance
        self.leaf = key
        self.series = self.leaf_series(*key)
        self.cache = self.cache_for(*key)
        self._drop_caches(keep_plane=key[1])
        self._file_meta = self._leaf_meta.setdefault(key, {})
        self._file_series_meta = {}
        self._provenance = self._leaf_provenance.get(key, False)
        self.leaf_changed.emit()

    # ------------------------------------------------------------------ unsaved work
    def all_panel_states(self) -> list[Any]:
        return [state for _leaf, _key, state in self.panel_state.every_state()]

    def unsaved_work(self) -> list[str]:
        work = super().unsaved_work()
        if self.is_result and self.saved_path is None and work:
            layout = f"{self.n_channels} channel{'s' if self.n_channels != 1 else ''}"
            if self.n_planes > 1:
                layout += f" × {self.n_planes} planes"
            what = self.origin or "the series itself"
            work[0] = f"{what} ({layout}; made in this session and never saved)"
        return work

    # ------------------------------------------------------------------ saving
    def save_copy(self, target: str | os.PathLike, overwrite: bool = False, *,
                  remember: bool = True) -> Path:
        """Write the whole hyperstack with its edits and the panels' data to `target` (atomic).

        The file is copied byte for byte (every channel and plane, nothing
        recomputed); the frame edits go into the frames of every leaf, the series
        edits into every leaf's root, and each panel writer into its leaf (a
        shared panel's into every leaf).  See :meth:`Document.save_copy`.
        """
        target = Path(target)
        with H5_LOCK:
            reading = self.hyperstack.filename
        refuse_own_file(target, self.source_path, self.temporary_path, reading)
        edits, series_edits = self._meta_snapshot()
        leaf_groups = {}
        with H5_LOCK:
            for leaf in self.leaves():
                series = self.leaf_series(*leaf)
                frames = {index: series[index].h5.name for index in edits}
                leaf_groups[leaf] = (series.h5.name, frames)
        with atomic_output(target, overwrite=overwrite) as temporary:
            with H5_LOCK:
                shutil.copyfile(reading, temporary)
            with h5py.File(temporary, "r+") as output:
                for leaf, (root_name, frames) in leaf_groups.items():
                    root = output[root_name]
                    write_meta_edits(output, frames, edits, root, series_edits)
                    for write in self.app_data_writers.writers_for(leaf):
                        write(root)
        if remember:
            self.mark_saved(target, (edits, series_edits))
        return target

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Stop every leaf's reader, close the file, remove the scratch file if any."""
        for cache in self._caches.values():
            cache.close()
        with H5_LOCK:
            self.hyperstack.close()
        if self.temporary_path is not None:
            remove_scratch_file(self.temporary_path)


__all__ = ["PER_LEAF_PANELS", "HyperstackDocument", "LeafPanelState", "LeafWriters"]
