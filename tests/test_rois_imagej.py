"""A pixel belongs to a ROI "as in Fiji": the app's masks are ImageJ's masks.

Two checks: against masks that ImageJ 1.53t made once (stored in
``tests/data/imagej_masks.json``; always runs), and against the ImageJ
installed here (runs where Java and ``ij.jar`` are, e.g. with Debian's
``imagej`` package; skipped with the reason elsewhere).  Polygons are drawn
with the app's :class:`PolygonROI`; ovals and rectangles go through the
app's import of an ImageJ ``.roi`` file, which stores sub-pixel bounds.
"""

import numpy as np
import pytest
import roifile

from flimage_app.model.rois import PolygonROI, import_imagej

from .imagej_masks import (
    IMAGE_SHAPE,
    decimal_polygons,
    generated_cases,
    imagej_command,
    load_stored,
    run_imagej,
)


def app_mask(case: dict, folder) -> np.ndarray:
    """The app's mask of one case."""
    if case["kind"] == "polygon":
        return PolygonROI(points=[tuple(point) for point in case["points"]]).mask(IMAGE_SHAPE)
    x, y, width, height = case["bounds"]
    kind = roifile.ROI_TYPE.OVAL if case["kind"] == "oval" else roifile.ROI_TYPE.RECT
    roi = roifile.ImagejRoi(roitype=kind, left=int(np.floor(x)), top=int(np.floor(y)),
                            right=int(np.ceil(x + width)), bottom=int(np.ceil(y + height)),
                            options=roifile.ROI_OPTIONS.SUB_PIXEL_RESOLUTION,
                            xd=x, yd=y, widthd=width, heightd=height)
    path = folder / f"{case['kind']}.roi"
    roi.tofile(path)
    (imported,) = import_imagej(path)
    return imported.mask(IMAGE_SHAPE)


def differences(cases, masks, folder) -> list[str]:
    found = []
    for index, (case, expected) in enumerate(zip(cases, masks, strict=True)):
        actual = app_mask(case, folder)
        if not np.array_equal(actual, expected):
            pixels = np.argwhere(actual != expected).tolist()
            found.append(f"case {index} {case}: {len(pixels)} pixels differ, e.g. {pixels[:3]}")
    return found


def test_masks_are_the_stored_imagej_masks(tmp_path):
    cases, masks = load_stored()
    assert {case["kind"] for case in cases} == {"polygon", "oval", "rectangle"}
    assert differences(cases, masks, tmp_path) == []


def test_stored_cases_put_pixel_centres_on_outlines():
    """The stored polygons do test the tie rule: centres lie exactly on their edges."""
    cases, _ = load_stored()
    on_outline = 0
    for case in cases:
        if case["kind"] != "polygon":
            continue
        points = np.array(case["points"])
        for start, end in zip(points, np.roll(points, -1, axis=0), strict=True):
            for t in np.linspace(0, 1, 65):
                x, y = start + t * (end - start)
                on_outline += (x - 0.5) % 1 == 0 and (y - 0.5) % 1 == 0
    assert on_outline > 100


def test_the_stored_masks_are_what_imagej_makes_now(tmp_path):
    command = imagej_command()
    if command is None:
        pytest.skip("Java or ImageJ's ij.jar not found (apt-get install imagej "
                    "default-jdk-headless, or set IMAGEJ_JAR); the stored masks are checked")
    cases, masks = load_stored()
    fresh, _version = run_imagej(cases, command)
    assert all(np.array_equal(a, b) for a, b in zip(fresh, masks, strict=True))


def test_masks_are_imagejs_on_new_cases(tmp_path):
    command = imagej_command()
    if command is None:
        pytest.skip("Java or ImageJ's ij.jar not found (apt-get install imagej "
                    "default-jdk-headless, or set IMAGEJ_JAR); the stored masks are checked")
    cases = generated_cases(seed=7, count=40)
    masks, _version = run_imagej(cases, command)
    assert differences(cases, masks, tmp_path) == []


def distance_to_outline(points, x, y) -> float:
    points = np.asarray(points, dtype=float)
    best = np.inf
    for start, end in zip(points, np.roll(points, -1, axis=0), strict=True):
        along = np.clip(np.dot([x, y] - start, end - start) / np.dot(end - start, end - start),
                        0, 1)
        best = min(best, float(np.hypot(*(start + along * (end - start) - [x, y]))))
    return best


def test_decimal_vertices_differ_only_where_a_centre_is_on_an_edge(tmp_path):
    """README: 9 pixels in 150 such polygons, each a centre on the outline in exact arithmetic."""
    command = imagej_command()
    if command is None:
        pytest.skip("Java or ImageJ's ij.jar not found (apt-get install imagej "
                    "default-jdk-headless, or set IMAGEJ_JAR)")
    cases = decimal_polygons()
    masks, _version = run_imagej(cases, command)
    pixels = 0
    for case, expected in zip(cases, masks, strict=True):
        for row, col in np.argwhere(app_mask(case, tmp_path) != expected):
            pixels += 1
            assert distance_to_outline(case["points"], col + 0.5, row + 0.5) < 1e-6
    assert pixels <= 9
