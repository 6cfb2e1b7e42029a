"""``flimage-app measure``: the table end to end, --like, and the command's refusals."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from flimage_app import cli
from flimage_app.cli.console import ordered_verbs
from flimage_app.model.bleach import correct_series
from flimage_app.model.roi_measure import (
    MeasureROISet,
    export_imagej,
    load_measurement,
    measure_series,
    save_measure_rois_json,
)

from .measure_data import cell_rois, truth, write_cell_series


def measure(*args) -> int:
    """Run ``flimage-app measure`` in this process; returns the exit status."""
    try:
        return cli.main(["measure", *map(str, args)])
    except SystemExit as exit_:  # argparse and usage errors
        return int(exit_.code)


def table(path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def setup(tmp_path):
    series = tmp_path / "cells.h5"
    frames = write_cell_series(series)
    rois = MeasureROISet.numbered(cell_rois())
    roiset = tmp_path / "RoiSet.zip"
    export_imagej(rois, roiset)
    return series, roiset, rois, len(frames)


def test_the_verb_is_listed_after_the_others():
    assert [v.name for v in ordered_verbs()][-1] == "measure"


def test_table_from_a_fiji_roiset(setup, tmp_path, capsys):
    series, roiset, rois, frames = setup
    out = tmp_path / "cells.csv"
    assert measure(series, "--rois", roiset, "-o", out) == 0
    rows = table(out)
    assert len(rows) == len(rois) * frames * 2  # raw and background-corrected
    expected = measure_series(series, rois)
    for row in rows:
        r, frame = rois.names.index(row["roi"]), int(row["frame"])
        assert float(row["mean"]) == expected.values[row["data"]]["mean"][r, frame]
        assert float(row["time [s]"]) == 2.0 * frame
    assert "measure: measuring the ROIs 12/12" in capsys.readouterr().err


def test_corrected_series_normalised_wide_and_stored(setup, tmp_path):
    series, roiset, rois, frames = setup
    corrected = tmp_path / "cells_corr.h5"
    correct_series(series, corrected, "exp", border_px=5)
    out, stored = tmp_path / "wide.csv", tmp_path / "measure.h5"
    assert measure(series, "--rois", roiset, "--corrected", corrected, "--normalise", "0-2",
                   "--wide", "-o", out, "--h5", stored, "-q") == 0
    rows = table(out)
    assert len(rows) == frames
    # bleach-corrected and normalised: flat at 1
    for name in rois.names:
        ratios = [float(row[f"{name}: bleach_corrected F/F0"]) for row in rows]
        assert ratios == pytest.approx([1.0] * frames, abs=0.03)
    # the cells' own traces: F/F0 of the background-corrected data decays as the truth
    decay = [truth(f)[0] / np.mean([truth(k)[0] for k in range(3)]) for f in range(frames)]
    assert [float(r["cell A: background_corrected F/F0"]) for r in rows] == pytest.approx(
        decay, abs=0.03)
    record = load_measurement(stored)
    assert record.baseline == [0, 1, 2] and record.rois == rois
    assert record.record["corrected"]["file"] == "cells_corr.h5"
    assert record.record["input"]["file"] == "cells.h5"


def test_like_repeats_a_measurement_on_another_series(setup, tmp_path, capsys):
    series, roiset, rois, frames = setup
    stored = tmp_path / "first.h5"
    assert measure(series, "--rois", roiset, "--bleach", "ratio", "--border-px", "5",
                   "--normalise", "0",
                   "-o", tmp_path / "first.csv", "--h5", stored) == 0
    other = tmp_path / "day2.h5"
    write_cell_series(other, count=6)
    out = tmp_path / "day2.csv"
    assert measure(other, "--like", stored, "-o", out) == 0
    assert "measuring like first.h5: 3 ROIs, F0 over frames 0" in capsys.readouterr().err
    rows = table(out)
    assert {row["data"] for row in rows} == {"raw", "background_corrected", "bleach_corrected"}
    assert len(rows) == 3 * 6 * 3 and rows[0]["F/F0"] == "1.0"
    expected = measure_series(other, rois, bleach={"method": "ratio", "border_px": 5},
                              baseline=[0])
    row = next(r for r in rows if r["roi"] == "2" and r["frame"] == "5"
               and r["data"] == "bleach_corrected")
    assert float(row["mean"]) == pytest.approx(
        expected.values["bleach_corrected"]["mean"][2, 5], rel=1e-12)


def test_rois_from_json_and_tiff_input(setup, tmp_path):
    series, _, rois, frames = setup
    save_measure_rois_json(rois, tmp_path / "rois.json")
    stack = tmp_path / "cells.tif"
    tifffile.imwrite(stack, np.random.default_rng(0).random((3, 64, 80)).astype(np.float32),
                     imagej=True)
    out, stored = tmp_path / "t.csv", tmp_path / "t.h5"
    assert measure(stack, "--rois", tmp_path / "rois.json", "--interval", "0.5", "-o",
                   out, "--h5", stored) == 0
    assert load_measurement(stored).record["input"]["file"] == "cells.tif"
    rows = table(out)
    assert [row["time [s]"] for row in rows if row["roi"] == "cell A"][::2] == [
        "0.0", "0.5", "1.0"]


@pytest.mark.parametrize("extra, status, message", [
    (["--corrected", "{series}", "--bleach", "exp"], 2, "choose one"),
    (["--border-px", "4"], 2, "--border-px goes with --bleach"),
    (["--like", "{series}", "--rois", "{roiset}"], 2, "leave out --rois"),
    (["--rois", "{tmp}/r.txt"], 2, "--rois must end with"),
    (["--normalise", "5-2"], 2, "runs backwards"),
    (["--normalise", "40"], 2, "beyond the last frame"),
    (["--h5", "{series}"], 1, "is an input file"),
    (["--like", "{series}"], 1, "holds no measurement"),
    (["--like", "{tmp}/table.csv"], 2, "--like reads the measurement stored with --h5"),
    (["--corrected", "{tmp}/missing.h5"], 1, "missing.h5"),
])
def test_refusals_are_one_line(setup, tmp_path, capsys, extra, status, message):
    series, roiset, _, _ = setup
    values = {"series": series, "roiset": roiset, "tmp": tmp_path}
    args = [a.format(**values) for a in extra]
    if "--rois" not in args and "--like" not in args:
        args += ["--rois", str(roiset)]
    out = tmp_path / "x.csv"
    assert measure(series, *args, "-o", out) == status
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0], error
    assert not out.exists()


def test_no_rois_and_existing_output(setup, tmp_path, capsys):
    series, roiset, _, _ = setup
    assert measure(series, "-o", tmp_path / "x.csv") == 2
    assert "--rois" in capsys.readouterr().err
    out = tmp_path / "x.csv"
    out.write_text("keep", encoding="utf-8")
    assert measure(series, "--rois", roiset, "-o", out) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "keep"
    assert measure(series, "--rois", roiset, "-o", out, "--overwrite") == 0
    assert out.read_text(encoding="utf-8-sig").startswith("roi,frame")


def test_a_failed_run_leaves_no_output(setup, tmp_path):
    """--h5 and the table appear together or not at all (here the bleach fit fails)."""
    series, roiset, _, _ = setup
    flat = tmp_path / "flat.h5"
    write_cell_series(flat, count=4, stored_background=False)
    out, stored = tmp_path / "x.csv", tmp_path / "x.h5"
    # border_px 20 leaves no interior in these frames: the on-the-fly correction fails
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.ones((3, 30, 30), dtype=np.float32), imagej=True)
    assert measure(small, "--rois", roiset, "--bleach", "exp", "-o", out, "--h5",
                   stored) == 1
    assert not out.exists() and not stored.exists()


def test_subprocess_help_and_error():
    done = subprocess.run([sys.executable, "-m", "flimage_app", "measure", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--normalise" in done.stdout and "--like" in done.stdout
    done = subprocess.run([sys.executable, "-m", "flimage_app", "measure", "nothing.h5",
                           "--rois", "nothing.zip", "-o", "x.csv"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
