"""Plots of a bleach correction against time, and the tables behind them.

:class:`BleachPlots` stacks four pyqtgraph plots that share the time axis:

1. the measured intensity trace with the fitted curve,
2. the residuals (measured − fitted),
3. the correction factor applied to every frame,
4. the corrected trace (intensity × factor) in percent of the first frame, which should
   stay at 100 %.

A vertical line marks the frame shown in the browser; clicking anywhere in
a plot asks for the nearest frame (``frameClicked``).  The pure functions
(:func:`corrected_trace`, :func:`curves_rows`, :func:`write_curves_csv`,
:func:`report_rows`, :func:`write_report_csv`, :func:`nearest_frame`) hold no
Qt and are what the CSV export and the tests use.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from PyQt6 import QtCore, QtGui, QtSvg, QtWidgets

from flimage_app.model.h5io import atomic_output

#: Column names of the curves table (CSV export).
CURVE_COLUMNS = ("frame", "time", "background", "intensity", "fitted", "residual",
                 "correction factor", "corrected intensity")

MEASURED_COLOUR = (30, 90, 200)
FIT_COLOUR = (215, 50, 40)
MARKER_COLOUR = (240, 150, 0)
FLAT_COLOUR = (120, 120, 120)


# ---------------------------------------------------------------------- pure functions
def corrected_trace(intensity: np.ndarray, correction: np.ndarray) -> np.ndarray:
    """The intensity trace after correction: every frame's intensity times its factor."""
    return np.asarray(intensity, dtype=float) * np.asarray(correction, dtype=float)


def residuals_of(intensity: np.ndarray, fitted: np.ndarray | None) -> np.ndarray | None:
    """``intensity − fitted``, or None when nothing was fitted."""
    if fitted is None:
        return None
    return np.asarray(intensity, dtype=float) - np.asarray(fitted, dtype=float)


def relative_corrected(intensity: np.ndarray, correction: np.ndarray) -> np.ndarray:
    """The corrected trace in percent of the first frame (100 % everywhere when perfect)."""
    corrected = corrected_trace(intensity, correction)
    if corrected.size == 0 or not math.isfinite(corrected[0]) or corrected[0] == 0:
        return np.full(corrected.size, np.nan)
    return 100.0 * corrected / corrected[0]


def corrected_range(relative: np.ndarray, least_span: float = 10.0) -> tuple[float, float]:
    """Y range of the corrected plot: the data, but never narrower than 100 ± `least_span` %.

    A tight auto-range would blow noise of a well-corrected series up to the full plot
    height and make a good correction look bad.
    """
    finite = relative[np.isfinite(relative)]
    low = min(float(finite.min()) if finite.size else 100.0, 100.0 - least_span)
    high = max(float(finite.max()) if finite.size else 100.0, 100.0 + least_span)
    return low, high


def nearest_frame(times: np.ndarray, time: float) -> int | None:
    """Index of the frame whose time is closest to `time` (None for an empty or NaN axis)."""
    times = np.asarray(times, dtype=float)
    if times.size == 0 or not math.isfinite(time):
        return None
    distances = np.abs(times - time)
    if not np.isfinite(distances).any():
        return None
    return int(np.nanargmin(distances))


def curves_rows(result) -> list[list[float]]:
    """One row per frame in the order of :data:`CURVE_COLUMNS` (NaN where not defined)."""
    count = result.times.size
    fitted = (np.asarray(result.fitted, dtype=float) if result.fitted is not None
              else np.full(count, np.nan))
    residual = np.asarray(result.intensity, dtype=float) - fitted
    corrected = corrected_trace(result.intensity, result.correction)
    columns = (result.times, result.background, result.intensity, fitted, residual,
               result.correction, corrected)
    return [[index, *(float(column[index]) for column in columns)] for index in range(count)]


def write_curves_csv(result, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the per-frame curves (see :data:`CURVE_COLUMNS`) to a CSV file, atomically."""
    unit = result.report.time_unit
    header = [f"time [{unit}]" if name == "time" else name for name in CURVE_COLUMNS]
    with atomic_output(path, overwrite=overwrite) as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in curves_rows(result):
                writer.writerow([int(row[0]), *(repr(value) for value in row[1:])])
    return Path(path)


def report_rows(result, extra: Sequence[tuple[str, str]] = ()) -> list[list[str]]:
    """The fit report as ``[quantity, value, standard error, unit]`` rows."""
    report = result.report
    rows = [["method", result.method, "", ""], ["model", report.model, "", ""]]
    rows.extend([key, value, "", ""] for key, value in extra)
    if report.time_origin:
        rows.append(["t0", repr(float(report.time_origin)), "", report.time_unit])
    for name, value in report.parameters.items():
        error = report.errors.get(name, math.nan)
        rows.append([name, repr(float(value)), repr(float(error)), report.parameter_unit(name)])
    for number, (value, error) in enumerate(report.half_lives, start=1):
        label = "half-life" if len(report.half_lives) == 1 else f"half-life {number}"
        rows.append([label, repr(float(value)), repr(float(error)), report.time_unit])
    if not math.isnan(report.r_squared):
        rows.append(["R²", repr(float(report.r_squared)), "", ""])
    rows.append(["frames used", str(result.times.size), "", ""])
    rows.extend(["note", note, "", ""] for note in report.notes)
    return rows


def write_report_csv(result, path: str | os.PathLike, extra: Sequence[tuple[str, str]] = (),
                     overwrite: bool = False) -> Path:
    """Write :func:`report_rows` to a CSV file, atomically."""
    with atomic_output(path, overwrite=overwrite) as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["quantity", "value", "standard error", "unit"])
            writer.writerows(report_rows(result, extra))
    return Path(path)


def intensity_label(method: str) -> str:
    """What the intensity axis measures for `method`."""
    if method == "flimage":
        return "Σ above bg"
    return "mean − bg"


#: Short forms of the left-axis labels, used when a plot is too low for the full label
#: (rotated labels longer than their plot run into the neighbouring plots' labels).
SHORT_LABELS = {"Σ above bg": "Σ>bg", "mean − bg": "I−bg", "residual": "resid.",
                "factor": "factor", "corrected [%]": "corr. %"}
#: Font of the axis labels.
LABEL_SIZE = "8pt"
#: Least space between the left-axis labels of neighbouring plots (px).
LABEL_GAP = 12


def fitting_label(label: str, room: float, width_of) -> str:
    """`label`, its short form, or '' — the longest that fits `room` pixels.

    `width_of(text)` is the drawn length of a text in pixels.
    """
    for candidate in (label, SHORT_LABELS.get(label, label)):
        if width_of(candidate) <= room:
            return candidate
    return ""


# ---------------------------------------------------------------------- the widget
class BleachPlots(pg.GraphicsLayoutWidget):
    """Intensity with fit, residuals, correction factor and corrected trace against time.

    Signals
    -------
    frameClicked(int)
        The user clicked in a plot; the index of the frame nearest in time.
    """

    frameClicked = QtCore.pyqtSignal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.times = np.empty(0)
        self.time_unit = "s"
        self.marker_index: int | None = None
        self.ci.layout.setSpacing(2)
        #: the full left-axis label of each plot (the shown one may be shortened)
        self._left_labels: dict[pg.PlotItem, str] = {}
        self._label_timer = QtCore.QTimer(self)
        self._label_timer.setSingleShot(True)
        self._label_timer.setInterval(0)
        self._label_timer.timeout.connect(self.fit_labels)

        self.intensity_plot = self._add_plot(0, "intensity")
        self.residual_plot = self._add_plot(1, "residual")
        self.factor_plot = self._add_plot(2, "factor")
        self.corrected_plot = self._add_plot(3, "corrected [%]")
        self.plots = (self.intensity_plot, self.residual_plot, self.factor_plot,
                      self.corrected_plot)
        for plot in self.plots[1:]:
            plot.setXLink(self.intensity_plot)
        for plot in self.plots[:-1]:
            plot.getAxis("bottom").setStyle(showValues=False)
        self.ci.layout.setRowStretchFactor(0, 5)
        for row in (1, 2, 3):
            self.ci.layout.setRowStretchFactor(row, 3)
        self.set_time_unit("s")

        self.legend = self.intensity_plot.addLegend(offset=(-8, 6), labelTextSize="8pt",
                                                    verSpacing=-6,
                                                    labelTextColor=(40, 40, 40))
        # readable over the points it may cover in a low plot
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 210))
        self.measured_item = pg.PlotDataItem(
            pen=None, symbol="o", symbolSize=6, symbolPen=pg.mkPen(MEASURED_COLOUR),
            symbolBrush=pg.mkBrush(*MEASURED_COLOUR, 150), name="measured")
        self.fit_item = pg.PlotDataItem(pen=pg.mkPen(FIT_COLOUR, width=2), name="fit")
        self.intensity_plot.addItem(self.measured_item)
        self.intensity_plot.addItem(self.fit_item)
        # the fit has a legend entry only while a fitted curve is shown (_set_fit_legend)
        self.legend.removeItem(self.fit_item)
        self.residual_item = pg.PlotDataItem(
            pen=pg.mkPen(MEASURED_COLOUR, width=1), symbol="o", symbolSize=5,
            symbolPen=pg.mkPen(MEASURED_COLOUR), symbolBrush=pg.mkBrush(MEASURED_COLOUR))
        self.residual_plot.addItem(self.residual_item)
        self.residual_plot.addItem(pg.InfiniteLine(angle=0, pos=0.0, pen=pg.mkPen(
            FLAT_COLOUR, style=QtCore.Qt.PenStyle.DashLine)))
        self.factor_item = pg.PlotDataItem(
            pen=pg.mkPen((40, 140, 60), width=2), symbol="o", symbolSize=4,
            symbolPen=pg.mkPen((40, 140, 60)), symbolBrush=pg.mkBrush((40, 140, 60)))
        self.factor_plot.addItem(self.factor_item)
        self.corrected_item = pg.PlotDataItem(
            pen=pg.mkPen(MEASURED_COLOUR, width=1), symbol="o", symbolSize=5,
            symbolPen=pg.mkPen(MEASURED_COLOUR), symbolBrush=pg.mkBrush(MEASURED_COLOUR))
        self.corrected_plot.addItem(self.corrected_item)
        # where a perfectly corrected trace would lie: the first frame's level
        self.flat_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(
            FLAT_COLOUR, style=QtCore.Qt.PenStyle.DashLine))
        self.corrected_plot.addItem(self.flat_line)
        self.flat_line.setVisible(False)

        self.markers = []
        for plot in self.plots:
            marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(MARKER_COLOUR, width=1.5))
            marker.setVisible(False)
            plot.addItem(marker, ignoreBounds=True)
            self.markers.append(marker)
        self.current_point = pg.ScatterPlotItem(size=11, pen=pg.mkPen(MARKER_COLOUR, width=2),
                                                brush=pg.mkBrush(None))
        self.intensity_plot.addItem(self.current_point)

        self.message = pg.TextItem("", color=(180, 30, 30), anchor=(0.5, 0.5))
        self.intensity_plot.addItem(self.message, ignoreBounds=True)
        self.note = pg.TextItem("", color=(110, 110, 110), anchor=(0.5, 0.5))
        self.residual_plot.addItem(self.note, ignoreBounds=True)
        self.scene().sigMouseClicked.connect(self._on_click)
        self.clear_plots()

    def sizeHint(self) -> QtCore.QSize:
        # pyqtgraph asks for ~640 px of height; the panel sits in a scroll area that
        # scrolls as soon as the preferred height exceeds the window, hiding the buttons
        return QtCore.QSize(420, 320)

    def _add_plot(self, row: int, label: str) -> pg.PlotItem:
        plot = self.addPlot(row=row, col=0)
        plot.showGrid(x=True, y=True, alpha=0.25)
        self._left_labels[plot] = label
        plot.setLabel("left", label, size=LABEL_SIZE)
        plot.getAxis("left").setWidth(58)
        # "×0.001" multipliers on an axis are easy to miss: show plain numbers
        plot.getAxis("left").enableAutoSIPrefix(False)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        return plot

    # --- axis labels ----------------------------------------------------------------------
    def set_left_label(self, plot: pg.PlotItem, label: str) -> None:
        """Label `plot`'s value axis (shortened when the plot is too low for it)."""
        self._left_labels[plot] = label
        self.fit_labels()

    def fit_labels(self) -> None:
        """Show each left-axis label in full, short, or not at all: never overlapping."""
        for plot, label in self._left_labels.items():
            axis = plot.getAxis("left")
            font = QtGui.QFont(axis.label.font())
            font.setPointSizeF(float(LABEL_SIZE.removesuffix("pt")))
            metrics = QtGui.QFontMetricsF(font)
            height = plot.vb.sceneBoundingRect().height()
            # a little space between the labels of neighbouring plots; not laid out yet: full
            shown = (fitting_label(label, height - LABEL_GAP, metrics.horizontalAdvance)
                     if height > 0 else label)
            if axis.labelText != shown:
                plot.setLabel("left", shown, size=LABEL_SIZE)
                # pyqtgraph centres a label only when its axis is resized: centre it now,
                # or the new text keeps the old one's offset and runs into the next plot
                axis.resizeEvent()

    def shown_left_labels(self) -> list[str]:
        """The left-axis labels as drawn, top to bottom."""
        return [plot.getAxis("left").labelText for plot in self.plots]

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        # the plots get their new heights when the layout runs, after this event
        timer = getattr(self, "_label_timer", None)  # None while pyqtgraph sets up
        if timer is not None:
            timer.start()

    # --- content --------------------------------------------------------------------------
    def set_time_unit(self, unit: str) -> None:
        self.time_unit = unit
        self.corrected_plot.setLabel("bottom", f"time [{unit}]", size=LABEL_SIZE)

    def clear_plots(self, message: str = "") -> None:
        """Remove all curves; show `message` (e.g. why there is nothing) in the top plot."""
        for item in (self.measured_item, self.fit_item, self.residual_item, self.factor_item,
                     self.corrected_item):
            item.setData([], [])
        self._set_fit_legend(None)
        self.current_point.setData([], [])
        for marker in self.markers:
            marker.setVisible(False)
        self.flat_line.setVisible(False)
        self.times = np.empty(0)
        self.note.setText("")
        self.set_message(message)

    def _set_fit_legend(self, text: str | None) -> None:
        """Name the fitted curve `text` in the legend, or leave it out (None: no fit shown)."""
        self.legend.removeItem(self.fit_item)
        if text is not None:
            self.legend.addItem(self.fit_item, text)

    def legend_texts(self) -> list[str]:
        """The legend's entries, top to bottom (what a user reads)."""
        return [label.text for _sample, label in self.legend.items]

    def set_message(self, message: str) -> None:
        self.message.setText(message)
        self.message.setVisible(bool(message))
        if message:
            self._centre(self.message, self.intensity_plot)

    def show_trace(self, times: np.ndarray, intensity: np.ndarray, method: str,
                   time_unit: str, message: str) -> None:
        """Show only a measured trace (a fit failed): the points and why nothing else is shown."""
        self.clear_plots()
        self.times = np.asarray(times, dtype=float)
        self.set_time_unit(time_unit)
        self.set_left_label(self.intensity_plot, intensity_label(method))
        self.measured_item.setData(self.times, np.asarray(intensity, dtype=float))
        self.fit_item.setData([], [])
        self.intensity_plot.autoRange()
        self.set_message(message)
        self._update_marker()

    def show_result(self, result) -> None:
        """Plot a :class:`~flimage_app.model.bleach.BleachResult`."""
        self.clear_plots()
        self.times = np.asarray(result.times, dtype=float)
        self.set_time_unit(result.report.time_unit)
        self.set_left_label(self.intensity_plot, intensity_label(result.method))
        self.measured_item.setData(self.times, np.asarray(result.intensity, dtype=float))
        if result.fitted is not None:
            self.fit_item.setData(self.times, np.asarray(result.fitted, dtype=float))
            r_squared = result.report.r_squared
            self._set_fit_legend(f"fit (R² {r_squared:.4f})" if math.isfinite(r_squared)
                                 else "fit")
        residuals = residuals_of(result.intensity, result.fitted)
        if residuals is not None:
            self.residual_item.setData(self.times, residuals)
        else:
            self.note.setText(f"no fitted curve ({result.method}): no residuals")
        self.factor_item.setData(self.times, np.asarray(result.correction, dtype=float))
        relative = relative_corrected(result.intensity, result.correction)
        self.corrected_item.setData(self.times, relative)
        self.flat_line.setPos(100.0)
        self.flat_line.setVisible(True)
        for plot in self.plots:
            plot.enableAutoRange()
            plot.autoRange()
        self.corrected_plot.setYRange(*corrected_range(relative), padding=0.05)
        if residuals is None:
            self._centre(self.note, self.residual_plot)
        self._update_marker()

    # --- frame marker and clicks ----------------------------------------------------------
    def set_marker(self, index: int | None) -> None:
        """Mark frame `index` (the one shown in the browser) in every plot."""
        self.marker_index = index
        self._update_marker()

    def _update_marker(self) -> None:
        index = self.marker_index
        visible = index is not None and 0 <= index < self.times.size
        for marker in self.markers:
            marker.setVisible(visible)
            if visible:
                marker.setPos(float(self.times[index]))
        if visible:
            x_values, y_values = self.measured_item.getData()
            if y_values is not None and index < len(y_values):
                self.current_point.setData([x_values[index]], [y_values[index]])
                return
        self.current_point.setData([], [])

    def _on_click(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton or self.times.size == 0:
            return
        position = event.scenePos()
        for plot in self.plots:
            if plot.vb.sceneBoundingRect().contains(position):
                time = plot.vb.mapSceneToView(position).x()
                index = nearest_frame(self.times, time)
                if index is not None:
                    self.frameClicked.emit(index)
                return

    def scene_position_of(self, index: int, plot: pg.PlotItem | None = None) -> QtCore.QPointF:
        """Scene position of frame `index`'s point in `plot` (default: intensity plot)."""
        plot = plot or self.intensity_plot
        x_values, y_values = self.measured_item.getData()
        y = float(y_values[index]) if y_values is not None and index < len(y_values) else 0.0
        return plot.vb.mapViewToScene(QtCore.QPointF(float(self.times[index]), y))

    def _centre(self, item: pg.TextItem, plot: pg.PlotItem) -> None:
        (x_low, x_high), (y_low, y_high) = plot.vb.viewRange()
        item.setPos((x_low + x_high) / 2, (y_low + y_high) / 2)

    # --- export ---------------------------------------------------------------------------
    def render_png(self, width: int = 1600) -> QtGui.QImage:
        """The four plots as an image `width` pixels wide."""
        exporter = pg.exporters.ImageExporter(self.ci)
        exporter.parameters()["width"] = width
        return exporter.export(toBytes=True)

    def render_svg(self) -> bytes:
        """The four plots as SVG (vector graphics).

        Qt's own SVG generator paints the scene: pyqtgraph 0.14's SVGExporter fails on
        the path syntax that recent Qt versions write (pyqtgraph issue #3485).
        """
        source = self.ci.sceneBoundingRect()
        size = source.size().toSize()
        buffer = QtCore.QBuffer()
        buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
        generator = QtSvg.QSvgGenerator()
        generator.setOutputDevice(buffer)
        generator.setSize(size)
        # axes replay QPictures recorded at the screen's resolution; at the generator's
        # default 72 dpi they would be drawn shrunk
        generator.setResolution(QtGui.QPicture().logicalDpiX())
        generator.setViewBox(QtCore.QRect(0, 0, size.width(), size.height()))
        generator.setTitle("Bleach correction")
        generator.setDescription("Intensity with fit, residuals, correction factor and "
                                 "corrected trace against time (flimage-app)")
        painter = QtGui.QPainter(generator)
        try:
            self.scene().render(painter, QtCore.QRectF(0, 0, size.width(), size.height()),
                                source)
        finally:
            painter.end()
        buffer.close()
        return bytes(buffer.data())

    def export_png(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the plots as PNG (atomically)."""
        image = self.render_png()
        with atomic_output(path, overwrite=overwrite) as temporary:
            if not image.save(str(temporary), "PNG"):
                raise OSError(f"Could not write {path}")
        return Path(path)

    def export_svg(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the plots as SVG (atomically)."""
        data = self.render_svg()
        with atomic_output(path, overwrite=overwrite) as temporary:
            Path(temporary).write_bytes(data)
        return Path(path)
