"""A multi-dimensional acquisition (time × channel × Z) read one plane at a time.

Every reader of a microscope's own format (CZI, ND2, LIF, OME-Zarr) and of
TIFF hyperstacks describes its file as a :class:`PlaneStack`: the sizes of
the T, C, Z, Y and X axes, the calibration in SI units, the channels' names
and colours, and a function that reads one (t, c, z) plane.  Everything above
the readers (import into HDF5, the GUI, the CLI) sees only this type, so a new
format is one reader, not a change everywhere.

:meth:`PlaneStack.read` is the reading boundary for these formats: it checks
the indices before the reader runs, and the plane's shape and type after, so
a reader that returns something other than what its file declared is refused
in one line instead of travelling on.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import validate
from .errors import FileFormatError

#: the axes of a plane stack, in index order
AXES = "TCZYX"

#: pixel types a plane may have (what the readers return)
PLANE_KINDS = "uifb"


@dataclass
class PlaneStack:
    """One scene of a multi-dimensional acquisition, read plane by plane.

    Attributes
    ----------
    path : Path
        The file (or the OME-Zarr folder).
    kind : str
        "CZI", "ND2", "LIF", "OME-Zarr", "OME-TIFF", "ImageJ TIFF", ...
    sizes : dict
        Size of every axis of :data:`AXES` (``{"T": 20, "C": 2, "Z": 3, "Y": 512, "X": 512}``);
        axes the file does not have are 1.
    dtype : numpy.dtype
        Pixel type of the planes as stored (e.g. uint16).
    read_plane : callable(t, c, z) -> ndarray
        The reader's own function; use :meth:`read`, which checks it.
    pixel_size : float or None
        Pixel size [m] (square pixels; the X size where they differ, with a note).
    z_step : float or None
        Distance between Z planes [m].
    times : ndarray or None
        Time [s] of every time point, shape (T,), relative to the first one.
    time_source : str
        Where `times` come from: "plane time stamps", "frame interval" or "none".
    channel_names : list of str
        One name per channel ("GFP", "Channel 1", ...).
    channel_colours : list of str or None
        One ``"#rrggbb"`` per channel, None where the file gives none.
    scene : int
        The scene (position, series) of the file this stack is.
    scene_names : list of str
        Names of all scenes of the file (one entry for a single-scene file).
    notes : list of str
        What the user should know (missing calibration, choices made).
    close : callable() or None
        Releases the reader's file handle.
    """

    path: Path
    kind: str
    sizes: dict[str, int]
    dtype: np.dtype
    read_plane: Callable[[int, int, int], np.ndarray]
    pixel_size: float | None = None
    z_step: float | None = None
    times: np.ndarray | None = None
    time_source: str = "none"
    channel_names: list[str] = field(default_factory=list)
    channel_colours: list[str | None] = field(default_factory=list)
    scene: int = 0
    scene_names: list[str] = field(default_factory=lambda: ["scene 0"])
    notes: list[str] = field(default_factory=list)
    close: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.dtype = np.dtype(self.dtype)
        missing = [axis for axis in AXES if axis not in self.sizes]
        if missing:
            raise ValueError(f"sizes lack the axes {', '.join(missing)}")
        self.sizes = {axis: int(self.sizes[axis]) for axis in AXES}
        where = self.path.name
        if any(size < 1 for size in self.sizes.values()):
            raise FileFormatError(f"{where}: the file declares an empty axis ({self.layout})")
        if self.dtype.kind not in PLANE_KINDS:
            raise FileFormatError(f"{where}: pixels of type {self.dtype} are not intensities")
        validate.check_frame_pixels(self.plane_shape, where)
        channels = self.sizes["C"]
        if not self.channel_names:
            self.channel_names = [f"Channel {c + 1}" for c in range(channels)]
        if not self.channel_colours:
            self.channel_colours = [None] * channels
        if len(self.channel_names) != channels or len(self.channel_colours) != channels:
            raise FileFormatError(f"{where}: {channels} channels, but "
                                  f"{len(self.channel_names)} channel names and "
                                  f"{len(self.channel_colours)} colours")
        if self.times is not None:
            self.times = np.asarray(self.times, dtype=float)
            if self.times.shape != (self.sizes["T"],) or not np.all(np.isfinite(self.times)):
                raise FileFormatError(f"{where}: the time stamps do not give one finite time "
                                      f"per time point ({self.sizes['T']} time points)")

    # ---------------------------------------------------------------- shape
    @property
    def plane_shape(self) -> tuple[int, int]:
        """(rows, columns) of every plane."""
        return (self.sizes["Y"], self.sizes["X"])

    @property
    def n_planes(self) -> int:
        """Number of 2D planes in the stack (T × C × Z)."""
        return self.sizes["T"] * self.sizes["C"] * self.sizes["Z"]

    @property
    def nbytes(self) -> int:
        """Bytes of all planes as stored."""
        return self.n_planes * math.prod(self.plane_shape) * self.dtype.itemsize

    @property
    def layout(self) -> str:
        """The sizes as text, e.g. ``"T=20, C=2, Z=3, 512 x 512 px"``."""
        sizes = self.sizes
        return (f"T={sizes['T']}, C={sizes['C']}, Z={sizes['Z']}, "
                f"{sizes['Y']} x {sizes['X']} px")

    # ---------------------------------------------------------------- reading
    def read(self, t: int, c: int = 0, z: int = 0) -> np.ndarray:
        """The plane at time point `t`, channel `c` and Z plane `z`, checked.

        Raises
        ------
        IndexError
            An index outside the stack.
        FileFormatError
            The reader failed, or returned a plane of another shape or type
            than the file declares.
        """
        for axis, value in zip("TCZ", (t, c, z), strict=True):
            if not 0 <= value < self.sizes[axis]:
                raise IndexError(f"{axis} index {value} is outside 0 to {self.sizes[axis] - 1}")
        where = f"{self.path.name}: plane t={t}, c={c}, z={z}"
        try:
            plane = np.asarray(self.read_plane(t, c, z))
        except (FileFormatError, MemoryError):
            raise
        except Exception as exc:  # a third-party reader's failure is one line, not a traceback
            text = str(exc).strip().splitlines()
            raise FileFormatError(f"{where} cannot be read ({type(exc).__name__}"
                                  f"{': ' + text[0] if text else ''})") from None
        plane = np.squeeze(plane) if plane.ndim > 2 else plane
        if plane.shape != self.plane_shape:
            raise FileFormatError(f"{where} has shape {plane.shape}, the file declares "
                                  f"{self.plane_shape}")
        if plane.dtype != self.dtype:
            raise FileFormatError(f"{where} has pixels of type {plane.dtype}, the file "
                                  f"declares {self.dtype}")
        return plane

    def calibrated(self, *, pixel_size: float | None = None,
                   interval: float | None = None) -> PlaneStack:
        """This stack with the pixel size [m] and / or the frame interval [s] the user gave.

        They override what the file says (``--pixel-size``, ``--interval``);
        the times become ``t * interval``, their source "frame interval (given)".
        """
        changes: dict = {}
        if pixel_size is not None:
            if not (math.isfinite(pixel_size) and pixel_size > 0):
                raise FileFormatError(f"pixel size must be a positive number of metres, "
                                      f"got {pixel_size}")
            changes["pixel_size"] = float(pixel_size)
        if interval is not None:
            if not (math.isfinite(interval) and interval > 0):
                raise FileFormatError(f"frame interval must be a positive number of seconds, "
                                      f"got {interval}")
            changes["times"] = interval * np.arange(self.sizes["T"], dtype=float)
            changes["time_source"] = "frame interval (given)"
        return dataclasses.replace(self, **changes) if changes else self

    def select(self, channel: int | None = None, plane: int | None = None) -> PlaneStack:
        """This stack with only `channel` and / or only Z `plane` (None keeps every one).

        The planes are still read through this stack (:meth:`read`, checked);
        closing either closes the file.

        Raises
        ------
        FileFormatError
            A channel or plane the stack does not have.
        """
        for name, value, axis in (("channel", channel, "C"), ("plane", plane, "Z")):
            if value is not None and not 0 <= value < self.sizes[axis]:
                raise FileFormatError(f"{self.path.name}: {name}={value} is out of range; the "
                                      f"file has {self.sizes[axis]} ({name} 0 to "
                                      f"{self.sizes[axis] - 1})")
        if channel is None and plane is None:
            return self
        sizes = dict(self.sizes)
        names, colours = self.channel_names, self.channel_colours
        if channel is not None:
            sizes["C"], names, colours = 1, [names[channel]], [colours[channel]]
        if plane is not None:
            sizes["Z"] = 1

        def read(t: int, c: int, z: int) -> np.ndarray:
            return self.read(t, c if channel is None else channel, z if plane is None else plane)

        return dataclasses.replace(self, sizes=sizes, read_plane=read, channel_names=names,
                                   channel_colours=colours,
                                   z_step=self.z_step if plane is None else None)

    def release(self) -> None:
        """Close the reader's file (idempotent)."""
        close, self.close = self.close, None
        if close is not None:
            close()

    def __enter__(self) -> PlaneStack:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


__all__ = ["AXES", "PlaneStack"]
