"""The Measure panel's table without Qt: one row per frame, one column per ROI, as Fiji's
*Multi Measure* lays it out, and the tab-separated text a spreadsheet pastes.

:class:`TraceTable` is what :class:`~flimage_app.gui.measure.measure_table.MeasureTableModel`
shows; :meth:`TraceTable.tsv` is what Ctrl+C copies (the headers of the columns
and rows copied come first, numbers in full precision, empty cells for NaN).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from flimage_app.gui.units import format_time

#: the columns before the ROIs'
LEADING_COLUMNS = ("frame", "time [s]")


class TraceTable:
    """Frames × (frame, time, ROIs) of one quantity of one data set.

    Parameters
    ----------
    times
        Time of every frame [s] (NaN where unknown).
    roi_names
        The ROIs, in column order.
    values
        Array (ROIs, frames) of the quantity.
    quantity
        What the values are, e.g. "Background-corrected Mean" (in the headers of a copy).
    """

    def __init__(self, times: Sequence[float] = (), roi_names: Sequence[str] = (),
                 values: np.ndarray | None = None, quantity: str = "") -> None:
        self.times = np.asarray(times, dtype=float)
        self.roi_names = list(roi_names)
        self.values = (np.asarray(values, dtype=float) if values is not None
                       else np.empty((len(self.roi_names), self.times.size)))
        if self.values.shape != (len(self.roi_names), self.times.size):
            raise ValueError(f"values of shape {self.values.shape} for "
                             f"{len(self.roi_names)} ROIs and {self.times.size} frames")
        self.quantity = quantity

    @property
    def rows(self) -> int:
        return int(self.times.size)

    @property
    def columns(self) -> int:
        return len(LEADING_COLUMNS) + len(self.roi_names)

    def header(self, column: int) -> str:
        """Header of `column`: "frame", "time [s]", then the ROIs' names."""
        if column < len(LEADING_COLUMNS):
            return LEADING_COLUMNS[column]
        return self.roi_names[column - len(LEADING_COLUMNS)]

    def value(self, row: int, column: int) -> float:
        """The number in a cell (the frame index, its time, or a ROI's value)."""
        if column == 0:
            return float(row)
        if column == 1:
            return float(self.times[row])
        return float(self.values[column - len(LEADING_COLUMNS), row])

    def text(self, row: int, column: int) -> str:
        """The cell as shown: times as in the frame table, values with 6 significant
        digits; '' for a missing value."""
        value = self.value(row, column)
        if column == 0:
            return str(row)
        if math.isnan(value):
            return ""
        return format_time(value) if column == 1 else f"{value:.6g}"

    def copy_text(self, row: int, column: int) -> str:
        """The cell as copied: full precision (what a spreadsheet should compute with)."""
        value = self.value(row, column)
        if column == 0:
            return str(row)
        return "" if math.isnan(value) else repr(value)

    def tsv(self, cells: Iterable[tuple[int, int]] | None = None) -> str:
        """Tab-separated text of `cells` (row, column) — all when None — with headers.

        The copy is the rectangle of rows and columns that hold a chosen cell (as
        spreadsheets copy a selection); a cell inside it that was not chosen is empty,
        but for the frame index, which every row keeps.
        The first line names the columns; when the frame column is not copied, the
        frame index leads every row so that the numbers keep their frame.
        """
        if cells is None:
            chosen = {(r, c) for r in range(self.rows) for c in range(self.columns)}
        else:
            chosen = {(int(r), int(c)) for r, c in cells}
        if not chosen:
            return ""
        rows = sorted({r for r, _ in chosen})
        columns = sorted({c for _, c in chosen})
        lead = 0 not in columns
        header = (["frame"] if lead else []) + [self.header(c) for c in columns]
        if self.quantity:
            header = [f"{name}: {self.quantity}" if c >= len(LEADING_COLUMNS) else name
                      for name, c in zip(header, ([0] if lead else []) + columns, strict=True)]
        lines = ["\t".join(header)]
        for r in rows:
            # the frame index is always given: a number without its frame means nothing
            line = ([str(r)] if lead else []) + [
                self.copy_text(r, c) if (r, c) in chosen or c == 0 else "" for c in columns]
            lines.append("\t".join(line))
        return "\n".join(lines) + "\n"


__all__ = ["LEADING_COLUMNS", "TraceTable"]
