"""pyqtgraph items for the model's ROIs, and the mouse tools that draw them as in Fiji.

The view box of :class:`~flimage_app.gui.browser.image_view.ImageView` uses image
pixel coordinates (x = column, y = row, pixel (r, c) covering
``[c, c+1) × [r, r+1)``), the same as :mod:`flimage_app.model.rois`, so
positions and sizes of pyqtgraph ROIs are model coordinates unchanged.
"""

from __future__ import annotations

import math
import struct
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.workers import error_message
from flimage_app.model.errors import FLImageAppError
from flimage_app.model.rois import (
    ROI,
    BorderROI,
    EllipseROI,
    FreehandROI,
    PolygonROI,
    RectangleROI,
)

#: outline colours by role
ROLE_COLOURS = {"include": QtGui.QColor(60, 220, 90), "exclude": QtGui.QColor(255, 70, 110)}
SELECTED_COLOUR = QtGui.QColor(255, 215, 0)
#: free-hand points closer than this (pixels) to the previous one are dropped
FREEHAND_MIN_STEP = 0.5
#: the drawing tools (None is the select/pan tool)
DRAWING_KINDS = ("rectangle", "ellipse", "polygon", "freehand")
#: a click this close (screen pixels) to a polygon's first vertex closes it
CLOSE_DISTANCE_PX = 6


#: errors of reading an untrusted ROI file, reported in a one-line dialog
ROI_FILE_ERRORS = (FLImageAppError, OSError, ValueError, EOFError, zipfile.BadZipFile,
                   struct.error, KeyError, IndexError, UnicodeDecodeError)


def roi_file_problem(path: Path, error: BaseException) -> str:
    """One line naming the ROI file `path` and why `error` (one of :data:`ROI_FILE_ERRORS`)
    keeps it from being read."""
    message = (error_message(error) if isinstance(error, FLImageAppError | OSError | ValueError)
               else f"not a readable ROI file ({error})")
    return message if path.name in message else f"{path.name}: {message}"


#: the drawing tools, their button text and tooltip; None is select/pan
TOOLS = {
    None: ("Select", "Select and move regions; drag the image to pan"),
    "rectangle": ("Rectangle", "Drag on the image to draw a rectangle"),
    "ellipse": ("Ellipse", "Drag on the image to draw an ellipse"),
    "polygon": ("Polygon", "Click the corners on the image; double-click, click the first "
                           "corner or press Enter to close; Esc cancels"),
    "freehand": ("Free-hand", "Press and drag along the outline on the image; release "
                              "closes it"),
}


def tool_buttons(parent: QtWidgets.QWidget
                 ) -> tuple[QtWidgets.QButtonGroup, dict[str | None, QtWidgets.QToolButton]]:
    """The exclusive, checkable buttons of :data:`TOOLS` (Select pressed), as in Fiji's
    toolbar: the panels that draw ROIs lay them out."""
    group = QtWidgets.QButtonGroup(parent)
    group.setExclusive(True)
    buttons: dict[str | None, QtWidgets.QToolButton] = {}
    for kind, (text, tip) in TOOLS.items():
        button = QtWidgets.QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setCheckable(True)
        button.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding,
                             QtWidgets.QSizePolicy.Policy.Fixed)
        group.addButton(button)
        buttons[kind] = button
    buttons[None].setChecked(True)
    return group, buttons


def role_pen(role: str, selected: bool = False) -> QtGui.QPen:
    """Outline pen: green for include, dashed red for exclude, thicker when selected."""
    colour = SELECTED_COLOUR if selected else ROLE_COLOURS[role]
    pen = pg.mkPen(colour, width=3 if selected else 2)
    if role == "exclude":
        pen.setStyle(QtCore.Qt.PenStyle.DashLine)
    return pen


class PathROI(pg.ROI):
    """A hand-drawn outline that can be moved as a whole (no handles for its many points)."""

    def __init__(self, points: np.ndarray, **kwargs) -> None:
        super().__init__(pos=(0, 0), size=(1, 1), rotatable=False, resizable=False, **kwargs)
        self._points = np.asarray(points, dtype=float)
        polygon = QtGui.QPolygonF([QtCore.QPointF(x, y) for x, y in self._points])
        self._path = QtGui.QPainterPath()
        self._path.addPolygon(polygon)
        self._path.closeSubpath()

    def boundingRect(self) -> QtCore.QRectF:
        return self._path.boundingRect()

    def shape(self) -> QtGui.QPainterPath:
        return self._path

    def paint(self, painter: QtGui.QPainter, *_args) -> None:
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.setPen(self.currentPen)
        painter.drawPath(self._path)

    def points(self) -> np.ndarray:
        """The outline in view coordinates, after any move."""
        offset = self.pos()
        return self._points + [offset.x(), offset.y()]


class BorderItem(QtWidgets.QGraphicsPathItem):
    """Non-interactive outline of a border ROI: the image edge and the inner edge."""

    def __init__(self, roi: BorderROI, shape: tuple[int, int]) -> None:
        super().__init__()
        rows, columns = shape
        n = roi.width_px
        path = QtGui.QPainterPath()
        path.addRect(QtCore.QRectF(0, 0, columns, rows))
        path.addRect(QtCore.QRectF(n, n, max(columns - 2 * n, 0), max(rows - 2 * n, 0)))
        self.setPath(path)
        self.setZValue(10)


def colour_pen(colour: str, selected: bool = False) -> QtGui.QPen:
    """Outline pen of a ROI with a colour of its own (measurement ROIs): thicker when selected."""
    return pg.mkPen(QtGui.QColor(colour), width=3.5 if selected else 2)


class RoiGraphic:
    """One model ROI on the image: its pyqtgraph item and the conversion back to the model.

    `colour` (``#rrggbb``) gives the outline a colour of its own instead of the
    colour of its role (the measurement ROIs match their curves).
    """

    def __init__(self, roi: ROI, shape: tuple[int, int], colour: str | None = None) -> None:
        self.roi = roi
        self.colour = colour
        self.item = make_item(roi, shape)
        # the name rides on the item (it moves along); TextItem keeps its size when zooming
        self.label = pg.TextItem(roi.name, anchor=(0, 1))
        self.label.setParentItem(self.item)
        self.label.setPos(*_label_position(roi))
        self.set_selected(False)

    def set_selected(self, selected: bool) -> None:
        pen = (colour_pen(self.colour, selected) if self.colour is not None
               else role_pen(self.roi.role, selected))
        self.label.setText(self.roi.name)
        self.label.setColor(pen.color())
        if isinstance(self.item, pg.ROI):
            self.item.setPen(pen)
            self.item.hoverPen = pg.mkPen(SELECTED_COLOUR, width=3)
            self.item.update()
        else:
            self.item.setPen(pen)

    def current_roi(self) -> ROI:
        """The model ROI with the item's present geometry (name and role kept)."""
        return roi_from_item(self.item, self.roi)


def _label_position(roi: ROI) -> tuple[float, float]:
    """Where the name goes, in the item's own coordinates: above its top-left corner."""
    if isinstance(roi, PolygonROI):
        points = np.asarray(roi.points)
        return float(points[:, 0].min()), float(points[:, 1].min())
    if isinstance(roi, BorderROI):
        return float(roi.width_px), float(roi.width_px) + 1.0
    return 0.0, 0.0


def make_item(roi: ROI, shape: tuple[int, int]):
    """A pyqtgraph ROI (or, for a border, a plain outline) showing `roi`."""
    options = {"removable": True, "movable": True}
    if isinstance(roi, RectangleROI):
        item = pg.RectROI((roi.x, roi.y), (roi.width, roi.height), angle=roi.angle,
                          snapSize=1.0, translateSnap=True, scaleSnap=True, **options)
    elif isinstance(roi, EllipseROI):
        item = pg.EllipseROI((roi.x, roi.y), (roi.width, roi.height), angle=roi.angle,
                             snapSize=1.0, translateSnap=True, scaleSnap=True, **options)
    elif isinstance(roi, FreehandROI):
        item = PathROI(np.asarray(roi.points), **options)
    elif isinstance(roi, PolygonROI):
        item = pg.PolyLineROI([list(p) for p in roi.points], closed=True, **options)
    elif isinstance(roi, BorderROI):
        return BorderItem(roi, shape)
    else:
        raise TypeError(f"No display for {type(roi).__name__}")
    item.setAcceptedMouseButtons(QtCore.Qt.MouseButton.LeftButton)
    return item


def roi_from_item(item, model: ROI) -> ROI:
    """`model` moved / resized to the geometry of its pyqtgraph `item`."""
    if isinstance(model, BorderROI):
        return model
    if isinstance(model, RectangleROI | EllipseROI):
        pos, size = item.pos(), item.size()
        return replace(model, x=float(pos.x()), y=float(pos.y()), width=float(size.x()),
                       height=float(size.y()), angle=float(item.angle()))
    if isinstance(model, FreehandROI):
        return replace(model, points=tuple(map(tuple, item.points())))
    points = []
    for _name, local in item.getLocalHandlePositions():
        point = item.mapToParent(local)
        points.append((float(point.x()), float(point.y())))
    return replace(model, points=tuple(points))


class DrawingTool(QtCore.QObject):
    """The drawing tools of the image, as in Fiji: pick one, then draw on the image.

    * ``"rectangle"``, ``"ellipse"``: press, drag, release; the shape follows the
      mouse and snaps to whole pixels (ImageJ's integer bounds).
    * ``"polygon"``: click the vertices; a double-click, a click on the first
      vertex, Enter or a right-click closes it; Esc cancels it.
    * ``"freehand"``: press, drag along the outline, release.

    The tool stays picked after a shape is finished (as in Fiji); ``set_kind(None)``
    is the select/pan tool, under which the image pans.  While a drawing tool is
    picked, the scene's left-button events go to it instead of panning, except a
    press that `passthrough` claims (a handle, or the selected ROI: they resize and
    move as usual).  A click without a drag emits `clicked` (the panel selects the
    ROI under it).  :meth:`press`, :meth:`move`, :meth:`release` and :meth:`finish`
    take view coordinates, so tests can draw without a mouse.

    Signals
    -------
    finished(str, object)
        The kind, and ``(x, y, width, height)`` for a rectangle or an ellipse, or the
        ``(n, 2)`` points of a polygon or an outline.
    clicked(object)
        The scene position (``QPointF``) of a click that drew nothing.
    kindChanged(object)
        The picked tool (a kind, or None for select/pan).
    """

    finished = QtCore.pyqtSignal(str, object)
    clicked = QtCore.pyqtSignal(object)
    kindChanged = QtCore.pyqtSignal(object)

    def __init__(self, view_box: pg.ViewBox,
                 passthrough: Callable[[QtCore.QPointF], bool] | None = None) -> None:
        super().__init__()
        self.view_box = view_box
        self.passthrough = passthrough
        self.kind: str | None = None
        self.points: list[tuple[float, float]] = []
        self._dragging = False
        self._passing = False
        self._hover: tuple[float, float] | None = None
        self._path_item = QtWidgets.QGraphicsPathItem()
        self._path_item.setPen(pg.mkPen(SELECTED_COLOUR, width=2,
                                        style=QtCore.Qt.PenStyle.DashLine))
        self._path_item.setZValue(20)

    @property
    def active(self) -> bool:
        """True while a drawing tool (not select/pan) is picked."""
        return self.kind is not None

    @property
    def drawing(self) -> bool:
        """True while a shape is being drawn (started, not finished or cancelled)."""
        return bool(self.points)

    def set_kind(self, kind: str | None) -> None:
        """Pick a drawing tool (one of :data:`DRAWING_KINDS`) or None for select/pan."""
        if kind is not None and kind not in DRAWING_KINDS:
            raise ValueError(f"Cannot draw {kind!r}; choose one of {', '.join(DRAWING_KINDS)}")
        if kind == self.kind:
            return
        self.cancel_shape()
        scene = self.view_box.scene()
        if self.kind is not None:
            if scene is not None:
                scene.removeEventFilter(self)
            self.view_box.removeItem(self._path_item)
            self.view_box.unsetCursor()
        self.kind = kind
        if kind is not None:
            self.view_box.addItem(self._path_item, ignoreBounds=True)
            if scene is not None:
                scene.installEventFilter(self)
            self.view_box.setCursor(QtCore.Qt.CursorShape.CrossCursor)
        self.kindChanged.emit(kind)

    def start(self, kind: str) -> None:
        """Pick drawing tool `kind` (same as :meth:`set_kind`)."""
        self.set_kind(kind)

    def stop(self) -> None:
        """Back to the select/pan tool."""
        self.set_kind(None)

    def cancel_shape(self) -> None:
        """Drop the shape being drawn; the tool stays picked."""
        self.points = []
        self._dragging = False
        self._hover = None
        self._path_item.setPath(QtGui.QPainterPath())

    def finish(self) -> None:
        """Close the shape being drawn and emit `finished` when it encloses an area."""
        kind, points = self.kind, list(self.points)
        self.cancel_shape()
        if kind in ("polygon", "freehand"):
            points = _drop_repeats(points)
            if len(points) >= 3:
                self.finished.emit(kind, np.asarray(points))
        elif kind in ("rectangle", "ellipse") and len(points) == 2:
            (x0, y0), (x1, y1) = points
            box = (min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
            if box[2] >= 1 and box[3] >= 1:
                self.finished.emit(kind, box)
            else:
                self.clicked.emit(self.view_box.mapViewToScene(QtCore.QPointF(x0, y0)))

    # --- drawing steps (view coordinates) -----------------------------------------------
    def press(self, x: float, y: float) -> None:
        if self.kind == "polygon":
            if len(self.points) >= 3 and self._near_first_vertex(x, y):
                self.finish()
                return
            self.points.append((x, y))
        elif self.kind == "freehand":
            self._dragging = True
            self.points = [(x, y)]
        elif self.kind in ("rectangle", "ellipse"):
            self._dragging = True
            corner = (float(round(x)), float(round(y)))
            self.points = [corner, corner]
        self._redraw()

    def move(self, x: float, y: float) -> None:
        if self.kind == "freehand" and self._dragging:
            last = self.points[-1]
            if np.hypot(x - last[0], y - last[1]) >= FREEHAND_MIN_STEP:
                self.points.append((x, y))
        elif self.kind in ("rectangle", "ellipse") and self._dragging:
            self.points[1] = (float(round(x)), float(round(y)))
        elif self.kind == "polygon":
            self._hover = (x, y)
        self._redraw()

    def release(self, x: float, y: float) -> None:
        if self.kind in ("freehand", "rectangle", "ellipse") and self._dragging:
            self.move(x, y)
            self._dragging = False
            if self.kind == "freehand" and len(_drop_repeats(self.points)) < 3:
                start = self.points[0]
                self.cancel_shape()
                self.clicked.emit(self.view_box.mapViewToScene(QtCore.QPointF(*start)))
                return
            self.finish()

    def key(self, key: int) -> bool:
        """Enter closes a polygon, Esc drops the shape being drawn; True if used."""
        if not self.drawing:
            return False
        if key in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter) and \
                self.kind == "polygon":
            self.finish()
            return True
        if key == QtCore.Qt.Key.Key_Escape:
            self.cancel_shape()
            return True
        return False

    def _near_first_vertex(self, x: float, y: float) -> bool:
        return self._near_vertex(x, y, 0)

    def _near_vertex(self, x: float, y: float, number: int) -> bool:
        """True when (x, y) is within :data:`CLOSE_DISTANCE_PX` screen pixels of a vertex."""
        first = self.view_box.mapViewToScene(QtCore.QPointF(*self.points[number]))
        here = self.view_box.mapViewToScene(QtCore.QPointF(x, y))
        return math.hypot(first.x() - here.x(), first.y() - here.y()) <= CLOSE_DISTANCE_PX

    def _redraw(self) -> None:
        path = QtGui.QPainterPath()
        if self.kind in ("rectangle", "ellipse") and len(self.points) == 2:
            (x0, y0), (x1, y1) = self.points
            rect = QtCore.QRectF(QtCore.QPointF(x0, y0), QtCore.QPointF(x1, y1)).normalized()
            if self.kind == "rectangle":
                path.addRect(rect)
            else:
                path.addEllipse(rect)
        else:
            points = list(self.points) + ([self._hover] if self._hover and self.points else [])
            if points:
                path.moveTo(*points[0])
                for point in points[1:]:
                    path.lineTo(*point)
        self._path_item.setPath(path)

    # --- Qt events ------------------------------------------------------------------------
    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind = event.type()
        types = QtCore.QEvent.Type
        if kind not in (types.GraphicsSceneMousePress, types.GraphicsSceneMouseMove,
                        types.GraphicsSceneMouseRelease, types.GraphicsSceneMouseDoubleClick):
            return False
        point = self.view_box.mapSceneToView(event.scenePos())
        x, y = float(point.x()), float(point.y())
        button = event.button()
        left = QtCore.Qt.MouseButton.LeftButton
        if kind in (types.GraphicsSceneMousePress, types.GraphicsSceneMouseDoubleClick):
            if button == QtCore.Qt.MouseButton.RightButton and self.kind == "polygon" \
                    and self.drawing:
                self.finish()
                return True
            if button != left:
                return False
            if kind == types.GraphicsSceneMouseDoubleClick and self.kind == "polygon":
                # the press before it added the last vertex, when there was one
                if not self.points or not self._near_vertex(x, y, -1):
                    self.points.append((x, y))
                self.finish()
                return True
            if not self.drawing and self.passthrough is not None \
                    and self.passthrough(event.scenePos()):
                self._passing = True  # a handle or the selected ROI: resize or move it
                return False
            self.press(x, y)
            return True
        if kind == types.GraphicsSceneMouseMove:
            if self._passing:
                return False
            self.move(x, y)
            # hovering (no drag of ours) goes on to pyqtgraph: highlights, pixel readout
            return self._dragging
        # release
        if self._passing:
            self._passing = False
            return False
        if button != left:
            return False
        self.release(x, y)
        return True


def _drop_repeats(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    kept: list[tuple[float, float]] = []
    for point in points:
        if not kept or point != kept[-1]:
            kept.append(point)
    if len(kept) > 1 and kept[0] == kept[-1]:
        kept.pop()
    return kept
