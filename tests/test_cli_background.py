"""``flimage-app background``: run as a subprocess, output checked with flimage and qpimage."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest

from flimage_app.cli.background import configure_parser, parse_frame_range, parse_roi_spec
from flimage_app.cli.console import UsageError
from flimage_app.model import FLImage, FLSeries
from flimage_app.model.rois import (
    BorderROI,
    EllipseROI,
    PolygonROI,
    RectangleROI,
    ROISet,
    save_roiset_json,
)

SHAPE = (40, 56)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flimage_app", "background", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def series_path(tmp_path):
    rng = np.random.default_rng(5)
    rows, cols = np.mgrid[: SHAPE[0], : SHAPE[1]]
    path = tmp_path / "cells.h5"
    frames = []
    for index in range(3):
        image = 150 + 0.6 * cols + 0.3 * rows + rng.normal(0, 2, SHAPE)
        image += 400 * np.exp(-((rows - 20) ** 2 + (cols - 28) ** 2) / 50)
        frames.append(FLImage(data=image, meta_data={"time": float(index)}))
    with FLSeries(flimage_list=frames, h5file=path, h5mode="w"):
        pass
    return path


def test_background_verb_matches_qpimage_with_the_same_mask(series_path, tmp_path):
    import flimage
    from qpimage.bg_estimate import estimate

    out = tmp_path / "corrected.h5"
    done = run_cli(series_path, "-o", out, "--roi", "rect:0,0,10,40", "--roi",
                   "ellipse:40,2,14,12", "--roi", "polygon:44,30,56,30,56,40", "--exclude",
                   "rect:2,2,3,3", "--border-px", "2", "--profile", "poly2o", "--offset", "mode")
    assert done.returncode == 0, done.stderr
    # the summary is a note on stderr, as every verb's, after the progress lines
    assert "flimage-app: wrote" in done.stderr
    assert "fitted the background of 3 frame(s)" in done.stderr
    assert "background: fitting 3/3" in done.stderr
    mask = np.zeros(SHAPE, dtype=bool)
    mask[:, 0:10] = True
    mask |= EllipseROI(40, 2, 14, 12).mask(SHAPE)
    mask |= PolygonROI(points=[(44, 30), (56, 30), (56, 40)]).mask(SHAPE)
    mask |= BorderROI(2).mask(SHAPE)
    mask[2:5, 2:5] = False
    with flimage.FLSeries(h5file=out, h5mode="r") as corrected, \
            flimage.FLSeries(h5file=series_path, h5mode="r") as original:
        for index in range(3):
            raw = original.get_flimage(index).raw_fl
            background = estimate(raw, fit_offset="mode", fit_profile="poly2o", from_mask=mask)
            np.testing.assert_allclose(corrected.get_flimage(index).fl, raw - background,
                                       atol=0.05)


def test_rois_json_sets_regions_and_defaults(series_path, tmp_path):
    from flimage_app.model.rois import load_roiset_h5

    rois = tmp_path / "rois.json"
    saved = ROISet(rois=(RectangleROI(0, 0, 8, 40, name="left"),), fit_profile="offset",
                   fit_offset="mean")
    save_roiset_json(saved, rois)
    out = tmp_path / "corrected.h5"
    done = run_cli(series_path, "-o", out, "--rois", rois, "--frames", "1-2", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    with FLSeries(h5file=out, h5mode="r") as corrected:
        assert corrected[0].bg_keys == []
        fit, attrs = corrected[1].get_bg("fit", ret_attrs=True)
        assert attrs["fit_profile"] == "offset"
        with FLSeries(h5file=series_path, h5mode="r") as original:
            assert fit.mean() == pytest.approx(original[1].raw_fl[:, :8].mean(), rel=1e-5)
    assert load_roiset_h5(out).rois == saved.rois


def test_flimage_file_in_flimage_file_out(tmp_path):
    import flimage

    source = tmp_path / "image.h5"
    rng = np.random.default_rng(1)
    with FLImage(data=100 + rng.normal(0, 1, SHAPE), h5file=source, h5mode="w"):
        pass
    out = tmp_path / "image_bg.h5"
    done = run_cli(source, "-o", out, "--border-px", "5", "--offset", "gauss")
    assert done.returncode == 0, done.stderr
    with flimage.FLImage(h5file=out, h5mode="r") as fli:
        assert abs(fli.fl.mean()) < 0.5


@pytest.mark.parametrize("extra, message, status", [
    ((), "no background region", 2),
    (("--roi", "star:1,2,3"), "write rect:X,Y,W,H", 2),
    (("--roi", "rect:0,0,0,5"), "positive width", 2),
    (("--border-px", "2", "--frames", "5-2"), "need 0 <= A <= B", 2),
    (("--roi", "rect:100,100,5,5"), "outside the image", 1),
])
def test_errors_are_one_line_and_write_nothing(series_path, tmp_path, extra, message, status):
    out = tmp_path / "corrected.h5"
    done = run_cli(series_path, "-o", out, *extra)
    assert done.returncode == status
    # usage errors (exit 2) name the verb, as argparse does
    assert done.stderr.startswith("flimage-app background: error: " if status == 2
                                  else "flimage-app: error: ")
    assert message in done.stderr and done.stderr.count("\n") == 1
    assert not out.exists()


def test_existing_output_needs_overwrite(series_path, tmp_path):
    out = tmp_path / "corrected.h5"
    out.write_text("keep me")
    done = run_cli(series_path, "-o", out, "--border-px", "3")
    assert done.returncode == 1 and "exists; pass --overwrite" in done.stderr
    assert out.read_text() == "keep me"


# ----------------------------------------------------------------- parsing (in process)

@pytest.mark.parametrize("spec, expected", [
    ("rect:1,2,3,4", RectangleROI(1, 2, 3, 4)),
    ("rectangle:1.5,2,3,4", RectangleROI(1.5, 2, 3, 4)),
    ("ellipse:0,0,10,6", EllipseROI(0, 0, 10, 6)),
    ("polygon:0,0,5,0,5,5", PolygonROI(points=[(0, 0), (5, 0), (5, 5)])),
])
def test_parse_roi_spec(spec, expected):
    assert parse_roi_spec(spec) == expected


@pytest.mark.parametrize("spec", ["rect", "rect:1,2,3", "polygon:0,0,1,1", "polygon:0,0,1,1,2",
                                  "ellipse:a,b,c,d", "circle:1,2,3,4"])
def test_parse_roi_spec_errors(spec):
    with pytest.raises(UsageError):
        parse_roi_spec(spec)


def test_parse_frame_range():
    assert parse_frame_range(None) is None
    assert parse_frame_range("3") == range(3, 4)
    assert parse_frame_range("2-5") == range(2, 6)
    for bad in ("5-2", "a-b", "-1"):
        with pytest.raises(UsageError):
            parse_frame_range(bad)


def test_parser_defaults():
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = parser.parse_args(["in.h5", "-o", "out.h5"])
    assert (args.roi, args.exclude, args.border_px, args.profile, args.offset) == \
        ([], [], 0, None, None)
    assert json.dumps(vars(args))  # plain values only
