"""Hyperstack files: layout, flimage's own view, TIFF hyperstacks, bleach per channel, export."""

from __future__ import annotations

import json
import warnings

import flimage
import h5py
import numpy as np
import pytest
import tifffile

from flimage_app.cli.command import main
from flimage_app.model.errors import FileFormatError
from flimage_app.model.hyperstack import is_hyperstack, open_hyperstack
from flimage_app.model.hyperstack_bleach import correct_hyperstack
from flimage_app.model.hyperstack_export import colour_lut, export_hyperstack_tiff
from flimage_app.model.hyperstack_import import import_planes
from flimage_app.model.loader import describe, open_any, open_series
from flimage_app.model.provenance import read_provenance
from flimage_app.model.tiffio import export_tiff, inspect_planes

from .hyperstack_data import bleaching_planes, plane_stack

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def data():
    return bleaching_planes(20, 2, 3)


@pytest.fixture
def imported(tmp_path, data):
    return import_planes(plane_stack(data), tmp_path / "cells.h5")


# ------------------------------------------------------------------ layout and flimage
def test_every_leaf_is_an_flseries_flimage_opens_with_its_values_and_times(imported, data):
    with h5py.File(imported, "r") as h5:
        for c in range(2):
            for z in range(3):
                leaf = flimage.FLSeries(h5file=h5[f"channel_{c}/plane_{z}"])
                assert len(leaf) == 20
                assert [float(fli["time"]) for fli in leaf] == pytest.approx(2.0 * np.arange(20))
                assert float(leaf[5]["pixel size"]) == pytest.approx(2e-7)
                np.testing.assert_array_equal(leaf.get_flimage(7).raw_fl, data[7, c, z])
    # the file itself: flimage finds no fli_ group at the root, an empty series
    with flimage.FLSeries(h5file=imported, h5mode="r") as root:
        assert len(root) == 0


def test_one_plane_leaves_are_the_channel_groups(tmp_path, data):
    path = import_planes(plane_stack(data[:, :, :1]), tmp_path / "two.h5")
    with h5py.File(path, "r") as h5:
        assert "plane_0" not in h5["channel_1"]
        leaf = flimage.FLSeries(h5file=h5["channel_1"])
        np.testing.assert_array_equal(leaf.get_flimage(3).raw_fl, data[3, 1, 0])
    with open_hyperstack(path) as hs:
        assert (hs.n_channels, hs.n_planes, hs.n_frames) == (2, 1, 20)


def test_one_channel_one_plane_stays_a_plain_series(tmp_path, data):
    path = import_planes(plane_stack(data[:, :1, :1]), tmp_path / "one.h5")
    assert not is_hyperstack(path)
    with flimage.FLSeries(h5file=path, h5mode="r") as series:
        np.testing.assert_array_equal(series.get_flimage(2).raw_fl, data[2, 0, 0])


def test_open_hyperstack_describes_the_file(imported):
    with open_hyperstack(imported) as hs:
        assert hs.channel_names == ["Ch0", "Ch1"]
        assert hs.channel_colours == ["#00ff00", "#ff00ff"]
        assert (hs.n_planes, hs.z_step, hs.source_dtype) == (3, 5e-7, "uint16")
        assert hs.times() == pytest.approx(2.0 * np.arange(20))
        assert [(c, z) for c, z, _ in hs.leaves()] == [(c, z) for c in range(2) for z in range(3)]
        assert read_provenance(hs.series(1, 2))["parameters"]["channel"] == 1
    assert read_provenance(imported)["method"] == "CZI"


def test_loader_opens_one_leaf_or_all(imported, data):
    with open_series(imported, channel=1, plane=2) as leaf:
        np.testing.assert_array_equal(leaf.get_flimage(4).raw_fl, data[4, 1, 2])
    with open_series(imported) as leaf:
        np.testing.assert_array_equal(leaf.get_flimage(0).raw_fl, data[0, 0, 0])
    with open_any(imported) as hs:
        assert hs.n_channels == 2
    summary = describe(imported)
    assert summary["kind"] == "hyperstack" and summary["planes"] == 3
    assert [entry["name"] for entry in summary["channels"]] == ["Ch0", "Ch1"]
    with pytest.raises(FileFormatError, match="channel=2 is out of range"):
        open_series(imported, channel=2)


# ------------------------------------------------------------------ refusals
def _rewrite(path, change):
    with h5py.File(path, "r+") as h5:
        change(h5)


def _layout(h5):
    return json.loads(h5["flimage_app"].attrs["hyperstack"])


def _set_layout(h5, layout):
    h5["flimage_app"].attrs["hyperstack"] = json.dumps(layout)


@pytest.mark.parametrize("change, message", [
    (lambda h5: _set_layout(h5, {**_layout(h5), "channels": _layout(h5)["channels"] + [
        {"name": "Ghost", "colour": None, "group": "channel_2"}]}), "group channel_2 is missing"),
    (lambda h5: _set_layout(h5, {**_layout(h5), "channels": _layout(h5)["channels"][:1]}),
     "channel_1 is not one of the 1 channels"),
    (lambda h5: _set_layout(h5, {**_layout(h5), "planes": 4}), "plane_3 is missing"),
    (lambda h5: _set_layout(h5, {**_layout(h5), "planes": 1}), "holds Z planes"),
    (lambda h5: h5["channel_0"].move("plane_1", "plane_9"), "plane_9 is not one of the 3"),
    (lambda h5: h5["channel_1/plane_2"].__delitem__("fli_19"), "has 19 frames"),
    (lambda h5: h5["channel_1/plane_2"].__delitem__("fli_4"), "lacks frame fli_4"),
    (lambda h5: h5["flimage_app"].attrs.__setitem__("hyperstack", "{not json"), "not valid JSON"),
    (lambda h5: _set_layout(h5, {**_layout(h5), "version": 7}), "version 7"),
    (lambda h5: _set_layout(h5, {**_layout(h5), "channels": [
        {"name": "a", "colour": "red", "group": "channel_0"},
        {"name": "b", "colour": None, "group": "channel_1"}]}), "not #rrggbb"),
])
def test_a_description_that_lies_about_the_groups_is_refused_in_one_line(imported, change,
                                                                          message):
    _rewrite(imported, change)
    with pytest.raises(FileFormatError, match=message) as info:
        open_hyperstack(imported)
    assert "\n" not in str(info.value) and "cells.h5" in str(info.value)


def test_leaves_of_different_frame_shapes_are_refused(imported):
    def reshape(h5):
        raw = h5["channel_0/plane_1/fli_0/fluorescence"]
        del raw["raw"]
        raw.create_dataset("raw", data=np.zeros((10, 10), np.float32))
    _rewrite(imported, reshape)
    with pytest.raises(FileFormatError, match=r"frames of \(10, 10\)"):
        open_hyperstack(imported)


def test_an_external_link_as_a_leaf_is_refused(imported, tmp_path):
    other = tmp_path / "other.h5"
    h5py.File(other, "w").close()
    _rewrite(imported, lambda h5: (h5.__delitem__("channel_1"),
                                   h5.__setitem__("channel_1", h5py.ExternalLink(other, "/"))))
    with pytest.raises(FileFormatError, match="external link"):
        open_hyperstack(imported)


# ------------------------------------------------------------------ TIFF hyperstacks
def test_imagej_hyperstack_written_by_tifffile_imports_whole(tmp_path, data):
    path = tmp_path / "ij.tif"
    luts = [colour_lut("#00ff00"), colour_lut("#ff0000")]
    labels = [f"{name}, t={t * 1.5!r} s" for t in range(20) for _ in range(3)
              for name in ("GFP", "mCherry")]
    tifffile.imwrite(path, data.transpose(0, 2, 1, 3, 4), imagej=True, resolution=(4.0, 4.0),
                     metadata={"axes": "TZCYX", "unit": "um", "spacing": 0.8, "mode": "composite",
                               "LUTs": luts, "Labels": labels})
    with inspect_planes(path) as stack:
        assert stack.sizes == {"T": 20, "C": 2, "Z": 3, "Y": 24, "X": 32}
        assert stack.channel_names == ["GFP", "mCherry"]
        assert stack.channel_colours == ["#00ff00", "#ff0000"]
        assert stack.pixel_size == pytest.approx(2.5e-7) and stack.z_step == pytest.approx(8e-7)
        assert stack.times == pytest.approx(1.5 * np.arange(20))
        np.testing.assert_array_equal(stack.read(13, 1, 2), data[13, 1, 2])
    with open_any(path) as hs:
        np.testing.assert_array_equal(hs.series(1, 1).get_flimage(9).raw_fl, data[9, 1, 1])
    with open_series(path, channel=1, plane=2) as one:  # --channel / --plane: one leaf
        np.testing.assert_array_equal(one.get_flimage(5).raw_fl, data[5, 1, 2])
        assert one.times() == pytest.approx(1.5 * np.arange(20))


def test_ome_tiff_hyperstack_written_by_tifffile_imports_whole(tmp_path, data):
    path = tmp_path / "cells.ome.tif"
    delta = [0.5 + 3.1 * t for t in range(20) for _ in range(2) for _ in range(3)]
    tifffile.imwrite(path, data, metadata={
        "axes": "TCZYX", "PhysicalSizeX": 0.13, "PhysicalSizeY": 0.13, "PhysicalSizeZ": 0.6,
        "Channel": {"Name": ["DAPI", "GFP"]}, "Plane": {"DeltaT": delta}})
    with inspect_planes(path) as stack:
        assert stack.kind == "OME-TIFF" and stack.channel_names == ["DAPI", "GFP"]
        assert stack.pixel_size == pytest.approx(1.3e-7) and stack.z_step == pytest.approx(6e-7)
        assert stack.times == pytest.approx(0.5 + 3.1 * np.arange(20))
        assert stack.time_source == "plane time stamps"
        np.testing.assert_array_equal(stack.read(19, 0, 1), data[19, 0, 1])
    out = import_planes(inspect_planes(path), tmp_path / "ome.h5")
    with open_hyperstack(out) as hs:
        np.testing.assert_array_equal(hs.series(0, 2).get_flimage(3).raw_fl, data[3, 0, 2])
        assert hs.series(1, 0).times() == pytest.approx(0.5 + 3.1 * np.arange(20))


def test_multi_channel_ome_tiff_without_z(tmp_path, data):
    path = tmp_path / "two.ome.tif"
    tifffile.imwrite(path, data[:, :, 0], metadata={"axes": "TCYX", "TimeIncrement": 2.5,
                                                   "PhysicalSizeX": 0.2,
                                                   "Channel": {"Name": ["A", "B"]}})
    with open_any(path) as hs:
        assert (hs.n_channels, hs.n_planes) == (2, 1)
        assert hs.times() == pytest.approx(2.5 * np.arange(20))
        np.testing.assert_array_equal(hs.series(1).get_flimage(8).raw_fl, data[8, 1, 0])


# ------------------------------------------------------------------ bleach correction
def _fiji_intensity(data, c):
    """Fiji's 3-D rule: per time point, the mean of the planes' mean intensities."""
    return data[:, c].astype(float).mean(axis=(2, 3)).mean(axis=1)


def test_time_point_mode_is_fijis_rule(imported, data, tmp_path):
    out = tmp_path / "corrected.h5"
    with open_hyperstack(imported) as hs:
        results = correct_hyperstack(hs, out, "ratio", "time point", background="constant",
                                     background_value=0.0)
    assert sorted(results) == [0, 1]
    with open_hyperstack(out) as corrected:
        for c in range(2):
            direct = _fiji_intensity(data, c)
            factors = direct[0] / direct
            np.testing.assert_allclose(results[c].intensity, direct, rtol=1e-12)
            np.testing.assert_allclose(results[c].correction, factors, rtol=1e-12)
            for z in range(3):
                leaf = corrected.series(c, z)
                assert leaf.times() == pytest.approx(2.0 * np.arange(20))
                expected = (data[11, c, z] * factors[11]).astype(np.float32)
                np.testing.assert_allclose(leaf.get_flimage(11).raw_fl, expected, rtol=1e-6)
                assert read_provenance(leaf)["parameters"]["z_mode"] == "time point"
        assert corrected.channel_names == ["Ch0", "Ch1"]


def test_each_channel_has_its_own_fit(imported):
    with open_hyperstack(imported) as hs:
        results = correct_hyperstack(hs, None, "exp", "time point", border_px=4)
    half_lives = [results[c].report.half_lives[0][0] for c in range(2)]
    # the channels fade with time constants 30 s and 60 s (half-lives 20.8 s, 41.6 s)
    assert half_lives == pytest.approx([30 * np.log(2), 60 * np.log(2)], rel=0.05)


def test_plane_mode_fits_every_plane(imported, data, tmp_path):
    with open_hyperstack(imported) as hs:
        results = correct_hyperstack(hs, tmp_path / "p.h5", "ratio", "plane",
                                     background="constant", background_value=0.0)
    assert sorted(results) == [(c, z) for c in range(2) for z in range(3)]
    for (c, z), result in results.items():
        direct = data[:, c, z].astype(float).mean(axis=(1, 2))
        np.testing.assert_allclose(result.correction, direct[0] / direct, rtol=1e-12)


# ------------------------------------------------------------------ export
def test_export_is_a_composite_hyperstack_fiji_reads(imported, tmp_path, data):
    target = tmp_path / "out.tif"
    with open_hyperstack(imported) as hs:
        report = export_hyperstack_tiff(hs, target, dtype="input")
    assert report.dtype == "uint16" and report.total_clipped == 0 and report.message() is None
    with tifffile.TiffFile(target) as tif:
        meta = tif.imagej_metadata
        assert tif.series[0].axes == "TZCYX" and tif.series[0].shape == (20, 3, 2, 24, 32)
        assert (meta["channels"], meta["slices"], meta["frames"]) == (2, 3, 20)
        assert meta["mode"] == "composite" and meta["hyperstack"]
        assert meta["finterval"] == pytest.approx(2.0) and meta["unit"] == "um"
        assert meta["spacing"] == pytest.approx(0.5)
        assert tif.pages[0].resolution[0] == pytest.approx(5.0)  # px per µm = 0.2 µm pixels
        assert meta["Labels"][:3] == ["Ch0, t=0.0 s", "Ch1, t=0.0 s", "Ch0, t=0.0 s"]
        np.testing.assert_array_equal(meta["LUTs"][1][:, 255], [255, 0, 255])
        np.testing.assert_array_equal(tif.series[0].asarray()[6, 2, 1], data[6, 1, 2])
    with inspect_planes(target) as back:
        assert back.channel_names == ["Ch0", "Ch1"]
        assert back.channel_colours == ["#00ff00", "#ff00ff"]


def test_integer_export_rounds_and_counts_the_clipping(tmp_path):
    values = np.array([[-3.2, -0.6, 0.49, 0.5], [254.5, 255.4, 255.6, np.nan]])
    data = np.empty((2, 2, 1, 2, 4))  # T, C, Z, Y, X; channel B twice as bright
    data[:, 0, 0], data[:, 1, 0] = values, 2 * values
    path = import_planes(plane_stack(data, names=["A", "B"]), tmp_path / "v.h5")
    with open_hyperstack(path) as hs:
        report = export_hyperstack_tiff(hs, tmp_path / "v.tif", dtype="uint8")
    written = tifffile.imread(tmp_path / "v.tif")  # T, C, Y, X
    np.testing.assert_array_equal(written[1, 0], [[0, 0, 0, 1], [255, 255, 255, 0]])
    np.testing.assert_array_equal(written[0, 1], [[0, 0, 1, 1], [255, 255, 255, 0]])
    # per frame: A 2 below, 1 above (255.6 rounds to 256); B 2 below, 3 above; one NaN each
    assert report.clipped == [(4, 2), (4, 6)] and report.nan == [2, 2]
    assert report.total_clipped == 20
    assert report.message().startswith("20 pixels were clipped to the range of uint8 (A: 4 "
                                       "below 0, 2 above 255, 2 NaN written as 0; B:")


def test_single_series_integer_export_reports_clipping(tmp_path):
    from flimage_app.model import FLImage, FLSeries

    series = FLSeries()
    series.add_flimage(FLImage(np.array([[-1.0, 70000.0], [3.4, 3.6]]),
                               meta_data={"time": 0.0}))
    report = export_tiff(series, tmp_path / "s.tif", dtype="uint16")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "s.tif"), [[0, 65535], [3, 4]])
    assert report.clipped == [(1, 1)] and report.total_clipped == 2


# ------------------------------------------------------------------ the command line
def _cli(*args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main([str(a) for a in args])


@pytest.mark.parametrize("z_mode", ["time-point", "plane"])
def test_cli_import_bleach_export_end_to_end(tmp_path, data, z_mode, capsys):
    source = tmp_path / "hs.tif"
    tifffile.imwrite(source, data.transpose(0, 2, 1, 3, 4), imagej=True, resolution=(5.0, 5.0),
                     metadata={"axes": "TZCYX", "finterval": 2.0, "unit": "um", "spacing": 0.5})
    assert _cli("import", source, "-o", tmp_path / "hs.h5", "--quiet") == 0
    assert _cli("bleach", tmp_path / "hs.h5", "-o", tmp_path / "c.h5", "--method", "ratio",
                "--background", "constant", "--background-value", "100", "--z-mode", z_mode,
                "--quiet") == 0
    assert _cli("export", tmp_path / "c.h5", "-o", tmp_path / "c.tif", "--dtype", "input",
                "--quiet") == 0
    exported = tifffile.imread(tmp_path / "c.tif")  # T, Z, C, Y, X
    assert exported.shape == (20, 3, 2, 24, 32) and exported.dtype == np.uint16
    for c in range(2):
        for z in range(3):
            signal = data[:, c, z].astype(float) - 100
            means = (signal.mean(axis=(1, 2)) if z_mode == "plane"
                     else (data[:, c].astype(float) - 100).mean(axis=(2, 3)).mean(axis=1))
            factors = means[0] / means
            expected = np.floor(np.clip(signal * factors[:, None, None], 0, 65535) + 0.5)
            np.testing.assert_allclose(exported[:, z, c], expected, atol=1)
    headings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("==")]
    assert len(headings) == (2 if z_mode == "time-point" else 6)
    with tifffile.TiffFile(tmp_path / "c.tif") as tif:
        assert tif.imagej_metadata["mode"] == "composite"


def test_cli_info_lists_channels_and_planes(tmp_path, imported, capsys):
    assert _cli("info", imported) == 0
    text = capsys.readouterr().out
    assert "channels:          Ch0 (#00ff00), Ch1 (#ff00ff)" in text
    assert "planes:            3" in text


def test_cli_refuses_scene_for_a_file_without_scenes(imported, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli("export", imported, "-o", tmp_path / "x.tif", "--scene", "1")
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "--scene chooses a scene" in error and "cells.h5" in error


def test_cancel_leaves_no_output(tmp_path, data, imported):
    from flimage_app.model.errors import Cancelled

    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 5

    with pytest.raises(Cancelled):
        import_planes(plane_stack(data), tmp_path / "stopped.h5", cancel=cancel)
    calls.clear()
    with open_hyperstack(imported) as hs:
        with pytest.raises(Cancelled):
            correct_hyperstack(hs, tmp_path / "stopped_c.h5", "ratio", background="constant",
                               background_value=0.0, cancel=cancel)
        calls.clear()
        with pytest.raises(Cancelled):
            export_hyperstack_tiff(hs, tmp_path / "stopped.tif", cancel=cancel)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.h5"]


def test_progress_names_every_pass(imported, tmp_path):
    class Progress:
        def __init__(self):
            self.passes, self.counts = [], []

        def start_pass(self, name):
            self.passes.append(name)

        def __call__(self, done, total):
            self.counts.append((done, total))

    progress = Progress()
    with open_hyperstack(imported) as hs:
        correct_hyperstack(hs, tmp_path / "c.h5", "exp", border_px=4, progress=progress)
        assert progress.passes == ["Ch0: measuring", "Ch0: writing", "Ch1: measuring",
                                   "Ch1: writing"]
        assert progress.counts[-1] == (20, 20)
        progress = Progress()
        export_hyperstack_tiff(hs, tmp_path / "c.tif", progress=progress)
        assert progress.passes == ["exporting"] and progress.counts[-1] == (120, 120)


def test_cli_export_reports_clipping_and_refuses_an_unknown_input_type(tmp_path, capsys):
    from flimage_app.model import FLImage, FLSeries

    with FLSeries(h5file=tmp_path / "f.h5", h5mode="w") as series:
        series.add_flimage(FLImage(np.array([[-5.0, 300.0], [1.0, 2.0]]),
                                   meta_data={"time": 0.0}))
    assert _cli("export", tmp_path / "f.h5", "-o", tmp_path / "f.tif", "--dtype", "uint8") == 0
    assert "2 pixels were clipped to the range of uint8 (1 below 0, 1 above 255)" in \
        capsys.readouterr().err
    assert _cli("export", tmp_path / "f.h5", "-o", tmp_path / "g.tif", "--dtype", "input") == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "pixel type is not recorded" in error
    assert not (tmp_path / "g.tif").exists()


def test_cli_bleach_of_a_hyperstack_refuses_csv_in_one_line(imported, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli("bleach", imported, "-o", tmp_path / "c.h5", "--csv", tmp_path / "c.csv")
    assert exit_info.value.code == 2
    assert "--csv writes the curve of one series" in capsys.readouterr().err
    assert not (tmp_path / "c.h5").exists()


def test_time_point_histogram_matching_maps_all_planes_of_a_time_point_alike(imported, data,
                                                                             tmp_path):
    out = tmp_path / "h.h5"
    with open_hyperstack(imported) as hs:
        correct_hyperstack(hs, out, "histogram", "time point", background="constant",
                           background_value=0.0)
    with open_hyperstack(out) as corrected:
        for t in (5, 19):
            source = data[t, 1].astype(float)  # Z, Y, X
            matched = np.stack([corrected.series(1, z).get_flimage(t).raw_fl
                                for z in range(3)])
            # one mapping for the whole time point: equal values stay equal across planes
            for value in np.unique(source)[::50]:
                assert np.unique(matched[source == value]).size == 1
            # Fiji's 3-D rule: the time point's histogram (all planes) matches the first's
            reference = data[0, 1].astype(float)
            quantiles = [0.1, 0.5, 0.9, 0.99]
            np.testing.assert_allclose(np.quantile(matched, quantiles),
                                       np.quantile(reference, quantiles), rtol=0.02)


def test_input_type_choice():
    from flimage_app.model.export_report import resolve_dtype

    assert resolve_dtype("input", "uint16", "x") == "uint16"
    assert resolve_dtype("input", "uint8", "x") == "uint8"
    assert resolve_dtype("input", "float64", "x") == "float32"
    assert resolve_dtype("uint8", None, "x") == "uint8"
    with pytest.raises(ValueError, match="int32, which ImageJ has no integer image"):
        resolve_dtype("input", "int32", "x")
    with pytest.raises(ValueError, match="Unknown TIFF pixel type"):
        resolve_dtype("int8", "uint16", "x")


def test_channels_without_a_colour_export_in_the_colours_the_app_shows(tmp_path, data):
    from flimage_app.gui.channels import ChannelView  # the composite's colours

    stack = plane_stack(data[:4, :, :1], names=["EGFP", "Channel 2"], colours=[None, None])
    path = import_planes(stack, tmp_path / "plain.h5")
    with open_hyperstack(path) as hs:
        assert hs.channel_colours == [None, None]  # the file names none: none is stored
        export_hyperstack_tiff(hs, tmp_path / "plain.tif")
        shown = ChannelView(hs.channel_names, hs.channel_colours).colours
    assert shown == ["#00ff00", "#0000ff"]  # GFP by its name; green is taken: the next default
    with tifffile.TiffFile(tmp_path / "plain.tif") as tif:
        luts = tif.imagej_metadata["LUTs"]
    for lut, colour in zip(luts, shown, strict=True):
        np.testing.assert_array_equal(lut[:, 255], [int(colour[i:i + 2], 16) for i in (1, 3, 5)])
