"""ROI shapes, their rasterisation (pixel-centre rule), ROI sets as JSON / HDF5, ImageJ import."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import roifile
from hypothesis import given, settings
from hypothesis import strategies as st

from flimage_app.model import FileFormatError, FLImage, FLSeries
from flimage_app.model.background import border_mask
from flimage_app.model.rois import (
    SCHEMA_VERSION,
    BorderROI,
    EllipseROI,
    FreehandROI,
    PolygonROI,
    RectangleROI,
    ROISet,
    combined_mask,
    import_imagej,
    load_roiset_h5,
    load_roiset_json,
    polygon_mask,
    read_roiset,
    roiset_from_dict,
    roiset_from_json,
    roiset_to_dict,
    roiset_to_json,
    save_roiset_h5,
    save_roiset_json,
    unique_name,
    write_roiset,
)

SHAPE = (30, 40)


def centres(shape):
    """Pixel-centre coordinates (x, y) of every pixel, as two 2-D arrays."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return cols + 0.5, rows + 0.5


def crossing_count_inside(points, x, y):
    """Independent even-odd test for one point, counting crossings at or left of x."""
    inside = False
    n = len(points)
    for i in range(n):
        (xa, ya), (xb, yb) = points[i], points[(i + 1) % n]
        if (ya > y) != (yb > y):
            x_cross = xa + (y - ya) * (xb - xa) / (yb - ya)
            if x_cross <= x:
                inside = not inside
    return inside


# ----------------------------------------------------------------- rectangles

def test_integer_rectangle_covers_exactly_its_slice():
    mask = RectangleROI(x=5, y=3, width=7, height=4).mask(SHAPE)
    expected = np.zeros(SHAPE, dtype=bool)
    expected[3:7, 5:12] = True
    np.testing.assert_array_equal(mask, expected)


def test_fractional_rectangle_uses_pixel_centres():
    # centres 0.5, 1.5, …; x from 0.6 to 3.5 contains the centres 1.5, 2.5 and 3.5 (a centre
    # on the right edge is inside, as in ImageJ), y from 0.5 to 1.5 the centre 1.5 only
    mask = RectangleROI(x=0.6, y=0.5, width=2.9, height=1.0).mask(SHAPE)
    assert np.argwhere(mask).tolist() == [[1, 1], [1, 2], [1, 3]]
    # the same rectangle as a polygon (its rotation by a full turn) covers the same pixels
    corners = RectangleROI(x=0.6, y=0.5, width=2.9, height=1.0, angle=360).corners()
    np.testing.assert_array_equal(polygon_mask(corners, SHAPE), mask)


@given(x=st.integers(-10, 45), y=st.integers(-10, 35), w=st.integers(1, 30),
       h=st.integers(1, 30))
@settings(max_examples=60, deadline=None)
def test_rectangles_are_clipped_slices(x, y, w, h):
    expected = np.zeros(SHAPE, dtype=bool)
    expected[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = True
    np.testing.assert_array_equal(RectangleROI(x, y, w, h).mask(SHAPE), expected)
    # the same rectangle drawn as a polygon covers the same pixels
    corners = RectangleROI(x, y, w, h).corners()
    np.testing.assert_array_equal(polygon_mask(corners, SHAPE), expected)


def test_rotated_rectangle_by_quarter_turn():
    # rotation about the corner (10, 2): x' = 10 - v, y' = 2 + u  → x in [7, 10], y in [2, 6]
    rotated = RectangleROI(x=10, y=2, width=4, height=3, angle=90).mask(SHAPE)
    np.testing.assert_array_equal(rotated, RectangleROI(x=7, y=2, width=3, height=4).mask(SHAPE))


def test_invalid_rectangles_are_refused():
    with pytest.raises(ValueError, match="positive"):
        RectangleROI(0, 0, 0, 5)
    with pytest.raises(ValueError, match="finite"):
        RectangleROI(np.nan, 0, 3, 5)
    with pytest.raises(ValueError, match="role"):
        RectangleROI(0, 0, 3, 5, role="maybe")


# ----------------------------------------------------------------- ellipses

def test_ellipse_matches_the_centre_rule():
    ellipse = EllipseROI(x=4, y=6, width=21, height=13)
    x, y = centres(SHAPE)
    expected = ((x - 14.5) / 10.5) ** 2 + ((y - 12.5) / 6.5) ** 2 <= 1
    np.testing.assert_array_equal(ellipse.mask(SHAPE), expected)
    assert ellipse.mask(SHAPE).sum() == pytest.approx(np.pi * 10.5 * 6.5, rel=0.05)


def test_ellipse_lies_in_its_bounding_box():
    ellipse = EllipseROI(x=2.3, y=1.7, width=9.1, height=14.2)
    box = RectangleROI(x=2.3, y=1.7, width=9.1, height=14.2).mask(SHAPE)
    assert not (ellipse.mask(SHAPE) & ~box).any()


def test_rotated_ellipse_by_quarter_turn_swaps_axes():
    rotated = EllipseROI(x=20, y=4, width=16, height=6, angle=90).mask(SHAPE)
    np.testing.assert_array_equal(rotated, EllipseROI(x=14, y=4, width=6, height=16).mask(SHAPE))


def test_circle_is_symmetric():
    mask = EllipseROI(x=5, y=5, width=20, height=20).mask(SHAPE)
    block = mask[5:25, 5:25]
    np.testing.assert_array_equal(block, block[::-1])
    np.testing.assert_array_equal(block, block.T)


# ----------------------------------------------------------------- polygons

def test_triangle_matches_independent_point_in_polygon():
    points = [(2.2, 1.3), (35.7, 8.1), (12.4, 27.9)]
    x, y = centres(SHAPE)
    expected = np.vectorize(lambda px, py: crossing_count_inside(points, px, py))(x, y)
    np.testing.assert_array_equal(PolygonROI(points=points).mask(SHAPE), expected)


@given(st.lists(st.tuples(st.floats(-5, 45), st.floats(-5, 35)), min_size=3, max_size=8))
@settings(max_examples=40, deadline=None)
def test_random_polygons_match_independent_point_in_polygon(points):
    shape = (12, 15)
    scaled = [(px * 15 / 40, py * 12 / 30) for px, py in points]
    x, y = centres(shape)
    expected = np.vectorize(lambda px, py: crossing_count_inside(scaled, px, py))(x, y)
    np.testing.assert_array_equal(polygon_mask(np.array(scaled), shape), expected)


def test_polygons_sharing_an_edge_share_no_pixel():
    left = PolygonROI(points=[(0, 0), (20, 0), (10, 30)]).mask(SHAPE)
    right = PolygonROI(points=[(20, 0), (40, 0), (40, 30), (10, 30)]).mask(SHAPE)
    assert not (left & right).any()
    both = PolygonROI(points=[(0, 0), (40, 0), (40, 30), (10, 30)]).mask(SHAPE)
    np.testing.assert_array_equal(left | right, both)


def test_freehand_circle_approximates_ellipse():
    angles = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    points = np.stack([20 + 12 * np.cos(angles), 15 + 12 * np.sin(angles)], axis=1)
    freehand = FreehandROI(points=points).mask(SHAPE)
    ellipse = EllipseROI(x=8, y=3, width=24, height=24).mask(SHAPE)
    assert np.count_nonzero(freehand != ellipse) <= 4


def test_polygon_needs_three_points():
    with pytest.raises(ValueError, match="3 points"):
        PolygonROI(points=[(0, 0), (1, 1)])


# ----------------------------------------------------------------- border, clipping

@pytest.mark.parametrize("width", [1, 3, 10])
def test_border_matches_flimage_border(width):
    np.testing.assert_array_equal(BorderROI(width).mask(SHAPE), border_mask(SHAPE, width))


def test_border_width_must_be_whole_pixels():
    with pytest.raises(ValueError):
        BorderROI(0)
    with pytest.raises(ValueError):
        BorderROI(2.5)


def test_shapes_outside_the_image_give_empty_masks():
    for roi in (RectangleROI(50, 50, 5, 5), EllipseROI(-20, -20, 10, 10),
                PolygonROI(points=[(100, 0), (120, 0), (110, 10)])):
        assert not roi.mask(SHAPE).any()


def test_partly_outside_shapes_are_clipped():
    mask = EllipseROI(x=-10, y=-10, width=20, height=20).mask(SHAPE)
    assert mask[0, 0] and mask.sum() == pytest.approx(np.pi * 100 / 4, rel=0.1)


# ----------------------------------------------------------------- combining

def test_union_of_includes_minus_excludes():
    rois = [RectangleROI(0, 0, 10, 10), RectangleROI(20, 0, 10, 10),
            EllipseROI(2, 2, 6, 6, role="exclude")]
    expected = rois[0].mask(SHAPE) | rois[1].mask(SHAPE)
    expected &= ~rois[2].mask(SHAPE)
    np.testing.assert_array_equal(combined_mask(rois, SHAPE), expected)


def test_excludes_only_mean_everything_else():
    cell = EllipseROI(10, 10, 8, 8, role="exclude")
    np.testing.assert_array_equal(combined_mask([cell], SHAPE), ~cell.mask(SHAPE))


def test_no_rois_means_no_region():
    assert combined_mask([], SHAPE) is None
    assert ROISet().mask(SHAPE) is None


def test_frame_overrides():
    shared = (RectangleROI(0, 0, 5, 5),)
    special = (RectangleROI(10, 10, 5, 5),)
    roiset = ROISet(rois=shared).with_rois(special, index=3)
    assert roiset.rois_for_frame(2) == shared
    assert roiset.rois_for_frame(3) == special
    np.testing.assert_array_equal(roiset.mask(SHAPE, 3), special[0].mask(SHAPE))
    assert roiset.without_override(3).rois_for_frame(3) == shared


def test_unique_name():
    assert unique_name("rectangle", []) == "rectangle 1"
    assert unique_name("rectangle", ["rectangle 1", "rectangle 2"]) == "rectangle 3"


# ----------------------------------------------------------------- JSON

def example_set() -> ROISet:
    return ROISet(
        rois=(RectangleROI(1, 2, 3, 4, angle=12.5, name="corner"),
              EllipseROI(5, 6, 7, 8, role="exclude", name="cell"),
              PolygonROI(points=[(0, 0), (5, 0.5), (2, 7)], name="tri"),
              FreehandROI(points=[(1, 1), (2, 1), (2, 2), (1.5, 3)], name="hand"),
              BorderROI(4, name="frame")),
        overrides={2: (RectangleROI(0, 0, 9, 9),)},
        fit_profile="poly2o", fit_offset="mode")


def test_json_round_trip():
    roiset = example_set()
    assert roiset_from_json(roiset_to_json(roiset)) == roiset
    document = json.loads(roiset_to_json(roiset))
    assert document["schema"] == "flimage_app.rois"
    assert document["version"] == SCHEMA_VERSION
    assert [r["kind"] for r in document["rois"]] == ["rectangle", "ellipse", "polygon",
                                                     "freehand", "border"]


def test_json_file_round_trip_and_no_silent_overwrite(tmp_path):
    path = tmp_path / "rois.json"
    save_roiset_json(example_set(), path)
    assert load_roiset_json(path) == example_set()
    with pytest.raises(FileExistsError):
        save_roiset_json(ROISet(), path)
    save_roiset_json(ROISet(), path, overwrite=True)
    assert load_roiset_json(path) == ROISet()


def test_json_from_a_newer_version_is_refused():
    document = roiset_to_dict(example_set())
    document["version"] = SCHEMA_VERSION + 1
    with pytest.raises(FileFormatError, match="update"):
        roiset_from_dict(document)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('{"schema": "other"}', "Not an ROI set"),
    ('{"schema": "flimage_app.rois", "version": 1, "rois": [{"kind": "star"}]}', "Unknown ROI"),
    ('{"schema": "flimage_app.rois", "version": 1, "rois": [{"kind": "rectangle", "x": 1}]}',
     "Invalid rectangle"),
])
def test_bad_json_gives_one_line_errors(text, message):
    with pytest.raises(FileFormatError, match=message) as info:
        roiset_from_json(text)
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------- HDF5

def test_rois_live_in_the_app_group_and_flimage_still_opens_the_file(tmp_path):
    import flimage

    path = tmp_path / "series.h5"
    frames = [FLImage(data=np.full((8, 9), float(i))) for i in range(2)]
    with FLSeries(flimage_list=frames, h5file=path, h5mode="w"):
        pass
    save_roiset_h5(path, example_set())
    with h5py.File(path, "r") as h5:
        assert "rois" in h5["flimage_app"]
        assert all("rois" not in h5[f"fli_{i}"].attrs for i in range(2))
    assert load_roiset_h5(path) == example_set()
    with flimage.FLSeries(h5file=path, h5mode="r") as series:
        np.testing.assert_array_equal(series.get_flimage(1).fl, np.full((8, 9), 1.0))


def test_rois_at_flimage_root_do_not_disturb_flimage(tmp_path):
    import flimage

    path = tmp_path / "image.h5"
    with FLImage(data=np.ones((5, 6)), meta_data={"pixel size": 1e-7}, h5file=path, h5mode="w"):
        pass
    save_roiset_h5(path, example_set())
    with flimage.FLImage(h5file=path, h5mode="r") as fli:
        assert fli["pixel size"] == pytest.approx(1e-7)
    with h5py.File(path, "r") as h5:
        assert read_roiset(h5) == example_set()


def test_no_rois_stored_reads_none(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as h5:
        assert read_roiset(h5) is None
        write_roiset(h5, ROISet())
        assert read_roiset(h5) == ROISet()


# ----------------------------------------------------------------- ImageJ

def imagej_rois():
    rect = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=3, top=4, right=10, bottom=8,
                             name="bg")
    oval = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=12, top=2, right=22, bottom=10,
                             name="oval")
    polygon = roifile.ImagejRoi.frompoints([[1, 12], [20, 14], [10, 27]], name="tri")
    polygon.roitype = roifile.ROI_TYPE.POLYGON
    freehand = roifile.ImagejRoi.frompoints([[25, 15], [35, 15], [38, 25], [30, 28], [24, 22]],
                                            name="hand")
    line = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.LINE, x1=0, y1=0, x2=5, y2=5, name="line")
    return [rect, oval, polygon, freehand, line]


def test_import_single_imagej_roi(tmp_path):
    path = tmp_path / "bg.roi"
    imagej_rois()[0].tofile(path)
    (rect,) = import_imagej(path)
    assert rect == RectangleROI(3, 4, 7, 4, name="bg")
    expected = np.zeros(SHAPE, dtype=bool)
    expected[4:8, 3:10] = True  # ImageJ's rectangle covers columns left…right-1
    np.testing.assert_array_equal(rect.mask(SHAPE), expected)


def test_import_imagej_roiset_zip(tmp_path):
    path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(path, imagej_rois())
    rois = import_imagej(path)
    assert [type(r) for r in rois] == [RectangleROI, EllipseROI, PolygonROI, FreehandROI]
    assert [r.name for r in rois] == ["bg", "oval", "tri", "hand"]
    assert rois[1] == EllipseROI(12, 2, 10, 8, name="oval")
    assert rois[2].points == ((1, 12), (20, 14), (10, 27))
    assert all(r.role == "include" for r in rois)


def test_import_imagej_without_area_rois(tmp_path):
    path = tmp_path / "line.roi"
    imagej_rois()[-1].tofile(path)
    with pytest.raises(FileFormatError, match="no ROI that encloses"):
        import_imagej(path)


def test_import_imagej_bad_files(tmp_path):
    bad = tmp_path / "broken.roi"
    bad.write_bytes(b"not an roi")
    with pytest.raises(FileFormatError, match="Cannot read ImageJ"):
        import_imagej(bad)
    with pytest.raises(FileFormatError, match=".roi or RoiSet"):
        import_imagej(tmp_path / "rois.txt")


def test_signal_is_the_excluded_cells_or_else_everything_but_the_background():
    shape = (20, 30)
    background = RectangleROI(x=0, y=0, width=5, height=20, name="margin")
    cell = RectangleROI(x=10, y=5, width=4, height=3, role="exclude", name="cell")
    assert ROISet().signal_mask(shape) is None
    np.testing.assert_array_equal(ROISet(rois=(background,)).signal_mask(shape),
                                  ~background.mask(shape))
    expected = np.zeros(shape, bool)
    expected[5:8, 10:14] = True
    np.testing.assert_array_equal(ROISet(rois=(background, cell)).signal_mask(shape), expected)
    # a frame with its own regions uses them
    per_frame = ROISet(rois=(background,), overrides={2: (background, cell)})
    np.testing.assert_array_equal(per_frame.signal_mask(shape, 2), expected)
    np.testing.assert_array_equal(per_frame.signal_mask(shape, 1), ~background.mask(shape))
