"""The Measure panel's plot: one trace per ROI in the ROI's colour, against time.

A click on the plot picks the point nearest to it on screen and emits
``frameClicked(frame)`` (the browser goes there); hovering shows the value of
the nearest point ("ROI 2, frame 7 (t = 14 s): 83.2"); a vertical line marks the
frame on display.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

#: the marker of the frame on display
MARKER_COLOUR = (90, 90, 90)
#: a point farther than this from the mouse (screen px) is not picked or read out
PICK_DISTANCE_PX = 24
#: more ROIs than this get no legend (it would cover the traces)
MAX_LEGEND_ENTRIES = 8
#: colours drawn darker on the white plot (pale ROI colours vanish on white otherwise)
PLOT_BACKGROUND = "w"


def readable_on_white(colour: str) -> QtGui.QColor:
    """`colour`, darkened when it is too pale to read on a white plot (yellow, white)."""
    qcolour = QtGui.QColor(colour)
    lightness = 0.299 * qcolour.red() + 0.587 * qcolour.green() + 0.114 * qcolour.blue()
    if lightness > 200:
        qcolour = qcolour.darker(150 if lightness < 240 else 250)
    return qcolour


class TracePlot(pg.PlotWidget):
    """Traces of the measurement ROIs (see the module docstring).

    Signals
    -------
    frameClicked(int)
        A point was clicked: its frame.
    hovered(str)
        The readout of the point under the mouse ('' when none is near).
    """

    frameClicked = QtCore.pyqtSignal(int)
    hovered = QtCore.pyqtSignal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, background=PLOT_BACKGROUND)
        self.plot_item: pg.PlotItem = self.getPlotItem()
        self.plot_item.showGrid(x=True, y=True, alpha=0.15)
        self.plot_item.setMenuEnabled(False)
        for axis in ("left", "bottom"):
            self.plot_item.getAxis(axis).setTextPen(pg.mkPen((40, 40, 40)))
            self.plot_item.getAxis(axis).setPen(pg.mkPen((120, 120, 120)))
        self.legend = self.plot_item.addLegend(offset=(-6, 6), labelTextSize="8pt",
                                               labelTextColor=(40, 40, 40), verSpacing=-6)
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 210))
        self.x = np.empty(0)
        self.x_label = "time [s]"
        #: (name, values) of every curve shown
        self.curves: list[tuple[str, np.ndarray]] = []
        self._items: list[pg.PlotDataItem] = []
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(MARKER_COLOUR, width=1.5,
                                                             style=QtCore.Qt.PenStyle.DashLine))
        self.marker.setVisible(False)
        self.plot_item.addItem(self.marker, ignoreBounds=True)
        self.highlight = pg.ScatterPlotItem(size=12, pen=pg.mkPen((30, 30, 30), width=2),
                                            brush=pg.mkBrush(None))
        self.plot_item.addItem(self.highlight, ignoreBounds=True)
        self.message = pg.TextItem("", color=(110, 110, 110), anchor=(0.5, 0.5))
        self.plot_item.addItem(self.message, ignoreBounds=True)
        self.marker_frame: int | None = None
        self.scene().sigMouseClicked.connect(self._on_click)
        self.scene().sigMouseMoved.connect(self._on_move)
        self.show_message("Draw ROIs on the image, then press Measure")

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(260, 200)

    def minimumSizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(160, 130)

    # --- content ----------------------------------------------------------------------------
    def set_traces(self, x: np.ndarray, x_label: str,
                   curves: list[tuple[str, str, np.ndarray]], y_label: str) -> None:
        """Show `curves` — (ROI name, colour, values per frame) — against `x`."""
        self._clear_items()
        self.message.setText("")
        self.x = np.asarray(x, dtype=float)
        self.x_label = x_label
        self.curves = [(name, np.asarray(values, dtype=float)) for name, _c, values in curves]
        many = self.x.size > 200  # symbols on every point of a long series hide the lines
        # a legend of many ROIs covers the traces: the list and the table show the colours
        self.legend.setVisible(len(curves) <= MAX_LEGEND_ENTRIES)
        for name, colour, values in curves:
            qcolour = readable_on_white(colour)
            values = np.asarray(values, dtype=float)
            # a ROI with no value (off the image) keeps its legend entry, and pyqtgraph
            # gets no all-NaN data to warn about
            shown = np.isfinite(values).any()
            item = pg.PlotDataItem(self.x if shown else [], values if shown else [],
                                   pen=pg.mkPen(qcolour, width=2), name=name,
                                   symbol=None if many else "o", symbolSize=5,
                                   symbolPen=pg.mkPen(qcolour), symbolBrush=pg.mkBrush(qcolour),
                                   connect="finite")
            self.plot_item.addItem(item)
            self._items.append(item)
        self.plot_item.setLabel("bottom", x_label)
        self.plot_item.setLabel("left", y_label)
        self.plot_item.enableAutoRange()
        self.show_frame(self.marker_frame)

    def show_message(self, text: str) -> None:
        """No traces: `text` in the middle of the plot."""
        self._clear_items()
        self.x = np.empty(0)
        self.curves = []
        self.plot_item.setLabel("left", "")
        self.plot_item.setLabel("bottom", "")
        self.plot_item.setXRange(0, 1, padding=0)
        self.plot_item.setYRange(0, 1, padding=0)
        self.message.setText(text)
        self.message.setPos(0.5, 0.5)
        self.marker.setVisible(False)

    def _clear_items(self) -> None:
        for item in self._items:
            self.plot_item.removeItem(item)
        self._items = []
        self.legend.clear()
        self.highlight.clear()

    def show_frame(self, frame: int | None) -> None:
        """Mark the frame on display (None: no marker)."""
        self.marker_frame = frame
        visible = frame is not None and 0 <= frame < self.x.size and \
            math.isfinite(self.x[frame])
        self.marker.setVisible(visible)
        if visible:
            self.marker.setValue(float(self.x[frame]))

    # --- picking points ---------------------------------------------------------------------
    def nearest_point(self, scene_pos: QtCore.QPointF) -> tuple[int, int] | None:
        """(curve, frame) of the point nearest to `scene_pos` on screen, if close enough."""
        if not self.curves or not self.plot_item.sceneBoundingRect().contains(scene_pos):
            return None
        view_box = self.plot_item.getViewBox()
        # the view is scaled and shifted, never rotated: two points give the whole map
        # (a map per point would cost ~1 ms per 100 points on every mouse move)
        origin = view_box.mapViewToScene(QtCore.QPointF(0.0, 0.0))
        unit = view_box.mapViewToScene(QtCore.QPointF(1.0, 1.0))
        scale_x, scale_y = unit.x() - origin.x(), unit.y() - origin.y()
        best, best_distance = None, PICK_DISTANCE_PX
        for curve, (_name, values) in enumerate(self.curves):
            finite = np.flatnonzero(np.isfinite(values) & np.isfinite(self.x))
            if finite.size == 0:
                continue
            distances = np.hypot(origin.x() + scale_x * self.x[finite] - scene_pos.x(),
                                 origin.y() + scale_y * values[finite] - scene_pos.y())
            nearest = int(np.argmin(distances))
            if distances[nearest] <= best_distance:
                best, best_distance = (curve, int(finite[nearest])), float(distances[nearest])
        return best

    def scene_position(self, curve: int, frame: int) -> QtCore.QPointF:
        """Where point `frame` of curve `curve` is drawn (scene coordinates; for tests)."""
        values = self.curves[curve][1]
        return self.plot_item.getViewBox().mapViewToScene(
            QtCore.QPointF(self.x[frame], values[frame]))

    def readout(self, curve: int, frame: int) -> str:
        """"ROI 2, frame 7 (t = 14 s): 83.2" for a point."""
        name, values = self.curves[curve]
        where = f"frame {frame}"
        if self.x_label.startswith("time") and math.isfinite(self.x[frame]):
            where += f" (t = {self.x[frame]:.4g} s)"
        return f"ROI {name}, {where}: {values[frame]:.6g}"

    def _on_click(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        point = self.nearest_point(event.scenePos())
        if point is not None:
            event.accept()
            self.frameClicked.emit(point[1])

    def _on_move(self, scene_pos: QtCore.QPointF) -> None:
        point = self.nearest_point(scene_pos)
        if point is None:
            self.highlight.clear()
            self.hovered.emit("")
            self.setToolTip("Click a point to show its frame")
            return
        curve, frame = point
        self.highlight.setData([self.x[frame]], [self.curves[curve][1][frame]])
        text = self.readout(curve, frame)
        self.setToolTip(text)
        self.hovered.emit(text)


__all__ = ["TracePlot", "readable_on_white"]
