"""Leica LIF through model.vendor, read by readlif.

There is no LIF writer on PyPI.  These tests build small LIF files from the
format's published layout (a UTF-16 XML header block, then one memory block
per image) so that readlif's own parser reads them, and check the mapping of
readlif's metadata (``LifImage.dims`` / ``dims_n`` / ``scale`` /
``bit_depth`` and the header's ``TimeStampList``) to the PlaneStack.
Real LAS X files were not tried (none is available here).
"""

import struct
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from flimage_app.model import vendor
from flimage_app.model.errors import FileFormatError

pytest.importorskip("readlif")

FILETIME_START = 133_000_000_000_000_000  # a FILETIME (100 ns ticks since 1601) in 2022


def block(payload: bytes, description: str = "") -> bytes:
    text = description.encode("utf-16-le")
    body = b"\x2a" + struct.pack("<I", len(payload)) + b"\x2a" + \
        struct.pack("<I", len(description)) + text
    return b"\x70\x00\x00\x00" + struct.pack("<I", len(body) + len(payload)) + body + payload


def image_element(parent, name, data, *, pixel_m, z_m, interval_s, luts, stamps, block_id,
                  extra_dimension=None):
    """The XML of one image; `data` is (T, Z, C, Y, X) in LIF's storage order."""
    t, z, c, y, x = data.shape
    item = data.dtype.itemsize
    element = ElementTree.SubElement(parent, "Element", Name=name)
    image = ElementTree.SubElement(ElementTree.SubElement(element, "Data"), "Image")
    description = ElementTree.SubElement(image, "ImageDescription")
    channels = ElementTree.SubElement(description, "Channels")
    plane = x * y * item
    for index in range(c):
        ElementTree.SubElement(channels, "ChannelDescription", DataType="0", ChannelTag="0",
                               Resolution=str(8 * item), BytesInc=str(index * plane),
                               LUTName=luts[index])
    dims = ElementTree.SubElement(description, "Dimensions")

    def dimension(dim_id, count, length, increment):
        ElementTree.SubElement(dims, "DimensionDescription", DimID=str(dim_id),
                               NumberOfElements=str(count), Origin="0",
                               Length=repr(length), Unit="m", BitInc="0",
                               BytesInc=str(increment))

    dimension(1, x, pixel_m * (x - 1), item)
    dimension(2, y, pixel_m * (y - 1), x * item)
    if z > 1:
        dimension(3, z, z_m * (z - 1), c * plane)
    if t > 1:
        dimension(4, t, interval_s * (t - 1) if interval_s else 0.0, c * z * plane)
    if extra_dimension:
        dimension(*extra_dimension, 0.0, c * z * t * plane)
    if stamps is not None:
        ElementTree.SubElement(image, "TimeStampList", NumberOfTimeStamps=str(len(stamps))
                               ).text = " ".join(f"{value:x}" for value in stamps)
    ElementTree.SubElement(element, "Memory", Size=str(data.nbytes), MemoryBlockID=block_id)
    ElementTree.SubElement(element, "Children")
    return element


def write_lif(path, images, payloads=None):
    """A LIF project with `images`: list of (name, data, options); `payloads` replace the pixels."""
    root = ElementTree.Element("LMSDataContainerHeader", Version="2")
    top = ElementTree.SubElement(root, "Element", Name="project")
    ElementTree.SubElement(ElementTree.SubElement(top, "Data"), "Experiment")
    ElementTree.SubElement(top, "Memory", Size="0", MemoryBlockID="MemBlock_0")
    children = ElementTree.SubElement(top, "Children")
    blocks = []
    for index, (name, data, options) in enumerate(images):
        image_element(children, name, data, block_id=f"MemBlock_{index + 1}", **options)
        payload = payloads[index] if payloads else np.ascontiguousarray(data).tobytes()
        blocks.append(block(payload, f"MemBlock_{index + 1}"))
    xml = ElementTree.tostring(root, encoding="unicode")
    header = b"\x2a" + struct.pack("<I", len(xml)) + xml.encode("utf-16-le")
    path.write_bytes(b"\x70\x00\x00\x00" + struct.pack("<I", len(header)) + header +
                     b"".join(blocks))
    return path


def series(shape=(4, 3, 2, 12, 10), dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4000 if dtype == np.uint16 else 250, size=shape).astype(dtype)


def options(data, stamps="planes", **changes):
    t, z, c = data.shape[:3]
    plane_stamps = None
    if stamps == "planes":  # one stamp per plane, 0.1 s apart, time points 1.3 s apart
        plane_stamps = [FILETIME_START + int((tp * 1.3 + i * 0.1) * 1e7)
                        for tp in range(t) for i in range(z * c)]
    result = dict(pixel_m=0.18e-6, z_m=0.4e-6, interval_s=1.25, luts=["Green", "Red"][:c],
                  stamps=plane_stamps)
    result.update(changes)
    return result


def test_sizes_values_calibration_times_and_colours(tmp_path):
    data = series()
    path = write_lif(tmp_path / "project.lif", [("Series001", data, options(data))])
    assert vendor.is_vendor_path(path)
    assert vendor.scene_names(path) == ["Series001"]
    with vendor.open_vendor(path) as stack:
        assert stack.kind == "LIF"
        assert stack.sizes == {"T": 4, "C": 2, "Z": 3, "Y": 12, "X": 10}
        assert stack.dtype == np.uint16
        assert stack.pixel_size == pytest.approx(0.18e-6)
        assert stack.z_step == pytest.approx(0.4e-6)
        assert stack.time_source == "plane time stamps"
        assert np.allclose(stack.times, [0, 1.3, 2.6, 3.9])
        assert stack.channel_colours == ["#00ff00", "#ff0000"]
        for t, z, c in np.ndindex(4, 3, 2):
            assert np.array_equal(stack.read(t, c, z), data[t, z, c])


def test_without_time_stamps_the_t_dimension_gives_the_interval(tmp_path):
    data = series((5, 1, 1, 8, 6), np.uint8)
    path = write_lif(tmp_path / "eight_bit.lif", [("Series001", data,
                                                    options(data, stamps=None))])
    with vendor.open_vendor(path) as stack:
        assert stack.dtype == np.uint8
        assert stack.time_source == "frame interval"
        assert np.allclose(stack.times, np.arange(5) * 1.25)
        assert stack.z_step is None
        assert np.array_equal(stack.read(4), data[4, 0, 0])


def test_images_are_scenes(tmp_path):
    first, second = series(seed=1), series((2, 1, 1, 6, 7), seed=2)
    path = write_lif(tmp_path / "project.lif", [("Series001", first, options(first)),
                                                ("Series002", second,
                                                 options(second, stamps=None))])
    assert vendor.scene_names(path) == ["Series001", "Series002"]
    with vendor.open_vendor(path, scene=1) as stack:
        assert stack.scene == 1 and stack.plane_shape == (6, 7)
        assert np.array_equal(stack.read(1), second[1, 0, 0])
    with pytest.raises(FileFormatError, match=r"no scene 2; the file has 2 scenes "
                                              r"\(0: Series001, 1: Series002\)"):
        vendor.open_vendor(path, scene=2)


def test_mosaics_and_unknown_dimensions_are_refused(tmp_path):
    data = series((1, 1, 1, 8, 6))
    path = write_lif(tmp_path / "tiles.lif", [("Mosaic", data, options(
        data, stamps=None, extra_dimension=(10, 4)))])
    with pytest.raises(FileFormatError, match=r"tiles.lif: image 'Mosaic' has axes the app "
                                              r"does not read: mosaic tile \(4\)"):
        vendor.open_vendor(path)


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize("content, reason", [
    (b"\x00" * 64, "no LIF header"),
    (b"\x70\x00\x00\x00" + b"\x00" * 4 + b"\x2a" + struct.pack("<I", 2**30) + b"<", "damaged"),
    (b"\x70\x00\x00\x00" + b"\x00" * 4 + b"\x2a" + struct.pack("<I", 4) + "<a>".encode(
        "utf-16-le") + b"\x00\x00", "not a readable Leica LIF"),
    (b"GIF89a" * 20, "no LIF header"),
], ids=["zeros", "huge-header", "bad-xml", "other-format"])
def test_garbage_is_one_line(tmp_path, content, reason):
    path = tmp_path / "broken.lif"
    path.write_bytes(content)
    for call in (vendor.open_vendor, vendor.scene_names):
        with pytest.raises(FileFormatError, match=reason) as error:
            call(path)
        assert str(error.value).startswith("broken.lif: ") and "\n" not in str(error.value)


def test_a_truncated_file_is_refused_not_read_as_blank_planes(tmp_path):
    data = series()
    path = write_lif(tmp_path / "cut.lif", [("Series001", data, options(data))])
    content = path.read_bytes()
    path.write_bytes(content[:len(content) - data.nbytes // 2])
    with pytest.raises(FileFormatError, match="cut.lif: image 'Series001' is truncated"):
        vendor.open_vendor(path)


def test_a_pixel_block_that_does_not_match_the_planes_is_refused(tmp_path):
    data = series((2, 1, 1, 8, 6))
    path = write_lif(tmp_path / "mismatch.lif", [("Series001", data, options(data, stamps=None))],
                     payloads=[bytes(data.nbytes * 8)])  # 8 times the declared planes
    with pytest.raises(FileFormatError, match="declares .* bytes of pixels for 2 planes"):
        vendor.open_vendor(path)


def test_a_missing_reader_names_the_extra(tmp_path, monkeypatch):
    import importlib

    data = series((1, 1, 1, 4, 4))
    path = write_lif(tmp_path / "project.lif", [("Series001", data, options(data))])
    original = importlib.import_module

    def refuse(name, *args):
        if name.startswith("readlif"):
            raise ImportError(f"No module named {name!r}")
        return original(name, *args)

    monkeypatch.setattr(importlib, "import_module", refuse)
    with pytest.raises(FileFormatError) as error:
        vendor.open_vendor(path)
    assert str(error.value) == ("project.lif: reading Leica LIF files needs the optional reader "
                                "readlif: pip install 'flimage-app[lif]'")
