"""OME-Zarr through model.vendor: files written in the tests by ome-zarr's own writer."""

import json
import shutil

import numpy as np
import pytest

from flimage_app.model import vendor
from flimage_app.model.errors import FileFormatError

ome_writer = pytest.importorskip("ome_zarr.writer")
ome_format = pytest.importorskip("ome_zarr.format")

WINDOW = {"start": 0, "end": 1000, "min": 0, "max": 65535}
CHANNELS = {"channels": [{"label": "EGFP", "color": "00FF00", "window": WINDOW},
                         {"label": "mCherry", "color": "FF00FF", "window": WINDOW}]}


def acquisition(shape=(4, 2, 3, 24, 32), seed=0):
    return np.random.default_rng(seed).integers(0, 4000, size=shape, dtype=np.uint16)


def write(folder, data, fmt, *, units=None, scale=None, axes="tczyx", **metadata):
    units = units or {"t": "second", "z": "micrometer", "y": "micrometer", "x": "micrometer"}
    scale = scale or {"t": 1.5, "z": 0.5, "y": 0.13, "x": 0.13}
    scale = {axis: value for axis, value in scale.items() if axis in axes}
    units = {axis: value for axis, value in units.items() if axis in axes}
    with pytest.warns(UserWarning) if "c" in axes else _no_warning():
        ome_writer.write_image(data, str(folder), axes=axes, fmt=fmt, scale=scale,
                               axes_units=units, scale_factors=(2,), **metadata)
    return folder


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("fmt", [ome_format.FormatV04(), ome_format.FormatV05()],
                         ids=["ngff-0.4", "ngff-0.5"])
def test_values_calibration_times_and_channels_are_what_was_written(tmp_path, fmt):
    data = acquisition()
    folder = write(tmp_path / "cells.ome.zarr", data, fmt, omero=CHANNELS)
    with vendor.open_vendor(folder) as stack:
        assert stack.kind == "OME-Zarr"
        assert stack.sizes == {"T": 4, "C": 2, "Z": 3, "Y": 24, "X": 32}
        assert stack.dtype == np.uint16
        assert stack.pixel_size == pytest.approx(0.13e-6)
        assert stack.z_step == pytest.approx(0.5e-6)
        assert stack.time_source == "frame interval"
        assert np.allclose(stack.times, [0, 1.5, 3.0, 4.5])
        assert stack.channel_names == ["EGFP", "mCherry"]
        assert stack.channel_colours == ["#00ff00", "#ff00ff"]
        assert stack.scene_names == ["image"] and stack.scene == 0
        for t, c, z in np.ndindex(4, 2, 3):
            assert np.array_equal(stack.read(t, c, z), data[t, c, z])


@pytest.mark.parametrize("fmt", [ome_format.FormatV04(), ome_format.FormatV05()],
                         ids=["ngff-0.4", "ngff-0.5"])
def test_the_folder_or_its_metadata_file_opens_it(tmp_path, fmt):
    folder = write(tmp_path / "cells.zarr", acquisition((2, 1, 1, 8, 8)), fmt)
    picks = [folder] + [folder / name for name in vendor.ZARR_METADATA_FILES
                        if (folder / name).exists()]
    assert len(picks) >= 2
    for pick in picks:
        assert vendor.is_vendor_path(pick)
        assert vendor.scene_names(pick) == ["image"]
        with vendor.open_vendor(pick) as stack:
            assert stack.path == folder and stack.sizes["T"] == 2


def test_a_folder_with_zarr_metadata_is_vendor_whatever_its_name(tmp_path):
    folder = write(tmp_path / "plain_folder", acquisition((2, 1, 1, 8, 8)),
                   ome_format.FormatV04())
    assert vendor.is_vendor_path(folder)
    assert not vendor.is_vendor_path(tmp_path)  # a folder without Zarr metadata
    assert vendor.is_vendor_path(tmp_path / "not_yet.zarr")
    for name in ("a.czi", "b.ND2", "c.lif"):
        assert vendor.is_vendor_path(tmp_path / name)
    assert not vendor.is_vendor_path(tmp_path / "d.tif")


def test_units_convert_to_metres_and_seconds(tmp_path):
    folder = write(tmp_path / "ms.zarr", acquisition((3, 1, 2, 8, 8)), ome_format.FormatV04(),
                   units={"t": "millisecond", "z": "nanometer", "y": "nanometer",
                          "x": "nanometer"},
                   scale={"t": 250.0, "z": 300.0, "y": 65.0, "x": 65.0})
    with vendor.open_vendor(folder) as stack:
        assert stack.pixel_size == pytest.approx(65e-9)
        assert stack.z_step == pytest.approx(300e-9)
        assert np.allclose(stack.times, [0, 0.25, 0.5])


def test_missing_axes_are_size_one_and_a_time_axis_without_unit_gives_no_times(tmp_path):
    data = acquisition((5, 16, 20))
    folder = write(tmp_path / "tyx.zarr", data, ome_format.FormatV04(), axes="tyx",
                   units={"y": "micrometer", "x": "micrometer"}, scale={"t": 2.0, "y": 0.5,
                                                                       "x": 0.5})
    with vendor.open_vendor(folder) as stack:
        assert stack.sizes == {"T": 5, "C": 1, "Z": 1, "Y": 16, "X": 20}
        assert stack.times is None and stack.time_source == "none"
        assert any("no time stamps" in note for note in stack.notes)
        assert np.array_equal(stack.read(4), data[4])


def test_bioformats2raw_series_are_scenes(tmp_path):
    root = tmp_path / "converted.zarr"
    first, second = acquisition((2, 1, 1, 8, 8), 1), acquisition((3, 1, 1, 10, 12), 2)
    for index, data in enumerate((first, second)):
        write(root / str(index), data, ome_format.FormatV04())
    (root / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (root / ".zattrs").write_text(json.dumps({"bioformats2raw.layout": 3}))
    (root / "OME").mkdir()
    (root / "OME" / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (root / "OME" / ".zattrs").write_text(json.dumps({"series": ["Position 1", "Position 2"]}))
    assert vendor.scene_names(root) == ["Position 1", "Position 2"]
    with vendor.open_vendor(root, scene=1) as stack:
        assert stack.scene == 1 and stack.sizes["T"] == 3 and stack.plane_shape == (10, 12)
        assert np.array_equal(stack.read(2), second[2, 0, 0])
    with pytest.raises(FileFormatError, match=r"no scene 2; the file has 2 scenes "
                                              r"\(0: Position 1, 1: Position 2\)"):
        vendor.open_vendor(root, scene=2)


# ------------------------------------------------------------------ refusals
def one_line(error):
    text = str(error.value)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.fixture()
def v2_image(tmp_path):
    return write(tmp_path / "cells.zarr", acquisition((2, 1, 1, 8, 8)), ome_format.FormatV04())


def edit_json(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def test_a_huge_declared_shape_is_refused_before_allocation(v2_image):
    edit_json(v2_image / "s0" / ".zarray",
              lambda doc: doc.update(shape=[2, 1, 1, 2**21, 2**21], chunks=[1, 1, 1, 8, 8]))
    with pytest.raises(FileFormatError, match="memory") as error:
        vendor.open_vendor(v2_image)
    assert one_line(error).startswith("cells.zarr")
    edit_json(v2_image / "s0" / ".zarray",
              lambda doc: doc.update(shape=[10**9, 1, 1, 8, 8]))
    with pytest.raises(FileFormatError, match="along T"):
        vendor.open_vendor(v2_image)


def test_a_huge_declared_chunk_is_refused_before_a_read(v2_image):
    edit_json(v2_image / "s0" / ".zarray", lambda doc: doc.update(chunks=[2, 1, 1, 2**17, 2**17]))
    with pytest.raises(FileFormatError, match="chunk") as error:
        vendor.open_vendor(v2_image)
    one_line(error)


def test_an_unknown_codec_is_one_line(v2_image):
    edit_json(v2_image / "s0" / ".zarray",
              lambda doc: doc.update(compressor={"id": "no-such-codec", "level": 3}))
    with pytest.raises(FileFormatError, match="not a readable OME-Zarr") as error:
        vendor.open_vendor(v2_image)
    assert "no-such-codec" in one_line(error)


def test_damaged_chunks_fail_at_the_read_in_one_line(v2_image):
    chunk = next(path for path in (v2_image / "s0").rglob("*")
                 if path.is_file() and not path.name.startswith("."))
    chunk.write_bytes(b"\x00garbage" * 10)
    with vendor.open_vendor(v2_image) as stack:  # opening reads no chunk
        with pytest.raises(FileFormatError, match="plane t=0, c=0, z=0 cannot be read") as error:
            stack.read(0)
        one_line(error)


@pytest.mark.parametrize("damage, reason", [
    (lambda folder: (folder / ".zattrs").unlink(), "no OME-Zarr image metadata"),
    (lambda folder: (folder / ".zattrs").write_text("{not json"), "not valid JSON"),
    (lambda folder: (folder / ".zattrs").write_text("[1, 2]"), "not a JSON object"),
    (lambda folder: edit_json(folder / ".zattrs", lambda doc: doc["multiscales"][0].update(
        datasets=[{"path": "../../elsewhere"}])), "leaves the image folder"),
    (lambda folder: edit_json(folder / ".zattrs", lambda doc: doc["multiscales"][0].update(
        datasets=[])), "no datasets"),
    (lambda folder: edit_json(folder / ".zattrs", lambda doc: doc["multiscales"][0].update(
        axes=doc["multiscales"][0]["axes"][:3])), "do not name the array"),
    (lambda folder: (folder / ".zattrs").write_text(json.dumps({"plate": {}})), "plate"),
    (lambda folder: shutil.rmtree(folder / "s0"), "no Zarr array"),
    (lambda folder: [(folder / name).unlink() for name in (".zattrs", ".zgroup")],
     "no Zarr metadata"),
], ids=["no-attributes", "bad-json", "not-object", "path-escape", "no-datasets", "axes",
        "plate", "no-array", "no-metadata"])
def test_missing_or_damaged_metadata_is_one_line(v2_image, damage, reason):
    damage(v2_image)
    with pytest.raises(FileFormatError, match=reason) as error:
        vendor.open_vendor(v2_image)
    assert one_line(error).startswith("cells.zarr")


def test_an_extra_axis_longer_than_one_is_refused(tmp_path):
    folder = write(tmp_path / "extra.zarr", acquisition((2, 3, 8, 8)), ome_format.FormatV04(),
                   axes="tczyx"[:1] + "c" + "yx")
    edit_json(folder / ".zattrs", lambda doc: doc["multiscales"][0]["axes"][1].update(
        name="lambda", type="space"))
    with pytest.raises(FileFormatError, match="axes the app does not read: lambda"):
        vendor.open_vendor(folder)


def test_garbage_and_a_plain_file_named_zarr(tmp_path):
    garbage = tmp_path / "garbage.zarr"
    garbage.mkdir()
    (garbage / "zarr.json").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(FileFormatError, match="garbage.zarr: zarr.json is not valid JSON"):
        vendor.open_vendor(garbage)
    zipped = tmp_path / "zipped.zarr"
    zipped.write_bytes(b"PK\x03\x04")
    with pytest.raises(FileFormatError, match="is a folder; this is a file"):
        vendor.open_vendor(zipped)
    with pytest.raises(FileFormatError, match="no such folder"):
        vendor.open_vendor(tmp_path / "absent.zarr")


def test_a_missing_reader_names_the_extra(v2_image, monkeypatch):
    import importlib

    original = importlib.import_module

    def refuse_zarr(name, *args):
        if name == "zarr":
            raise ImportError("No module named 'zarr'")
        return original(name, *args)

    monkeypatch.setattr(importlib, "import_module", refuse_zarr)
    with pytest.raises(FileFormatError) as error:
        vendor.open_vendor(v2_image)
    assert one_line(error) == ("cells.zarr: reading OME-Zarr files needs the optional reader "
                               "zarr: pip install 'flimage-app[zarr]'")


def test_zarr_v3_unknown_codec_and_huge_chunks_are_one_line(tmp_path):
    folder = write(tmp_path / "v3.zarr", acquisition((2, 1, 1, 8, 8)), ome_format.FormatV05())
    metadata = folder / "s0" / "zarr.json"
    edit_json(metadata, lambda doc: doc["codecs"].append({"name": "no-such-codec",
                                                          "configuration": {}}))
    with pytest.raises(FileFormatError, match="Unknown codec: 'no-such-codec'") as error:
        vendor.open_vendor(folder)
    one_line(error)
    edit_json(metadata, lambda doc: (doc.update(codecs=doc["codecs"][:-1]),
                                     doc["chunk_grid"]["configuration"].update(
                                         chunk_shape=[2, 1, 1, 2**17, 2**17])))
    with pytest.raises(FileFormatError, match="a chunk of .* values needs"):
        vendor.open_vendor(folder)
