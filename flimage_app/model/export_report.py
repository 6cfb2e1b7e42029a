"""What a TIFF export wrote, and the conversion to an integer type with clipping counted.

Fiji writes a corrected 16-bit stack in 16 bits: values rounded half up,
clipped to the type's range.  :class:`IntegerConverter` does the same
(:func:`flimage_app.model.tiffio.imagej_integer`'s rule) and counts, per
channel, the pixels clipped below the range, above it, and NaN pixels
(written as 0), so that the user is told what the integer file lost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: integer types ImageJ opens as they are (8- and 16-bit unsigned)
IMAGEJ_INTEGER_TYPES = ("uint8", "uint16")
#: the choices of an export's pixel type; "input" is the source's integer type
EXPORT_CHOICES = ("float32", "input", "uint16", "uint8")


@dataclass
class ExportReport:
    """The result of a TIFF export.

    It is also the written path (``os.PathLike``, and ``str()`` gives the
    path), so code that took the path returned by an export keeps working.

    Attributes
    ----------
    path : Path
    dtype : str
        Pixel type written ("float32", "uint16", "uint8").
    channel_names : list of str
    clipped : list of (int, int)
        Per channel: pixels below the type's range (set to its minimum) and
        above it (set to its maximum); zeros for float32.
    nan : list of int
        Per channel: NaN pixels written as 0 (integer types only).
    """

    path: Path
    dtype: str
    channel_names: list[str] = field(default_factory=lambda: ["series"])
    clipped: list[tuple[int, int]] = field(default_factory=lambda: [(0, 0)])
    nan: list[int] = field(default_factory=lambda: [0])

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return os.fspath(self.path)

    @property
    def total_clipped(self) -> int:
        """Pixels clipped or NaN, over all channels."""
        return sum(low + high for low, high in self.clipped) + sum(self.nan)

    def message(self) -> str | None:
        """One line for the user about clipping, or None when nothing was clipped."""
        if not self.total_clipped:
            return None
        limits = np.iinfo(self.dtype)
        parts = []
        for name, (low, high), nan in zip(self.channel_names, self.clipped, self.nan,
                                          strict=True):
            counts = [f"{low:,} below {limits.min}" if low else "",
                      f"{high:,} above {limits.max}" if high else "",
                      f"{nan:,} NaN written as 0" if nan else ""]
            counts = [text for text in counts if text]
            if counts:
                parts.append(f"{name}: {', '.join(counts)}" if len(self.channel_names) > 1
                             else ", ".join(counts))
        return (f"{self.total_clipped:,} pixels were clipped to the range of {self.dtype} "
                f"({'; '.join(parts)})")


class IntegerConverter:
    """Frames to an integer type as Fiji converts them, clipping counted per channel."""

    def __init__(self, dtype: str, channels: int = 1) -> None:
        self.dtype = np.dtype(dtype)
        self.limits = np.iinfo(self.dtype)
        self.low = [0] * channels
        self.high = [0] * channels
        self.nan = [0] * channels

    def __call__(self, image: np.ndarray, channel: int = 0) -> np.ndarray:
        values = np.floor(np.asarray(image, dtype=np.float64) + 0.5)
        nan = np.isnan(values)
        if nan.any():
            values[nan] = 0
            self.nan[channel] += int(np.count_nonzero(nan))
        self.low[channel] += int(np.count_nonzero(values < self.limits.min))
        self.high[channel] += int(np.count_nonzero(values > self.limits.max))
        return np.clip(values, self.limits.min, self.limits.max).astype(self.dtype)

    def report(self, path: str | os.PathLike, channel_names: list[str]) -> ExportReport:
        return ExportReport(Path(path), self.dtype.name, list(channel_names),
                            list(zip(self.low, self.high, strict=True)), list(self.nan))


def resolve_dtype(choice: str, source_dtype: str | None, where: str) -> str:
    """The pixel type of an export: `choice`, with "input" the source's integer type.

    "input" is the source's 8- or 16-bit type as it is, float32 for a float source.

    Raises
    ------
    ValueError
        An unknown `choice`, or "input" for a source whose type is not 8- or
        16-bit unsigned (ImageJ has no other integer images) or not known.
    """
    if choice not in EXPORT_CHOICES:
        raise ValueError(f"Unknown TIFF pixel type {choice!r}; choose one of "
                         f"{', '.join(EXPORT_CHOICES)}")
    if choice != "input":
        return choice
    if source_dtype in IMAGEJ_INTEGER_TYPES:
        return source_dtype
    if source_dtype in ("float32", "float64"):
        return "float32"  # a float source keeps ImageJ's float type
    if source_dtype is None:
        raise ValueError(f"{where}: the input's pixel type is not recorded; choose uint16, "
                         "uint8 or float32")
    raise ValueError(f"{where}: the input's pixels are {source_dtype}, which ImageJ has no "
                     "integer image for; choose uint16, uint8 or float32")


__all__ = ["EXPORT_CHOICES", "ExportReport", "IntegerConverter", "resolve_dtype"]
