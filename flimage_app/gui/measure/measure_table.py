"""The Measure panel's table: a QTableView over :class:`~.table_data.TraceTable`.

Ctrl+C (and the context menu's *Copy*) copies the selected cells as
tab-separated text with their headers, which a spreadsheet pastes into cells.
A click on a row goes to that frame (``frameClicked``).
"""

from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.measure.table_data import TraceTable


class MeasureTableModel(QtCore.QAbstractTableModel):
    """Qt's view of a :class:`TraceTable` (read-only)."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.table = TraceTable()
        #: the ROIs' colours, by name (the headers show them)
        self.colours: dict[str, str] = {}
        self.current_row: int | None = None

    def set_table(self, table: TraceTable, colours: dict[str, str] | None = None) -> None:
        self.beginResetModel()
        self.table = table
        self.colours = dict(colours or {})
        self.endResetModel()

    def set_current_row(self, row: int | None) -> None:
        """Mark the frame on display (bold)."""
        if row == self.current_row:
            return
        old, self.current_row = self.current_row, row
        for changed in (old, row):
            if changed is not None and 0 <= changed < self.table.rows:
                self.dataChanged.emit(self.index(changed, 0),
                                      self.index(changed, self.table.columns - 1))

    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.table.rows

    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.table.columns

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        roles = QtCore.Qt.ItemDataRole
        if role == roles.DisplayRole:
            return self.table.text(index.row(), index.column())
        if role == roles.ToolTipRole:
            return self.table.copy_text(index.row(), index.column())
        if role == roles.TextAlignmentRole:
            return int(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        if role == roles.FontRole and index.row() == self.current_row:
            font = QtGui.QFont()
            font.setBold(True)
            return font
        return None

    def headerData(self, section: int, orientation: QtCore.Qt.Orientation,
                   role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if orientation != QtCore.Qt.Orientation.Horizontal:
            return None
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            return self.table.header(section)
        if role == QtCore.Qt.ItemDataRole.DecorationRole:
            colour = self.colours.get(self.table.header(section)) if section >= 2 else None
            if colour is not None:
                return swatch(colour)
        if role == QtCore.Qt.ItemDataRole.ToolTipRole and self.table.quantity:
            return f"{self.table.header(section)}: {self.table.quantity}"
        return None


def swatch(colour: str, size: int = 12) -> QtGui.QIcon:
    """A square of `colour` with a dark edge (visible on light and dark backgrounds)."""
    pixmap = QtGui.QPixmap(size, size)
    pixmap.fill(QtGui.QColor(colour))
    painter = QtGui.QPainter(pixmap)
    painter.setPen(QtGui.QColor(60, 60, 60))
    painter.drawRect(0, 0, size - 1, size - 1)
    painter.end()
    return QtGui.QIcon(pixmap)


class MeasureTableView(QtWidgets.QTableView):
    """The table of values, frames down, ROIs across; Ctrl+C copies the selection.

    Signals
    -------
    frameClicked(int)
        A cell of that frame's row was clicked.
    """

    frameClicked = QtCore.pyqtSignal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.table_model = MeasureTableModel(self)
        self.setModel(self.table_model)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 4)
        self.horizontalHeader().setStretchLastSection(False)
        # column widths from the first rows: a long series would be measured cell by cell
        self.horizontalHeader().setResizeContentsPrecision(200)
        self.setToolTip("Select cells and press Ctrl+C to copy them (with their headers) "
                        "into a spreadsheet")
        self.copy_action = QtGui.QAction("&Copy", self)
        self.copy_action.setShortcut(QtGui.QKeySequence.StandardKey.Copy)
        # only while the table has the focus: Ctrl+C elsewhere copies other things
        self.copy_action.setShortcutContext(QtCore.Qt.ShortcutContext.WidgetShortcut)
        self.copy_action.triggered.connect(self.copy_selection)
        self.addAction(self.copy_action)
        self.copy_all_action = QtGui.QAction("Copy the &whole table", self)
        self.copy_all_action.triggered.connect(self.copy_all)
        self.addAction(self.copy_all_action)
        self.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.ActionsContextMenu)
        self.clicked.connect(lambda index: self.frameClicked.emit(index.row()))

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(260, 160)

    def minimumSizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(160, 90)

    def set_table(self, table: TraceTable, colours: dict[str, str] | None = None) -> None:
        self.table_model.set_table(table, colours)
        self.resizeColumnsToContents()

    def show_frame(self, row: int | None) -> None:
        """Mark the frame on display and keep its row in view."""
        self.table_model.set_current_row(row)
        if row is not None and 0 <= row < self.table_model.table.rows:
            self.scrollTo(self.table_model.index(row, 0))

    def selected_text(self) -> str:
        """The selected cells as tab-separated text with headers ('' when none)."""
        cells = [(index.row(), index.column()) for index in self.selectedIndexes()]
        return self.table_model.table.tsv(cells) if cells else ""

    def copy_selection(self) -> None:
        text = self.selected_text()
        if text:
            QtWidgets.QApplication.clipboard().setText(text)

    def copy_all(self) -> None:
        if self.table_model.table.rows:
            QtWidgets.QApplication.clipboard().setText(self.table_model.table.tsv())

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.matches(QtGui.QKeySequence.StandardKey.Copy):
            self.copy_selection()
            event.accept()
            return
        super().keyPressEvent(event)


__all__ = ["MeasureTableModel", "MeasureTableView", "swatch"]
