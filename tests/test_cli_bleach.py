"""``flimage-app bleach``: every option against a direct engine call, --like, and refusals.

Most runs call :func:`flimage_app.cli.main` in this process (the same code as
the command, without the start-up time); the ones that check what a user sees
in a terminal run ``python -m flimage_app`` as a subprocess.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from flimage_app import cli
from flimage_app.cli import bleach as cli_bleach
from flimage_app.cli import console as cli_console
from flimage_app.model import FLImage, FLSeries
from flimage_app.model.bleach import BACKGROUNDS, REGIONS, correct_series
from flimage_app.model.denoise import denoise_series
from flimage_app.model.provenance import read_provenance
from flimage_app.model.rois import (
    BorderROI,
    EllipseROI,
    RectangleROI,
    ROISet,
    save_roiset_json,
)

SHAPE = (64, 96)
TIMES = 0.25 * np.arange(15)
CELL = EllipseROI(26, 22, 18, 18)   # the fast-bleaching cell (bounding box)
SLOW_CELL = EllipseROI(56, 26, 14, 14)
LEFT_STRIP = RectangleROI(0, 0, 8, 64)  # background on the dim side of the gradient


def frames_of(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as handle:
        count = sum(1 for key in handle if key.startswith("fli_"))
        return np.array([handle[f"fli_{index}/fluorescence/raw"][()] for index in range(count)])


def bleach(*args) -> int:
    """Run ``flimage-app bleach`` in this process; returns the exit status."""
    try:
        return cli.main(["bleach", *map(str, args)])
    except SystemExit as exit_:  # argparse and usage errors
        return int(exit_.code)


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flimage_app", "bleach", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture
def series_path(tmp_path) -> Path:
    """Two cells bleaching at different rates on a background that rises from left to right.

    So the background level depends on where it is measured, and the decay on
    where the fluorescence is measured: every option changes the result.
    """
    rng = np.random.default_rng(11)
    rows, cols = np.indices(SHAPE)
    background = 100 + 1.5 * cols
    fast, slow = CELL.mask(SHAPE), SLOW_CELL.mask(SHAPE)
    path = tmp_path / "cells.h5"
    with FLSeries(h5file=path, h5mode="w") as series:
        for time in TIMES:
            image = (background + 900 * np.exp(-0.5 * time) * fast
                     + 400 * np.exp(-0.05 * time) * slow + rng.normal(0, 2, SHAPE))
            with FLImage(data=image, meta_data={"time": float(time),
                                                "pixel size": 2e-7}) as fli:
                series.add_flimage(fli)
    return path


@pytest.fixture
def rois_file(tmp_path) -> Path:
    """An ROI set as the Background panel exports it: background strip, the cell excluded."""
    path = tmp_path / "cells_rois.json"
    save_roiset_json(ROISet(rois=(RectangleROI(0, 0, 12, 64, name="left"),
                                  EllipseROI(26, 22, 18, 18, role="exclude", name="cell"))),
                     path)
    return path


def mask_of(*rois) -> np.ndarray:
    return np.logical_or.reduce([roi.mask(SHAPE) for roi in rois])


# ------------------------------------------------------------------ options → engine
def engine_cases(rois_file: Path):
    """(command-line options, the same correction as engine keywords)."""
    strip_and_border = mask_of(LEFT_STRIP, BorderROI(2)) & ~CELL.mask(SHAPE)
    file_background = RectangleROI(0, 0, 12, 64).mask(SHAPE) & ~CELL.mask(SHAPE)
    return {
        "signal region": (
            ["--method", "exp", "--region", "signal", "--signal-roi", "ellipse:26,22,18,18"],
            {"method": "exp", "region": "signal", "signal_mask": CELL.mask(SHAPE)}),
        "two signal regions": (
            ["--method", "ratio", "--region", "signal", "--signal-roi", "ellipse:26,22,18,18",
             "--signal-roi", "ellipse:56,26,14,14"],
            {"method": "ratio", "region": "signal", "signal_mask": mask_of(CELL, SLOW_CELL)}),
        "background mask with exclude and border": (
            ["--method", "exp", "--background", "mask", "--roi", "rect:0,0,8,64",
             "--exclude", "ellipse:26,22,18,18", "--border-px", "2"],
            {"method": "exp", "background": "mask", "background_mask": strip_and_border}),
        "outside the background": (
            ["--method", "ratio", "--background", "mask", "--roi", "rect:0,0,8,64",
             "--region", "outside"],
            {"method": "ratio", "background": "mask", "region": "outside",
             "background_mask": LEFT_STRIP.mask(SHAPE)}),
        "outside the ROIs, border level": (
            ["--method", "exp", "--border-px", "4", "--roi", "rect:0,0,8,64",
             "--region", "outside"],
            {"method": "exp", "border_px": 4, "region": "outside",
             "background_mask": LEFT_STRIP.mask(SHAPE)}),
        "ROI files as the app exports them": (
            ["--method", "exp", "--background", "mask", "--rois", rois_file,
             "--region", "signal", "--signal-rois", rois_file],
            {"method": "exp", "background": "mask", "background_mask": file_background,
             "region": "signal", "signal_mask": CELL.mask(SHAPE)}),
        "histogram to the previous frame": (
            ["--method", "histogram", "--histogram-reference", "previous"],
            {"method": "histogram", "histogram_reference": "previous"}),
        "flimage keeping a stalled fit": (
            ["--method", "flimage", "--allow-stalled-fit", "--border-px", "6"],
            {"method": "flimage", "border_px": 6, "strict": False}),
        "constant background": (
            ["--method", "exp", "--background", "constant", "--background-value", "120"],
            {"method": "exp", "background": "constant", "background_value": 120.0}),
    }


CASE_NAMES = list(engine_cases(Path("x.json")))


@pytest.mark.parametrize("case", CASE_NAMES)
def test_each_option_gives_the_engine_result_with_the_same_masks(case, series_path, rois_file,
                                                                 tmp_path):
    options, engine_options = engine_cases(rois_file)[case]
    out = tmp_path / "cli.h5"
    assert bleach(series_path, "-o", out, "-q", *options) == 0
    expected = tmp_path / "engine.h5"
    result = correct_series(series_path, expected, **engine_options)
    np.testing.assert_allclose(frames_of(out), frames_of(expected), rtol=1e-6)
    record = read_provenance(out)
    np.testing.assert_allclose(record["trace"]["correction"], result.correction)
    for key in ("signal_mask", "background_mask"):
        if engine_options.get(key) is not None and key in record["masks"]:
            if record["masks"][key] is not None:
                np.testing.assert_array_equal(record["masks"][key], engine_options[key])


@pytest.mark.parametrize("case", [name for name in CASE_NAMES if "stalled" not in name])
def test_each_option_changes_the_correction(case, series_path, rois_file, tmp_path):
    """The default correction (whole frame, image border) differs from every case's."""
    options, _ = engine_cases(rois_file)[case]
    method = options[options.index("--method") + 1] if "--method" in options else "flimage"
    assert bleach(series_path, "-o", tmp_path / "default.h5", "-q", "--method", method) == 0
    assert bleach(series_path, "-o", tmp_path / "case.h5", "-q", *options) == 0
    default, changed = frames_of(tmp_path / "default.h5"), frames_of(tmp_path / "case.h5")
    # far above float32 rounding (~1e-4 here); histogram matching to the previous frame
    # differs least from matching to the first: by 0.09 counts on 0.1 % of the pixels
    assert np.abs(changed - default).max() > 0.05


def test_roi_file_with_single_frame_regions_warns_and_uses_the_shared_ones(series_path,
                                                                           tmp_path, capsys):
    rois = tmp_path / "rois.json"
    save_roiset_json(ROISet(rois=(LEFT_STRIP,), overrides={3: (RectangleROI(50, 0, 8, 48),)}),
                     rois)
    out = tmp_path / "out.h5"
    assert bleach(series_path, "-o", out, "--method", "exp", "--background", "mask",
                  "--rois", rois) == 0
    err = capsys.readouterr().err
    assert "flimage-app: warning: " in err and "single frames (3) are not used" in err
    record = read_provenance(out)
    np.testing.assert_array_equal(record["masks"]["background_mask"], LEFT_STRIP.mask(SHAPE))


# ------------------------------------------------------------------ --like
@pytest.fixture
def reference(series_path, tmp_path) -> Path:
    """A correction tuned with regions: background ROIs, signal in the cell, exponential."""
    out = tmp_path / "tuned_corr.h5"
    assert bleach(series_path, "-o", out, "-q", "--method", "exp", "--background", "mask",
                  "--roi", "rect:0,0,8,64", "--region", "signal",
                  "--signal-roi", "ellipse:26,22,18,18") == 0
    return out


def test_like_reproduces_the_reference_correction_on_a_copy(series_path, reference, tmp_path):
    copy = tmp_path / "copy_of_cells.h5"
    shutil.copy(series_path, copy)
    out = tmp_path / "copy_corr.h5"
    assert bleach(copy, "-o", out, "--like", reference, "-q") == 0
    np.testing.assert_allclose(frames_of(out), frames_of(reference), rtol=1e-6)
    again, tuned = read_provenance(out), read_provenance(reference)
    assert again["input"]["file"] == "copy_of_cells.h5"
    assert again["parameters"] == tuned["parameters"]
    for key in ("signal_mask", "background_mask"):
        np.testing.assert_array_equal(again["masks"][key], tuned["masks"][key])


def test_like_a_correction_made_in_the_app(series_path, tmp_path, capsys):
    """A file corrected by the engine (as the Bleach panel saves it), histogram matching."""
    tuned = tmp_path / "tuned.h5"
    correct_series(series_path, tuned, "histogram", histogram_reference="previous",
                   background="mask", background_mask=LEFT_STRIP.mask(SHAPE), region="outside")
    copy = tmp_path / "again.h5"
    shutil.copy(series_path, copy)
    out = tmp_path / "again_corr.h5"
    assert bleach(copy, "-o", out, "--like", tuned) == 0
    np.testing.assert_allclose(frames_of(out), frames_of(tuned), rtol=1e-6)
    err = capsys.readouterr().err
    assert "correcting like tuned.h5: method histogram (to the previous frame); " \
           "background: background regions" in err


def test_like_writes_csv_and_tif_too(series_path, reference, tmp_path):
    out, table, stack = tmp_path / "o.h5", tmp_path / "o.csv", tmp_path / "o.tif"
    assert bleach(series_path, "-o", out, "--like", reference, "--csv", table, "--tif", stack,
                  "-q") == 0
    assert table.read_text(encoding="utf-8-sig").startswith("frame,")
    assert table.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 by its BOM
    assert stack.stat().st_size > 0


# ------------------------------------------------------------------ refusals
USAGE_ERRORS = {
    "like with a setting": (["--like", "{reference}", "--method", "ratio"],
                            "leave out --method"),
    "like with regions": (["--like", "{reference}", "--region", "signal", "--signal-roi",
                           "rect:1,1,4,4"], "leave out --region, --signal-roi"),
    "reference without histogram": (["--histogram-reference", "previous"],
                                    "--histogram-reference goes with --method histogram"),
    "stalled fit of another method": (["--method", "exp", "--allow-stalled-fit"],
                                      "--allow-stalled-fit goes with --method flimage"),
    "value without constant": (["--background-value", "3"],
                               "--background-value goes with --background constant"),
    "constant without value": (["--background", "constant"], "needs --background-value"),
    "border with stored": (["--background", "stored", "--border-px", "4"],
                           "--border-px goes with --background border or mask"),
    "mask without regions": (["--background", "mask"], "--background mask needs"),
    "outside without regions": (["--region", "outside"], "--region outside needs"),
    "regions nobody uses": (["--roi", "rect:0,0,8,64"], "go with --background mask"),
    "signal regions nobody uses": (["--signal-roi", "rect:0,0,8,64"],
                                   "go with --region signal"),
    "signal without regions": (["--region", "signal"], "--region signal needs"),
}


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_contradictory_options_are_refused_in_one_line(case, series_path, tmp_path, capsys):
    options, message = USAGE_ERRORS[case]
    reference = tmp_path / "ref.h5"
    reference.write_bytes(b"never read")
    out = tmp_path / "out.h5"
    options = [option.format(reference=reference) for option in options]
    assert bleach(series_path, "-o", out, *options) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("flimage-app bleach: error: ") and message in line, line
    assert not out.exists()


@pytest.fixture
def small_series(tmp_path) -> Path:
    path = tmp_path / "small.h5"
    with FLSeries(h5file=path, h5mode="w") as series:
        for time in TIMES:
            with FLImage(data=np.full((32, 32), 100.0) + 50 * np.exp(-time),
                         meta_data={"time": float(time)}) as fli:
                series.add_flimage(fli)
    return path


def file_error_cases(tmp_path: Path, series_path: Path, reference: Path,
                     small_series: Path) -> dict:
    denoised = tmp_path / "denoised.h5"
    denoise_series(series_path, denoised)
    return {
        "mask of another size": ((small_series, "--like", reference),
                                 "frames of small.h5 are 32 x 32 px"),
        "empty background mask": ((series_path, "--background", "mask", "--roi",
                                   "rect:500,500,5,5"),
                                  "background regions (--roi, --exclude, --rois) select no"),
        "empty signal mask": ((series_path, "--region", "signal", "--signal-roi",
                               "ellipse:500,500,4,4"), "signal regions"),
        "missing ROI file": ((series_path, "--background", "mask", "--rois",
                              tmp_path / "gone.json"), "gone.json"),
        "missing signal ROI file": ((series_path, "--region", "signal", "--signal-rois",
                                     tmp_path / "gone.json"), "gone.json"),
        "file without provenance": ((series_path, "--like", series_path),
                                    "holds no record of a bleach correction"),
        "not a bleach correction": ((series_path, "--like", denoised),
                                    "not by a bleach correction"),
        "missing reference": ((series_path, "--like", tmp_path / "nothing.h5"),
                              "nothing.h5: no such file"),
    }


@pytest.mark.parametrize("case", ["mask of another size", "empty background mask",
                                  "empty signal mask", "missing ROI file",
                                  "missing signal ROI file",
                                  "file without provenance", "not a bleach correction",
                                  "missing reference"])
def test_bad_files_and_regions_give_one_error_line_and_no_output(case, tmp_path, series_path,
                                                                 reference, small_series,
                                                                 capsys):
    arguments, message = file_error_cases(tmp_path, series_path, reference, small_series)[case]
    capsys.readouterr()
    out = tmp_path / "out" / "corrected.h5"
    out.parent.mkdir()
    assert bleach(*arguments, "-o", out, "--csv", out.with_suffix(".csv")) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("flimage-app: error: ") and message in line, line
    assert list(out.parent.iterdir()) == []


def test_in_a_terminal_errors_are_one_line_without_traceback(series_path, reference,
                                                            small_series, tmp_path):
    out = tmp_path / "out.h5"
    done = run(small_series, "-o", out, "--like", reference)
    assert done.returncode == 1 and not out.exists()
    assert one_line(done.stderr).startswith("flimage-app: error: tuned_corr.h5 was corrected "
                                            "with a signal mask of 64 x 96 px")
    done = run(series_path, "-o", out, "--like", reference, "--border-px", "5")
    assert done.returncode == 2 and not out.exists()
    assert one_line(done.stderr) == ("flimage-app bleach: error: --like takes the whole "
                                     "correction from tuned_corr.h5; leave out --border-px")


def test_existing_output_is_kept_without_overwrite(series_path, reference, tmp_path, capsys):
    out = tmp_path / "out.h5"
    out.write_bytes(b"keep")
    assert bleach(series_path, "-o", out, "--like", reference) == 1
    assert "--overwrite" in one_line(capsys.readouterr().err)
    assert out.read_bytes() == b"keep"
    assert bleach(series_path, "-o", out, "--like", reference, "--overwrite", "-q") == 0
    np.testing.assert_allclose(frames_of(out), frames_of(reference), rtol=1e-6)
    # the reference file is an input: never an output
    assert bleach(series_path, "-o", reference, "--like", reference, "--overwrite") == 1
    assert "is an input file" in capsys.readouterr().err


# ------------------------------------------------------------------ help and constants
def test_help_explains_the_options(capsys):
    assert bleach("--help") == 0
    text = capsys.readouterr().out
    for fragment in ("--like CORRECTED.h5", "--region {frame,signal,outside}",
                     "--histogram-reference {first,previous}", "--signal-rois ROIS",
                     "--background {border,constant,mask,stored}", "Export button",
                     "x = column", "examples:"):
        assert fragment in text, fragment


def test_choices_match_the_engine():
    assert set(cli_console.BLEACH_BACKGROUNDS) == set(BACKGROUNDS)
    assert set(cli_bleach.BLEACH_REGIONS) == set(REGIONS)
