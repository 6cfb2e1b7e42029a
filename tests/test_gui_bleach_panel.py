"""Bleach panel: each method, plots, report, failures, preview, run, cancel and export."""

from __future__ import annotations

import csv
import hashlib
import shutil
import threading

import h5py
import numpy as np
import pytest
import tifffile
from PyQt6 import QtCore, QtWidgets

from flimage_app.gui.bleach import bleach_outputs as bleach_outputs_module
from flimage_app.gui.bleach.bleach_panel import BleachPanel, BleachSettings
from flimage_app.gui.bleach.bleach_plots import relative_corrected
from flimage_app.model import FLImage, FLSeries
from flimage_app.model.bleach import METHODS, correct_series
from flimage_app.model.demo import demo_series_path
from flimage_app.model.errors import FitError
from flimage_app.model.provenance import read_provenance

#: fixture errors (error dialogs recorded instead of shown)
pytest_plugins = ["tests.gui_fixtures"]


# ---------------------------------------------------------------------- fixtures
@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, errors):
    """A main window (private settings) with only the bleach panel added."""
    from flimage_app.gui.app import SETTINGS_ENV
    from flimage_app.gui.main_window import MainWindow

    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "settings.ini"))
    main_window = MainWindow(load_optional_panels=False)

    def before_close(widget) -> None:
        # pytest-qt closes the window before fixtures are torn down: stop the work first
        panel = widget.panel("bleach")
        if panel is not None:
            qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
            panel.cleanup()
        widget.shutdown()

    qtbot.addWidget(main_window, before_close_func=before_close)
    return main_window


@pytest.fixture
def panel(window):
    widget = BleachPanel(window)
    window.add_panel("bleach", widget, "Bleach correction")
    window.show_panel("bleach")
    return widget


@pytest.fixture
def demo(tmp_path):
    """A copy of the demo series in its own folder (outputs are proposed beside it)."""
    folder = tmp_path / "data"
    folder.mkdir()
    target = folder / "demo.h5"
    shutil.copy(demo_series_path(), target)
    return target


def wait_fit(qtbot, panel) -> None:
    """Wait until the panel shows the outcome of its current settings."""
    qtbot.waitUntil(lambda: not panel.busy and panel.outcome is not None
                    and panel.outcome.settings == panel.settings(), timeout=15_000)


def open_demo(qtbot, window, panel, demo):
    window.open_paths([demo])
    wait_fit(qtbot, panel)


def choose(panel, qtbot, **changes) -> None:
    """Change settings through the widgets and wait for the fit."""
    settings = panel.settings()
    panel.set_settings(BleachSettings(**{**settings.__dict__, **changes}))
    wait_fit(qtbot, panel)


def curve(item) -> tuple[np.ndarray, np.ndarray]:
    x_values, y_values = item.getData()
    if x_values is None:
        return np.empty(0), np.empty(0)
    return np.asarray(x_values), np.asarray(y_values)


def file_hash(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_and_wait(qtbot, task) -> None:
    assert task is not None
    qtbot.waitUntil(task.is_done, timeout=30_000)
    QtWidgets.QApplication.processEvents()


# ---------------------------------------------------------------------- methods and plots
@pytest.mark.parametrize("method", METHODS)
def test_each_method_runs_from_panel_and_plots_hold_its_curves(qtbot, window, panel, demo,
                                                               method):
    open_demo(qtbot, window, panel, demo)
    choose(panel, qtbot, method=method, strict=False)
    expected = correct_series(demo, None, method, strict=False)

    assert panel.outcome.failure is None, panel.outcome.failure
    plots = panel.plots
    times, intensity = curve(plots.measured_item)
    np.testing.assert_allclose(times, expected.times)
    np.testing.assert_allclose(intensity, expected.intensity)
    _, factor = curve(plots.factor_item)
    np.testing.assert_allclose(factor, expected.correction, rtol=1e-12)
    _, corrected = curve(plots.corrected_item)
    np.testing.assert_allclose(corrected, relative_corrected(expected.intensity,
                                                             expected.correction))
    _, fitted = curve(plots.fit_item)
    _, residuals = curve(plots.residual_item)
    report = panel.report_text.toPlainText()
    assert f"({method})" in report
    assert "Frames used: 36" in report
    if expected.fitted is None:
        assert fitted.size == 0 and residuals.size == 0
        assert "no residuals" in plots.note.toPlainText()
    else:
        np.testing.assert_allclose(fitted, expected.fitted)
        np.testing.assert_allclose(residuals, expected.intensity - expected.fitted)
        assert "R² = " in report and "Half-life" in report and "±" in report
    assert not plots.message.isVisible()


def test_decaying_demo_is_corrected_to_flat_trace(qtbot, window, panel, demo):
    open_demo(qtbot, window, panel, demo)
    choose(panel, qtbot, method="biexp")
    _, corrected = curve(panel.plots.corrected_item)
    # the bi-exponential describes the demo's bleaching: the corrected trace stays within 2 %
    assert np.all(np.abs(corrected - 100.0) < 2.0)
    _, factor = curve(panel.plots.factor_item)
    assert factor[0] == pytest.approx(1.0) and factor[-1] > 1.5


@pytest.fixture
def flat_series(tmp_path):
    """A series that does not bleach: constant level plus noise."""
    path = tmp_path / "flat.h5"
    rng = np.random.default_rng(1)
    with FLSeries(h5file=path, h5mode="w") as series:
        for index in range(12):
            image = 100.0 + rng.normal(0, 1, (48, 48))
            series.add_flimage(FLImage(data=image, meta_data={"time": 1.5 * index}))
    return path


@pytest.mark.parametrize("method", ["flimage", "exp", "biexp"])
def test_failed_fit_shows_reason_and_measured_trace(qtbot, window, panel, flat_series,
                                                    method):
    window.open_paths([flat_series])
    wait_fit(qtbot, panel)
    choose(panel, qtbot, method=method, background="constant")
    with pytest.raises(FitError) as engine_error:
        correct_series(flat_series, None, method, background="constant")
    assert panel.outcome.result is None
    status = panel.status_label.text()
    assert str(engine_error.value).splitlines()[0] in status
    assert "No correction with" in status
    _, intensity = curve(panel.plots.measured_item)
    assert intensity.size == 12  # the data are shown, not a flat line
    np.testing.assert_allclose(intensity, correct_series(flat_series, None, "ratio",
                                                         background="constant").intensity)
    assert curve(panel.plots.fit_item)[1].size == 0
    assert curve(panel.plots.corrected_item)[1].size == 0
    assert panel.plots.message.isVisible()
    assert "no correction" in panel.report_text.toPlainText()
    assert not panel.correct_button.isEnabled()
    assert not panel.export_h5_action.isEnabled()
    assert not panel.export_curves_action.isEnabled()
    assert panel.export_png_action.isEnabled()  # the plotted trace can be kept


def test_buttons_stay_in_view_when_the_fit_fails(qtbot, window, panel, flat_series):
    # a failed fit brings a three-line message; the panel must still fit a 900 px window
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    window.open_paths([flat_series])
    wait_fit(qtbot, panel)
    assert panel.outcome.failure
    QtWidgets.QApplication.processEvents()
    page = window._panel_pages["bleach"]
    assert not page.verticalScrollBar().isVisible()
    assert panel.height() <= page.viewport().height()


def test_unusable_setting_is_reported_in_the_panel(qtbot, window, panel, flat_series, errors):
    window.open_paths([flat_series])
    wait_fit(qtbot, panel)
    # a border wider than half the 48-px frame leaves no interior
    choose(panel, qtbot, method="ratio", background="border", border_px=30)
    assert "border_px=30" in panel.status_label.text()
    assert panel.outcome.result is None
    assert errors == []  # shown in the panel, no dialog


# ---------------------------------------------------------------------- marker and clicks
def test_marker_follows_browser_and_click_jumps_to_frame(qtbot, window, panel, demo):
    open_demo(qtbot, window, panel, demo)
    times = panel.plots.times
    window.browser.set_index(5)
    assert all(marker.isVisible() for marker in panel.plots.markers)
    assert panel.plots.markers[0].value() == pytest.approx(times[5])
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    plots = panel.plots
    position = plots.mapFromScene(plots.scene_position_of(20))
    qtbot.mouseClick(plots.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=position)
    qtbot.waitUntil(lambda: window.current_index() == 20, timeout=3000)
    assert plots.markers[3].value() == pytest.approx(times[20])


# ---------------------------------------------------------------------- report
def test_copy_report_puts_text_on_clipboard(qtbot, window, panel, demo):
    open_demo(qtbot, window, panel, demo)
    panel.copy_button.click()
    text = QtWidgets.QApplication.clipboard().text()
    assert text == panel.report_text.toPlainText()
    assert "Half-life = " in text and "demo.h5" in text


# ---------------------------------------------------------------------- preview and run
@pytest.mark.parametrize("method", ["exp", "histogram"])
def test_preview_matches_the_frame_the_correction_writes(qtbot, window, panel, demo, method):
    open_demo(qtbot, window, panel, demo)
    choose(panel, qtbot, method=method)
    window.browser.set_index(30)
    with qtbot.waitSignal(panel.previewShown, timeout=10_000):
        panel.preview_button.setChecked(True)
    preview = window.image_view.frame.raw.copy()
    assert "PREVIEW" in window.image_view.caption.text()
    # the status-bar readout names the values it shows: preview, not raw
    assert window.image_view.values_label == "preview"
    x, y = 20, 10
    text = window.image_view.readout_at(x + 0.5, y + 0.5).text()
    assert text.endswith(f"preview {preview[y, x]:.6g}") and "raw" not in text

    run_and_wait(qtbot, panel.run_correction())
    written = panel.corrected_for_current()
    with h5py.File(written.path, "r") as handle:
        frame = handle["fli_30/fluorescence/raw"][()]
    np.testing.assert_allclose(preview, frame, rtol=1e-5, atol=1e-3)
    panel.preview_button.setChecked(False)


def test_preview_is_not_replaced_by_a_raw_frame_read_late(qtbot, window, panel, demo,
                                                          monkeypatch):
    """A preview computed before the raw frame arrives must not be overwritten by it."""
    from flimage_app.gui.browser import frame_cache

    open_demo(qtbot, window, panel, demo)
    slow_read, release = frame_cache.stage_frame, threading.Event()

    def read_late(series, index):
        if index == 33:
            release.wait(5)
        return slow_read(series, index)

    monkeypatch.setattr(frame_cache, "stage_frame", read_late)
    captions = []
    show = window.image_view.set_frame

    def record(frame, pixel_size=None, caption="", **options):
        captions.append((frame.index if frame is not None else None, caption))
        show(frame, pixel_size, caption, **options)

    monkeypatch.setattr(window.image_view, "set_frame", record)
    window.browser.set_index(33)
    panel.preview_button.setChecked(True)
    qtbot.wait(300)  # the preview of 33 could finish while its raw frame is still read
    release.set()
    qtbot.waitUntil(lambda: "PREVIEW" in window.image_view.caption.text()
                    and window.image_view.frame.index == 33, timeout=10_000)
    qtbot.wait(200)
    of_33 = ["PREVIEW" in caption for index, caption in captions if index == 33]
    # raw first, then the preview, which stays: no preview-raw-preview flicker
    assert of_33 == [False, True]
    panel.preview_button.setChecked(False)


def test_unsaved_time_edits_are_fitted_and_carried_into_the_correction(qtbot, window, panel,
                                                                      demo):
    open_demo(qtbot, window, panel, demo)
    choose(panel, qtbot, method="exp")
    before, stored_times = file_hash(demo), panel.current_result().times.copy()
    window.browser.set_index(35)
    qtbot.waitUntil(lambda: window.metadata_panel.index == 35, timeout=5_000)
    window.metadata_panel.all_frames_check.setChecked(False)
    assert window.metadata_panel.edit("time", "20")
    wait_fit(qtbot, panel)
    result = panel.current_result()
    assert result is not None, panel.outcome.failure
    assert result.times[35] == pytest.approx(20.0) != stored_times[35]
    np.testing.assert_allclose(result.times[:35], stored_times[:35])
    assert "edited values" in panel.report_text.toPlainText()

    run_and_wait(qtbot, panel.run_correction())
    written = panel.corrected_for_current()
    with FLSeries(h5file=written.path, h5mode="r") as corrected:
        assert corrected.times()[35] == pytest.approx(20.0)
    assert file_hash(demo) == before  # the edit lives in the app until File > Save as


def test_correct_series_opens_new_series_with_provenance(qtbot, window, panel, demo):
    open_demo(qtbot, window, panel, demo)
    before = file_hash(demo)
    run_and_wait(qtbot, panel.run_correction())
    qtbot.waitUntil(lambda: len(window.documents) == 2, timeout=5000)
    document = window.current_document()
    assert document.name == "demo_bleachcorr"
    record = read_provenance(document.series)
    assert record["method"] == "exp" and record["input"]["file"] == "demo.h5"
    assert not panel.provenance_label.isHidden()
    assert "bleach correction" in panel.provenance_label.text()
    assert file_hash(demo) == before  # the input is never written


def test_cancel_leaves_no_file(qtbot, window, panel, demo, monkeypatch):
    open_demo(qtbot, window, panel, demo)
    release = threading.Event()
    real = bleach_outputs_module.correct_series

    def held(*args, **kwargs):  # the run starts only once the test has pressed Cancel
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(bleach_outputs_module, "correct_series", held)
    scratch_paths = []
    real_scratch_path = bleach_outputs_module.scratch_path

    def recorded_scratch_path(name):
        scratch_paths.append(real_scratch_path(name))
        return scratch_paths[-1]

    monkeypatch.setattr(bleach_outputs_module, "scratch_path", recorded_scratch_path)
    task = panel.run_correction()
    task.cancel()
    release.set()
    run_and_wait(qtbot, task)
    assert len(window.documents) == 1
    assert panel.corrected_for_current() is None
    # the result's scratch file and its sub-folder of the app's scratch folder are gone
    assert len(scratch_paths) == 1 and not scratch_paths[0].parent.exists()

    target = demo.parent / "cancelled.h5"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(target), ""))
    release.clear()
    task = panel.export_h5()
    task.cancel()
    release.set()
    run_and_wait(qtbot, task)
    assert sorted(path.name for path in demo.parent.iterdir()) == ["demo.h5"]


# ---------------------------------------------------------------------- exports
def test_export_h5_and_tiff_readable_by_flimage_and_tifffile(qtbot, window, panel, demo,
                                                             monkeypatch, errors):
    import flimage

    open_demo(qtbot, window, panel, demo)
    proposals = []
    answers = {".h5": demo.parent / "out.h5", ".tif": demo.parent / "out.tif"}

    def save_dialog(_parent, _title, proposal, _filter, **_kwargs):
        proposals.append(proposal)
        return str(answers[proposal[proposal.rfind("."):]].with_suffix("")), ""

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", save_dialog)
    run_and_wait(qtbot, panel.export_h5())
    run_and_wait(qtbot, panel.export_tiff())
    assert proposals == [str(demo.parent / "demo_bleachcorr.h5"),
                         str(demo.parent / "demo_bleachcorr.tif")]
    assert errors == []

    expected = correct_series(demo, None, "exp")
    with FLSeries(h5file=demo, h5mode="r") as source:
        times = source.times()
        pixel_size = source[0].meta["pixel size"]
        frame_7 = source[7].fl
    corrected_7 = (frame_7 - expected.background[7]) * expected.correction[7]

    reference = flimage.FLSeries(h5file=answers[".h5"], h5mode="r")
    try:
        assert len(reference) == 36
        assert reference.get_flimage(7)["time"] == pytest.approx(times[7])
        assert reference.get_flimage(7)["pixel size"] == pytest.approx(pixel_size)
        np.testing.assert_allclose(reference.get_flimage(7).fl, corrected_7, rtol=1e-5,
                                   atol=1e-3)
    finally:
        reference.h5.file.close()
    assert read_provenance(answers[".h5"])["method"] == "exp"

    with tifffile.TiffFile(answers[".tif"]) as tif:
        assert tif.is_imagej
        metadata = tif.imagej_metadata
        stack = tif.asarray()
        x_resolution = tif.pages[0].tags["XResolution"].value
    assert stack.shape == (36, 192, 256) and stack.dtype == np.float32
    np.testing.assert_allclose(stack[7], corrected_7, rtol=1e-5, atol=1e-3)
    assert metadata["finterval"] == pytest.approx((times[-1] - times[0]) / 35)
    assert metadata["unit"] in ("um", "micron", "µm")
    assert x_resolution[0] / x_resolution[1] == pytest.approx(1e-6 / pixel_size, rel=1e-4)


def test_export_never_overwrites_silently(qtbot, window, panel, demo, monkeypatch):
    open_demo(qtbot, window, panel, demo)
    target = demo.parent / "existing.csv"
    target.write_text("keep me")
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(target), ""))
    questions = []

    def answer(reply):
        def question(*args, **kwargs):
            questions.append(args[2])
            return reply
        return question

    monkeypatch.setattr(QtWidgets.QMessageBox, "question",
                        answer(QtWidgets.QMessageBox.StandardButton.No))
    panel.export_curves_csv()
    assert target.read_text() == "keep me" and len(questions) == 1
    monkeypatch.setattr(QtWidgets.QMessageBox, "question",
                        answer(QtWidgets.QMessageBox.StandardButton.Yes))
    panel.export_curves_csv()
    assert target.read_text().startswith("frame,time [s]")

    # the opened input file itself is refused outright
    before = file_hash(demo)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(demo), ""))
    assert panel.export_h5() is None
    assert file_hash(demo) == before


def test_export_plots_and_csv(qtbot, window, panel, demo, monkeypatch, errors):
    open_demo(qtbot, window, panel, demo)
    chosen = {}

    def save_dialog(_parent, _title, proposal, _filter, **_kwargs):
        chosen["proposal"] = proposal
        return proposal, ""

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", save_dialog)
    panel.export_png()
    panel.export_svg()
    panel.export_curves_csv()
    panel.export_report_csv()
    assert errors == []
    folder = demo.parent
    png = folder / "demo_bleachcorr_plots.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (folder / "demo_bleachcorr_plots.svg").read_bytes()[:2000]

    result = panel.current_result()
    with open(folder / "demo_bleachcorr_curves.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:5] == ["frame", "time [s]", "background", "intensity", "fitted"]
    assert len(rows) == 37
    table = np.array([[float(value) for value in row] for row in rows[1:]])
    np.testing.assert_allclose(table[:, 3], result.intensity)
    np.testing.assert_allclose(table[:, 4], result.fitted)
    np.testing.assert_allclose(table[:, 6], result.correction)
    np.testing.assert_allclose(table[:, 7], result.intensity * result.correction)

    with open(folder / "demo_bleachcorr_report.csv", newline="", encoding="utf-8") as handle:
        report = {row[0]: row for row in csv.reader(handle)}
    half_life, error = result.report.half_lives[0]
    assert float(report["half-life"][1]) == pytest.approx(half_life)
    assert float(report["half-life"][2]) == pytest.approx(error)
    assert report["half-life"][3] == "s"
    assert float(report["R²"][1]) == pytest.approx(result.report.r_squared)
    assert report["frames used"][1] == "36"


# ---------------------------------------------------------------------- ROIs and registration
class FakeRoiPanel(QtWidgets.QWidget):
    """Stands in for the background panel's mask API."""

    masks_changed = QtCore.pyqtSignal()

    def __init__(self, shape):
        super().__init__()
        self.background = np.zeros(shape, bool)
        self.background[:20, :] = True
        self.signal = np.zeros(shape, bool)
        self.signal[40:110, 30:100] = True

    def background_mask(self, index=None):
        return self.background

    def signal_mask(self, index=None):
        return self.signal


def test_roi_masks_from_background_panel_drive_the_measurement(qtbot, window, demo):
    rois = FakeRoiPanel((192, 256))
    window.add_panel("background", rois, "Background")
    panel = BleachPanel(window)
    window.add_panel("bleach", panel, "Bleach correction")
    open_demo(qtbot, window, panel, demo)
    assert panel.masks.signal is not None and panel.masks.background is not None
    choose(panel, qtbot, region="signal", background="mask")
    expected = correct_series(demo, None, "exp", region="signal", background="mask",
                              signal_mask=rois.signal, background_mask=rois.background)
    np.testing.assert_allclose(curve(panel.plots.measured_item)[1], expected.intensity)
    recipe = panel.recipe()
    assert recipe["parameters"]["region"] == "signal"
    np.testing.assert_array_equal(recipe["masks"]["signal_mask"], rois.signal)

    # ROIs removed: the choices that need them are greyed out; the series keeps its
    # settings (nothing changes behind the user's back) and the panel says what is missing
    signal = rois.signal
    rois.background = np.zeros((192, 256), bool)
    rois.signal = None
    rois.masks_changed.emit()
    qtbot.waitUntil(lambda: not panel.busy, timeout=5_000)
    assert panel.masks.signal is None and panel.masks.background is None
    assert panel.settings().region == "signal" and panel.settings().background == "mask"
    region_model = panel.region_combo.model()
    assert not region_model.item(panel.region_combo.findData("signal")).isEnabled()
    assert panel.region_combo.currentData() == "signal"
    assert panel.outcome is None and panel.current_result() is None
    status = panel.status_label.text()
    assert "Not measured" in status and "signal ROI" in status and "Background panel" in status
    assert not panel.correct_button.isEnabled()
    assert curve(panel.plots.measured_item)[1].size == 0  # no numbers of other masks

    # the ROIs come back (e.g. Undo in the Background panel): the same measurement again
    rois.signal, rois.background = signal, np.zeros((192, 256), bool)
    rois.background[:20, :] = True
    rois.masks_changed.emit()
    wait_fit(qtbot, panel)
    np.testing.assert_allclose(curve(panel.plots.measured_item)[1], expected.intensity)


def test_bleach_panel_is_registered_and_screenshot_renders(qtbot, tmp_path, monkeypatch):
    from flimage_app.gui import main
    from flimage_app.gui.app import SETTINGS_ENV

    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "settings.ini"))
    target = tmp_path / "shot.png"
    assert main([], demo=True, screenshot=str(target), panel="bleach") == 0
    assert target.read_bytes()[:4] == b"\x89PNG"
