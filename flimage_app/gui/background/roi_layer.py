"""The background ROIs on the image: one pyqtgraph item per ROI, in step with a state.

:class:`RoiLayer` keeps the items in the image's view box equal to the ROIs of
a :class:`~flimage_app.gui.background.background_state.BackgroundState` (the
regions of the frame on display), shows the selection, and turns what the mouse
does to an item (a drag, a handle drag, a click) into edits of that state.  An
item being dragged stays where it is through the edit it causes.
"""

from __future__ import annotations

from dataclasses import replace

import pyqtgraph as pg
from PyQt6 import QtCore

from flimage_app.gui.background.background_state import BackgroundState
from flimage_app.gui.widgets.roi_tools import RoiGraphic
from flimage_app.model.rois import ROI


class RoiLayer(QtCore.QObject):
    """The items of the current regions on `view_box` (see the module docstring).

    Signals
    -------
    regionChanging()
        An item is being dragged (the regions on the image differ from the state).
    """

    regionChanging = QtCore.pyqtSignal()

    def __init__(self, view_box: pg.ViewBox) -> None:
        super().__init__()
        self.view_box = view_box
        self.graphics: list[RoiGraphic] = []
        self.shape: tuple[int, int] | None = None
        self.state: BackgroundState | None = None

    # --- keeping the items in step ----------------------------------------------------------
    def sync(self, state: BackgroundState | None, shape: tuple[int, int] | None,
             force: bool = False) -> None:
        """Show the regions of `state` on an image of `shape` (None: show nothing)."""
        self.state = state
        rois = state.current_rois() if state is not None and shape is not None else ()
        force = force or shape != self.shape
        for index, roi in enumerate(rois):
            graphic = self.graphics[index] if index < len(self.graphics) else None
            if graphic is not None and not force and same_geometry(graphic.roi, roi):
                graphic.roi = roi
                continue
            if graphic is not None:
                self._remove(graphic)
            graphic = RoiGraphic(roi, shape)
            self._add(graphic)
            if index < len(self.graphics):
                self.graphics[index] = graphic
            else:
                self.graphics.append(graphic)
        for graphic in self.graphics[len(rois):]:
            self._remove(graphic)
        del self.graphics[len(rois):]
        self.shape = shape
        self.show_selection()

    def show_selection(self) -> None:
        selected = self.state.selected if self.state is not None else None
        for index, graphic in enumerate(self.graphics):
            graphic.set_selected(index == selected)

    def current_rois(self) -> list[ROI]:
        """The regions as the items show them now (during a drag: where they are dragged)."""
        return [graphic.current_roi() for graphic in self.graphics]

    def _add(self, graphic: RoiGraphic) -> None:
        self.view_box.addItem(graphic.item)
        item = graphic.item
        if isinstance(item, pg.ROI):
            item.sigRegionChanged.connect(lambda _item: self.regionChanging.emit())
            item.sigRegionChangeFinished.connect(lambda _item, g=graphic: self._on_moved(g))
            item.sigRemoveRequested.connect(lambda _item, g=graphic: self._on_remove(g))
            item.sigClicked.connect(lambda _item, _event, g=graphic: self._on_clicked(g))

    def _remove(self, graphic: RoiGraphic) -> None:
        item = graphic.item
        if isinstance(item, pg.ROI):
            for signal in (item.sigRegionChanged, item.sigRegionChangeFinished,
                           item.sigRemoveRequested, item.sigClicked):
                signal.disconnect()
        self.view_box.removeItem(item)

    # --- what the mouse did to an item ------------------------------------------------------
    def index_of(self, graphic: RoiGraphic) -> int | None:
        for index, candidate in enumerate(self.graphics):
            if candidate is graphic:
                return index
        return None

    def _on_moved(self, graphic: RoiGraphic) -> None:
        index = self.index_of(graphic)
        if index is None or self.state is None:
            return
        moved = graphic.current_roi()
        if moved != graphic.roi:
            graphic.roi = moved  # the item shows it already: keep the item through the sync
            self.state.select(index)
            self.state.set_geometry(index, moved)  # "Move ROI", "Resize ROI", …

    def _on_remove(self, graphic: RoiGraphic) -> None:
        index = self.index_of(graphic)
        if index is not None and self.state is not None:
            state = self.state
            # removing the item inside its own signal handler is unsafe: defer
            QtCore.QTimer.singleShot(0, lambda: state.remove_roi(index))

    def _on_clicked(self, graphic: RoiGraphic) -> None:
        if self.state is not None:
            self.state.select(self.index_of(graphic))

    # --- hit tests (scene coordinates) ------------------------------------------------------
    def index_at(self, scene_pos: QtCore.QPointF) -> int | None:
        """The topmost region under `scene_pos` (the last drawn wins), or None."""
        for index in range(len(self.graphics) - 1, -1, -1):
            item = self.graphics[index].item
            if item.contains(item.mapFromScene(scene_pos)):
                return index
        return None

    def claims_press(self, scene_pos: QtCore.QPointF) -> bool:
        """True when a press at `scene_pos` is for an item: on a handle of any region,
        or inside the selected one (to move it), as in Fiji."""
        for graphic in self.graphics:
            item = graphic.item
            if isinstance(item, pg.ROI):
                for handle in item.getHandles():
                    if handle.isVisible() and handle.sceneBoundingRect().contains(scene_pos):
                        return True
        selected = self.state.selected if self.state is not None else None
        if selected is not None and selected < len(self.graphics):
            item = self.graphics[selected].item
            return isinstance(item, pg.ROI) and item.contains(item.mapFromScene(scene_pos))
        return False


def same_geometry(a: ROI, b: ROI) -> bool:
    """True when `a` and `b` differ at most in name and role (so the drawn item can stay)."""
    return type(a) is type(b) and replace(a, name="", role="include") == \
        replace(b, name="", role="include")
