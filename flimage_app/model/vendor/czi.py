"""Zeiss CZI files through ZEISS' own ``pylibCZIrw`` (libCZI).

What is read
------------
* sizes from libCZI's subblock statistics (pyramid layer 0): T, C, Z, and
  the scenes (S); a scene's plane is its bounding rectangle, which libCZI
  composes from its mosaic tiles (M) — the tiles are stitched as ZEN shows
  them, with a note.  Rotation, illumination, phase, view and block axes
  longer than 1 are refused, and so are RGB (Bgr) pixels;
* the XML metadata: pixel size and Z step from ``Scaling/Items/Distance``
  (the CZI format stores them in metres), channel names from
  ``Information/Image/Dimensions/Channels``, colours from
  ``DisplaySetting/Channels`` (``#AARRGGBB``), scene names from
  ``Dimensions/S/Scenes``, and times from the T dimension's
  ``Positions``: a list of ``Offsets`` (one per time point, seconds) or an
  ``Interval`` ``Increment`` (the frame interval, seconds).

Times come first from the ``TimeStamps`` attachment where ZEN records when
each time point was acquired (read by :mod:`.czi_segments`, since
pylibCZIrw does not expose attachments), then from the XML's T positions.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..planes import PlaneStack
from ._common import (
    check_axes,
    choose_scene,
    import_reader,
    length_in_metres,
    parse_hex_colour,
    pixel_size_note,
    reading,
    refuse_axes,
    relative_times,
    times_and_source,
    z_step_note,
)
from .czi_segments import check_structure, read_time_stamps

KIND = "CZI"

#: libCZI's pixel types that are intensities → numpy type
PIXEL_TYPES = {"Gray8": np.uint8, "Gray16": np.uint16, "Gray32Float": np.float32,
               "Gray32": np.int32}

#: CZI axes a plane stack has no place for, and what they mean
OTHER_AXES = {"R": "rotation", "I": "illumination", "H": "phase", "V": "view",
              "B": "block"}

#: most characters of XML metadata parsed (ZEN writes some 100 kB – a few MB)
MAX_XML_CHARS = 64 * 2**20


def _reader(path: Path):
    module = import_reader(path, KIND, "pylibCZIrw", "pylibCZIrw.czi")
    check_structure(path)  # libCZI crashes on some inconsistent directories
    return module.CziReader(str(path))


def _metadata(reader, where: str) -> ElementTree.Element | None:
    text = reader.raw_metadata
    if not text:
        return None
    if len(text) > MAX_XML_CHARS:
        raise FileFormatError(f"{where}: the XML metadata are {len(text):,} characters long "
                              f"(limit {MAX_XML_CHARS:,})")
    try:
        return ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise FileFormatError(f"{where}: the XML metadata are not valid XML ({exc})") from None


def _find(root: ElementTree.Element | None, path: str) -> ElementTree.Element | None:
    return None if root is None else root.find(path)


def _text(root: ElementTree.Element | None, path: str) -> str | None:
    node = _find(root, path)
    return node.text.strip() if node is not None and node.text else None


def _scenes(reader, root, path: Path) -> tuple[list[int | None], list, list[str]]:
    """(libCZI scene index or None, rectangle, name) of every scene."""
    import _pylibCZIrw

    count = reader._czi_reader.GetDimensionSize(_pylibCZIrw.DimensionIndex.S)
    check_axes(path, {"scenes": max(int(count), 1)})
    if count <= 0:
        return [None], [reader.total_bounding_rectangle_no_pyramid], ["scene 0"]
    rectangles = reader.scenes_bounding_rectangle_no_pyramid
    indices = sorted(rectangles)
    named = {}
    scenes = _find(root, "Metadata/Information/Image/Dimensions/S/Scenes")
    for position, scene in enumerate(scenes if scenes is not None else []):
        index = scene.get("Index")
        key = int(index) if index is not None and index.isdigit() else position
        name = scene.get("Name") or _text(scene, "Name")
        if name:
            named[key] = name
    names = [named.get(index, f"scene {index}") for index in indices]
    return list(indices), [rectangles[index] for index in indices], names


def scene_names(path: Path) -> list[str]:
    """Names of the scenes of the CZI file `path`; reads no pixels."""
    with reading(path, KIND):
        reader = _reader(path)
        try:
            return _scenes(reader, _metadata(reader, path.name), path)[2]
        finally:
            reader.close()


def _distance(root, axis: str) -> float | None:
    for distance in (root.findall("Metadata/Scaling/Items/Distance") if root is not None
                     else []):
        if distance.get("Id") == axis:
            return length_in_metres(_text(distance, "Value"), 1.0)  # CZI: metres
    return None


def _channels(root, count: int, notes: list[str]) -> tuple[list[str], list[str | None]]:
    described = root.findall("Metadata/Information/Image/Dimensions/Channels/Channel") \
        if root is not None else []
    display = root.findall("Metadata/DisplaySetting/Channels/Channel") \
        if root is not None else []
    names: list[str] = []
    if described:
        if len(described) == count:
            names = [channel.get("Name") or _text(channel, "Name") or f"Channel {index + 1}"
                     for index, channel in enumerate(described)]
        else:
            notes.append(f"the metadata describe {len(described)} channels, the file has "
                         f"{count}; channel names are not used")
    colours: list[str | None] = []
    if len(display) == count:
        colours = [parse_hex_colour(_text(channel, "Color"), alpha_first=True)
                   for channel in display]
    return names, colours


def _times(path: Path, root, count: int, notes: list[str]) -> tuple[np.ndarray | None, str]:
    """Times of the time points: the TimeStamps attachment, else the XML's T positions."""
    recorded = read_time_stamps(path, count)
    if recorded is not None and len(recorded) == count and \
            (count == 1 or np.all(np.diff(recorded) > 0)):
        return relative_times(recorded), "plane time stamps"
    if recorded is not None:
        notes.append(f"the TimeStamps attachment holds {len(recorded)} stamps for {count} "
                     "time points; they are not used" if len(recorded) != count else
                     "the TimeStamps attachment's stamps do not increase; they are not used")
    positions = _find(root, "Metadata/Information/Image/Dimensions/T/Positions")
    stamps = None
    offsets = _text(positions, "List/Offsets")
    if offsets:
        try:
            values = [float(value) for value in offsets.split()[:count + 1]]
        except ValueError:
            values = []
        if len(values) == count:
            stamps = relative_times(values)
    interval = None
    increment = _text(positions, "Interval/Increment")
    if increment:
        try:
            interval = float(increment)
        except ValueError:
            notes.append(f"the T interval {increment!r} is not a number")
    return times_and_source(count, stamps, interval, notes)


def open_stack(path: Path, scene: int = 0) -> PlaneStack:
    """Scene `scene` of the CZI file `path` as a PlaneStack."""
    with reading(path, KIND):
        reader = _reader(path)
        try:
            stack = _describe(reader, path, scene)
        except BaseException:
            reader.close()
            raise
    return stack


def _describe(reader, path: Path, scene: int) -> PlaneStack:
    where = path.name
    box = reader.total_bounding_box_no_pyramid
    extent = {axis: int(high) - int(low) for axis, (low, high) in box.items()}
    refuse_axes(path, KIND, {axis: extent.get(axis, 1) for axis in OTHER_AXES}, OTHER_AXES)
    sizes = check_axes(path, {axis: extent.get(axis, 1) for axis in "TCZ"})
    root = _metadata(reader, where)
    indices, rectangles, names = _scenes(reader, root, path)
    scene = choose_scene(path, scene, names)
    rectangle = rectangles[scene]
    libczi_scene = indices[scene]

    pixel_types = {reader.get_channel_pixel_type(c) for c in range(sizes["C"])}
    unknown = sorted(pixel_types - set(PIXEL_TYPES))
    if unknown:
        raise FileFormatError(f"{where}: pixels of type {', '.join(unknown)} (RGB colour or "
                              "unknown) are not read; the app reads grey-level channels")
    if len(pixel_types) > 1:
        raise FileFormatError(f"{where}: the channels have different pixel types "
                              f"({', '.join(sorted(pixel_types))})")
    pixel_type = pixel_types.pop()
    dtype = np.dtype(PIXEL_TYPES[pixel_type])

    notes: list[str] = []
    mosaic = _text(root, "Metadata/Information/Image/SizeM")
    if mosaic and mosaic.isdigit() and int(mosaic) > 1:
        notes.append(f"{mosaic} mosaic tiles are stitched into one plane by libCZI")
    pixel_size = pixel_size_note(_distance(root, "X"), notes, _distance(root, "Y"))
    z_step = z_step_note(_distance(root, "Z"), sizes["Z"], notes)
    times, time_source = _times(path, root, sizes["T"], notes)
    channel_names, channel_colours = _channels(root, sizes["C"], notes)
    lock = threading.Lock()  # libCZI's reader object is not shared between threads
    roi = (rectangle.x, rectangle.y, rectangle.w, rectangle.h)

    def read_plane(t: int, c: int, z: int) -> np.ndarray:
        with lock:
            try:
                return reader.read(roi=roi, plane={"T": t, "C": c, "Z": z},
                                   scene=libczi_scene, pixel_type=pixel_type)
            except MemoryError:  # std::bad_alloc for a plane already checked to fit
                raise FileFormatError(f"{where}: plane t={t}, c={c}, z={z}: libCZI could "
                                      "not allocate what a subblock declares (damaged "
                                      "subblock)") from None

    return PlaneStack(
        path=path, kind=KIND, sizes={**sizes, "Y": int(rectangle.h), "X": int(rectangle.w)},
        dtype=dtype, read_plane=read_plane, pixel_size=pixel_size, z_step=z_step,
        times=times, time_source=time_source, channel_names=channel_names,
        channel_colours=channel_colours, scene=scene, scene_names=names, notes=notes,
        close=reader.close)


__all__ = ["open_stack", "scene_names"]
