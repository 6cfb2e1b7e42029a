"""Workflow: a 2-channel × 3-plane × 20-frame OME-TIFF from open to corrected 16-bit hyperstack.

Every step is a real QTest key press or mouse click on the widget a user would
touch (Ctrl+O, the channel choice, the Z plane box, the Bleach tab and its
buttons, Ctrl+E, Ctrl+Q and the prompt's button); only the operating system's
file dialogs are answered by the test.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile
from PyQt6 import QtCore, QtWidgets
from PyQt6.QtTest import QTest

from flimage_app.gui.channels import COMPOSITE
from tests.channel_data import (
    INTERVAL_S,
    NAMES,
    PIXEL_SIZE_UM,
    Z_STEP_UM,
    acquisition,
    write_ome_tiff,
)
from tests.gui_support import answer_message_boxes
from tests.test_workflow_session import (
    click,
    click_tab,
    drag_on_image,
    make_window,
    press,
    wait_tasks,
)

#: fixtures settings_file, errors
pytest_plugins = ["tests.gui_fixtures"]

CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
KEY = QtCore.Qt.Key
FRAMES, CHANNELS, PLANES = 20, 2, 3


def key_on(widget, key) -> None:
    """Give `widget` the keyboard focus (as a click on it does) and press `key` there."""
    widget.setFocus(QtCore.Qt.FocusReason.MouseFocusReason)
    QTest.keyClick(widget, key)


def test_open_browse_correct_all_channels_export_16_bit_and_quit(
        qtbot, settings_file, errors, tmp_path, monkeypatch):
    data = write_ome_tiff(tmp_path / "cells.ome.tif",
                          acquisition(FRAMES, CHANNELS, PLANES, shape=(48, 64)))
    window = make_window(qtbot)

    # File ▸ Open (Ctrl+O): the OME-TIFF is imported in a worker and opens as one series
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileNames", lambda *args, **kwargs: (
        [str(tmp_path / "cells.ome.tif")], ""))
    press(window, KEY.Key_O, CTRL)
    qtbot.waitUntil(lambda: len(window.documents) == 1 and window.current_frame() is not None,
                    timeout=30_000)
    document = window.current_document()
    bar = window.channel_bar
    assert bar.isVisible() and bar.channel_combo.currentText() == NAMES[0]
    np.testing.assert_array_equal(window.current_frame().raw, data[0, 0, 0])

    # the channel choice: the second channel
    key_on(bar.channel_combo, KEY.Key_Down)
    assert bar.channel_combo.currentText() == NAMES[1]
    qtbot.waitUntil(lambda: np.array_equal(window.current_frame().raw, data[0, 1, 0]),
                    timeout=5000)
    # the composite of both channels, in their colours
    key_on(bar.channel_combo, KEY.Key_Down)
    assert document.view.choice == COMPOSITE
    qtbot.waitUntil(lambda: getattr(window.current_frame(), "is_composite", False),
                    timeout=5000)
    shown = window.image_view.image_item.image
    assert shown.shape == (48, 64, 3)
    # the file names no colours: the GFP cell is green, the mCherry cell red
    assert shown[16, 20, 1] > 200 and shown[16, 20, 0] < 80
    assert shown[30, 44, 0] > 200 and shown[30, 44, 1] < 80
    # Z: the next plane, twice
    key_on(bar.z_spin, KEY.Key_Up)
    key_on(bar.z_spin, KEY.Key_Up)
    assert document.view.plane == 2 and bar.z_slider.value() == 2
    qtbot.waitUntil(lambda: getattr(window.current_frame(), "is_composite", False)
                    and np.array_equal(window.current_frame().channel_frames[0].raw,
                                       data[0, 0, 2]), timeout=5000)
    assert "Composite   z 2 of 3" in window.image_view.caption.text()
    # back to the first channel alone (Up twice: Home is the window's "first frame" key)
    key_on(bar.channel_combo, KEY.Key_Up)
    key_on(bar.channel_combo, KEY.Key_Up)
    assert bar.channel_combo.currentIndex() == 0 and document.view.choice == 0
    qtbot.waitUntil(lambda: window.current_frame() is not None
                    and not getattr(window.current_frame(), "is_composite", False),
                    timeout=10_000)

    # a background ROI drawn on one channel is there on the other (the same pixels)
    click_tab(window, "Background")
    background = window.panel("background")
    qtbot.waitUntil(background.isVisible, timeout=3000)
    click(background.rect_button)
    drag_on_image(window, (2, 40), (14, 46))
    qtbot.waitUntil(lambda: len(background.current_rois()) == 1, timeout=3000)
    rois = background.current_rois()
    key_on(bar.channel_combo, KEY.Key_Down)
    qtbot.waitUntil(lambda: document.leaf == (1, 2) and window.current_frame() is not None,
                    timeout=5000)
    assert background.current_rois() == rois
    key_on(bar.channel_combo, KEY.Key_Up)
    wait_tasks(qtbot, window)

    # Bleach correction of every channel, one factor per time point (as Fiji)
    click_tab(window, "Bleach")
    bleach = window.panel("bleach")
    box = bleach.all_channels
    qtbot.waitUntil(lambda: box.isVisible() and box.correct_button.isEnabled(), timeout=20_000)
    # the frames are small: a 4 px border is the background (typed into its box)
    bleach.border_spin.setFocus(QtCore.Qt.FocusReason.MouseFocusReason)
    QTest.keyClick(bleach.border_spin, KEY.Key_A, CTRL)
    QTest.keyClicks(bleach.border_spin, "4")
    QTest.keyClick(bleach.border_spin, KEY.Key_Return)
    assert bleach.settings().border_px == 4
    assert box.z_mode_combo.currentText() == "per time point (as Fiji)"
    key_on(box.z_mode_combo, KEY.Key_Down)
    assert box.z_mode() == "plane"
    key_on(box.z_mode_combo, KEY.Key_Up)
    assert box.z_mode() == "time point"
    click(box.correct_button)
    qtbot.waitUntil(lambda: len(window.documents) == 2, timeout=60_000)
    wait_tasks(qtbot, window)
    corrected = window.current_document()
    assert corrected.name == "cells.ome_bleachcorr"
    assert corrected.view.names == list(NAMES) and corrected.view.planes == PLANES
    assert set(box.results) == {0, 1}
    heading, *summary = box.results_label.text().splitlines()
    assert heading == "Fits of cells.ome.tif, one per channel:"
    assert [line.split(":")[0] for line in summary] == list(NAMES)
    assert all("half-life" in line for line in summary)
    # each channel of the result shows its own recorded fit
    qtbot.waitUntil(lambda: bleach.outcome is not None, timeout=20_000)
    first_fit = bleach.report_text.toPlainText()
    key_on(bar.channel_combo, KEY.Key_Down)
    qtbot.waitUntil(lambda: bleach.outcome is not None and bleach.document is corrected
                    and bleach.report_text.toPlainText() != first_fit, timeout=20_000)
    assert bleach.showing_provenance

    # File ▸ Export ▸ ImageJ TIFF (Ctrl+E): the hyperstack in the input's type
    target = tmp_path / "cells_corrected.tif"
    chosen = []

    def save_dialog(_parent, _title, _proposal, filters, **_kwargs):
        choices = filters.split(";;")
        chosen.extend(choices)
        return str(target), next(choice for choice in choices if "uint16" in choice)

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", save_dialog)
    press(window, KEY.Key_E, CTRL)
    qtbot.waitUntil(lambda: target.exists(), timeout=30_000)
    wait_tasks(qtbot, window)
    assert any("32-bit float" in choice for choice in chosen)
    message = window.exporter.last_message
    assert message.startswith(f"Exported {target} (uint16, 2 channels)")
    # the clipped pixels are counted per channel (the border's background goes below 0)
    assert re.fullmatch(r".*; [\d,]+ pixels were clipped to the range of uint16 "
                        r"\(GFP: .*; mCherry: .*\)", message)
    with tifffile.TiffFile(target) as tif:
        assert tif.series[0].axes == "TZCYX"
        assert tif.series[0].shape == (FRAMES, PLANES, CHANNELS, 48, 64)
        assert tif.series[0].dtype == np.uint16
        imagej = tif.imagej_metadata
        assert imagej["mode"] == "composite"
        assert imagej["Labels"][0].startswith(f"{NAMES[0]}, t=")
        assert imagej["Labels"][1].startswith(f"{NAMES[1]}, t=")
        assert imagej["finterval"] == pytest.approx(INTERVAL_S)
        assert imagej["spacing"] == pytest.approx(Z_STEP_UM)
        x_resolution = tif.pages[0].tags["XResolution"].value
        assert x_resolution[1] / x_resolution[0] == pytest.approx(PIXEL_SIZE_UM)
        pixels = tif.asarray()
    # corrected: the last time point is brought back near the first one's intensity
    first, last = pixels[0, :, 0].astype(float), pixels[-1, :, 0].astype(float)
    assert last.mean() == pytest.approx(first.mean(), rel=0.15)
    assert data[-1, 0].mean() < 0.75 * data[0, 0].mean()  # …which the input was not

    # Ctrl+Q: the prompt names both unsaved results; Discard quits
    seen: list[str] = []
    stop = answer_message_boxes(QtWidgets.QMessageBox.StandardButton.Discard, seen)
    press(window, KEY.Key_Q, CTRL)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    stop()
    assert len(seen) == 1
    assert "cells.ome.tif:" in seen[0] and "the import of cells.ome.tif" in seen[0]
    assert "cells.ome_bleachcorr:" in seen[0]
    assert "the bleach correction of cells.ome.tif (2 channels × 3 planes" in seen[0]
    assert not errors
