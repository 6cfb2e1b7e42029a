"""The Measure panel's Qt-free state: undoable ROI edits, unsaved work, saving and reopening."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import h5py
import pytest

from flimage_app.gui.history import History
from flimage_app.gui.measure_state import PALETTE, PANEL, MeasureState, state_for
from flimage_app.model.roi_measure import MeasureROISet, measure_series
from flimage_app.model.rois import EllipseROI, RectangleROI

from .measure_data import cell_rois, write_cell_series


def test_importing_it_loads_no_qt():
    code = ("import sys, flimage_app.gui.measure_state; "
            "assert not [m for m in sys.modules if m.startswith(('PyQt', 'pyqtgraph'))]")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_edits_are_numbered_coloured_and_undoable():
    history = History()
    state = MeasureState(history)
    changes = []
    state.changed.connect(lambda: changes.append(1))
    assert state.add_roi(RectangleROI(0, 0, 4, 4)) == "1"
    assert state.add_roi(EllipseROI(5, 5, 4, 4)) == "2"
    assert state.add_roi(RectangleROI(1, 1, 2, 2, name="nucleus")) == "nucleus"
    assert state.add_roi(RectangleROI(1, 1, 2, 2, name="nucleus")) == "3"
    assert state.names == ["1", "2", "nucleus", "3"]
    assert [state.colour(n) for n in state.names] == list(PALETTE[:4])
    state.rename_roi("1", "cell")
    assert state.names[0] == "cell" and state.colour("cell") == PALETTE[0]
    state.remove_roi("2")
    assert history.undo_text == "Remove measurement ROI 2"
    history.undo()
    assert state.names == ["cell", "2", "nucleus", "3"] and state.colour("2") == PALETTE[1]
    history.undo()
    assert state.names[0] == "1"
    history.redo()
    assert state.names[0] == "cell"
    state.set_colour("cell", "#123456")
    history.undo()
    assert state.colour("cell") == PALETTE[0]
    assert len(changes) >= 9


def test_a_drag_is_one_undo_step_and_frames_move_apart():
    history = History()
    state = MeasureState(history)
    state.add_roi(RectangleROI(0, 0, 4, 4))
    for x in range(1, 6):
        state.move_roi("1", RectangleROI(x, 0, 4, 4), frame=3)
    assert state.rois.roi("1", 3).x == 5 and state.rois.roi("1", 2).x == 0
    history.undo()
    assert state.rois.roi("1", 3).x == 0 and history.undo_text == "Add measurement ROI 1"
    history.redo()
    state.reset_frame("1", 3)
    assert state.rois.overrides == {}
    with pytest.raises(KeyError):
        state.move_roi("missing", RectangleROI(0, 0, 1, 1))


def test_unsaved_work_names_unmeasured_and_unsaved_rois(tmp_path):
    path = tmp_path / "cells.h5"
    write_cell_series(path, count=3)
    state = MeasureState()
    assert state.unsaved_work() == []
    for roi in cell_rois():
        state.add_roi(roi)
    assert state.unsaved_work() == ["measurement ROIs cell A, 1, 2 (not saved)"]
    state.set_table(measure_series(path, state.rois))
    assert state.unmeasured() == []
    assert "the measurement table (not saved)" in state.unsaved_work()
    state.mark_saved()
    assert state.unsaved_work() == []
    state.move_roi("1", RectangleROI(40, 10, 6, 6), frame=1)
    assert state.unmeasured() == ["1"]
    assert state.unsaved_work() == ["measurement ROI 1 (not saved)",
                                    "measurement ROI 1 changed since the last measurement"]
    state.history.undo()
    assert state.unsaved_work() == []
    state.remove_roi("2")
    assert state.unsaved_work() == ["removal of measurement ROI 2 (not saved)"]


def test_saving_and_reopening_keep_rois_and_table(tmp_path):
    path = tmp_path / "cells.h5"
    write_cell_series(path, count=3)
    document = SimpleNamespace(panel_state={}, history=History(), app_data_writers=[],
                               series=None)
    state = state_for(document)
    assert document.panel_state[PANEL] is state and state_for(document) is state
    assert document.app_data_writers == [state.write]
    for roi in cell_rois():
        state.add_roi(roi)
    state.set_table(measure_series(path, state.rois))
    state.add_roi(RectangleROI(60, 50, 5, 5))  # drawn after the measurement: still saved
    saved = tmp_path / "saved.h5"
    with h5py.File(saved, "w") as root:
        for write in document.app_data_writers:
            write(root)
    state.mark_saved()
    with h5py.File(saved, "r") as root:
        reopened = state_for(SimpleNamespace(panel_state={}, history=History(),
                                             app_data_writers=[], series=SimpleNamespace(
                                                 h5=root)))
    assert reopened.rois == state.rois
    assert reopened.table.rois == MeasureROISet.numbered(cell_rois())
    assert reopened.table.values["raw"]["mean"].tolist() == \
        state.table.values["raw"]["mean"].tolist()
    # opened from the file, nothing is unsaved, but the new ROI was never measured
    assert reopened.unsaved_work() == ["measurement ROI 3 changed since the last measurement"]
