"""Metadata panel: the series identifier (shown, edited, saved into copies only) and the
notice about missing pixel size and time."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest
from PyQt6 import QtCore, QtWidgets

from flimage_app.gui.browser.metadata_panel import MISSING_COLOUR, missing_calibration
from flimage_app.gui.main_window import MainWindow
from flimage_app.model import FLImage, FLSeries
from tests.dialog_support import DialogAnswers
from tests.gui_support import wait_for_frame, write_series

#: fixtures settings_file, errors, window
pytest_plugins = ["tests.gui_fixtures"]

SERIES_ID = "HeLa-GFP_2024-05-03_dish2"


@pytest.fixture(autouse=True)
def discard_without_asking(monkeypatch):
    """Closing a window with unsaved edits asks first; tests answer "Discard" (no modal)."""
    monkeypatch.setattr(MainWindow, "_confirm_discard", lambda self, documents: True)


def file_hash(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def series_path(tmp_path):
    path = tmp_path / "cells.h5"
    write_series(path, count=4)
    with h5py.File(path, "a") as h5:
        h5.attrs["identifier"] = SERIES_ID
    return path


def save_as(window, monkeypatch, target) -> None:
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(target), ""))
    window.save_as_action.trigger()


def test_series_identifier_is_shown_apart_from_the_frame_identifier(qtbot, window,
                                                                   series_path):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    panel = window.metadata_panel
    assert panel.series_value_text("identifier") == SERIES_ID
    assert panel.value_text("identifier") == "frame-0"
    item = panel.table.item(panel.series_row("identifier"), 1)
    assert item.flags() & QtCore.Qt.ItemFlag.ItemIsEditable
    assert SERIES_ID in item.toolTip()


def test_series_identifier_edit_stays_unsaved_until_save_as(qtbot, window, series_path,
                                                           tmp_path, monkeypatch):
    before = file_hash(series_path)
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    panel = window.metadata_panel
    document = window.current_document()
    edited = []
    panel.seriesMetadataEdited.connect(edited.append)
    frame_edits = []
    panel.metadataEdited.connect(frame_edits.append)

    # typed into the table, as a user does
    item = panel.table.item(panel.series_row("identifier"), 1)
    item.setText("  experiment 7  ")
    assert edited == ["identifier"] and frame_edits == []
    assert panel.series_value_text("identifier") == "experiment 7"
    assert item.font().italic()
    assert document.modified and document.edits == {}  # frames untouched
    assert document.series_edits == {"identifier": "experiment 7"}
    assert window.windowTitle().startswith("cells.h5 *")
    assert window.series_list.item(0).text() == "cells.h5 *"
    assert panel.value_text("identifier") == "frame-0"
    with FLSeries(h5file=series_path, h5mode="r") as original:
        assert original.identifier == SERIES_ID  # nothing written yet

    target = tmp_path / "saved.h5"
    save_as(window, monkeypatch, target)
    assert file_hash(series_path) == before
    assert not document.modified
    assert window.series_list.item(0).text() == "cells.h5"
    with FLSeries(h5file=target, h5mode="r") as saved:
        assert saved.identifier == "experiment 7"
        assert saved.identifiers() == [f"frame-{index}" for index in range(4)]
        np.testing.assert_array_equal(saved.times(), [0.0, 2.0, 4.0, 6.0])


def test_series_identifier_edit_asks_before_discarding(qtbot, window, series_path,
                                                      monkeypatch):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    assert window.metadata_panel.edit_series("identifier", "renamed")
    asked = []
    monkeypatch.setattr(MainWindow, "_confirm_discard",
                        lambda self, documents: asked.append(documents) or False)
    window.close_current()
    assert len(asked) == 1 and window.current_document() is not None
    monkeypatch.setattr(MainWindow, "_confirm_discard", lambda self, documents: True)
    window.close_current()
    assert window.current_document() is None


def test_series_identifier_set_back_is_not_an_edit(qtbot, window, series_path):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    panel = window.metadata_panel
    assert panel.edit_series("identifier", "renamed")
    assert window.current_document().modified
    assert panel.edit_series("identifier", SERIES_ID)
    assert not window.current_document().modified
    assert not window.windowTitle().startswith("cells.h5 *")


def test_empty_series_identifier_removes_it_from_the_copy(qtbot, window, series_path,
                                                          tmp_path, monkeypatch):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    assert window.metadata_panel.edit_series("identifier", "")
    target = tmp_path / "anonymous.h5"
    save_as(window, monkeypatch, target)
    with FLSeries(h5file=target, h5mode="r") as saved:
        assert saved.identifier is None


def test_series_without_identifier_gets_one(qtbot, window, tmp_path, monkeypatch):
    path = tmp_path / "plain.h5"
    write_series(path, count=2)
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    panel = window.metadata_panel
    assert panel.series_value_text("identifier") == ""
    assert panel.edit_series("identifier", "first experiment")
    target = tmp_path / "named.h5"
    save_as(window, monkeypatch, target)
    with FLSeries(h5file=target, h5mode="r") as saved:
        assert saved.identifier == "first experiment"


def test_single_image_file_has_no_series_identifier_to_edit(qtbot, window, tmp_path):
    path = tmp_path / "image.h5"
    with FLImage(data=np.ones((8, 10), dtype=np.float32), h5file=path, h5mode="w",
                 meta_data={"identifier": "the image", "pixel size": 1e-7, "time": 1.0}):
        pass
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    panel = window.metadata_panel
    item = panel.table.item(panel.series_row("identifier"), 1)
    assert not item.flags() & QtCore.Qt.ItemFlag.ItemIsEditable
    assert "single image" in panel.series_value_text("identifier")
    assert not panel.edit_series("identifier", "x")
    assert "FLImage" in panel.message.text()
    assert not window.current_document().modified
    assert panel.value_text("identifier") == "the image"


def test_series_edits_of_two_documents_are_separate(qtbot, window, series_path, tmp_path):
    other = tmp_path / "other.h5"
    write_series(other, count=2, seed=2)
    first, second = window.open_paths([series_path, other])
    second.set_series_meta("identifier", "only the second")
    assert first.series_meta("identifier") == SERIES_ID
    assert second.series_meta("identifier") == "only the second"
    assert not first.modified and second.modified
    with pytest.raises(KeyError):
        first.set_series_meta("pixel size", 1e-6)  # a frame key, not a series key


def test_missing_pixel_size_and_time_are_pointed_out(qtbot, window, tmp_path):
    path = tmp_path / "bare.h5"
    with FLSeries(h5file=path, h5mode="w") as series:
        for _ in range(3):
            series.add_flimage(FLImage(data=np.ones((8, 8), dtype=np.float32)))
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    panel = window.metadata_panel
    assert not panel.notice_box.isHidden()
    assert "No pixel size" in panel.notice.text() and "No acquisition time" in panel.notice.text()
    pixel_item = panel.table.item(panel.key_row("pixel size"), 1)
    assert pixel_item.background().color().name() == MISSING_COLOUR
    assert panel.edit("pixel size", "0.2")
    assert "No pixel size" not in panel.notice.text()
    assert "No acquisition time" in panel.notice.text()
    assert pixel_item.background().style() == QtCore.Qt.BrushStyle.NoBrush
    assert panel.edit("time", "3")
    assert panel.notice_box.isHidden()


def test_calibrated_series_has_no_notice(qtbot, window, series_path):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    assert window.metadata_panel.notice_box.isHidden()


@pytest.mark.parametrize(("meta", "expected"), [
    ({"pixel size": 1e-7, "time": 0.0}, []),
    ({"pixel size": 0.0, "time": 5}, ["pixel size"]),
    ({"time": float("nan")}, ["pixel size", "time"]),
    ({"pixel size": "n/a", "time": ""}, ["pixel size", "time"]),
])
def test_missing_calibration_rules(meta, expected):
    assert missing_calibration(meta) == expected


def test_time_and_identifier_edits_change_the_shown_frame_only(qtbot, window, series_path):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    window.browser.set_index(2)
    wait_for_frame(qtbot, window, 2)
    panel = window.metadata_panel
    document = window.current_document()
    assert panel.all_frames_check.isChecked()
    assert panel.edit("time", "100")
    assert panel.edit("identifier", "bright frame")
    assert panel.edit("pixel size", "0.4")  # a property of the whole series: every frame
    assert document.meta_value(2, "time") == 100.0
    assert [document.meta_value(index, "time") for index in (0, 1, 3)] == [0.0, 2.0, 6.0]
    assert document.meta_value(2, "identifier") == "bright frame"
    assert document.meta_value(3, "identifier") == "frame-3"
    assert all(document.pixel_size(index) == pytest.approx(0.4e-6) for index in range(4))
    assert "always change on the frame shown" in panel.all_frames_check.toolTip()


def bare_series(path, count=3):
    with FLSeries(h5file=path, h5mode="w") as series:
        for _ in range(count):
            series.add_flimage(FLImage(data=np.ones((8, 8), dtype=np.float32)))
    return path


def test_notice_buttons_set_pixel_size_and_frame_interval(qtbot, window, tmp_path):
    path = bare_series(tmp_path / "stack.h5", count=4)
    before = file_hash(path)
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    panel = window.metadata_panel
    assert not panel.pixel_size_button.isHidden() and not panel.interval_button.isHidden()
    edited = []
    panel.metadataEdited.connect(edited.append)
    answers = DialogAnswers()
    answers.type_and_press("0.2")
    qtbot.mouseClick(panel.pixel_size_button, QtCore.Qt.MouseButton.LeftButton)
    assert panel.pixel_size_button.isHidden() and not panel.interval_button.isHidden()
    answers.type_and_press("1.5")
    qtbot.mouseClick(panel.interval_button, QtCore.Qt.MouseButton.LeftButton)
    assert edited == ["pixel size", "time"]
    assert [title for title, _width, _minimum in answers.seen] == ["Pixel size",
                                                                   "Frame interval"]
    assert panel.notice_box.isHidden()
    document = window.current_document()
    assert [document.meta_value(index, "time") for index in range(4)] == [0.0, 1.5, 3.0, 4.5]
    assert all(document.pixel_size(index) == pytest.approx(0.2e-6) for index in range(4))
    assert window.image_view.scale_bar.pixel_size == pytest.approx(0.2e-6)
    assert document.modified and file_hash(path) == before


def test_cancelled_or_bad_interval_changes_nothing(qtbot, window, tmp_path):
    window.open_paths([bare_series(tmp_path / "stack.h5")])
    wait_for_frame(qtbot, window, 0)
    panel = window.metadata_panel
    answers = DialogAnswers()
    answers.type_and_press("2", accept=False)
    qtbot.mouseClick(panel.interval_button, QtCore.Qt.MouseButton.LeftButton)
    assert answers.seen and not window.current_document().modified
    assert not panel.set_frame_interval(0.0)
    assert not panel.set_frame_interval(float("nan"))
    assert "positive" in panel.message.text()
    assert not window.current_document().modified
