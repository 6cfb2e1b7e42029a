"""Export a hyperstack as an ImageJ hyperstack TIFF that Fiji opens as a composite.

Axes TCYX (one Z plane) or TZCYX, ImageJ's order (channels fastest, then Z,
then time).  The ImageJ metadata carry what Fiji reads: ``mode=composite``,
one LUT per channel from its colour (grey where the source gave none), the
display range of every channel (from its first time point), the frame
interval ``finterval`` [s], the pixel size (resolution, unit µm) and the Z
``spacing`` [µm], and a label per image ``"<channel name>, t=<time> s"``,
which :func:`flimage_app.model.tiffio.inspect_planes` reads back (channel
names and exact times).  Planes are streamed: memory stays a few planes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile

from .. import __version__
from .channel_colours import channel_colours
from .errors import Cancelled, FileFormatError
from .export_report import ExportReport, IntegerConverter, resolve_dtype
from .h5io import atomic_output
from .hyperstack import Hyperstack
from .progress import Cancel, Progress, start_pass
from .tiffio import frame_interval

#: grey, for channels without a colour
GREY = "#ffffff"


def colour_lut(colour: str | None) -> np.ndarray:
    """ImageJ LUT (3 × 256 uint8) that runs from black to `colour` ("#rrggbb")."""
    colour = colour or GREY
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    ramp = np.arange(256, dtype=np.float64) / 255.0
    return np.round(np.outer(rgb, ramp)).astype(np.uint8)


def _plane(hs: Hyperstack, c: int, z: int, t: int, raw: bool) -> np.ndarray:
    fli = hs.series(c, z).get_flimage(t)
    image = fli.raw_fl if raw else fli.fl
    if image.shape != hs.frame_shape:
        raise FileFormatError(f"{Path(hs.filename).name}: channel {c}, plane {z}, frame {t} has "
                              f"shape {image.shape}, the stack {hs.frame_shape}")
    return image


def hyperstack_metadata(hs: Hyperstack, raw: bool, dtype: str
                        ) -> tuple[dict, tuple[float, float] | None]:
    """ImageJ metadata and resolution [px/µm] of the export of `hs`."""
    times = hs.times()
    names = hs.channel_names
    metadata: dict = {"axes": "TZCYX" if hs.n_planes > 1 else "TCYX", "mode": "composite",
                      # the colours the app shows, so that Fiji shows the same composite
                      "LUTs": [colour_lut(colour) for colour in
                               channel_colours(hs.channel_colours, names)]}
    step = frame_interval(times)
    if step is not None:
        metadata.update(finterval=step, tunit="sec")
    if np.all(np.isfinite(times)):
        # repr keeps every digit: inspect_planes reads the times back exactly
        metadata["Labels"] = [f"{names[c]}, t={float(t)!r} s" for t in times
                              for _ in range(hs.n_planes) for c in range(hs.n_channels)]
    else:
        metadata["Labels"] = [names[c] for _ in times for _ in range(hs.n_planes)
                              for c in range(hs.n_channels)]
    pixel_size = hs.pixel_size()
    resolution = None
    if pixel_size:
        resolution = (1e-6 / pixel_size, 1e-6 / pixel_size)
        metadata["unit"] = "um"
    if hs.n_planes > 1 and hs.z_step:
        metadata["spacing"] = hs.z_step / 1e-6
        metadata["unit"] = "um"
    metadata["Ranges"] = _display_ranges(hs, raw, dtype)
    metadata["Info"] = (f"Exported by flimage-app {__version__} from {Path(hs.filename).name}\n"
                        f"data: {'raw' if raw else 'background-corrected'} fluorescence\n"
                        f"channels: {', '.join(names)}")
    return metadata, resolution


def _display_ranges(hs: Hyperstack, raw: bool, dtype: str) -> list[float]:
    """(min, max) per channel over its planes at the first time point, flattened."""
    ranges: list[float] = []
    for c in range(hs.n_channels):
        low, high = np.inf, -np.inf
        for z in range(hs.n_planes):
            image = _plane(hs, c, z, 0, raw)
            finite = image[np.isfinite(image)]
            if finite.size:
                low, high = min(low, float(finite.min())), max(high, float(finite.max()))
        if not np.isfinite(low):
            low, high = 0.0, 1.0
        if dtype != "float32":
            limits = np.iinfo(dtype)
            low, high = (float(np.clip(np.floor(v + 0.5), limits.min, limits.max))
                         for v in (low, high))
        ranges.extend([low, high if high > low else low + 1.0])
    return ranges


def export_hyperstack_tiff(hs: Hyperstack, path: str | os.PathLike, *, dtype: str = "float32",
                           raw: bool = False, overwrite: bool = False,
                           progress: Progress | None = None,
                           cancel: Cancel | None = None) -> ExportReport:
    """Write every channel and plane of `hs` as one ImageJ hyperstack TIFF.

    Parameters
    ----------
    hs : Hyperstack
    path : path
        The ``.tif`` to write (through ``atomic_output``).
    dtype : {"float32", "input", "uint16", "uint8"}
        "input": the source's type as recorded (8- or 16-bit).  Integer types
        are rounded half up and clipped as Fiji converts; the clipped pixels
        are counted per channel in the report.
    raw : bool
        The raw fluorescence instead of the background-corrected.
    overwrite, progress, cancel
        As for every export; progress counts the planes of the pass "exporting".

    Returns
    -------
    ExportReport
    """
    kind = resolve_dtype(dtype, hs.source_dtype, Path(hs.filename).name)
    converter = IntegerConverter(kind, hs.n_channels) if kind != "float32" else None
    metadata, resolution = hyperstack_metadata(hs, raw, kind)
    total = hs.n_frames * hs.n_planes * hs.n_channels

    def planes() -> Iterator[np.ndarray]:
        start_pass(progress, "exporting")
        done = 0
        for t in range(hs.n_frames):
            for z in range(hs.n_planes):
                for c in range(hs.n_channels):
                    if cancel is not None and cancel():
                        raise Cancelled("Export cancelled")
                    image = _plane(hs, c, z, t, raw)
                    yield (converter(image, c) if converter is not None
                           else np.asarray(image, dtype=np.float32))
                    done += 1
                    if progress is not None:
                        progress(done, total)

    shape = (hs.n_frames, *((hs.n_planes,) if hs.n_planes > 1 else ()), hs.n_channels,
             *hs.frame_shape)
    with atomic_output(path, overwrite=overwrite) as temporary:
        # no bigtiff: ImageJ reads its own >4 GB layout (contiguous data), tifffile writes it
        tifffile.imwrite(temporary, planes(), shape=shape, dtype=np.dtype(kind), imagej=True,
                         resolution=resolution, metadata=metadata)
    if converter is not None:
        return converter.report(path, hs.channel_names)
    return ExportReport(Path(path), kind, hs.channel_names, [(0, 0)] * hs.n_channels,
                        [0] * hs.n_channels)


__all__ = ["colour_lut", "export_hyperstack_tiff", "hyperstack_metadata"]
