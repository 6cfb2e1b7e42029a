"""OME-Zarr (OME-NGFF 0.1 – 0.5) images through ``zarr``.

What is read
------------
* an image group (``multiscales`` in its attributes): level 0 of the first
  multiscale image, the axes by name (``t``, ``c``, ``z``, ``y``, ``x``; any
  other axis longer than 1 is refused), the scale of level 0 (dataset and
  multiscale ``coordinateTransformations``) in the axes' units, converted to
  metres and seconds, and the channels' ``omero`` labels and colours;
* a ``bioformats2raw`` layout (a converted multi-series file): its numbered
  image groups ``0``, ``1``, … are the scenes, named from ``OME/.zattrs``
  ``series`` where given.

NGFF stores no per-plane time stamps, so times come from the ``t`` axis'
scale (a frame interval) when it has a time unit, else there are none.

The metadata JSON is read here (size-checked) and the array is opened by
``zarr``, whose codecs decode the chunks; the declared shape and the chunk
size are checked against the limits before any chunk is read, and dataset
paths may not leave the folder.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import validate
from ..errors import FileFormatError
from ..planes import PlaneStack
from ._common import (
    LENGTH_UNITS,
    TIME_UNITS,
    check_axes,
    choose_scene,
    import_reader,
    length_in_metres,
    parse_hex_colour,
    pixel_size_note,
    reading,
    refuse_axes,
    times_and_source,
    z_step_note,
)

KIND = "OME-Zarr"

#: largest metadata file read (a real one is a few kB)
MAX_METADATA_BYTES = 16 * 2**20

_SAFE_SEGMENT = re.compile(r"^[^/\\]+$")

#: the axes a plane stack has (NGFF names)
STACK_AXES = frozenset("tczyx")


# ------------------------------------------------------------------ metadata files
def _read_json(path: Path, where: str) -> Any:
    size = path.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise FileFormatError(f"{where}: {path.name} is {size:,} bytes (limit "
                              f"{MAX_METADATA_BYTES:,}); not Zarr metadata")
    text = path.read_bytes().decode("utf-8", "replace")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FileFormatError(f"{where}: {path.name} is not valid JSON "
                              f"({str(exc).splitlines()[0]})") from None


def group_attributes(folder: Path, where: str) -> dict[str, Any] | None:
    """The OME attributes of the Zarr group `folder` (v3 ``ome`` block or v2 ``.zattrs``).

    None when the folder holds no Zarr group metadata.
    """
    v3 = folder / "zarr.json"
    if v3.is_file():
        document = _read_json(v3, where)
        if not isinstance(document, dict):
            raise FileFormatError(f"{where}: zarr.json is not a JSON object")
        attributes = document.get("attributes", {})
        if not isinstance(attributes, dict):
            raise FileFormatError(f"{where}: zarr.json's attributes are not an object")
        ome = attributes.get("ome")
        return ome if isinstance(ome, dict) else attributes
    v2 = folder / ".zattrs"
    if v2.is_file():
        attributes = _read_json(v2, where)
        if not isinstance(attributes, dict):
            raise FileFormatError(f"{where}: .zattrs is not a JSON object")
        return attributes
    if (folder / ".zgroup").is_file():
        return {}
    return None


def _child(folder: Path, relative: Any, where: str) -> Path:
    """`folder`/`relative`, refused if it could leave `folder` (``..``, absolute, links)."""
    if not isinstance(relative, str) or not relative.strip("/"):
        raise FileFormatError(f"{where}: a dataset path is {relative!r}, not a folder name")
    parts = relative.strip("/").split("/")
    if any(part in ("", ".", "..") or not _SAFE_SEGMENT.match(part) for part in parts):
        raise FileFormatError(f"{where}: the dataset path {relative!r} leaves the image folder")
    child = folder.joinpath(*parts)
    try:
        child.resolve().relative_to(folder.resolve())
    except ValueError:
        raise FileFormatError(f"{where}: the dataset path {relative!r} links outside the "
                              "image folder") from None
    return child


# ------------------------------------------------------------------ scenes
def _series_folders(root: Path, attributes: dict[str, Any], where: str) -> list[tuple[Path, str]]:
    """(image folder, name) of every scene of the OME-Zarr at `root`."""
    if "plate" in attributes or "well" in attributes:
        raise FileFormatError(f"{where}: an OME-Zarr high-content screening plate; open one "
                              "field's image folder (row/column/field) instead")
    if "multiscales" in attributes:
        return [(root, _image_name(attributes) or root.name)]
    if "bioformats2raw.layout" in attributes:
        names: list[str] = []
        ome = root / "OME"
        if ome.is_dir():
            ome_attributes = group_attributes(ome, where) or {}
            series = ome_attributes.get("series")
            if isinstance(series, list) and all(isinstance(name, str) for name in series):
                names = series
        folders = []
        index = 0
        while (root / str(index)).is_dir() and index <= 100_000:
            folders.append(root / str(index))
            index += 1
        if not folders:
            raise FileFormatError(f"{where}: a bioformats2raw layout without image groups "
                                  "(0, 1, …)")
        result = []
        for index, folder in enumerate(folders):
            name = names[index] if index < len(names) else None
            if name is None:
                sub = group_attributes(folder, where) or {}
                name = _image_name(sub) or f"series {index}"
            result.append((folder, name))
        return result
    raise FileFormatError(f"{where}: no OME-Zarr image metadata (multiscales) in the folder")


def _image_name(attributes: dict[str, Any]) -> str | None:
    multiscales = attributes.get("multiscales")
    if isinstance(multiscales, list) and multiscales and isinstance(multiscales[0], dict):
        name = multiscales[0].get("name")
        if isinstance(name, str) and name.strip():
            return name.strip()
    return None


def scene_names(path: Path) -> list[str]:
    """Names of the images (scenes) of the OME-Zarr folder `path`; reads no pixels."""
    where = path.name
    with reading(path, KIND):
        attributes = group_attributes(path, where)
        if attributes is None:
            raise FileFormatError(f"{where}: no Zarr metadata (zarr.json, .zattrs) in the folder")
        return [name for _, name in _series_folders(path, attributes, where)]


# ------------------------------------------------------------------ one image
def _axes(multiscale: dict[str, Any], ndim: int, where: str) -> list[dict[str, Any]]:
    axes = multiscale.get("axes")
    if axes is None:  # NGFF 0.1 / 0.2: always 5D t, c, z, y, x
        if ndim != 5:
            raise FileFormatError(f"{where}: {ndim} dimensions and no axes metadata")
        return [{"name": name} for name in "tczyx"]
    if not isinstance(axes, list) or len(axes) != ndim:
        raise FileFormatError(f"{where}: the axes metadata do not name the array's {ndim} "
                              "dimensions")
    result = []
    for axis in axes:
        if isinstance(axis, str):  # NGFF 0.3
            axis = {"name": axis}
        if not isinstance(axis, dict) or not isinstance(axis.get("name"), str):
            raise FileFormatError(f"{where}: an axis without a name ({axis!r:.60})")
        result.append(axis)
    names = [axis["name"].lower() for axis in result]
    if len(set(names)) != len(names):
        raise FileFormatError(f"{where}: the axes {names} repeat a name")
    if "y" not in names or "x" not in names:
        raise FileFormatError(f"{where}: the image has no y and x axes ({', '.join(names)})")
    return result


def _scale(transforms: Any, ndim: int) -> list[float] | None:
    """The product of the ``scale`` transformations of a list, or None."""
    if not isinstance(transforms, list):
        return None
    scale = None
    for transform in transforms:
        if isinstance(transform, dict) and transform.get("type") == "scale":
            values = transform.get("scale")
            if not isinstance(values, list) or len(values) != ndim:
                return None
            try:
                values = [float(value) for value in values]
            except (TypeError, ValueError):
                return None
            scale = values if scale is None else [a * b for a, b in zip(scale, values,
                                                                        strict=True)]
    return scale


def _channels(attributes: dict[str, Any], count: int, notes: list[str]):
    omero = attributes.get("omero")
    channels = omero.get("channels") if isinstance(omero, dict) else None
    if not isinstance(channels, list):
        return [], []
    if len(channels) != count:
        notes.append(f"the omero metadata describe {len(channels)} channels, the image has "
                     f"{count}; channel names are not used")
        return [], []
    names, colours = [], []
    for index, channel in enumerate(channels):
        channel = channel if isinstance(channel, dict) else {}
        label = channel.get("label")
        names.append(label.strip() if isinstance(label, str) and label.strip()
                     else f"Channel {index + 1}")
        colours.append(parse_hex_colour(channel.get("color")))
    return names, colours


def _open_array(zarr_module, folder: Path, where: str):
    for name in ("zarr.json", ".zarray"):
        metadata = folder / name
        if metadata.is_file() and metadata.stat().st_size > MAX_METADATA_BYTES:
            raise FileFormatError(f"{where}: {name} of the array is "
                                  f"{metadata.stat().st_size:,} bytes; not Zarr metadata")
    if not any((folder / name).is_file() for name in ("zarr.json", ".zarray")):
        raise FileFormatError(f"{where}: no Zarr array at {folder.name}")
    return zarr_module.open_array(store=str(folder), mode="r")


def _check_chunks(array, where: str) -> None:
    """Refuse a chunk whose decoded bytes do not fit the memory budget (read as a whole)."""
    chunks = tuple(int(n) for n in array.chunks)
    nbytes = math.prod(chunks) * np.dtype(array.dtype).itemsize
    validate.check_allocation(nbytes, where, f"a chunk of {' x '.join(map(str, chunks))} "
                                             "values")


def open_stack(path: Path, scene: int = 0) -> PlaneStack:
    """Scene `scene` of the OME-Zarr folder `path` as a PlaneStack (level 0)."""
    where = path.name
    zarr_module = import_reader(path, KIND, "zarr", "zarr")
    with reading(path, KIND):
        attributes = group_attributes(path, where)
        if attributes is None:
            raise FileFormatError(f"{where}: no Zarr metadata (zarr.json, .zattrs) in the folder")
        series = _series_folders(path, attributes, where)
        names = [name for _, name in series]
        scene = choose_scene(path, scene, names)
        folder = series[scene][0]
        image = attributes if folder == path else group_attributes(folder, where) or {}
        multiscales = image.get("multiscales")
        if not isinstance(multiscales, list) or not multiscales or \
                not isinstance(multiscales[0], dict):
            raise FileFormatError(f"{where}: scene {scene} has no multiscales metadata")
        multiscale = multiscales[0]
        datasets = multiscale.get("datasets")
        if not isinstance(datasets, list) or not datasets or not isinstance(datasets[0], dict):
            raise FileFormatError(f"{where}: the multiscales metadata list no datasets")
        array = _open_array(zarr_module, _child(folder, datasets[0].get("path"), where), where)
        shape = tuple(int(n) for n in array.shape)
        axes = _axes(multiscale, len(shape), where)
        names_lower = [axis["name"].lower() for axis in axes]
        sizes = dict(zip(names_lower, shape, strict=True))
        refuse_axes(path, KIND, {name: size for name, size in sizes.items()
                                 if name not in STACK_AXES}, {})
        declared = check_axes(path, {"T": sizes.get("t", 1), "C": sizes.get("c", 1),
                                     "Z": sizes.get("z", 1)})
        plane_sizes = {**declared, "Y": sizes["y"], "X": sizes["x"]}
        validate.check_frame_pixels((plane_sizes["Y"], plane_sizes["X"]), where)
        _check_chunks(array, where)

        notes: list[str] = []
        scale = _scale(datasets[0].get("coordinateTransformations"), len(shape))
        outer = _scale(multiscale.get("coordinateTransformations"), len(shape))
        if scale is not None and outer is not None:
            scale = [a * b for a, b in zip(scale, outer, strict=True)]

        def physical(name: str, units: dict[str, float]) -> float | None:
            if scale is None or name not in names_lower:
                return None
            axis = axes[names_lower.index(name)]
            unit = axis.get("unit")
            factor = units.get(unit) if isinstance(unit, str) else None
            if factor is None:
                if unit is not None:
                    notes.append(f"the {name} axis has the unknown unit {unit!r}")
                return None
            return length_in_metres(scale[names_lower.index(name)], factor)

        pixel_size = pixel_size_note(physical("x", LENGTH_UNITS), notes,
                                     physical("y", LENGTH_UNITS))
        z_step = z_step_note(physical("z", LENGTH_UNITS), declared["Z"], notes)
        interval = physical("t", TIME_UNITS)
        times, time_source = times_and_source(declared["T"], None, interval, notes)
        channel_names, channel_colours = _channels(image, declared["C"], notes)
        dtype = np.dtype(array.dtype)
        y_first = names_lower.index("y") < names_lower.index("x")

        def read_plane(t: int, c: int, z: int) -> np.ndarray:
            chosen = {"t": t, "c": c, "z": z, "y": slice(None), "x": slice(None)}
            index = [chosen.get(name, 0) for name in names_lower]  # other axes have size 1
            plane = np.asarray(array[tuple(index)])
            return plane if y_first else plane.T

        return PlaneStack(
            path=path, kind=KIND, sizes=plane_sizes, dtype=dtype, read_plane=read_plane,
            pixel_size=pixel_size, z_step=z_step, times=times, time_source=time_source,
            channel_names=channel_names, channel_colours=channel_colours, scene=scene,
            scene_names=names, notes=notes)
