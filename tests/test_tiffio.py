"""Import of TIFF / NumPy stacks and export to ImageJ TIFF / NumPy (flimage_app.model.tiffio).

Every TIFF is written with tifffile in the test; times [s] and pixel sizes [m]
are checked after conversion to SI.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from flimage_app.model import Cancelled, FileFormatError, FLImage, FLSeries
from flimage_app.model.loader import open_series
from flimage_app.model.tiffio import (
    MissingCalibrationWarning,
    export_npy,
    export_tiff,
    import_stack,
    inspect_stack,
    length_to_metres,
    time_to_seconds,
)

RNG = np.random.default_rng(42)


def quiet_import(path, **options) -> FLSeries:
    """import_stack with calibration warnings silenced (they are tested separately)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingCalibrationWarning)
        return import_stack(path, **options)


def frames_of(series: FLSeries) -> np.ndarray:
    return np.stack([fli.raw_fl for fli in series])


def pixel_size_of(series: FLSeries) -> float | None:
    """The pixel size shared by all frames."""
    sizes = {fli.meta.get("pixel size") for fli in series}
    assert len(sizes) == 1, sizes
    return sizes.pop()


# ------------------------------------------------------------------ units
@pytest.mark.parametrize(("unit", "metres"), [
    ("um", 1e-6), ("µm", 1e-6), ("μm", 1e-6), ("micron", 1e-6), ("nm", 1e-9), ("mm", 1e-3),
    ("cm", 1e-2), ("m", 1.0), ("Å", 1e-10), ("inch", 0.0254)])
def test_length_units(unit, metres):
    assert length_to_metres(2.5, unit) == pytest.approx(2.5 * metres)


def test_uncalibrated_and_unknown_length_units():
    assert length_to_metres(1.0, "pixel") is None
    assert length_to_metres(1.0, None) is None
    with pytest.raises(ValueError, match="furlong"):
        length_to_metres(1.0, "furlong")


@pytest.mark.parametrize(("unit", "seconds"), [
    ("sec", 1.0), ("s", 1.0), (None, 1.0), ("ms", 1e-3), ("µs", 1e-6), ("min", 60.0),
    ("hours", 3600.0)])
def test_time_units(unit, seconds):
    assert time_to_seconds(3.0, unit) == pytest.approx(3.0 * seconds)


# ------------------------------------------------------------------ ImageJ
@pytest.fixture
def hyperstack():
    """uint16 TZCYX stack with distinct values in every plane."""
    return RNG.integers(0, 65535, size=(4, 3, 2, 12, 10), dtype=np.uint16)


def write_hyperstack(path, data):
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.25, 1 / 0.25),
                     metadata={"axes": "TZCYX", "finterval": 250, "tunit": "ms", "unit": "um"})


def test_imagej_hyperstack_with_channel_and_plane(tmp_path, hyperstack):
    path = tmp_path / "hyper.tif"
    write_hyperstack(path, hyperstack)
    with import_stack(path, channel=1, plane=2) as series:
        assert len(series) == 4
        assert series.identifier == "hyper.tif"
        np.testing.assert_array_equal(frames_of(series), hyperstack[:, 2, 1])
        np.testing.assert_allclose(series.times(), [0.0, 0.25, 0.5, 0.75])
        assert pixel_size_of(series) == pytest.approx(0.25e-6)
        assert series[0].dtype == np.float32


def test_imagej_hyperstack_without_choice_names_axes_and_options(tmp_path, hyperstack):
    path = tmp_path / "hyper.tif"
    write_hyperstack(path, hyperstack)
    with pytest.raises(FileFormatError) as info:
        import_stack(path)
    message = str(info.value)
    assert "T=4, Z=3, C=2" in message
    assert "--channel" in message and "--plane" in message
    assert "\n" not in message


def test_inspect_describes_a_stack_it_cannot_import(tmp_path, hyperstack):
    path = tmp_path / "hyper.tif"
    write_hyperstack(path, hyperstack)
    info = inspect_stack(path)
    assert (info.kind, info.axes, info.shape) == ("ImageJ TIFF", "TZCYX", (4, 3, 2, 12, 10))
    assert "do not map to one time series" in info.problem
    assert info.pixel_size == pytest.approx(0.25e-6)
    assert inspect_stack(path, channel=0, plane=0).problem is None


def test_out_of_range_channel_is_reported(tmp_path, hyperstack):
    path = tmp_path / "hyper.tif"
    write_hyperstack(path, hyperstack)
    with pytest.raises(FileFormatError, match="channel=5 is out of range"):
        import_stack(path, channel=5, plane=0)


def test_choice_of_an_axis_the_file_lacks(tmp_path):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, np.zeros((3, 4, 5), np.uint8), imagej=True, metadata={"axes": "TYX"})
    with pytest.raises(FileFormatError, match="no Z axis"):
        import_stack(path, plane=1)
    assert len(quiet_import(path, channel=0, plane=0)) == 3


def test_imagej_z_planes_of_a_time_series_only_with_plane(tmp_path):
    data = RNG.random((5, 2, 6, 7)).astype(np.float32)
    path = tmp_path / "tz.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZYX", "finterval": 2.0})
    with pytest.raises(FileFormatError, match="T=5, Z=2.*--plane"):
        import_stack(path)
    with quiet_import(path, plane=1) as series:
        np.testing.assert_array_equal(frames_of(series), data[:, 1])
        np.testing.assert_allclose(series.times(), 2.0 * np.arange(5))


@pytest.mark.parametrize(("unit", "pixel_size"), [("micron", 0.4e-6), ("nm", 0.4e-9),
                                                  ("\\u00B5m", 0.4e-6)])
def test_imagej_calibration_units(tmp_path, unit, pixel_size):
    path = tmp_path / "cal.tif"
    tifffile.imwrite(path, np.zeros((2, 4, 4), np.uint16), imagej=True,
                     resolution=(2.5, 2.5), metadata={"axes": "TYX", "unit": unit,
                                                      "finterval": 1.5, "tunit": "min"})
    with import_stack(path) as series:
        assert pixel_size_of(series) == pytest.approx(pixel_size)
        np.testing.assert_allclose(series.times(), [0.0, 90.0])


def test_imagej_uncalibrated_warns_and_leaves_metadata_unset(tmp_path):
    path = tmp_path / "plain_ij.tif"
    tifffile.imwrite(path, np.ones((3, 4, 4), np.uint8), imagej=True,
                     metadata={"axes": "TYX"})
    with pytest.warns(MissingCalibrationWarning) as record:
        series = import_stack(path)
    text = " ".join(str(w.message) for w in record)
    assert "no frame times" in text and "no pixel size" in text
    with series:
        assert np.all(np.isnan(series.times()))
        assert "pixel size" not in series[0]


def test_imagej_labels_give_irregular_times(tmp_path):
    times = [0.0, 0.7, 2.25, 2.5]
    path = tmp_path / "labels.tif"
    tifffile.imwrite(path, np.zeros((4, 3, 3), np.float32), imagej=True,
                     metadata={"axes": "TYX", "finterval": 1.0,
                               "Labels": [f"t={t * 1000:g} ms" for t in times]})
    with quiet_import(path) as series:
        np.testing.assert_allclose(series.times(), times)


def test_imagej_stack_without_axes_becomes_frames(tmp_path):
    # tifffile writes a 3-D ImageJ stack without axes as channels; it is one time series
    data = RNG.integers(0, 255, (6, 5, 7), dtype=np.uint8)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, imagej=True)
    with pytest.warns(MissingCalibrationWarning, match="channels are read as frames"):
        series = import_stack(path, interval=0.5)
    with series:
        np.testing.assert_array_equal(frames_of(series), data)
        np.testing.assert_allclose(series.times(), 0.5 * np.arange(6))


# ------------------------------------------------------------------ OME
def test_ome_tiff_per_plane_delta_t_and_physical_size(tmp_path):
    data = RNG.integers(0, 4095, (4, 2, 8, 9), dtype=np.uint16)
    delta_t = [0.0, 1200.0, 2600.0, 3100.0]  # ms, irregular
    planes = {"DeltaT": [t for t in delta_t for _ in range(2)], "DeltaTUnit": ["ms"] * 8}
    path = tmp_path / "ome.ome.tif"
    tifffile.imwrite(path, data, ome=True, metadata={
        "axes": "TCYX", "PhysicalSizeX": 650.0, "PhysicalSizeXUnit": "nm",
        "PhysicalSizeY": 650.0, "PhysicalSizeYUnit": "nm", "TimeIncrement": 1.0,
        "Plane": planes})
    info = inspect_stack(path, channel=0)
    assert info.kind == "OME-TIFF"
    with import_stack(path, channel=1) as series:
        np.testing.assert_array_equal(frames_of(series), data[:, 1])
        np.testing.assert_allclose(series.times(), np.array(delta_t) / 1000)
        assert pixel_size_of(series) == pytest.approx(650e-9)


def test_ome_tiff_time_increment_and_default_micrometres(tmp_path):
    data = RNG.random((3, 5, 5)).astype(np.float32)
    path = tmp_path / "inc.ome.tif"
    tifffile.imwrite(path, data, ome=True, metadata={
        "axes": "TYX", "PhysicalSizeX": 0.108, "PhysicalSizeY": 0.108,
        "TimeIncrement": 0.5, "TimeIncrementUnit": "min"})
    with import_stack(path) as series:
        np.testing.assert_array_equal(frames_of(series), data)
        np.testing.assert_allclose(series.times(), [0.0, 30.0, 60.0])
        assert pixel_size_of(series) == pytest.approx(0.108e-6)


# ------------------------------------------------------------------ plain TIFF
def test_plain_multipage_tiff_with_options(tmp_path):
    data = RNG.integers(0, 60000, (5, 6, 7), dtype=np.uint16)
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tif:
        for image in data:
            tif.write(image, contiguous=False, metadata=None)
    assert inspect_stack(path).kind == "TIFF"
    with import_stack(path, pixel_size=2e-7, interval=0.1) as series:
        np.testing.assert_array_equal(frames_of(series), data)
        np.testing.assert_allclose(series.times(), 0.1 * np.arange(5))
        assert pixel_size_of(series) == 2e-7


def test_options_override_the_file(tmp_path, hyperstack):
    path = tmp_path / "hyper.tif"
    write_hyperstack(path, hyperstack)
    with import_stack(path, channel=0, plane=0, pixel_size=1e-6, interval=3.0) as series:
        np.testing.assert_allclose(series.times(), [0.0, 3.0, 6.0, 9.0])
        assert pixel_size_of(series) == 1e-6


def test_plain_tiff_centimetre_resolution_is_a_calibration(tmp_path):
    path = tmp_path / "cm.tif"
    tifffile.imwrite(path, np.zeros((2, 5, 6), np.uint8), resolution=(50000, 50000),
                     resolutionunit="CENTIMETER")
    with quiet_import(path) as series:
        assert pixel_size_of(series) == pytest.approx(0.2e-6)


def test_plain_tiff_document_dpi_is_not_a_calibration(tmp_path):
    path = tmp_path / "dpi.tif"
    tifffile.imwrite(path, np.zeros((4, 4), np.uint8), resolution=(72, 72),
                     resolutionunit="INCH")
    with quiet_import(path) as series:
        assert "pixel size" not in series[0]


def test_single_2d_tiff_is_one_frame(tmp_path):
    image = RNG.integers(-300, 300, (9, 11), dtype=np.int16)
    path = tmp_path / "single.tif"
    tifffile.imwrite(path, image)
    with quiet_import(path, pixel_size=1e-7) as series:
        assert len(series) == 1
        np.testing.assert_array_equal(series[0].raw_fl, image)
        assert np.isnan(series.times()[0])


def test_rgb_tiff_needs_a_channel(tmp_path):
    data = RNG.integers(0, 255, (2, 5, 6, 3), dtype=np.uint8)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, data, photometric="rgb")
    with pytest.raises(FileFormatError, match="colour samples.*--channel"):
        import_stack(path)
    with quiet_import(path, channel=2) as series:
        np.testing.assert_array_equal(frames_of(series), data[..., 2])


def test_not_a_tiff_is_a_file_format_error(tmp_path):
    path = tmp_path / "fake.tif"
    path.write_bytes(b"this is not a TIFF file at all")
    with pytest.raises(FileFormatError, match="fake.tif: not a readable TIFF"):
        import_stack(path)


@pytest.mark.parametrize("cut", [100, 30000])  # inside the last frame / across the IFDs
def test_truncated_tiff_is_refused_in_one_line(tmp_path, capsys, cut):
    full = tmp_path / "full.tif"
    tifffile.imwrite(full, np.ones((10, 64, 64), np.uint16), imagej=True,
                     metadata={"axes": "TYX"})
    data = full.read_bytes()
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(data[:-cut])
    with pytest.raises(FileFormatError, match=r"^truncated.tif: (damaged|frame 9 cannot)"):
        quiet_import(truncated, h5file=tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()
    assert capsys.readouterr().err == ""  # tifffile's own log lines are collected, not printed


def test_complex_pixels_are_refused(tmp_path):
    path = tmp_path / "complex.npy"
    np.save(path, np.zeros((2, 3, 3), np.complex64))
    with pytest.raises(FileFormatError, match="complex64 is not a real number type"):
        import_stack(path)


# ------------------------------------------------------------------ exact integers
def test_large_integers_are_kept_exactly_as_float64(tmp_path):
    data = np.array([[[0, 1], [2**24 + 1, 2**31 - 1]]], dtype=np.uint32)
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, data)
    with quiet_import(path) as series:
        assert series[0].dtype == np.float64
        np.testing.assert_array_equal(series[0].raw_fl, data[0])


def test_small_32_bit_integers_are_stored_as_float32(tmp_path):
    data = np.array([[[0, 7], [2**24, 65535]]], dtype=np.int32)
    path = tmp_path / "small.npy"
    np.save(path, data)
    with quiet_import(path) as series:
        assert series[0].dtype == np.float32
        np.testing.assert_array_equal(series[0].raw_fl, data[0])


def test_uint16_extremes_survive(tmp_path):
    data = np.array([[[0, 1], [65534, 65535]]], dtype=np.uint16)
    path = tmp_path / "u16.tif"
    tifffile.imwrite(path, data)
    with quiet_import(path) as series:
        np.testing.assert_array_equal(series[0].raw_fl, data[0])


# ------------------------------------------------------------------ NumPy
def test_npy_stack_and_single_image(tmp_path):
    stack = RNG.random((4, 5, 6))
    np.save(tmp_path / "stack.npy", stack)
    np.save(tmp_path / "image.npy", stack[0])
    with import_stack(tmp_path / "stack.npy", interval=2.0, pixel_size=3e-7) as series:
        np.testing.assert_allclose(frames_of(series), stack, rtol=1e-7)
        np.testing.assert_allclose(series.times(), [0, 2, 4, 6])
    with quiet_import(tmp_path / "image.npy") as series:
        assert len(series) == 1


def test_npy_with_wrong_dimensions_or_pickles(tmp_path):
    np.save(tmp_path / "four.npy", np.zeros((2, 2, 3, 3)))
    with pytest.raises(FileFormatError, match=r"shape \(Y, X\) or \(T, Y, X\)"):
        import_stack(tmp_path / "four.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match="not a readable NumPy"):
        import_stack(tmp_path / "objects.npy")


def test_loader_opens_stacks_through_import(tmp_path):
    np.save(tmp_path / "stack.npy", np.ones((3, 4, 4), np.uint8))
    with open_series(tmp_path / "stack.npy", interval=1.0) as series:
        assert len(series) == 3
        np.testing.assert_allclose(series.times(), [0, 1, 2])


# ------------------------------------------------------------------ import into a file
def test_import_into_a_file_is_atomic_and_refuses_to_overwrite(tmp_path):
    np.save(tmp_path / "stack.npy", np.arange(48, dtype=np.uint16).reshape(3, 4, 4))
    target = tmp_path / "out.h5"
    with quiet_import(tmp_path / "stack.npy", h5file=target, interval=1.0) as series:
        assert series.filename == str(target)
        assert len(series) == 3
    with pytest.raises(FileExistsError):
        quiet_import(tmp_path / "stack.npy", h5file=target)
    quiet_import(tmp_path / "stack.npy", h5file=target, overwrite=True).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "stack.npy"]


def test_cancelled_import_leaves_no_file_and_reports_progress(tmp_path):
    np.save(tmp_path / "stack.npy", np.zeros((6, 4, 4), np.uint8))
    calls: list[tuple[int, int]] = []

    def cancel_after_three() -> bool:
        return len(calls) >= 3

    with pytest.raises(Cancelled):
        quiet_import(tmp_path / "stack.npy", h5file=tmp_path / "out.h5",
                     progress=lambda done, total: calls.append((done, total)),
                     cancel=cancel_after_three)
    assert calls == [(1, 6), (2, 6), (3, 6)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.npy"]


def test_imported_file_opens_in_flimage(tmp_path, hyperstack):
    import flimage

    path = tmp_path / "hyper.tif"
    write_hyperstack(path, hyperstack)
    quiet_import(path, channel=1, plane=0, h5file=tmp_path / "out.h5").close()
    with flimage.FLSeries(h5file=str(tmp_path / "out.h5"), h5mode="r") as series:
        assert len(series) == 4
        np.testing.assert_array_equal(series.get_flimage(2).fl, hyperstack[2, 0, 1])
        assert series.get_flimage(3)["time"] == pytest.approx(0.75)
        assert series.get_flimage(0)["pixel size"] == pytest.approx(0.25e-6)


# ------------------------------------------------------------------ export
def make_series(times=(0.0, 1.5, 4.0, 4.5), pixel_size: float | None = 1.3e-7,
                shape=(6, 8)) -> FLSeries:
    series = FLSeries()
    for index, time in enumerate(times):
        meta = {"time": time}
        if pixel_size is not None:
            meta["pixel size"] = pixel_size
        image = 100 + 10 * index + RNG.random(shape)
        with FLImage(data=image, meta_data=meta) as fli:
            fli.set_bg_data(np.full(shape, 100.0))
            series.add_flimage(fli)
    return series


def test_export_tiff_is_an_imagej_stack_with_calibration(tmp_path):
    series = make_series()
    target = tmp_path / "out.tif"
    report = export_tiff(series, target)
    assert Path(report) == target and report.total_clipped == 0
    with tifffile.TiffFile(target) as tif:
        assert tif.is_imagej
        meta = tif.imagej_metadata
        assert tif.series[0].axes == "TYX"
        data = tif.asarray()
        assert data.dtype == np.float32
        resolution = tif.pages[0].resolution
    np.testing.assert_allclose(data, [fli.fl for fli in series], rtol=1e-6)
    assert meta["frames"] == 4
    assert meta["finterval"] == pytest.approx(1.5)  # mean step of irregular times
    assert meta["unit"] == "um"
    assert 1 / resolution[0] == pytest.approx(0.13, rel=1e-6)
    assert meta["Labels"] == ["t=0.0 s", "t=1.5 s", "t=4.0 s", "t=4.5 s"]
    assert "background-corrected" in meta["Info"]


def test_export_raw_tiff(tmp_path):
    series = make_series()
    export_tiff(series, tmp_path / "raw.tif", raw=True)
    data = tifffile.imread(tmp_path / "raw.tif")
    np.testing.assert_allclose(data, [fli.raw_fl for fli in series], rtol=1e-6)
    assert data.min() > 99


def test_export_without_times_or_pixel_size(tmp_path):
    series = FLSeries()
    for _ in range(2):
        with FLImage(data=np.ones((3, 3))) as fli:
            series.add_flimage(fli)
    export_tiff(series, tmp_path / "bare.tif")
    with tifffile.TiffFile(tmp_path / "bare.tif") as tif:
        meta = tif.imagej_metadata
    assert "finterval" not in meta and "Labels" not in meta and "unit" not in meta


def test_tiff_round_trip_keeps_values_times_and_pixel_size(tmp_path):
    data = RNG.integers(0, 4000, (5, 7, 9), dtype=np.uint16)
    source = tmp_path / "source.tif"
    tifffile.imwrite(source, data, imagej=True, resolution=(1 / 0.16, 1 / 0.16),
                     metadata={"axes": "TYX", "finterval": 0.8, "unit": "um"})
    with import_stack(source) as series:
        export_tiff(series, tmp_path / "again.tif", raw=True)
        times = series.times()
    with import_stack(tmp_path / "again.tif") as again:
        np.testing.assert_array_equal(frames_of(again), data)
        np.testing.assert_array_equal(again.times(), times)
        assert pixel_size_of(again) == pytest.approx(0.16e-6, rel=1e-9)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "again.tif"), data)


def test_irregular_times_round_trip_exactly(tmp_path):
    times = (0.0, 0.1 + 0.2, 7.123456789012345, 1e4 / 3)
    series = make_series(times=times)
    export_tiff(series, tmp_path / "irregular.tif")
    with import_stack(tmp_path / "irregular.tif") as again:
        np.testing.assert_array_equal(again.times(), times)


def test_export_npy(tmp_path):
    series = make_series()
    assert export_npy(series, tmp_path / "out.npy") == tmp_path / "out.npy"
    data = np.load(tmp_path / "out.npy")
    assert data.dtype == np.float32 and data.shape == (4, 6, 8)
    np.testing.assert_allclose(data, [fli.fl for fli in series], rtol=1e-6)
    export_npy(series, tmp_path / "raw.npy", raw=True)
    np.testing.assert_allclose(np.load(tmp_path / "raw.npy"), [f.raw_fl for f in series],
                               rtol=1e-6)


@pytest.mark.parametrize("export", [export_tiff, export_npy])
def test_export_refuses_to_overwrite_and_cancels_cleanly(tmp_path, export):
    series = make_series()
    target = tmp_path / "out.bin"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        export(series, target)
    assert target.read_bytes() == b"keep me"
    with pytest.raises(Cancelled):
        export(series, target, overwrite=True, cancel=lambda: True)
    assert target.read_bytes() == b"keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    steps: list[tuple[int, int]] = []
    export(series, target, overwrite=True, progress=lambda d, t: steps.append((d, t)))
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert target.read_bytes() != b"keep me"


def test_export_of_an_empty_series(tmp_path):
    with pytest.raises(FileFormatError, match="no frames"):
        export_tiff(FLSeries(), tmp_path / "empty.tif")
    assert not (tmp_path / "empty.tif").exists()
