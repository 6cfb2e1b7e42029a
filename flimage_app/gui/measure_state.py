"""The Measure panel's Qt-free state for one document: measurement ROIs, colours, last table.

A :class:`MeasureState` lives in ``Document.panel_state["measure"]`` (see
:func:`state_for`).  Every edit of the ROIs (add, remove, rename, move on all
frames or on one, colour, import) is a step of the document's
:class:`~flimage_app.gui.history.History`, so Edit ▸ Undo undoes it.  The
state says what a close would lose (:meth:`MeasureState.unsaved_work`: ROIs
not saved, ROIs changed since the last measurement, a table not saved) and
writes itself into a saved copy (:meth:`MeasureState.write`, a
``Document.app_data_writers`` entry).  Widgets observe :attr:`MeasureState.changed`.
Nothing here imports Qt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import h5py

from flimage_app.gui.events import Event
from flimage_app.gui.history import History
from flimage_app.model.errors import FileFormatError
from flimage_app.model.names import APP_GROUP, MEASURE_ROIS_DATASET
from flimage_app.model.roi_measure import (
    Measurement,
    MeasureROISet,
    next_number_name,
    read_measure_rois,
    read_measurement,
    write_measure_rois,
)
from flimage_app.model.rois import ROI

#: the key of the state in ``Document.panel_state``
PANEL = "measure"
#: ROI colours, in order (distinct on a grey image and for most colour-blind viewers)
PALETTE: tuple[str, ...] = ("#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2",
                            "#d55e00", "#cc79a7", "#ffffff", "#999999", "#ff4040")


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
    return f"ROI{'s' if len(names) != 1 else ''} {shown}"


class MeasureState:
    """Measurement ROIs of one series, their colours and the last measurement.

    Parameters
    ----------
    history
        The document's undo history (a new one if None, e.g. in tests).
    rois
        The ROIs at the start (e.g. read from the file: then they count as saved).
    table
        A measurement at the start (read from the file: saved).
    """

    def __init__(self, history: History | None = None, rois: MeasureROISet | None = None,
                 table: Measurement | None = None) -> None:
        self.history = history if history is not None else History()
        self._rois = rois if rois is not None else MeasureROISet()
        self._colours: dict[str, str] = {}
        self._assign_colours()
        self._table = table
        #: which channel and plane of a multi-channel document the table was measured on
        #: (the document's ``leaf``; None: a single series, or not known)
        self.measured_on: Any = None
        self._saved_rois = self._rois
        self._saved_table = table
        #: why the ROIs or the table stored in the file were not restored ('' if they were)
        self.load_problem = ""
        #: emitted after every change of the ROIs, colours or table
        self.changed = Event()

    # --- reading --------------------------------------------------------------------------
    @property
    def rois(self) -> MeasureROISet:
        return self._rois

    @property
    def names(self) -> list[str]:
        return self._rois.names

    @property
    def table(self) -> Measurement | None:
        """The last measurement (None before the first)."""
        return self._table

    def colour(self, name: str) -> str:
        """The colour of ROI `name` (``#rrggbb``), the same on the image and in the plot."""
        return self._colours[name]

    def unmeasured(self) -> list[str]:
        """ROIs added, moved or renamed since the last measurement (all, before the first)."""
        if self._table is None:
            return self.names
        measured = self._table.rois
        return [name for name in self.names
                if name not in measured.names or measured.roi(name) != self._rois.roi(name)
                or self._positions(self._rois, name) != self._positions(measured, name)]

    @staticmethod
    def _positions(rois: MeasureROISet, name: str) -> dict[int, ROI]:
        return {frame: moved[name] for frame, moved in rois.overrides.items() if name in moved}

    def unsaved_work(self) -> list[str]:
        """What a close would lose, one phrase each ([] when nothing), for the document."""
        work = []
        if self._rois != self._saved_rois:
            saved = self._saved_rois
            changed = [name for name in self.names
                       if name not in saved.names or saved.roi(name) != self._rois.roi(name)
                       or self._positions(saved, name) != self._positions(self._rois, name)]
            removed = [name for name in saved.names if name not in self.names]
            if changed:
                work.append(f"measurement {_names(changed)} (not saved)")
            if removed:
                work.append(f"removal of measurement {_names(removed)} (not saved)")
        unmeasured = self.unmeasured() if self._table is not None else []
        if unmeasured:
            work.append(f"measurement {_names(unmeasured)} changed since the last "
                        "measurement")
        if self._table is not None and self._table is not self._saved_table:
            work.append("the measurement table (not saved)")
        return work

    # --- editing (undoable) ---------------------------------------------------------------
    def _edit(self, text: str, rois: MeasureROISet, colours: Mapping[str, str] | None = None,
              merge_key: Any = None) -> None:
        before = (self._rois, dict(self._colours))
        after = (rois, dict(colours) if colours is not None else
                 {name: self._colours[name] for name in rois.names if name in self._colours})
        if after[0] == before[0] and after[1] == before[1]:
            return
        self.history.push(text, lambda: self._set(*before), lambda: self._set(*after),
                          merge_key=merge_key, apply=True)

    def _set(self, rois: MeasureROISet, colours: dict[str, str]) -> None:
        self._rois = rois
        self._colours = dict(colours)
        self._assign_colours()
        self.changed.emit()

    def _assign_colours(self) -> None:
        for name in self._rois.names:
            if name not in self._colours:
                used = set(self._colours.values())
                free = [c for c in PALETTE if c not in used]
                self._colours[name] = free[0] if free else PALETTE[len(self._colours)
                                                                   % len(PALETTE)]

    def add_roi(self, roi: ROI, name: str | None = None, colour: str | None = None) -> str:
        """Add `roi` (named `name`, its own name, or the next free number); returns the name."""
        name = name or roi.name or next_number_name(self.names)
        if name in self.names:
            name = next_number_name(self.names)
        colours = dict(self._colours)
        if colour is not None:
            colours[name] = colour
        self._edit(f"Add measurement ROI {name}",
                   self._rois.with_roi(replace(roi, name=name, role="include")), colours)
        return name

    def remove_roi(self, name: str) -> None:
        self._rois.roi(name)
        self._edit(f"Remove measurement ROI {name}", self._rois.without(name))

    def rename_roi(self, old: str, new: str) -> None:
        renamed = self._rois.renamed(old, new)
        colours = {(new if key == old else key): value for key, value in self._colours.items()}
        self._edit(f"Rename measurement ROI {old} to {new}", renamed, colours)

    def move_roi(self, name: str, roi: ROI, frame: int | None = None) -> None:
        """ROI `name` has the shape `roi` on every frame (`frame` None) or on `frame` only.

        Successive moves of one ROI (a drag) merge into one undo step.
        """
        self._rois.roi(name)
        where = "" if frame is None else f" on frame {frame}"
        self._edit(f"Move measurement ROI {name}{where}",
                   self._rois.with_roi(replace(roi, name=name, role="include"), frame),
                   merge_key=("move measurement ROI", name, frame))

    def reset_frame(self, name: str, frame: int) -> None:
        """ROI `name` takes its shared position on `frame` again."""
        self._edit(f"Reset measurement ROI {name} on frame {frame}",
                   self._rois.without_override(name, frame))

    def set_colour(self, name: str, colour: str) -> None:
        self._rois.roi(name)
        colours = dict(self._colours)
        colours[name] = colour
        self._edit(f"Colour of measurement ROI {name}", self._rois, colours)

    def replace_rois(self, rois: MeasureROISet, text: str = "Import measurement ROIs") -> None:
        """All ROIs at once (an import from Fiji or a file); colours assigned anew."""
        self._edit(text, rois, {})

    # --- results and saving ---------------------------------------------------------------
    def set_table(self, measurement: Measurement, measured_on: Any = None) -> None:
        """The result of a measurement (of :attr:`rois` as they were then); not an undo step.

        `measured_on` names the channel and plane it was measured on (the ROIs are
        shared by every channel of a multi-channel document, a table is not).
        """
        self._table = measurement
        self.measured_on = measured_on
        self.changed.emit()

    def mark_saved(self) -> None:
        """The ROIs and the table as they are now are in a saved file."""
        self._saved_rois = self._rois
        self._saved_table = self._table
        self.changed.emit()

    def write(self, root: h5py.Group) -> None:
        """Store the ROIs and the last table in `root` (the saved copy's series root).

        A series never measured gets nothing (no empty set in every file saved); a
        copy of a file whose stored ROIs were all removed keeps no stale set.
        """
        if self._table is not None:
            self._table.write_to(root)
        if self._rois.rois or self._table is not None:
            write_measure_rois(root, self._rois)  # after the table: the current ROIs win
            return
        app = root.get(APP_GROUP)
        if isinstance(app, h5py.Group) and MEASURE_ROIS_DATASET in app:
            del app[MEASURE_ROIS_DATASET]

    @classmethod
    def from_group(cls, root: h5py.Group, history: History | None = None) -> MeasureState:
        """The state stored in a file by :meth:`write` (checked; empty if none), as saved."""
        return cls(history, read_measure_rois(root), read_measurement(root))


def state_for(document: Any) -> MeasureState:
    """The document's MeasureState, made (from its file's stored ROIs and table) on first use.

    `document` is a :class:`~flimage_app.gui.document.Document` (anything with
    ``panel_state``, ``history``, ``app_data_writers`` and ``series``); the
    state's :meth:`~MeasureState.write` joins its app-data writers, so File ▸
    Save stores the ROIs and the table.  ROIs or a table stored in the file
    that cannot be read give an empty state whose ``load_problem`` says why
    (one line; '' when all was read).
    """
    state = document.panel_state.get(PANEL)
    if state is None:
        group = getattr(document.series, "h5", None)
        problem = ""
        try:
            state = (MeasureState.from_group(group, document.history)
                     if isinstance(group, h5py.Group) else None)
        except FileFormatError as error:  # a damaged stored table: start empty, say why
            state, problem = None, str(error)
        if state is None:
            state = MeasureState(document.history)
        state.load_problem = problem
        document.panel_state[PANEL] = state
        document.app_data_writers.append(state.write)
        changed = getattr(document, "changed", None)
        if changed is not None:
            # a new table is no undo step: the document's "*" and prompts still follow it
            state.changed.connect(changed.emit)
    return state


__all__ = ["PALETTE", "PANEL", "MeasureState", "state_for"]
