"""Microscope files through the loader and the CLI: imported whole, one leaf, scenes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile

from flimage_app.cli.command import main
from flimage_app.model.errors import FileFormatError
from flimage_app.model.hyperstack import open_hyperstack
from flimage_app.model.loader import describe, holds_planes, open_any, open_series

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _cli(*args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main([str(a) for a in args])


@pytest.fixture
def zarr_file(tmp_path):
    ome_zarr = pytest.importorskip("tests.test_vendor_ome_zarr")
    data = ome_zarr.acquisition((4, 2, 3, 24, 32))
    folder = ome_zarr.write(tmp_path / "cells.ome.zarr", data, ome_zarr.ome_format.FormatV04(),
                            omero=ome_zarr.CHANNELS)
    return folder, data


@pytest.fixture
def czi_file(tmp_path):
    czi = pytest.importorskip("tests.test_vendor_czi")
    path = tmp_path / "positions.czi"
    written = czi.write_czi(path, scenes=2)
    return path, written


def test_ome_zarr_opens_whole_or_one_leaf(zarr_file):
    folder, data = zarr_file
    assert holds_planes(folder)
    with open_any(folder) as hs:
        assert hs.channel_names == ["EGFP", "mCherry"]
        assert hs.channel_colours == ["#00ff00", "#ff00ff"]
        assert (hs.n_frames, hs.n_planes, hs.z_step) == (4, 3, pytest.approx(0.5e-6))
        assert hs.times() == pytest.approx([0, 1.5, 3.0, 4.5])
        for c, z, leaf in hs.leaves():
            np.testing.assert_array_equal(leaf.get_flimage(3).raw_fl, data[3, c, z])
    with open_series(folder, channel=1, plane=2) as leaf:
        np.testing.assert_array_equal(leaf.get_flimage(2).raw_fl, data[2, 1, 2])
        assert leaf.get_flimage(0).meta["pixel size"] == pytest.approx(0.13e-6)
    summary = describe(folder)
    assert summary["kind"] == "OME-Zarr" and summary["planes"] == 3
    assert summary["time_source"] == "frame interval"


def test_czi_scenes_are_chosen(czi_file, tmp_path, capsys):
    path, written = czi_file
    with open_any(path, scene=1) as hs:
        assert hs.frame_shape == (12, 10)
        np.testing.assert_array_equal(hs.series(1, 1).get_flimage(2).raw_fl, written[1][2, 1, 1])
    with pytest.raises(FileFormatError, match="no scene 5"):
        open_any(path, scene=5)
    assert _cli("info", path) == 0
    text = capsys.readouterr().out
    assert "scenes:            0: scene 0, 1: scene 1" in text
    assert "EGFP" in text and "mCherry" in text
    assert _cli("import", path, "-o", tmp_path / "s1.h5", "--scene", "1", "--quiet") == 0
    with open_hyperstack(tmp_path / "s1.h5") as hs:
        np.testing.assert_array_equal(hs.series(0, 1).get_flimage(1).raw_fl, written[1][1, 0, 1])
        assert hs.source_dtype == "uint16"


def test_cli_corrects_and_exports_a_microscope_file_directly(zarr_file, tmp_path, capsys):
    folder, data = zarr_file
    assert _cli("bleach", folder, "-o", tmp_path / "c.h5", "--tif", tmp_path / "c.tif",
                "--dtype", "input", "--method", "ratio", "--background", "constant",
                "--background-value", "0",
                "--quiet") == 0
    exported = tifffile.imread(tmp_path / "c.tif")
    assert exported.shape == (4, 3, 2, 24, 32) and exported.dtype == np.uint16
    means = data.astype(float).mean(axis=(3, 4)).mean(axis=2)  # T, C: Fiji's rule
    factors = means[0] / means
    expected = np.floor(np.clip(data[:, 1, 2] * factors[:, 1, None, None], 0, 65535) + 0.5)
    np.testing.assert_allclose(exported[:, 2, 1], expected, atol=1)
    assert _cli("export", folder, "-o", tmp_path / "one.tif", "--channel", "0", "--plane", "1",
                "--dtype", "input", "--quiet") == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "one.tif"), data[:, 0, 1])
    assert _cli("bleach", folder, "--channel", "1", "--plane", "0", "--tif",
                tmp_path / "leaf.tif", "--dtype", "input", "--method", "ratio",
                "--background", "constant", "--background-value", "0", "--quiet") == 0
    assert tifffile.imread(tmp_path / "leaf.tif").dtype == np.uint16


def test_one_channel_and_plane_of_a_microscope_file_import_as_one_series(czi_file, tmp_path,
                                                                         capsys):
    path, written = czi_file
    assert _cli("import", path, "-o", tmp_path / "leaf.h5", "--channel", "1", "--plane", "0",
                "--quiet") == 0
    with open_series(tmp_path / "leaf.h5") as series:  # a plain FLSeries: one leaf only
        assert len(series) == 3
        for t in range(3):
            np.testing.assert_array_equal(series.get_flimage(t).raw_fl, written[0][t, 1, 0])
    assert _cli("import", path, "-o", tmp_path / "bad.h5", "--channel", "2") == 1
    assert "channel=2 is out of range" in capsys.readouterr().err
    assert not (tmp_path / "bad.h5").exists()


def test_plane_stack_select_keeps_the_checked_reads(zarr_file):
    from flimage_app.model.vendor import open_vendor

    folder, data = zarr_file
    with open_vendor(folder) as stack:
        leaf = stack.select(channel=1)
        assert leaf.sizes == {"T": 4, "C": 1, "Z": 3, "Y": 24, "X": 32}
        assert leaf.channel_names == ["mCherry"] and leaf.z_step == stack.z_step
        np.testing.assert_array_equal(leaf.read(2, 0, 1), data[2, 1, 1])
        with pytest.raises(IndexError):
            leaf.read(0, 1, 0)
        with pytest.raises(FileFormatError, match="plane=3 is out of range"):
            stack.select(plane=3)
