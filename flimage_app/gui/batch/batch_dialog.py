""""Apply the same correction to other files…": run a stored recipe on a list of files.

:func:`run_batch` is the pure part: every file is opened read-only
(FLSeries, FLImage, TIFF or .npy through the loader), corrected with the
recipe through :func:`flimage_app.model.provenance.reapply`, and written to
``<name>_bleachcorr.h5`` beside it (or in a chosen folder).  A file that
fails is recorded with its reason and the next file goes on; only Cancel
stops the run.  Warnings raised while a file is read and corrected (no frame
times, no pixel size …) are collected for that file
(:func:`~flimage_app.gui.thread_warnings.collect_warnings`, safe in the worker
thread) and kept in its outcome.  :class:`BatchDialog` lets the user pick the
files and shows per-file progress, warnings, and a summary of the failures and
warnings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.thread_warnings import collect_warnings
from flimage_app.gui.workers import Task, error_message
from flimage_app.model.errors import Cancelled

OPEN_FILTER = ("Series (*.h5 *.hdf5 *.hdf *.tif *.tiff *.npy);;HDF5 (*.h5 *.hdf5 *.hdf);;"
               "TIFF stacks (*.tif *.tiff);;NumPy arrays (*.npy);;All files (*)")
#: Warning lines the summary lists before it refers to the table for the rest.
SUMMARY_WARNING_LINES = 8
#: Text colour of the result of a file with warnings.
WARNING_COLOUR = "#b35c00"


@dataclass(frozen=True)
class BatchOutcome:
    """What happened to one file of a batch."""

    path: str
    output: str | None
    ok: bool
    message: str
    #: warnings raised while the file was read and corrected, each once, in order
    warnings: tuple[str, ...] = ()


def batch_output_path(path: str | os.PathLike, folder: str | os.PathLike | None = None) -> Path:
    """``<stem>_bleachcorr.h5`` beside `path`, or in `folder` when given."""
    path = Path(path)
    name = f"{path.stem}_bleachcorr.h5"
    return Path(folder) / name if folder else path.with_name(name)


def correct_file(path: str, recipe: dict[str, Any], output: Path, overwrite: bool,
                 progress: Callable[[int, int], None] | None,
                 cancel: Callable[[], bool] | None) -> str:
    """Correct one file with `recipe`; returns a one-line summary of the fit."""
    from flimage_app.model.loader import open_series
    from flimage_app.model.recipes import reapply

    if os.path.abspath(output) == os.path.abspath(path):
        raise ValueError("the output would replace the input file")
    with open_series(path) as series:
        result = reapply(recipe, series, output, progress=progress, cancel=cancel,
                         overwrite=overwrite)
    report = result.report
    parts = [f"→ {output.name}"]
    if report.half_lives:
        parts.append("half-life " + ", ".join(f"{value:.3g} {report.time_unit}"
                                              for value, _error in report.half_lives))
    if report.r_squared == report.r_squared:  # not NaN
        parts.append(f"R² {report.r_squared:.4f}")
    return "; ".join(parts)


def run_batch(paths: Sequence[str | os.PathLike], recipe: dict[str, Any], *,
              output_folder: str | os.PathLike | None = None, overwrite: bool = False,
              file_started: Callable[[int], None] | None = None,
              file_progress: Callable[[int, int], None] | None = None,
              file_done: Callable[[int, BatchOutcome], None] | None = None,
              cancel: Callable[[], bool] | None = None) -> list[BatchOutcome]:
    """Apply `recipe` to every file; a failing file is reported and the others go on.

    Parameters
    ----------
    paths
        Input files.
    recipe
        A provenance-style record (see :func:`flimage_app.gui.bleach.bleach_panel.make_recipe`).
    output_folder
        Where the corrected files go (default: beside each input).
    overwrite
        Replace existing outputs (default: such a file fails with a reason).
    file_started, file_progress, file_done
        Called with the file's number when it starts, with ``(done, total)`` frames
        while it runs, and with its :class:`BatchOutcome` when it ends.
    cancel
        Returns True to stop; raises :class:`Cancelled` (the file being written is
        not left behind, the finished ones stay).

    Returns
    -------
    list of BatchOutcome
        One per file, in order.
    """
    outcomes = []
    for number, path in enumerate(map(str, paths)):
        if cancel is not None and cancel():
            raise Cancelled("Batch cancelled")
        if file_started is not None:
            file_started(number)
        output = batch_output_path(path, output_folder)
        with collect_warnings() as caught:
            try:
                message = correct_file(path, recipe, output, overwrite, file_progress, cancel)
                outcome = BatchOutcome(path, str(output), True, message)
            except Cancelled:
                raise
            except Exception as error:  # one bad file must not stop the others
                outcome = BatchOutcome(path, None, False, error_message(error))
        outcome = replace(outcome, warnings=file_warnings(caught, path))
        outcomes.append(outcome)
        if file_done is not None:
            file_done(number, outcome)
    return outcomes


def file_warnings(messages: Sequence[str], path: str | os.PathLike) -> tuple[str, ...]:
    """Each message once, in order, without a leading "<file name>: " (the row names the file)."""
    prefix = f"{Path(path).name}: "
    return tuple(dict.fromkeys(message.removeprefix(prefix) for message in messages))


def summary_text(outcomes: Sequence[BatchOutcome], total: int) -> str:
    """"3 of 4 files corrected; 1 failed: name: reason" style summary, then the warnings."""
    done = sum(outcome.ok for outcome in outcomes)
    failures = [outcome for outcome in outcomes if not outcome.ok]
    text = f"{done} of {total} files corrected"
    if len(outcomes) < total:
        text += f" ({total - len(outcomes)} not run)"
    if failures:
        text += f"; {len(failures)} failed:\n" + "\n".join(
            f"  {Path(outcome.path).name}: {outcome.message}" for outcome in failures)
    warned = [outcome for outcome in outcomes if outcome.warnings]
    if warned:
        lines = [f"  {Path(outcome.path).name}: {warning}"
                 for outcome in warned for warning in outcome.warnings]
        shown = lines[:SUMMARY_WARNING_LINES]
        if len(lines) > len(shown):
            shown.append(f"  … and {len(lines) - len(shown)} more (see the Details column)")
        files = "1 file" if len(warned) == 1 else f"{len(warned)} files"
        text += f"\n{files} with warnings (check these results):\n" + "\n".join(shown)
    return text


class _Relay(QtCore.QObject):
    """Carries per-file events from the worker thread to the dialog (queued signals)."""

    started = QtCore.pyqtSignal(int)
    progressed = QtCore.pyqtSignal(int, int)
    done = QtCore.pyqtSignal(int, object)


class BatchDialog(QtWidgets.QDialog):
    """Pick files and apply a recipe to each, with per-file progress and a failure summary.

    Parameters
    ----------
    recipe
        The correction to apply (provenance-style record).
    description
        One line describing the recipe, shown at the top.
    folder
        Folder the file dialog starts in.
    """

    COLUMNS = ("File", "Result", "Details")

    def __init__(self, recipe: dict[str, Any], description: str, folder: str = "",
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Apply the same correction to other files")
        self.resize(720, 460)
        self.recipe = recipe
        self.folder = folder
        self.paths: list[str] = []
        self.outcomes: list[BatchOutcome] = []
        self.task: Task | None = None
        self.output_folder: str | None = None

        description_label = QtWidgets.QLabel(f"<b>Correction:</b> {description}")
        description_label.setWordWrap(True)
        self.table = QtWidgets.QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 230)
        self.table.setColumnWidth(1, 80)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.add_button = QtWidgets.QPushButton("Add files…")
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.output_check = QtWidgets.QCheckBox("Write into one folder:")
        self.output_check.setToolTip("Unticked: each <name>_bleachcorr.h5 goes beside its input")
        self.output_button = QtWidgets.QPushButton("Choose…")
        self.output_label = QtWidgets.QLabel("beside each input file")
        self.overwrite_check = QtWidgets.QCheckBox("Replace existing outputs")
        self.overwrite_check.setToolTip("Unticked, a file whose output exists fails with a "
                                        "reason and is left as it is")
        self.file_bar = QtWidgets.QProgressBar()
        self.file_bar.setFormat("frames %v of %m")
        self.total_bar = QtWidgets.QProgressBar()
        self.total_bar.setFormat("file %v of %m")
        self.summary_label = QtWidgets.QLabel("Add the files to correct.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QtWidgets.QDialogButtonBox()
        self.run_button = self.buttons.addButton(
            "Run", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(
            "Cancel", QtWidgets.QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button = self.buttons.addButton(
            "Close", QtWidgets.QDialogButtonBox.ButtonRole.DestructiveRole)

        files_row = QtWidgets.QHBoxLayout()
        files_row.addWidget(self.add_button)
        files_row.addWidget(self.remove_button)
        files_row.addStretch(1)
        output_row = QtWidgets.QHBoxLayout()
        output_row.addWidget(self.output_check)
        output_row.addWidget(self.output_button)
        output_row.addWidget(self.output_label, 1)
        output_row.addWidget(self.overwrite_check)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(description_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(files_row)
        layout.addLayout(output_row)
        layout.addWidget(self.file_bar)
        layout.addWidget(self.total_bar)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.buttons)

        self.relay = _Relay(self)
        self.relay.started.connect(self._on_file_started)
        self.relay.progressed.connect(self._on_file_progress)
        self.relay.done.connect(self._on_file_done)
        self.add_button.clicked.connect(self.add_files_dialog)
        self.remove_button.clicked.connect(self._remove_selected)
        self.output_button.clicked.connect(self._choose_output_folder)
        self.output_check.toggled.connect(self._update_output_label)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        self._set_running(False)

    # --- files ----------------------------------------------------------------------------
    def add_files_dialog(self) -> None:
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Files to correct",
                                                          self.folder, OPEN_FILTER)
        self.add_files(paths)

    def add_files(self, paths: Sequence[str | os.PathLike]) -> None:
        """Add `paths` to the list (duplicates are ignored)."""
        for path in map(os.path.abspath, map(str, paths)):
            if path in self.paths:
                continue
            self.paths.append(path)
            row = self.table.rowCount()
            self.table.insertRow(row)
            item = QtWidgets.QTableWidgetItem(Path(path).name)
            item.setToolTip(path)
            self.table.setItem(row, 0, item)
            self.table.setItem(row, 1, QtWidgets.QTableWidgetItem("waiting"))
            self.table.setItem(row, 2, QtWidgets.QTableWidgetItem(""))
        self._set_running(False)

    def _remove_selected(self) -> None:
        for row in sorted({index.row() for index in self.table.selectedIndexes()},
                          reverse=True):
            self.table.removeRow(row)
            del self.paths[row]
        self._set_running(False)

    def _choose_output_folder(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder for the corrected "
                                                            "files", self.folder)
        if folder:
            self.output_folder = folder
            self.output_check.setChecked(True)
            self._update_output_label()

    def _update_output_label(self) -> None:
        use_folder = self.output_check.isChecked() and self.output_folder
        self.output_label.setText(self.output_folder if use_folder else "beside each input file")

    # --- running --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.is_done()

    def run(self) -> None:
        """Correct every listed file in a worker thread."""
        if self.running or not self.paths:
            return
        paths, recipe = list(self.paths), self.recipe
        folder = self.output_folder if self.output_check.isChecked() else None
        overwrite = self.overwrite_check.isChecked()
        relay = self.relay
        self.outcomes = []
        for row in range(self.table.rowCount()):
            self._set_row(row, "waiting", "")
        self.total_bar.setRange(0, len(paths))
        self.total_bar.setValue(0)
        self.summary_label.setText("Running…")

        def work(_progress, cancel):
            return run_batch(paths, recipe, output_folder=folder, overwrite=overwrite,
                             file_started=relay.started.emit,
                             file_progress=relay.progressed.emit,
                             file_done=relay.done.emit, cancel=cancel)

        self.task = Task(work, self)
        self.task.succeeded.connect(lambda _outcomes: self._finish(""))
        self.task.cancelled.connect(lambda: self._finish("Cancelled. "))
        self.task.failed.connect(lambda message: self._finish(f"Stopped: {message}. "))
        self._set_running(True)
        self.task.start()

    def cancel(self) -> None:
        """Stop after the current frame; the file being written is not left behind."""
        if self.running:
            self.task.cancel()
            self.summary_label.setText("Cancelling…")

    def _on_file_started(self, row: int) -> None:
        self._set_row(row, "running", "")
        self.file_bar.setRange(0, 0)

    def _on_file_progress(self, done: int, total: int) -> None:
        self.file_bar.setRange(0, max(total, 0))
        self.file_bar.setValue(min(done, total))

    def _on_file_done(self, row: int, outcome: BatchOutcome) -> None:
        self.outcomes.append(outcome)
        status = "done" if outcome.ok else "FAILED"
        if outcome.warnings:
            status += " ⚠"
        self._set_row(row, status, outcome.message, outcome.warnings)
        self.total_bar.setValue(row + 1)

    def _finish(self, prefix: str) -> None:
        self._set_running(False)
        self.summary_label.setText(prefix + summary_text(self.outcomes, len(self.paths)))
        for row in range(len(self.outcomes), len(self.paths)):
            self._set_row(row, "not run", "")

    def _set_row(self, row: int, status: str, details: str,
                 warnings: Sequence[str] = ()) -> None:
        if row >= self.table.rowCount():
            return
        tooltip = "\n".join([details, *(f"⚠ {warning}" for warning in warnings)])
        if warnings:
            details = " ".join([details, *(f"⚠ {warning}" for warning in warnings)])
        brush = (QtGui.QBrush(QtGui.QColor(WARNING_COLOUR)) if warnings
                 else self.table.palette().text())
        for column, text in ((1, status), (2, details)):
            item = self.table.item(row, column)
            item.setText(text)
            item.setToolTip(tooltip)
            item.setForeground(brush)

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running and bool(self.paths))
        self.cancel_button.setEnabled(running)
        self.close_button.setEnabled(not running)
        for widget in (self.add_button, self.remove_button, self.output_check,
                       self.output_button, self.overwrite_check):
            widget.setEnabled(not running)

    def reject(self) -> None:
        if self.running:  # closing while files are written: cancel first
            self.cancel()
            return
        super().reject()
