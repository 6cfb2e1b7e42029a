"""pyqtgraph items for the model's ROIs, and the mouse tool that draws polygons and outlines.

The view box of :class:`~flimage_app.gui.browser.image_view.ImageView` uses image
pixel coordinates (x = column, y = row, pixel (r, c) covering
``[c, c+1) × [r, r+1)``), the same as :mod:`flimage_app.model.rois`, so
positions and sizes of pyqtgraph ROIs are model coordinates unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

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


class RoiGraphic:
    """One model ROI on the image: its pyqtgraph item and the conversion back to the model."""

    def __init__(self, roi: ROI, shape: tuple[int, int]) -> None:
        self.roi = roi
        self.item = make_item(roi, shape)
        # the name rides on the item (it moves along); TextItem keeps its size when zooming
        self.label = pg.TextItem(roi.name, anchor=(0, 1))
        self.label.setParentItem(self.item)
        self.label.setPos(*_label_position(roi))
        self.set_selected(False)

    def set_selected(self, selected: bool) -> None:
        pen = role_pen(self.roi.role, selected)
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
    """Draws a polygon (clicks; double-click or right-click closes) or a free-hand outline
    (press, drag, release) on a view box.

    While a tool is active the scene's mouse events go to it instead of
    panning the view.  :meth:`press`, :meth:`move`, :meth:`release` and
    :meth:`finish` take view coordinates, so tests can draw without a mouse.

    Signals
    -------
    finished(str, object)
        The kind ("polygon" or "freehand") and the ``(n, 2)`` points drawn.
    stopped()
        The tool became inactive (finished or cancelled).
    """

    finished = QtCore.pyqtSignal(str, object)
    stopped = QtCore.pyqtSignal()

    def __init__(self, view_box: pg.ViewBox) -> None:
        super().__init__()
        self.view_box = view_box
        self.kind: str | None = None
        self.points: list[tuple[float, float]] = []
        self._dragging = False
        self._hover: tuple[float, float] | None = None
        self._path_item = QtWidgets.QGraphicsPathItem()
        self._path_item.setPen(pg.mkPen(SELECTED_COLOUR, width=2,
                                        style=QtCore.Qt.PenStyle.DashLine))
        self._path_item.setZValue(20)

    @property
    def active(self) -> bool:
        return self.kind is not None

    def start(self, kind: str) -> None:
        """Begin drawing a "polygon" or a "freehand" outline."""
        if kind not in ("polygon", "freehand"):
            raise ValueError(f"Cannot draw {kind!r}")
        self.cancel()
        self.kind = kind
        self.points = []
        self.view_box.addItem(self._path_item, ignoreBounds=True)
        scene = self.view_box.scene()
        if scene is not None:
            scene.installEventFilter(self)
        self.view_box.setCursor(QtCore.Qt.CursorShape.CrossCursor)

    def cancel(self) -> None:
        """Stop without producing an ROI."""
        if not self.active:
            return
        scene = self.view_box.scene()
        if scene is not None:
            scene.removeEventFilter(self)
        self.view_box.removeItem(self._path_item)
        self.view_box.unsetCursor()
        self.kind = None
        self.points = []
        self._dragging = False
        self._hover = None
        self.stopped.emit()

    def finish(self) -> None:
        """Close the outline; emits `finished` when it has at least 3 distinct points."""
        kind, points = self.kind, _drop_repeats(self.points)
        self.cancel()
        if kind is not None and len(points) >= 3:
            self.finished.emit(kind, np.asarray(points))

    # --- drawing steps (view coordinates) -----------------------------------------------
    def press(self, x: float, y: float) -> None:
        if self.kind == "polygon":
            self.points.append((x, y))
        elif self.kind == "freehand":
            self._dragging = True
            self.points = [(x, y)]
        self._redraw()

    def move(self, x: float, y: float) -> None:
        if self.kind == "freehand" and self._dragging:
            last = self.points[-1]
            if np.hypot(x - last[0], y - last[1]) >= FREEHAND_MIN_STEP:
                self.points.append((x, y))
        elif self.kind == "polygon":
            self._hover = (x, y)
        self._redraw()

    def release(self, x: float, y: float) -> None:
        if self.kind == "freehand" and self._dragging:
            self.move(x, y)
            self._dragging = False
            self.finish()

    def _redraw(self) -> None:
        path = QtGui.QPainterPath()
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
        if kind == types.GraphicsSceneMousePress:
            if button == QtCore.Qt.MouseButton.RightButton and self.kind == "polygon":
                self.finish()
            elif button == QtCore.Qt.MouseButton.LeftButton:
                self.press(x, y)
        elif kind == types.GraphicsSceneMouseMove:
            self.move(x, y)
        elif kind == types.GraphicsSceneMouseRelease:
            self.release(x, y)
        elif self.kind == "polygon":  # double click: the press before it added the point
            self.finish()
        return True


def _drop_repeats(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    kept: list[tuple[float, float]] = []
    for point in points:
        if not kept or point != kept[-1]:
            kept.append(point)
    if len(kept) > 1 and kept[0] == kept[-1]:
        kept.pop()
    return kept
