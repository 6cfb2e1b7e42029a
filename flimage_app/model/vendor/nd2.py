"""Nikon ND2 files through ``nd2`` (the modern, non-JPEG-2000 format).

What is read
------------
* sizes from ``ND2File.sizes``: T (time loop, or the phases of a
  non-equidistant time loop), P (XY positions: the scenes, named from the
  XYPosLoop's points), Z, C, Y, X; an RGB camera's samples (S) and custom
  loops (U) are refused;
* pixel size and Z step from the channel's volume calibration (µm → m; only
  axes the file marks as calibrated) and the Z stack loop's step;
* times from every time point's frame metadata (``time.relativeTimeMs`` of
  its first plane, relative to the first time point): the plane time stamps;
  else from the time loop's measured mean period (``periodDiff.avg``) or its
  set period (``periodMs``);
* channel names and colours from ``metadata.channels``.

A plane is read with ``ND2File.read_frame`` (one sequence frame holds all
channels of one (t, position, z)); nothing else is read.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..planes import PlaneStack
from ._common import (
    check_axes,
    choose_scene,
    hex_colour,
    import_reader,
    interval_times,
    length_in_metres,
    pixel_size_note,
    reading,
    refuse_axes,
    relative_times,
    times_and_source,
    z_step_note,
)

KIND = "ND2"

#: nd2's axes a plane stack has no place for, and what they mean
OTHER_AXES = {"S": "RGB samples", "U": "custom loop"}

#: the axes of one sequence frame (everything else indexes frames)
FRAME_AXES = frozenset("CYXS")


def _file(path: Path):
    module = import_reader(path, KIND, "nd2", "nd2")
    handle = module.ND2File(str(path))
    try:
        if handle.is_legacy:
            raise FileFormatError(f"{path.name}: a legacy (JPEG 2000) ND2 file; save it in "
                                  "NIS-Elements' current ND2 format or as OME-TIFF first")
    except BaseException:
        handle.close()
        raise
    return handle


def _loop(handle, kind: str):
    return next((loop for loop in handle.experiment if loop.type == kind), None)


def _position_names(handle) -> list[str]:
    loop = _loop(handle, "XYPosLoop")
    count = int(dict(handle.sizes).get("P", 1))
    points = list(loop.parameters.points) if loop is not None else []
    names = [(point.name or "").strip() if index < len(points) else ""
             for index, point in enumerate(points[:count])]
    names += [""] * (count - len(names))
    return [name or f"position {index}" for index, name in enumerate(names)]


def scene_names(path: Path) -> list[str]:
    """Names of the XY positions (scenes) of the ND2 file `path`; reads no pixels."""
    with reading(path, KIND):
        handle = _file(path)
        try:
            check_axes(path, {"scenes": int(dict(handle.sizes).get("P", 1))})
            return _position_names(handle)
        finally:
            handle.close()


def open_stack(path: Path, scene: int = 0) -> PlaneStack:
    """Position `scene` of the ND2 file `path` as a PlaneStack."""
    with reading(path, KIND):
        handle = _file(path)
        try:
            return _describe(handle, path, scene)
        except BaseException:
            handle.close()
            raise


def _calibration(handle, notes: list[str]) -> tuple[float | None, float | None]:
    """(pixel size, Z step) [m] from the volume calibration and the Z stack loop."""
    channels = handle.metadata.channels or []
    calibrated = tuple(channels[0].volume.axesCalibrated) if channels else (False,) * 3
    size = handle.voxel_size()
    x = length_in_metres(size.x, 1e-6) if calibrated[0] else None
    y = length_in_metres(size.y, 1e-6) if calibrated[1] else None
    z_loop = _loop(handle, "ZStackLoop")
    z = length_in_metres(abs(z_loop.parameters.stepUm), 1e-6) if z_loop is not None else None
    if z is None and calibrated[2]:
        z = length_in_metres(size.z, 1e-6)
    return pixel_size_note(x, notes, y), z


def _loop_times(handle, count: int) -> np.ndarray | None:
    """Times [s] of the time points from the time loop's period(s)."""
    loop = _loop(handle, "TimeLoop")
    if loop is not None:
        parameters = loop.parameters
        period = parameters.periodDiff.avg if parameters.periodDiff is not None else None
        if not period or period <= 0:
            period = parameters.periodMs
        return interval_times(count, period * 1e-3 if period else None)
    loop = _loop(handle, "NETimeLoop")
    if loop is None:
        return None
    times, start = [], 0.0
    for phase in loop.parameters.periods:
        period = phase.periodDiff.avg if phase.periodDiff is not None else None
        period = period if period and period > 0 else phase.periodMs
        if not period or period <= 0:
            return None
        times.extend(start + np.arange(int(phase.count)) * period * 1e-3)
        start = times[-1] + period * 1e-3 if times else start
    return np.asarray(times[:count]) if len(times) >= count else None


def _describe(handle, path: Path, scene: int) -> PlaneStack:
    where = path.name
    sizes = dict(handle.sizes)
    refuse_axes(path, KIND, {axis: sizes.get(axis, 1) for axis in OTHER_AXES}, OTHER_AXES)
    unknown = sorted(set(sizes) - set("TPZCYX") - set(OTHER_AXES))
    if unknown:
        raise FileFormatError(f"{where}: the file has axes the app does not read "
                              f"({', '.join(unknown)})")
    declared = check_axes(path, {"T": sizes.get("T", 1), "C": sizes.get("C", 1),
                                 "Z": sizes.get("Z", 1), "scenes": sizes.get("P", 1)})
    names = _position_names(handle)
    scene = choose_scene(path, scene, names)
    coordinate_axes = [axis for axis in sizes if axis not in FRAME_AXES]
    coordinate_shape = tuple(int(sizes[axis]) for axis in coordinate_axes)

    def sequence_index(t: int, z: int) -> int:
        if not coordinate_axes:
            return 0
        coordinates = tuple({"T": t, "Z": z, "P": scene}[axis] for axis in coordinate_axes)
        return int(np.ravel_multi_index(coordinates, coordinate_shape))

    notes: list[str] = []
    recorded = int(handle.attributes.sequenceCount)
    expected = int(np.prod(coordinate_shape, dtype=np.int64)) if coordinate_shape else 1
    if recorded < expected:  # an acquisition stopped before its loops ended
        per_time_point = expected // declared["T"]
        complete = recorded // per_time_point
        if not coordinate_axes or coordinate_axes[0] != "T" or complete < 1:
            raise FileFormatError(f"{where}: the file holds {recorded} of the {expected} "
                                  "frames its experiment loops declare")
        notes.append(f"the acquisition stopped early: {complete} of {declared['T']} time "
                     "points are complete; only those are read")
        declared["T"] = complete
    pixel_size, z_step = _calibration(handle, notes)
    z_step = z_step_note(z_step, declared["Z"], notes)

    stamps = []
    for t in range(declared["T"]):
        frame = handle.frame_metadata(sequence_index(t, 0))
        channels = getattr(frame, "channels", None)
        if not channels:
            break
        stamps.append(channels[0].time.relativeTimeMs)
    stamps = relative_times(stamps, 1e-3) if len(stamps) == declared["T"] else None
    if stamps is not None and declared["T"] > 1 and not np.all(np.diff(stamps) > 0):
        notes.append("the frames' time stamps do not increase; the time loop's period is used")
        stamps = None
    loop_times = _loop_times(handle, declared["T"])
    if stamps is None and loop_times is not None:
        times, time_source = loop_times, "frame interval"
    else:
        times, time_source = times_and_source(declared["T"], stamps, None, notes)

    channel_names, channel_colours = [], []
    described = handle.metadata.channels or []
    if len(described) == declared["C"]:
        channel_names = [(meta.channel.name or "").strip() or f"Channel {index + 1}"
                         for index, meta in enumerate(described)]
        channel_colours = [hex_colour(*tuple(meta.channel.color)[:3])
                           if meta.channel.color is not None else None
                           for meta in described]
    lock = threading.Lock()  # one file handle; the GUI may read from a worker thread
    several_channels = declared["C"] > 1

    def read_plane(t: int, c: int, z: int) -> np.ndarray:
        with lock:
            frame = handle.read_frame(sequence_index(t, z))
        return frame[c] if several_channels else frame

    return PlaneStack(
        path=path, kind=KIND,
        sizes={"T": declared["T"], "C": declared["C"], "Z": declared["Z"],
               "Y": int(sizes["Y"]), "X": int(sizes["X"])},
        dtype=np.dtype(handle.dtype), read_plane=read_plane, pixel_size=pixel_size,
        z_step=z_step, times=times, time_source=time_source, channel_names=channel_names,
        channel_colours=channel_colours, scene=scene, scene_names=names, notes=notes,
        close=handle.close)


__all__ = ["open_stack", "scene_names"]
