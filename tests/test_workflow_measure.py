"""Workflow test: a biologist measures two cells over time, with real mouse and key events.

As in ``test_workflow_session``, every step is a QTest click, drag or key press on
the widget the user would touch; only the operating system's file dialogs are
answered by the test.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from PyQt6 import QtCore, QtWidgets
from PyQt6.QtTest import QTest

from flimage_app.model.roi_measure import load_measurement, measure_series
from flimage_app.model.rois import EllipseROI, RectangleROI
from tests.gui_support import answer_message_boxes
from tests.measure_data import INTERVAL, write_cell_series
from tests.test_workflow_session import (
    BUTTONS,
    CTRL,
    LEFT,
    answer_save_dialogs,
    click,
    click_tab,
    drag_on_image,
    make_window,
    press,
    wait_tasks,
)

#: fixtures settings_file, errors
pytest_plugins = ["tests.gui_fixtures"]

FRAMES = 12


def open_with_ctrl_o(qtbot, window, monkeypatch, path) -> None:
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileNames",
                        lambda *args, **kwargs: ([str(path)], ""))
    press(window, QtCore.Qt.Key.Key_O, CTRL)
    qtbot.waitUntil(lambda: window.current_frame() is not None, timeout=5000)


def show_measure_panel(qtbot, window):
    click_tab(window, "Measure")
    panel = window.panel("measure")
    qtbot.waitUntil(panel.isVisible, timeout=3000)
    return panel


def click_plot_point(plot, curve: int, frame: int) -> None:
    point = plot.mapFromScene(plot.scene_position(curve, frame))
    QTest.mouseMove(plot.viewport(), point)
    QTest.mouseClick(plot.viewport(), LEFT, QtCore.Qt.KeyboardModifier.NoModifier, point)


def read_csv(path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads µm²
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_draw_measure_plot_export_save_quit_reopen(qtbot, settings_file, errors, tmp_path,
                                                   monkeypatch):
    series_path = tmp_path / "cells.h5"
    write_cell_series(series_path, count=FRAMES)
    results = tmp_path / "results"
    results.mkdir()
    window = make_window(qtbot)
    open_with_ctrl_o(qtbot, window, monkeypatch, series_path)
    panel = show_measure_panel(qtbot, window)

    # two cells: a rectangle dragged inside cell A, an ellipse inside the second cell
    click(panel.rect_button)
    assert panel.rect_button.isChecked()
    drag_on_image(window, (15, 15), (25, 24))
    qtbot.waitUntil(lambda: panel.state.names == ["1"], timeout=3000)
    click(panel.ellipse_button)
    drag_on_image(window, (50, 17), (60, 27))
    qtbot.waitUntil(lambda: panel.state.names == ["1", "2"], timeout=3000)
    rois = panel.state.rois
    assert isinstance(rois.roi("1"), RectangleROI) and isinstance(rois.roi("2"), EllipseROI)
    assert (rois.roi("1").x, rois.roi("1").y) == pytest.approx((15, 15), abs=1.0)
    assert window.windowTitle().startswith("cells.h5 *")
    # on the image, each outline is in its ROI's colour
    assert [g.item.currentPen.color().name() for g in panel.layer.graphics][0] == \
        panel.state.colour("1")

    # Measure: a worker measures every frame; the traces are the model's numbers
    click(panel.measure_button)
    wait_tasks(qtbot, window)
    qtbot.waitUntil(lambda: panel.state.table is not None, timeout=20_000)
    expected = measure_series(series_path, rois)
    assert [name for name, _ in panel.plot.curves] == ["1", "2"]
    for row, (_name, values) in enumerate(panel.plot.curves):
        np.testing.assert_allclose(values, expected.values["background_corrected"]["mean"][row])
    np.testing.assert_allclose(panel.plot.x, np.arange(FRAMES) * INTERVAL)
    # the stored background (10) is in the raw data, not in the background-corrected data
    np.testing.assert_allclose(expected.values["raw"]["mean"]
                               - expected.values["background_corrected"]["mean"], 10, atol=1e-4)

    # a click on a point of the second trace shows its frame; the marker follows
    click_plot_point(panel.plot, 1, 7)
    qtbot.waitUntil(lambda: window.current_frame().index == 7, timeout=5000)
    assert panel.readout_label.text().startswith("ROI 2, frame 7")
    assert panel.plot.marker.value() == pytest.approx(7 * INTERVAL)

    # CSV long and wide, read back
    titles = answer_save_dialogs(monkeypatch, results / "cells_long.csv")
    click(panel.csv_long_button)
    wait_tasks(qtbot, window)
    answer_save_dialogs(monkeypatch, results / "cells_wide.csv")
    click(panel.csv_wide_button)
    wait_tasks(qtbot, window)
    assert titles == ["Export the measurement as CSV (long)"]
    long_rows = read_csv(results / "cells_long.csv")
    header = long_rows[0]
    row = next(r for r in long_rows[1:] if r[0] == "2" and r[1] == "5"
               and r[3] == "background_corrected")
    assert float(row[header.index("mean")]) == expected.values["background_corrected"][
        "mean"][1, 5]
    assert float(row[header.index("area [µm²]")]) == pytest.approx(
        expected.area_px[1, 5] * 0.04)
    wide_rows = read_csv(results / "cells_wide.csv")
    assert len(wide_rows) == FRAMES + 1
    column = wide_rows[0].index("1: raw sum")
    np.testing.assert_allclose([float(r[column]) for r in wide_rows[1:]],
                               expected.values["raw"]["sum"][0])

    # a third ROI, not measured: Ctrl+Q names the ROIs and what is not measured; Cancel
    click(panel.rect_button)
    drag_on_image(window, (32, 40), (42, 50))
    qtbot.waitUntil(lambda: panel.state.names == ["1", "2", "3"], timeout=3000)
    assert "Changed since: 3" in panel.status_label.text()
    seen: list[str] = []
    stop = answer_message_boxes(BUTTONS.Cancel, seen)
    press(window, QtCore.Qt.Key.Key_Q, CTRL)
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    stop()
    assert len(seen) == 1 and "cells.h5:" in seen[0]
    assert "measurement ROIs 1, 2, 3 (not saved)" in seen[0]
    assert "measurement ROI 3 changed since the last measurement" in seen[0]
    assert "the measurement table (not saved)" in seen[0]
    assert window.isVisible()

    # Ctrl+Z takes the third ROI away; Ctrl+S saves the ROIs and the table in a copy
    press(window, QtCore.Qt.Key.Key_Z, CTRL)
    qtbot.waitUntil(lambda: panel.state.names == ["1", "2"], timeout=3000)
    titles = answer_save_dialogs(monkeypatch, results / "cells_measured.h5")
    press(window, QtCore.Qt.Key.Key_S, CTRL)
    assert titles == ["Save cells.h5 as"]
    assert "*" not in window.windowTitle()
    stored = load_measurement(results / "cells_measured.h5")
    assert stored.roi_names == ["1", "2"]
    np.testing.assert_array_equal(stored.values["raw"]["mean"], expected.values["raw"]["mean"])

    # Ctrl+Q: nothing unsaved, no prompt, the window closes
    seen.clear()
    stop = answer_message_boxes(BUTTONS.Cancel, seen)
    press(window, QtCore.Qt.Key.Key_Q, CTRL)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    stop()
    assert seen == [] and errors == []

    # reopen the saved copy: the ROIs, their traces and the table are there
    again = make_window(qtbot)
    open_with_ctrl_o(qtbot, again, monkeypatch, results / "cells_measured.h5")
    panel = show_measure_panel(qtbot, again)
    assert panel.state.rois == rois
    assert [g.roi.name for g in panel.layer.graphics] == ["1", "2"]
    np.testing.assert_allclose(panel.plot.curves[1][1],
                               expected.values["background_corrected"]["mean"][1])
    model = panel.table.table_model
    assert model.rowCount() == FRAMES
    assert float(model.index(3, 2).data(QtCore.Qt.ItemDataRole.ToolTipRole)) == \
        expected.values["background_corrected"]["mean"][0, 3]
    assert "Measured 2 ROIs on 12 frames" in panel.status_label.text()
    assert "*" not in again.windowTitle()
