"""Series browser: the frame table, the frame slider and play/pause.

The table is filled lazily: a row's identifier, time and backgrounds are read
from the file only when the row becomes visible, so that a 5,000-frame series
opens at once.  Browsing a :class:`~flimage_app.gui.document.Document`
(:meth:`SeriesBrowser.set_document`), the table shows the document's metadata
with its unsaved edits and re-reads it whenever the document reports a change.

The table keeps one row selected, the current frame's, and leaves Tab to move
the focus on (it is a list of frames, not a grid of cells to tab through); the
navigation keys step frames as they do on the image.  The slider row folds into
two rows when the centre is too narrow for a usable slider.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.browser.frame_cache import H5_LOCK
from flimage_app.gui.units import format_time
from flimage_app.model.meta import MetaDataMissingError

#: Frames skipped by PgUp / PgDn.
PAGE_STEP = 10

#: Navigation actions and their keys (also shown in the Frame menu).
STEP_ACTIONS = {
    "previous": "Left",
    "next": "Right",
    "back_page": "PgUp",
    "forward_page": "PgDown",
    "first": "Home",
    "last": "End",
}


#: Columns of the frame table.
INDEX_COLUMN, IDENTIFIER_COLUMN, TIME_COLUMN, BACKGROUND_COLUMN = range(4)

#: Room around a cell's text in the frame table (both sides, px).
CELL_PADDING = 10

#: Stored background kinds as the table names them ("data" and "fit" are the file's keys).
BACKGROUND_LABELS = {"data": "image", "fit": "fitted"}

#: The identifier column never gets narrower than this while the Background column
#: shows; below it the Background column is hidden (it comes back when there is room).
IDENTIFIER_MIN_WIDTH = 60

#: The frame slider is never narrower than this; the slider row folds into two rows
#: instead (px).
SLIDER_MIN_WIDTH = 150

#: Keys that step frames in the frame table (as on the image: see :data:`STEP_ACTIONS`).
TABLE_STEP_KEYS: dict[QtCore.Qt.Key, str] = {
    QtCore.Qt.Key.Key_Left: "previous", QtCore.Qt.Key.Key_Up: "previous",
    QtCore.Qt.Key.Key_Right: "next", QtCore.Qt.Key.Key_Down: "next",
    QtCore.Qt.Key.Key_PageUp: "back_page", QtCore.Qt.Key.Key_PageDown: "forward_page",
    QtCore.Qt.Key.Key_Home: "first", QtCore.Qt.Key.Key_End: "last",
}


def step_index(current: int, action: str, length: int, page: int = PAGE_STEP) -> int:
    """The frame index after navigation `action` (a key of :data:`STEP_ACTIONS`), clamped."""
    if length <= 0:
        return 0
    targets = {
        "previous": current - 1, "next": current + 1,
        "back_page": current - page, "forward_page": current + page,
        "first": 0, "last": length - 1,
    }
    if action not in targets:
        raise ValueError(f"Unknown frame step {action!r}")
    return min(max(targets[action], 0), length - 1)


@dataclass(frozen=True)
class FrameSummary:
    """What the frame table shows about one frame."""

    identifier: str
    time: float
    backgrounds: tuple[str, ...]


def frame_summary(series, index: int) -> FrameSummary:
    """Identifier, time (NaN if unknown) and stored background kinds of frame `index`."""
    with H5_LOCK:
        image = series[index]
        return summary_from_meta(image.meta, tuple(image.bg_keys))


def summary_from_meta(meta, backgrounds: tuple[str, ...]) -> FrameSummary:
    """The table row of a frame with metadata `meta` and stored `backgrounds`."""
    identifier = _optional_meta(meta, "identifier", "")
    time = _optional_meta(meta, "time", math.nan)
    try:
        time = float(time)
    except (TypeError, ValueError):
        time = math.nan
    return FrameSummary(identifier=str(identifier), time=time, backgrounds=tuple(backgrounds))


def _optional_meta(meta, key: str, default):
    try:
        return meta[key]
    except (KeyError, MetaDataMissingError):
        return default


class FrameTableModel(QtCore.QAbstractTableModel):
    """One row per frame: index, identifier, time [s], backgrounds (read on first display)."""

    HEADERS = ("#", "Identifier", "Time [s]", "Background")
    HEADER_TIPS = (
        "Frame index, counted from 0 as in the file (fli_0, fli_1, …)",
        "The frame's identifier (metadata key \"identifier\")",
        "Acquisition time in seconds; – where the file records none",
        "Backgrounds stored with the frame: image (a measured or loaded background, "
        "bg_data/data), fitted (estimated from background regions, bg_data/fit), "
        "or none. Show ▸ Corrected subtracts them.",
    )

    def __init__(self, series=None, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._series = None
        self._meta: Callable[[int], Mapping[str, Any]] | None = None
        self._length = 0
        self._rows: dict[int, FrameSummary] = {}
        #: stored background kinds by row: they come from the file and survive a refresh
        self._backgrounds: dict[int, tuple[str, ...]] = {}
        self.set_series(series)

    def set_series(self, series,
                   meta: Callable[[int], Mapping[str, Any]] | None = None) -> None:
        """Show `series`; `meta(index)`, if given, is a frame's metadata with unsaved edits.

        Without `meta` the identifiers and times come from the file.
        """
        self.beginResetModel()
        self._series = series
        self._meta = meta
        self._rows = {}
        self._backgrounds = {}
        with H5_LOCK:
            self._length = len(series) if series is not None else 0
        self.endResetModel()

    def summary(self, row: int) -> FrameSummary:
        """The row's summary, read on first use (from the file, or the metadata source)."""
        if row not in self._rows:
            if self._meta is None:
                summary = frame_summary(self._series, row)
            else:
                backgrounds = self._backgrounds.get(row)
                if backgrounds is None:
                    with H5_LOCK:
                        backgrounds = tuple(self._series[row].bg_keys)
                summary = summary_from_meta(self._meta(row), backgrounds)
            self._backgrounds[row] = summary.backgrounds
            self._rows[row] = summary
        return self._rows[row]

    def remember(self, row: int, summary: FrameSummary) -> None:
        """Store a row's summary obtained elsewhere (e.g. with a frame the cache read).

        With a metadata source, only the stored backgrounds are taken from `summary`:
        the identifier and time must include the unsaved edits.
        """
        if self._meta is None:
            self._rows.setdefault(row, summary)
        else:
            self._backgrounds.setdefault(row, summary.backgrounds)

    def refresh(self) -> None:
        """Forget identifiers and times read so far and show them anew (after an edit).

        Only the rows on display are read again, when they are painted.
        """
        self._rows = {}
        if self._length:
            self.dataChanged.emit(self.index(0, IDENTIFIER_COLUMN),
                                  self.index(self._length - 1, TIME_COLUMN))

    def cached_summary(self, row: int) -> FrameSummary | None:
        return self._rows.get(row)

    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._length

    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: QtCore.Qt.Orientation,
                   role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if orientation != QtCore.Qt.Orientation.Horizontal:
            return None
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if role == QtCore.Qt.ItemDataRole.ToolTipRole:
            return self.HEADER_TIPS[section]
        return None

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        if role == QtCore.Qt.ItemDataRole.TextAlignmentRole:
            if column in (0, 2):
                return int(QtCore.Qt.AlignmentFlag.AlignRight
                           | QtCore.Qt.AlignmentFlag.AlignVCenter)
            return None
        if role not in (QtCore.Qt.ItemDataRole.DisplayRole, QtCore.Qt.ItemDataRole.ToolTipRole):
            return None
        if column == 0:
            return str(row)
        try:
            summary = self.summary(row)
        except Exception as error:  # a damaged frame shows as such instead of breaking the table
            return f"unreadable: {error}" if column == 1 else ""
        if column == 1:
            return summary.identifier
        if column == 2:
            return format_time(summary.time)
        if not summary.backgrounds:
            return "none"
        return ", ".join(BACKGROUND_LABELS.get(key, key) for key in summary.backgrounds)


class FrameTable(QtWidgets.QTableView):
    """The frame table: Tab leaves it, the navigation keys step frames.

    Left/Up, Right/Down, PgUp/PgDn, Home/End ask for the step of
    :data:`TABLE_STEP_KEYS` (the table's own cursor keys would move between cells
    and Home/End to the first/last column).  The table reports viewport resizes so
    that its columns are fitted to every width, not only to the first.

    Signals
    -------
    stepRequested(str)
        A navigation key was pressed: a key of :data:`STEP_ACTIONS`.
    resized()
        The viewport changed size.
    """

    stepRequested = QtCore.pyqtSignal(str)
    resized = QtCore.pyqtSignal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        # Tab moves the focus on instead of from cell to cell (four Tabs were one frame)
        self.setTabKeyNavigation(False)
        self._minimum_width = 0

    @staticmethod
    def step_action(event: QtGui.QKeyEvent) -> str | None:
        """The step a key event asks for, or None."""
        if event.modifiers() not in (QtCore.Qt.KeyboardModifier.NoModifier,
                                     QtCore.Qt.KeyboardModifier.KeypadModifier):
            return None
        try:
            return TABLE_STEP_KEYS.get(QtCore.Qt.Key(event.key()))
        except ValueError:  # not a key Qt names
            return None

    def event(self, event: QtCore.QEvent) -> bool:
        # the window's Frame menu has the same keys as shortcuts; the table takes them
        # itself so that each press steps once, whichever has the focus
        if (event.type() == QtCore.QEvent.Type.ShortcutOverride
                and self.step_action(event) is not None):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        action = self.step_action(event)
        if action is None:
            super().keyPressEvent(event)
            return
        event.accept()
        self.stepRequested.emit(action)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        # a scroll area gets its viewport's resizes here, with the new geometry in place
        super().resizeEvent(event)
        self.resized.emit()

    def set_minimum_width(self, width: int) -> None:
        """The narrowest the table may become (its columns that must stay visible)."""
        if width != self._minimum_width:
            self._minimum_width = width
            self.updateGeometry()

    def minimumSizeHint(self) -> QtCore.QSize:
        hint = super().minimumSizeHint()
        return QtCore.QSize(max(hint.width(), self._minimum_width), hint.height())


class SeriesBrowser(QtWidgets.QWidget):
    """Frame slider, frame number, play/pause and rate, plus the frame table.

    The table lives in its own widget (:attr:`table`) so that the main window can
    place it apart from the slider row.

    Signals
    -------
    frameChanged(int, int)
        The current frame index and the direction of movement (+1 or −1).
    """

    frameChanged = QtCore.pyqtSignal(int, int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._index = 0
        self._length = 0
        self._document = None
        self._disconnect_document: Callable[[], None] | None = None
        #: True while the table's current row is set to follow the frame
        self._following = False
        self._two_rows: bool | None = None

        self.table_model = FrameTableModel(parent=self)
        self.table = FrameTable()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        # the identifier takes the room left; long ones keep their distinctive end (t0123)
        header.setSectionResizeMode(IDENTIFIER_COLUMN, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(36)
        self.table.setTextElideMode(QtCore.Qt.TextElideMode.ElideMiddle)
        self.table.setWordWrap(False)  # wrapping at "-" or "_" would defeat the middle elision
        self.table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.table.setToolTip("Click a row to show that frame "
                              "(←/→ one frame, PgUp/PgDn ten, Home/End first/last)")

        self.play_button = QtWidgets.QToolButton()
        self.play_button.setCheckable(True)
        self.play_button.setAutoRaise(False)
        self.rate_spin = QtWidgets.QDoubleSpinBox()
        self.rate_spin.setRange(0.5, 120.0)
        self.rate_spin.setValue(10.0)
        self.rate_spin.setDecimals(1)
        self.rate_spin.setSuffix(" fps")
        self.rate_spin.setToolTip("Playback rate in frames per second")
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setToolTip("Frame (←/→ one frame, PgUp/PgDn ten, Home/End first/last)")
        self.slider.setPageStep(PAGE_STEP)
        self.slider.setMinimumWidth(SLIDER_MIN_WIDTH)
        self.index_spin = QtWidgets.QSpinBox()
        self.index_spin.setToolTip("Frame index (0-based, as in the file: fli_0, fli_1, …)")
        self.frame_label = QtWidgets.QLabel("Frame")
        self.frame_label.setBuddy(self.index_spin)
        self.frame_label.setToolTip(self.index_spin.toolTip())
        self.count_label = QtWidgets.QLabel("of 0")
        self.count_label.setToolTip("Number of frames in the series")
        self.time_label = QtWidgets.QLabel("")
        # as wide as the widest time the table shows: the row does not jitter while playing
        self.time_label.setMinimumWidth(
            self.time_label.fontMetrics().horizontalAdvance("t = 9999.000 s") + 4)
        self.time_label.setToolTip("Acquisition time of the frame shown (metadata \"time\"); "
                                   "– when the file records none")

        self._rows_layout = QtWidgets.QVBoxLayout(self)
        self._rows_layout.setContentsMargins(6, 2, 6, 2)
        self._rows_layout.setSpacing(2)
        # the widget may be narrower than one row needs: it folds into two rows then
        self._rows_layout.setSizeConstraint(QtWidgets.QLayout.SizeConstraint.SetNoConstraint)
        self._top_row = QtWidgets.QHBoxLayout()
        self._bottom_row = QtWidgets.QHBoxLayout()
        for row in (self._top_row, self._bottom_row):
            row.setSpacing(6)
            self._rows_layout.addLayout(row)
        self._arrange(two_rows=False)

        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self._advance)
        self.play_button.toggled.connect(self.set_playing)
        self.rate_spin.valueChanged.connect(self._update_timer)
        self.slider.valueChanged.connect(self.set_index)
        self.index_spin.valueChanged.connect(self.set_index)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row_changed)
        self.table.stepRequested.connect(self.step)
        self.table.resized.connect(self.fit_columns)
        self._show_play_state(False)
        self.set_series(None)

    # --- public API -----------------------------------------------------------------------
    @property
    def index(self) -> int:
        return self._index

    @property
    def length(self) -> int:
        return self._length

    @property
    def document(self):
        """The document browsed (None when a bare series or nothing is shown)."""
        return self._document

    def set_document(self, document, index: int = 0) -> None:
        """Browse `document` (None: nothing open) starting at frame `index`.

        The table shows the document's metadata with its unsaved edits (times set
        with *Set frame interval…*, values typed in the Metadata panel) and reads it
        again whenever ``document.changed`` fires.
        """
        self._detach_document()
        if document is not None:
            self._document = document
            self._disconnect_document = document.changed.connect(self.refresh)
        self._load(document.series if document is not None else None,
                   document.frame_meta if document is not None else None, index)

    def set_series(self, series, index: int = 0) -> None:
        """Browse `series` as stored in its file (None: nothing open) from frame `index`.

        Unsaved edits of a document do not show: see :meth:`set_document`.
        """
        self._detach_document()
        self._load(series, None, index)

    def _detach_document(self) -> None:
        if self._disconnect_document is not None:
            self._disconnect_document()
        self._disconnect_document = None
        self._document = None

    def _load(self, series, meta, index: int) -> None:
        self.set_playing(False)
        self.table_model.set_series(series, meta)
        self._length = self.table_model.rowCount()
        self.fit_columns()
        last = max(self._length - 1, 0)
        for widget in (self.slider, self.index_spin):
            widget.blockSignals(True)
            widget.setRange(0, last)
            widget.blockSignals(False)
        self.count_label.setText(f"of {self._length}")
        enabled = self._length > 0
        self.index_spin.setEnabled(enabled)
        # a single image has nothing to scrub or play
        for widget in (self.slider, self.play_button, self.rate_spin):
            widget.setEnabled(self._length > 1)
        self._index = -1
        if enabled:
            self.set_index(min(max(index, 0), last))
        else:
            self._index = 0
            self.time_label.setText("")
        self._update_arrangement()

    def refresh(self) -> None:
        """Show the metadata anew: the document's edits changed (or may have)."""
        self.table_model.refresh()
        if 0 <= self._index < self._length:
            summary = self.summary(self._index)
            self.show_time(summary.time if summary is not None else math.nan)

    def set_index(self, index: int) -> None:
        """Go to frame `index` (clamped) and emit ``frameChanged`` if it changed."""
        if self._length == 0:
            return
        index = min(max(int(index), 0), self._length - 1)
        if index == self._index:
            return
        direction = -1 if index < self._index else 1
        self._index = index
        for widget in (self.slider, self.index_spin):
            widget.blockSignals(True)
            widget.setValue(index)
            widget.blockSignals(False)
        model_index = self.table_model.index(index, 0)
        # The view must hear of the change (no blockSignals): it repaints the rows that
        # lost the selection only when the selection model tells it so; blocked, the
        # old rows stayed highlighted while stepping or playing.
        self._following = True
        try:
            self.table.selectionModel().setCurrentIndex(
                model_index, QtCore.QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QtCore.QItemSelectionModel.SelectionFlag.Rows)
        finally:
            self._following = False
        self.table.scrollTo(model_index)
        # the time shows at once when known; otherwise it comes with the frame (show_time)
        cached = self.table_model.cached_summary(index)
        self.show_time(cached.time if cached is not None else math.nan)
        self.frameChanged.emit(index, direction)

    def _on_current_row_changed(self, current: QtCore.QModelIndex,
                                _previous: QtCore.QModelIndex) -> None:
        if not self._following and current.isValid():
            self.set_index(current.row())

    def fit_columns(self) -> None:
        """Size the fixed columns to their header and widest expected value.

        Widths come from font metrics and the series length, not from the rows:
        measuring rows would read every frame of a long series.  Called again on
        every resize of the table: where the Background column leaves the identifier
        less than :data:`IDENTIFIER_MIN_WIDTH`, it is hidden, and it shows again when
        the table is wide enough.  The index and the time always show.
        """
        header = self.table.horizontalHeader()
        # a hidden section has no size hint and takes no new width: show it first
        self.table.setColumnHidden(BACKGROUND_COLUMN, False)
        cell_metrics = self.table.fontMetrics()
        widest = {
            INDEX_COLUMN: str(max(self._length - 1, 0)),
            TIME_COLUMN: format_time(9_999.0),  # wider times (> 2.7 h) are elided
            BACKGROUND_COLUMN: BACKGROUND_LABELS["fit"],
        }
        widths = {}
        for column, sample in widest.items():
            # the header's own size hint includes its margins and bold font, if any
            widths[column] = max(header.sectionSizeHint(column),
                                 cell_metrics.horizontalAdvance(sample) + CELL_PADDING)
        available = self.table.viewport().width()
        show_background = sum(widths.values()) + IDENTIFIER_MIN_WIDTH <= available
        for column, width in widths.items():
            if self.table.columnWidth(column) != width:
                self.table.setColumnWidth(column, width)
        self.table.setColumnHidden(BACKGROUND_COLUMN, not show_background)
        scroll_bar = self.table.style().pixelMetric(
            QtWidgets.QStyle.PixelMetric.PM_ScrollBarExtent)
        self.table.set_minimum_width(widths[INDEX_COLUMN] + widths[TIME_COLUMN]
                                     + header.minimumSectionSize() + scroll_bar
                                     + 2 * self.table.frameWidth())

    def show_time(self, seconds: float) -> None:
        """Show the acquisition time of the current frame (NaN: unknown)."""
        self.time_label.setText(f"t = {format_time(seconds)} s" if math.isfinite(seconds)
                                else "t = –")

    def step(self, action: str) -> None:
        """Navigate by `action` (a key of :data:`STEP_ACTIONS`)."""
        self.set_index(step_index(self._index, action, self._length))

    def summary(self, index: int) -> FrameSummary | None:
        """Table data of frame `index` (None if it cannot be read)."""
        try:
            return self.table_model.summary(index)
        except Exception:
            return None

    # --- layout ---------------------------------------------------------------------------
    @property
    def two_rows(self) -> bool:
        """True while the slider has a row of its own (the centre is narrow)."""
        return bool(self._two_rows)

    def _arrange(self, two_rows: bool) -> None:
        """One row, or the slider with play and time above the frame number and rate."""
        if two_rows == self._two_rows:
            return
        self._two_rows = two_rows
        for row in (self._top_row, self._bottom_row):
            while row.takeAt(0) is not None:
                pass
        if two_rows:
            top = [self.play_button, self.slider, self.time_label]
            bottom = [self.frame_label, self.index_spin, self.count_label, None,
                      self.rate_spin]
        else:
            top = [self.play_button, self.rate_spin, self.frame_label, self.index_spin,
                   self.count_label, self.slider, self.time_label]
            bottom = []
        for row, widgets in ((self._top_row, top), (self._bottom_row, bottom)):
            for widget in widgets:
                if widget is None:
                    row.addStretch(1)
                else:
                    row.addWidget(widget, 1 if widget is self.slider else 0)
        self.updateGeometry()

    def _row_width(self, widgets: list[QtWidgets.QWidget]) -> int:
        margins = self._rows_layout.contentsMargins()
        hints = [SLIDER_MIN_WIDTH if widget is self.slider
                 else max(widget.sizeHint().width(), widget.minimumWidth())
                 for widget in widgets]
        return (sum(hints) + self._top_row.spacing() * (len(widgets) - 1)
                + margins.left() + margins.right())

    def one_row_width(self) -> int:
        """The least width at which everything fits one row with a usable slider."""
        return self._row_width([self.play_button, self.rate_spin, self.frame_label,
                                self.index_spin, self.count_label, self.slider,
                                self.time_label])

    def two_row_width(self) -> int:
        """The least width of the two-row arrangement."""
        return max(self._row_width([self.play_button, self.slider, self.time_label]),
                   self._row_width([self.frame_label, self.index_spin, self.count_label,
                                    self.rate_spin]))

    def minimumSizeHint(self) -> QtCore.QSize:
        # narrower than one row: the rows fold (see resizeEvent)
        return QtCore.QSize(self.two_row_width(), self._rows_layout.minimumSize().height())

    def _update_arrangement(self) -> None:
        self._arrange(two_rows=self.width() < self.one_row_width())

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_arrangement()

    # --- playback -------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def set_playing(self, playing: bool) -> None:
        """Start or stop playback (loops at the end of the series)."""
        playing = bool(playing) and self._length > 1
        if self.play_button.isChecked() != playing:
            self.play_button.blockSignals(True)
            self.play_button.setChecked(playing)
            self.play_button.blockSignals(False)
        self._show_play_state(playing)
        if playing:
            self._update_timer()
            self.timer.start()
        else:
            self.timer.stop()

    def _show_play_state(self, playing: bool) -> None:
        # the style's own media icons: text glyphs such as ⏸ are missing from many fonts
        pixmap = (QtWidgets.QStyle.StandardPixmap.SP_MediaPause if playing
                  else QtWidgets.QStyle.StandardPixmap.SP_MediaPlay)
        self.play_button.setIcon(self.style().standardIcon(pixmap))
        self.play_button.setText("Pause" if playing else "Play")  # for screen readers
        self.play_button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.play_button.setToolTip("Pause (Space)" if playing else "Play (Space)")

    def toggle_playing(self) -> None:
        self.set_playing(not self.playing)

    def _update_timer(self) -> None:
        self.timer.setInterval(max(1, round(1000.0 / self.rate_spin.value())))

    def _advance(self) -> None:
        self.set_index(0 if self._index >= self._length - 1 else self._index + 1)
