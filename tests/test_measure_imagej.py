"""The measurement against ImageJ itself: Multi Measure on the same TIFF and RoiSet.

The test writes the raw frames as an ImageJ TIFF and the measurement ROIs as a
RoiSet ``.zip`` (the app's Fiji export), lets Debian's ImageJ open both, run the
ROI Manager's *Multi Measure* with area, mean, standard deviation, min & max and
integrated density, and compares every ROI and frame with the app's table.

ImageJ's ROI Manager is a window and its ``run(…)`` commands build the menu bar,
so ``-Djava.awt.headless=true`` refuses them (HeadlessException); ImageJ runs on
a virtual display instead (``xvfb-run``).  Without Java, ImageJ or Xvfb the test
skips with a message.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import tifffile

from flimage_app.model.roi_measure import MeasureROISet, export_imagej, measure_series
from flimage_app.model.rois import FreehandROI, PolygonROI, RectangleROI

from .imagej_masks import imagej_command
from .measure_data import PIXEL_SIZE, cell_rois, write_cell_series

HEADLESS_FLAG = "-Djava.awt.headless=true"


def multi_measure_command() -> list[str] | None:
    """ImageJ's batch command on a virtual display, or None (Java, ImageJ or Xvfb missing)."""
    command = imagej_command()
    xvfb = shutil.which("xvfb-run")
    if command is None or xvfb is None:
        return None
    return [xvfb, "-a", *(part for part in command if part != HEADLESS_FLAG)]


def macro(tiff, roiset, micron: float) -> str:
    columns = ("Area", "Mean", "IntDen", "RawIntDen", "StdDev", "Min", "Max")
    values = ' + "|" + '.join(f'd2s(getResult("{c}", i), 9)' for c in columns)
    return "\n".join([
        "setBatchMode(true);",
        f'open("{tiff}");',
        f'setVoxelSize({micron!r}, {micron!r}, 1, "micron");',
        f'roiManager("Open", "{roiset}");',
        'run("Set Measurements...", "area mean standard min integrated display '
        'redirect=None decimal=9");',
        'roiManager("Multi Measure");',
        'for (i = 0; i < nResults; i++) print("@row " + getResultLabel(i) + "|" + '
        f'{values});',
    ]) + "\n"


def run_multi_measure(command, tiff, roiset, micron, folder) -> dict:
    """(ROI name, frame) → ImageJ's Area [µm²], Mean, IntDen, RawIntDen, StdDev, Min, Max."""
    script = folder / "measure.ijm"
    script.write_text(macro(tiff, roiset, micron), encoding="utf-8")
    done = subprocess.run([*command, str(script)], capture_output=True, text=True,
                          timeout=600, check=False)
    rows = {}
    for line in done.stdout.splitlines():
        if not line.startswith("@row "):
            continue
        label, *numbers = line[5:].split("|")
        _image, name, frame = label.split(":")
        rows[name, int(frame) - 1] = [float(n) for n in numbers]
    if not rows:
        raise RuntimeError(f"ImageJ printed no measurement: {done.stderr.strip()[-500:]}")
    return rows


def test_measurements_are_imagejs_multi_measure(tmp_path):
    command = multi_measure_command()
    if command is None:
        pytest.skip("Java, ImageJ's ij.jar or xvfb-run not found (apt-get install imagej "
                    "default-jdk-headless xvfb, or set IMAGEJ_JAR): ImageJ's Multi Measure "
                    "needs its ROI Manager window")
    series = tmp_path / "cells.h5"
    frames = write_cell_series(series, count=5)
    rois = MeasureROISet.numbered([
        *cell_rois(),
        RectangleROI(x=3, y=50, width=12, height=9, angle=25, name="tilted"),
        PolygonROI(points=((60.25, 40.5), (75.5, 41.75), (70.5, 60.5), (62.0, 55.5)),
                   name="quad"),
        FreehandROI(points=tuple((50 + 6 * np.cos(t), 8 + 5 * np.sin(t))
                                 for t in np.linspace(0, 2 * np.pi, 40, endpoint=False)),
                    name="drawn")])
    tiff, roiset = tmp_path / "cells.tif", tmp_path / "RoiSet.zip"
    tifffile.imwrite(tiff, np.stack(frames), imagej=True)
    export_imagej(rois, roiset)
    micron = PIXEL_SIZE * 1e6
    imagej = run_multi_measure(command, tiff, roiset, micron, tmp_path)

    ours = measure_series(series, rois)
    raw = ours.values["raw"]
    area_um2 = ours.area_m2 * 1e12
    assert len(imagej) == len(rois) * len(frames)
    for r, name in enumerate(rois.names):
        for frame in range(len(frames)):
            area, mean, intden, rawintden, std, low, high = imagej[name, frame]
            where = f"ROI {name!r}, frame {frame}"
            assert area == pytest.approx(area_um2[r, frame], rel=1e-9), where
            assert mean == pytest.approx(raw["mean"][r, frame], rel=1e-8), where
            # IntDen is area × mean in calibrated units; RawIntDen the sum of the pixels
            assert intden == pytest.approx(area_um2[r, frame] * raw["mean"][r, frame],
                                           rel=1e-8), where
            assert rawintden == pytest.approx(raw["sum"][r, frame], rel=1e-8), where
            assert std == pytest.approx(raw["std"][r, frame], rel=1e-7), where
            assert (low, high) == pytest.approx((raw["min"][r, frame], raw["max"][r, frame]),
                                                rel=1e-8), where
