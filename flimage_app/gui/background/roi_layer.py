"""The background ROIs on the image: their items, in step with a state, and their keys.

:class:`RoiLayer` keeps the items in the image's view box equal to the ROIs of
a :class:`~flimage_app.gui.background.background_state.BackgroundState` (the
regions of the frame on display), shows the selection, and turns what the mouse
does to an item (a drag, a handle drag, a click) into edits of that state.  An
item being dragged stays where it is through the edit it causes.
:class:`RoiKeys` gives the selected ROI the arrow keys and Delete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pyqtgraph as pg
from PyQt6 import QtCore

from flimage_app.gui.background.background_state import BackgroundState
from flimage_app.gui.widgets.roi_tools import DrawingTool, RoiGraphic
from flimage_app.model.rois import ROI, BorderROI

#: arrow key → (dx, dy) of one step when moving the selected region
ARROW_STEPS = {QtCore.Qt.Key.Key_Left: (-1, 0), QtCore.Qt.Key.Key_Right: (1, 0),
               QtCore.Qt.Key.Key_Up: (0, -1), QtCore.Qt.Key.Key_Down: (0, 1)}
#: Shift + arrow moves this many pixels
SHIFT_STEP_PX = 10
DELETE_KEYS = (QtCore.Qt.Key.Key_Delete, QtCore.Qt.Key.Key_Backspace)
ENTER_KEYS = (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter)


#: opacity of the outlines while their panel is not in front
INERT_OPACITY = 0.45


class RoiLayer(QtCore.QObject):
    """The items of the current regions on `view_box` (see the module docstring).

    Signals
    -------
    regionChanging()
        An item is being dragged (the regions on the image differ from the state).
    """

    regionChanging = QtCore.pyqtSignal()

    def __init__(self, view_box: pg.ViewBox,
                 colour_of: Callable[[ROI], str | None] | None = None) -> None:
        super().__init__()
        self.view_box = view_box
        #: a ROI's own outline colour (None: the colour of its role)
        self.colour_of = colour_of
        self.graphics: list[RoiGraphic] = []
        self.shape: tuple[int, int] | None = None
        self.state: BackgroundState | None = None
        #: False while the layer's panel is not in front: the items are shown dimmed and
        #: ignore the mouse, so that another panel's clicks and drags never edit them
        self.interactive = True

    def set_interactive(self, interactive: bool) -> None:
        """Let the items take the mouse (True) or show them dimmed and inert (False)."""
        self.interactive = interactive
        for graphic in self.graphics:
            self._apply_interactive(graphic)

    def _apply_interactive(self, graphic: RoiGraphic) -> None:
        item = graphic.item
        item.setOpacity(1.0 if self.interactive else INERT_OPACITY)
        # pyqtgraph's scene hands clicks, hovers and drags to enabled items only
        item.setEnabled(self.interactive)
        if isinstance(item, pg.ROI):
            for handle in item.getHandles():
                handle.setVisible(self.interactive)

    # --- keeping the items in step ----------------------------------------------------------
    def sync(self, state: BackgroundState | None, shape: tuple[int, int] | None,
             force: bool = False) -> None:
        """Show the regions of `state` on an image of `shape` (None: show nothing)."""
        self.state = state
        rois = state.current_rois() if state is not None and shape is not None else ()
        force = force or shape != self.shape
        for index, roi in enumerate(rois):
            graphic = self.graphics[index] if index < len(self.graphics) else None
            colour = self.colour_of(roi) if self.colour_of is not None else None
            if graphic is not None and not force and same_geometry(graphic.roi, roi):
                graphic.roi = roi
                graphic.colour = colour
                continue
            if graphic is not None:
                self._remove(graphic)
            graphic = RoiGraphic(roi, shape, colour)
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
        self._apply_interactive(graphic)
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
        if not self.interactive:
            return False
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


class RoiKeys(QtCore.QObject):
    """Event filter of the image view: keys for the selected ROI and the polygon tool.

    Arrow keys move the selected ROI by 1 px (Shift: :data:`SHIFT_STEP_PX`), Delete
    removes it and Esc deselects it; Enter closes a polygon being drawn and Esc drops
    it.  Only while there is something to act on: otherwise the keys go on (the
    arrows step frames).  ``ShortcutOverride`` is accepted first, so that the window's
    arrow-key shortcuts leave such a key to this filter.  :attr:`list_keys` is the
    filter for the list of ROIs (Delete there removes the selected one).
    """

    def __init__(self, tool: DrawingTool, state: Callable[[], BackgroundState],
                 active: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self.tool = tool
        self.state = state
        #: whether the keys act now (e.g. only while their panel is in front)
        self.active = active
        self.list_keys = _ListKeys(state)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind = event.type()
        if kind not in (QtCore.QEvent.Type.ShortcutOverride, QtCore.QEvent.Type.KeyPress):
            return False
        key = event.key()
        if not self.handles(key):
            return False
        if kind == QtCore.QEvent.Type.ShortcutOverride:
            event.accept()
        else:
            self.press(key, event.modifiers())
        return True

    def handles(self, key: int) -> bool:
        """True when `key` acts now (on the shape being drawn or the selected ROI)."""
        if self.active is not None and not self.active():
            return False
        if self.tool.drawing:
            return key in ENTER_KEYS or key == QtCore.Qt.Key.Key_Escape
        roi = self.state().selected_roi()
        if roi is None:
            return False
        if key in ARROW_STEPS:
            return not isinstance(roi, BorderROI)
        return key in DELETE_KEYS or key == QtCore.Qt.Key.Key_Escape

    def press(self, key: int, modifiers: QtCore.Qt.KeyboardModifier) -> None:
        if self.tool.key(key):
            return
        state = self.state()
        if key in ARROW_STEPS:
            step = SHIFT_STEP_PX if modifiers & QtCore.Qt.KeyboardModifier.ShiftModifier else 1
            dx, dy = ARROW_STEPS[key]
            state.move_selected(dx * step, dy * step)
        elif key in DELETE_KEYS:
            state.delete_selected()
        elif key == QtCore.Qt.Key.Key_Escape:
            state.select(None)


class _ListKeys(QtCore.QObject):
    """Delete in the list of ROIs removes the selected one."""

    def __init__(self, state: Callable[[], BackgroundState]) -> None:
        super().__init__()
        self.state = state

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind = event.type()
        if kind not in (QtCore.QEvent.Type.ShortcutOverride, QtCore.QEvent.Type.KeyPress):
            return False
        if event.key() not in DELETE_KEYS or self.state().selected_roi() is None:
            return False
        if kind == QtCore.QEvent.Type.ShortcutOverride:
            event.accept()
        else:
            self.state().delete_selected()
        return True
