"""The measurement model: measurement ROIs, per-ROI traces, tables and their storage."""

from __future__ import annotations

import csv
import math

import h5py
import numpy as np
import pytest

from flimage_app.model.bleach import correct_series
from flimage_app.model.errors import Cancelled, FileFormatError
from flimage_app.model.names import APP_GROUP, MEASURE_ROIS_DATASET, MEASUREMENT_GROUP
from flimage_app.model.roi_measure import (
    STATISTICS,
    MeasureROISet,
    export_imagej,
    load_measure_rois,
    load_measurement,
    measure_series,
    next_number_name,
    parse_frames,
    read_measure_rois,
    read_measurement,
    write_measure_rois,
)
from flimage_app.model.rois import (
    BorderROI,
    EllipseROI,
    FreehandROI,
    PolygonROI,
    RectangleROI,
    ROISet,
    save_roiset_json,
)

from .measure_data import (
    NOISE,
    OFFSET,
    PIXEL_SIZE,
    SHAPE,
    cell_frames,
    cell_rois,
    truth,
    write_cell_series,
)


@pytest.fixture
def cells(tmp_path):
    path = tmp_path / "cells.h5"
    frames = write_cell_series(path)
    return path, frames, MeasureROISet.numbered(cell_rois())


# ------------------------------------------------------------------ ROI sets
def test_numbered_names_follow_the_roi_manager():
    rois = [RectangleROI(0, 0, 2, 2), RectangleROI(1, 1, 2, 2, name="2"),
            RectangleROI(2, 2, 2, 2, name="2"), RectangleROI(3, 3, 2, 2, role="exclude")]
    measured = MeasureROISet.numbered(rois)
    assert measured.names == ["1", "2", "3", "4"]
    assert {roi.role for roi in measured.rois} == {"include"}
    assert next_number_name(["1", "3"]) == "2"


def test_names_must_be_unique_and_overrides_known():
    with pytest.raises(ValueError, match="unique"):
        MeasureROISet(rois=(RectangleROI(0, 0, 2, 2, name="a"),
                            RectangleROI(1, 1, 2, 2, name="a")))
    with pytest.raises(ValueError, match="not in the set"):
        MeasureROISet(rois=(RectangleROI(0, 0, 2, 2, name="a"),),
                      overrides={1: {"b": RectangleROI(0, 0, 2, 2)}})
    with pytest.raises(ValueError, match="name"):
        MeasureROISet(rois=(RectangleROI(0, 0, 2, 2),))


def test_edits_rename_move_and_remove():
    rois = MeasureROISet.numbered([RectangleROI(0, 0, 2, 2), RectangleROI(4, 4, 2, 2)])
    moved = rois.with_roi(RectangleROI(1, 1, 2, 2, name="1"), frame=3)
    assert moved.roi("1", 3).x == 1 and moved.roi("1", 2).x == 0
    renamed = moved.renamed("1", "nucleus")
    assert renamed.names == ["nucleus", "2"] and renamed.roi("nucleus", 3).x == 1
    with pytest.raises(ValueError, match="already"):
        renamed.renamed("2", "nucleus")
    assert renamed.without_override("nucleus", 3).roi("nucleus", 3).x == 0
    assert renamed.without("nucleus").names == ["2"]
    assert renamed.without("nucleus").overrides == {}


def test_json_and_hdf5_round_trip(tmp_path):
    rois = MeasureROISet.numbered(cell_rois()).with_roi(
        EllipseROI(3, 4, 5, 6, name="cell A"), frame=2)
    assert MeasureROISet.from_dict(rois.to_dict()) == rois
    with h5py.File(tmp_path / "r.h5", "w") as h5:
        write_measure_rois(h5, rois)
        assert f"{APP_GROUP}/{MEASURE_ROIS_DATASET}" in h5
        assert "rois" not in h5[APP_GROUP]  # apart from the background ROIs
        assert read_measure_rois(h5) == rois
    assert load_measure_rois(tmp_path / "r.h5") == rois


def test_a_background_roi_set_gives_its_shared_rois(tmp_path):
    save_roiset_json(ROISet(rois=(RectangleROI(0, 0, 4, 4, role="exclude"),)),
                     tmp_path / "bg.json")
    loaded = load_measure_rois(tmp_path / "bg.json")
    assert loaded.names == ["1"] and loaded.rois[0].role == "include"
    save_roiset_json(ROISet(rois=(BorderROI(5),)), tmp_path / "border.json")
    with pytest.raises(FileFormatError, match="border.json: an image border"):
        load_measure_rois(tmp_path / "border.json")


@pytest.mark.parametrize("text, reason", [
    ('{"schema": "flimage_app.measure_rois", "version": 9, "rois": []}', "version 9"),
    ('{"schema": "flimage_app.measure_rois", "version": 1, "rois": [{"kind": "blob"}]}',
     "Unknown ROI kind"),
    ('{"schema": "flimage_app.measure_rois", "version": 1, "rois": [], '
     '"frame_overrides": {"x": []}}', "not a frame number"),
    ("[1, 2", "ROIs"),
])
def test_bad_roi_files_are_refused_in_one_line(tmp_path, text, reason):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FileFormatError, match=reason) as caught:
        load_measure_rois(path)
    assert "\n" not in str(caught.value)


def test_fiji_roiset_round_trip(tmp_path):
    rois = MeasureROISet.numbered([
        *cell_rois(), RectangleROI(x=5, y=30, width=9, height=6, angle=30, name="tilted"),
        FreehandROI(points=((60.2, 40.1), (70.7, 44.3), (66.1, 55.9), (58.4, 50.2)),
                    name="drawn")])
    export_imagej(rois, tmp_path / "RoiSet.zip")
    back = load_measure_rois(tmp_path / "RoiSet.zip")
    assert back.names == rois.names
    for original, loaded in zip(rois.rois, back.rois, strict=True):
        assert np.array_equal(original.mask(SHAPE), loaded.mask(SHAPE)), original.name
    assert isinstance(back.roi("drawn"), FreehandROI)
    single = MeasureROISet(rois=(rois.rois[0],))
    export_imagej(single, tmp_path / "one.roi")
    assert load_measure_rois(tmp_path / "one.roi").names == ["cell A"]
    with pytest.raises(FileExistsError):
        export_imagej(single, tmp_path / "one.roi")
    with pytest.raises(ValueError, match="one ROI"):
        export_imagej(rois, tmp_path / "many.roi")
    with pytest.raises(ValueError, match="ellipse"):
        export_imagej(MeasureROISet(rois=(EllipseROI(1, 1, 5, 4, angle=20, name="e"),)),
                      tmp_path / "e.zip")


# ------------------------------------------------------------------ measuring
def test_statistics_are_numpys_on_the_same_masks(cells):
    path, frames, rois = cells
    moved = RectangleROI(x=10, y=40, width=7, height=5, name="1")
    rois = rois.with_roi(moved, frame=4)
    measurement = measure_series(path, rois)
    for r, name in enumerate(rois.names):
        for index, frame in enumerate(frames):
            mask = rois.roi(name, index).mask(SHAPE)
            for data, image in (("raw", frame.astype(float)),
                                ("background_corrected", frame.astype(float) - OFFSET)):
                values = image[mask]
                got = {stat: measurement.values[data][stat][r, index] for stat in STATISTICS}
                expected = {"mean": values.mean(), "sum": values.sum(), "min": values.min(),
                            "max": values.max(), "std": values.std(ddof=1)}
                for stat in STATISTICS:
                    assert got[stat] == pytest.approx(expected[stat], rel=1e-12, abs=1e-9), \
                        (name, index, data, stat)
            assert measurement.area_px[r, index] == mask.sum()
    assert measurement.area_px[1, 4] == 35  # the moved ROI on frame 4
    assert measurement.area_m2 == pytest.approx(measurement.area_px * PIXEL_SIZE ** 2)
    assert list(measurement.times) == [2.0 * i for i in range(len(frames))]
    assert "bleach_corrected" not in measurement.values


def test_traces_are_the_truth_and_corrected_traces_are_flat(cells, tmp_path):
    path, frames, rois = cells
    measured = measure_series(path, rois, bleach={"method": "exp", "border_px": 5})
    expected = np.array([truth(index) for index in range(len(frames))]).T
    pixels = measured.area_px[:, :1]
    tolerance = 5 * NOISE / np.sqrt(pixels)  # five standard errors of a mean
    assert np.all(np.abs(measured.values["background_corrected"]["mean"] - expected)
                  < tolerance)
    assert np.all(np.abs(measured.values["raw"]["mean"] - expected - OFFSET) < tolerance)
    corrected = measured.values["bleach_corrected"]["mean"]
    # flat: every frame at the first frame's level (the truth at time 0), within the noise
    assert np.all(np.abs(corrected - expected[:, :1]) < 3 * tolerance)
    assert measured.record["bleach"]["method"] == "exp"
    # a corrected series gives the same traces as the correction applied on the fly
    correct_series(path, tmp_path / "corr.h5", "exp", border_px=5)
    from_file = measure_series(path, rois, corrected=tmp_path / "corr.h5")
    assert from_file.values["bleach_corrected"]["mean"] == pytest.approx(corrected, rel=1e-5)
    assert from_file.record["corrected"]["file"] == "corr.h5"


def test_normalised_traces(cells):
    path, frames, rois = cells
    measured = measure_series(path, rois, baseline=[0, 1, 2])
    mean = measured.values["background_corrected"]["mean"]
    f0 = mean[:, :3].mean(axis=1, keepdims=True)
    table = measured.table("background_corrected")
    assert table["F/F0"] == pytest.approx(mean / f0)
    assert table["dF/F0"] == pytest.approx(mean / f0 - 1)
    # the cells bleach as exp(-0.1 frame): F/F0 follows, the same for every cell
    decay = np.exp(-0.1 * np.arange(len(frames))) / np.exp(-0.1 * np.arange(3)).mean()
    assert table["F/F0"] == pytest.approx(np.broadcast_to(decay, mean.shape), abs=0.02)
    with pytest.raises(ValueError, match="baseline"):
        measure_series(path, rois, baseline=[len(frames)])


def test_no_finite_pixel_and_one_pixel(tmp_path):
    path = tmp_path / "nan.h5"
    write_cell_series(path, count=2, stored_background=False)
    with h5py.File(path, "r+") as h5:
        raw = h5["fli_0/fluorescence/raw"]
        data = raw[()]
        data[:10, :10] = np.nan
        raw[...] = data
    rois = MeasureROISet(rois=(RectangleROI(0, 0, 5, 5, name="dark"),
                               RectangleROI(0, 0, 12, 12, name="partly"),
                               RectangleROI(40, 40, 1, 1, name="pixel")))
    measured = measure_series(path, rois)
    raw = measured.values["raw"]
    assert all(math.isnan(raw[stat][0, 0]) for stat in STATISTICS)
    assert measured.area_px[0, 0] == 25
    assert raw["mean"][1, 0] == pytest.approx(np.nanmean(data[:12, :12]))
    assert raw["std"][2, 0] == 0.0  # ImageJ's standard deviation of one pixel


def test_unknown_pixel_size_and_times(tmp_path):
    path = tmp_path / "bare.h5"
    write_cell_series(path, count=3, times=False)
    with h5py.File(path, "r+") as h5:
        for index in range(3):
            del h5[f"fli_{index}"].attrs["pixel size"]
    measured = measure_series(path, MeasureROISet.numbered(cell_rois()))
    assert np.all(np.isnan(measured.area_m2)) and np.all(np.isnan(measured.times))
    assert measure_series(path, MeasureROISet.numbered(cell_rois()),
                          pixel_size=1e-6).area_m2[0, 0] == pytest.approx(
                              measured.area_px[0, 0] * 1e-12)


def test_unsaved_metadata_edits_give_the_times_and_pixel_size(cells):
    path, frames, rois = cells
    # uneven times: a fit against them differs from a fit against the file's even ones
    edits = {index: {"time": 0.5 * index ** 1.5} for index in range(len(frames))}
    edits[0]["pixel size"] = 1e-6
    bleach = {"method": "exp", "border_px": 5}
    measured = measure_series(path, rois, meta_changes=edits, bleach=bleach)
    assert list(measured.times) == [0.5 * i ** 1.5 for i in range(len(frames))]
    assert measured.pixel_size == 1e-6
    assert measured.record["metadata_changes"]["0"]["pixel size"] == 1e-6
    # the correction was fitted against the edited times, as the table shows them
    edited = correct_series(path, None, **bleach, meta_changes=edits)
    stored = correct_series(path, None, **bleach)
    assert not np.allclose(edited.correction, stored.correction, rtol=1e-3)
    fl_mean = measured.values["background_corrected"]["mean"]
    assert measured.values["bleach_corrected"]["mean"] == pytest.approx(
        (fl_mean - edited.background) * edited.correction, rel=1e-12)
    with h5py.File(path, "r") as h5:  # the file is not changed
        assert h5["fli_1"].attrs["time"] == 2.0


def test_histogram_matching_is_not_applied_on_the_fly(cells):
    path, _, rois = cells
    with pytest.raises(ValueError, match="histogram"):
        measure_series(path, rois, bleach={"method": "histogram", "border_px": 5})


def test_a_corrected_series_of_other_frames_is_refused(cells, tmp_path):
    path, _, rois = cells
    write_cell_series(tmp_path / "short.h5", count=3)
    with pytest.raises(ValueError, match="corrected series has 3 frames"):
        measure_series(path, rois, corrected=tmp_path / "short.h5")


def test_progress_and_cancel(cells):
    path, frames, rois = cells
    seen, passes = [], []

    class Progress:
        def __call__(self, done, total):
            seen.append((done, total))

        def start_pass(self, name):
            passes.append(name)

    measure_series(path, rois, progress=Progress())
    assert passes == ["measuring the ROIs"]
    assert seen == [(i + 1, len(frames)) for i in range(len(frames))]
    calls = []
    with pytest.raises(Cancelled):
        measure_series(path, rois, cancel=lambda: calls.append(1) or len(calls) > 3)
    assert len(calls) == 4


def test_frames_are_read_one_at_a_time(cells, monkeypatch):
    """Streaming: the measurement never asks for more than one frame ahead."""
    from flimage_app.model.bleach import measure as frame_reading

    path, _, rois = cells
    original = frame_reading.FrameReader.iter_fl
    workers = []

    def spy(self, indices=None):
        workers.append(self.workers)
        yield from original(self, indices)

    monkeypatch.setattr(frame_reading.FrameReader, "iter_fl", spy)
    measure_series(path, rois)
    assert workers == [1]


# ------------------------------------------------------------------ tables
def read_csv(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads µ and ² right
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def test_csv_long_and_wide(cells, tmp_path):
    path, frames, rois = cells
    measured = measure_series(path, rois, bleach={"method": "exp", "border_px": 5},
                              baseline=[0])
    measured.to_csv(tmp_path / "long.csv")
    rows = read_csv(tmp_path / "long.csv")
    header, body = rows[0], rows[1:]
    assert header[:6] == ["roi", "frame", "time [s]", "data", "area [px]", "area [µm²]"]
    assert header[6:] == ["mean", "sum", "min", "max", "std", "F/F0", "dF/F0"]
    assert len(body) == len(rois) * len(frames) * 3
    row = next(r for r in body if r[0] == "1" and r[1] == "4" and r[3] == "raw")
    assert float(row[2]) == 8.0
    assert float(row[header.index("mean")]) == measured.values["raw"]["mean"][1, 4]
    assert float(row[5]) == pytest.approx(measured.area_px[1, 4] * 0.04)
    measured.to_csv(tmp_path / "wide.csv", wide=True)
    rows = read_csv(tmp_path / "wide.csv")
    assert len(rows) == 1 + len(frames)
    assert rows[0][:4] == ["frame", "time [s]", "cell A: area [px]", "cell A: area [µm²]"]
    assert len(rows[0]) == 2 + len(rois) * (2 + 3 * 7)
    column = rows[0].index("2: bleach_corrected sum")
    assert [float(r[column]) for r in rows[1:]] == list(
        measured.values["bleach_corrected"]["sum"][2])


def test_write_to_and_read_back(cells, tmp_path):
    path, frames, rois = cells
    measured = measure_series(path, rois, bleach={"method": "ratio", "border_px": 5},
                              baseline=[0, 1])
    with h5py.File(tmp_path / "m.h5", "w") as h5:
        measured.write_to(h5)
        assert MEASUREMENT_GROUP in h5[APP_GROUP]
    back = load_measurement(tmp_path / "m.h5")
    assert back.roi_names == measured.roi_names and back.baseline == [0, 1]
    assert back.rois == rois and back.pixel_size == PIXEL_SIZE
    for data in measured.data_sets:
        for stat in STATISTICS:
            assert np.array_equal(back.values[data][stat], measured.values[data][stat],
                                  equal_nan=True)
    assert np.array_equal(back.area_px, measured.area_px)
    assert back.record["input"]["file"] == "cells.h5"
    assert back.record["input"]["sha256"]
    assert back.record["bleach"]["method"] == "ratio"
    assert load_measure_rois(tmp_path / "m.h5") == rois
    # the series file itself can hold it too (as a saved copy would)
    with h5py.File(tmp_path / "copy.h5", "w") as h5:
        h5.create_group("fli_0")
        measured.write_to(h5)
        measured.write_to(h5)  # replaces the earlier one
        assert read_measurement(h5).frames == len(frames)


def test_damaged_stored_measurements_are_refused_in_one_line(cells, tmp_path):
    path, _, rois = cells
    measured = measure_series(path, rois)
    target = tmp_path / "m.h5"
    with h5py.File(target, "w") as h5:
        measured.write_to(h5)
        del h5[f"{APP_GROUP}/{MEASUREMENT_GROUP}/raw/mean"]
        h5[f"{APP_GROUP}/{MEASUREMENT_GROUP}/raw/mean"] = np.zeros((2, 2))
    with pytest.raises(FileFormatError, match="raw/mean.*shape") as caught:
        load_measurement(target)
    assert "\n" not in str(caught.value)
    with h5py.File(target, "w") as h5:
        measured.write_to(h5)
        h5[f"{APP_GROUP}/{MEASUREMENT_GROUP}"].attrs["record"] = "{not json"
    with pytest.raises(FileFormatError):
        load_measurement(target)
    with h5py.File(target, "w") as h5:
        h5.create_group("nothing")
    with pytest.raises(FileFormatError, match="holds no measurement"):
        load_measurement(target)


def test_parse_frames():
    assert parse_frames("0-4") == [0, 1, 2, 3, 4]
    assert parse_frames("0, 2,5-6") == [0, 2, 5, 6]
    for bad in ("", "a", "4-2", "1-", "-3"):
        with pytest.raises(ValueError):
            parse_frames(bad)
    with pytest.raises(ValueError, match="beyond"):
        parse_frames("0-9", frames=5)


def test_cell_frames_are_what_the_truth_says():
    """The synthetic data itself: the disks hold the stated levels."""
    frame = cell_frames(1)[0]
    (x, y), _, brightness = ((20.0, 20.0), 9.0, 120.0)
    assert frame[int(y), int(x)] == pytest.approx(OFFSET + brightness, abs=5 * NOISE)


def test_polygon_roi_is_measured_with_the_shared_rule(cells):
    """The same pixels as rois.PolygonROI.mask: no second rasterisation rule."""
    path, frames, _ = cells
    polygon = PolygonROI(points=((30.5, 40.5), (44.5, 40.5), (37.5, 52.5)), name="t")
    measured = measure_series(path, MeasureROISet(rois=(polygon,)))
    assert measured.area_px[0, 0] == polygon.mask(SHAPE).sum()
