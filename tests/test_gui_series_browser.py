"""Series browser, frame cache and image view: stepping, playing, lazy reads, levels, readout."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PyQt6 import QtCore

from flimage_app.gui.browser.frame_cache import Frame, FrameCache, lookahead_indices
from flimage_app.gui.browser.image_view import (
    format_length,
    nice_length,
    pixel_readout,
    robust_levels,
)
from flimage_app.gui.browser.series_browser import PAGE_STEP, step_index
from flimage_app.model import FLSeries
from tests.gui_support import wait_for_frame, write_series

#: fixtures settings_file, errors, window
pytest_plugins = ["tests.gui_fixtures"]


@pytest.fixture
def long_series(tmp_path):
    path = tmp_path / "long.h5"
    write_series(path, count=25, shape=(12, 16))
    return path


# --- pure functions ---------------------------------------------------------------------------
@pytest.mark.parametrize(("current", "action", "expected"), [
    (3, "next", 4), (3, "previous", 2), (0, "previous", 0), (24, "next", 24),
    (3, "forward_page", 3 + PAGE_STEP), (20, "forward_page", 24), (5, "back_page", 0),
    (7, "first", 0), (7, "last", 24),
])
def test_step_index(current, action, expected):
    assert step_index(current, action, 25) == expected


def test_step_index_rejects_unknown_action():
    with pytest.raises(ValueError, match="sideways"):
        step_index(0, "sideways", 5)


def test_lookahead_follows_direction_and_stays_in_range():
    assert lookahead_indices(5, +1, 3, 10) == [6, 7, 8]
    assert lookahead_indices(5, -1, 3, 10) == [4, 3, 2]
    assert lookahead_indices(8, +1, 3, 10) == [9]
    assert lookahead_indices(0, -1, 3, 10) == []


@pytest.mark.parametrize(("limit", "expected"), [
    (7.3e-6, 5e-6), (2e-6, 2e-6), (19e-6, 1e-5), (0.99e-6, 5e-7), (1.0, 1.0), (3.3e-4, 2e-4),
])
def test_nice_length(limit, expected):
    assert nice_length(limit) == pytest.approx(expected)


def test_format_length_units():
    assert format_length(1e-5) == "10 µm"
    assert format_length(5e-7) == "500 nm"
    assert format_length(2e-3) == "2 mm"


def test_robust_levels_ignore_hot_pixels_and_nan():
    image = np.tile(np.linspace(0, 100, 200), (200, 1))
    image[0, 0] = 1e6  # a hot pixel
    image[1, 1] = np.nan
    low, high = robust_levels(image)
    assert 0 <= low < 2 and 98 < high <= 100
    assert robust_levels(np.full((4, 4), 3.0)) == (2.5, 3.5)


def test_pixel_readout_uses_row_y_column_x():
    raw = np.arange(12.0).reshape(3, 4)
    frame = Frame.from_arrays(0, raw, np.full((3, 4), 1.0))
    readout = pixel_readout(frame, x=2.7, y=1.2, pixel_size=1e-6)
    assert (readout.x, readout.y) == (2, 1)
    assert readout.raw == raw[1, 2] and readout.corrected == raw[1, 2] - 1
    assert "(2.50, 1.50 µm)" in readout.text()
    assert pixel_readout(frame, x=4.0, y=0.0, pixel_size=None) is None
    assert "µm" not in pixel_readout(frame, 0, 0, None).text()


# --- frame cache ------------------------------------------------------------------------------
def test_frame_cache_reads_requested_frame_then_looks_ahead(qtbot, long_series):
    with FLSeries(h5file=long_series, h5mode="r") as series:
        expected = series[4].raw_fl
        cache = FrameCache(series, lookahead=3)
        try:
            # with several readers a look-ahead frame may arrive first
            with qtbot.waitSignal(cache.frameReady, timeout=5000,
                                  check_params_cb=lambda index, _: index == 4) as signal:
                assert cache.request(4) is None
            index, frame = signal.args
            np.testing.assert_array_equal(frame.raw, expected)
            assert frame.background is None
            qtbot.waitUntil(lambda: cache.cached(7) is not None, timeout=5000)
            assert cache.cached(5) is not None and cache.cached(6) is not None
            assert cache.request(5) is not None  # served from the cache at once
        finally:
            cache.close()
        assert not cache.running


def test_frame_cache_evicts_beyond_capacity(qtbot, long_series):
    with FLSeries(h5file=long_series, h5mode="r") as series:
        frame_bytes = 12 * 16 * 4  # raw float32; corrected is the same array
        cache = FrameCache(series, capacity_bytes=8 * frame_bytes, lookahead=2)
        try:
            for index in range(0, 25, 3):
                cache.request(index)
                qtbot.waitUntil(lambda i=index: cache.cached(i) is not None, timeout=5000)
            assert cache._used_bytes() <= 8 * frame_bytes
            assert cache.cached(0) is None
        finally:
            cache.close()


def test_frame_cache_reports_unreadable_frame(qtbot, tmp_path):
    import h5py

    path = tmp_path / "damaged.h5"
    write_series(path, count=3)
    with h5py.File(path, "a") as h5:
        del h5["fli_1/fluorescence/raw"]
        h5["fli_1/fluorescence"]["raw"] = np.zeros(3)  # not a 2-D image: reading still works
        del h5["fli_2/fluorescence"]
    with FLSeries(h5file=path, h5mode="r") as series:
        cache = FrameCache(series)
        try:
            with qtbot.waitSignal(cache.readFailed, timeout=5000) as signal:
                cache.request(2)
            assert signal.args[0] == 2 and signal.args[1]
        finally:
            cache.close()


# --- browser in the window --------------------------------------------------------------------
def test_keys_step_through_frames(qtbot, window, long_series):
    window.open_paths([long_series])
    window.show()
    qtbot.waitExposed(window)
    window.image_view.graphics.setFocus()
    wait_for_frame(qtbot, window, 0)
    presses = [(QtCore.Qt.Key.Key_Right, 1), (QtCore.Qt.Key.Key_Right, 2),
               (QtCore.Qt.Key.Key_Left, 1), (QtCore.Qt.Key.Key_PageDown, 1 + PAGE_STEP),
               (QtCore.Qt.Key.Key_End, 24), (QtCore.Qt.Key.Key_PageUp, 24 - PAGE_STEP),
               (QtCore.Qt.Key.Key_Home, 0)]
    for key, expected in presses:
        qtbot.keyClick(window.image_view.graphics, key)
        assert window.current_index() == expected
        wait_for_frame(qtbot, window, expected)
        assert window.browser.slider.value() == expected
        assert window.browser.index_spin.value() == expected


def test_table_slider_and_frame_stay_in_step(qtbot, window, long_series):
    window.open_paths([long_series])
    wait_for_frame(qtbot, window, 0)
    browser = window.browser
    model = browser.table_model
    assert model.rowCount() == 25
    assert model.data(model.index(3, 1)) == "frame-3"
    assert model.data(model.index(3, 2)) == "6.000"
    assert model.data(model.index(3, 3)) == "none"
    browser.table.selectRow(7)
    wait_for_frame(qtbot, window, 7)
    assert browser.slider.value() == 7
    assert browser.time_label.text() == "t = 14.000 s"
    browser.slider.setValue(12)
    wait_for_frame(qtbot, window, 12)
    assert browser.table.currentIndex().row() == 12
    assert window.metadata_panel.value_text("identifier") == "frame-12"
    assert "t = 24.000 s" in window.image_view.caption.text()


def test_table_reads_rows_lazily(qtbot, window, long_series):
    window.open_paths([long_series])
    wait_for_frame(qtbot, window, 0)
    read_rows = set(window.browser.table_model._rows)
    assert len(read_rows) < 25  # only the rows that were looked at


def test_play_advances_and_pause_stops(qtbot, window, long_series):
    window.open_paths([long_series])
    wait_for_frame(qtbot, window, 0)
    browser = window.browser
    browser.rate_spin.setValue(100)
    window.play_action.trigger()
    assert browser.playing
    qtbot.waitUntil(lambda: browser.index >= 3, timeout=5000)
    window.play_action.trigger()
    assert not browser.playing
    stopped_at = browser.index
    qtbot.wait(100)
    assert browser.index == stopped_at


def test_hold_levels_keeps_display_range(qtbot, window, long_series):
    window.open_paths([long_series])
    wait_for_frame(qtbot, window, 0)
    view = window.image_view
    view.set_hold_levels(True)
    view.set_levels(5.0, 50.0)
    window.browser.set_index(20)
    wait_for_frame(qtbot, window, 20)
    assert view.levels() == pytest.approx((5.0, 50.0))
    view.set_hold_levels(False)
    window.browser.set_index(21)
    wait_for_frame(qtbot, window, 21)
    assert view.levels() == pytest.approx(robust_levels(window.current_frame().corrected))


def test_scale_bar_follows_pixel_size_and_zoom(qtbot, window, long_series):
    window.open_paths([long_series])
    wait_for_frame(qtbot, window, 0)
    bar = window.image_view.scale_bar
    assert bar.label.isVisible()
    (x0, x1), _ = window.image_view.view_box.viewRange()
    assert bar.length_m == pytest.approx(nice_length(0.2 * (x1 - x0) * 0.25e-6))
    assert "µm" in bar.label.text() or "nm" in bar.label.text()
    window.image_view.view_box.setRange(QtCore.QRectF(0, 0, 4, 3), padding=0)
    assert bar.length_m <= 0.2 * 4 * 0.25e-6 + 1e-15
    assert not math.isnan(bar.length_m)
