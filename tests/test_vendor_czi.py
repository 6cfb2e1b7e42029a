"""Zeiss CZI through model.vendor: files written in the tests by ZEISS' pylibCZIrw."""

import struct
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from flimage_app.model import vendor
from flimage_app.model.errors import FileFormatError

czi = pytest.importorskip("pylibCZIrw.czi")

SHAPE = {"T": 3, "C": 2, "Z": 2}


def colour(red, green, blue):
    return czi.ChannelDisplaySettingsDataClass(
        True, czi.TintingMode.Color, czi.Rgb8Color(np.uint8(red), np.uint8(green),
                                                   np.uint8(blue)), 0.0, 1.0)


def planes(scene, shape=(16, 20), dtype=np.uint16):
    rng = np.random.default_rng(scene)
    return {(t, c, z): rng.integers(0, 4000, size=shape).astype(dtype)
            for t in range(SHAPE["T"]) for c in range(SHAPE["C"]) for z in range(SHAPE["Z"])}


def write_czi(path, scenes=1, dtype=np.uint16, shapes=((16, 20), (12, 10))):
    """A T=3, C=2, Z=2 file of `scenes` scenes; the CZI format stores scaling in metres.

    (pylibCZIrw's write_metadata puts scale_x/y/z verbatim into
    Scaling/Items/Distance/Value, which the CZI format defines in metres.)
    """
    written = [planes(scene, shapes[scene], dtype) for scene in range(scenes)]
    with czi.create_czi(str(path)) as writer:
        for scene, data in enumerate(written):
            for (t, c, z), plane in data.items():
                writer.write(plane, plane={"T": t, "C": c, "Z": z}, scene=scene,
                             location=(1000 * scene, 0))
        writer.write_metadata(document_name="cells", channel_names={0: "EGFP", 1: "mCherry"},
                              scale_x=0.13e-6, scale_y=0.13e-6, scale_z=0.5e-6,
                              display_settings={0: colour(0, 255, 0), 1: colour(255, 0, 255)})
    return written


def edit_metadata(path, change):
    """Change the file's XML metadata with pylibCZIrw's own editor."""
    with czi.edit_czi(str(path)) as editor, editor.edit_session() as builder:
        root = ElementTree.fromstring(builder.get_xml())
        change(root)
        builder.set_xml(ElementTree.tostring(root, encoding="unicode"))


def add_time_and_scenes(root, *, increment=None, offsets=None, scene_names=()):
    dimensions = root.find("Metadata/Information/Image/Dimensions")
    positions = ElementTree.SubElement(ElementTree.SubElement(dimensions, "T"), "Positions")
    if increment is not None:
        interval = ElementTree.SubElement(positions, "Interval")
        ElementTree.SubElement(interval, "Start").text = "0"
        ElementTree.SubElement(interval, "Increment").text = str(increment)
    if offsets is not None:
        listed = ElementTree.SubElement(positions, "List")
        ElementTree.SubElement(listed, "Offsets").text = " ".join(map(str, offsets))
    if scene_names:
        scenes = ElementTree.SubElement(ElementTree.SubElement(dimensions, "S"), "Scenes")
        for index, name in enumerate(scene_names):
            ElementTree.SubElement(scenes, "Scene", Index=str(index), Name=name)


def test_values_calibration_and_channels_are_what_was_written(tmp_path):
    path = tmp_path / "cells.czi"
    (written,) = write_czi(path)
    assert vendor.is_vendor_path(path)
    with vendor.open_vendor(path) as stack:
        assert stack.kind == "CZI"
        assert stack.sizes == {"T": 3, "C": 2, "Z": 2, "Y": 16, "X": 20}
        assert stack.dtype == np.uint16
        assert stack.pixel_size == pytest.approx(0.13e-6)
        assert stack.z_step == pytest.approx(0.5e-6)
        assert stack.channel_names == ["EGFP", "mCherry"]
        assert stack.channel_colours == ["#00ff00", "#ff00ff"]
        assert stack.times is None and stack.time_source == "none"
        for (t, c, z), plane in written.items():
            assert np.array_equal(stack.read(t, c, z), plane)


def test_times_come_from_the_t_positions(tmp_path):
    path = tmp_path / "interval.czi"
    write_czi(path)
    edit_metadata(path, lambda root: add_time_and_scenes(root, increment=2.5))
    with vendor.open_vendor(path) as stack:
        assert stack.time_source == "frame interval"
        assert np.allclose(stack.times, [0, 2.5, 5.0])
    path = tmp_path / "offsets.czi"
    write_czi(path)
    edit_metadata(path, lambda root: add_time_and_scenes(root, increment=2.5,
                                                        offsets=[10.0, 12.25, 15.5]))
    with vendor.open_vendor(path) as stack:
        assert stack.time_source == "plane time stamps"
        assert np.allclose(stack.times, [0, 2.25, 5.5])


def segment(name, body):
    """A ZISRAW segment: 16-byte id, allocated and used size, body padded to 32 bytes."""
    padded = body + bytes(-len(body) % 32)
    return name.ljust(16, b"\x00") + struct.pack("<qq", len(padded), len(body)) + padded


def add_time_stamps(path, stamps):
    """Append a CZTIMS attachment (as ZEN records acquisition times) to a pylibCZIrw file.

    pylibCZIrw writes no attachments; the segments follow the ZISRAW layout.
    """
    data = bytearray(path.read_bytes())
    data += bytes(-len(data) % 32)
    attachment_position = len(data)
    entry = (b"A1" + bytes(10) + struct.pack("<qi", attachment_position, 0) + bytes(16) +
             b"CZTIMS\x00\x00" + b"TimeStamps".ljust(80, b"\x00"))
    payload = struct.pack("<ii", 8 + 8 * len(stamps), len(stamps)) + \
        np.asarray(stamps, "<f8").tobytes()
    data += segment(b"ZISRAWATTACH", struct.pack("<i", len(payload)) + bytes(12) + entry +
                    bytes(112) + payload)
    directory_position = len(data)
    data += segment(b"ZISRAWATTDIR", struct.pack("<i", 1) + bytes(252) + entry)
    data[104:112] = struct.pack("<q", directory_position)
    path.write_bytes(bytes(data))


def test_times_come_from_the_time_stamps_attachment_first(tmp_path):
    path = tmp_path / "stamps.czi"
    (written,) = write_czi(path)
    edit_metadata(path, lambda root: add_time_and_scenes(root, increment=2.5))
    add_time_stamps(path, [3.8e9 + 0.0, 3.8e9 + 2.75, 3.8e9 + 5.125])
    with vendor.open_vendor(path) as stack:
        assert stack.time_source == "plane time stamps"
        assert np.allclose(stack.times, [0, 2.75, 5.125])
        assert np.array_equal(stack.read(2, 1, 0), written[2, 1, 0])  # libCZI still reads it


@pytest.mark.parametrize("stamps, note", [
    ([1.0, 2.0], "holds 2 stamps for 3 time points"),
    ([5.0, 4.0, 6.0], "do not increase"),
])
def test_unusable_time_stamps_fall_back_to_the_interval(tmp_path, stamps, note):
    path = tmp_path / "stamps.czi"
    write_czi(path)
    edit_metadata(path, lambda root: add_time_and_scenes(root, increment=2.5))
    add_time_stamps(path, stamps)
    with vendor.open_vendor(path) as stack:
        assert stack.time_source == "frame interval" and np.allclose(stack.times, [0, 2.5, 5])
        assert any(note in text for text in stack.notes)


def test_a_damaged_attachment_directory_means_no_stamps_not_a_failure(tmp_path):
    path = tmp_path / "stamps.czi"
    write_czi(path)
    edit_metadata(path, lambda root: add_time_and_scenes(root, increment=2.5))
    add_time_stamps(path, [0.0, 1.0, 2.0])
    data = bytearray(path.read_bytes())
    directory = struct.unpack_from("<q", data, 104)[0]
    data[directory + 32:directory + 36] = struct.pack("<i", 2**30)  # absurd entry count
    path.write_bytes(bytes(data))
    from flimage_app.model.vendor.czi_segments import read_time_stamps

    assert read_time_stamps(path, 3) is None
    data[104:112] = struct.pack("<q", len(data) + 10**9)  # a directory beyond the end
    path.write_bytes(bytes(data))
    assert read_time_stamps(path, 3) is None


def test_scenes_are_listed_and_each_reads_its_own_planes(tmp_path):
    path = tmp_path / "positions.czi"
    written = write_czi(path, scenes=2)
    assert vendor.scene_names(path) == ["scene 0", "scene 1"]
    edit_metadata(path, lambda root: add_time_and_scenes(root, scene_names=("Well A1",
                                                                            "Well B2")))
    assert vendor.scene_names(path) == ["Well A1", "Well B2"]
    with vendor.open_vendor(path, scene=1) as stack:
        assert stack.scene == 1 and stack.scene_names == ["Well A1", "Well B2"]
        assert stack.plane_shape == (12, 10)
        for (t, c, z), plane in written[1].items():
            assert np.array_equal(stack.read(t, c, z), plane)
    with vendor.open_vendor(path, scene=0) as stack:
        assert stack.plane_shape == (16, 20)
        assert np.array_equal(stack.read(2, 1, 1), written[0][2, 1, 1])
    with pytest.raises(FileFormatError, match=r"positions.czi: there is no scene 5; the file "
                                              r"has 2 scenes \(0: Well A1, 1: Well B2\)"):
        vendor.open_vendor(path, scene=5)


def test_float_pixels_keep_their_type(tmp_path):
    path = tmp_path / "float.czi"
    (written,) = write_czi(path, dtype=np.float32)
    with vendor.open_vendor(path) as stack:
        assert stack.dtype == np.float32
        assert np.array_equal(stack.read(1, 0, 1), written[1, 0, 1])


def test_rgb_pixels_are_refused_in_one_line(tmp_path):
    path = tmp_path / "rgb.czi"
    with czi.create_czi(str(path)) as writer:
        writer.write(np.zeros((8, 8, 3), np.uint8), plane={"T": 0, "C": 0, "Z": 0})
        writer.write_metadata()
    with pytest.raises(FileFormatError, match=r"rgb.czi: pixels of type Bgr24"):
        vendor.open_vendor(path)


def test_a_pixel_size_in_the_wrong_unit_is_not_used(tmp_path):
    path = tmp_path / "micrometres.czi"
    with czi.create_czi(str(path)) as writer:
        writer.write(np.ones((8, 8), np.uint16), plane={"T": 0, "C": 0, "Z": 0})
        writer.write_metadata(scale_x=0.2, scale_y=0.2)  # µm written where metres belong
    with vendor.open_vendor(path) as stack:
        assert stack.pixel_size is None
        assert any("not a microscope's" in note for note in stack.notes)


# ------------------------------------------------------------------ refusals
def one_line(error):
    text = str(error.value)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize("content", [
    b"", b"ZISRAWFILE", b"ZISRAWFILE" + bytes(22) + b"\xff" * 600, bytes(4096),
    b"not a czi at all " * 100,
], ids=["empty", "magic-only", "bad-header", "zeros", "text"])
def test_garbage_is_one_line(tmp_path, content):
    path = tmp_path / "broken.czi"
    path.write_bytes(content)
    with pytest.raises(FileFormatError) as error:
        vendor.open_vendor(path)
    assert one_line(error).startswith(str(path) if not content else "broken.czi")
    with pytest.raises(FileFormatError):
        vendor.scene_names(path)


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1])
def test_a_truncated_file_is_one_line(tmp_path, keep):
    path = tmp_path / "cells.czi"
    write_czi(path, scenes=2)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(FileFormatError) as error:
        with vendor.open_vendor(path) as stack:
            for t, c, z in np.ndindex(3, 2, 2):
                stack.read(t, c, z)
    assert one_line(error).startswith("cells.czi")


def test_a_missing_reader_names_the_extra(tmp_path, monkeypatch):
    import importlib

    path = tmp_path / "cells.czi"
    write_czi(path)
    original = importlib.import_module

    def refuse(name, *args):
        if name.startswith("pylibCZIrw"):
            raise ImportError(f"No module named {name!r}")
        return original(name, *args)

    monkeypatch.setattr(importlib, "import_module", refuse)
    with pytest.raises(FileFormatError) as error:
        vendor.open_vendor(path)
    assert one_line(error) == ("cells.czi: reading Zeiss CZI files needs the optional reader "
                               "pylibCZIrw: pip install 'flimage-app[czi]'")


# ------------------------------------------------------------------ the directory, checked
def directory_entries(data):
    """(offset of the entry, its dimension count) of every subblock directory entry."""
    directory = struct.unpack_from("<q", data, 84)[0]
    count = struct.unpack_from("<i", data, directory + 32)[0]
    offset, entries = directory + 32 + 128, []
    for _ in range(count):
        dimensions = struct.unpack_from("<i", data, offset + 28)[0]
        entries.append((offset, dimensions))
        offset += 32 + 20 * dimensions
    return entries


def test_a_directory_entry_with_a_wrong_dimension_count_is_refused_not_a_crash(tmp_path):
    # libCZI reads past its buffer on such an entry and kills the process (found by fuzzing)
    path = tmp_path / "cells.czi"
    write_czi(path)
    data = bytearray(path.read_bytes())
    offset, _ = directory_entries(data)[6]
    data[offset + 28:offset + 32] = struct.pack("<i", 78)
    path.write_bytes(bytes(data))
    for call in (vendor.open_vendor, vendor.scene_names):
        with pytest.raises(FileFormatError, match="declares 78 dimensions") as error:
            call(path)
        one_line(error)


def test_an_uncompressed_subblock_smaller_than_its_pixels_is_refused(tmp_path):
    path = tmp_path / "cells.czi"
    write_czi(path)
    data = bytearray(path.read_bytes())
    offset, _ = directory_entries(data)[0]
    subblock = struct.unpack_from("<q", data, offset + 6)[0]
    data[subblock + 40:subblock + 48] = struct.pack("<q", 10)  # data size: 10 bytes
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="holds 10 bytes for 320 pixels"):
        vendor.open_vendor(path)


FUZZ = """
import random, sys
from pathlib import Path
from flimage_app.model import vendor
from flimage_app.model.errors import FileFormatError
source, target = Path(sys.argv[1]), Path(sys.argv[2])
original = source.read_bytes()
rng = random.Random(int(sys.argv[3]))
for attempt in range(int(sys.argv[4])):
    data = bytearray(original)
    for _ in range(rng.choice([1, 4, 16, 64])):
        data[rng.randrange(len(data))] = rng.randrange(256)
    if rng.random() < 0.2:
        data = data[:rng.randrange(len(data))]
    target.write_bytes(bytes(data))
    try:
        for scene in range(len(vendor.scene_names(target))):
            with vendor.open_vendor(target, scene) as stack:
                for t in range(stack.sizes["T"]):
                    stack.read(t, 1, 1)
    except FileFormatError as error:
        assert "\\n" not in str(error), str(error)
print("survived")
"""


def test_mutated_files_give_one_line_and_never_crash_the_process(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    source = tmp_path / "source.czi"
    write_czi(source, scenes=2)
    root = Path(__file__).resolve().parent.parent
    environment = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}"
                   f"{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-c", FUZZ, str(source), str(tmp_path / "m.czi"),
                             "4", "120"], capture_output=True, text=True, timeout=300,
                            env=environment)
    assert result.returncode == 0, result.stderr[-2000:]  # -11 is libCZI's segfault
    assert result.stdout.strip() == "survived"


def test_a_metadata_segment_declaring_more_xml_than_it_holds_is_refused(tmp_path):
    path = tmp_path / "cells.czi"
    write_czi(path)
    data = bytearray(path.read_bytes())
    metadata = struct.unpack_from("<q", data, 92)[0]
    data[metadata + 32:metadata + 36] = struct.pack("<i", 2**31 - 1)
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="cells.czi: the metadata segment is damaged"):
        vendor.open_vendor(path)
