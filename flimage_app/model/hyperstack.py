"""Channels and Z planes of a time series in one HDF5 file, within flimage's format.

Layout
------
A stack of one channel and one Z plane stays what it always was: a plain
FLSeries at the root (``fli_0 … fli_{T-1}``).  Any other stack is a
*hyperstack file*::

    /channel_0 … /channel_{C-1}          Z = 1: each a complete FLSeries (fli_0 … fli_{T-1})
    /channel_{c}/plane_0 … plane_{Z-1}   Z > 1: each a complete FLSeries of that plane's
                                         T time points
    /flimage_app                         the app group; its JSON attribute "hyperstack" is
                                         {"version": 1, "channels": [{"name", "colour",
                                         "group"}], "planes": Z, "z_step": m | null,
                                         "dtype": the source's pixel type}
    /flimage_app/provenance              how the file was made (and again in every leaf's
                                         own flimage_app/provenance)

Every leaf (a channel, or a plane of a channel) is an FLSeries as flimage
0.3.3 writes it: frames ``fli_<t>`` with ``fluorescence/raw`` and the
metadata "time" [s] and "pixel size" [m] per frame, so every tool that
reads FLSeries reads each leaf.

How flimage 0.3.3 itself sees such a file (checked by
``tests/test_hyperstack.py``): ``flimage.FLSeries(h5file=h5["channel_1"])``
(Z = 1) and ``flimage.FLSeries(h5file=h5["channel_0/plane_2"])`` (Z > 1)
open one leaf with all its frames, values and times.  ``flimage.FLSeries(
h5file=path)`` on the file itself finds no ``fli_`` group at the root and
is an empty series of 0 frames (it raises nothing, and finds no data):
flimage has no notion of channels, so a script must open the leaves.

Everything read from such a file passes the reading boundary
(:mod:`flimage_app.model.validate`): the description through
``validate.read_json_text``, every group through ``validate.group_member``;
a description that does not match the groups present (a channel or plane
missing or not declared, leaves of different lengths or frame shapes) is
refused in one line naming the file.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import validate
from .errors import FileFormatError, file_open_error
from .flseries import FLSeries
from .names import (
    APP_GROUP,
    CHANNEL_PREFIX,
    FRAME_PREFIX,
    HYPERSTACK_ATTRIBUTE,
    HYPERSTACK_VERSION,
    PLANE_PREFIX,
    channel_name,
    frame_name,
    plane_name,
)

#: most channels and Z planes a hyperstack file may declare (a crafted count is refused)
MAX_CHANNELS = 64
MAX_PLANES = 4096
#: a channel colour: "#rrggbb"
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
#: pixel types a description may name as the source's
SOURCE_DTYPES = ("uint8", "uint16", "uint32", "int8", "int16", "int32", "int64", "uint64",
                 "float32", "float64", "bool")


@dataclass(frozen=True)
class ChannelInfo:
    """One channel of a hyperstack file: its name, colour ("#rrggbb" or None) and group."""

    name: str
    colour: str | None
    group: str


@dataclass(frozen=True)
class Layout:
    """The checked description of a hyperstack file (the ``hyperstack`` attribute)."""

    channels: tuple[ChannelInfo, ...]
    planes: int
    z_step: float | None
    dtype: str | None

    def as_json(self) -> dict[str, Any]:
        """The description as stored (see the module notes)."""
        return {"version": HYPERSTACK_VERSION,
                "channels": [{"name": c.name, "colour": c.colour, "group": c.group}
                             for c in self.channels],
                "planes": self.planes, "z_step": self.z_step, "dtype": self.dtype}


def leaf_path(channel: int, plane: int, planes: int) -> str:
    """Path of the leaf (`channel`, `plane`) from the root, in a file of `planes` Z planes."""
    if planes == 1:
        return channel_name(channel)
    return f"{channel_name(channel)}/{plane_name(plane)}"


def make_layout(channel_names: list[str], channel_colours: list[str | None], planes: int,
                z_step: float | None, dtype: str | None) -> Layout:
    """A :class:`Layout` for channels named `channel_names` (groups ``channel_<c>``)."""
    channels = tuple(ChannelInfo(str(name), colour, channel_name(index))
                     for index, (name, colour) in enumerate(
                         zip(channel_names, channel_colours, strict=True)))
    return Layout(channels, int(planes), z_step, dtype)


def write_layout(root: h5py.Group, layout: Layout) -> None:
    """Store `layout` as the ``hyperstack`` attribute of the root's app group."""
    import json

    app = root.require_group(APP_GROUP)
    app.attrs[HYPERSTACK_ATTRIBUTE] = json.dumps(layout.as_json())


# ------------------------------------------------------------------ reading the description
def _app_group(root: h5py.Group) -> h5py.Group | None:
    return validate.group_member(root, APP_GROUP)


def is_hyperstack(path_or_h5: str | os.PathLike | h5py.Group) -> bool:
    """True when the file (or open root group) carries a hyperstack description.

    Only says that it claims to be one; :func:`open_hyperstack` checks the
    claim.  A file HDF5 cannot open is not a hyperstack (False).
    """
    if isinstance(path_or_h5, h5py.Group):
        return _has_description(path_or_h5)
    try:
        with h5py.File(path_or_h5, "r") as h5:
            return _has_description(h5)
    except (OSError, FileFormatError):
        return False


def _has_description(root: h5py.Group) -> bool:
    app = _app_group(root)
    return app is not None and bool(h5py.h5a.exists(app.id, HYPERSTACK_ATTRIBUTE.encode()))


def read_layout(root: h5py.Group) -> Layout:
    """The description of the hyperstack file `root`, checked (not yet against the groups)."""
    where = validate.object_name(root, APP_GROUP)
    app = _app_group(root)
    if app is None or not h5py.h5a.exists(app.id, HYPERSTACK_ATTRIBUTE.encode()):
        raise validate.refuse(validate.object_name(root), "is not a hyperstack file (no "
                              f"{APP_GROUP} attribute {HYPERSTACK_ATTRIBUTE!r})")
    text = validate.read_attribute(app, HYPERSTACK_ATTRIBUTE, "text", warn=False,
                                   max_chars=validate.MAX_JSON_BYTES)
    if text is None:
        raise validate.refuse(where, f"attribute {HYPERSTACK_ATTRIBUTE!r} is not one text value")
    what = "the hyperstack description"
    value = validate.checked_mapping(validate.read_json_text(text, where, what), where, what)
    if value.get("version") != HYPERSTACK_VERSION:
        raise validate.refuse(where, f"{what} has version {value.get('version')!r}; this "
                                     f"app reads version {HYPERSTACK_VERSION}")
    channels = value.get("channels")
    if not isinstance(channels, list) or not 1 <= len(channels) <= MAX_CHANNELS:
        raise validate.refuse(where, f"{what} does not list 1 to {MAX_CHANNELS} channels")
    infos = []
    for index, entry in enumerate(channels):
        entry = validate.checked_mapping(entry, where, f"channel {index} of {what}")
        name, colour, group = entry.get("name"), entry.get("colour"), entry.get("group")
        if not isinstance(name, str) or len(name) > 200:
            raise validate.refuse(where, f"channel {index} of {what} has no name (text)")
        if colour is not None and not (isinstance(colour, str) and COLOUR.match(colour)):
            raise validate.refuse(where, f"channel {index} of {what} has the colour "
                                         f"{str(colour)[:20]!r}, not #rrggbb")
        if group != channel_name(index):
            raise validate.refuse(where, f"channel {index} of {what} names the group "
                                         f"{str(group)[:40]!r}, not {channel_name(index)!r}")
        infos.append(ChannelInfo(name, colour, group))
    planes = value.get("planes")
    if isinstance(planes, bool) or not isinstance(planes, int) or not 1 <= planes <= MAX_PLANES:
        raise validate.refuse(where, f"{what} declares {str(planes)[:20]} planes, not 1 to "
                                     f"{MAX_PLANES}")
    z_step = value.get("z_step")
    if z_step is not None and (isinstance(z_step, bool) or not isinstance(z_step, (int, float))
                               or not math.isfinite(z_step) or z_step <= 0):
        raise validate.refuse(where, f"{what} has the Z step {str(z_step)[:20]}, not a "
                                     "positive number of metres")
    dtype = value.get("dtype")
    if dtype is not None and dtype not in SOURCE_DTYPES:
        raise validate.refuse(where, f"{what} names the pixel type {str(dtype)[:20]!r}")
    return Layout(tuple(infos), planes, None if z_step is None else float(z_step), dtype)


def _numbered_groups(group: h5py.Group, prefix: str) -> set[str]:
    return {key for key in group if key.startswith(prefix)}


def _check_groups(root: h5py.Group, layout: Layout, where: str) -> None:
    """Refuse a description that lies about the groups: every leaf present, nothing more."""
    declared = {info.group for info in layout.channels}
    extra = sorted(_numbered_groups(root, CHANNEL_PREFIX) - declared)
    if extra:
        raise FileFormatError(f"{where}: group {extra[0]} is not one of the "
                              f"{len(declared)} channels the file declares")
    if any(key.startswith(FRAME_PREFIX) for key in root):
        raise FileFormatError(f"{where}: frames at the root beside channel groups; the file "
                              "is neither one series nor a hyperstack")
    for index, info in enumerate(layout.channels):
        group = validate.group_member(root, info.group)
        if group is None:
            raise FileFormatError(f"{where}: channel {index} ({info.name}) is declared, but "
                                  f"group {info.group} is missing")
        if layout.planes == 1:
            if _numbered_groups(group, PLANE_PREFIX):
                raise FileFormatError(f"{where}: {info.group} holds Z planes, but the file "
                                      "declares one plane")
            continue
        planes = {plane_name(z) for z in range(layout.planes)}
        found = _numbered_groups(group, PLANE_PREFIX)
        if found - planes:
            raise FileFormatError(f"{where}: {info.group}/{sorted(found - planes)[0]} is not "
                                  f"one of the {layout.planes} planes the file declares")
        for z in range(layout.planes):
            if validate.group_member(group, plane_name(z)) is None:
                raise FileFormatError(f"{where}: plane {z} of channel {index} is declared, "
                                      f"but group {info.group}/{plane_name(z)} is missing")


def _leaf_frames(leaf: h5py.Group, where: str) -> int:
    """Frames of a leaf, numbered fli_0 … without gaps (flimage finds them by index)."""
    names = _numbered_groups(leaf, FRAME_PREFIX)
    for index in range(len(names)):
        if frame_name(index) not in names:
            raise FileFormatError(f"{where}: {leaf.name} lacks frame {frame_name(index)} "
                                  f"({len(names)} fli_ groups)")
    return len(names)


# ------------------------------------------------------------------ the open file
class Hyperstack:
    """A hyperstack file open for reading: its channels, planes and leaf series.

    Create with :func:`open_hyperstack`.  Every leaf is checked when the file
    opens: present, numbered without gaps, and of the same number of frames
    and frame shape as every other leaf.

    Attributes
    ----------
    filename : str
    layout : Layout
    n_frames : int
        Time points (frames of every leaf).
    frame_shape : tuple of int
    """

    def __init__(self, h5: h5py.File, layout: Layout) -> None:
        self.h5 = h5
        self.layout = layout
        self.filename: str = h5.filename
        where = Path(self.filename).name
        counts: dict[tuple[int, int], int] = {}
        shapes: dict[tuple[int, int], tuple[int, ...]] = {}
        for c in range(self.n_channels):
            for z in range(self.n_planes):
                series = self.series(c, z)
                counts[(c, z)] = _leaf_frames(series.h5, where)
                shapes[(c, z)] = series.frame_shape if counts[(c, z)] else ()
        first = counts[(0, 0)]
        if first == 0:
            raise FileFormatError(f"{where}: {leaf_path(0, 0, self.n_planes)} holds no frames")
        for key, count in counts.items():
            if count != first:
                raise FileFormatError(f"{where}: {leaf_path(*key, self.n_planes)} has {count} "
                                      f"frames, {leaf_path(0, 0, self.n_planes)} {first}; the "
                                      "leaves of a hyperstack have one frame count")
            if shapes[key] != shapes[(0, 0)]:
                raise FileFormatError(f"{where}: {leaf_path(*key, self.n_planes)} has frames of "
                                      f"{shapes[key]}, {leaf_path(0, 0, self.n_planes)} of "
                                      f"{shapes[(0, 0)]}; the leaves have one frame shape")
        self.n_frames = first
        self.frame_shape: tuple[int, ...] = shapes[(0, 0)]

    # ---------------------------------------------------------------- description
    @property
    def n_channels(self) -> int:
        return len(self.layout.channels)

    @property
    def n_planes(self) -> int:
        return self.layout.planes

    @property
    def z_step(self) -> float | None:
        """Distance between Z planes [m], or None."""
        return self.layout.z_step

    @property
    def channel_names(self) -> list[str]:
        return [info.name for info in self.layout.channels]

    @property
    def channel_colours(self) -> list[str | None]:
        """"#rrggbb" per channel, None where the source gave none."""
        return [info.colour for info in self.layout.channels]

    @property
    def source_dtype(self) -> str | None:
        """Pixel type of the imported source (e.g. "uint16"), if recorded."""
        return self.layout.dtype

    @property
    def writable(self) -> bool:
        return self.h5.mode != "r"

    def __repr__(self) -> str:
        return (f"Hyperstack <{Path(self.filename).name}>, {self.n_channels} channels x "
                f"{self.n_planes} planes x {getattr(self, 'n_frames', '?')} frames")

    # ---------------------------------------------------------------- leaves
    def group(self, channel: int = 0, plane: int = 0) -> h5py.Group:
        """The checked HDF5 group of the leaf (`channel`, `plane`)."""
        self._check_index(channel, plane)
        group = validate.group_member(self.h5, channel_name(channel))
        if self.n_planes > 1:
            group = validate.group_member(group, plane_name(plane))
        if group is None:  # checked at open; the file changed since
            raise FileFormatError(f"{Path(self.filename).name}: "
                                  f"{leaf_path(channel, plane, self.n_planes)} is missing")
        return group

    def _check_index(self, channel: int, plane: int) -> None:
        where = Path(self.filename).name
        if not 0 <= channel < self.n_channels:
            raise FileFormatError(f"{where}: channel={channel} is out of range; the file has "
                                  f"{self.n_channels} (channel 0 to {self.n_channels - 1})")
        if not 0 <= plane < self.n_planes:
            raise FileFormatError(f"{where}: plane={plane} is out of range; the file has "
                                  f"{self.n_planes} (plane 0 to {self.n_planes - 1})")

    def series(self, channel: int = 0, plane: int = 0) -> FLSeries:
        """The FLSeries of one leaf (read-only when the file is open read-only).

        It shares this object's file handle: close the Hyperstack, not the leaf.
        """
        return FLSeries(h5file=self.group(channel, plane))

    def take_series(self, channel: int = 0, plane: int = 0) -> FLSeries:
        """The FLSeries of one leaf, which takes over the file: closing it closes the file.

        For callers that want one leaf and not the Hyperstack
        (:func:`flimage_app.model.loader.open_series`); do not use this object afterwards.
        """
        series = self.series(channel, plane)
        series._owns_h5 = True  # the leaf closes the file it shares no more
        return series

    def leaves(self) -> Iterator[tuple[int, int, FLSeries]]:
        """``(channel, plane, series)`` of every leaf, channel by channel."""
        for c in range(self.n_channels):
            for z in range(self.n_planes):
                yield c, z, self.series(c, z)

    def times(self) -> np.ndarray:
        """Time [s] of every time point (of channel 0, plane 0), NaN where unknown."""
        return self.series(0, 0).times()

    def pixel_size(self) -> float | None:
        """Pixel size [m] of the first frame, or None."""
        value = self.series(0, 0).get_flimage(0).meta.get("pixel size")
        return float(value) if value is not None else None

    # ---------------------------------------------------------------- closing
    def close(self) -> None:
        """Close the file (idempotent)."""
        if self.h5.id.valid:
            self.h5.close()

    def __enter__(self) -> Hyperstack:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_hyperstack(path: str | os.PathLike, mode: str = "r") -> Hyperstack:
    """Open a hyperstack file, its description checked against its groups.

    Raises
    ------
    FileFormatError
        Not a hyperstack file, a description that does not match the
        groups, or leaves of different frame counts or shapes.
    """
    if mode not in ("r", "r+"):
        raise ValueError(f"mode must be 'r' or 'r+', got {mode!r}")
    try:
        h5 = h5py.File(path, mode)
    except OSError as exc:
        raise file_open_error(path, exc) from None
    try:
        layout = read_layout(h5)  # its refusals name the file
        _check_groups(h5, layout, Path(path).name)
        return Hyperstack(h5, layout)
    except BaseException:
        h5.close()
        raise


__all__ = ["ChannelInfo", "Hyperstack", "Layout", "is_hyperstack", "leaf_path",
           "make_layout", "open_hyperstack", "read_layout", "write_layout"]
