"""The session as a whole: documents own their unsaved work and history, one prompt names
what a close would lose, results are documents, File ▸ Export, the Edit menu."""

from __future__ import annotations

import csv
import hashlib
import os
import pathlib

import h5py
import numpy as np
import pytest
import tifffile
from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui import scratch
from flimage_app.gui.document import Document
from flimage_app.gui.export import formats
from flimage_app.gui.export.exporter import TIFF_FLOAT_FILTER, tiff_integer_filter
from flimage_app.gui.menus import assign_mnemonics
from flimage_app.gui.unsaved_prompt import PROMPT_NAME, describe_unsaved
from flimage_app.model import FLSeries
from flimage_app.model.bleach import correct_series
from flimage_app.model.loader import file_kind, open_series
from flimage_app.model.rois import RectangleROI, ROISet, read_roiset, write_roiset
from flimage_app.model.tiffio import imagej_integer
from tests.gui_support import answer_message_boxes, wait_for_frame, write_series

#: fixtures settings_file, errors, window
pytest_plugins = ["tests.gui_fixtures"]

BUTTONS = QtWidgets.QMessageBox.StandardButton


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def series_path(tmp_path):
    path = tmp_path / "cells.h5"
    write_series(path, count=6)
    return path


@pytest.fixture
def document(qtbot, series_path):
    opened = Document(open_series(series_path), "cells.h5", str(series_path), "FLSeries")
    yield opened
    opened.close()


@pytest.fixture
def corrected_path(tmp_path, series_path):
    """A bleach-corrected series written by the model (as the Bleach panel writes it)."""
    target = tmp_path / "results" / "cells_bleachcorr.h5"
    target.parent.mkdir()
    with open_series(series_path) as series:
        correct_series(series, target, method="exp", border_px=4)
    return target


class PanelState:
    """A panel's Qt-free state as the document protocol describes it."""

    def __init__(self) -> None:
        self.unsaved = ["2 background ROIs"]
        self.saved_calls = 0

    def unsaved_work(self) -> list[str]:
        return list(self.unsaved)

    def mark_saved(self) -> None:
        self.saved_calls += 1
        self.unsaved = []


# ---------------------------------------------------------------------- the document
def test_metadata_edits_are_history_steps_that_undo_and_redo(document):
    changes = []
    document.metadata_changed.connect(changes.append)
    document.set_meta("pixel size", 0.5e-6, list(range(6)))
    document.set_interval(3.0)
    document.set_series_meta("identifier", "dish 2")
    assert document.history.undo_text == "Edit series identifier"
    assert changes == [{"pixel size"}, {"time"}, {"series identifier"}]

    document.history.undo()
    assert document.series_meta("identifier") is None
    document.history.undo()
    assert document.meta_value(2, "time") == 4.0  # the file's time again
    assert document.history.undo_text == "Edit pixel size"
    document.history.undo()
    assert document.pixel_size(0) == pytest.approx(0.25e-6)
    assert not document.modified and document.unsaved_work() == []
    assert changes[-3:] == [{"series identifier"}, {"time"}, {"pixel size"}]

    document.history.redo()
    document.history.redo()
    assert document.pixel_size(3) == pytest.approx(0.5e-6)
    assert document.meta_value(2, "time") == 6.0
    assert document.unsaved_work() == ["metadata edits of 6 frame(s)"]


def test_an_edit_that_changes_nothing_is_no_step(document):
    document.set_meta("time", 2.0, [1])  # frame 1 already has t = 2 s ... as an edit it is new
    steps = document.history.undo_text
    document.set_meta("time", 2.0, [1])  # the same edit again changes nothing
    assert document.history.undo_text == steps
    document.history.undo()
    assert not document.history.can_undo


def test_save_marks_history_clean_and_tells_panel_states(document, tmp_path):
    state = PanelState()
    document.panel_state["background"] = state
    document.set_meta("pixel size", 0.5e-6, [0])
    assert document.unsaved_work() == ["metadata edits of 1 frame(s)", "2 background ROIs"]
    assert document.title == "cells.h5 *"
    events = []
    document.changed.connect(lambda: events.append("changed"))
    document.save_copy(tmp_path / "saved.h5")
    assert state.saved_calls == 1 and document.history.is_clean
    assert document.unsaved_work() == [] and document.title == "cells.h5"
    assert events  # the window's marks follow
    document.history.undo()  # back before the save: unsaved again
    assert document.modified and not document.history.is_clean


def test_export_copy_leaves_the_work_unsaved(document, tmp_path):
    state = PanelState()
    document.panel_state["background"] = state
    document.set_meta("pixel size", 0.5e-6, [0])
    formats.export_hdf5(document, tmp_path / "copy.h5")
    assert state.saved_calls == 0 and document.modified and document.saved_path is None
    with FLSeries(h5file=tmp_path / "copy.h5", h5mode="r") as copy:
        assert copy[0]["pixel size"] == pytest.approx(0.5e-6)


def test_rois_written_by_a_panel_survive_save_as_of_every_kind_of_document(qtbot, tmp_path,
                                                                          series_path):
    roiset = ROISet(rois=(RectangleROI(2, 3, 10, 6, role="include", name="bg"),))
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.arange(2 * 8 * 9, dtype=np.uint16).reshape(2, 8, 9))
    with pytest.warns(Warning):
        tiff_series = open_series(stack)
    cases = [(open_series(series_path), str(series_path), "FLSeries"),
             (tiff_series, str(stack), "stack")]
    for number, (series, source, kind) in enumerate(cases):
        opened = Document(series, os.path.basename(source), source, kind)
        opened.app_data_writers.append(lambda root: write_roiset(root, roiset))
        target = tmp_path / f"saved{number}.h5"
        opened.save_copy(target)
        opened.close()
        with open_series(target) as reopened:
            assert read_roiset(reopened.h5) == roiset


def test_a_result_is_unsaved_until_saved_and_its_scratch_file_goes_on_close(tmp_path,
                                                                           corrected_path):
    scratch_file = scratch.scratch_path("cells_bleachcorr.h5")
    scratch_file.write_bytes(corrected_path.read_bytes())
    result = Document(open_series(scratch_file), "cells_bleachcorr", None,
                      file_kind(scratch_file), temporary_path=scratch_file)
    assert result.is_result
    assert result.unsaved_work() == ["the series itself (made in this session and never "
                                     "saved)"]
    assert result.provenance()["operation"] == "bleach correction"
    with pytest.raises(ValueError, match="not allowed"):
        result.save_copy(scratch_file, overwrite=True)
    saved = result.save_copy(tmp_path / "kept.h5")
    assert not result.modified
    result.close()
    assert not scratch_file.exists() and not scratch_file.parent.exists()
    assert read_provenance_method(saved) == "exp"
    scratch.remove_scratch_folder()


def read_provenance_method(path) -> str:
    from flimage_app.model.provenance import read_provenance

    return read_provenance(path)["method"]


def test_stale_scratch_folders_of_dead_apps_are_removed(tmp_path):
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead = tmp_path / f"{scratch.PREFIX}{finished.stdout.strip()}-abc"
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "result.h5").write_bytes(b"x" * 100)
    alive = tmp_path / f"{scratch.PREFIX}{os.getpid()}-def"
    alive.mkdir()
    other = tmp_path / "unrelated-folder"
    other.mkdir()
    assert scratch.remove_stale_folders(tmp_path) == [dead]
    assert not dead.exists() and alive.exists() and other.exists()


def test_app_start_removes_stale_scratch_folders(qtbot, settings_file, tmp_path, monkeypatch):
    from flimage_app.gui import main

    removed = []
    monkeypatch.setattr(scratch, "remove_stale_folders",
                        lambda *args: removed.append("called") or [])
    assert main([], screenshot=tmp_path / "shot.png") == 0
    assert removed == ["called"]


# ---------------------------------------------------------------------- the prompt
def test_prompt_text_names_the_work_of_each_series(document, tmp_path):
    document.set_meta("pixel size", 0.5e-6, [0, 1])
    document.panel_state["background"] = PanelState()
    text = describe_unsaved([document])
    assert text.splitlines() == ["cells.h5:", "  • metadata edits of 2 frame(s)",
                                 "  • 2 background ROIs"]


def open_and_edit(qtbot, window, path):
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    assert window.metadata_panel.set_pixel_size(0.5)
    return window.current_document()


def test_close_series_asks_once_and_cancel_keeps_it(qtbot, window, series_path):
    document = open_and_edit(qtbot, window, series_path)
    seen = []
    stop = answer_message_boxes(BUTTONS.Cancel, seen)
    window.close_action.trigger()
    stop()
    assert len(seen) == 1 and "cells.h5:" in seen[0] and "metadata edits of 6" in seen[0]
    assert window.current_document() is document

    stop = answer_message_boxes(BUTTONS.Discard, seen)
    window.close_action.trigger()
    stop()
    assert len(seen) == 2 and window.documents == []


def test_save_in_the_prompt_saves_then_closes(qtbot, window, series_path, tmp_path,
                                              monkeypatch):
    open_and_edit(qtbot, window, series_path)
    target = tmp_path / "saved.h5"
    asked = []
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: asked.append(args[1]) or (str(target), ""))
    stop = answer_message_boxes(BUTTONS.Save)
    window.close_action.trigger()
    stop()
    assert asked == ["Save cells.h5 as"] and window.documents == []
    with FLSeries(h5file=target, h5mode="r") as saved:
        assert saved[3]["pixel size"] == pytest.approx(0.5e-6)


def test_save_cancelled_in_its_dialog_cancels_the_close(qtbot, window, series_path,
                                                        monkeypatch):
    open_and_edit(qtbot, window, series_path)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: ("", ""))
    stop = answer_message_boxes(BUTTONS.Save)
    window.close_action.trigger()
    stop()
    assert len(window.documents) == 1 and window.current_document().modified


def test_quit_asks_once_for_every_series_and_a_clean_series_closes_silently(
        qtbot, window, series_path, tmp_path):
    other = tmp_path / "other.h5"
    write_series(other, count=3, seed=1)
    window.open_paths([other])
    open_and_edit(qtbot, window, series_path)
    seen = []
    stop = answer_message_boxes(BUTTONS.Cancel, seen)
    assert not window.close()
    stop()
    assert len(seen) == 1 and "cells.h5:" in seen[0] and "other.h5" not in seen[0]
    assert "Quitting" in seen[0] and len(window.documents) == 2

    window.set_current_document(window.documents[0])  # other.h5: nothing unsaved
    stop = answer_message_boxes(BUTTONS.Cancel, seen)
    window.close_action.trigger()
    stop()
    assert len(seen) == 1 and len(window.documents) == 1


def test_prompt_is_a_message_box_with_save_discard_cancel(qtbot, window, series_path):
    open_and_edit(qtbot, window, series_path)
    found = {}

    def inspect(box):
        found["name"] = box.objectName()
        found["buttons"] = box.standardButtons()
        found["default"] = box.defaultButton() is box.button(BUTTONS.Save)
        return BUTTONS.Cancel

    stop = answer_message_boxes(inspect)
    window.close_action.trigger()
    stop()
    assert found["name"] == PROMPT_NAME and found["default"]
    assert found["buttons"] == BUTTONS.Save | BUTTONS.Discard | BUTTONS.Cancel


def test_result_series_is_marked_unsaved_in_title_and_list(qtbot, window, corrected_path):
    with open_series(corrected_path) as _check:
        pass
    document = window.add_series(open_series(corrected_path), "cells_bleachcorr")
    wait_for_frame(qtbot, window, 0)
    assert window.windowTitle().startswith("cells_bleachcorr *")
    assert window.series_list.item(0).text() == "cells_bleachcorr *"
    seen = []
    stop = answer_message_boxes(BUTTONS.Cancel, seen)
    window.close_action.trigger()
    stop()
    assert "the series itself" in seen[0] and window.current_document() is document


# ---------------------------------------------------------------------- Edit menu, menus
def test_edit_menu_names_the_step_and_follows_the_series_in_front(qtbot, window, series_path,
                                                                  tmp_path):
    other = tmp_path / "other.h5"
    write_series(other, count=3, seed=1)
    window.open_paths([other])
    open_and_edit(qtbot, window, series_path)
    assert window.undo_action.isEnabled()
    assert window.undo_action.text() == "&Undo Edit pixel size"
    window.set_current_document(window.documents[0])
    assert not window.undo_action.isEnabled() and window.undo_action.text() == "&Undo"
    window.set_current_document(window.documents[1])
    window.undo_action.trigger()
    assert window.metadata_panel.value_text("pixel size") == "0.25"
    assert window.series_list.item(1).text() == "cells.h5"
    assert window.redo_action.text() == "&Redo Edit pixel size"
    assert [key.toString() for key in window.redo_action.shortcuts()] == ["Ctrl+Shift+Z",
                                                                         "Ctrl+Y"]
    assert window.undo_action.shortcut().toString() == "Ctrl+Z"
    window.redo_action.trigger()
    assert window.metadata_panel.value_text("pixel size") == "0.5"
    assert window.image_view.pixel_size == pytest.approx(0.5e-6)


def all_actions(menu: QtWidgets.QMenu):
    for action in menu.actions():
        if action.isSeparator():
            continue
        yield menu, action
        if action.menu() is not None and action.menu().title() != "Open &Recent":
            yield from all_actions(action.menu())


def test_every_menu_and_item_has_its_own_mnemonic(window):
    titles = [action.text() for action in window.menuBar().actions()]
    assert titles == ["&File", "&Edit", "&View", "F&rame", "&Panels", "&Help"]
    letters: dict[int, list[str]] = {}
    for menu, action in all_actions(window.menuBar()):
        text = action.text().replace("&&", "")
        assert "&" in text, f"{text!r} has no mnemonic"
        letters.setdefault(id(menu), []).append(text[text.index("&") + 1].lower())
    for used in letters.values():
        assert len(used) == len(set(used)), used


def test_assign_mnemonics_keeps_given_ones_and_picks_free_letters():
    menu = QtWidgets.QMenu()
    menu.addAction("&Save")
    menu.addAction("Show all")
    menu.addAction("Set")
    assign_mnemonics(menu)
    assert [action.text() for action in menu.actions()] == ["&Save", "Show &all", "S&et"]


def test_a_panel_action_never_silences_a_menu_shortcut(qtbot, window, series_path, caplog):
    from PyQt6.QtTest import QTest

    panel = QtWidgets.QWidget()
    own_undo = QtGui.QAction("Undo", panel)
    own_undo.setShortcuts([QtGui.QKeySequence("Ctrl+Z"), QtGui.QKeySequence("Alt+U")])
    fired = []
    own_undo.triggered.connect(lambda: fired.append("panel"))
    window.addAction(own_undo)
    with caplog.at_level("WARNING"):
        window.add_panel("fake", panel, "Fake")
    assert [key.toString() for key in own_undo.shortcuts()] == ["Alt+U"]
    assert "'Undo' of QWidget gives up Ctrl+Z to the menu item 'Undo'" in caplog.text
    window.show()
    open_and_edit(qtbot, window, series_path)
    window.activateWindow()
    assert QTest.qWaitForWindowActive(window, 3000)
    QTest.keyClick(window, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert window.metadata_panel.value_text("pixel size") == "0.25" and fired == []


def test_menus_list_their_shortcuts(window):
    shortcuts = {action.text(): action.shortcut().toString()
                 for _menu, action in all_actions(window.menuBar())}
    assert shortcuts["&Quit"] == "Ctrl+Q" and shortcuts["&Undo"] == "Ctrl+Z"
    assert shortcuts["ImageJ &TIFF stack…"] == "Ctrl+E"


# ---------------------------------------------------------------------- export
def save_dialog_answers(monkeypatch, path, chosen_filter=""):
    calls = []

    def answer(_parent, title, proposal, filters, **kwargs):
        calls.append((title, proposal, filters.split(";;")))
        return str(path), chosen_filter or filters.split(";;")[0]

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", answer)
    return calls


def run_export(qtbot, task):
    assert task is not None
    qtbot.waitUntil(task.is_done, timeout=20_000)
    QtWidgets.QApplication.processEvents()


def test_imagej_integer_rounds_half_up_and_clips_like_fiji():
    values = np.array([[-3.0, 0.49, 0.5, 1.5, 2.5], [65534.6, 70000.0, np.nan, np.inf, 7.2]])
    np.testing.assert_array_equal(imagej_integer(values, "uint16"),
                                  [[0, 0, 1, 2, 3], [65535, 65535, 0, 65535, 7]])
    np.testing.assert_array_equal(imagej_integer(values, "uint8")[1], [255, 255, 0, 255, 7])


def test_export_tiff_in_the_input_type_with_unsaved_edits(qtbot, window, tmp_path,
                                                         monkeypatch):
    stack = (np.arange(3 * 8 * 10).reshape(3, 8, 10) * 100).astype(np.uint16)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack, imagej=True, metadata={"axes": "TYX"})
    window.open_paths([source])
    wait_for_frame(qtbot, window, 0)
    window.metadata_panel.set_pixel_size(0.2)
    window.metadata_panel.set_frame_interval(1.5)
    target = tmp_path / "out" / "stack_16bit.tif"
    target.parent.mkdir()
    calls = save_dialog_answers(monkeypatch, target, tiff_integer_filter("uint16"))
    run_export(qtbot, window.exporter.export_tiff())
    assert calls[0][2] == [TIFF_FLOAT_FILTER, tiff_integer_filter("uint16")]
    with tifffile.TiffFile(target) as tif:
        data = tif.asarray()
        assert data.dtype == np.uint16
        np.testing.assert_array_equal(data, stack)
        assert tif.imagej_metadata["finterval"] == pytest.approx(1.5)
        x_resolution = tif.pages[0].tags["XResolution"].value
        assert x_resolution[0] / x_resolution[1] == pytest.approx(5.0, rel=1e-4)
    assert window.current_document().modified  # an export is no save

    float_target = tmp_path / "out" / "stack_float.tif"
    save_dialog_answers(monkeypatch, float_target)
    run_export(qtbot, window.exporter.export_tiff())
    assert tifffile.imread(float_target).dtype == np.float32


def test_export_never_replaces_a_file_unasked_nor_the_input(qtbot, window, series_path,
                                                           tmp_path, monkeypatch, errors):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    target = tmp_path / "kept.tif"
    target.write_bytes(b"keep me")
    save_dialog_answers(monkeypatch, target)
    asked = []
    monkeypatch.setattr(window, "confirm_overwrite", lambda path: asked.append(path) or False)
    assert window.exporter.export_tiff() is None
    assert target.read_bytes() == b"keep me" and asked == [str(target)]

    monkeypatch.setattr(window, "confirm_overwrite", lambda path: True)
    run_export(qtbot, window.exporter.export_tiff())
    assert tifffile.imread(target).shape == (6, 32, 40)

    before = digest(series_path)
    save_dialog_answers(monkeypatch, series_path)
    assert window.exporter.export_hdf5() is None
    assert digest(series_path) == before and "never overwritten" in errors[-1][1]


def test_export_of_a_corrected_series_every_format(qtbot, window, corrected_path, tmp_path,
                                                  monkeypatch):
    window.add_series(open_series(corrected_path), "cells_bleachcorr")
    wait_for_frame(qtbot, window, 0)
    for name, action in window.export_actions.items():
        assert action.isEnabled(), name
    out = tmp_path / "out"
    out.mkdir()

    save_dialog_answers(monkeypatch, out / "curves.csv")
    run_export(qtbot, window.exporter.export_curves_csv())
    with open(out / "curves.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["frame", "time [s]", "intensity"]
    assert "correction factor" in rows[0] and len(rows) == 1 + 6
    np.testing.assert_allclose([float(row[1]) for row in rows[1:]], 2.0 * np.arange(6))

    save_dialog_answers(monkeypatch, out / "report.csv")
    run_export(qtbot, window.exporter.export_report_csv())
    with open(out / "report.csv", newline="") as handle:
        report = {row[0]: row for row in csv.reader(handle)}
    assert report["method"][1] == "exp" and "half-life" in report and "R²" in report

    save_dialog_answers(monkeypatch, out / "copy.h5")
    run_export(qtbot, window.exporter.export_hdf5())
    assert read_provenance_method(out / "copy.h5") == "exp"
    assert window.current_document().modified

    save_dialog_answers(monkeypatch, out / "frame")
    run_export(qtbot, window.exporter.export_png())
    picture = QtGui.QImage(str(out / "frame.png"))
    assert not picture.isNull() and picture.width() >= 40 and picture.height() >= 32


def test_csv_export_needs_a_corrected_series(qtbot, window, series_path):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    assert not window.export_actions["curves"].isEnabled()
    assert window.export_actions["tiff"].isEnabled() and window.export_actions["png"].isEnabled()


def test_png_export_shows_the_scale_bar(qtbot, window, series_path, tmp_path, monkeypatch):
    window.resize(900, 700)
    window.show()
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    qtbot.waitUntil(lambda: window.image_view.scale_bar.bar.isVisible(), timeout=3000)
    save_dialog_answers(monkeypatch, tmp_path / "frame.png")
    run_export(qtbot, window.exporter.export_png())
    picture = QtGui.QImage(str(tmp_path / "frame.png")).convertToFormat(
        QtGui.QImage.Format.Format_RGB32)
    # the bar is pure white; the synthetic image in the default grey map never reaches it
    # in its bottom-right corner, where the bar sits
    width, height = picture.width(), picture.height()
    corner = [QtGui.QColor(picture.pixel(x, y)).getRgb()[:3]
              for x in range(width * 2 // 3, width) for y in range(height * 2 // 3, height)]
    assert (255, 255, 255) in corner
    np_frame = np.asarray(window.current_frame().raw)
    assert width >= np_frame.shape[1] and height >= np_frame.shape[0]


def test_export_runs_in_a_worker_and_can_be_cancelled(qtbot, window, series_path, tmp_path,
                                                      monkeypatch):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    target = tmp_path / "cancelled.tif"
    save_dialog_answers(monkeypatch, target)
    started = []
    original = formats.export_tiff

    def slow(document, path, **options):
        started.append(QtCore.QThread.currentThread()
                       is not QtWidgets.QApplication.instance().thread())
        cancel = options["cancel"]
        qtbot_wait = 0
        while not cancel() and qtbot_wait < 500:
            QtCore.QThread.msleep(10)
            qtbot_wait += 1
        return original(document, path, **options)

    monkeypatch.setattr(formats, "export_tiff", slow)
    task = window.exporter.export_tiff()
    qtbot.waitUntil(lambda: bool(started), timeout=5000)
    task.cancel()
    qtbot.waitUntil(task.is_done, timeout=10_000)
    assert started == [True] and not target.exists()
    assert not list(tmp_path.glob(".cancelled.tif.*"))


def test_h5_unchanged_by_every_export(qtbot, window, series_path, tmp_path, monkeypatch):
    before = digest(series_path)
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    for method, name in ((window.exporter.export_hdf5, "a.h5"),
                         (window.exporter.export_tiff, "a.tif"),
                         (window.exporter.export_png, "a.png")):
        save_dialog_answers(monkeypatch, tmp_path / name)
        run_export(qtbot, method())
        assert (tmp_path / name).exists()
    with h5py.File(tmp_path / "a.h5", "r"):
        pass
    assert digest(series_path) == before


def test_series_list_tooltip_names_the_unsaved_work(qtbot, window, series_path):
    open_and_edit(qtbot, window, series_path)
    tooltip = window.series_list.item(0).toolTip()
    assert str(series_path) in tooltip and "not saved: metadata edits of 6 frame(s)" in tooltip
    window.undo_action.trigger()
    assert "not saved" not in window.series_list.item(0).toolTip()


def test_getting_started_covers_background_bleach_undo_and_export():
    from flimage_app.gui.widgets.dialogs import GETTING_STARTED_HTML

    for topic in ("Background", "Bleach correction", "Correct series", "Edit ▸ Undo",
                  "Ctrl+Y", "File ▸ Export", "ImageJ TIFF", "CSV", "PNG", "scale bar"):
        assert topic in GETTING_STARTED_HTML, topic


def test_export_tiff_refuses_an_unknown_sample_type(document, tmp_path):
    with pytest.raises(ValueError, match="sample type"):
        formats.export_tiff(document, tmp_path / "x.tif", dtype="int32")
    assert not (tmp_path / "x.tif").exists()


def test_a_result_is_never_saved_over_the_file_it_is_read_from(qtbot, corrected_path):
    before = digest(corrected_path)
    result = Document(open_series(corrected_path), "cells_bleachcorr")
    with pytest.raises(ValueError, match="not allowed"):
        result.save_copy(corrected_path, overwrite=True)
    result.close()
    assert digest(corrected_path) == before



def test_the_tests_never_touch_the_users_settings(tmp_path):
    """A test that forgets the settings_file fixture still gets a file of its own."""
    from flimage_app.gui.app import SETTINGS_ENV, make_settings

    assert SETTINGS_ENV == "FLIMAGE_APP_SETTINGS"  # the name tests/conftest.py sets
    assert make_settings().fileName() == str(tmp_path / "settings.ini")


def test_a_first_start_on_a_small_screen_is_maximised_so_the_status_bar_stays_on_screen(
        qtbot, monkeypatch):
    from PyQt6 import QtCore

    from flimage_app.gui import main_window as module

    available = QtCore.QRect(0, 0, 1024, 700)
    monkeypatch.setattr(module.QtGui.QScreen, "availableGeometry", lambda self: available)
    window = module.MainWindow(load_optional_panels=False)
    qtbot.addWidget(window)
    assert window.start_maximised  # 1400 × 900 does not fit: the frame would not either
    window.close()  # the geometry is remembered: the next start restores it as it was
    again = module.MainWindow(load_optional_panels=False)
    qtbot.addWidget(again)
    assert not again.start_maximised
    pathlib.Path(os.environ["FLIMAGE_APP_SETTINGS"]).unlink()  # a first start again
    available.setRect(0, 0, 1920, 1080)  # on a screen where 1400 × 900 fits
    third = module.MainWindow(load_optional_panels=False)
    qtbot.addWidget(third)
    assert not third.start_maximised
