"""Leica LIF files through ``readlif``.

What is read
------------
* the images (series) of the file's XML header are the scenes, named by
  their path in the project (``"Series001"``, ``"Folder/Series002"``);
* sizes from readlif's dimensions: X, Y, Z, T and the channels; mosaic tiles
  (M) and any other LIF dimension longer than 1 are refused, and so are
  images whose first two dimensions are not X and Y (line scans, XZ scans);
* pixel size and Z step from the dimensions' ``Length`` / (elements − 1)
  (readlif's ``scale``, px/µm, → m);
* times from the image's ``TimeStampList`` (Windows FILETIME stamps, one per
  plane in storage order; the first plane of each time point is used),
  else from the T dimension's length / (elements − 1), else none;
* channel colours from each channel's ``LUTName`` (Leica names no channels).

The header is checked before readlif reads it (its declared length within
:data:`MAX_XML_BYTES` and the file), and each image's pixel block against
the plane sizes, so a damaged header cannot make readlif read gigabytes.
"""

from __future__ import annotations

import struct
import threading
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from .. import validate
from ..errors import FileFormatError
from ..planes import PlaneStack
from ._common import (
    check_axes,
    choose_scene,
    import_reader,
    length_in_metres,
    pixel_size_note,
    reading,
    relative_times,
    times_and_source,
    z_step_note,
)

KIND = "LIF"

#: largest XML header read (LAS X writes some kB to a few MB)
MAX_XML_BYTES = 64 * 2**20

#: LIF's block marker and memory marker
MAGIC, MEMORY = b"\x70\x00\x00\x00", 0x2A

#: Leica's LUT names → colour
LUT_COLOURS = {"red": "#ff0000", "green": "#00ff00", "blue": "#0000ff", "cyan": "#00ffff",
               "magenta": "#ff00ff", "yellow": "#ffff00", "gray": "#ffffff",
               "grey": "#ffffff", "white": "#ffffff"}

#: LIF dimension ids readlif names; the others (5–9: wavelengths, …) must be 1
KNOWN_DIMENSIONS = {1: "X", 2: "Y", 3: "Z", 4: "T", 10: "mosaic tile"}

#: FILETIME ticks per second (100 ns)
FILETIME_PER_SECOND = 10_000_000


def _check_header(path: Path) -> None:
    """Refuse a file whose first block is not a LIF XML header of a sane length."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(13)
    if len(head) < 13 or head[:4] != MAGIC or head[8] != MEMORY:
        raise FileFormatError(f"{path.name}: not a Leica LIF file (no LIF header)")
    (characters,) = struct.unpack("<I", head[9:13])
    if characters * 2 > min(MAX_XML_BYTES, size - 13):
        raise FileFormatError(f"{path.name}: the LIF header declares {characters * 2:,} bytes "
                              f"of XML (the file has {size:,}); the file is damaged")


def _file(path: Path):
    module = import_reader(path, KIND, "readlif", "readlif.reader")
    _check_header(path)
    return module.LifFile(str(path))


def _image_elements(root: ElementTree.Element) -> list[ElementTree.Element]:
    """The XML elements of the images, in readlif's order (``LifFile.image_list``)."""
    found: list[ElementTree.Element] = []

    def visit(tree: ElementTree.Element, depth: int) -> None:
        if depth > 200:
            raise FileFormatError("the LIF header nests folders more than 200 deep")
        children = tree.findall("./Children/Element") or tree.findall("./Element")
        for item in children:
            if item.findall("./Data/Image"):
                found.append(item)
            if item.findall("./Children/Element/Data"):
                visit(item, depth + 1)

    visit(root, 0)
    return found


def scene_names(path: Path) -> list[str]:
    """Names of the images (series) of the LIF file `path`; reads no pixels."""
    with reading(path, KIND):
        lif = _file(path)
        names = [str(info["name"]) for info in lif.image_list]
        if not names:
            raise FileFormatError(f"{path.name}: the LIF file holds no image")
        check_axes(path, {"scenes": len(names)})
        return names


def _timestamps(element: ElementTree.Element | None) -> list[float]:
    """Seconds (FILETIME) of every plane's time stamp, or [] where there are none."""
    node = element.find("./Data/Image/TimeStampList") if element is not None else None
    if node is None:
        return []
    stamps = []
    if node.text and node.text.strip():
        try:
            stamps = [int(value, 16) for value in node.text.split()]
        except ValueError:
            return []
    else:
        for stamp in node.findall("./TimeStamp"):
            try:
                stamps.append((int(stamp.get("HighInteger", "")) << 32)
                              | int(stamp.get("LowInteger", "")))
            except ValueError:
                return []
    return [value / FILETIME_PER_SECOND for value in stamps]


def _colours(element: ElementTree.Element | None, count: int) -> list[str | None]:
    described = element.findall("./Data/Image/ImageDescription/Channels/ChannelDescription") \
        if element is not None else []
    if len(described) != count:
        return []
    return [LUT_COLOURS.get((channel.get("LUTName") or "").strip().lower())
            for channel in described]


def open_stack(path: Path, scene: int = 0) -> PlaneStack:
    """Image `scene` of the LIF file `path` as a PlaneStack."""
    where = path.name
    with reading(path, KIND):
        lif = _file(path)
        names = [str(info["name"]) for info in lif.image_list]
        if not names:
            raise FileFormatError(f"{where}: the LIF file holds no image")
        check_axes(path, {"scenes": len(names)})
        scene = choose_scene(path, scene, names)
        image = lif.get_image(scene)
        dimensions = {int(key): int(value) for key, value in image.dims_n.items()}
        others = {KNOWN_DIMENSIONS.get(key, f"dimension {key}"): value
                  for key, value in dimensions.items() if key not in (1, 2, 3, 4)}
        longer = {name: value for name, value in others.items() if value > 1}
        if longer:
            listed = ", ".join(f"{name} ({value})" for name, value in longer.items())
            raise FileFormatError(f"{where}: image {names[scene]!r} has axes the app does not "
                                  f"read: {listed}; export it as T/C/Z planes first")
        if tuple(image.display_dims) != (1, 2):
            raise FileFormatError(f"{where}: image {names[scene]!r} is not an XY image "
                                  f"(its planes are dimensions {tuple(image.display_dims)}; "
                                  "line and XZ scans are not read)")
        sizes = check_axes(path, {"T": image.dims.t, "C": image.channels, "Z": image.dims.z})
        depths = set(image.bit_depth)
        if len(depths) != 1:
            raise FileFormatError(f"{where}: the channels have different bit depths "
                                  f"({', '.join(map(str, sorted(depths)))})")
        depth = depths.pop()
        if not 1 <= depth <= 16:
            raise FileFormatError(f"{where}: {depth}-bit pixels are not read (8 or 16 bits)")
        dtype = np.dtype(np.uint8 if depth <= 8 else np.uint16)
        rows, columns = int(image.dims.y), int(image.dims.x)
        validate.check_frame_pixels((rows, columns), where)
        planes = sizes["T"] * sizes["C"] * sizes["Z"]
        block = int(image.offsets[1])
        if block == 0:
            raise FileFormatError(f"{where}: image {names[scene]!r} has no pixel data (the "
                                  "file is truncated)")
        if int(image.offsets[0]) + block > path.stat().st_size:
            raise FileFormatError(f"{where}: image {names[scene]!r} is truncated (its pixels "
                                  "end after the end of the file)")
        plane_bytes = rows * columns * dtype.itemsize
        if block // planes > 4 * plane_bytes or block < planes * plane_bytes:
            raise FileFormatError(f"{where}: image {names[scene]!r} declares {block:,} bytes "
                                  f"of pixels for {planes} planes of {plane_bytes:,} bytes; "
                                  "the header is damaged")

        notes: list[str] = []
        scale_x, scale_y, scale_z, scale_t = image.scale
        pixel_size = pixel_size_note(length_in_metres(1 / scale_x, 1e-6) if scale_x else None,
                                     notes,
                                     length_in_metres(1 / scale_y, 1e-6) if scale_y else None)
        z_step = z_step_note(length_in_metres(abs(1 / scale_z), 1e-6) if scale_z else None,
                             sizes["Z"], notes)
        elements = _image_elements(lif.xml_root)
        element = elements[scene] if len(elements) == len(names) else None
        stamps = _timestamps(element)
        per_time_point = sizes["C"] * sizes["Z"]
        stamps = (relative_times(stamps[::per_time_point][:sizes["T"]])
                  if len(stamps) >= planes else None)
        if stamps is not None and sizes["T"] > 1 and not np.all(np.diff(stamps) > 0):
            notes.append("the planes' time stamps do not increase; they are not used")
            stamps = None
        interval = 1 / scale_t if scale_t else None
        times, time_source = times_and_source(sizes["T"], stamps, interval, notes)
        colours = _colours(element, sizes["C"])
        lock = threading.Lock()

        def read_plane(t: int, c: int, z: int) -> np.ndarray:
            with lock:
                return np.asarray(image.get_frame(z=z, t=t, c=c))

        return PlaneStack(
            path=path, kind=KIND, sizes={**sizes, "Y": rows, "X": columns}, dtype=dtype,
            read_plane=read_plane, pixel_size=pixel_size, z_step=z_step, times=times,
            time_source=time_source, channel_colours=colours, scene=scene, scene_names=names,
            notes=notes)


__all__ = ["open_stack", "scene_names"]
