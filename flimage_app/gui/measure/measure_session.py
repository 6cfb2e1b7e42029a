"""What the Measure panel shows of one series, without Qt: ROIs of the frame, selection, choices.

A :class:`MeasureSession` sits beside the series'
:class:`~flimage_app.gui.measure_state.MeasureState`
(``document.panel_state["measure_view"]``, see :func:`session_for`).  It gives the
ROI drawing layer of the background panel (``roi_layer.RoiLayer``, ``RoiKeys``)
the interface it drives — the ROIs of the frame on display, a selection, geometry
edits by position — over the measurement ROIs, so both panels draw, select, move
and delete with the same code.  A ROI moved "on this frame only" keeps its shared
position on the other frames (the per-frame override of the model's
:class:`~flimage_app.model.roi_measure.MeasureROISet`).

It also holds the panel's display choices (data set, quantity, baseline frames,
the bleach correction to measure with), which are not undo steps.  It lists the
bleach corrections a series can be measured with (:func:`bleach_sources`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from flimage_app.gui.background.background_state import translated
from flimage_app.gui.events import Event
from flimage_app.gui.measure_state import MeasureState, state_for
from flimage_app.model.roi_measure import DATA_SETS, STATISTICS, Measurement, parse_frames
from flimage_app.model.rois import ROI

#: key of the session in ``Document.panel_state``
SESSION_KEY = "measure_view"
#: how the data sets are named in the panel
DATA_LABELS = {"raw": "Raw", "background_corrected": "Background-corrected",
               "bleach_corrected": "Bleach-corrected"}
#: what the plot and the table show, in the panel's order: key → label (with its unit)
QUANTITY_LABELS = {"mean": "Mean", "sum": "Sum (IntDen)", "min": "Min", "max": "Max",
                   "std": "Std dev", "area_px": "Area [px]", "area_um2": "Area [µm²]",
                   "F/F0": "F/F₀", "dF/F0": "ΔF/F₀"}
#: the trace of a ROI removed since the measurement
REMOVED_COLOUR = "#999999"
#: quantities that need baseline frames
NORMALISED_QUANTITIES = ("F/F0", "dF/F0")


@dataclass(frozen=True)
class BleachSource:
    """A bleach correction the series can be measured with.

    `key` identifies it across refreshes; `options` are the keyword arguments of
    :func:`~flimage_app.model.roi_measure.measure_series` (``corrected=`` or ``bleach=``).
    """

    key: str
    label: str
    options: dict[str, Any] = field(default_factory=dict, compare=False)


NO_BLEACH = BleachSource("none", "None")


class MeasureSession:
    """The Measure panel's view of one series (see the module docstring).

    Events
    ------
    changed(str)
        ``"rois"`` (the ROIs of the frame on display, or their colours),
        ``"selection"``, ``"table"`` (a new measurement) or ``"display"``
        (a display choice).
    """

    def __init__(self, state: MeasureState) -> None:
        self.state = state
        #: index of the frame on display (None before one is shown)
        self.frame_index: int | None = None
        #: position of the selected ROI in :meth:`current_rois`, or None
        self.selected: int | None = None
        self.data = "background_corrected"
        self.quantity = "mean"
        #: the baseline frames typed for F₀ (text such as "0-4"; "" for none)
        self.baseline_text = "0-2"
        #: key of the chosen :class:`BleachSource`
        self.bleach_key = NO_BLEACH.key
        self.changed = Event()
        self._table = state.table
        state.changed.connect(self._on_state_changed)

    # --- the ROIs on display (the interface of RoiLayer and RoiKeys) ------------------------
    @property
    def names(self) -> list[str]:
        return self.state.names

    def current_rois(self) -> tuple[ROI, ...]:
        """Every measurement ROI where it is on the frame on display."""
        rois = self.state.rois
        return tuple(rois.roi(name, self.frame_index) for name in rois.names)

    def selected_roi(self) -> ROI | None:
        rois = self.current_rois()
        if self.selected is not None and 0 <= self.selected < len(rois):
            return rois[self.selected]
        return None

    def selected_name(self) -> str | None:
        roi = self.selected_roi()
        return roi.name if roi is not None else None

    def moved_here(self, name: str) -> bool:
        """True when ROI `name` has a position of its own on the frame on display."""
        return (self.frame_index is not None
                and name in self.state.rois.overrides.get(self.frame_index, {}))

    def show_frame(self, index: int | None) -> None:
        """The frame on display is now `index` (ROIs moved on it are shown there)."""
        if index == self.frame_index:
            return
        before = self.current_rois()
        self.frame_index = index
        if self.current_rois() != before:
            self.changed.emit("rois")

    def select(self, position: int | None) -> None:
        """Select ROI `position` (None or out of range: nothing)."""
        if position is not None and not 0 <= position < len(self.names):
            position = None
        if position != self.selected:
            self.selected = position
            self.changed.emit("selection")

    def select_name(self, name: str | None) -> None:
        self.select(self.names.index(name) if name in self.names else None)

    # --- edits (each one undo step of the document's history) ------------------------------
    def add_roi(self, roi: ROI) -> str:
        """Add `roi` (its name, or the next free number) and select it; returns its name."""
        name = self.state.add_roi(roi)
        self.select_name(name)
        return name

    def set_geometry(self, position: int, roi: ROI) -> bool:
        """ROI `position` takes the geometry of `roi`: on the frame on display only when it
        has a position of its own there, else on every frame."""
        names = self.names
        if not 0 <= position < len(names):
            return False
        name = names[position]
        if roi == self.current_rois()[position]:
            return False
        self.state.move_roi(name, roi, self.frame_index if self.moved_here(name) else None)
        return True

    def move_selected(self, dx: float, dy: float) -> bool:
        """Move the selected ROI by (`dx`, `dy`) px (arrow keys)."""
        roi = self.selected_roi()
        if roi is None:
            return False
        return self.set_geometry(self.selected, translated(roi, dx, dy))

    def remove_roi(self, position: int) -> None:
        names = self.names
        if 0 <= position < len(names):
            self.selected = None
            self.state.remove_roi(names[position])

    def delete_selected(self) -> bool:
        if self.selected_roi() is None:
            return False
        self.remove_roi(self.selected)
        return True

    def rename(self, position: int, name: str) -> None:
        """Rename ROI `position`; raises ValueError for an empty or a taken name."""
        names = self.names
        name = name.strip()
        if 0 <= position < len(names) and name != names[position]:
            self.state.rename_roi(names[position], name)

    def set_frame_only(self, on: bool) -> None:
        """The selected ROI gets a position of its own on the frame on display (a copy of
        its shared one, then moved there only), or takes the shared one again."""
        name = self.selected_name()
        if name is None or self.frame_index is None or on == self.moved_here(name):
            return
        if on:
            self.state.move_roi(name, self.state.rois.roi(name), self.frame_index)
        else:
            self.state.reset_frame(name, self.frame_index)

    def frames_moved(self, name: str) -> list[int]:
        """The frames on which ROI `name` has a position of its own."""
        return sorted(frame for frame, moved in self.state.rois.overrides.items()
                      if name in moved)

    # --- display choices (not undo steps) ---------------------------------------------------
    def set_display(self, **choices: Any) -> None:
        """Change ``data``, ``quantity``, ``baseline_text`` or ``bleach_key``."""
        unknown = set(choices) - {"data", "quantity", "baseline_text", "bleach_key"}
        if unknown:
            raise KeyError(f"Unknown display choice(s): {', '.join(sorted(unknown))}")
        if "data" in choices and choices["data"] not in DATA_SETS:
            raise ValueError(f"Unknown data set {choices['data']!r}")
        if "quantity" in choices and choices["quantity"] not in QUANTITY_LABELS:
            raise ValueError(f"Unknown quantity {choices['quantity']!r}")
        changed = False
        for key, value in choices.items():
            if getattr(self, key) != value:
                setattr(self, key, value)
                changed = True
        if changed:
            self.changed.emit("display")

    def baseline(self, frames: int) -> list[int] | None:
        """The baseline frames typed (None when none are); ValueError when malformed."""
        text = self.baseline_text.strip()
        return parse_frames(text, frames) if text else None

    def shown_data(self) -> str:
        """The data set on display: the chosen one if the table has it, else the nearest."""
        table = self.state.table
        if table is None or self.data in table.data_sets:
            return self.data
        return "background_corrected" if "background_corrected" in table.data_sets \
            else table.data_sets[0]

    def set_baseline(self, text: str) -> None:
        """Type baseline frames: the table's F/F₀ follows at once (no new measurement).

        Raises ValueError for text that names no frames of the table.
        """
        table = self.state.table
        self.set_display(baseline_text=text)
        if table is not None:
            baseline = self.baseline(table.frames)
            if baseline != table.baseline:
                self.state.set_table(replace(table, baseline=baseline))

    # --- what the plot and the table show ---------------------------------------------------
    def series_values(self) -> dict[str, Any] | None:
        """``{"x", "x_label", "curves": [(name, colour, y)], "label", "axis_label"}``, or None.

        `label` names the data set and the quantity (the table's copies), `axis_label`
        the quantity only (the plot's axis, short enough for a narrow pane).

        x is the time [s], or the frame index when a frame has no time.
        """
        table = self.state.table
        if table is None:
            return None
        values = quantity_values(table, self.shown_data(), self.quantity)
        times = table.times
        use_times = times.size > 0 and bool((times == times).all())
        curves = [(name, self.measured_colour(name), values[row])
                  for row, name in enumerate(table.roi_names)]
        return {"x": times if use_times else _frames(table.frames),
                "x_label": "time [s]" if use_times else "frame",
                "curves": curves,
                "label": f"{DATA_LABELS[self.shown_data()]} {QUANTITY_LABELS[self.quantity]}",
                "axis_label": QUANTITY_LABELS[self.quantity]}

    def current_name(self, measured: str) -> str | None:
        """The name now of the ROI measured as `measured`: the same, or its new name when
        it was renamed since (same shape); None when it was removed."""
        state, table = self.state, self.state.table
        if measured in state.names:
            return measured
        if table is not None and measured in table.rois.names:
            roi_then = table.rois.roi(measured)
            for roi in state.rois.rois:
                if roi.name not in table.rois.names and replace(roi, name=measured) == roi_then:
                    return roi.name
        return None

    def measured_colour(self, name: str) -> str:
        """The colour of the trace of measured ROI `name`: its ROI's (renamed or not), or
        :data:`REMOVED_COLOUR` when it is gone."""
        current = self.current_name(name)
        return self.state.colour(current) if current is not None else REMOVED_COLOUR

    # --- observing the state ----------------------------------------------------------------
    def _on_state_changed(self) -> None:
        if self.selected is not None and self.selected >= len(self.names):
            self.selected = None
        if self.state.table is not self._table:
            self._table = self.state.table
            self.changed.emit("table")
        self.changed.emit("rois")


def _frames(count: int):
    import numpy as np

    return np.arange(count, dtype=float)


def quantity_values(table: Measurement, data: str, quantity: str):
    """Array (ROIs, frames) of `quantity` on data set `data` (areas do not depend on it)."""
    import numpy as np

    if quantity == "area_px":
        return np.asarray(table.area_px, dtype=float)
    if quantity == "area_um2":
        return table.area_m2 * 1e12
    if quantity in STATISTICS:
        return table.values[data][quantity]
    if quantity in NORMALISED_QUANTITIES:
        return table.normalised(data)[quantity]
    raise ValueError(f"Unknown quantity {quantity!r}")


def session_for(document: Any) -> MeasureSession:
    """The document's MeasureSession (and its MeasureState), made on first use."""
    session = document.panel_state.get(SESSION_KEY)
    if session is None:
        session = MeasureSession(state_for(document))
        session.baseline_text = default_baseline(len(document))
        document.panel_state[SESSION_KEY] = session
    return session


def default_baseline(frames: int) -> str:
    """The first three frames as F₀'s baseline ("0-2"), fewer in a shorter series."""
    last = min(2, frames - 1)
    return "" if last < 0 else ("0" if last == 0 else f"0-{last}")


def bleach_sources(document: Any, documents: Iterable[Any]) -> list[BleachSource]:
    """The bleach corrections `document` can be measured with, "None" first.

    * the fit of the Bleach panel for the series (its settings, not yet written), as a
      per-frame factor applied to the background-corrected frames; not for histogram
      matching, which is no factor;
    * every open series that is a bleach-corrected copy of it (its frames are measured).
    """
    sources = [NO_BLEACH]
    bleach = document.panel_state.get("bleach")
    if bleach is not None and not getattr(bleach, "showing_provenance", False):
        result = bleach.current_result(document.edits)
        if result is not None and result.method != "histogram":
            sources.append(BleachSource("fit", f"Bleach panel's fit ({result.method})",
                                        {"bleach": result}))
    own = {path for path in (document.source_path, document.saved_path,
                             document.temporary_path) if path}
    written = {entry.path for entry in getattr(bleach, "corrected", ())} if bleach else set()
    for other in documents:
        if other is document:
            continue
        files = {path for path in (other.source_path, other.saved_path, other.temporary_path)
                 if path}
        record = other.provenance()
        made_from_this = (isinstance(record, dict)
                          and record.get("operation") == "bleach correction"
                          and (record.get("input") or {}).get("path") in own)
        if made_from_this or files & written:
            sources.append(BleachSource(f"series:{id(other)}",
                                        f"Corrected series {other.name}",
                                        {"corrected": other.series}))
    return sources


__all__ = ["DATA_LABELS", "NORMALISED_QUANTITIES", "NO_BLEACH", "QUANTITY_LABELS",
           "SESSION_KEY", "BleachSource", "MeasureSession", "bleach_sources", "default_baseline",
           "quantity_values", "session_for"]
