"""Background panel: drawing ROIs, undo/redo, profile, preview, apply, persistence, files."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import roifile
from PyQt6 import QtCore

from flimage_app.gui.background.background_panel import BackgroundPanel
from flimage_app.gui.background.background_preview import (
    THUMBNAIL_MAX_PX,
    LatestTaskRunner,
    PreviewRequest,
    compute_preview,
    quality_text,
)
from flimage_app.model import FLSeries
from flimage_app.model import background as background_model
from flimage_app.model.background import estimate
from flimage_app.model.background_apply import assess_region
from flimage_app.model.rois import (
    BorderROI,
    EllipseROI,
    FreehandROI,
    PolygonROI,
    RectangleROI,
    ROISet,
    load_roiset_h5,
    load_roiset_json,
    save_roiset_json,
)
from tests.gui_support import wait_for_frame, write_series

#: fixtures settings_file, errors, window, discard_without_asking
pytest_plugins = ["tests.gui_fixtures"]

SHAPE = (32, 40)


@pytest.fixture(autouse=True)
def discard_unsaved_rois(discard_without_asking):
    """Closing a series or the window discards the unsaved ROIs drawn (no modal prompt)."""


@pytest.fixture
def series_path(tmp_path):
    path = tmp_path / "cells.h5"
    write_series(path, count=5, shape=SHAPE)
    return path


@pytest.fixture
def panel(qtbot, window, series_path):
    background_panel = BackgroundPanel(window)
    window.add_panel("background", background_panel, "Background")
    window.open_paths([series_path])
    wait_for_frame(qtbot, window, 0)
    window.show_panel("background")
    return background_panel


def roi_items(panel):
    return [graphic.item for graphic in panel.layer.graphics]


def wait_preview(qtbot, panel):
    """Wait until the preview shows the newest regions and settings (it is fitted in a worker)."""
    qtbot.waitUntil(lambda: not panel.busy, timeout=10000)


# ----------------------------------------------------------------- drawing

def test_draw_every_kind_of_roi(qtbot, window, panel):
    panel.add_roi(RectangleROI(0, 0, 6, 32))
    panel.ellipse_button.click()
    panel.tool.press(16.2, 12.4)
    panel.tool.move(20, 14)
    panel.tool.release(24.4, 19.6)  # snapped to whole pixels, as Fiji does
    panel.polygon_button.click()
    assert panel.tool.kind == "polygon" and not panel.ellipse_button.isChecked()
    for x, y in ((30, 2), (39, 2), (39, 12)):
        panel.tool.press(x, y)
    panel.tool.finish()
    assert panel.polygon_button.isChecked()  # the tool stays picked, as in Fiji
    panel.freehand_button.click()
    panel.tool.press(30, 20)
    for angle in np.linspace(0, 2 * np.pi, 60):
        panel.tool.move(34 + 4 * np.cos(angle), 25 + 4 * np.sin(angle))
    panel.tool.release(30, 20)
    panel.border_spin.setValue(2)
    panel.role_combo.setCurrentIndex(panel.role_combo.findData("exclude"))
    panel.border_button.click()

    rois = panel.roiset.rois
    assert [type(r) for r in rois] == [RectangleROI, EllipseROI, PolygonROI, FreehandROI,
                                       BorderROI]
    assert [r.name for r in rois] == ["rectangle 1", "ellipse 1", "polygon 1", "free-hand 1",
                                      "border 1"]
    assert rois[2].points == ((30, 2), (39, 2), (39, 12))
    assert rois[4].role == "exclude" and rois[4].width_px == 2
    assert panel.roi_list.count() == 5
    assert all(item in window.image_view.view_box.addedItems for item in roi_items(panel))
    assert panel.tool.kind == "freehand" and panel.freehand_button.isChecked()
    assert not panel.polygon_button.isChecked()
    assert (rois[1].x, rois[1].y, rois[1].width, rois[1].height) == (16, 12, 8, 8)
    np.testing.assert_array_equal(panel.background_mask(),
                                  ROISet(rois=rois).mask(SHAPE))


def test_moving_an_item_is_an_undoable_edit(qtbot, panel):
    panel.add_roi(RectangleROI(2, 3, 5, 6))
    item = roi_items(panel)[0]
    item.setPos((10, 12))
    item.sigRegionChangeFinished.emit(item)
    assert panel.roiset.rois[0] == RectangleROI(10, 12, 5, 6, name="rectangle 1")
    assert roi_items(panel)[0] is item  # the dragged item stays
    assert panel.state.history.undo_text == "Move ROI"
    panel.undo_button.click()
    assert panel.roiset.rois[0].x == 2
    assert tuple(roi_items(panel)[0].pos()) == (2, 3)
    panel.redo_button.click()
    assert tuple(roi_items(panel)[0].pos()) == (10, 12)


def test_rename_role_delete_and_undo_redo(qtbot, panel):
    panel.add_roi(RectangleROI(0, 0, 8, 8))
    panel.add_roi(EllipseROI(20, 10, 10, 10))
    panel.state.rename(0, "corner")
    panel.select(1)
    panel.role_button.click()
    assert [r.name for r in panel.roiset.rois] == ["corner", "ellipse 1"]
    assert panel.roiset.rois[1].role == "exclude"
    panel.select(0)
    panel.delete_button.click()
    assert [r.name for r in panel.roiset.rois] == ["ellipse 1"]
    history = panel.state.history
    assert history is panel.main_window.current_document().history
    for _ in range(3):
        history.undo()
    assert [(r.name, r.role) for r in panel.roiset.rois] == [("rectangle 1", "include"),
                                                            ("ellipse 1", "include")]
    history.redo()
    assert panel.roiset.rois[0].name == "corner"
    assert panel.roi_list.item(0).text() == "corner"


def test_rename_through_the_list(qtbot, panel):
    panel.add_roi(RectangleROI(0, 0, 8, 8))
    panel.roi_list.item(0).setText("dark corner")
    qtbot.waitUntil(lambda: panel.roiset.rois[0].name == "dark corner", timeout=2000)


def test_profile_and_offset_changes_are_undoable(qtbot, panel):
    panel.add_roi(BorderROI(4))
    panel.profile_combo.setCurrentIndex(panel.profile_combo.findData("poly2o"))
    panel.offset_combo.setCurrentIndex(panel.offset_combo.findData("mode"))
    assert (panel.roiset.fit_profile, panel.roiset.fit_offset) == ("poly2o", "mode")
    panel.undo_button.click()
    assert panel.roiset.fit_offset == "mean"
    panel.undo_button.click()
    assert panel.roiset.fit_profile == "tilt"
    assert panel.profile_combo.currentData() == "tilt"
    panel.redo_button.click()
    assert panel.profile_combo.currentData() == "poly2o"


# ----------------------------------------------------------------- preview

def test_preview_fits_the_frame_on_display(qtbot, window, panel):
    rois = (RectangleROI(0, 0, 8, 32), RectangleROI(32, 0, 8, 32))
    panel.add_rois(list(rois), "two strips")
    wait_preview(qtbot, panel)
    frame = window.current_frame()
    mask = ROISet(rois=rois).mask(SHAPE)
    expected = estimate(frame.raw.astype(float), "mean", "tilt", from_mask=mask)
    np.testing.assert_allclose(panel.preview_items["background"].image, expected)
    assert panel.preview_quality.warnings == []
    assert "Residual in the region: mean" in panel.stats_label.text()
    overlay = panel.overlay.image
    np.testing.assert_array_equal(overlay[..., 3] > 0, mask)


def test_preview_warns_when_the_region_covers_the_cell(qtbot, panel):
    panel.add_roi(RectangleROI(10, 6, 20, 20))
    wait_preview(qtbot, panel)
    assert any("signal" in w for w in panel.preview_quality.warnings)
    assert "⚠" in panel.warning_label.text()


def test_preview_warns_about_tiny_regions(qtbot, panel):
    panel.add_roi(RectangleROI(0, 0, 3, 3))
    wait_preview(qtbot, panel)
    assert any("too small" in w for w in panel.preview_quality.warnings)


def test_experimental_background_is_subtracted_before_the_fit(qtbot, window, panel, tmp_path):
    dark = np.full(SHAPE, 5.0)
    np.save(tmp_path / "dark.npy", dark[None])
    assert panel.load_experimental(tmp_path / "dark.npy")
    assert "dark.npy" in panel.experimental_label.text()
    panel.add_roi(BorderROI(3))
    wait_preview(qtbot, panel)
    frame = window.current_frame()
    expected = estimate(frame.raw - dark, "mean", "tilt", from_mask=BorderROI(3).mask(SHAPE))
    np.testing.assert_allclose(panel.preview_items["background"].image, expected)


def test_experimental_background_of_wrong_size_is_refused(qtbot, panel, tmp_path, errors):
    np.save(tmp_path / "small.npy", np.zeros((1, 4, 4)))
    assert not panel.load_experimental(tmp_path / "small.npy")
    assert errors and "4×4 px" in errors[-1][1]


@pytest.mark.parametrize("profile, offset", [("tilt", "mean"), ("poly2o", "mode"),
                                             ("offset", "gauss"), ("tilt", "fit")])
def test_preview_matches_the_model_fit(qtbot, window, panel, profile, offset):
    rois = (BorderROI(4), EllipseROI(12, 8, 16, 16, role="exclude"))
    panel.add_rois(list(rois), "regions")
    panel.set_fit(profile=profile, offset=offset)
    wait_preview(qtbot, panel)
    image = window.current_frame().raw.astype(float)
    mask = ROISet(rois=rois).mask(SHAPE)
    expected = estimate(image, offset, profile, from_mask=mask)
    result = panel.preview_result
    np.testing.assert_allclose(result.background, expected)
    np.testing.assert_allclose(result.corrected, image - expected)
    np.testing.assert_allclose(panel.preview_items["background"].image, expected)
    np.testing.assert_allclose(panel.preview_items["corrected"].image, image - expected)
    quality = assess_region(image, expected, mask, profile)
    assert panel.preview_quality.n_pixels == quality.n_pixels == mask.sum()
    assert panel.preview_quality.residual_std == pytest.approx(quality.residual_std)
    assert panel.stats_label.text() == quality_text(quality, mask.size, expected)


def test_a_failed_fit_is_reported_in_the_panel(qtbot, panel, errors, caplog):
    panel.add_roi(BorderROI(3))
    panel.set_fit(profile="offset", offset="fit")  # the offset profile has no fitted constant
    wait_preview(qtbot, panel)
    assert panel.stats_label.text().startswith("Fit failed: ")
    assert "needs a fitted profile" in panel.stats_label.text()
    assert panel.preview_result is None and panel.preview_quality is None
    assert panel.preview_items["background"].image is None
    assert panel.overlay.image is not None  # the region is still shown
    assert errors == []
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_stored_data_background_is_read_in_the_worker_and_subtracted(qtbot, window, tmp_path):
    path = tmp_path / "with_data.h5"
    frames = write_series(path, count=2, shape=SHAPE, with_background=True)
    panel = BackgroundPanel(window)
    window.add_panel("background", panel, "Background")
    window.open_paths([path])
    wait_for_frame(qtbot, window, 0)
    panel.add_roi(BorderROI(3))
    wait_preview(qtbot, panel)
    mask = BorderROI(3).mask(SHAPE)
    expected = estimate(frames[0] - 10.0, "mean", "tilt", from_mask=mask)
    np.testing.assert_allclose(panel.preview_result.background, expected, rtol=1e-6)
    np.testing.assert_array_equal(panel.state.data_backgrounds[0], np.full(SHAPE, 10.0))
    # the next preview of that frame takes the background from the cache
    request = panel.preview_request()
    assert request.read_data_background is None
    np.testing.assert_array_equal(request.data_background, np.full(SHAPE, 10.0))


def test_large_frames_get_subsampled_thumbnails():
    rng = np.random.default_rng(1)
    raw = (50 + rng.normal(0, 2, (1100, 1300))).astype(np.float32)
    request = PreviewRequest(0, raw, ROISet(rois=(BorderROI(30),)))
    result = compute_preview(request)
    expected = estimate(raw.astype(float), "mean", "tilt", from_mask=BorderROI(30).mask(
        raw.shape))
    np.testing.assert_allclose(result.background, expected)
    small, levels = result.thumbnails["corrected"]
    assert max(small.shape) <= THUMBNAIL_MAX_PX
    np.testing.assert_allclose(small, (raw - expected)[::3, ::3])
    assert levels[0] < 0 < levels[1]


# ----------------------------------------------------------------- the preview in a worker

@pytest.fixture
def slow_first_fit(monkeypatch):
    """Make the first preview fit wait for ``release``; every fit records (profile, offset)."""
    original = background_model.estimate
    state = SimpleNamespace(entered=threading.Event(), release=threading.Event(), calls=[])

    def estimate_slowly(data, fit_offset="mean", fit_profile="tilt", **options):
        state.calls.append((fit_profile, fit_offset))
        if len(state.calls) == 1:
            state.entered.set()
            state.release.wait(60)  # the test releases it; never hang the suite
        return original(data, fit_offset, fit_profile, **options)

    monkeypatch.setattr(background_model, "estimate", estimate_slowly)
    yield state
    state.release.set()


def record_previews(panel, monkeypatch):
    """Every background image the panel puts on display, and what each signal showed."""
    shown = SimpleNamespace(images=[], updates=[])
    item = panel.preview_items["background"]
    set_image = item.setImage

    def recording_set_image(image=None, *args, **kwargs):
        if image is not None:
            shown.images.append(np.array(image, copy=True))
        return set_image(image, *args, **kwargs)

    monkeypatch.setattr(item, "setImage", recording_set_image)
    panel.previewUpdated.connect(lambda: shown.updates.append(panel.preview_result))
    return shown


@pytest.mark.parametrize("change", ["profile", "region", "frame"])
def test_a_stale_preview_is_never_shown(qtbot, window, panel, slow_first_fit, monkeypatch,
                                        change):
    shown = record_previews(panel, monkeypatch)
    panel.add_roi(BorderROI(3))
    qtbot.waitUntil(slow_first_fit.entered.is_set, timeout=10000)
    stale = estimate(window.current_frame().raw.astype(float), "mean", "tilt",
                     from_mask=BorderROI(3).mask(SHAPE))
    index, rois, profile = 0, (BorderROI(3),), "tilt"
    if change == "profile":
        profile = "offset"
        panel.set_fit(profile=profile)
    elif change == "region":
        rois = (RectangleROI(0, 0, 8, 32, name="border 1"),)
        panel.replace_roi(0, rois[0], "Resize")
    else:
        index = 1
        window.browser.set_index(index)
        wait_for_frame(qtbot, window, index)
    panel.update_preview()  # what the debounce timer does: the request waits for the stale fit
    assert panel.busy and panel._preview_runner.running
    assert shown.updates == []
    slow_first_fit.release.set()
    wait_preview(qtbot, panel)
    qtbot.waitUntil(lambda: not panel._preview_runner.running, timeout=10000)

    latest = estimate(window.current_frame().raw.astype(float), "mean", profile,
                      from_mask=ROISet(rois=rois).mask(SHAPE))
    assert window.current_frame().index == index
    assert slow_first_fit.calls == [("tilt", "mean"), (profile, "mean")]
    assert len(shown.updates) == 1 and shown.updates[0] is panel.preview_result
    np.testing.assert_allclose(panel.preview_result.background, latest)
    assert len(shown.images) == 1
    np.testing.assert_allclose(shown.images[0], latest)
    assert not np.allclose(stale, latest)


def test_a_preview_finished_before_the_next_request_is_not_shown(qtbot, window, panel,
                                                                 slow_first_fit, monkeypatch):
    shown = record_previews(panel, monkeypatch)
    panel.add_roi(BorderROI(3))
    qtbot.waitUntil(slow_first_fit.entered.is_set, timeout=10000)
    panel.preview_timer.setInterval(600_000)  # hold the next request back until asked
    panel.set_fit(profile="offset")
    slow_first_fit.release.set()
    qtbot.waitUntil(lambda: not panel._preview_runner.running, timeout=10000)
    assert shown.images == [] and shown.updates == []
    assert panel.busy  # the preview of the new profile is still to come
    panel.update_preview()
    wait_preview(qtbot, panel)
    expected = estimate(window.current_frame().raw.astype(float), "mean", "offset",
                        from_mask=BorderROI(3).mask(SHAPE))
    assert len(shown.images) == 1
    np.testing.assert_allclose(shown.images[0], expected)


def test_fitting_hint_while_a_slow_fit_runs(qtbot, panel, slow_first_fit):
    panel.add_roi(BorderROI(3))
    qtbot.waitUntil(slow_first_fit.entered.is_set, timeout=10000)
    qtbot.waitUntil(lambda: not panel.fitting_label.isHidden(), timeout=10000)
    slow_first_fit.release.set()
    with qtbot.waitSignal(panel.previewUpdated, timeout=10000):
        pass
    assert panel.fitting_label.isHidden()
    assert "Residual in the region" in panel.stats_label.text()


def test_closing_the_window_while_a_preview_runs_is_clean(qtbot, window, panel,
                                                          slow_first_fit, errors, caplog):
    caplog.set_level(logging.DEBUG)
    window.show()
    qtbot.waitExposed(window)
    panel.add_roi(BorderROI(3))
    qtbot.waitUntil(slow_first_fit.entered.is_set, timeout=10000)
    # closing waits for the worker threads: release the fit from another thread
    releaser = threading.Timer(0.3, slow_first_fit.release.set)
    releaser.start()
    window.close()
    releaser.join()
    assert window.documents == []
    qtbot.waitUntil(lambda: not panel._preview_runner.running, timeout=10000)
    qtbot.waitUntil(lambda: not panel.busy, timeout=10000)
    assert panel.preview_result is None
    assert panel.stats_label.text().startswith("Draw a region")
    assert errors == []
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_closing_the_series_while_a_preview_runs_is_clean(qtbot, window, panel,
                                                          slow_first_fit, errors, caplog):
    shown_results = []
    panel.previewUpdated.connect(lambda: shown_results.append(panel.preview_result))
    panel.add_roi(BorderROI(3))
    qtbot.waitUntil(slow_first_fit.entered.is_set, timeout=10000)
    window.close_current()
    slow_first_fit.release.set()
    qtbot.waitUntil(lambda: not panel._preview_runner.running, timeout=10000)
    wait_preview(qtbot, panel)
    assert all(result is None for result in shown_results)
    assert panel.preview_result is None and panel.preview_items["background"].image is None
    assert panel.stats_label.text().startswith("Draw a region")
    assert errors == []
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_requests_made_while_a_task_runs_are_coalesced(qtbot):
    runner = LatestTaskRunner()
    gate = threading.Event()
    ran, reported = [], []

    def job(name: str):
        def work(_progress, cancel):
            ran.append(name)
            if name == "first":
                gate.wait(60)
                ran.append(f"first cancelled: {cancel()}")
            return name
        return work

    runner.succeeded.connect(reported.append)
    try:
        runner.submit(job("first"))
        qtbot.waitUntil(lambda: ran == ["first"], timeout=10000)
        runner.submit(job("second"))
        runner.submit(job("third"))
        assert runner.busy and runner.running
    finally:
        gate.set()
    qtbot.waitUntil(lambda: not runner.busy and not runner.running, timeout=10000)
    assert ran == ["first", "first cancelled: True", "third"]
    assert reported == ["third"]


# ----------------------------------------------------------------- masks for the bleach panel

def test_masks_for_other_panels(qtbot, panel):
    assert panel.background_mask() is None and panel.signal_mask() is None
    with qtbot.waitSignal(panel.masks_changed, timeout=1000):
        panel.add_roi(BorderROI(3))
    np.testing.assert_array_equal(panel.signal_mask(), ~BorderROI(3).mask(SHAPE))
    cell = EllipseROI(12, 8, 16, 16, role="exclude")
    panel.add_roi(cell)
    np.testing.assert_array_equal(panel.signal_mask(), EllipseROI(12, 8, 16, 16).mask(SHAPE))
    np.testing.assert_array_equal(panel.background_mask(),
                                  BorderROI(3).mask(SHAPE) & ~cell.mask(SHAPE))


def test_regions_for_one_frame_only(qtbot, window, panel):
    panel.add_roi(BorderROI(2))
    window.browser.set_index(1)
    wait_for_frame(qtbot, window, 1)
    panel.frame_only_check.setChecked(True)
    panel.add_roi(RectangleROI(0, 0, 10, 10))
    assert len(panel.roiset.rois) == 1
    assert len(panel.roiset.overrides[1]) == 2
    np.testing.assert_array_equal(panel.background_mask(1), BorderROI(2).mask(SHAPE)
                                  | RectangleROI(0, 0, 10, 10).mask(SHAPE))
    np.testing.assert_array_equal(panel.background_mask(0), BorderROI(2).mask(SHAPE))
    window.browser.set_index(0)
    wait_for_frame(qtbot, window, 0)
    assert panel.roi_list.count() == 1 and not panel.frame_only_check.isChecked()


# ----------------------------------------------------------------- apply, save, reopen

def test_apply_to_all_frames_writes_and_opens_the_result(qtbot, window, panel, series_path,
                                                         tmp_path):
    rois = (RectangleROI(0, 0, 8, 32), BorderROI(2))
    panel.add_rois(list(rois), "regions")
    panel.profile_combo.setCurrentIndex(panel.profile_combo.findData("offset"))
    out = tmp_path / "corrected.h5"
    task = panel.apply(output=out)
    qtbot.waitUntil(task.is_done, timeout=20000)
    qtbot.waitUntil(lambda: len(window.documents) == 2, timeout=5000)
    mask = ROISet(rois=rois).mask(SHAPE)
    with FLSeries(h5file=out, h5mode="r") as corrected, \
            FLSeries(h5file=series_path, h5mode="r") as original:
        assert len(corrected) == 5
        for index in range(5):
            assert corrected[index].bg_keys == ["fit"]
            raw = original[index].raw_fl
            np.testing.assert_allclose(corrected[index].fl, raw - raw[mask].mean(), atol=1e-3)
    # the corrected series is shown, with the regions restored from its file
    assert window.current_document().source_path == str(out)
    assert [replace(r, name="") for r in panel.roiset.rois] == list(rois)
    assert panel.roiset.fit_profile == "offset"


def test_apply_to_a_frame_range(qtbot, window, panel, tmp_path):
    panel.add_roi(BorderROI(3))
    panel.range_first.setValue(1)
    panel.range_last.setValue(2)
    assert panel.frames_to_apply() == [1, 2]
    out = tmp_path / "range.h5"
    task = panel.apply(output=out)
    qtbot.waitUntil(task.is_done, timeout=20000)
    with FLSeries(h5file=out, h5mode="r") as corrected:
        assert [bool(corrected[i].bg_keys) for i in range(5)] == [False, True, True, False,
                                                                  False]
    wait_for_frame(qtbot, window, 0)
    window.browser.set_index(3)
    # "this frame" is the frame on display, which the reader thread delivers a moment later
    wait_for_frame(qtbot, window, 3)
    panel.scope_this.setChecked(True)
    assert panel.frames_to_apply() == [3]


def test_apply_without_regions_says_so(qtbot, panel, tmp_path, errors):
    assert panel.apply(output=tmp_path / "x.h5") is None
    assert errors and "Draw at least one" in errors[-1][1]


def test_rois_survive_save_and_reopen(qtbot, window, panel, tmp_path):
    rois = [RectangleROI(1, 2, 6, 7, name="left"), EllipseROI(12, 8, 16, 16, role="exclude",
                                                              name="cell")]
    panel.add_rois(rois, "regions")
    panel.offset_combo.setCurrentIndex(panel.offset_combo.findData("gauss"))
    saved = tmp_path / "saved.h5"
    document = window.current_document()
    document.save_copy(saved)  # what File ▸ Save As did before; Save rewrites that copy
    window.save_action.trigger()
    stored = load_roiset_h5(saved)
    assert list(stored.rois) == rois and stored.fit_offset == "gauss"
    window.close_current()
    window.open_paths([saved])
    wait_for_frame(qtbot, window, 0)
    assert list(panel.roiset.rois) == rois
    assert panel.offset_combo.currentData() == "gauss"
    assert panel.roi_list.count() == 2


def test_each_series_keeps_its_own_regions_and_undo_history(qtbot, window, panel, tmp_path):
    panel.add_roi(BorderROI(2))
    other = tmp_path / "other.h5"
    write_series(other, count=2, shape=SHAPE)
    window.open_paths([other])
    wait_for_frame(qtbot, window, 0)
    assert panel.roiset.rois == () and not panel.undo_button.isEnabled()
    panel.add_roi(RectangleROI(0, 0, 4, 4))
    window.series_list.setCurrentRow(0)
    assert [r.kind for r in panel.roiset.rois] == ["border"]
    panel.undo_button.click()
    assert panel.roiset.rois == ()


# ----------------------------------------------------------------- ROI files

def test_export_and_import_json(qtbot, panel, tmp_path):
    panel.add_roi(PolygonROI(points=[(0, 0), (10, 0), (0, 10)]))
    path = tmp_path / "rois.json"
    assert panel.export_rois(path)
    assert load_roiset_json(path) == panel.roiset
    other = ROISet(rois=(BorderROI(5, name="frame"),), fit_profile="poly2o")
    save_roiset_json(other, tmp_path / "other.json")
    assert panel.import_rois(tmp_path / "other.json")
    assert panel.roiset == other
    panel.undo_button.click()
    assert panel.roiset.rois[0].kind == "polygon"


def test_import_imagej_rois(qtbot, panel, tmp_path, errors):
    rect = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=3, top=4, right=10,
                             bottom=8, name="fiji rect")
    oval = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=20, top=2, right=30,
                             bottom=10, name="fiji oval")
    roifile.roiwrite(tmp_path / "RoiSet.zip", [rect, oval])
    assert panel.import_rois(tmp_path / "RoiSet.zip")
    assert [r.name for r in panel.roiset.rois] == ["fiji rect", "fiji oval"]
    assert panel.roiset.rois[0] == RectangleROI(3, 4, 7, 4, name="fiji rect")
    (tmp_path / "bad.roi").write_bytes(b"nonsense")
    assert not panel.import_rois(tmp_path / "bad.roi")
    assert errors and "Cannot read ImageJ" in errors[-1][1]


def test_a_polygon_with_too_few_points_draws_nothing(qtbot, panel):
    panel.polygon_button.click()
    panel.tool.press(1, 1)
    panel.tool.press(5, 1)
    panel.tool.finish()
    assert panel.roiset.rois == ()
    assert panel.polygon_button.isChecked() and not panel.tool.drawing


def test_mouse_drawing_on_the_view(qtbot, window, panel):
    """A free-hand stroke with real mouse events on the image view."""
    view = window.image_view.graphics
    window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    panel.freehand_button.click()
    box = window.image_view.view_box

    def screen(x, y):
        scene_point = box.mapViewToScene(QtCore.QPointF(x, y))
        return view.mapFromScene(scene_point)

    qtbot.mousePress(view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=screen(5, 5))
    for x, y in ((15, 5), (15, 15), (5, 15)):
        from PyQt6 import QtGui, QtWidgets

        event = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, QtCore.QPointF(screen(x, y)),
                                  QtCore.QPointF(view.viewport().mapToGlobal(screen(x, y))),
                                  QtCore.Qt.MouseButton.NoButton,
                                  QtCore.Qt.MouseButton.LeftButton,
                                  QtCore.Qt.KeyboardModifier.NoModifier)
        QtWidgets.QApplication.sendEvent(view.viewport(), event)
    qtbot.mouseRelease(view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=screen(5, 15))
    assert len(panel.roiset.rois) == 1
    roi = panel.roiset.rois[0]
    assert roi.kind == "freehand"
    mask = roi.mask(SHAPE)
    assert mask[10, 10] and not mask[20, 20]


# ----------------------------------------------------------------- the mouse and keys, as in Fiji

@pytest.fixture
def shown(qtbot, window, panel):
    """The window on screen at 1000×700 with the image fitted: mouse events reach the view."""
    window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    window.image_view.view_box.autoRange(padding=0)
    qtbot.wait(50)
    return panel


def view_point(window, x, y):
    """Viewport position (QPoint) of image point (x, y) in pixels."""
    view = window.image_view.graphics
    scene_point = window.image_view.view_box.mapViewToScene(QtCore.QPointF(x, y))
    return view.mapFromScene(scene_point)


def mouse_move(window, x, y, buttons=QtCore.Qt.MouseButton.LeftButton):
    """A mouse move with `buttons` held (QTest.mouseMove does not say which are held)."""
    from PyQt6 import QtGui, QtWidgets

    viewport = window.image_view.graphics.viewport()
    local = QtCore.QPointF(view_point(window, x, y))
    event = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, local,
                              QtCore.QPointF(viewport.mapToGlobal(local)),
                              QtCore.Qt.MouseButton.NoButton, buttons,
                              QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(viewport, event)


def drag(qtbot, window, points):
    """Press at the first image point, move through the others, release at the last."""
    viewport = window.image_view.graphics.viewport()
    left = QtCore.Qt.MouseButton.LeftButton
    qtbot.mousePress(viewport, left, pos=view_point(window, *points[0]))
    for x, y in points[1:]:
        qtbot.wait(25)  # pyqtgraph drops moves that follow each other within ~16 ms
        mouse_move(window, x, y)
    qtbot.mouseRelease(viewport, left, pos=view_point(window, *points[-1]))


def click(qtbot, window, x, y, double=False):
    viewport = window.image_view.graphics.viewport()
    left = QtCore.Qt.MouseButton.LeftButton
    if double:
        qtbot.mouseDClick(viewport, left, pos=view_point(window, x, y))
    else:
        qtbot.mouseClick(viewport, left, pos=view_point(window, x, y))


@pytest.mark.parametrize("button, kind", [("rect_button", RectangleROI),
                                          ("ellipse_button", EllipseROI)])
def test_dragging_draws_a_rectangle_or_an_ellipse_where_the_mouse_went(qtbot, window, shown,
                                                                        button, kind):
    panel = shown
    box = window.image_view.view_box
    view_range = box.viewRange()
    getattr(panel, button).click()
    drag(qtbot, window, [(6.2, 5.8), (10, 9), (15, 14), (21.3, 17.9)])
    assert len(panel.roiset.rois) == 1
    roi = panel.roiset.rois[0]
    assert type(roi) is kind
    assert (roi.x, roi.y, roi.width, roi.height) == (6, 6, 15, 12)  # whole pixels, as in Fiji
    assert box.viewRange() == view_range  # the drag drew instead of panning
    assert getattr(panel, button).isChecked() and panel.state.selected == 0
    # dragging up and to the left draws the box between the two corners too
    drag(qtbot, window, [(36, 28), (30, 25), (28.2, 24.4)])
    second = panel.roiset.rois[1]
    assert (second.x, second.y, second.width, second.height) == (28, 24, 8, 4)


def test_with_the_select_tool_dragging_the_image_pans(qtbot, window, shown):
    panel = shown
    box = window.image_view.view_box
    assert panel.select_button.isChecked()
    (x0, _), _ = box.viewRange()
    drag(qtbot, window, [(20, 15), (17, 15), (14, 15), (10, 15)])
    (x1, _), _ = box.viewRange()
    assert panel.roiset.rois == () and x1 > x0 + 5


def test_polygon_by_clicks_closed_on_the_first_vertex_or_by_double_click(qtbot, window, shown):
    panel = shown
    panel.polygon_button.click()
    for x, y in ((5, 5), (20, 5), (20, 20)):
        click(qtbot, window, x, y)
    mouse_move(window, 12, 25, buttons=QtCore.Qt.MouseButton.NoButton)
    click(qtbot, window, 5.2, 5.1)  # on the first vertex: closes
    assert len(panel.roiset.rois) == 1
    np.testing.assert_allclose(panel.roiset.rois[0].points, ((5, 5), (20, 5), (20, 20)),
                               atol=0.2)
    for x, y in ((25, 5), (35, 5), (35, 15)):
        click(qtbot, window, x, y)
    click(qtbot, window, 25, 15, double=True)
    assert len(panel.roiset.rois) == 2
    np.testing.assert_allclose(panel.roiset.rois[1].points,
                               ((25, 5), (35, 5), (35, 15), (25, 15)), atol=0.2)
    assert panel.polygon_button.isChecked()
    # Esc drops a polygon being drawn, Enter closes one
    view = window.image_view.graphics
    view.setFocus()
    for x, y in ((2, 25), (8, 25)):
        click(qtbot, window, x, y)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Escape)
    assert not panel.tool.drawing and len(panel.roiset.rois) == 2
    for x, y in ((2, 25), (8, 25), (8, 30)):
        click(qtbot, window, x, y)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Return)
    assert len(panel.roiset.rois) == 3


def test_the_picked_tool_shows_as_pressed(qtbot, shown):
    panel = shown
    panel.polygon_button.click()
    panel.freehand_button.click()
    pressed = [kind for kind, button in panel.tool_buttons.items() if button.isChecked()]
    assert pressed == ["freehand"] and panel.tool.kind == "freehand"
    panel.select_button.click()
    assert panel.tool.kind is None and not panel.freehand_button.isChecked()


def test_arrow_keys_move_the_selected_roi_and_step_frames_otherwise(qtbot, window, shown):
    panel = shown
    panel.add_roi(RectangleROI(4, 4, 6, 6))
    view = window.image_view.graphics
    view.setFocus()
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Right)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Down, QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert (panel.roiset.rois[0].x, panel.roiset.rois[0].y) == (5, 14)
    assert window.current_index() == 0
    assert panel.state.history.undo_text == "Move ROI"
    panel.undo_button.click()  # the key moves were one step
    assert (panel.roiset.rois[0].x, panel.roiset.rois[0].y) == (4, 4)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Escape)  # nothing selected: arrows step frames
    assert panel.state.selected is None
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.current_index() == 1, timeout=3000)
    assert (panel.roiset.rois[0].x, panel.roiset.rois[0].y) == (4, 4)


def test_click_selects_and_delete_removes(qtbot, window, shown):
    panel = shown
    panel.add_rois([RectangleROI(2, 2, 8, 8), EllipseROI(20, 10, 10, 10)], "two")
    panel.state.select(None)
    click(qtbot, window, 25, 15)
    assert panel.state.selected == 1 and panel.roi_list.currentRow() == 1
    click(qtbot, window, 35, 28)  # on no region
    assert panel.state.selected is None
    panel.rect_button.click()
    click(qtbot, window, 5, 5)  # a click without a drag selects, also with a drawing tool
    assert panel.state.selected == 0 and len(panel.roiset.rois) == 2
    view = window.image_view.graphics
    view.setFocus()
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Delete)
    assert [roi.kind for roi in panel.roiset.rois] == ["ellipse"]


def test_dragging_a_handle_is_a_resize_and_the_body_a_move(qtbot, window, shown):
    panel = shown
    panel.rect_button.click()
    drag(qtbot, window, [(5, 5), (10, 10), (15, 13)])
    assert panel.roiset.rois[0] == RectangleROI(5, 5, 10, 8, name="rectangle 1")
    # the rectangle tool stays picked: the corner handle still resizes, the body moves
    drag(qtbot, window, [(15, 13), (18, 16), (22, 19), (25, 20)])
    assert panel.roiset.rois[0] == RectangleROI(5, 5, 20, 15, name="rectangle 1")
    assert panel.state.history.undo_text == "Resize ROI"
    drag(qtbot, window, [(10, 10), (12, 12), (14, 13)])
    assert panel.roiset.rois[0] == RectangleROI(9, 8, 20, 15, name="rectangle 1")
    assert panel.state.history.undo_text == "Move ROI"
    assert len(panel.roiset.rois) == 1
    panel.undo_button.click()
    panel.undo_button.click()
    assert panel.roiset.rois[0] == RectangleROI(5, 5, 10, 8, name="rectangle 1")


def test_typed_position_and_size_move_and_resize_the_selected_roi(qtbot, window, shown):
    panel = shown
    panel.add_roi(EllipseROI(4, 4, 6, 6))
    spins = panel.geometry_spins
    assert [spins[key].value() for key in "xywh"] == [4, 4, 6, 6]
    spins["w"].lineEdit().selectAll()
    qtbot.keyClicks(spins["w"].lineEdit(), "12")
    qtbot.keyClick(spins["w"].lineEdit(), QtCore.Qt.Key.Key_Return)
    assert panel.roiset.rois[0] == EllipseROI(4, 4, 12, 6, name="ellipse 1")
    assert panel.state.history.undo_text == "Resize ROI"
    spins["x"].lineEdit().selectAll()
    qtbot.keyClicks(spins["x"].lineEdit(), "20")
    qtbot.keyClick(spins["x"].lineEdit(), QtCore.Qt.Key.Key_Return)
    assert panel.roiset.rois[0] == EllipseROI(20, 4, 12, 6, name="ellipse 1")
    assert panel.state.history.undo_text == "Move ROI"
    panel.state.select(None)
    assert not spins["x"].isEnabled()


def test_switching_series_and_back_keeps_settings_and_rois(qtbot, window, shown, tmp_path):
    panel = shown
    panel.add_roi(RectangleROI(2, 2, 8, 8))
    panel.profile_combo.setCurrentIndex(panel.profile_combo.findData("poly2o"))
    panel.border_spin.setValue(17)
    panel.role_combo.setCurrentIndex(panel.role_combo.findData("exclude"))
    panel.scope_this.setChecked(True)
    panel.ellipse_button.click()
    other = tmp_path / "other.h5"
    write_series(other, count=2, shape=SHAPE)
    window.open_paths([other])
    wait_for_frame(qtbot, window, 0)
    assert panel.roiset == ROISet() and panel.border_spin.value() == 10
    assert panel.role_combo.currentData() == "include" and panel.scope_all.isChecked()
    panel.border_spin.setValue(3)
    window.series_list.setCurrentRow(0)
    wait_for_frame(qtbot, window, 0)
    assert [r.name for r in panel.roiset.rois] == ["rectangle 1"]
    assert panel.profile_combo.currentData() == "poly2o"
    assert panel.border_spin.value() == 17 and panel.role_combo.currentData() == "exclude"
    assert panel.scope_this.isChecked() and panel.roi_list.count() == 1
    assert len(roi_items(panel)) == 1
    window.series_list.setCurrentRow(1)
    assert panel.border_spin.value() == 3 and panel.roiset.rois == ()


def test_the_undo_buttons_keep_their_width_and_own_no_shortcut(qtbot, shown):
    panel = shown
    width = panel.undo_button.sizeHint().width()
    panel.add_roi(RectangleROI(0, 0, 4, 4, name="a region with a very long name indeed"))
    assert panel.undo_button.text() == "Undo"
    assert "a region with a very long name" in panel.undo_button.toolTip()
    assert panel.undo_button.sizeHint().width() == width
    assert panel.undo_button.shortcut().isEmpty() and panel.delete_button.shortcut().isEmpty()


@pytest.mark.parametrize("name, content", [
    ("truncated.roi", b"Iout\x00\xe4\x00"),
    ("nonsense.zip", b"PK\x03\x04 not really a zip"),
])
def test_unreadable_fiji_files_are_reported_in_one_line(qtbot, panel, tmp_path, errors, name,
                                                        content):
    (tmp_path / name).write_bytes(content)
    assert not panel.import_rois(tmp_path / name)
    title, message = errors[-1]
    assert title == "Import ROIs" and name in message and "\n" not in message
    assert panel.roiset.rois == ()


def test_a_zip_with_a_foreign_entry_is_reported(qtbot, panel, tmp_path, errors):
    import zipfile

    path = tmp_path / "RoiSet.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.roi", roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=1, top=1,
                                                    right=5, bottom=5).tobytes())
        archive.writestr("notes.txt", "not a ROI")
    assert not panel.import_rois(path)
    title, message = errors[-1]
    assert title == "Import ROIs" and "RoiSet.zip" in message and "\n" not in message
    assert panel.roiset.rois == ()


def test_nan_coordinates_are_reported_in_one_line(qtbot, panel, tmp_path, errors):
    polygon = roifile.ImagejRoi.frompoints(np.array([[1.0, 1.0], [np.nan, 4.0], [6.0, 2.0]]),
                                           name="broken")
    polygon.roitype = roifile.ROI_TYPE.POLYGON
    path = tmp_path / "nan.roi"
    path.write_bytes(polygon.tobytes())
    assert not panel.import_rois(path)
    title, message = errors[-1]
    assert title == "Import ROIs" and "nan.roi" in message and "\n" not in message
    assert panel.roiset.rois == ()


def test_export_fiji_roiset_and_import_it_back(qtbot, panel, tmp_path):
    rois = [RectangleROI(1, 2, 6, 7, name="left"), EllipseROI(12, 8, 16, 16, role="exclude",
                                                              name="cell")]
    panel.add_rois(rois, "regions")
    assert panel.export_rois(tmp_path / "RoiSet.zip")
    panel.select(1)
    assert panel.export_rois(tmp_path / "cell.roi")
    panel.add_roi(BorderROI(2))
    assert panel.export_rois(tmp_path / "with_border.zip")  # the frame size is known
    panel.state.history.undo()
    panel.state.history.undo()
    assert panel.roiset.rois == ()
    assert panel.import_rois(tmp_path / "RoiSet.zip")
    assert list(panel.roiset.rois) == rois
    assert panel.import_rois(tmp_path / "cell.roi")
    assert panel.roiset.rois[-1] == EllipseROI(12, 8, 16, 16, role="exclude", name="cell")


@pytest.mark.parametrize("size", [(1024, 700), (1400, 900)])
def test_the_panel_fits_a_laptop_window_without_horizontal_scrolling(qtbot, window, panel,
                                                                      size):
    from PyQt6 import QtWidgets

    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    window.show_panel("metadata")
    window.show_panel("background")  # the pane makes room for the panel in front
    panel.add_roi(RectangleROI(0, 0, 4, 4, name="a region with a long name"))
    qtbot.wait(100)
    page = window.panel_tabs.currentWidget()
    assert page.widget() is panel
    assert not page.horizontalScrollBar().isVisible()
    assert panel.width() <= page.viewport().width()
    for button in panel.findChildren(QtWidgets.QAbstractButton):
        if button.isVisibleTo(panel):
            assert button.width() >= button.minimumSizeHint().width(), button.text()
            assert button.geometry().right() <= button.parentWidget().width(), button.text()


def test_another_panel_in_front_gives_the_image_back_to_panning(qtbot, window, shown):
    panel = shown
    panel.rect_button.click()
    window.show_panel("metadata")
    assert panel.tool.kind is None and panel.select_button.isChecked()
    box = window.image_view.view_box
    (x0, _), _ = box.viewRange()
    drag(qtbot, window, [(20, 15), (17, 15), (14, 15), (10, 15)])
    assert panel.roiset.rois == () and box.viewRange()[0][0] > x0 + 5


def test_delete_in_the_list_removes_the_selected_roi(qtbot, window, shown):
    panel = shown
    panel.add_rois([RectangleROI(2, 2, 8, 8), BorderROI(2)], "two")
    panel.roi_list.setFocus()
    panel.roi_list.setCurrentRow(1)
    assert panel.state.selected == 1
    qtbot.keyClick(panel.roi_list, QtCore.Qt.Key.Key_Delete)
    assert [roi.kind for roi in panel.roiset.rois] == ["rectangle"]
    qtbot.keyClick(panel.roi_list, QtCore.Qt.Key.Key_Delete)  # nothing selected: no edit
    assert len(panel.roiset.rois) == 1


def test_rois_drawn_on_a_tiff_stack_are_unsaved_work_and_survive_save_as(qtbot, window, tmp_path):
    import tifffile

    stack = tmp_path / "cells.tif"
    tifffile.imwrite(stack, np.random.default_rng(2).integers(0, 200, (3, *SHAPE),
                                                                dtype=np.uint16), imagej=True)
    panel = BackgroundPanel(window)
    window.add_panel("background", panel, "Background")
    window.open_paths([stack])
    wait_for_frame(qtbot, window, 0)
    window.show_panel("background")
    window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    window.image_view.view_box.autoRange(padding=0)
    qtbot.wait(50)
    panel.rect_button.click()
    drag(qtbot, window, [(2, 3), (6, 8), (9, 12)])
    document = window.current_document()
    assert document.source_kind == "stack"
    assert "1 background ROI" in document.unsaved_work() and document.modified
    saved = document.save_copy(tmp_path / "cells.h5")
    window.close_current()
    window.open_paths([saved])
    wait_for_frame(qtbot, window, 0)
    assert panel.roiset.rois == (RectangleROI(2, 3, 7, 9, name="rectangle 1"),)
    assert window.current_document().unsaved_work() == []


def test_regions_are_out_of_reach_while_another_panel_is_in_front(qtbot, window, shown):
    """In another panel (Metadata, Bleach, Measure) a click, a drag or a key on the image
    never selects, moves or deletes a background region: they are shown dimmed and inert."""
    panel = shown
    panel.add_rois([RectangleROI(2, 2, 8, 8), EllipseROI(20, 10, 10, 10)], "two")
    click(qtbot, window, 5, 5)
    assert panel.state.selected == 0
    window.show_panel("browse")
    qtbot.waitUntil(lambda: not panel.isVisible(), timeout=3000)
    assert panel.state.selected is None and not panel.layer.interactive
    assert all(item.opacity() < 1 for item in roi_items(panel))
    before = list(panel.roiset.rois)
    click(qtbot, window, 5, 5)
    assert panel.state.selected is None
    drag(qtbot, window, [(25, 15), (28, 18), (31, 20)])  # on the ellipse's body
    panel.state.select(1)  # even a selection made elsewhere (e.g. by Undo) stays put
    view = window.image_view.graphics
    view.setFocus()
    for key in (QtCore.Qt.Key.Key_Left, QtCore.Qt.Key.Key_Delete):
        qtbot.keyClick(view, key)
    assert list(panel.roiset.rois) == before
    window.show_panel("background")
    qtbot.waitUntil(lambda: panel.layer.interactive, timeout=3000)
    assert all(item.opacity() == 1 for item in roi_items(panel))
    click(qtbot, window, 25, 15)
    assert panel.state.selected == 1
