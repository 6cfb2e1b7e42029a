"""Measure panel: ROIs drawn and edited, measurement in a worker, traces, table, files."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import h5py
import numpy as np
import pytest
import roifile
from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.measure.measure_panel import MeasurePanel, merged
from flimage_app.gui.measure.measure_session import (
    MeasureSession,
    bleach_sources,
    quantity_values,
)
from flimage_app.gui.measure.table_data import TraceTable
from flimage_app.gui.measure.trace_plot import readable_on_white
from flimage_app.gui.measure_state import MeasureState
from flimage_app.model.bleach import correct_series
from flimage_app.model.roi_measure import MeasureROISet, load_measurement, measure_series
from flimage_app.model.rois import EllipseROI, RectangleROI
from tests.gui_support import wait_for_frame
from tests.measure_data import INTERVAL, SHAPE, cell_rois, write_cell_series

#: fixtures settings_file, errors, window, discard_without_asking
pytest_plugins = ["tests.gui_fixtures"]

FRAMES = 8


@pytest.fixture(autouse=True)
def discard_unsaved_work(discard_without_asking):
    """Closing the window discards ROIs and tables drawn (no modal prompt)."""


@pytest.fixture
def series_path(tmp_path):
    path = tmp_path / "cells.h5"
    write_cell_series(path, count=FRAMES)
    return path


@pytest.fixture
def panel(qtbot, window, series_path):
    measure_panel = MeasurePanel(window)
    window.add_panel("measure", measure_panel, "Measure")
    window.resize(1300, 850)
    window.show()
    qtbot.waitExposed(window)
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    window.show_panel("measure")
    qtbot.waitUntil(measure_panel.isVisible, timeout=3000)
    return measure_panel


def measure(qtbot, panel):
    task = panel.measure()
    assert task is not None
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    QtWidgets.QApplication.processEvents()
    assert panel.state.table is not None
    return panel.state.table


def add_cells(panel) -> list[str]:
    return [panel.add_roi(roi) for roi in cell_rois()]


# ----------------------------------------------------------------- registration

def test_the_panel_is_registered_as_an_optional_panel(qtbot, settings_file, errors):
    from flimage_app.gui.main_window import OPTIONAL_PANELS, MainWindow

    assert OPTIONAL_PANELS["measure"] == ("flimage_app.gui.measure.measure_panel",
                                          "MeasurePanel", "Measure")
    main_window = MainWindow()
    qtbot.addWidget(main_window, before_close_func=lambda widget: widget.shutdown())
    assert isinstance(main_window.panel("measure"), MeasurePanel)
    assert "Measure" in [main_window.panel_tabs.tabText(i)
                         for i in range(main_window.panel_tabs.count())]


# ----------------------------------------------------------------- drawing and editing

def test_drawn_rois_are_numbered_and_outlined_in_their_colour(qtbot, panel):
    panel.pick_tool("rectangle")
    panel.tool.press(4, 4)
    panel.tool.move(14, 12)
    panel.tool.release(14, 12)
    panel.pick_tool("ellipse")
    panel.tool.press(30, 10)
    panel.tool.release(42, 24)
    state = panel.state
    assert state.names == ["1", "2"]
    assert state.rois.roi("1") == RectangleROI(4, 4, 10, 8, name="1")
    assert isinstance(state.rois.roi("2"), EllipseROI)
    assert [panel.roi_list.item(i).text() for i in range(panel.roi_list.count())] == ["1", "2"]
    pens = [graphic.item.currentPen.color().name() for graphic in panel.layer.graphics]
    # the ROI drawn last is selected (thicker) and every outline is in the ROI's own colour
    assert pens == [state.colour("1"), state.colour("2")]
    assert panel.session.selected_name() == "2"
    state.set_colour("1", "#ff00ff")
    assert panel.layer.graphics[0].item.currentPen.color().name() == "#ff00ff"
    assert panel.layer.graphics[0].label.textItem.toPlainText() == "1"
    # Edit ▸ Undo takes the colour back, then the ellipse away
    state.history.undo()
    state.history.undo()
    assert state.names == ["1"] and len(panel.layer.graphics) == 1


def test_rename_through_the_list_and_a_taken_name_is_refused(qtbot, window, panel):
    add_cells(panel)
    item = panel.roi_list.item(1)
    item.setText("nucleus")
    qtbot.waitUntil(lambda: panel.state.names[1] == "nucleus", timeout=3000)
    panel.roi_list.item(2).setText("nucleus")
    qtbot.waitUntil(lambda: "already" in window.statusBar().currentMessage(), timeout=3000)
    assert panel.state.names == ["cell A", "nucleus", "2"]
    assert panel.roi_list.item(2).text() == "2"


def test_delete_key_in_the_list_and_the_delete_button(qtbot, panel):
    add_cells(panel)
    panel.session.select(0)
    panel.delete_button.click()
    assert panel.state.names == ["1", "2"]
    panel.roi_list.setFocus()
    panel.session.select(1)
    QtWidgets.QApplication.sendEvent(panel.roi_list, QtGui.QKeyEvent(
        QtCore.QEvent.Type.KeyPress, QtCore.Qt.Key.Key_Delete,
        QtCore.Qt.KeyboardModifier.NoModifier))
    assert panel.state.names == ["1"]


def test_a_roi_moved_on_one_frame_only(qtbot, window, panel):
    add_cells(panel)
    panel.session.select(1)
    window.browser.set_index(3)
    wait_for_frame(qtbot, window, 3)
    assert not panel.frame_only_check.isChecked()
    panel.frame_only_check.setChecked(True)
    shared = panel.state.rois.roi("1")
    assert panel.session.moved_here("1")
    panel.session.move_selected(5, 0)
    panel.session.move_selected(2, 0)
    assert panel.state.rois.roi("1", 3) == replace(shared, x=shared.x + 7)
    assert panel.state.rois.roi("1", 2) == shared
    assert panel.layer.graphics[1].roi == replace(shared, x=shared.x + 7)
    assert panel.roi_list.item(1).font().italic()
    # on another frame the shared position is shown, and moves go to every frame
    window.browser.set_index(2)
    wait_for_frame(qtbot, window, 2)
    assert panel.layer.graphics[1].roi == shared and not panel.frame_only_check.isChecked()
    # back on frame 3: untick takes the shared position again (one undo step each)
    window.browser.set_index(3)
    wait_for_frame(qtbot, window, 3)
    panel.session.select(1)
    assert panel.frame_only_check.isChecked()
    panel.frame_only_check.setChecked(False)
    assert panel.state.rois.overrides == {}
    panel.state.history.undo()
    assert panel.state.rois.roi("1", 3).x == shared.x + 7


def test_hidden_panel_leaves_the_image_to_the_other_panels(qtbot, window, panel):
    add_cells(panel)
    assert len(panel.layer.graphics) == 3
    window.show_panel("metadata")
    qtbot.waitUntil(lambda: not panel.isVisible(), timeout=3000)
    assert panel.layer.graphics == [] and not panel.tool.active
    panel.state.history.undo()  # an edit while hidden draws nothing on the image
    assert panel.layer.graphics == []
    window.show_panel("measure")
    qtbot.waitUntil(panel.isVisible, timeout=3000)
    assert [g.roi.name for g in panel.layer.graphics] == ["cell A", "1"]


# ----------------------------------------------------------------- measuring

def test_traces_and_table_are_the_models_numbers(qtbot, window, panel, series_path):
    add_cells(panel)
    assert panel.measure_button.isEnabled()
    table = measure(qtbot, panel)
    expected = measure_series(series_path, panel.state.rois, baseline=[0, 1, 2])
    assert table.data_sets == ["raw", "background_corrected"]
    # the plot: one curve per ROI in its colour, x in seconds
    np.testing.assert_allclose(panel.plot.x, np.arange(FRAMES) * INTERVAL)
    for (name, values), row in zip(panel.plot.curves, range(3), strict=True):
        assert name == expected.roi_names[row]
        np.testing.assert_allclose(values, expected.values["background_corrected"]["mean"][row])
    colours = [item.opts["pen"].color().name() for item in panel.plot._items]
    assert colours == [readable_on_white(panel.state.colour(n)).name()
                       for n in panel.state.names]
    # the table: frames down, ROIs across, the same numbers
    model = panel.table.table_model
    assert model.rowCount() == FRAMES and model.columnCount() == 5
    assert [model.headerData(c, QtCore.Qt.Orientation.Horizontal) for c in range(5)] == \
        ["frame", "time [s]", "cell A", "1", "2"]
    assert float(model.index(4, 3).data(QtCore.Qt.ItemDataRole.ToolTipRole)) == \
        expected.values["background_corrected"]["mean"][1, 4]
    # raw data and another quantity
    panel.data_combo.setCurrentIndex(panel.data_combo.findData("raw"))
    panel.quantity_combo.setCurrentIndex(panel.quantity_combo.findData("sum"))
    np.testing.assert_allclose(panel.plot.curves[2][1], expected.values["raw"]["sum"][2])
    # F/F0 over the baseline typed (the table follows without a new measurement)
    panel.quantity_combo.setCurrentIndex(panel.quantity_combo.findData("F/F0"))
    np.testing.assert_allclose(panel.plot.curves[0][1], expected.normalised("raw")["F/F0"][0])
    assert panel.set_baseline("0")
    assert panel.state.table.baseline == [0]
    np.testing.assert_allclose(panel.plot.curves[0][1][0], 1.0)
    panel.quantity_combo.setCurrentIndex(panel.quantity_combo.findData("dF/F0"))
    raw = expected.values["raw"]["mean"]
    np.testing.assert_allclose(panel.plot.curves[1][1], raw[1] / raw[1, 0] - 1.0)
    # without baseline frames there is no F/F0 to plot: the plot says what to do
    assert panel.set_baseline("")
    assert panel.plot.curves == [] and "baseline" in panel.plot.message.toPlainText()
    assert not panel.set_baseline("0-99")
    assert "beyond" in window.statusBar().currentMessage()
    assert "Measured 3 ROIs on 8 frames" in panel.status_label.text()
    assert "No background" not in panel.status_label.text()  # this series stores one


def test_editing_after_measuring_names_the_rois_to_measure_again(qtbot, panel):
    add_cells(panel)
    measure(qtbot, panel)
    assert "Measure again" not in panel.status_label.text()
    panel.session.select(2)
    panel.session.move_selected(1, 1)
    assert "Changed since: 2 — Measure again" in panel.status_label.text()
    # a renamed ROI keeps its colour in the plot until measured again under its new name
    colour = panel.state.colour("1")
    panel.state.rename_roi("1", "nucleus")
    assert panel.plot._items[1].opts["pen"].color().name() == \
        readable_on_white(colour).name()
    panel.session.select(0)
    panel.delete_button.click()
    assert "Removed since: cell A." in panel.status_label.text()
    assert panel.plot.curves[0][0] == "cell A"  # its trace stays until measured again
    assert panel.plot._items[0].opts["pen"].color().name() == "#999999"
    assert "measurement ROIs nucleus, 2 changed since the last measurement" in \
        panel.document.unsaved_work()


def test_without_rois_there_is_nothing_to_measure(qtbot, panel):
    assert not panel.measure_button.isEnabled()
    assert panel.measure() is None
    assert not panel.csv_long_button.isEnabled()
    assert "draw on a cell" in panel.status_label.text()


def test_measuring_can_be_cancelled(qtbot, window, panel, monkeypatch):
    add_cells(panel)
    task = panel.measure()
    task.cancel()
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    assert panel.state.table is None and panel.measure_button.isEnabled()


def test_a_click_on_a_trace_point_shows_its_frame_and_hover_reads_it_out(qtbot, window,
                                                                        panel):
    add_cells(panel)
    measure(qtbot, panel)
    QtWidgets.QApplication.processEvents()
    plot = panel.plot
    scene = plot.scene_position(2, 5)
    viewport_point = plot.mapFromScene(scene)
    QtCore.QCoreApplication.processEvents()
    from PyQt6.QtTest import QTest

    QTest.mouseMove(plot.viewport(), viewport_point)
    qtbot.waitUntil(lambda: panel.readout_label.text().startswith("ROI 2, frame 5"),
                    timeout=3000)
    assert "(t = 10 s)" in panel.readout_label.text()
    QTest.mouseClick(plot.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     QtCore.Qt.KeyboardModifier.NoModifier, viewport_point)
    wait_for_frame(qtbot, window, 5)
    assert plot.marker.isVisible() and plot.marker.value() == pytest.approx(10.0)
    assert panel.table.table_model.current_row == 5


def test_frame_index_on_x_when_frames_have_no_time(qtbot, window, tmp_path):
    path = tmp_path / "untimed.h5"
    write_cell_series(path, count=4, times=False, stored_background=False)
    measure_panel = MeasurePanel(window)
    window.add_panel("measure", measure_panel, "Measure")
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    measure_panel.add_roi(RectangleROI(10, 10, 5, 5))
    measure(qtbot, measure_panel)
    np.testing.assert_allclose(measure_panel.plot.x, [0, 1, 2, 3])
    assert measure_panel.plot.x_label == "frame"
    assert "No background is stored in the frames" in measure_panel.status_label.text()


def test_ctrl_c_copies_the_selection_with_headers(qtbot, panel):
    add_cells(panel)
    table = measure(qtbot, panel)
    view = panel.table
    selection = QtCore.QItemSelection(view.table_model.index(2, 3), view.table_model.index(3, 4))
    view.selectionModel().select(selection, QtCore.QItemSelectionModel.SelectionFlag.Select)
    view.setFocus()
    QtWidgets.QApplication.clipboard().clear()
    from PyQt6.QtTest import QTest

    QTest.keyClick(view, QtCore.Qt.Key.Key_C, QtCore.Qt.KeyboardModifier.ControlModifier)
    text = QtWidgets.QApplication.clipboard().text()
    rows = [line.split("\t") for line in text.splitlines()]
    assert rows[0] == ["frame", "1: Background-corrected Mean", "2: Background-corrected Mean"]
    means = table.values["background_corrected"]["mean"]
    assert rows[1] == ["2", repr(float(means[1, 2])), repr(float(means[2, 2]))]
    assert rows[2] == ["3", repr(float(means[1, 3])), repr(float(means[2, 3]))]
    panel.copy_button.click()
    assert len(QtWidgets.QApplication.clipboard().text().splitlines()) == FRAMES + 1


def test_trace_table_text():
    table = TraceTable([0.0, 2.0, np.nan], ["a", "b"], np.array([[1.5, np.nan, 3.0],
                                                                  [4.0, 5.0, 6.0]]), "Mean")
    # row 1 of "a" is NaN: an empty cell; cells not chosen are empty, frames never
    assert table.tsv([(0, 0), (1, 2), (0, 3)]) == "frame\ta: Mean\tb: Mean\n0\t\t4.0\n1\t\t\n"
    assert table.text(2, 1) == "" and table.text(1, 2) == "" and table.text(0, 2) == "1.5"
    assert table.tsv([]) == ""
    assert table.tsv().splitlines()[0] == "frame\ttime [s]\ta: Mean\tb: Mean"
    with pytest.raises(ValueError):
        TraceTable([0.0], ["a"], np.zeros((2, 1)))


# ----------------------------------------------------------------- bleach-corrected data

def test_an_open_corrected_copy_is_measured_as_bleach_corrected(qtbot, window, panel,
                                                               series_path, tmp_path):
    add_cells(panel)
    corrected = tmp_path / "cells_bleachcorr.h5"
    correct_series(series_path, corrected, "exp", background="stored")
    window.open_paths([corrected])
    wait_for_frame(qtbot, window, 0)
    window.set_current_document(window.documents[0])
    wait_for_frame(qtbot, window, 0)
    labels = [panel.bleach_combo.itemText(i) for i in range(panel.bleach_combo.count())]
    assert labels == ["None", "Corrected series cells_bleachcorr.h5"]
    panel.bleach_combo.setCurrentIndex(1)
    table = measure(qtbot, panel)
    expected = measure_series(series_path, panel.state.rois, corrected=corrected)
    np.testing.assert_allclose(table.values["bleach_corrected"]["mean"],
                               expected.values["bleach_corrected"]["mean"])
    assert panel.data_combo.model().item(2).isEnabled()
    panel.data_combo.setCurrentIndex(2)
    np.testing.assert_allclose(panel.plot.curves[0][1],
                               expected.values["bleach_corrected"]["mean"][0])
    assert "bleach-corrected" in panel.status_label.text()


def test_the_bleach_panels_fit_is_offered(series_path):
    from flimage_app.gui.document import Document
    from flimage_app.model.loader import open_series

    series = open_series(series_path)
    document = Document(series, "cells.h5", str(series_path), "FLSeries")
    try:
        result = correct_series(series, None, "exp", background="stored")
        fit = type("Fitted", (), {"showing_provenance": False, "corrected": [],
                                  "current_result": lambda self, edits: result})()
        document.panel_state["bleach"] = fit
        sources = bleach_sources(document, [document])
        assert [s.key for s in sources] == ["none", "fit"]
        assert sources[1].options == {"bleach": result}
        histogram = replace(result, method="histogram")
        fit.current_result = lambda edits: histogram
        assert [s.key for s in bleach_sources(document, [document])] == ["none"]
    finally:
        document.close()


# ----------------------------------------------------------------- files

def test_fiji_roiset_export_and_import(qtbot, window, panel, tmp_path, errors):
    add_cells(panel)
    target = tmp_path / "RoiSet.zip"
    assert panel.export_rois(target)
    written = roifile.roiread(target)
    assert [roi.name for roi in written] == ["cell A", "1", "2"]
    # importing adds them after the ROIs there; taken names become the next numbers
    assert panel.import_rois(target)
    assert panel.state.names == ["cell A", "1", "2", "3", "4", "5"]
    panel.state.history.undo()
    assert panel.state.names == ["cell A", "1", "2"]
    single = tmp_path / "one.roi"
    panel.session.select(1)
    assert panel.export_rois(single)
    assert roifile.ImagejRoi.fromfile(single).name == "1"
    assert not panel.export_rois(target)  # exists: never replaced unasked
    assert errors[-1][0] == "Export ROIs" and "exists" in errors[-1][1]
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    assert not panel.import_rois(broken)
    title, message = errors[-1]
    assert title == "Import ROIs" and "broken.zip" in message and "\n" not in message


def test_merged_keeps_per_frame_positions_of_imported_rois():
    current = MeasureROISet.numbered([RectangleROI(0, 0, 2, 2)])
    imported = MeasureROISet(rois=(RectangleROI(5, 5, 2, 2, name="1"),),
                             overrides={2: {"1": RectangleROI(6, 5, 2, 2, name="1")}})
    result = merged(current, imported)
    assert result.names == ["1", "2"] and result.roi("2", 2).x == 6
    assert merged(MeasureROISet(), imported) is imported


def test_csv_long_and_wide_with_the_overwrite_question(qtbot, window, panel, tmp_path,
                                                       monkeypatch, errors):
    add_cells(panel)
    table = measure(qtbot, panel)
    long_path, wide_path = tmp_path / "long.csv", tmp_path / "wide.csv"
    answers = iter([str(long_path), str(wide_path), str(long_path), str(long_path)])
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (next(answers), "CSV table, UTF-8 (*.csv)"))
    asked = []
    replace_it = iter([False, True])
    monkeypatch.setattr(window, "confirm_overwrite",
                        lambda path: asked.append(path) or next(replace_it))
    panel.csv_long_button.click()
    qtbot.waitUntil(lambda: not window._tasks and long_path.exists(), timeout=10_000)
    panel.csv_wide_button.click()
    qtbot.waitUntil(lambda: not window._tasks and wide_path.exists(), timeout=10_000)
    assert long_path.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(long_path.read_text(encoding="utf-8-sig"))))
    assert rows[0][:6] == ["roi", "frame", "time [s]", "data", "area [px]", "area [µm²]"]
    assert len(rows) == 1 + 3 * FRAMES * 2
    wide = list(csv.reader(io.StringIO(wide_path.read_text(encoding="utf-8-sig"))))
    assert len(wide) == 1 + FRAMES and "cell A: background_corrected mean" in wide[0]
    column = wide[0].index("2: raw mean")
    assert float(wide[3][column]) == table.values["raw"]["mean"][2, 2]
    # the existing file: "No" keeps it, "Yes" replaces it
    before = long_path.read_bytes()
    long_path.write_text("mine")
    assert panel.export_csv(wide=False) is None
    assert long_path.read_text() == "mine" and asked == [str(long_path)]
    panel.export_csv(wide=False)
    qtbot.waitUntil(lambda: not window._tasks and long_path.read_bytes() == before,
                    timeout=10_000)
    assert errors == []


def test_saving_stores_rois_and_table_and_reopening_restores_them(qtbot, window, panel,
                                                                 tmp_path):
    add_cells(panel)
    table = measure(qtbot, panel)
    document = panel.document
    assert document.modified
    saved = tmp_path / "saved.h5"
    assert window._save_to(document, str(saved), overwrite=False)
    assert not document.modified and "*" not in window.windowTitle()
    stored = load_measurement(saved)
    np.testing.assert_array_equal(stored.values["raw"]["mean"], table.values["raw"]["mean"])
    window.close_document(document)
    window.open_paths([saved])
    wait_for_frame(qtbot, window, 0)
    assert panel.state.names == ["cell A", "1", "2"]
    np.testing.assert_array_equal(panel.state.table.values["raw"]["mean"],
                                  table.values["raw"]["mean"])
    assert len(panel.plot.curves) == 3 and panel.table.table_model.rowCount() == FRAMES
    assert not window.current_document().modified


def test_a_damaged_stored_measurement_is_named_not_fatal(qtbot, window, tmp_path, errors):
    path = tmp_path / "damaged.h5"
    write_cell_series(path, count=3)
    state = MeasureState()
    for roi in cell_rois():
        state.add_roi(roi)
    state.set_table(measure_series(path, state.rois))
    with h5py.File(path, "a") as root:
        state.write(root)
        del root["flimage_app/measurement/raw/mean"]
        root["flimage_app/measurement/raw/mean"] = np.zeros((2, 3))
    measure_panel = MeasurePanel(window)
    window.add_panel("measure", measure_panel, "Measure")
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    message = window.statusBar().currentMessage()
    assert message.startswith("Stored measurement not restored:") and "shape" in message
    assert measure_panel.state.table is None and errors == []


def test_quantity_values_of_areas(series_path):
    rois = MeasureROISet.numbered([RectangleROI(0, 0, 4, 5)])
    table = measure_series(series_path, rois)
    np.testing.assert_array_equal(quantity_values(table, "raw", "area_px"), 20)
    np.testing.assert_allclose(quantity_values(table, "raw", "area_um2"),
                               20 * (0.2 ** 2))
    session = MeasureSession(MeasureState(table=table, rois=rois))
    session.set_display(quantity="area_um2")
    assert session.series_values()["axis_label"] == "Area [µm²]"
    with pytest.raises(ValueError):
        session.set_display(data="corrected")


def test_shape_of_the_frames_follows(qtbot, window, panel):
    assert panel.frame_shape() == SHAPE


def test_an_imported_tiff_stack_is_measured_and_its_file_recorded(qtbot, window, tmp_path):
    from tests.test_workflow_session import write_cells_tiff

    path = tmp_path / "cells.tif"
    stack = write_cells_tiff(path)
    measure_panel = MeasurePanel(window)
    window.add_panel("measure", measure_panel, "Measure")
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    measure_panel.add_roi(RectangleROI(60, 30, 10, 8))
    table = measure(qtbot, measure_panel)
    np.testing.assert_allclose(table.values["raw"]["mean"][0],
                               stack[:, 30:38, 60:70].reshape(len(stack), -1).mean(axis=1))
    assert table.record["input"]["file"] == "cells.tif"
    np.testing.assert_allclose(measure_panel.plot.x, np.arange(len(stack)) * 2.0)


def test_arrow_keys_move_the_selected_roi_and_a_table_row_shows_its_frame(qtbot, window,
                                                                         panel):
    from PyQt6.QtTest import QTest

    add_cells(panel)
    measure(qtbot, panel)
    panel.session.select(0)
    before = panel.state.rois.roi("cell A")
    # the progress dialog of the measurement may have taken the activation: give it back
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window, timeout=5000)
    graphics = window.image_view.graphics
    graphics.setFocus()
    QTest.keyClick(graphics, QtCore.Qt.Key.Key_Right)
    QTest.keyClick(graphics, QtCore.Qt.Key.Key_Down, QtCore.Qt.KeyboardModifier.ShiftModifier)
    after = panel.state.rois.roi("cell A")
    assert (after.x, after.y) == (before.x + 1, before.y + 10)
    assert window.current_frame().index == 0  # the arrows moved the ROI, not the frame
    assert panel.state.history.undo_text == "Move measurement ROI cell A"
    # nothing selected: the arrows step frames again
    QTest.keyClick(graphics, QtCore.Qt.Key.Key_Escape)
    assert panel.session.selected is None
    QTest.keyClick(graphics, QtCore.Qt.Key.Key_Right)
    wait_for_frame(qtbot, window, 1)
    # a click on a row of the table shows that frame
    view = panel.table
    rect = view.visualRect(view.table_model.index(4, 2))
    QTest.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     QtCore.Qt.KeyboardModifier.NoModifier, rect.center())
    wait_for_frame(qtbot, window, 4)


def test_a_series_never_measured_is_saved_without_measurement_data(qtbot, window, panel,
                                                                  tmp_path):
    saved = tmp_path / "untouched.h5"
    assert window._save_to(panel.document, str(saved), overwrite=False)
    with h5py.File(saved, "r") as root:
        assert "measure_rois" not in root.get("flimage_app", {})
    # ROIs saved once, then all removed: the next copy keeps no stale set
    panel.add_roi(RectangleROI(2, 2, 4, 4))
    first = tmp_path / "with_roi.h5"
    assert window._save_to(panel.document, str(first), overwrite=False)
    window.close_document(panel.document)
    window.open_paths([first])
    wait_for_frame(qtbot, window, 0)
    assert panel.state.names == ["1"]
    panel.session.select(0)
    panel.delete_button.click()
    second = tmp_path / "without.h5"
    assert window._save_to(panel.document, str(second), overwrite=False)
    with h5py.File(second, "r") as root:
        assert "measure_rois" not in root["flimage_app"]


def test_a_task_that_ends_at_once_is_not_left_in_the_windows_list(qtbot, window,
                                                                  monkeypatch):
    """A quick export (a CSV) could end before the window listened for its end: it stayed
    listed as running for ever (and whoever waits for the window's tasks waited too)."""
    from flimage_app.gui.workers import Task

    monkeypatch.setattr(Task, "start", Task.run)  # ends before start() returns
    done = []
    task = window.run_task("Quick", lambda progress, cancel: 42, done.append)
    assert done == [42] and task.is_done()
    assert window._tasks == []


@pytest.mark.parametrize("size", [(1024, 700), (1400, 900)])
def test_the_panel_fits_a_laptop_window_without_horizontal_scrolling(qtbot, window, panel,
                                                                      size):
    window.resize(*size)
    qtbot.wait(50)
    window.show_panel("metadata")
    window.show_panel("measure")  # the pane makes room for the panel in front
    add_cells(panel)
    panel.add_roi(RectangleROI(1, 1, 4, 4, name="a cell with a long name"))
    measure(qtbot, panel)
    qtbot.wait(100)
    page = window.panel_tabs.currentWidget()
    assert page.widget() is panel
    assert not page.horizontalScrollBar().isVisible()
    assert panel.width() <= page.viewport().width()
    for button in panel.findChildren(QtWidgets.QAbstractButton):
        if button.isVisibleTo(panel):
            assert button.width() >= button.minimumSizeHint().width(), button.text()
            assert button.geometry().right() <= button.parentWidget().width(), button.text()
    # the image keeps at least half of what is left beside the series list
    assert window.splitter.sizes()[1] >= 0.4 * size[0] - 100


def test_measure_panel_screenshot_renders(qtbot, tmp_path, monkeypatch):
    from flimage_app.gui import main
    from flimage_app.gui.app import SETTINGS_ENV

    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "settings.ini"))
    target = tmp_path / "shot.png"
    assert main([], demo=True, screenshot=str(target), panel="measure") == 0
    assert target.read_bytes()[:4] == b"\x89PNG"


def test_trace_plot_picks_the_nearest_point_and_drops_the_legend_of_many_rois(qtbot):
    from flimage_app.gui.measure.trace_plot import MAX_LEGEND_ENTRIES, TracePlot

    plot = TracePlot()
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    plot.show()
    qtbot.waitExposed(plot)
    x = np.arange(50) * 0.5
    plot.set_traces(x, "time [s]", [("a", "#e69f00", np.sin(x)), ("b", "#56b4e9", np.cos(x)),
                                    ("c", "#ffffff", np.full(50, np.nan))], "Mean")
    QtWidgets.QApplication.processEvents()
    assert plot.legend.isVisible()
    for curve, frame in ((0, 7), (1, 31)):
        assert plot.nearest_point(plot.scene_position(curve, frame)) == (curve, frame)
    # far from every point: nothing is picked
    assert plot.nearest_point(plot.plot_item.getViewBox().mapViewToScene(
        QtCore.QPointF(12, 40))) is None
    # a white ROI is drawn dark enough to be seen on the white plot
    assert readable_on_white("#ffffff").lightness() < 128
    many = [(str(n), "#009e73", np.full(50, float(n))) for n in range(MAX_LEGEND_ENTRIES + 1)]
    plot.set_traces(x, "time [s]", many, "Mean")
    assert not plot.legend.isVisible()


def test_the_qt_free_parts_import_no_qt():
    import subprocess
    import sys

    code = ("import sys, flimage_app.gui.measure.measure_session, "
            "flimage_app.gui.measure.table_data; "
            "assert not [m for m in sys.modules if m.startswith(('PyQt', 'pyqtgraph'))]")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_short_series_gets_a_baseline_it_has(qtbot, window, tmp_path):
    from flimage_app.gui.measure.measure_session import default_baseline

    assert [default_baseline(n) for n in (0, 1, 2, 3, 50)] == ["", "0", "0-1", "0-2", "0-2"]
    path = tmp_path / "two.h5"
    write_cell_series(path, count=2)
    measure_panel = MeasurePanel(window)
    window.add_panel("measure", measure_panel, "Measure")
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    assert measure_panel.baseline_edit.text() == "0-1"
    measure_panel.add_roi(RectangleROI(10, 10, 5, 5))
    assert measure(qtbot, measure_panel).baseline == [0, 1]


def test_each_series_keeps_its_own_rois_and_choices(qtbot, window, panel, tmp_path):
    add_cells(panel)
    panel.quantity_combo.setCurrentIndex(panel.quantity_combo.findData("max"))
    other = tmp_path / "other.h5"
    write_cell_series(other, count=3)
    window.open_paths([other])
    wait_for_frame(qtbot, window, 0)
    assert panel.state.names == [] and panel.layer.graphics == []
    assert panel.quantity_combo.currentData() == "mean"
    panel.add_roi(RectangleROI(1, 1, 3, 3))
    window.set_current_document(window.documents[0])
    wait_for_frame(qtbot, window, 0)
    assert panel.state.names == ["cell A", "1", "2"]
    assert panel.quantity_combo.currentData() == "max"
    assert [g.roi.name for g in panel.layer.graphics] == ["cell A", "1", "2"]


def test_colour_dialog_and_roi_export_dialog(qtbot, window, panel, tmp_path, monkeypatch):
    add_cells(panel)
    panel.session.select(1)
    monkeypatch.setattr(QtWidgets.QColorDialog, "getColor",
                        lambda *args, **kwargs: QtGui.QColor("#123456"))
    panel.colour_button.click()
    assert panel.state.colour("1") == "#123456"
    assert panel.layer.graphics[1].item.currentPen.color().name() == "#123456"
    target = tmp_path / "cells_rois"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *args, **kwargs: (
        str(target), "flimage-app measurement ROIs (*.json)"))
    panel.export_button.click()
    from flimage_app.model.roi_measure import load_measure_rois

    assert load_measure_rois(tmp_path / "cells_rois.json") == panel.state.rois
