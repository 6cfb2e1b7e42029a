"""BackgroundState, the Background panel's Qt-free state of one series: driven without widgets."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

from flimage_app.gui.background.background_state import (
    MOVE_TEXT,
    RESHAPE_TEXT,
    RESIZE_TEXT,
    ROTATE_TEXT,
    STATE_KEY,
    BackgroundState,
    geometry_edit_text,
)
from flimage_app.gui.document import Document
from flimage_app.gui.history import History
from flimage_app.model.loader import open_series
from flimage_app.model.rois import (
    BorderROI,
    EllipseROI,
    FreehandROI,
    PolygonROI,
    RectangleROI,
    ROISet,
    export_imagej,
    import_imagej,
    load_roiset_h5,
    read_roiset,
    write_roiset,
)
from tests.gui_support import write_series

SHAPE = (32, 40)


def open_document(path, kind="FLSeries") -> Document:
    return Document(open_series(path), path.name, str(path), kind)


@pytest.fixture
def documents(qtbot, tmp_path):
    opened = []
    for name in ("a.h5", "b.h5"):
        write_series(tmp_path / name, count=4, shape=SHAPE)
        opened.append(open_document(tmp_path / name))
    yield opened
    for document in opened:
        document.close()


@pytest.fixture
def state():
    made = BackgroundState(History(), frame_count=4)
    made.show_frame(0)
    return made


def test_attach_makes_one_state_per_document_and_registers_its_writer(documents):
    first, second = documents
    state = BackgroundState.attach(first)
    assert first.panel_state[STATE_KEY] is state
    assert BackgroundState.attach(first) is state
    assert BackgroundState.of(first) is state and BackgroundState.of(second) is None
    assert state.write_app_data in first.app_data_writers
    assert state.history is first.history
    assert (state.range_first, state.range_last) == (0, 3)


def test_settings_and_rois_are_per_document(documents):
    first, second = (BackgroundState.attach(document) for document in documents)
    first.set_setting(border_px=25, new_role="exclude", scope="range", range_first=1)
    first.add_roi(RectangleROI(1, 2, 3, 4))
    first.set_fit(profile="poly2o", offset="gauss")
    assert (second.border_px, second.new_role, second.scope, second.range_first) == \
        (10, "include", "all", 0)
    assert second.roiset == ROISet()
    assert (first.border_px, first.new_role, first.scope) == (25, "exclude", "range")
    assert first.roiset.fit_profile == "poly2o" and len(first.roiset.rois) == 1
    assert second.history.can_undo is False


def test_unknown_or_invalid_settings_are_refused(state):
    with pytest.raises(KeyError, match="colour"):
        state.set_setting(colour="red")
    with pytest.raises(ValueError, match="Scope"):
        state.set_setting(scope="some")
    assert state.scope == "all"


def test_roi_edits_are_steps_of_the_document_history(documents):
    document = documents[0]
    state = BackgroundState.attach(document)
    seen = []
    state.changed.connect(seen.append)
    state.add_roi(RectangleROI(2, 3, 5, 6))
    assert state.selected == 0 and "rois" in seen
    state.move_selected(1, 0)
    state.move_selected(0, 10)  # repeated moves of one ROI by keys are one step
    assert state.roiset.rois[0] == RectangleROI(3, 13, 5, 6, name="rectangle 1")
    assert document.history.undo_text == MOVE_TEXT
    state.set_bounds(0, 3, 13, 8, 6)
    assert document.history.undo_text == RESIZE_TEXT
    state.set_bounds(0, 0, 0, 8, 6)
    assert document.history.undo_text == MOVE_TEXT
    document.history.undo()
    assert state.roiset.rois[0] == RectangleROI(3, 13, 8, 6, name="rectangle 1")
    document.history.undo()
    document.history.undo()
    assert state.roiset.rois[0] == RectangleROI(2, 3, 5, 6, name="rectangle 1")
    document.history.undo()
    assert state.roiset.rois == () and state.selected is None
    document.history.redo()
    assert len(state.roiset.rois) == 1


def test_set_bounds_scales_a_polygon_and_refuses_an_empty_box(state):
    state.add_roi(PolygonROI(points=((0, 0), (4, 0), (0, 2))))
    state.set_bounds(0, 10, 10, 8, 8)
    assert state.roiset.rois[0].points == ((10, 10), (18, 10), (10, 18))
    assert state.history.undo_text == RESIZE_TEXT
    with pytest.raises(ValueError, match="positive"):
        state.set_bounds(0, 1, 1, 0, 5)


def test_a_border_does_not_move(state):
    state.add_border()
    assert not state.move_selected(1, 1)
    assert state.roiset.rois == (BorderROI(10, name="border 1"),)


def test_geometry_edit_texts():
    rect = RectangleROI(1, 1, 4, 4)
    assert geometry_edit_text(rect, RectangleROI(2, 5, 4, 4)) == MOVE_TEXT
    assert geometry_edit_text(rect, RectangleROI(1, 1, 6, 4)) == RESIZE_TEXT
    assert geometry_edit_text(rect, RectangleROI(1, 1, 4, 4, angle=10)) == ROTATE_TEXT
    polygon = PolygonROI(points=((0, 0), (4, 0), (0, 4)))
    assert geometry_edit_text(polygon, PolygonROI(points=((1, 1), (5, 1), (1, 5)))) == \
        MOVE_TEXT
    assert geometry_edit_text(polygon, PolygonROI(points=((0, 0), (8, 0), (0, 8)))) == \
        RESIZE_TEXT
    assert geometry_edit_text(polygon, PolygonROI(points=((0, 0), (4, 0), (2, 4)))) == \
        RESHAPE_TEXT


def test_unsaved_work_names_the_rois_and_a_fit_not_applied(documents, tmp_path):
    document = documents[0]
    state = BackgroundState.attach(document)
    assert state.unsaved_work() == [] and not document.modified
    state.add_rois([BorderROI(3), EllipseROI(10, 10, 8, 8, role="exclude"),
                    RectangleROI(0, 0, 4, 4)], "three")
    assert state.unsaved_work() == ["3 background ROIs"]
    state.set_fitted(state.roiset)
    assert state.unsaved_work() == ["3 background ROIs", "a fitted background not applied"]
    assert "3 background ROIs" in document.unsaved_work() and document.modified
    state.mark_applied(state.roiset)
    assert state.unsaved_work() == ["3 background ROIs"]
    document.save_copy(tmp_path / "saved.h5")  # File ▸ Save: the document marks its states saved
    assert state.unsaved_work() == [] and document.unsaved_work() == []
    assert not document.modified
    state.remove_roi(0)
    state.remove_roi(0)
    state.remove_roi(0)
    assert state.unsaved_work() == ["the removal of the saved background ROIs"]
    document.history.undo()
    document.history.undo()
    document.history.undo()
    assert state.unsaved_work() == []  # undone back to what was saved


def test_a_one_roi_set_is_named_in_the_singular(state):
    state.add_roi(BorderROI(2))
    assert state.unsaved_work() == ["1 background ROI"]


def test_changed_settings_alone_are_unsaved_work(state):
    state.set_fit(profile="offset")
    assert state.unsaved_work() == ["background fit settings"]


def test_rois_of_a_tiff_document_survive_save_as_and_reopen(qtbot, tmp_path):
    stack = tmp_path / "cells.tif"
    tifffile.imwrite(stack, np.arange(3 * 32 * 40, dtype=np.uint16).reshape(3, 32, 40),
                     imagej=True)
    document = open_document(stack, kind="stack")
    try:
        state = BackgroundState.attach(document)
        rois = [RectangleROI(1, 2, 6, 7, name="left"),
                FreehandROI(points=((20, 5), (30, 6), (28, 15)), role="exclude", name="cell")]
        state.add_rois(rois, "regions")
        state.set_fit(offset="gauss")
        saved = document.save_copy(tmp_path / "cells.h5")
    finally:
        document.close()
    reopened = open_document(saved)
    try:
        stored = read_roiset(reopened.series.h5)
        assert list(stored.rois) == rois and stored.fit_offset == "gauss"
        restored = BackgroundState.attach(reopened, stored)
        assert restored.unsaved_work() == []  # what the file holds counts as saved
    finally:
        reopened.close()


def test_a_copy_keeps_no_stale_rois_when_all_were_removed(qtbot, tmp_path):
    source = tmp_path / "with_rois.h5"
    write_series(source, count=2, shape=SHAPE)
    with h5py.File(source, "a") as h5:
        write_roiset(h5, ROISet(rois=(BorderROI(4),)))
    document = open_document(source)
    try:
        state = BackgroundState.attach(document, read_roiset(document.series.h5))
        assert len(state.roiset.rois) == 1 and state.unsaved_work() == []
        state.remove_roi(0)
        copy = document.save_copy(tmp_path / "copy.h5")
    finally:
        document.close()
    assert load_roiset_h5(copy) is None
    assert load_roiset_h5(source) is not None  # the input file is not touched


def test_fiji_roiset_round_trip_of_the_state(state, tmp_path):
    rois = [RectangleROI(3, 4, 7, 5, name="dark corner"),
            EllipseROI(20, 6, 10, 12, role="exclude", name="cell"),
            PolygonROI(points=((1.5, 20.25), (12.75, 22.0), (6.0, 30.5)), name="strip")]
    state.add_rois(rois, "regions")
    path = export_imagej(state.current_rois(), tmp_path / "RoiSet.zip", shape=SHAPE)
    other = BackgroundState(History())
    other.add_rois(import_imagej(path), "Import RoiSet.zip")
    assert list(other.roiset.rois) == rois
    np.testing.assert_array_equal(other.background_mask(SHAPE), state.background_mask(SHAPE))


def test_own_regions_of_a_frame(state):
    state.add_roi(BorderROI(2))
    state.show_frame(2)
    state.set_frame_override(True)
    state.add_roi(RectangleROI(0, 0, 5, 5))
    assert len(state.current_rois()) == 2 and len(state.roiset.rois) == 1
    state.show_frame(1)
    assert state.current_rois() == state.roiset.rois
    assert state.frames_to_apply() is None
    state.set_setting(scope="this")
    assert state.frames_to_apply() == [1]
    state.set_setting(scope="range", range_first=3, range_last=1)
    assert state.frames_to_apply() == [1, 2, 3]
