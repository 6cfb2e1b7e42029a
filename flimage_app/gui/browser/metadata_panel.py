"""Metadata panel: the series identifier and every metadata key of the current frame.

Values are shown in display units (µm instead of m) and converted back to SI
before they are validated by the model (:func:`flimage_app.model.meta.check_value`)
and recorded as unsaved edits of the :class:`~flimage_app.gui.document.Document`
(:meth:`~flimage_app.gui.document.Document.set_meta` for frames,
:meth:`~flimage_app.gui.document.Document.set_series_meta` for the series).  They
are written only into copies (File ▸ Save As); the opened file is never changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.document import SERIES_DEF, SERIES_KEYS
from flimage_app.gui.workers import error_message, widen_for_title
from flimage_app.model.meta import META_DEF, META_KEYS, META_UNITS, NUMERIC_KEYS

#: SI unit → (unit shown, factor from SI to shown).
DISPLAY_UNITS: dict[str, tuple[str, float]] = {"m": ("µm", 1e6)}

#: Frame keys that differ from frame to frame by nature: an edit changes the frame
#: shown only (the same time or identifier on every frame would spoil the series).
PER_FRAME_KEYS: frozenset[str] = frozenset({"time", "identifier"})

#: Rows of the table: a heading, the series keys, a heading, the frame keys.
SERIES_HEADING_ROW = 0
SERIES_FIRST_ROW = 1
FRAME_HEADING_ROW = SERIES_FIRST_ROW + len(SERIES_KEYS)
FRAME_FIRST_ROW = FRAME_HEADING_ROW + 1

#: Colour of values edited but not saved yet.
EDITED_COLOUR = "#1f5fbf"


def display_unit(key: str) -> tuple[str, float]:
    """Unit label and SI-to-display factor of metadata `key`."""
    unit = META_UNITS.get(key, "")
    return DISPLAY_UNITS.get(unit, (unit, 1.0))


def format_value(key: str, value: Any) -> str:
    """A stored (SI) value as shown in the panel."""
    if value is None:
        return ""
    if key in NUMERIC_KEYS:
        try:
            return f"{float(value) * display_unit(key)[1]:.6g}"
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def parse_value(key: str, text: str) -> Any:
    """Text typed in display units → value in SI (validated later by the model)."""
    text = text.strip()
    if key in NUMERIC_KEYS:
        try:
            return float(text) / display_unit(key)[1]
        except ValueError:
            raise ValueError(f"Metadata {key!r} must be a number, got {text!r}") from None
    return text


#: Keys quantitative work needs, and what their absence means for the user.
CALIBRATION_NOTES: dict[str, str] = {
    "pixel size": "No pixel size: positions are in pixels and there is no scale bar.",
    "time": "No acquisition time: the frame number stands in for time, so bleach rates "
            "are per frame.",
}
#: Background of the value cell of a missing calibration key (matches the notice).
MISSING_COLOUR = "#fff4d6"


def missing_calibration(meta: dict[str, Any]) -> list[str]:
    """The keys of :data:`CALIBRATION_NOTES` that `meta` lacks or holds unusably.

    A time must be a finite number (0 s is a time); a pixel size must be positive.
    """
    missing = []
    for key in CALIBRATION_NOTES:
        try:
            number = float(meta.get(key))
        except (TypeError, ValueError):
            missing.append(key)
            continue
        if not math.isfinite(number) or (key == "pixel size" and number <= 0):
            missing.append(key)
    return missing


class MetadataPanel(QtWidgets.QWidget):
    """Table of the series identifier and the current frame's metadata.

    Signals
    -------
    metadataEdited(str)
        The frame metadata key whose value the user changed (already recorded
        in the document).
    seriesMetadataEdited(str)
        The series metadata key whose value the user changed (already recorded
        in the document).
    """

    metadataEdited = QtCore.pyqtSignal(str)
    seriesMetadataEdited = QtCore.pyqtSignal(str)

    COLUMNS = ("Key", "Value", "Unit")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = None
        self.index = 0
        self._updating = False

        self.heading = QtWidgets.QLabel("No series open")
        self.heading.setWordWrap(True)
        self._build_notice()
        self.table = QtWidgets.QTableWidget(FRAME_FIRST_ROW + len(META_KEYS), len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.setTextElideMode(QtCore.Qt.TextElideMode.ElideMiddle)
        self.table.setWordWrap(False)  # wrapping at "-" or "_" would defeat the middle elision
        # Tab moves on to the controls below, not from cell to cell
        self.table.setTabKeyNavigation(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.DoubleClicked
                                   | QtWidgets.QAbstractItemView.EditTrigger.EditKeyPressed)
        self._add_heading_row(SERIES_HEADING_ROW, "Series",
                              "Metadata of the whole series (attributes of the file's "
                              "series group)")
        for row, key in enumerate(SERIES_KEYS, start=SERIES_FIRST_ROW):
            self._add_key_row(row, key, SERIES_DEF[key])
        self._add_heading_row(FRAME_HEADING_ROW, "Frame",
                              "Metadata of the frame shown (attributes of its fli_N group)")
        for row, key in enumerate(META_KEYS, start=FRAME_FIRST_ROW):
            self._add_key_row(row, key, META_DEF[key])
        # the table is as tall as its rows: no empty white area under them
        self.table.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding,
                                 QtWidgets.QSizePolicy.Policy.Fixed)
        self.table.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setFixedHeight(self.table.verticalHeader().length()
                                  + header.sizeHint().height() + 2 * self.table.frameWidth())

        self.all_frames_check = QtWidgets.QCheckBox("Frame edits apply to all frames")
        self.all_frames_check.setChecked(True)
        self.all_frames_check.setToolTip(
            "Ticked: a changed frame value is set on every frame (e.g. pixel size).\n"
            "Unticked: only on the frame shown.\n"
            f"{' and '.join(sorted(PER_FRAME_KEYS)).capitalize()} always change on the "
            "frame shown only.")
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b00020;")
        hint = QtWidgets.QLabel("Double-click a value to edit it. Edited values are blue; they "
                                "are saved only into a copy (File ▸ Save As…), the opened file "
                                "stays unchanged.")
        hint.setWordWrap(True)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.notice_box)
        layout.addWidget(self.table)
        layout.addWidget(self.all_frames_check)
        layout.addWidget(self.message)
        layout.addWidget(hint)
        layout.addStretch(1)
        self.table.itemChanged.connect(self._on_item_changed)
        self.set_document(None)

    def _build_notice(self) -> None:
        """The note about a missing pixel size or time, with buttons that set them."""
        self.notice_box = QtWidgets.QFrame()
        self.notice_box.setObjectName("calibrationNotice")
        self.notice_box.setStyleSheet(
            f"#calibrationNotice {{ background: {MISSING_COLOUR}; border: 1px solid #e8c766; "
            "border-radius: 3px; } #calibrationNotice QLabel { color: #5c4400; }")
        self.notice = QtWidgets.QLabel("")
        self.notice.setWordWrap(True)
        self.pixel_size_button = QtWidgets.QPushButton("Set pixel size…")
        self.pixel_size_button.setToolTip("Set the pixel size of every frame (in µm)")
        self.interval_button = QtWidgets.QPushButton("Set frame interval…")
        self.interval_button.setToolTip(
            "Give every frame the time index × interval (for a time-lapse taken at a fixed "
            "rate, e.g. a TIFF stack without time stamps)")
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.pixel_size_button)
        buttons.addWidget(self.interval_button)
        buttons.addStretch(1)
        box_layout = QtWidgets.QVBoxLayout(self.notice_box)
        box_layout.setContentsMargins(6, 4, 6, 4)
        box_layout.addWidget(self.notice)
        box_layout.addLayout(buttons)
        self.pixel_size_button.clicked.connect(self.ask_pixel_size)
        self.interval_button.clicked.connect(self.ask_frame_interval)

    def _add_heading_row(self, row: int, text: str, tooltip: str) -> None:
        item = QtWidgets.QTableWidgetItem(text)
        item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
        item.setToolTip(tooltip)
        font = item.font()
        font.setBold(True)
        item.setFont(font)
        item.setBackground(self.palette().brush(QtGui.QPalette.ColorRole.Button))
        self.table.setItem(row, 0, item)
        self.table.setSpan(row, 0, 1, len(self.COLUMNS))

    def _add_key_row(self, row: int, key: str, meaning: str) -> None:
        key_item = QtWidgets.QTableWidgetItem(key)
        unit_item = QtWidgets.QTableWidgetItem(display_unit(key)[0])
        for item in (key_item, unit_item):
            item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
            item.setToolTip(meaning)
        self.table.setItem(row, 0, key_item)
        self.table.setItem(row, 1, QtWidgets.QTableWidgetItem(""))
        self.table.setItem(row, 2, unit_item)

    # --- rows -----------------------------------------------------------------------------
    def key_row(self, key: str) -> int:
        """Table row of frame metadata `key`."""
        return FRAME_FIRST_ROW + META_KEYS.index(key)

    def series_row(self, key: str) -> int:
        """Table row of series metadata `key`."""
        return SERIES_FIRST_ROW + SERIES_KEYS.index(key)

    def value_text(self, key: str) -> str:
        """Text shown for frame metadata `key` (for tests and the status bar)."""
        return self.table.item(self.key_row(key), 1).text()

    def series_value_text(self, key: str) -> str:
        """Text shown for series metadata `key`."""
        return self.table.item(self.series_row(key), 1).text()

    # --- state ----------------------------------------------------------------------------
    def set_document(self, document, index: int = 0) -> None:
        """Show frame `index` of `document` (None: nothing open)."""
        self.document = document
        self.index = index
        self.message.setText("")
        self.refresh()

    def set_index(self, index: int) -> None:
        self.index = index
        self.refresh()

    def refresh(self) -> None:
        self._updating = True
        try:
            enabled = self.document is not None and len(self.document) > 0
            self.table.setEnabled(enabled)
            self.all_frames_check.setEnabled(enabled)
            meta = self.document.frame_meta(self.index) if enabled else {}
            edited = self.document.edits.get(self.index, {}) if enabled else {}
            if enabled:
                count = len(self.document)
                self.heading.setText(f"<b>{self.document.name}</b> · {count} "
                                     f"frame{'s' if count != 1 else ''}")
            else:
                self.heading.setText("No series open")
            self.table.item(FRAME_HEADING_ROW, 0).setText(
                f"Frame {self.index}" if enabled else "Frame")
            missing = missing_calibration(meta) if enabled else []
            self.notice.setText("\n".join(CALIBRATION_NOTES[key] for key in missing))
            self.notice_box.setVisible(bool(missing))
            self.pixel_size_button.setVisible("pixel size" in missing)
            self.interval_button.setVisible("time" in missing)
            for key in META_KEYS:
                row = self.key_row(key)
                self._show_value(row, format_value(key, meta.get(key)), META_DEF[key],
                                 key in edited, editable=True)
                # point at the cell the notice asks to fill in
                self.table.item(row, 1).setBackground(
                    QtGui.QBrush(QtGui.QColor(MISSING_COLOUR)) if key in missing
                    else QtGui.QBrush())
            self._refresh_series(enabled)
        finally:
            self._updating = False

    def _refresh_series(self, enabled: bool) -> None:
        document = self.document if enabled else None
        for key in SERIES_KEYS:
            row = self.series_row(key)
            if document is None:
                self._show_value(row, "", SERIES_DEF[key], False, editable=False)
            elif not document.has_series_level:
                self._show_value(row, "— (single image file)",
                                 "This file holds one FLImage and no series: edit the "
                                 "frame's identifier below", False, editable=False)
            else:
                self._show_value(row, format_value(key, document.series_meta(key)),
                                 SERIES_DEF[key], document.series_meta_edited(key),
                                 editable=True)

    def _show_value(self, row: int, text: str, meaning: str, edited: bool,
                    editable: bool) -> None:
        item = self.table.item(row, 1)
        item.setText(text)
        flags = QtCore.Qt.ItemFlag.ItemIsEnabled | QtCore.Qt.ItemFlag.ItemIsSelectable
        if editable:
            flags |= QtCore.Qt.ItemFlag.ItemIsEditable
        item.setFlags(flags)
        font = item.font()
        font.setItalic(edited or not editable)
        item.setFont(font)
        # the value in the tooltip too: a long one is shortened in the cell
        item.setToolTip((f"{text}\n" if text else "") + meaning
                        + (" — edited, not saved" if edited else ""))
        if edited:
            item.setForeground(QtGui.QBrush(QtGui.QColor(EDITED_COLOUR)))
        else:
            role = (QtGui.QPalette.ColorRole.Text if editable
                    else QtGui.QPalette.ColorRole.PlaceholderText)
            item.setForeground(self.palette().brush(role))

    # --- editing --------------------------------------------------------------------------
    def edit(self, key: str, text: str) -> bool:
        """Apply `text` (display units) as the new value of frame key `key`.

        Returns False if it was rejected (the reason is shown in the panel).
        """
        if self.document is None:
            return False
        every_frame = self.all_frames_check.isChecked() and key not in PER_FRAME_KEYS
        frames = list(range(len(self.document))) if every_frame else [self.index]
        return self._apply_edit(
            lambda: self.document.set_meta(key, parse_value(key, text), frames),
            self.metadataEdited, key)

    def edit_series(self, key: str, text: str) -> bool:
        """Apply `text` as the new value of series key `key`; False if it was rejected."""
        if self.document is None:
            return False
        return self._apply_edit(
            lambda: self.document.set_series_meta(key, parse_value(key, text)),
            self.seriesMetadataEdited, key)

    def _apply_edit(self, change: Callable[[], Any], edited, key: str) -> bool:
        """Run `change`; show why it was refused, or emit `edited` with `key`."""
        try:
            change()
        except (KeyError, ValueError, TypeError) as error:
            self.message.setText(error_message(error))
            self.refresh()
            return False
        self.message.setText("")
        self.refresh()
        # the document's observers (the frame table, the title) show the edit too
        self.document.changed.emit()
        edited.emit(key)
        return True

    def set_pixel_size(self, micrometres: float) -> bool:
        """Give every frame the pixel size `micrometres` (µm); False if it was rejected."""
        if self.document is None:
            return False
        frames = list(range(len(self.document)))
        return self._apply_edit(
            lambda: self.document.set_meta("pixel size", micrometres * 1e-6, frames),
            self.metadataEdited, "pixel size")

    def set_frame_interval(self, seconds: float) -> bool:
        """Give every frame the time index × `seconds`; False if it was rejected.

        Like typed values, the times are unsaved edits until File ▸ Save As.
        """
        if self.document is None:
            return False
        return self._apply_edit(lambda: self.document.set_interval(seconds),
                                self.metadataEdited, "time")

    def ask_pixel_size(self) -> None:
        """Ask for the pixel size in µm and set it on every frame."""
        value = self._ask_number("Pixel size", "Pixel size of every frame [µm]:", 0.1,
                                 1e-4, 1e4)
        if value is not None:
            self.set_pixel_size(value)

    def ask_frame_interval(self) -> None:
        """Ask for the time between frames in seconds and set every frame's time."""
        value = self._ask_number("Frame interval",
                                 "Seconds between frames (frame 0 at t = 0 s):", 1.0, 1e-6, 1e6)
        if value is not None:
            self.set_frame_interval(value)

    def _ask_number(self, title: str, label: str, value: float, minimum: float,
                    maximum: float) -> float | None:
        """A number typed into a dialog whose title shows in full; None if cancelled."""
        dialog = QtWidgets.QInputDialog(self)
        dialog.setInputMode(QtWidgets.QInputDialog.InputMode.DoubleInput)
        dialog.setWindowTitle(title)
        dialog.setLabelText(label)
        dialog.setDoubleDecimals(4)
        dialog.setDoubleRange(minimum, maximum)
        dialog.setDoubleValue(value)
        widen_for_title(dialog)
        accepted = dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted
        number = dialog.doubleValue()
        dialog.deleteLater()
        return number if accepted else None

    def _on_item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if self._updating or item.column() != 1:
            return
        row = item.row()
        if SERIES_FIRST_ROW <= row < FRAME_HEADING_ROW:
            self.edit_series(SERIES_KEYS[row - SERIES_FIRST_ROW], item.text())
        elif row >= FRAME_FIRST_ROW:
            self.edit(META_KEYS[row - FRAME_FIRST_ROW], item.text())
