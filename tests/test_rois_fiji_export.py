"""Export of ROIs for ImageJ / Fiji (.roi, RoiSet .zip) and the round trip through roifile."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import roifile

from flimage_app.model.rois import (
    IMAGEJ_ROLE_PROPERTY,
    BorderROI,
    EllipseROI,
    FreehandROI,
    PolygonROI,
    RectangleROI,
    export_imagej,
    import_imagej,
    to_imagej,
)

SHAPE = (30, 40)


def test_rectangles_and_ovals_get_imagej_integer_bounds(tmp_path):
    path = export_imagej([RectangleROI(3, 4, 7, 5, name="r"),
                          EllipseROI(20, 2, 10, 8, role="exclude", name="o")],
                         tmp_path / "RoiSet.zip")
    rect, oval = roifile.roiread(path)
    assert rect.roitype == roifile.ROI_TYPE.RECT and oval.roitype == roifile.ROI_TYPE.OVAL
    assert (rect.left, rect.top, rect.right, rect.bottom) == (3, 4, 10, 9)
    assert (oval.left, oval.top, oval.right, oval.bottom) == (20, 2, 30, 10)
    assert not rect.subpixelrect and not oval.subpixelrect
    assert rect.name == "r" and oval.name == "o"
    assert oval.properties[IMAGEJ_ROLE_PROPERTY] == "exclude"
    with zipfile.ZipFile(path) as archive:  # one "<name>.roi" per ROI, as Fiji saves them
        assert archive.namelist() == ["r.roi", "o.roi"]


def test_subpixel_bounds_are_written_and_read_back_as_imagej_measures_them(tmp_path):
    """What a round trip app → Fiji → app keeps.

    The file carries what the app has: an oval's sub-pixel box (ImageJ's sub-pixel
    rectangle) and a polygon's sub-pixel vertices.  ImageJ's own reading of the file is
    the truth for what Fiji shows and measures: a rectangle or oval on whole-pixel
    bounds (x, y cut to integers, width and height rounded up; checked against ImageJ
    1.53t in test_rois_imagej.py), a polygon on its sub-pixel vertices.  The app reads
    every ImageJ file that way, its own export included, so one file means the same
    pixels in both programs: the sub-pixel oval comes back as the whole-pixel oval Fiji
    measures, the polygon comes back unchanged.
    """
    ellipse = EllipseROI(10.5, 2.25, 6.5, 8.0, name="e")
    polygon = PolygonROI(points=((1.5, 1.25), (9.75, 2.0), (4.0, 8.5)), name="p")
    path = export_imagej([ellipse, polygon], tmp_path / "RoiSet.zip")
    oval, poly = roifile.roiread(path)
    assert oval.subpixelrect
    assert (oval.xd, oval.yd, oval.widthd, oval.heightd) == (10.5, 2.25, 6.5, 8.0)
    assert poly.roitype == roifile.ROI_TYPE.POLYGON and poly.subpixelresolution
    np.testing.assert_allclose(poly.coordinates(), polygon.points)
    as_in_fiji = EllipseROI(10.0, 2.0, 7.0, 8.0, name="e")  # ImageJ's whole-pixel bounds
    assert import_imagej(path) == [as_in_fiji, polygon]
    # and exported again, the file is read the same way: nothing drifts further
    again = export_imagej([as_in_fiji], tmp_path / "again.zip")
    assert import_imagej(again) == [as_in_fiji]


def test_round_trip_keeps_shapes_roles_names_and_masks(tmp_path):
    rois = [RectangleROI(3, 4, 7, 5, name="corner"),
            EllipseROI(20, 2, 10, 8, role="exclude", name="cell"),
            PolygonROI(points=((1.5, 20.25), (12.75, 22.0), (6.0, 29.5)), name="strip"),
            FreehandROI(points=((30, 20), (36, 21), (37, 27), (31, 28)), name="hand")]
    back = import_imagej(export_imagej(rois, tmp_path / "RoiSet.zip"))
    assert back == rois
    for original, restored in zip(rois, back, strict=True):
        np.testing.assert_array_equal(original.mask(SHAPE), restored.mask(SHAPE))


def test_shapes_imagej_has_not_become_polygons_covering_the_same_pixels(tmp_path):
    border = BorderROI(3, name="frame")
    rotated = RectangleROI(8, 6, 14, 6, angle=30, name="tilted")
    back = import_imagej(export_imagej([border, rotated], tmp_path / "RoiSet.zip",
                                       shape=SHAPE))
    assert [type(roi) for roi in back] == [PolygonROI, PolygonROI]
    np.testing.assert_array_equal(back[0].mask(SHAPE), border.mask(SHAPE))
    np.testing.assert_array_equal(back[1].mask(SHAPE), rotated.mask(SHAPE))
    rotated_ellipse = EllipseROI(10, 8, 16, 10, angle=20)
    outline = to_imagej(rotated_ellipse)
    assert outline.roitype == roifile.ROI_TYPE.POLYGON
    overlap = PolygonROI(points=outline.coordinates()).mask(SHAPE) & rotated_ellipse.mask(SHAPE)
    assert overlap.sum() >= 0.95 * rotated_ellipse.mask(SHAPE).sum()


def test_single_roi_file(tmp_path):
    path = export_imagej([EllipseROI(1, 2, 3, 4, name="one")], tmp_path / "one.roi")
    assert import_imagej(path) == [EllipseROI(1, 2, 3, 4, name="one")]
    assert roifile.ImagejRoi.fromfile(path).roitype == roifile.ROI_TYPE.OVAL


def test_names_in_a_roiset_are_made_unique(tmp_path):
    path = export_imagej([RectangleROI(0, 0, 2, 2, name="a"), RectangleROI(5, 5, 2, 2, name="a")],
                         tmp_path / "RoiSet.zip")
    assert [roi.name for roi in import_imagej(path)] == ["a", "a 1"]


@pytest.mark.parametrize("rois, name, message", [
    ([], "RoiSet.zip", "no ROIs"),
    ([RectangleROI(0, 0, 2, 2), RectangleROI(5, 5, 2, 2)], "two.roi", "RoiSet .zip"),
    ([RectangleROI(0, 0, 2, 2)], "rois.txt", ".roi or RoiSet .zip"),
    ([BorderROI(2)], "border.roi", "image size"),
])
def test_what_cannot_be_exported_is_refused(tmp_path, rois, name, message):
    with pytest.raises(ValueError, match=message):
        export_imagej(rois, tmp_path / name)
    assert not (tmp_path / name).exists()


def test_an_existing_file_is_not_overwritten_without_asking(tmp_path):
    target = tmp_path / "RoiSet.zip"
    target.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        export_imagej([RectangleROI(0, 0, 2, 2)], target)
    assert target.read_bytes() == b"keep"
    export_imagej([RectangleROI(0, 0, 2, 2, name="r")], target, overwrite=True)
    assert import_imagej(target) == [RectangleROI(0, 0, 2, 2, name="r")]
