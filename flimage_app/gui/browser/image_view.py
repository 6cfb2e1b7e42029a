"""The image display: a pyqtgraph image with histogram/LUT, colour maps, scale bar and cursor.

Orientation follows numpy and Fiji: array row = y (downwards), column = x
(rightwards), pixel (x, y) covers ``[x, x+1) × [y, y+1)`` in view coordinates.

The pixel readout (``cursorMoved``) stays true to what is on display: it is
sent again when another frame, series or pixel size is shown under a resting
cursor, and None when the view is cleared or the cursor leaves.  A preview
(a frame shown with ``values_label``) is read out under that name, not as raw.

Keys pressed while the image has the focus go first to :attr:`ImageView.key_handlers`
(see there), so that a panel can use the arrow keys (e.g. to move a selected ROI)
before they step frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.browser.frame_cache import VIEW_MODES, Frame

#: Colour maps offered to the user, in menu order; the first is the default.
COLORMAP_NAMES = ("grey", "viridis", "green (GFP)", "fire", "inferno")

#: Shown in the view while no frame is on display.
EMPTY_MESSAGE = "Open a series with File ▸ Open… or drop files onto the window"
READING_MESSAGE = "Reading the frame…"
#: Added to the caption in background mode when the frame stores no background.
NO_BACKGROUND_NOTE = ("No background stored for this frame (shown as zeros); "
                      "Show ▸ Raw for the image")

VIEW_MODE_LABELS = {"raw": "Raw", "background": "Background", "corrected": "Corrected"}

#: What a panel's preview (its computed image, not the file's) passes as ``values_label``.
PREVIEW_LABEL = "preview"

#: Left margin of the caption in the view (px); the caption wraps within the view's width.
CAPTION_MARGIN = 10
#: Parts of a caption ("name   frame 3 of 36   t = 0.761 s") are separated by this.
CAPTION_SEPARATOR = "   "

#: A key handler of :attr:`ImageView.key_handlers`: ``handler(key, modifiers) -> bool``
#: with the ``Qt.Key`` and ``Qt.KeyboardModifier`` values as ints; True consumes the key.
KeyHandler = Callable[[int, int], bool]

#: Percentiles of the frame's intensities mapped to black and white in auto-levels mode;
#: robust against hot pixels and a few saturated spots.
AUTO_LEVEL_PERCENTILES = (0.5, 99.8)
#: Pixels sampled for auto levels (enough for stable percentiles, fast on 2k × 2k frames).
AUTO_LEVEL_SAMPLES = 65_536
#: Milliseconds without a new frame after which the display rests: the frame on display is
#: then drawn at full resolution and the histogram recomputed.
REST_MS = 150


def screen_step(image_units_per_pixel: float, device_pixel_ratio: float = 1.0) -> int:
    """Integer factor by which an image can be thinned without losing a screen pixel.

    `image_units_per_pixel` is how many image pixels one (logical) screen pixel
    covers; on a high-density screen a logical pixel has `device_pixel_ratio`
    device pixels, each of which can show its own image pixel.
    """
    per_device_pixel = image_units_per_pixel / max(device_pixel_ratio, 1.0)
    if not math.isfinite(per_device_pixel) or per_device_pixel < 2:
        return 1
    return int(per_device_pixel)


def thinned(image: np.ndarray, step: int) -> np.ndarray:
    """Every `step`-th row and column of `image` (what a screen at that scale shows)."""
    return image if step <= 1 else image[::step, ::step]


def make_colormap(name: str) -> pg.ColorMap:
    """The pyqtgraph colour map called `name` (one of :data:`COLORMAP_NAMES`)."""
    if name == "grey":
        return pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)], name=name)
    if name == "green (GFP)":
        # black → green → pale green: like a GFP channel in Fiji, with headroom to see saturation
        return pg.ColorMap([0.0, 0.8, 1.0], [(0, 0, 0), (0, 230, 0), (200, 255, 200)], name=name)
    if name == "fire":
        return pg.colormap.get("CET-L3")  # black–red–yellow–white heat map
    if name in ("viridis", "inferno"):
        return pg.colormap.get(name)
    raise ValueError(f"Unknown colour map {name!r}; choose one of {', '.join(COLORMAP_NAMES)}")


def robust_levels(image: np.ndarray) -> tuple[float, float]:
    """Display levels (black, white) from intensity percentiles of a subsample of `image`."""
    step = max(1, int(math.sqrt(image.size / AUTO_LEVEL_SAMPLES)))
    sample = np.asarray(image[::step, ::step], dtype=float).ravel()
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(sample, AUTO_LEVEL_PERCENTILES)
    if not high > low:
        low, high = float(sample.min()), float(sample.max())
    if not high > low:  # flat image: centre a unit range on its value
        return float(low) - 0.5, float(low) + 0.5
    return float(low), float(high)


def wrap_caption(text: str, font: QtGui.QFont, width: float) -> str:
    """`text` with its parts (separated by :data:`CAPTION_SEPARATOR`) on as many lines as
    `width` (px) needs; a part wider than `width` keeps a line of its own."""
    if width <= 0 or not text:
        return text
    metrics = QtGui.QFontMetricsF(font)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for part in paragraph.split(CAPTION_SEPARATOR):
            candidate = f"{line}{CAPTION_SEPARATOR}{part}" if line else part
            if line and metrics.horizontalAdvance(candidate) > width:
                lines.append(line)
                line = part
            else:
                line = candidate
        lines.append(line)
    return "\n".join(lines)


def nice_length(limit: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ not larger than `limit` (for scale bars)."""
    if not limit > 0 or not math.isfinite(limit):
        raise ValueError(f"Scale bar limit must be a positive number, got {limit!r}")
    exponent = math.floor(math.log10(limit))
    for mantissa in (5.0, 2.0, 1.0):
        value = mantissa * 10.0**exponent
        if value <= limit * (1 + 1e-9):
            return value
    return 10.0 ** (exponent - 1) * 5.0


def format_length(metres: float) -> str:
    """A length for a label: nm below 1 µm, µm below 1 mm, mm above."""
    for unit, scale in (("mm", 1e-3), ("µm", 1e-6), ("nm", 1e-9)):
        if abs(metres) >= scale * 0.999:
            return f"{metres / scale:g} {unit}"
    return f"{metres / 1e-9:g} nm"


@dataclass(frozen=True)
class PixelReadout:
    """What lies under the cursor: pixel indices, position in µm, and values.

    `label` names a single value that is neither the file's raw nor its corrected
    value (e.g. "preview" for a panel's computed image); None for a frame read
    from the series.
    """

    x: int
    y: int
    pixel_size: float | None
    raw: float
    corrected: float
    label: str | None = None
    #: (channel name, value) of every channel of a composite, in the view mode shown
    channels: tuple[tuple[str, float], ...] = ()

    def text(self) -> str:
        where = f"x {self.x}, y {self.y} px"
        if self.pixel_size:
            um = self.pixel_size * 1e6
            where += f" ({(self.x + 0.5) * um:.2f}, {(self.y + 0.5) * um:.2f} µm)"
        if self.channels:
            return where + "   " + "   ".join(f"{name} {value:.6g}"
                                              for name, value in self.channels)
        if self.label:
            return f"{where}   {self.label} {self.raw:.6g}"
        return f"{where}   raw {self.raw:.6g}   corrected {self.corrected:.6g}"


def pixel_readout(frame: Frame, x: float, y: float, pixel_size: float | None,
                  label: str | None = None, mode: str = "corrected") -> PixelReadout | None:
    """The readout at view position (`x`, `y`), or None outside the image.

    The position in µm is that of the pixel centre.  `label`: see :class:`PixelReadout`.
    A composite frame (with ``channel_values``) reads every channel in view `mode`.
    """
    column, row = math.floor(x), math.floor(y)
    rows, columns = frame.raw.shape[:2]
    if not (0 <= row < rows and 0 <= column < columns):
        return None
    channel_values = getattr(frame, "channel_values", None)
    channels = channel_values(row, column, mode) if channel_values is not None else ()
    return PixelReadout(x=column, y=row, pixel_size=pixel_size,
                        raw=float(frame.raw[row, column]),
                        corrected=float(frame.corrected[row, column]), label=label,
                        channels=channels)


class ScaleBar:
    """A white bar with its length in µm, fixed to the bottom-right corner of a view box.

    The length is a round number chosen to span about a fifth of the visible
    width; it is recomputed when the user zooms.
    """

    MARGIN = 14
    HEIGHT = 5
    FRACTION = 0.2

    def __init__(self, view_box: pg.ViewBox) -> None:
        self.view_box = view_box
        self.pixel_size: float | None = None
        self.length_m: float | None = None
        #: (rows, columns) of the image; the bar sits in its bottom-right corner when visible.
        self.image_shape: tuple[int, int] | None = None
        self.backdrop = QtWidgets.QGraphicsRectItem(view_box)
        self.backdrop.setBrush(QtGui.QColor(0, 0, 0, 140))
        self.backdrop.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
        self.bar = QtWidgets.QGraphicsRectItem(view_box)
        self.bar.setBrush(QtGui.QColor("white"))
        self.bar.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
        self.label = QtWidgets.QGraphicsSimpleTextItem(view_box)
        self.label.setBrush(QtGui.QColor("white"))
        font = self.label.font()
        font.setPointSize(10)
        font.setBold(True)
        self.label.setFont(font)
        for item in (self.backdrop, self.bar, self.label):
            item.setZValue(1000)
        view_box.sigRangeChanged.connect(self.update)
        view_box.sigResized.connect(self.update)
        self.set_pixel_size(None)

    def set_pixel_size(self, pixel_size: float | None) -> None:
        """Pixel size in metres; None hides the bar (no calibration known)."""
        self.pixel_size = pixel_size if pixel_size and pixel_size > 0 else None
        self.update()

    def update(self, *_args) -> None:
        visible = self.pixel_size is not None
        for item in (self.backdrop, self.bar, self.label):
            item.setVisible(visible)
        if not visible:
            self.length_m = None
            return
        (x0, x1), _ = self.view_box.viewRange()
        box = self.view_box.boundingRect()
        if x1 <= x0 or box.width() <= 0:
            return
        screen_per_pixel = box.width() / (x1 - x0)
        self.length_m = nice_length(self.FRACTION * (x1 - x0) * self.pixel_size)
        bar_width = self.length_m / self.pixel_size * screen_per_pixel
        self.label.setText(format_length(self.length_m))
        text = self.label.boundingRect()
        right, bottom = box.right(), box.bottom()
        if self.image_shape is not None:
            rows, columns = self.image_shape[:2]
            # y points down, so the image's bottom-right corner is view point (columns, rows)
            corner = self.view_box.mapFromView(QtCore.QPointF(columns, rows))
            right, bottom = min(right, corner.x()), min(bottom, corner.y())
        right -= self.MARGIN
        bottom -= self.MARGIN
        self.bar.setRect(right - bar_width, bottom - self.HEIGHT, bar_width, self.HEIGHT)
        self.label.setPos(right - bar_width / 2 - text.width() / 2,
                          bottom - self.HEIGHT - 3 - text.height())
        pad = 6
        self.backdrop.setRect(QtCore.QRectF(
            min(right - bar_width, right - bar_width / 2 - text.width() / 2) - pad,
            bottom - self.HEIGHT - 3 - text.height() - pad,
            max(bar_width, text.width()) + 2 * pad,
            self.HEIGHT + 3 + text.height() + 2 * pad))


class ToolbarField(QtWidgets.QWidget):
    """A toolbar control with its label, in one piece.

    A narrow toolbar moves what does not fit into its » menu; label and control
    move together, so that a label never stands without its control.
    """

    def __init__(self, text: str, control: QtWidgets.QWidget) -> None:
        super().__init__()
        self.control = control
        self.label = QtWidgets.QLabel(text)
        self.label.setBuddy(control)
        # the label explains what the control does when hovered, as the control does
        self.label.setToolTip(control.toolTip())
        self.label.setContentsMargins(4, 0, 0, 0)
        self.setToolTip(control.toolTip())
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.label)
        layout.addWidget(control)


def _gap(width: int = 8) -> QtWidgets.QWidget:
    gap = QtWidgets.QWidget()
    gap.setFixedWidth(width)
    return gap


class ImageView(QtWidgets.QWidget):
    """Image display with a toolbar (view mode, colour map, levels) and a histogram.

    Public attributes other panels use: ``view_box`` (a ``pg.ViewBox`` with
    y pointing down — add ROIs there, in pixel coordinates x = column,
    y = row), ``image_item`` (the ``pg.ImageItem``) and ``key_handlers``.

    ``key_handlers`` is a list of ``handler(key, modifiers) -> bool`` (see
    :data:`KeyHandler`), consulted in order for every key pressed while the image
    has the focus, before the window's shortcuts (the Frame menu's ←/→, PgUp/PgDn,
    Home/End) see it.  A handler that returns True has used the key: nothing else
    gets it.  A panel appends its handler (e.g. one that moves the selected ROI with
    the arrow keys and returns False when no ROI is selected) and removes it when
    done; the handler need not import Qt: compare with ``QtCore.Qt.Key.Key_Left.value``
    or plain ints.

    Signals
    -------
    cursorMoved(object)
        A :class:`PixelReadout`, or None when the cursor leaves the image.
    modeChanged(str)
        The view mode (raw / background / corrected) changed.
    colormapChanged(str)
        The user picked another colour map.
    """

    cursorMoved = QtCore.pyqtSignal(object)
    modeChanged = QtCore.pyqtSignal(str)
    colormapChanged = QtCore.pyqtSignal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.frame: Frame | None = None
        self.pixel_size: float | None = None
        self._mode = "corrected"
        self._shape: tuple[int, ...] | None = None
        self._caption_text = ""
        #: name of the values on display when they are not the file's (a preview)
        self.values_label: str | None = None
        #: see the class docstring
        self.key_handlers: list[KeyHandler] = []
        #: ``handler() -> bool`` asked first by :meth:`auto_levels`; True: it did the work
        #: (a composite scales each of its channels instead of the blended image)
        self.auto_level_handlers: list[Callable[[], bool]] = []
        #: where the cursor rests over the view (scene coordinates), None when outside
        self._cursor_scene_position: QtCore.QPointF | None = None
        #: the key press whose ShortcutOverride a handler used (its press is swallowed),
        #: or that the handlers declined (not offered twice)
        self._offered_key: tuple[int, bool] | None = None
        #: whether the last readout sent was a pixel (not None)
        self._readout_shown = False

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(QtGui.QColor(24, 24, 28))
        self.view_box: pg.ViewBox = self.graphics.addViewBox(row=0, col=0, lockAspect=True,
                                                             invertY=True, enableMenu=True)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        self.histogram = pg.HistogramLUTItem(image=self.image_item)
        self.graphics.addItem(self.histogram, row=0, col=1)
        # The histogram is recomputed once the display rests, not for every frame while
        # scrubbing or playing: that keeps ~3 ms per frame for reading and drawing.
        self.image_item.sigImageChanged.disconnect(self.histogram.imageChanged)
        # quieter than pyqtgraph's defaults: the histogram, not the level band, should stand out
        self.histogram.region.setBrush(QtGui.QColor(90, 110, 160, 45))
        for curve in self.histogram.plots:
            curve.setBrush(QtGui.QColor(120, 180, 255, 170))
            curve.setPen(QtGui.QColor(160, 205, 255))
        # Runs REST_MS after the last frame shown: the display rests.  While it is pending
        # (scrubbing, playing), frames are drawn at the screen's resolution.
        self.histogram_timer = QtCore.QTimer(self)
        self.histogram_timer.setSingleShot(True)
        self.histogram_timer.setInterval(REST_MS)
        self.histogram_timer.timeout.connect(self.update_histogram)
        #: thinning factor of the image on display (1: full resolution)
        self.display_step = 1
        self.scale_bar = ScaleBar(self.view_box)
        self.caption = QtWidgets.QGraphicsSimpleTextItem(self.view_box)
        self.caption.setBrush(QtGui.QColor(235, 235, 235))
        self.caption.setPos(CAPTION_MARGIN, 8)
        self.caption.setZValue(1000)
        # a narrow view (small screen, wide panel) wraps the caption instead of cutting
        # off the frame number and time
        self.view_box.sigResized.connect(self._update_caption)
        # what the empty view means (reading, unreadable frame), centred on the view box
        self.placeholder = QtWidgets.QGraphicsSimpleTextItem(self.view_box)
        self.placeholder.setBrush(QtGui.QColor(190, 190, 190))
        self.placeholder.setZValue(1000)
        self.view_box.sigResized.connect(self._centre_placeholder)
        self.show_message(EMPTY_MESSAGE)

        self.mode_combo = QtWidgets.QComboBox()
        for mode in VIEW_MODES:
            self.mode_combo.addItem(VIEW_MODE_LABELS[mode], mode)
        self.mode_combo.setCurrentIndex(VIEW_MODES.index(self._mode))
        self.mode_combo.setToolTip("Show the raw image, the stored background, or raw − background")
        self.colormap_combo = QtWidgets.QComboBox()
        self.colormap_combo.addItems(COLORMAP_NAMES)
        self.colormap_combo.setToolTip("Colour map (look-up table) of the image")
        self.hold_levels_check = QtWidgets.QCheckBox("Hold levels")
        self.hold_levels_check.setToolTip(
            "Keep the display range while stepping through frames (shows bleaching as fading);\n"
            "unticked: each frame is scaled to its own 0.5–99.8 % intensity range")
        self.auto_button = QtWidgets.QPushButton("Auto levels")
        self.auto_button.setToolTip("Scale the display range to this frame once")
        self.fit_button = QtWidgets.QPushButton("Fit view")
        self.fit_button.setToolTip("Zoom to show the whole image (or double-click the image)")

        self.mode_field = ToolbarField("Show:", self.mode_combo)
        self.colormap_field = ToolbarField("Colour map:", self.colormap_combo)
        spacer = QtWidgets.QWidget()
        spacer.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding,
                             QtWidgets.QSizePolicy.Policy.Preferred)
        # a QToolBar moves what does not fit into its » menu, so a narrow window (small
        # laptop screen) keeps every control reachable instead of growing wider
        self.toolbar = QtWidgets.QToolBar()
        self.toolbar.setIconSize(QtCore.QSize(16, 16))
        self.toolbar.setStyleSheet("QToolBar { border: none; spacing: 4px; }")
        for widget in (self.mode_field, _gap(), self.colormap_field, _gap(),
                       self.hold_levels_check, self.auto_button, spacer, self.fit_button):
            self.toolbar.addWidget(widget)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.graphics, 1)

        self.mode_combo.currentIndexChanged.connect(
            lambda _: self.set_mode(self.mode_combo.currentData()))
        self.colormap_combo.currentTextChanged.connect(self.set_colormap)
        self.auto_button.clicked.connect(self.auto_levels)
        self.fit_button.clicked.connect(self.fit_view)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.installEventFilter(self)
        self.graphics.viewport().installEventFilter(self)
        self.set_colormap(COLORMAP_NAMES[0])

    # --- state ----------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Show `mode` (one of :data:`VIEW_MODES`) of the current frame."""
        if mode not in VIEW_MODES:
            raise ValueError(f"Unknown view mode {mode!r}; choose one of {', '.join(VIEW_MODES)}")
        changed = mode != self._mode
        self._mode = mode
        if self.mode_combo.currentData() != mode:
            self.mode_combo.setCurrentIndex(VIEW_MODES.index(mode))
        if self.frame is not None:
            self._show(self.frame, auto=not self.hold_levels)
        self._update_caption()
        if changed:
            self.modeChanged.emit(mode)

    def _update_caption(self, *_args) -> None:
        text = wrap_caption(self._caption_text, self.caption.font(),
                            self.view_box.boundingRect().width() - 2 * CAPTION_MARGIN)
        if self.frame is not None and self._mode == "background" and self.frame.background is None:
            # an all-black view would look like a broken image
            text += ("\n" if text else "") + NO_BACKGROUND_NOTE
        self.caption.setText(text)

    @property
    def colormap(self) -> str:
        return self.colormap_combo.currentText()

    def set_colormap(self, name: str) -> None:
        """Use colour map `name` (one of :data:`COLORMAP_NAMES`)."""
        colormap = make_colormap(name)
        if self.colormap_combo.currentText() != name:
            self.colormap_combo.setCurrentText(name)
            return  # the combo's signal calls back into this method
        self.histogram.gradient.setColorMap(colormap)
        self.colormapChanged.emit(name)

    @property
    def hold_levels(self) -> bool:
        return self.hold_levels_check.isChecked()

    def set_hold_levels(self, hold: bool) -> None:
        self.hold_levels_check.setChecked(hold)

    def levels(self) -> tuple[float, float]:
        low, high = self.histogram.getLevels()
        return float(low), float(high)

    def set_levels(self, low: float, high: float) -> None:
        self.histogram.setLevels(low, high)

    # --- display --------------------------------------------------------------------------
    def set_frame(self, frame: Frame | None, pixel_size: float | None = None,
                  caption: str = "", values_label: str | None = None, *,
                  scrubbing: bool | None = None) -> None:
        """Display `frame` (None clears the view) with scale bar and top-left caption.

        `values_label` names the values of a frame that is not the file's, e.g.
        :data:`PREVIEW_LABEL`; the readout uses it instead of raw/corrected.  It
        is never guessed from the caption, which holds the file's name.

        A frame that comes within :data:`REST_MS` of the previous one (scrubbing,
        playing) is drawn at the screen's resolution (:func:`screen_step`), and
        at full resolution once no other follows; `scrubbing` True or False
        decides instead.  The readout always reads the full frame.
        """
        self.frame = frame
        self.pixel_size = pixel_size
        self._caption_text = caption
        self.values_label = values_label if frame is not None else None
        self._update_caption()
        self.scale_bar.set_pixel_size(pixel_size if frame is not None else None)
        if frame is None:
            self.image_item.clear()
            self.display_step = 1
            self._shape = None
            self.placeholder.setVisible(True)
            self._centre_placeholder()
            # nothing under the cursor now: the previous frame's values must not stay
            self._readout_shown = False
            self.cursorMoved.emit(None)
            return
        self.placeholder.setVisible(False)
        new_shape = frame.raw.shape != self._shape
        if scrubbing is None:
            scrubbing = self.histogram_timer.isActive()
        # a new shape is fitted to the view first: its screen resolution is not known yet
        self._show(frame, auto=new_shape or not self.hold_levels,
                   scrubbing=scrubbing and not new_shape)
        if new_shape:
            self._shape = frame.raw.shape
            self.scale_bar.image_shape = frame.raw.shape
            self.fit_view()
            # drawn at full resolution: the histogram at once, and frames that follow
            # within REST_MS are still taken for scrubbing
            self.histogram.imageChanged(autoLevel=False)
        # a cursor resting on the image reads the new frame (stepping, playing, another
        # series or pixel size) instead of keeping the old values
        self._emit_readout()

    def show_message(self, text: str) -> None:
        """Text shown in the middle of the view while no frame is on display."""
        self.placeholder.setText(text)
        self._centre_placeholder()

    @property
    def message(self) -> str:
        """The text shown while no frame is on display."""
        return self.placeholder.text()

    def _centre_placeholder(self, *_args) -> None:
        box = self.view_box.boundingRect()
        text = self.placeholder.boundingRect()
        self.placeholder.setPos(box.center().x() - text.width() / 2,
                                box.center().y() - text.height() / 2)

    def _show(self, frame: Frame, auto: bool, scrubbing: bool = False) -> None:
        image = frame.image(self._mode)
        colour = image.ndim == 3  # a composite: its channels carry their own levels
        self.histogram.setVisible(not colour)
        if colour:
            self.image_item.setImage(image, autoLevels=False, levels=(0, 255))
            return
        levels = robust_levels(image) if auto else self.levels()
        self._draw(image, levels, self._screen_step() if scrubbing else 1)
        self.histogram.setLevels(*levels)
        self.histogram_timer.start()

    def _draw(self, image: np.ndarray, levels: tuple[float, float], step: int) -> None:
        """Put `image`, thinned by `step`, in view coordinates of its full resolution."""
        shown = thinned(image, step)
        rows, columns = shown.shape[:2]
        self.display_step = step
        # each shown pixel covers step × step image pixels from its own: pixel (x, y) stays
        # at view (x, y) whatever the thinning, so ROIs, scale bar and readout need not know
        self.image_item.setImage(shown, autoLevels=False, levels=levels,
                                 rect=QtCore.QRectF(0, 0, columns * step, rows * step))

    def _screen_step(self) -> int:
        """Thinning that the view's current zoom allows without losing a screen pixel."""
        x_size, y_size = self.view_box.viewPixelSize()
        ratio = self.graphics.devicePixelRatioF()
        return screen_step(min(abs(x_size), abs(y_size)), ratio)

    def update_histogram(self) -> None:
        """Show the display at rest: the full-resolution frame and its intensity histogram.

        Runs :data:`REST_MS` after the last frame shown; call it to have the rest
        at once (e.g. before a screenshot).
        """
        self.histogram_timer.stop()
        if self.frame is not None and self.display_step != 1:
            self._draw(self.frame.image(self._mode), self.levels(), 1)
        self.histogram.imageChanged(autoLevel=False)

    def auto_levels(self) -> None:
        """Scale the display range to the current frame."""
        if any(handler() for handler in list(self.auto_level_handlers)):
            return
        if self.frame is not None:
            self.set_levels(*robust_levels(self.frame.image(self._mode)))

    def fit_view(self) -> None:
        """Zoom to the whole image."""
        if self._shape is not None:
            rows, columns = self._shape[:2]
            self.view_box.setRange(QtCore.QRectF(0, 0, columns, rows), padding=0.02)

    def readout_at(self, x: float, y: float) -> PixelReadout | None:
        """The pixel readout at view coordinates (`x`, `y`)."""
        if self.frame is None:
            return None
        return pixel_readout(self.frame, x, y, self.pixel_size, self.values_label, self._mode)

    def _on_mouse_moved(self, scene_position: QtCore.QPointF) -> None:
        self._cursor_scene_position = QtCore.QPointF(scene_position)
        self._emit_readout()

    def _emit_readout(self) -> None:
        position = self._cursor_scene_position
        readout = None
        if (self.frame is not None and position is not None
                and self.view_box.sceneBoundingRect().contains(position)):
            point = self.view_box.mapSceneToView(position)
            readout = self.readout_at(point.x(), point.y())
        if readout is not None or self._readout_shown:
            # "nothing under the cursor" is said once, not for every frame played
            self._readout_shown = readout is not None
            self.cursorMoved.emit(readout)

    # --- keys -----------------------------------------------------------------------------
    def offer_key(self, key: int, modifiers: int) -> bool:
        """Offer a key to :attr:`key_handlers` in order; True if one used it."""
        return any(handler(int(key), int(modifiers)) for handler in list(self.key_handlers))

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind = event.type()
        if watched is self.graphics.viewport() and kind == QtCore.QEvent.Type.Leave:
            self._cursor_scene_position = None
            self._emit_readout()
        elif watched is self.graphics and kind == QtCore.QEvent.Type.ShortcutOverride:
            # Qt asks the focus widget before it runs a shortcut: this is where the
            # handlers come before the Frame menu's keys
            used = self.offer_key(event.key(), event.modifiers().value)
            self._offered_key = (event.key(), used)
            if used:
                event.accept()
                return True
        elif watched is self.graphics and kind == QtCore.QEvent.Type.KeyPress:
            offered, self._offered_key = self._offered_key, None
            if offered is not None and offered[0] == event.key():
                return offered[1]  # swallowed if a handler used its ShortcutOverride
            if self.offer_key(event.key(), event.modifiers().value):
                return True
        elif watched is self.graphics and kind == QtCore.QEvent.Type.KeyRelease:
            self._offered_key = None
        return super().eventFilter(watched, event)
