"""Metadata panel: every metadata key of the current frame with its unit; editable.

Values are shown in display units (µm instead of m) and converted back to SI
before they are validated by the model (:func:`flimage_app.model.meta.check_value`)
and recorded as unsaved edits of the :class:`~flimage_app.gui.document.Document`.
"""

from __future__ import annotations

from typing import Any

from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.workers import error_message
from flimage_app.model.meta import META_DEF, META_KEYS, META_UNITS, NUMERIC_KEYS

#: SI unit → (unit shown, factor from SI to shown).
DISPLAY_UNITS: dict[str, tuple[str, float]] = {"m": ("µm", 1e6)}


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


class MetadataPanel(QtWidgets.QWidget):
    """Table of the current frame's metadata.

    Signals
    -------
    metadataEdited(str)
        The key whose value the user changed (already recorded in the document).
    """

    metadataEdited = QtCore.pyqtSignal(str)

    COLUMNS = ("Key", "Value", "Unit")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = None
        self.index = 0
        self._updating = False

        self.heading = QtWidgets.QLabel("No series open")
        self.heading.setWordWrap(True)
        self.table = QtWidgets.QTableWidget(len(META_KEYS), len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(
            1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(0, 130)
        self.table.setColumnWidth(2, 40)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.DoubleClicked
                                   | QtWidgets.QAbstractItemView.EditTrigger.EditKeyPressed)
        for row, key in enumerate(META_KEYS):
            key_item = QtWidgets.QTableWidgetItem(key)
            unit_item = QtWidgets.QTableWidgetItem(display_unit(key)[0])
            for item in (key_item, unit_item):
                item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(META_DEF[key])
            self.table.setItem(row, 0, key_item)
            self.table.setItem(row, 1, QtWidgets.QTableWidgetItem(""))
            self.table.setItem(row, 2, unit_item)
        self.all_frames_check = QtWidgets.QCheckBox("Edits apply to all frames")
        self.all_frames_check.setChecked(True)
        self.all_frames_check.setToolTip(
            "Ticked: a changed value is set on every frame (e.g. pixel size).\n"
            "Unticked: only on the frame shown.")
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b00020;")
        hint = QtWidgets.QLabel("Double-click a value to edit it. Edits are saved only into a "
                                "copy (File ▸ Save As…); the opened file stays unchanged.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(mid);")

        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.all_frames_check)
        layout.addWidget(self.message)
        layout.addWidget(hint)
        self.table.itemChanged.connect(self._on_item_changed)
        self.set_document(None)

    def key_row(self, key: str) -> int:
        return META_KEYS.index(key)

    def value_text(self, key: str) -> str:
        """Text shown for `key` (for tests and the status bar)."""
        return self.table.item(self.key_row(key), 1).text()

    def set_document(self, document, index: int = 0) -> None:
        """Show frame `index` of `document` (None: nothing open)."""
        self.document = document
        self.index = index
        self.refresh()

    def set_index(self, index: int) -> None:
        self.index = index
        self.refresh()

    def refresh(self) -> None:
        self._updating = True
        try:
            enabled = self.document is not None and len(self.document) > 0
            self.table.setEnabled(enabled)
            meta = self.document.frame_meta(self.index) if enabled else {}
            edited = self.document.edits.get(self.index, {}) if enabled else {}
            self.heading.setText(f"<b>{self.document.name}</b> — frame {self.index}"
                                 if enabled else "No series open")
            for row, key in enumerate(META_KEYS):
                item = self.table.item(row, 1)
                item.setText(format_value(key, meta.get(key)))
                font = item.font()
                font.setItalic(key in edited)
                item.setFont(font)
                item.setToolTip(f"{META_DEF[key]}" + (" — edited, not saved" if key in edited
                                                        else ""))
                item.setForeground(QtGui.QBrush(QtGui.QColor("#1f5fbf")) if key in edited
                                   else self.palette().brush(QtGui.QPalette.ColorRole.Text))
        finally:
            self._updating = False

    def edit(self, key: str, text: str) -> bool:
        """Apply `text` (display units) as the new value of `key`; False if it was rejected."""
        if self.document is None:
            return False
        frames = (list(range(len(self.document))) if self.all_frames_check.isChecked()
                  else [self.index])
        try:
            self.document.set_meta(key, parse_value(key, text), frames)
        except (KeyError, ValueError, TypeError) as error:
            self.message.setText(error_message(error))
            self.refresh()
            return False
        self.message.setText("")
        self.refresh()
        self.metadataEdited.emit(key)
        return True

    def _on_item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if self._updating or item.column() != 1:
            return
        self.edit(META_KEYS[item.row()], item.text())
