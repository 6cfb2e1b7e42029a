"""Main window: opening by every route, switching series, errors, view modes, saving, settings."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import tifffile
from PyQt6 import QtCore, QtGui, QtWidgets

from flimage_app.gui.main_window import MainWindow
from flimage_app.model import FLSeries
from tests.conftest import REFERENCE_DIR
from tests.gui_support import PIXEL_SIZE, wait_for_frame, write_series

#: fixtures settings_file, errors, window
pytest_plugins = ["tests.gui_fixtures"]


def file_hash(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def series_path(tmp_path):
    path = tmp_path / "cells.h5"
    write_series(path, count=5, with_background=True)
    return path


def test_open_files_from_command_line_shows_first_frame(qtbot, window, series_path):
    documents = window.open_paths([series_path])
    assert len(documents) == 1
    wait_for_frame(qtbot, window, 0)
    assert window.browser.length == 5
    assert window.series_list.count() == 1
    assert "cells.h5" in window.windowTitle()
    assert window.image_view.image_item.image.shape == (32, 40)


def test_open_by_file_dialog_remembers_folder_and_recent(qtbot, window, series_path,
                                                        monkeypatch):
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileNames",
                        lambda *args, **kwargs: ([str(series_path)], ""))
    window.open_action.trigger()
    wait_for_frame(qtbot, window, 0)
    assert window.settings.value("last_folder") == str(series_path.parent)
    assert window.recent_files() == [str(series_path)]


def test_open_recent_menu_opens_file(qtbot, window, series_path):
    window.open_paths([series_path])
    window.close_current()
    assert window.current_document() is None
    actions = [action for action in window.recent_menu.actions() if action.text()
               == str(series_path)]
    assert len(actions) == 1
    actions[0].trigger()
    wait_for_frame(qtbot, window, 0)
    assert window.current_document().source_path == str(series_path)


def test_drop_files_opens_them(qtbot, window, series_path, tmp_path):
    second = tmp_path / "second.h5"
    write_series(second, count=3, seed=1)
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(series_path)),
                  QtCore.QUrl.fromLocalFile(str(second))])
    position = QtCore.QPointF(200, 200)
    enter = QtGui.QDragEnterEvent(position.toPoint(), QtCore.Qt.DropAction.CopyAction, mime,
                                  QtCore.Qt.MouseButton.LeftButton,
                                  QtCore.Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QtGui.QDropEvent(position, QtCore.Qt.DropAction.CopyAction, mime,
                            QtCore.Qt.MouseButton.LeftButton,
                            QtCore.Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    assert [document.name for document in window.documents] == ["cells.h5", "second.h5"]
    assert window.current_document().name == "second.h5"
    wait_for_frame(qtbot, window, 0)


def test_demo_series_opens(qtbot, window):
    window.demo_action.trigger()
    assert window.current_document() is not None
    assert window.browser.length > 1
    wait_for_frame(qtbot, window, 0)
    # the demo is not a user file: it stays out of the recent list
    assert window.recent_files() == []


def test_flimage_file_opens_as_one_frame_series(qtbot, window):
    source = REFERENCE_DIR / "retina_p10.h5"
    if not source.exists():
        pytest.skip("reference file missing")
    before = file_hash(source)
    window.open_paths([source])
    wait_for_frame(qtbot, window, 0)
    assert window.browser.length == 1
    assert window.image_view.image_item.image.shape == (146, 168)
    assert window.image_view.scale_bar.pixel_size == pytest.approx(1.39e-7)
    assert window.metadata_panel.value_text("identifier") == "cda88:49"
    assert file_hash(source) == before


def test_tiff_stack_is_imported(qtbot, window, tmp_path):
    stack = np.arange(3 * 8 * 10, dtype=np.uint16).reshape(3, 8, 10)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, photometric="minisblack")
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    assert window.browser.length == 3
    # the import's warnings (no pixel size, no times) reach the user
    assert "pixel size" in window.statusBar().currentMessage()
    np.testing.assert_allclose(window.current_frame().raw, stack[0])


def test_switching_between_open_series(qtbot, window, series_path, tmp_path):
    other = tmp_path / "other.h5"
    write_series(other, count=2, shape=(16, 16), seed=3)
    window.open_paths([series_path, other])
    wait_for_frame(qtbot, window, 0)
    assert window.image_view.image_item.image.shape == (16, 16)
    window.series_list.setCurrentRow(0)
    qtbot.waitUntil(lambda: window.current_frame() is not None
                    and window.current_frame().raw.shape == (32, 40))
    assert window.current_document().name == "cells.h5"
    assert window.browser.length == 5


def test_bad_file_gives_error_dialog_and_keeps_open_series(qtbot, window, series_path,
                                                          tmp_path, errors):
    window.open_paths([series_path])
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"this is not an HDF5 file at all" * 10)
    opened = window.open_paths([bad])
    assert opened == []
    assert len(errors) == 1
    title, message = errors[0]
    assert "broken.h5" in message
    assert "HDF5" in message or "not" in message
    assert len(window.documents) == 1
    assert window.current_document().name == "cells.h5"


def test_missing_file_and_good_file_in_one_call(window, series_path, tmp_path, errors):
    opened = window.open_paths([tmp_path / "nowhere.h5", series_path])
    assert [document.name for document in opened] == ["cells.h5"]
    assert "nowhere.h5" in errors[0][1]


def test_raw_background_corrected_toggle(qtbot, window, series_path):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    frame = window.current_frame()
    window.mode_actions["raw"].trigger()
    assert window.image_view.mode == "raw"
    np.testing.assert_allclose(window.image_view.image_item.image, frame.raw)
    window.mode_actions["background"].trigger()
    np.testing.assert_allclose(window.image_view.image_item.image, 10.0)
    window.mode_actions["corrected"].trigger()
    np.testing.assert_allclose(window.image_view.image_item.image, frame.raw - 10.0)
    assert window.image_view.mode_combo.currentData() == "corrected"


def test_cursor_readout_in_status_bar(qtbot, window, series_path):
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    frame = window.current_frame()
    view = window.image_view
    scene_point = view.view_box.mapViewToScene(QtCore.QPointF(7.5, 3.5))  # x = 7, y = 3
    view.graphics.scene().sigMouseMoved.emit(scene_point)
    text = window.readout_label.text()
    assert text.startswith("x 7, y 3 px")
    assert f"raw {frame.raw[3, 7]:.6g}" in text
    assert f"corrected {frame.raw[3, 7] - 10:.6g}" in text
    um = PIXEL_SIZE * 1e6
    assert f"({7.5 * um:.2f}, {3.5 * um:.2f} µm)" in text
    outside = view.view_box.mapViewToScene(QtCore.QPointF(-5, -5))
    view.graphics.scene().sigMouseMoved.emit(outside)
    assert window.readout_label.text() == ""


def test_metadata_edit_and_save_as_writes_copy_only(qtbot, window, series_path, tmp_path,
                                                   monkeypatch):
    before = file_hash(series_path)
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    panel = window.metadata_panel
    assert panel.value_text("pixel size") == "0.25"  # shown in µm
    assert not panel.edit("pixel size", "-3")  # rejected by the model's rules
    assert "positive" in panel.message.text()
    assert panel.edit("pixel size", "0.5")
    assert window.current_document().modified
    assert window.image_view.scale_bar.pixel_size == pytest.approx(0.5e-6)
    target = tmp_path / "saved.h5"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(target), ""))
    window.save_as_action.trigger()
    assert file_hash(series_path) == before
    assert not window.current_document().modified
    with FLSeries(h5file=target, h5mode="r") as saved:
        assert len(saved) == 5
        assert all(image["pixel size"] == pytest.approx(0.5e-6) for image in saved)
        assert saved[2]["time"] == 4.0


def test_save_as_asks_before_overwriting(qtbot, window, series_path, tmp_path, monkeypatch):
    window.open_paths([series_path])
    target = tmp_path / "exists.h5"
    target.write_bytes(b"keep me")
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(target), ""))
    asked = []
    monkeypatch.setattr(MainWindow, "confirm_overwrite",
                        lambda self, path: asked.append(path) or False)
    window.save_as()
    assert asked == [str(target)]
    assert target.read_bytes() == b"keep me"
    monkeypatch.setattr(MainWindow, "confirm_overwrite", lambda self, path: True)
    window.save_as()
    with FLSeries(h5file=target, h5mode="r") as saved:
        assert len(saved) == 5


def test_save_over_input_is_refused(qtbot, window, series_path, monkeypatch, errors):
    window.open_paths([series_path])
    before = file_hash(series_path)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(series_path), ""))
    monkeypatch.setattr(MainWindow, "confirm_overwrite", lambda self, path: True)
    window.save_as()
    assert errors and "not allowed" in errors[0][1]
    assert file_hash(series_path) == before


def test_settings_persist_between_windows(qtbot, settings_file, errors, series_path,
                                         monkeypatch):
    first = MainWindow(load_optional_panels=False)
    qtbot.addWidget(first)
    first.open_paths([series_path])
    first.colormap_actions["viridis"].trigger()
    first.show()
    qtbot.waitExposed(first)
    splitter_state = bytes(first.splitter.saveState())
    geometry = first.saveGeometry()
    first.close()
    assert settings_file.exists()

    # the offscreen screen (800 × 600) clamps window sizes, so check what is restored
    restored = []
    monkeypatch.setattr(MainWindow, "restoreGeometry",
                        lambda self, state: restored.append(bytes(state)) or True)
    second = MainWindow(load_optional_panels=False)
    qtbot.addWidget(second)
    try:
        assert second.image_view.colormap == "viridis"
        assert second.colormap_actions["viridis"].isChecked()
        assert second.recent_files() == [str(series_path)]
        assert second.settings.value("last_folder") == str(series_path.parent)
        assert restored == [bytes(geometry)]
        assert bytes(second.settings.value("splitter")) == splitter_state
    finally:
        second.shutdown()


def test_add_panel_api(qtbot, window):
    label = QtWidgets.QLabel("a panel")
    window.add_panel("extra", label, "Extra")
    assert window.panel("extra") is label
    assert window.show_panel("extra")
    assert window.current_panel() is label
    assert not window.show_panel("nonexistent")
    with pytest.raises(ValueError):
        window.add_panel("extra", QtWidgets.QLabel())


def test_screenshot_renders_png_without_window(qtbot, settings_file, tmp_path):
    from flimage_app.gui import main

    source = tmp_path / "cells.h5"
    write_series(source, count=3)
    png = tmp_path / "shot.png"
    assert main([str(source)], screenshot=str(png), panel="bleach-or-missing") == 0
    image = QtGui.QImage(str(png))
    assert (image.width(), image.height()) == (1400, 900)


def test_screenshot_of_bad_file_fails(qtbot, settings_file, tmp_path, capsys):
    from flimage_app.gui import main

    bad = tmp_path / "bad.h5"
    bad.write_text("nope")
    assert main([str(bad)], screenshot=str(tmp_path / "shot.png")) == 1
    assert "bad.h5" in capsys.readouterr().err


def test_about_names_versions():
    from flimage_app.gui.widgets.dialogs import versions_text

    text = versions_text()
    assert f"numpy {np.__version__}" in text
    assert f"Qt {QtCore.QT_VERSION_STR}" in text
    assert "h5py" in text and "flimage-app" in text


def test_copy_of_reference_is_left_alone(qtbot, window, reference_file):
    path = reference_file("basic.h5")
    before = file_hash(path)
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    window.close_current()
    assert file_hash(path) == before
