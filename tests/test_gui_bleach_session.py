"""The bleach panel in a biologist's session: real clicks and keys, several series, results.

Settings stay with their series across switches, *Correct series* opens an
unsaved result whose panel shows its provenance, the legend names only real
fits, and the panel fits a 1024×700 window.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui, QtWidgets
from PyQt6.QtTest import QTest

from flimage_app.gui import scratch
from flimage_app.gui.bleach.bleach_state import METHOD_LABELS, BleachSettings
from flimage_app.model import FLImage, FLSeries
from flimage_app.model.bleach import correct_series
from flimage_app.model.demo import demo_series_path
from flimage_app.model.rois import EllipseROI, RectangleROI

pytest_plugins = ["tests.gui_fixtures"]

LEFT = QtCore.Qt.MouseButton.LeftButton


@pytest.fixture
def session(qtbot, settings_file, errors):
    """A main window with the Background and Bleach panels, shown at 1400×900."""
    from flimage_app.gui.main_window import MainWindow

    window = MainWindow()
    window.resize(1400, 900)

    def before_close(widget) -> None:
        panel = widget.panel("bleach")
        qtbot.waitUntil(lambda: not panel.busy, timeout=15_000)
        widget.shutdown()

    qtbot.addWidget(window, before_close_func=before_close)
    window.show()
    qtbot.waitExposed(window)
    window.show_panel("bleach")
    return window


@pytest.fixture
def two_series(tmp_path):
    """Two copies of the demo series in their own folder."""
    folder = tmp_path / "data"
    folder.mkdir()
    paths = [folder / "cells_a.h5", folder / "cells_b.h5"]
    for path in paths:
        shutil.copy(demo_series_path(), path)
    return paths


def bleach(window):
    return window.panel("bleach")


def wait_shown(qtbot, panel) -> None:
    """Wait until the panel shows an outcome of the settings on display."""
    qtbot.waitUntil(lambda: not panel.busy and panel.outcome is not None
                    and (panel.showing_provenance
                         or panel.outcome.settings == panel.settings()), timeout=20_000)


def click_series(qtbot, window, row: int) -> None:
    """Click row `row` of the list of open series, as a user does."""
    series_list = window.series_list
    rect = series_list.visualItemRect(series_list.item(row))
    QTest.mouseClick(series_list.viewport(), LEFT, pos=rect.center())
    qtbot.waitUntil(lambda: window.current_document() is window.documents[row], timeout=5000)


def type_into_combo(qtbot, combo: QtWidgets.QComboBox, text: str) -> None:
    """Focus `combo` and type the start of an item, as a keyboard user picks a choice."""
    combo.setFocus()
    qtbot.waitUntil(combo.hasFocus, timeout=2000)
    QTest.keyClicks(combo, text)


def draw_rois(window) -> None:
    """A background band along the top and one cell excluded from it (the signal)."""
    background = window.panel("background")
    background.add_roi(RectangleROI(0, 0, 256, 24, role="include"))
    background.add_roi(EllipseROI(120, 60, 70, 60, role="exclude"))


def half_life_text(panel) -> str:
    status = panel.status_label.text()
    assert "half-life" in status, status
    return status[status.index("half-life"):]


# ---------------------------------------------------------------------- settings stay
def test_settings_and_half_life_stay_with_their_series(qtbot, session, two_series):
    window, panel = session, bleach(session)
    window.open_paths(two_series)
    click_series(qtbot, window, 0)
    draw_rois(window)
    qtbot.waitUntil(lambda: panel.masks.signal is not None
                    and panel.masks.background is not None, timeout=5000)
    type_into_combo(qtbot, panel.region_combo, "Signal")
    type_into_combo(qtbot, panel.background_combo, "Background")
    qtbot.waitUntil(lambda: panel.settings().background == "mask", timeout=3000)
    wait_shown(qtbot, panel)
    settings_a, outcome_a = panel.settings(), panel.outcome
    assert (settings_a.region, settings_a.background) == ("signal", "mask")
    expected = correct_series(two_series[0], None, "exp", region="signal", background="mask",
                              signal_mask=panel.masks.signal,
                              background_mask=panel.masks.background)
    np.testing.assert_allclose(outcome_a.result.intensity, expected.intensity)
    text_a = half_life_text(panel)

    click_series(qtbot, window, 1)
    wait_shown(qtbot, panel)
    assert panel.settings() == BleachSettings()
    assert panel.region_combo.currentData() == "frame"
    assert panel.background_combo.currentData() == "border"

    click_series(qtbot, window, 0)
    wait_shown(qtbot, panel)
    assert panel.settings() == settings_a
    assert panel.region_combo.currentData() == "signal"
    assert panel.background_combo.currentData() == "mask"
    # the very fit shown before: no new fit ran, nothing changed silently
    assert panel.outcome is outcome_a
    assert half_life_text(panel) == text_a
    assert "Set background to Background ROIs" == window.documents[0].history.undo_text
    assert not window.documents[1].history.can_undo or \
        "Set" not in window.documents[1].history.undo_text


def test_undo_of_a_setting_moves_the_widgets_back(qtbot, session, two_series):
    window, panel = session, bleach(session)
    window.open_paths(two_series[:1])
    wait_shown(qtbot, panel)
    first = panel.outcome
    type_into_combo(qtbot, panel.method_combo, "S")  # Simple ratio (Fiji)
    qtbot.waitUntil(lambda: panel.settings().method == "ratio", timeout=3000)
    wait_shown(qtbot, panel)
    history = window.current_document().history
    assert history.undo_text == "Set method to ratio"
    history.undo()
    assert panel.method_combo.currentData() == "exp"
    wait_shown(qtbot, panel)
    assert panel.outcome.settings.method == "exp"
    np.testing.assert_allclose(panel.outcome.result.correction, first.result.correction)
    history.redo()
    assert panel.method_combo.currentData() == "ratio"


# ---------------------------------------------------------------------- results
def test_correct_series_opens_an_unsaved_result_showing_its_provenance(qtbot, session,
                                                                       two_series,
                                                                       monkeypatch):
    window, panel = session, bleach(session)
    window.open_paths(two_series[:1])
    source = window.current_document()
    type_into_combo(qtbot, panel.method_combo, "B")  # Bi-exponential + offset
    qtbot.waitUntil(lambda: panel.settings().method == "biexp", timeout=3000)
    wait_shown(qtbot, panel)
    source_outcome, source_settings = panel.outcome, panel.settings()
    source_text = half_life_text(panel)

    QTest.mouseClick(panel.correct_button, LEFT)
    qtbot.waitUntil(lambda: len(window.documents) == 2, timeout=30_000)
    result = window.current_document()
    assert result.name == "cells_a_bleachcorr"
    assert result.temporary_path is not None
    assert scratch.scratch_folder() in Path(result.temporary_path).parents
    assert result.unsaved_work() == ["the series itself (made in this session and never saved)"]
    assert result.title.endswith("*")
    wait_shown(qtbot, panel)

    # the corrected series shows how it was made, not a failed fit of its flat trace
    assert panel.showing_provenance
    assert not panel.provenance_box.isHidden()
    assert "bleach correction (Bi-exponential + offset) of cells_a.h5" in \
        panel.provenance_label.text()
    status = panel.status_label.text()
    assert "No correction" not in status and "b00020" not in panel.status_label.styleSheet()
    assert status.startswith("Recorded correction:")
    assert half_life_text(panel) == source_text
    np.testing.assert_allclose(panel.outcome.result.intensity, source_outcome.result.intensity)
    r_squared = source_outcome.result.report.r_squared
    assert panel.plots.legend_texts() == ["measured", f"fit (R² {r_squared:.4f})"]
    assert not panel.plots.message.isVisible()
    # its exports are there; correcting it again is an explicit choice
    for action in (panel.export_curves_action, panel.export_report_action,
                   panel.export_png_action, panel.export_svg_action,
                   panel.export_h5_action, panel.export_tiff_action):
        assert action.isEnabled(), action.text()
    assert not panel.correct_button.isEnabled() and not panel.preview_button.isEnabled()
    assert not panel.again_button.isChecked()

    target = two_series[0].parent / "from_result_curves.csv"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(target), ""))
    panel.export_curves_csv()
    with open(target, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    np.testing.assert_allclose([float(row[3]) for row in rows], source_outcome.result.intensity)

    # the source kept its settings and its fit
    click_series(qtbot, window, 0)
    wait_shown(qtbot, panel)
    assert window.current_document() is source
    assert panel.settings() == source_settings
    assert panel.method_combo.currentData() == "biexp"
    assert panel.outcome is source_outcome
    assert not panel.showing_provenance and panel.provenance_box.isHidden()

    # and the result is still shown as recorded when one comes back to it
    click_series(qtbot, window, 1)
    wait_shown(qtbot, panel)
    assert panel.showing_provenance and half_life_text(panel) == source_text


def test_correct_again_is_a_choice_and_undoable(qtbot, session, two_series):
    window, panel = session, bleach(session)
    window.open_paths(two_series[:1])
    wait_shown(qtbot, panel)
    QTest.mouseClick(panel.correct_button, LEFT)
    qtbot.waitUntil(lambda: len(window.documents) == 2, timeout=30_000)
    wait_shown(qtbot, panel)
    assert panel.settings_box.isHidden()
    QTest.mouseClick(panel.again_button, LEFT)
    assert not panel.showing_provenance and not panel.settings_box.isHidden()
    wait_shown(qtbot, panel)
    assert "Recorded" not in panel.status_label.text()
    window.current_document().history.undo()
    wait_shown(qtbot, panel)
    assert panel.showing_provenance and panel.status_label.text().startswith("Recorded")


# ---------------------------------------------------------------------- legend
@pytest.mark.parametrize("method", list(METHOD_LABELS))
def test_legend_names_a_fit_only_for_fitted_methods(qtbot, session, two_series, method):
    window, panel = session, bleach(session)
    window.open_paths(two_series[:1])
    wait_shown(qtbot, panel)
    if method != panel.settings().method:
        type_into_combo(qtbot, panel.method_combo, METHOD_LABELS[method][0])
        qtbot.waitUntil(lambda: panel.settings().method == method, timeout=3000)
        wait_shown(qtbot, panel)
    if panel.outcome.result is None:  # flimage's strict check may refuse the demo's fit
        assert panel.plots.legend_texts() == ["measured"]
        return
    legend = panel.plots.legend_texts()
    if method in ("ratio", "histogram"):
        assert legend == ["measured"]
    else:
        r_squared = panel.outcome.result.report.r_squared
        assert legend == ["measured", f"fit (R² {r_squared:.4f})"]


@pytest.fixture
def flat_series(tmp_path):
    path = tmp_path / "flat.h5"
    rng = np.random.default_rng(1)
    with FLSeries(h5file=path, h5mode="w") as series:
        for index in range(12):
            series.add_flimage(FLImage(data=100.0 + rng.normal(0, 1, (48, 48)),
                                       meta_data={"time": 1.5 * index}))
    return path


def test_failed_fit_says_so_in_words_not_with_a_fit_entry(qtbot, session, flat_series):
    window, panel = session, bleach(session)
    window.open_paths([flat_series])
    type_into_combo(qtbot, panel.background_combo, "C")  # constant level: no decay at all
    qtbot.waitUntil(lambda: panel.settings().background == "constant", timeout=3000)
    wait_shown(qtbot, panel)
    assert panel.outcome.result is None
    assert panel.plots.legend_texts() == ["measured"]
    assert panel.plots.message.isVisible()
    assert "fit failed" in panel.plots.message.toPlainText()


# ---------------------------------------------------------------------- layout
def _inside(widget: QtWidgets.QWidget, viewport: QtWidgets.QWidget) -> bool:
    top_left = widget.mapTo(viewport, QtCore.QPoint(0, 0))
    return (top_left.x() >= 0 and top_left.y() >= 0
            and top_left.x() + widget.width() <= viewport.width()
            and top_left.y() + widget.height() <= viewport.height())


def _labels_fit(panel) -> bool:
    """True when no left-axis label runs out of its plot or into another plot's label."""
    rects = []
    for plot, shown in zip(panel.plots.plots, panel.plots.shown_left_labels(), strict=True):
        if not shown:
            continue
        label = plot.getAxis("left").label.sceneBoundingRect()
        # the text item's own margin may stick out a few pixels; the text may not
        plot_rect = plot.vb.sceneBoundingRect().adjusted(0, -4, 0, 4)
        if label.top() < plot_rect.top() or label.bottom() > plot_rect.bottom():
            return False
        rects.append(label)
    return not any(first.intersects(second) for number, first in enumerate(rects)
                   for second in rects[number + 1:])


@pytest.mark.parametrize("pane_width", [None, 310])
def test_panel_fits_a_laptop_window_before_and_after_correcting(qtbot, session, two_series,
                                                                pane_width):
    window, panel = session, bleach(session)
    window.resize(1024, 700)
    if pane_width is not None:  # the side pane as narrow as a restored session left it
        QtWidgets.QApplication.processEvents()
        left, centre, right = window.splitter.sizes()
        window.splitter.setSizes([left, centre + right - pane_width, pane_width])
    window.open_paths(two_series[:1])
    wait_shown(qtbot, panel)
    page = window._panel_pages["bleach"]
    for shown in ("source", "result", "result corrected again"):
        QtWidgets.QApplication.processEvents()
        qtbot.waitUntil(lambda: _labels_fit(panel), timeout=3000)
        assert not page.horizontalScrollBar().isVisible(), shown
        for widget in (panel.correct_button, panel.preview_button, panel.export_button,
                       panel.batch_button, panel.copy_button):
            assert _inside(widget, page.viewport()), (shown, widget.text())
            text_width = widget.fontMetrics().horizontalAdvance(widget.text())
            assert widget.width() >= text_width, (shown, widget.text())  # not cut off
        if shown == "source":
            QTest.mouseClick(panel.correct_button, LEFT)
            qtbot.waitUntil(lambda: len(window.documents) == 2, timeout=30_000)
            wait_shown(qtbot, panel)
        elif shown == "result":
            QTest.mouseClick(panel.again_button, LEFT)
            wait_shown(qtbot, panel)


def test_batch_dialog_is_wide_enough_for_its_title(qtbot, session, two_series, monkeypatch):
    from flimage_app.gui.batch import batch_dialog

    window, panel = session, bleach(session)
    window.open_paths(two_series[:1])
    wait_shown(qtbot, panel)
    opened = []
    monkeypatch.setattr(batch_dialog.BatchDialog, "exec", lambda dialog: opened.append(dialog))
    QTest.mouseClick(panel.batch_button, LEFT)
    assert len(opened) == 1
    dialog = opened[0]
    title_width = QtGui.QFontMetrics(dialog.font()).horizontalAdvance(dialog.windowTitle())
    assert dialog.minimumWidth() >= title_width + 100
    assert dialog.recipe["method"] == "exp"


def test_progress_dialog_is_wide_enough_for_its_title(qtbot, session, two_series,
                                                      monkeypatch):
    import threading

    from flimage_app.gui.bleach import bleach_outputs

    window, panel = session, bleach(session)
    window.open_paths(two_series[:1])
    wait_shown(qtbot, panel)
    release, real = threading.Event(), bleach_outputs.correct_series

    def held(*args, **kwargs):
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(bleach_outputs, "correct_series", held)
    QTest.mouseClick(panel.correct_button, LEFT)
    dialogs = window.findChildren(QtWidgets.QProgressDialog)
    try:
        assert dialogs
        for dialog in dialogs:
            title_width = QtGui.QFontMetrics(dialog.font()).horizontalAdvance(
                dialog.windowTitle())
            assert dialog.minimumWidth() >= title_width + 100, dialog.windowTitle()
    finally:
        release.set()
    qtbot.waitUntil(lambda: len(window.documents) == 2, timeout=30_000)


def test_settings_survive_save_as_and_are_named_before(qtbot, session, two_series):
    window, panel = session, bleach(session)
    window.open_paths(two_series[:1])
    wait_shown(qtbot, panel)
    document = window.current_document()
    assert document.unsaved_work() == []
    type_into_combo(qtbot, panel.method_combo, "H")  # Histogram matching
    qtbot.waitUntil(lambda: panel.settings().method == "histogram", timeout=3000)
    wait_shown(qtbot, panel)
    assert document.unsaved_work() == ["bleach-correction settings (Histogram matching)"]
    copy = two_series[0].parent / "saved_copy.h5"
    document.save_copy(copy)
    assert document.unsaved_work() == []
    window.open_paths([copy])
    wait_shown(qtbot, panel)
    assert window.current_document().name == "saved_copy.h5"
    assert panel.method_combo.currentData() == "histogram"
    assert window.current_document().unsaved_work() == []


def test_tab_runs_through_the_panel_and_leaves_it(qtbot, session, two_series):
    window, panel = session, bleach(session)
    window.open_paths(two_series[:1])
    wait_shown(qtbot, panel)
    panel.method_combo.setFocus()
    qtbot.waitUntil(panel.method_combo.hasFocus, timeout=2000)
    visited = []
    for _press in range(20):
        widget = QtWidgets.QApplication.focusWidget()
        if not panel.isAncestorOf(widget):
            break
        visited.append(widget)
        QTest.keyClick(widget, QtCore.Qt.Key.Key_Tab)
    else:
        pytest.fail("Tab never left the bleach panel")
    for widget in (panel.region_combo, panel.background_combo, panel.border_spin,
                   panel.copy_button, panel.preview_button, panel.correct_button,
                   panel.export_button, panel.batch_button):
        assert widget in visited, widget
    assert panel.plots not in visited  # no stop where keys do nothing
    assert visited.index(panel.preview_button) < visited.index(panel.batch_button)


def test_a_malformed_recorded_correction_is_reported_in_a_dialog(qtbot, tmp_path):
    """A corrected file whose record the reading boundary refuses: one dialog, panel usable."""
    import h5py

    from flimage_app.gui.main_window import MainWindow
    from tests.gui_support import write_series

    path = tmp_path / "odd.h5"
    write_series(path, count=4)
    with h5py.File(path, "a") as h5:
        group = h5.require_group("flimage_app").require_group("provenance")
        group.attrs["record"] = '{"operation": "bleach correction", "method": 5}'
    window = MainWindow()
    qtbot.addWidget(window)
    reported = []
    window.report_error = lambda title, message: reported.append((title, message))
    window.open_paths([path])
    qtbot.waitUntil(lambda: window.current_frame() is not None, timeout=5000)
    window.show_panel("bleach")
    qtbot.waitUntil(lambda: bool(reported), timeout=5000)
    title, message = reported[-1]
    assert title == "Recorded correction" and "odd.h5" in message and "\n" not in message
    assert window.panel("bleach").state is not None
