"""What the Background panel holds for one series, without Qt: its ROIs, settings and fit.

Each open series (a :class:`~flimage_app.gui.document.Document`) has one
:class:`BackgroundState` in ``document.panel_state["background"]``.  It owns
the series' ROI set (with the fit profile and offset chosen with it), the
panel's other settings (border width, role of new regions, the experimental
background, the frames to apply to), the selected ROI and whether a fitted
background is waiting to be applied.  The panel's widgets only show a state
and send the user's edits to it, so switching series never changes another
series' settings, and coming back shows exactly what was there.

Every edit of the ROI set is one step of the document's shared
:class:`~flimage_app.gui.history.History` (Edit ▸ Undo covers ROI, metadata and
settings edits alike).  Observers connect to :attr:`BackgroundState.changed`,
emitted with what changed: ``"rois"`` (the ROI set, profile or offset),
``"selection"`` or ``"settings"``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import replace
from typing import Any

import h5py
import numpy as np

from flimage_app.gui.events import Event
from flimage_app.gui.history import History
from flimage_app.model.rois import (
    APP_GROUP,
    H5_DATASET,
    ROI,
    BorderROI,
    EllipseROI,
    PolygonROI,
    RectangleROI,
    ROISet,
    unique_name,
    write_roiset,
)

#: Key of the state in ``Document.panel_state``.
STATE_KEY = "background"
#: Names of new ROIs by kind ("rectangle 1", "free-hand 2", …).
KIND_LABELS = {"rectangle": "rectangle", "ellipse": "ellipse", "polygon": "polygon",
               "freehand": "free-hand", "border": "border"}
#: Which frames *Apply* fits: the frame on display, all of them, or a range.
SCOPES = ("this", "all", "range")
#: Undo texts of geometry edits.
MOVE_TEXT = "Move ROI"
RESIZE_TEXT = "Resize ROI"
RESHAPE_TEXT = "Reshape ROI"
ROTATE_TEXT = "Rotate ROI"


class BackgroundState:
    """The Background panel's state of one series (see the module docstring).

    Parameters
    ----------
    history
        The document's undo history; ROI edits are pushed there.
    roiset
        The ROI set stored in the opened file (None: none), which counts as saved.
    frame_count
        Number of frames of the series (the default frame range of *Apply*).
    """

    def __init__(self, history: History, roiset: ROISet | None = None,
                 frame_count: int = 0) -> None:
        self.history = history
        self.roiset: ROISet = roiset if roiset is not None else ROISet()
        self._saved_roiset = self.roiset
        self._applied_roiset: ROISet | None = None
        #: index of the frame on display (selects per-frame regions), None before one is shown
        self.frame_index: int | None = None
        #: position of the selected ROI in :meth:`current_rois`, or None
        self.selected: int | None = None
        #: width of the next border region [px] and role of new regions
        self.border_px = 10
        self.new_role = "include"
        #: (name, image) subtracted as flimage's "data" background before the fit, or None
        self.experimental: tuple[str, np.ndarray] | None = None
        #: frame index → stored "data" background read from the file (None: the frame has none)
        self.data_backgrounds: dict[int, np.ndarray | None] = {}
        #: frames *Apply* fits: one of :data:`SCOPES`, and the range for "range"
        self.scope = "all"
        self.range_first = 0
        self.range_last = max(int(frame_count) - 1, 0)
        self.frame_count = int(frame_count)
        self.show_region = True
        #: the ROI set of the fit on display, when there is one (see :meth:`set_fitted`)
        self._fitted_roiset: ROISet | None = None
        #: emitted with "rois", "selection" or "settings" after a change
        self.changed = Event()

    # --- the document ---------------------------------------------------------------------
    @classmethod
    def attach(cls, document: Any, stored: ROISet | None = None) -> BackgroundState:
        """The state of `document`, made on first use from the ROIs `stored` in its file.

        A new state is kept in ``document.panel_state["background"]`` and writes its
        ROI set into every copy the document saves (``document.app_data_writers``).
        """
        state = document.panel_state.get(STATE_KEY)
        if state is None:
            state = cls(document.history, stored, len(document))
            document.panel_state[STATE_KEY] = state
            document.app_data_writers.append(state.write_app_data)
            state.changed.connect(lambda _what: document.changed.emit())
        return state

    @staticmethod
    def of(document: Any) -> BackgroundState | None:
        """The state of `document` if the panel made one, else None."""
        return document.panel_state.get(STATE_KEY) if document is not None else None

    def write_app_data(self, root: h5py.Group) -> None:
        """Store the ROI set in the series' ``flimage_app/rois`` of a saved copy.

        A copy made byte for byte from a file that held ROIs keeps no stale set: when
        all ROIs were removed (and the settings are the defaults) the dataset is deleted.
        """
        if self.roiset != ROISet():
            write_roiset(root, self.roiset)
            return
        app = root.get(APP_GROUP)
        if isinstance(app, h5py.Group) and H5_DATASET in app:
            del app[H5_DATASET]

    # --- unsaved work ---------------------------------------------------------------------
    def unsaved_work(self) -> list[str]:
        """What closing the series would lose: e.g. ``["3 background ROIs"]``."""
        work: list[str] = []
        if self.roiset != self._saved_roiset:
            count = self.roi_count()
            if count:
                work.append(f"{count} background ROI{'s' if count != 1 else ''}")
            elif self._saved_roiset.is_empty():
                work.append("background fit settings")
            else:
                work.append("the removal of the saved background ROIs")
            if (self._fitted_roiset == self.roiset and self.roiset != self._applied_roiset
                    and not self.roiset.is_empty()):
                work.append("a fitted background not applied")
        return work

    def mark_saved(self) -> None:
        """The document saved a copy holding the present ROI set (called after the save)."""
        self._saved_roiset = self.roiset
        self.changed.emit("settings")

    def mark_applied(self, roiset: ROISet) -> None:
        """*Apply* wrote a file corrected with `roiset` (its fit is no longer pending)."""
        self._applied_roiset = roiset
        self.changed.emit("settings")

    def set_fitted(self, roiset: ROISet | None) -> None:
        """The preview shows a fit of `roiset` (None: no fit is shown)."""
        if roiset != self._fitted_roiset:
            self._fitted_roiset = roiset
            self.changed.emit("settings")

    def roi_count(self) -> int:
        """Number of ROIs: the shared ones and every frame's own ones."""
        return len(self.roiset.rois) + sum(len(v) for v in self.roiset.overrides.values())

    # --- reading --------------------------------------------------------------------------
    def current_rois(self) -> tuple[ROI, ...]:
        """The ROIs that apply to the frame on display."""
        return self.roiset.rois_for_frame(self.frame_index)

    def selected_roi(self) -> ROI | None:
        rois = self.current_rois()
        if self.selected is not None and 0 <= self.selected < len(rois):
            return rois[self.selected]
        return None

    def has_own_regions(self) -> bool:
        """True when the frame on display has its own regions."""
        return self.frame_index is not None and self.frame_index in self.roiset.overrides

    def background_mask(self, shape: tuple[int, int],
                        index: int | None = None) -> np.ndarray | None:
        """Background mask of frame `index` (default: on display); None without ROIs."""
        return self.roiset.mask(shape, self.frame_index if index is None else index)

    def signal_mask(self, shape: tuple[int, int],
                    index: int | None = None) -> np.ndarray | None:
        """Where the signal of frame `index` is (see :meth:`ROISet.signal_mask`)."""
        return self.roiset.signal_mask(shape, self.frame_index if index is None else index)

    def frames_to_apply(self) -> list[int] | None:
        """The frames *Apply* fits (None: all)."""
        if self.scope == "this":
            return [self.frame_index or 0]
        if self.scope == "range":
            first, last = sorted((self.range_first, self.range_last))
            return list(range(first, last + 1))
        return None

    # --- display-only changes (not undo steps) ---------------------------------------------
    def show_frame(self, index: int | None) -> None:
        """The frame on display is now `index`."""
        if index == self.frame_index:
            return
        own_before = self.current_rois()
        self.frame_index = index
        if self.current_rois() != own_before:
            self.selected = None
            self.changed.emit("rois")

    def select(self, position: int | None) -> None:
        """Select ROI `position` of :meth:`current_rois` (None or out of range: nothing)."""
        if position is not None and not 0 <= position < len(self.current_rois()):
            position = None
        if position != self.selected:
            self.selected = position
            self.changed.emit("selection")

    def set_setting(self, **settings: Any) -> None:
        """Change panel settings: ``border_px``, ``new_role``, ``scope``, ``range_first``,
        ``range_last``, ``show_region``, ``experimental`` (not undo steps)."""
        allowed = {"border_px", "new_role", "scope", "range_first", "range_last",
                   "show_region", "experimental"}
        unknown = set(settings) - allowed
        if unknown:
            raise KeyError(f"Unknown background setting(s): {', '.join(sorted(unknown))}")
        if "scope" in settings and settings["scope"] not in SCOPES:
            raise ValueError(f"Scope must be one of {SCOPES}, got {settings['scope']!r}")
        if "new_role" in settings and settings["new_role"] not in ("include", "exclude"):
            raise ValueError(f"Role must be include or exclude, got {settings['new_role']!r}")
        changed = False
        for key, value in settings.items():
            if getattr(self, key) is not value and not _equal(getattr(self, key), value):
                setattr(self, key, value)
                changed = True
        if changed:
            self.changed.emit("settings")

    # --- undoable edits ---------------------------------------------------------------------
    def change(self, after: ROISet, text: str, merge_key: Hashable | None = None) -> bool:
        """Make `after` the ROI set as one step of the history; False if nothing changed."""
        before = self.roiset
        if after == before:
            return False
        self.history.push(text, lambda: self._set_roiset(before),
                          lambda: self._set_roiset(after), merge_key=merge_key, apply=True)
        return True

    def _set_roiset(self, roiset: ROISet) -> None:
        self.roiset = roiset
        if self.selected is not None and self.selected >= len(self.current_rois()):
            self.selected = None
        self.changed.emit("rois")

    def _edit_target(self) -> int | None:
        return self.frame_index if self.has_own_regions() else None

    def _change_rois(self, rois: Iterable[ROI], text: str,
                     merge_key: Hashable | None = None) -> bool:
        return self.change(self.roiset.with_rois(rois, self._edit_target()), text, merge_key)

    def _named(self, roi: ROI, taken: list[ROI]) -> ROI:
        if roi.name:
            return roi
        return replace(roi, name=unique_name(KIND_LABELS[roi.kind], (r.name for r in taken)))

    def add_roi(self, roi: ROI) -> int:
        """Add `roi` (named after its kind when unnamed) and select it; returns its position."""
        rois = list(self.current_rois())
        roi = self._named(roi, rois)
        rois.append(roi)
        self._change_rois(rois, f"Add {roi.name}")
        self.select(len(rois) - 1)
        return len(rois) - 1

    def add_rois(self, new: Iterable[ROI], text: str) -> None:
        """Add several ROIs as one step (e.g. an imported Fiji RoiSet)."""
        rois = list(self.current_rois())
        for roi in new:
            rois.append(self._named(roi, rois))
        self._change_rois(rois, text)

    def add_border(self) -> int:
        """Add a border region of :attr:`border_px` with the role of new regions."""
        return self.add_roi(BorderROI(self.border_px, role=self.new_role))

    def remove_roi(self, position: int) -> None:
        rois = list(self.current_rois())
        if 0 <= position < len(rois):
            removed = rois.pop(position)
            self.selected = None
            self._change_rois(rois, f"Delete {removed.name}")

    def delete_selected(self) -> bool:
        if self.selected_roi() is None:
            return False
        self.remove_roi(self.selected)
        return True

    def replace_roi(self, position: int, roi: ROI, text: str,
                    merge_key: Hashable | None = None) -> bool:
        rois = list(self.current_rois())
        if not 0 <= position < len(rois) or rois[position] == roi:
            return False
        rois[position] = roi
        return self._change_rois(rois, text, merge_key)

    def set_geometry(self, position: int, roi: ROI) -> bool:
        """Replace ROI `position` by `roi`, its new geometry, named "Move ROI", "Resize ROI"…"""
        rois = self.current_rois()
        if not 0 <= position < len(rois):
            return False
        return self.replace_roi(position, roi, geometry_edit_text(rois[position], roi))

    def rename(self, position: int, name: str) -> None:
        rois = self.current_rois()
        name = name.strip()
        if 0 <= position < len(rois) and name and name != rois[position].name:
            self.replace_roi(position, replace(rois[position], name=name), f"Rename to {name}")

    def set_role(self, position: int, role: str) -> None:
        rois = self.current_rois()
        if 0 <= position < len(rois):
            self.replace_roi(position, replace(rois[position], role=role),
                             f"Make {rois[position].name} {role}")

    def toggle_selected_role(self) -> None:
        roi = self.selected_roi()
        if roi is not None:
            self.set_role(self.selected, "exclude" if roi.role == "include" else "include")

    def move_selected(self, dx: float, dy: float) -> bool:
        """Move the selected ROI by (`dx`, `dy`) px; repeated moves are one step."""
        roi = self.selected_roi()
        if roi is None or isinstance(roi, BorderROI):
            return False
        return self.replace_roi(self.selected, translated(roi, dx, dy), MOVE_TEXT,
                                merge_key=("nudge", id(self), self.selected))

    def set_bounds(self, position: int, x: float, y: float, width: float,
                   height: float) -> bool:
        """Give ROI `position` the bounding box ``x, y, width, height`` [px] (one step).

        Rectangles and ellipses take it as their box; polygons and outlines are
        moved and scaled into it.  Raises ValueError for a box that is not positive.
        """
        rois = self.current_rois()
        if not 0 <= position < len(rois):
            return False
        if not (_finite(x, y, width, height) and width > 0 and height > 0):
            raise ValueError(f"An ROI needs a positive width and height, got {width} x {height}")
        return self.set_geometry(position, with_bounds(rois[position], x, y, width, height))

    def set_fit(self, profile: str | None = None, offset: str | None = None) -> None:
        """Choose the background profile and/or offset (one step)."""
        after = replace(self.roiset, fit_profile=profile or self.roiset.fit_profile,
                        fit_offset=offset or self.roiset.fit_offset)
        self.change(after, f"Profile {after.fit_profile}, offset {after.fit_offset}")

    def set_frame_override(self, on: bool) -> None:
        """Give the frame on display its own regions (a copy of the shared ones), or not."""
        index = self.frame_index
        if index is None or on == self.has_own_regions():
            return
        if on:
            self.change(self.roiset.with_rois(self.roiset.rois, index),
                        f"Own regions for frame {index}")
        else:
            self.change(self.roiset.without_override(index), f"Shared regions for frame {index}")

    def replace_all(self, roiset: ROISet, text: str) -> None:
        """Replace the whole ROI set (e.g. a JSON ROI set imported) as one step."""
        self.selected = None
        self.change(roiset, text)


# --------------------------------------------------------------------------- geometry

def bounds(roi: ROI) -> tuple[float, float, float, float] | None:
    """``(x, y, width, height)`` of `roi`'s box (unrotated) or outline; None for a border."""
    if isinstance(roi, RectangleROI | EllipseROI):
        return roi.x, roi.y, roi.width, roi.height
    if isinstance(roi, PolygonROI):
        points = np.asarray(roi.points)
        x0, y0 = points.min(axis=0)
        x1, y1 = points.max(axis=0)
        return float(x0), float(y0), float(x1 - x0), float(y1 - y0)
    return None


def translated(roi: ROI, dx: float, dy: float) -> ROI:
    """`roi` moved by (`dx`, `dy`) px (a border does not move)."""
    if isinstance(roi, RectangleROI | EllipseROI):
        return replace(roi, x=roi.x + dx, y=roi.y + dy)
    if isinstance(roi, PolygonROI):
        return replace(roi, points=tuple((x + dx, y + dy) for x, y in roi.points))
    return roi


def with_bounds(roi: ROI, x: float, y: float, width: float, height: float) -> ROI:
    """`roi` moved and scaled so that its box (see :func:`bounds`) is the one given."""
    if isinstance(roi, RectangleROI | EllipseROI):
        return replace(roi, x=float(x), y=float(y), width=float(width), height=float(height))
    if isinstance(roi, PolygonROI):
        x0, y0, w0, h0 = bounds(roi)
        sx = width / w0 if w0 > 0 else 1.0
        sy = height / h0 if h0 > 0 else 1.0
        return replace(roi, points=tuple((x + (px - x0) * sx, y + (py - y0) * sy)
                                         for px, py in roi.points))
    return roi


def geometry_edit_text(before: ROI, after: ROI) -> str:
    """The undo text of a geometry change: Move, Resize, Rotate or Reshape ROI."""
    if isinstance(before, RectangleROI | EllipseROI) and isinstance(after, type(before)):
        if after.angle != before.angle:
            return ROTATE_TEXT
        if (after.width, after.height) != (before.width, before.height):
            return RESIZE_TEXT
        return MOVE_TEXT
    if isinstance(before, PolygonROI) and isinstance(after, PolygonROI):
        old, new = np.asarray(before.points), np.asarray(after.points)
        if old.shape == new.shape:
            shift = new - old
            if np.allclose(shift, shift[0], atol=1e-9):
                return MOVE_TEXT
            b0, b1 = bounds(before), bounds(after)
            if b0 is not None and b1 is not None and b0[2] > 0 and b0[3] > 0:
                sx, sy = b1[2] / b0[2], b1[3] / b0[3]
                scaled = (old - b0[:2]) * [sx, sy] + b1[:2]
                if np.allclose(scaled, new, atol=1e-6):
                    return RESIZE_TEXT
        return RESHAPE_TEXT
    return RESHAPE_TEXT


def _finite(*values: float) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except ValueError:  # arrays inside tuples: compare as objects
        return False
