"""What every vendor reader shares: refusals, limits, units, colours, scenes.

The readers of microscope formats are third-party libraries that were not
written for untrusted input.  Everything a reader reports passes through the
functions here before it becomes a :class:`~flimage_app.model.planes.PlaneStack`:
axis sizes are checked against fixed limits before anything is allocated,
and any exception a library raises becomes one :class:`FileFormatError` line
naming the file.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError

#: largest size a file may declare for one non-image axis.  Real acquisitions
#: stay far below (a 24 h series at 1 frame/s is 86 400 time points); a larger
#: number is a damaged or hostile header, refused before anything is built.
MAX_AXIS_SIZE = {"T": 1_000_000, "C": 64, "Z": 100_000, "scenes": 100_000}

#: most planes (T × C × Z) one scene may declare
MAX_PLANES = 10_000_000

#: the install extra that brings each format's reader (pyproject.toml)
EXTRAS = {"CZI": "czi", "ND2": "nd2", "LIF": "lif", "OME-Zarr": "zarr"}

#: what the user calls each format in messages
FORMAT_NAMES = {"CZI": "Zeiss CZI", "ND2": "Nikon ND2", "LIF": "Leica LIF",
                "OME-Zarr": "OME-Zarr"}

#: length units of OME-NGFF and OME-XML → metres
LENGTH_UNITS = {
    "angstrom": 1e-10, "Å": 1e-10, "nanometer": 1e-9, "nm": 1e-9,
    "micrometer": 1e-6, "micron": 1e-6, "µm": 1e-6, "μm": 1e-6, "um": 1e-6,
    "millimeter": 1e-3, "mm": 1e-3, "centimeter": 1e-2, "cm": 1e-2,
    "meter": 1.0, "m": 1.0,
}

#: time units → seconds
TIME_UNITS = {
    "nanosecond": 1e-9, "ns": 1e-9, "microsecond": 1e-6, "µs": 1e-6, "us": 1e-6,
    "millisecond": 1e-3, "ms": 1e-3, "second": 1.0, "s": 1.0, "sec": 1.0,
    "minute": 60.0, "min": 60.0, "hour": 3600.0, "h": 3600.0, "day": 86400.0,
}

#: a pixel larger than this is not a microscope's (a unit written wrong)
MAX_PIXEL_SIZE_M = 1e-3


def first_line(exc: BaseException) -> str:
    """``"TypeName: first line of the message"`` of a library's exception."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    if len(text) > 200:
        text = text[:200] + "…"
    return f"{type(exc).__name__}{': ' + text if text else ''}"


def missing_reader(path: Path, kind: str, package: str) -> FileFormatError:
    """The one-line refusal when the optional reader of `kind` is not installed."""
    return FileFormatError(
        f"{path.name}: reading {FORMAT_NAMES[kind]} files needs the optional reader "
        f"{package}: pip install 'flimage-app[{EXTRAS[kind]}]'")


def import_reader(path: Path, kind: str, package: str, module: str) -> Any:
    """Import the third-party reader `module`, or refuse naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing_reader(path, kind, package) from None


@contextlib.contextmanager
def reading(path: Path, kind: str) -> Iterator[None]:
    """Turn any failure of a third-party reader inside the block into one line.

    The app's own refusals (:class:`FileFormatError`) pass unchanged; anything
    else — a library's ValueError on a damaged header, a KeyError in its
    metadata parser, a MemoryError from an absurd declared size — becomes
    ``"x.czi: not a readable Zeiss CZI file (ValueError: …)"``.
    """
    try:
        yield
    except FileFormatError:
        raise
    except (Exception, MemoryError) as exc:  # a library's failure is one line
        raise FileFormatError(f"{path.name}: not a readable {FORMAT_NAMES[kind]} file "
                              f"({first_line(exc)})") from None


def check_axes(path: Path, sizes: dict[str, int]) -> dict[str, int]:
    """Refuse declared T / C / Z sizes beyond :data:`MAX_AXIS_SIZE` or :data:`MAX_PLANES`.

    Runs before a PlaneStack (which checks the plane's pixels against the
    memory budget) is built, so that no list of per-time-point values is sized
    from a hostile header.
    """
    checked = {}
    for axis, size in sizes.items():
        try:
            value = int(size)
        except (TypeError, ValueError, OverflowError):
            raise FileFormatError(f"{path.name}: the file declares a {axis} size of "
                                  f"{size!r}") from None
        if value < 1:
            raise FileFormatError(f"{path.name}: the file declares an empty {axis} axis "
                                  f"(size {value})")
        limit = MAX_AXIS_SIZE.get(axis)
        if limit is not None and value > limit:
            raise FileFormatError(f"{path.name}: the file declares {value:,} along {axis} "
                                  f"(at most {limit:,} are read); the header is damaged")
        checked[axis] = value
    planes = math.prod(checked.get(axis, 1) for axis in "TCZ")
    if planes > MAX_PLANES:
        raise FileFormatError(f"{path.name}: the file declares {planes:,} planes "
                              f"(at most {MAX_PLANES:,} are read); the header is damaged")
    return checked


def refuse_axes(path: Path, kind: str, extra: dict[str, int], meaning: dict[str, str]) -> None:
    """Refuse axes beyond T, C, Z, Y, X that have more than one entry, in one line."""
    present = {axis: size for axis, size in extra.items() if size > 1}
    if present:
        listed = ", ".join(f"{meaning.get(axis, axis)} ({axis}={size})"
                           for axis, size in present.items())
        raise FileFormatError(f"{path.name}: this {FORMAT_NAMES[kind]} file has axes the app "
                              f"does not read: {listed}; export it as T/C/Z planes first")


def choose_scene(path: Path, scene: int, names: Sequence[str]) -> int:
    """`scene` checked against the scenes of the file (one-line refusal naming them)."""
    if isinstance(scene, bool) or not isinstance(scene, (int, np.integer)):
        raise FileFormatError(f"{path.name}: scene must be a whole number, not {scene!r}")
    scene = int(scene)
    if not 0 <= scene < len(names):
        shown = ", ".join(f"{index}: {name}" for index, name in enumerate(names[:10]))
        more = f", … ({len(names)} in all)" if len(names) > 10 else ""
        raise FileFormatError(f"{path.name}: there is no scene {scene}; the file has "
                              f"{len(names)} scene{'s' if len(names) != 1 else ''} "
                              f"({shown}{more})")
    return scene


def length_in_metres(value: Any, factor: float) -> float | None:
    """A positive finite length × `factor` [m], or None."""
    try:
        metres = float(value) * factor
    except (TypeError, ValueError, OverflowError):
        return None
    return metres if math.isfinite(metres) and metres > 0 else None


def pixel_size_note(pixel_size: float | None, notes: list[str],
                    y_size: float | None = None) -> float | None:
    """The X pixel size checked for plausibility; notes for what the user should know."""
    if pixel_size is None:
        notes.append("the file gives no pixel size")
        return None
    if pixel_size > MAX_PIXEL_SIZE_M:
        notes.append(f"the file's pixel size of {pixel_size:g} m is not a microscope's "
                     "(a unit written wrong?); it is not used")
        return None
    if y_size is not None and not math.isclose(pixel_size, y_size, rel_tol=1e-3):
        notes.append(f"pixels are not square ({pixel_size:g} m × {y_size:g} m); "
                     "the X size is used")
    return pixel_size


def z_step_note(z_step: float | None, planes: int, notes: list[str]) -> float | None:
    """The Z step checked for plausibility (None for a single plane)."""
    if planes <= 1:
        return None
    if z_step is None:
        notes.append("the file gives no Z step")
        return None
    if z_step > MAX_PIXEL_SIZE_M:
        notes.append(f"the file's Z step of {z_step:g} m is not a microscope's "
                     "(a unit written wrong?); it is not used")
        return None
    return z_step


def hex_colour(red: Any, green: Any, blue: Any) -> str | None:
    """``"#rrggbb"`` from three 0–255 components, or None if they are not that."""
    try:
        parts = [int(round(float(value))) for value in (red, green, blue)]
    except (TypeError, ValueError, OverflowError):
        return None
    if not all(0 <= value <= 255 for value in parts):
        return None
    return "#" + "".join(f"{value:02x}" for value in parts)


_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def parse_hex_colour(text: Any, alpha_first: bool = False) -> str | None:
    """``"#rrggbb"`` from ``"RRGGBB"``, ``"#RRGGBB"`` or 8 digits (alpha first or last)."""
    if not isinstance(text, str):
        return None
    match = _HEX.match(text.strip())
    if not match:
        return None
    digits = match.group(1).lower()
    if len(digits) == 8:
        digits = digits[2:] if alpha_first else digits[:6]
    return "#" + digits


def relative_times(stamps: Sequence[float] | np.ndarray, factor: float = 1.0) -> np.ndarray | None:
    """Time stamps × `factor` relative to the first one, or None if any is not finite."""
    values = np.asarray(stamps, dtype=float) * factor
    if values.size == 0 or not np.all(np.isfinite(values)):
        return None
    return values - values[0]


def interval_times(count: int, interval: float | None) -> np.ndarray | None:
    """``0, dt, 2 dt, …`` for `count` time points, or None without a usable interval."""
    if interval is None or not math.isfinite(interval) or interval <= 0:
        return None
    return np.arange(count, dtype=float) * interval


def times_and_source(count: int, stamps: np.ndarray | None, interval: float | None,
                     notes: list[str]) -> tuple[np.ndarray | None, str]:
    """(times, time_source): the plane time stamps, else the frame interval, else none."""
    if stamps is not None and len(stamps) == count:
        return stamps, "plane time stamps"
    times = interval_times(count, interval)
    if times is not None:
        return times, "frame interval"
    if count > 1:
        notes.append("the file gives no time stamps and no frame interval")
    return None, "none"


def closer(*functions: Callable[[], Any]) -> Callable[[], None]:
    """One function calling every close function, even when one fails."""
    def close() -> None:
        for function in functions:
            with contextlib.suppress(Exception):
                function()
    return close
