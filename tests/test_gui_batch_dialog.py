"""Batch dialog: the same recipe on several files; a bad file is reported, the others go on."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile
from PyQt6 import QtWidgets

from flimage_app.gui.batch.batch_dialog import (
    SUMMARY_WARNING_LINES,
    WARNING_COLOUR,
    BatchDialog,
    BatchOutcome,
    batch_output_path,
    run_batch,
    summary_text,
)
from flimage_app.gui.bleach.bleach_panel import BleachSettings, Masks, make_recipe
from flimage_app.model.bleach import MissingTimeWarning, correct_series
from flimage_app.model.bleach.synthetic import bleaching_frame, write_bleaching_series
from flimage_app.model.demo import demo_series_path
from flimage_app.model.errors import Cancelled
from flimage_app.model.provenance import read_provenance
from flimage_app.model.tiffio import MissingCalibrationWarning


@pytest.fixture
def files(tmp_path):
    """Two good series (HDF5 and an ImageJ TIFF of the demo), a bad file and a missing one."""
    folder = tmp_path / "in"
    folder.mkdir()
    good = folder / "cells.h5"
    shutil.copy(demo_series_path(), good)
    expected = correct_series(good, None, "exp")
    from flimage_app.model.loader import open_series
    from flimage_app.model.tiffio import export_tiff

    stack = folder / "stack.tif"
    with open_series(good) as series:
        export_tiff(series, stack)
    bad = folder / "broken.h5"
    bad.write_text("this is not an HDF5 file")
    missing = folder / "gone.h5"
    return {"good": good, "stack": stack, "bad": bad, "missing": missing,
            "expected": expected}


RECIPE = make_recipe(BleachSettings(method="exp"), Masks())


def test_output_names_beside_input_or_in_folder(tmp_path):
    assert batch_output_path(tmp_path / "a" / "x.tif") == tmp_path / "a" / "x_bleachcorr.h5"
    assert batch_output_path("/data/y.h5", tmp_path) == tmp_path / "y_bleachcorr.h5"


def test_run_batch_reports_bad_files_and_corrects_the_others(files):
    started, done = [], []
    outcomes = run_batch([files["bad"], files["good"], files["missing"], files["stack"]],
                         RECIPE, file_started=started.append,
                         file_done=lambda number, outcome: done.append(number))
    assert started == done == [0, 1, 2, 3]
    assert [outcome.ok for outcome in outcomes] == [False, True, False, True]
    for outcome in outcomes[0], outcomes[2]:
        assert outcome.output is None
        assert "\n" not in outcome.message and outcome.message
    assert "broken.h5" in outcomes[0].message or "HDF5" in outcomes[0].message
    assert "gone.h5" in outcomes[2].message
    assert not (files["bad"].parent / "broken_bleachcorr.h5").exists()

    written = files["good"].with_name("cells_bleachcorr.h5")
    assert outcomes[1].output == str(written)
    record = read_provenance(written)
    assert record["method"] == "exp" and record["input"]["file"] == "cells.h5"
    np.testing.assert_allclose(record["trace"]["correction"], files["expected"].correction)
    assert "half-life" in outcomes[1].message and "R²" in outcomes[1].message
    # the TIFF stack carries the same frames and times: the same correction
    from_stack = read_provenance(files["stack"].with_name("stack_bleachcorr.h5"))
    np.testing.assert_allclose(from_stack["trace"]["correction"], files["expected"].correction,
                               rtol=1e-6)

    text = summary_text(outcomes, 4)
    assert text.startswith("2 of 4 files corrected; 2 failed")
    assert "broken.h5:" in text and "gone.h5:" in text


def test_existing_output_is_a_failure_unless_overwrite(files, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    existing = out / "cells_bleachcorr.h5"
    existing.write_bytes(b"keep")
    [outcome] = run_batch([files["good"]], RECIPE, output_folder=out)
    assert not outcome.ok and "exists" in outcome.message
    assert existing.read_bytes() == b"keep"
    [outcome] = run_batch([files["good"]], RECIPE, output_folder=out, overwrite=True)
    assert outcome.ok and read_provenance(existing)["method"] == "exp"


def test_cancel_stops_and_leaves_no_partial_file(files):
    calls = []

    def cancel_during_second_file() -> bool:
        calls.append(1)
        return len(calls) > 3 and files["stack"].with_name("cells_bleachcorr.h5").exists()

    with pytest.raises(Cancelled):
        run_batch([files["good"], files["stack"]], RECIPE, cancel=cancel_during_second_file)
    assert files["good"].with_name("cells_bleachcorr.h5").exists()
    leftovers = sorted(path.name for path in files["stack"].parent.iterdir())
    assert leftovers == ["broken.h5", "cells.h5", "cells_bleachcorr.h5", "stack.tif"]


def test_recipe_masks_are_applied_to_every_file(files):
    signal = np.zeros((192, 256), bool)
    signal[40:110, 30:100] = True
    recipe = make_recipe(BleachSettings(method="ratio", region="signal"), Masks(signal=signal))
    [outcome] = run_batch([files["good"]], recipe)
    assert outcome.ok
    record = read_provenance(outcome.output)
    np.testing.assert_array_equal(record["masks"]["signal_mask"], signal)
    expected = correct_series(files["good"], None, "ratio", region="signal", signal_mask=signal)
    np.testing.assert_allclose(record["trace"]["intensity"], expected.intensity)

    # a mask of another shape cannot apply to a file: reported, not a crash
    small = files["good"].with_name("small.tif")
    tifffile.imwrite(small, np.ones((4, 32, 32), np.float32), imagej=True,
                     metadata={"axes": "TYX", "finterval": 2.0})
    [outcome] = run_batch([small], recipe)
    assert not outcome.ok and "mask" in outcome.message


def test_dialog_runs_files_shows_progress_and_failures(qtbot, files, monkeypatch):
    dialog = BatchDialog(RECIPE, "Exponential + offset", str(files["good"].parent))
    qtbot.addWidget(dialog)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileNames",
                        lambda *args, **kwargs: ([str(files["good"]), str(files["bad"]),
                                                  str(files["stack"])], ""))
    dialog.add_button.click()
    dialog.add_files([files["good"]])  # duplicates are ignored
    assert dialog.table.rowCount() == 3
    progress = []
    dialog.relay.progressed.connect(lambda done, total: progress.append((done, total)))

    dialog.run_button.click()
    assert dialog.running and not dialog.close_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    qtbot.waitUntil(lambda: dialog.run_button.isEnabled(), timeout=5000)

    statuses = [dialog.table.item(row, 1).text() for row in range(3)]
    assert statuses == ["done", "FAILED", "done"]
    assert dialog.table.item(1, 2).text()  # the reason
    summary = dialog.summary_label.text()
    assert "2 of 3 files corrected; 1 failed" in summary and "broken.h5" in summary
    assert dialog.total_bar.value() == 3
    assert progress and progress[-1][0] == progress[-1][1]
    assert files["stack"].with_name("stack_bleachcorr.h5").exists()


def test_dialog_cancel(qtbot, files, monkeypatch):
    import flimage_app.gui.batch.batch_dialog as batch_module

    dialog = BatchDialog(RECIPE, "Exponential + offset")
    qtbot.addWidget(dialog)
    dialog.add_files([files["good"], files["stack"]])
    real = batch_module.correct_file

    def cancel_first(*args, **kwargs):
        dialog.task.cancel()  # as if Cancel was pressed while the first file runs
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_module, "correct_file", cancel_first)
    dialog.run()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    qtbot.waitUntil(lambda: dialog.summary_label.text().startswith("Cancelled"), timeout=5000)
    assert "0 of 2 files corrected (2 not run)" in dialog.summary_label.text()
    assert [dialog.table.item(row, 1).text() for row in range(2)] == ["not run", "not run"]
    assert not files["good"].with_name("cells_bleachcorr.h5").exists()


# ------------------------------------------------------------------ warnings per file
TIMES = 0.5 * np.arange(12)
NO_TIME = "12 of 12 frames have no \"time\" metadata"


@pytest.fixture
def uncalibrated(tmp_path):
    """Two series without frame times, a .npy stack without times or pixel size, one complete."""
    folder = tmp_path / "lab"
    folder.mkdir()
    paths = {name: folder / f"{name}.h5" for name in ("monday", "tuesday", "calibrated")}
    for name in ("monday", "tuesday"):
        write_bleaching_series(paths[name], TIMES, (32, 32), rate=0.3, with_times=False)
    write_bleaching_series(paths["calibrated"], TIMES, (32, 32), rate=0.3)
    paths["stack"] = folder / "stack.npy"
    np.save(paths["stack"], np.array([bleaching_frame(index, time, (32, 32), rate=0.3)
                                      for index, time in enumerate(TIMES)]))
    return paths


def test_warnings_are_kept_per_file_and_summarised(uncalibrated, recwarn):
    recipe = make_recipe(BleachSettings(method="exp", border_px=4), Masks())
    order = ("monday", "tuesday", "stack", "calibrated")
    outcomes = run_batch([uncalibrated[name] for name in order], recipe)
    assert [outcome.ok for outcome in outcomes] == [True] * 4
    monday, tuesday, stack, calibrated = (outcome.warnings for outcome in outcomes)
    assert len(monday) == 1 and monday[0].startswith(NO_TIME)
    assert "frame index is used as time" in monday[0]
    # the same message for a second file is not swallowed as "already shown"
    assert tuesday == monday
    assert any("no pixel size" in warning for warning in stack)
    assert any("no frame times" in warning for warning in stack)
    assert not any(warning.startswith("stack.npy") for warning in stack)  # the row names it
    assert calibrated == ()
    # collected for the files, not shown by the process's warning display as well
    assert not [warning for warning in recwarn
                if issubclass(warning.category, (MissingTimeWarning, MissingCalibrationWarning))]

    text = summary_text(outcomes, 4)
    assert text.startswith("4 of 4 files corrected\n3 files with warnings")
    assert f"  monday.h5: {NO_TIME}" in text and f"  tuesday.h5: {NO_TIME}" in text
    assert "  stack.npy: the file holds no pixel size" in text
    assert "calibrated.h5" not in text


def test_warnings_of_a_failed_file_are_kept(uncalibrated):
    """No frame times and a constant that leaves no signal: the warning explains the numbers."""
    recipe = make_recipe(BleachSettings(method="ratio", background="constant",
                                        background_value=1e6), Masks())
    [outcome] = run_batch([uncalibrated["monday"]], recipe)
    assert not outcome.ok and outcome.warnings[0].startswith(NO_TIME)
    assert "1 failed" in summary_text([outcome], 1) and "1 file with warnings" in \
        summary_text([outcome], 1)


def test_summary_lists_a_few_warnings_and_points_to_the_table():
    outcomes = [BatchOutcome(f"/data/cell{number}.h5", f"/data/cell{number}_bleachcorr.h5",
                             True, "ok", ("no frame times", "no pixel size"))
                for number in range(10)]
    lines = summary_text(outcomes, 10).splitlines()
    assert lines[1] == "10 files with warnings (check these results):"
    assert lines[2:2 + SUMMARY_WARNING_LINES][0] == "  cell0.h5: no frame times"
    assert lines[-1] == f"  … and {20 - SUMMARY_WARNING_LINES} more (see the Details column)"
    assert len(lines) == 2 + SUMMARY_WARNING_LINES + 1


def test_dialog_shows_the_warnings_of_each_file(qtbot, uncalibrated):
    recipe = make_recipe(BleachSettings(method="exp", border_px=4), Masks())
    dialog = BatchDialog(recipe, "Exponential + offset")
    qtbot.addWidget(dialog)
    dialog.add_files([uncalibrated["monday"], uncalibrated["calibrated"]])
    dialog.run()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    qtbot.waitUntil(lambda: dialog.run_button.isEnabled(), timeout=5000)

    assert [dialog.table.item(row, 1).text() for row in range(2)] == ["done ⚠", "done"]
    details = dialog.table.item(0, 2)
    assert "monday_bleachcorr.h5" in details.text() and f"⚠ {NO_TIME}" in details.text()
    assert "frame index is used as time" in details.toolTip()
    assert details.foreground().color().name() == WARNING_COLOUR
    assert dialog.table.item(1, 2).foreground().color().name() != WARNING_COLOUR
    assert "⚠" not in dialog.table.item(1, 2).text()
    summary = dialog.summary_label.text()
    assert "2 of 2 files corrected" in summary and "1 file with warnings" in summary
    assert f"monday.h5: {NO_TIME}" in summary
