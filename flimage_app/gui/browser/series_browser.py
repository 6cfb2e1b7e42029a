"""Series browser: the frame table, the frame slider and play/pause.

The table is filled lazily: a row's identifier, time and backgrounds are read
from the file only when the row becomes visible, so that a 5,000-frame series
opens at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PyQt6 import QtCore, QtWidgets

from flimage_app.gui.browser.frame_cache import H5_LOCK
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


def format_time(seconds: float) -> str:
    return "–" if not math.isfinite(seconds) else f"{seconds:.3f}"


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
        self._length = 0
        self._rows: dict[int, FrameSummary] = {}
        self.set_series(series)

    def set_series(self, series) -> None:
        self.beginResetModel()
        self._series = series
        self._rows = {}
        with H5_LOCK:
            self._length = len(series) if series is not None else 0
        self.endResetModel()

    def summary(self, row: int) -> FrameSummary:
        """The row's summary, read from the file on first use."""
        if row not in self._rows:
            self._rows[row] = frame_summary(self._series, row)
        return self._rows[row]

    def remember(self, row: int, summary: FrameSummary) -> None:
        """Store a row's summary obtained elsewhere (e.g. with a frame the cache read)."""
        self._rows.setdefault(row, summary)

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

        self.table_model = FrameTableModel(parent=self)
        self.table = QtWidgets.QTableView()
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
        self.table.setToolTip("Click a row to show that frame")

        self.play_button = QtWidgets.QToolButton()
        self.play_button.setCheckable(True)
        self.play_button.setText("▶")
        self.play_button.setToolTip("Play / pause (Space)")
        self.rate_spin = QtWidgets.QDoubleSpinBox()
        self.rate_spin.setRange(0.5, 120.0)
        self.rate_spin.setValue(10.0)
        self.rate_spin.setDecimals(1)
        self.rate_spin.setSuffix(" fps")
        self.rate_spin.setToolTip("Playback rate in frames per second")
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setToolTip("Frame (←/→ one frame, PgUp/PgDn ten, Home/End first/last)")
        self.slider.setPageStep(PAGE_STEP)
        self.index_spin = QtWidgets.QSpinBox()
        self.index_spin.setToolTip("Frame index (0-based, as in the file: fli_0, fli_1, …)")
        self.frame_label = QtWidgets.QLabel("Frame")
        self.frame_label.setBuddy(self.index_spin)
        self.frame_label.setToolTip(self.index_spin.toolTip())
        self.count_label = QtWidgets.QLabel("of 0")
        self.count_label.setToolTip("Number of frames in the series")
        self.time_label = QtWidgets.QLabel("")
        self.time_label.setMinimumWidth(110)
        self.time_label.setToolTip("Acquisition time of the frame shown (metadata \"time\"); "
                                   "– when the file records none")

        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        row.addWidget(self.play_button)
        row.addWidget(self.rate_spin)
        row.addWidget(self.frame_label)
        row.addWidget(self.index_spin)
        row.addWidget(self.count_label)
        row.addWidget(self.slider, 1)
        row.addWidget(self.time_label)

        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self._advance)
        self.play_button.toggled.connect(self.set_playing)
        self.rate_spin.valueChanged.connect(self._update_timer)
        self.slider.valueChanged.connect(self.set_index)
        self.index_spin.valueChanged.connect(self.set_index)
        self.table.selectionModel().currentRowChanged.connect(
            lambda current, _previous: current.isValid() and self.set_index(current.row()))
        self.set_series(None)

    # --- public API -----------------------------------------------------------------------
    @property
    def index(self) -> int:
        return self._index

    @property
    def length(self) -> int:
        return self._length

    def set_series(self, series, index: int = 0) -> None:
        """Browse `series` (None: nothing open) starting at frame `index`."""
        self.set_playing(False)
        self.table_model.set_series(series)
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
        self.table.selectionModel().blockSignals(True)
        self.table.selectionModel().setCurrentIndex(
            model_index, QtCore.QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QtCore.QItemSelectionModel.SelectionFlag.Rows)
        self.table.selectionModel().blockSignals(False)
        self.table.scrollTo(model_index)
        # the time shows at once when known; otherwise it comes with the frame (show_time)
        cached = self.table_model.cached_summary(index)
        self.show_time(cached.time if cached is not None else math.nan)
        self.frameChanged.emit(index, direction)

    def fit_columns(self) -> None:
        """Size the fixed columns to their header and widest expected value.

        Widths come from font metrics and the series length, not from the rows:
        measuring rows would read every frame of a long series.
        """
        header = self.table.horizontalHeader()
        cell_metrics = self.table.fontMetrics()
        widest = {
            INDEX_COLUMN: str(max(self._length - 1, 0)),
            TIME_COLUMN: format_time(9_999.0),  # wider times (> 2.7 h) are elided
            BACKGROUND_COLUMN: BACKGROUND_LABELS["fit"],
        }
        for column, sample in widest.items():
            # the header's own size hint includes its margins and bold font, if any
            width = max(header.sectionSizeHint(column),
                        cell_metrics.horizontalAdvance(sample) + CELL_PADDING)
            self.table.setColumnWidth(column, width)

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
        self.play_button.setText("⏸" if playing else "▶")
        if playing:
            self._update_timer()
            self.timer.start()
        else:
            self.timer.stop()

    def toggle_playing(self) -> None:
        self.set_playing(not self.playing)

    def _update_timer(self) -> None:
        self.timer.setInterval(max(1, round(1000.0 / self.rate_spin.value())))

    def _advance(self) -> None:
        self.set_index(0 if self._index >= self._length - 1 else self._index + 1)
