"""Regions of interest (ROIs) that say where an image's background is.

An ROI is a small immutable dataclass: a rectangle, an ellipse given by its
bounding box, a polygon, a free-hand outline (a polygon with many points) or
the border of the image, N pixels wide.  Each ROI has a ``role`` —
``"include"`` (this is background) or ``"exclude"`` (never background, e.g. a
cell drawn inside a larger rectangle) — and a ``name`` shown in lists.

Coordinates
-----------
Pixel coordinates in image pixels, ``x`` = column and ``y`` = row, with the
origin at the top-left *corner* of the image: pixel ``(row r, column c)``
covers the square ``c <= x < c + 1``, ``r <= y < r + 1``.  This is how a
pyqtgraph ``ImageItem`` with ``imageAxisOrder="row-major"`` places an array
(``data[r, c]`` is drawn on that square, so the ``pos``/``size`` of a
pyqtgraph ROI are directly these coordinates) and how ImageJ places pixels.

Pixel-centre rule
-----------------
Pixel ``(r, c)`` belongs to a shape when its centre ``(x, y) = (c + 0.5,
r + 0.5)`` lies inside the shape.  Edges are half-open for rectangles and
polygons (the left and top edges belong to the shape, the right and bottom
edges do not), so ``RectangleROI(x=X, y=Y, width=W, height=H)`` with
integers covers exactly the ``W × H`` pixels ``data[Y:Y+H, X:X+W]``, and two
polygons that share an edge never share a pixel.  An ellipse contains the
pixels whose centres lie inside or on its outline.  Shapes may extend beyond
the image; they are clipped to it.

Combining
---------
The background mask of a set of ROIs is the union of all include ROIs minus
the union of all exclude ROIs (:func:`combined_mask`).  A set with only
exclude ROIs means "the whole image except these".
"""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import h5py
import numpy as np

from . import validate
from .errors import FileFormatError, file_open_error
from .h5io import atomic_output
from .names import APP_GROUP, ROIS_DATASET

#: The two roles an ROI can have.
ROLES: tuple[str, ...] = ("include", "exclude")
#: Identifies ROI-set JSON documents written by the app.
SCHEMA_NAME = "flimage_app.rois"
#: Version of the JSON schema written by :func:`roiset_to_dict`; readers accept older ones.
SCHEMA_VERSION = 1
#: Name of the dataset (inside the app's HDF5 group APP_GROUP) that holds the ROI set.
H5_DATASET = ROIS_DATASET
#: Most ROIs read from one file (JSON set with its per-frame overrides, RoiSet .zip).
MAX_ROIS = 10_000
#: Most points of one outline read from a file (ImageJ's .roi holds at most 65,535).
MAX_ROI_POINTS = 1_000_000
#: Largest coordinate magnitude read from a file [pixels]; far outside any image.
MAX_ROI_COORDINATE = 1e9
#: Largest .roi file (or RoiSet entry) read: 65,535 sub-pixel points take about 1 MB.
MAX_ROI_FILE_BYTES = 4 * 2**20
#: Most (row, edge) crossings :func:`polygon_mask` evaluates; an honest outline crosses each
#: row a few times, a crafted zigzag of 200,000 points over 4,000 rows 800 million times.
MAX_RASTER_CROSSINGS = 50_000_000
#: Crossings evaluated at once (bounds the memory of one step to ~100 MB).
_RASTER_BATCH = 4_000_000
#: Short description of the coordinate convention, repeated in every JSON document.
COORDINATES_NOTE = ("image pixels; x = column, y = row, origin at the top-left corner; "
                    "pixel (r, c) covers c <= x < c+1, r <= y < r+1 and belongs to a shape "
                    "when its centre (c+0.5, r+0.5) lies inside (a centre on a polygon's "
                    "outline belongs to it on right and lower edges, as in ImageJ)")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"ROI role must be one of {ROLES}, got {role!r}")


def _check_box(kind: str, roi) -> None:
    """Validate a rectangle-like ROI: role, finite numbers, positive size."""
    _check_role(roi.role)
    if not _finite(roi.x, roi.y, roi.width, roi.height, roi.angle):
        raise ValueError(f"{kind} coordinates must be finite numbers")
    if roi.width <= 0 or roi.height <= 0:
        raise ValueError(f"{kind} needs a positive width and height, "
                         f"got {roi.width} x {roi.height}")


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


@dataclass(frozen=True)
class RectangleROI:
    """Rectangle with top-left corner ``(x, y)``, optionally rotated by `angle` degrees.

    The rotation turns the rectangle about its corner ``(x, y)`` (as a
    rotated pyqtgraph ``RectROI`` does), counter-clockwise in ``(x, y)``
    coordinates, which is clockwise on screen because ``y`` points down.
    """

    x: float
    y: float
    width: float
    height: float
    angle: float = 0.0
    role: str = "include"
    name: str = ""
    kind: ClassVar[str] = "rectangle"

    def __post_init__(self) -> None:
        _check_box("Rectangle", self)

    def corners(self) -> np.ndarray:
        """The four corners as an ``(4, 2)`` array of ``(x, y)``, in drawing order."""
        local = np.array([[0.0, 0.0], [self.width, 0.0],
                          [self.width, self.height], [0.0, self.height]])
        return _rotate(local, self.angle) + [self.x, self.y]

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean image of `shape`, True on the pixels whose centres lie in the rectangle."""
        if self.angle % 360 == 0:  # the polygon rule, without the polygon
            rows = _centres_after(self.y, self.y + self.height, shape[0])
            cols = _centres_after(self.x, self.x + self.width, shape[1])
            mask = np.zeros(shape, dtype=bool)
            mask[rows, cols] = True
            return mask
        return polygon_mask(self.corners(), shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (see :func:`roi_from_dict`)."""
        return {"kind": self.kind, "name": self.name, "role": self.role,
                "x": self.x, "y": self.y, "width": self.width, "height": self.height,
                "angle": self.angle}


@dataclass(frozen=True)
class EllipseROI:
    """Ellipse inscribed in the rectangle ``x, y, width, height`` (its bounding box).

    `angle` rotates the bounding box about its corner ``(x, y)``, as for
    :class:`RectangleROI` and pyqtgraph's ``EllipseROI``.
    """

    x: float
    y: float
    width: float
    height: float
    angle: float = 0.0
    role: str = "include"
    name: str = ""
    kind: ClassVar[str] = "ellipse"

    def __post_init__(self) -> None:
        _check_box("Ellipse", self)

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean image of `shape`, True on the pixels whose centres lie in the ellipse."""
        mask = np.zeros(shape, dtype=bool)
        corners = RectangleROI(self.x, self.y, self.width, self.height, self.angle).corners()
        # only pixels in the bounding box of the (rotated) box need testing
        rows = _half_open_range(corners[:, 1].min(), corners[:, 1].max() + 1, shape[0])
        cols = _half_open_range(corners[:, 0].min(), corners[:, 0].max() + 1, shape[1])
        if rows.start >= rows.stop or cols.start >= cols.stop:
            return mask
        yc = np.arange(rows.start, rows.stop, dtype=float)[:, None] + 0.5
        xc = np.arange(cols.start, cols.stop, dtype=float)[None, :] + 0.5
        # pixel centres in the ellipse's own (unrotated) frame
        dx, dy = xc - self.x, yc - self.y
        theta = math.radians(self.angle)
        u = dx * math.cos(theta) + dy * math.sin(theta)
        v = -dx * math.sin(theta) + dy * math.cos(theta)
        semi_u, semi_v = self.width / 2, self.height / 2
        inside = ((u - semi_u) / semi_u) ** 2 + ((v - semi_v) / semi_v) ** 2 <= 1.0
        mask[rows, cols] = inside
        return mask

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (see :func:`roi_from_dict`)."""
        return {"kind": self.kind, "name": self.name, "role": self.role,
                "x": self.x, "y": self.y, "width": self.width, "height": self.height,
                "angle": self.angle}


@dataclass(frozen=True)
class PolygonROI:
    """Closed polygon through `points`, a sequence of ``(x, y)`` vertices (at least 3).

    The last vertex is joined to the first.  Self-intersecting outlines are
    filled with the even-odd rule.
    """

    points: tuple[tuple[float, float], ...]
    role: str = "include"
    name: str = ""
    kind: ClassVar[str] = "polygon"

    def __post_init__(self) -> None:
        _check_role(self.role)
        points = tuple((float(x), float(y)) for x, y in self.points)
        object.__setattr__(self, "points", points)
        if len(points) < 3:
            raise ValueError(f"A {self.kind} needs at least 3 points, got {len(points)}")
        if not _finite(*(v for point in points for v in point)):
            raise ValueError(f"{self.kind.capitalize()} coordinates must be finite numbers")

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean image of `shape`, True on the pixels whose centres lie in the polygon."""
        return polygon_mask(np.asarray(self.points), shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (see :func:`roi_from_dict`)."""
        return {"kind": self.kind, "name": self.name, "role": self.role,
                "points": [list(point) for point in self.points]}


@dataclass(frozen=True)
class FreehandROI(PolygonROI):
    """An outline drawn by hand: a polygon with many points, kept apart for display."""

    kind: ClassVar[str] = "freehand"


@dataclass(frozen=True)
class BorderROI:
    """A frame `width_px` pixels wide along all four edges of the image."""

    width_px: int
    role: str = "include"
    name: str = ""
    kind: ClassVar[str] = "border"

    def __post_init__(self) -> None:
        _check_role(self.role)
        if int(self.width_px) != self.width_px or self.width_px < 1:
            raise ValueError(f"Border width must be a whole number of pixels >= 1, "
                             f"got {self.width_px}")
        object.__setattr__(self, "width_px", int(self.width_px))

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean image of `shape`, True in the outer `width_px` rows and columns."""
        mask = np.zeros(shape, dtype=bool)
        n = self.width_px
        mask[:n, :] = True
        mask[-n:, :] = True
        mask[:, :n] = True
        mask[:, -n:] = True
        return mask

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (see :func:`roi_from_dict`)."""
        return {"kind": self.kind, "name": self.name, "role": self.role,
                "width_px": self.width_px}


#: Any ROI shape.
ROI = RectangleROI | EllipseROI | PolygonROI | FreehandROI | BorderROI
#: ROI classes by their ``kind``.
ROI_KINDS: dict[str, type] = {cls.kind: cls for cls in
                              (RectangleROI, EllipseROI, PolygonROI, FreehandROI, BorderROI)}


# --------------------------------------------------------------------------- rasterisation

def _half_open_range(start: float, stop: float, size: int) -> slice:
    """Indices i in [0, size) whose centres i + 0.5 lie in [start, stop)."""
    first = max(0, math.ceil(start - 0.5))
    last = min(size, math.ceil(stop - 0.5))
    return slice(first, max(first, last))


def _centres_after(start: float, stop: float, size: int) -> slice:
    """Indices i in [0, size) whose centres i + 0.5 lie in (start, stop] (ImageJ's edge rule)."""
    first = max(0, math.floor(start - 0.5) + 1)
    last = min(size, math.floor(stop - 0.5) + 1)
    return slice(first, max(first, last))


def _rotate(points: np.ndarray, angle_deg: float) -> np.ndarray:
    theta = math.radians(angle_deg)
    rotation = np.array([[math.cos(theta), -math.sin(theta)],
                         [math.sin(theta), math.cos(theta)]])
    return points @ rotation.T


def polygon_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Rasterise a closed polygon of ``(x, y)`` vertices with the pixel-centre rule.

    A pixel is inside when its centre is (even-odd rule: a ray from the
    centre towards ``-x`` crosses the outline an odd number of times).  A
    centre exactly on the outline is decided as ImageJ's polygon filler
    does: outside on a left edge, inside on a right edge; outside on an
    upper (smaller ``y``) horizontal edge, inside on a lower one.  So
    crossings count where ``x < centre`` and edges cover the ``y`` range
    ``(min, max]``.  Vertices are taken in single precision, as ImageJ
    stores sub-pixel outlines, so that ties fall the same way more often.
    Only the (row, edge) pairs that cross are evaluated, in batches, so time
    and memory follow the crossings (a few per row for an honest outline),
    not rows × edges; more than :data:`MAX_RASTER_CROSSINGS` crossings raise
    ValueError.
    """
    points = np.asarray(points, dtype=float).astype(np.float32).astype(float)
    mask = np.zeros(shape, dtype=bool)
    if len(points) < 3:
        return mask
    rows = _half_open_range(points[:, 1].min(), points[:, 1].max() + 1, shape[0])
    if rows.start >= rows.stop:
        return mask
    x0, y0 = points[:, 0], points[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    # rows r whose centre r + 0.5 lies in (min(y0, y1), max(y0, y1)]: horizontal edges none
    low = np.clip(np.floor(np.minimum(y0, y1) - 0.5) + 1, rows.start, rows.stop).astype(np.int64)
    high = np.clip(np.floor(np.maximum(y0, y1) - 0.5) + 1, rows.start, rows.stop).astype(np.int64)
    counts = np.maximum(high - low, 0)
    total = int(counts.sum())
    if total > MAX_RASTER_CROSSINGS:
        raise ValueError(f"The outline of {len(points):,} points crosses the image rows "
                         f"{total:,} times, too many to rasterise (limit "
                         f"{MAX_RASTER_CROSSINGS:,}); simplify it")
    width = shape[1] + 1
    toggles = np.zeros((rows.stop - rows.start, width), dtype=np.uint8)
    flat_toggles = toggles.reshape(-1)
    edges = np.flatnonzero(counts)
    ends = np.cumsum(counts[edges])
    start = 0
    while start < edges.size:
        # the edges whose crossings fit in one batch
        stop = max(start + 1, int(np.searchsorted(ends, (ends[start - 1] if start else 0)
                                                  + _RASTER_BATCH, side="right")))
        batch = edges[start:stop]
        reps = counts[batch]
        edge = np.repeat(batch, reps)
        offsets = np.arange(edge.size) - np.repeat(np.cumsum(reps) - reps, reps)
        row = low[edge] + offsets
        yc = row + 0.5
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            x_cross = x0[edge] + (yc - y0[edge]) * (x1[edge] - x0[edge]) / (y1[edge] - y0[edge])
        # a crossing at x toggles inside/outside for every pixel c with c + 0.5 > x
        first_col = np.clip(np.nan_to_num(np.floor(x_cross - 0.5) + 1, nan=shape[1]), 0, shape[1])
        flat = (row - rows.start) * width + first_col.astype(np.int64)
        where, hits = np.unique(flat, return_counts=True)
        flat_toggles[where[hits % 2 == 1]] ^= 1
        start = stop
    mask[rows] = np.bitwise_xor.accumulate(toggles[:, :-1], axis=1).astype(bool)
    return mask


def roi_mask(roi: ROI, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of one ROI on an image of `shape` (its role is ignored here)."""
    return roi.mask(tuple(int(n) for n in shape))


def combined_mask(rois: Iterable[ROI], shape: tuple[int, int]) -> np.ndarray | None:
    """Union of the include ROIs minus the union of the exclude ROIs.

    Returns None when `rois` is empty (no region defined).  With exclude ROIs
    only, the include region is the whole image.
    """
    rois = list(rois)
    if not rois:
        return None
    shape = tuple(int(n) for n in shape)
    includes = [roi for roi in rois if roi.role == "include"]
    excludes = [roi for roi in rois if roi.role == "exclude"]
    if includes:
        mask = np.zeros(shape, dtype=bool)
        for roi in includes:
            mask |= roi.mask(shape)
    else:
        mask = np.ones(shape, dtype=bool)
    for roi in excludes:
        mask &= ~roi.mask(shape)
    return mask


# --------------------------------------------------------------------------- ROI sets

@dataclass(frozen=True)
class ROISet:
    """The background ROIs of a series, with the fit settings chosen with them.

    Parameters
    ----------
    rois
        ROIs used on every frame (the common case: regions follow the frame).
    overrides
        Frame index → ROIs used on that frame instead of `rois`.
    fit_profile, fit_offset
        Background model chosen with these regions (see
        :func:`flimage_app.model.background.estimate`).
    """

    rois: tuple[ROI, ...] = ()
    overrides: Mapping[int, tuple[ROI, ...]] = field(default_factory=dict)
    fit_profile: str = "tilt"
    fit_offset: str = "mean"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rois", tuple(self.rois))
        object.__setattr__(self, "overrides",
                           {int(k): tuple(v) for k, v in dict(self.overrides).items()})

    def rois_for_frame(self, index: int | None = None) -> tuple[ROI, ...]:
        """The ROIs that apply to frame `index` (the shared ones without an override)."""
        if index is not None and index in self.overrides:
            return self.overrides[index]
        return self.rois

    def mask(self, shape: tuple[int, int], index: int | None = None) -> np.ndarray | None:
        """Background mask of frame `index` (see :func:`combined_mask`); None without ROIs."""
        return combined_mask(self.rois_for_frame(index), shape)

    def signal_mask(self, shape: tuple[int, int], index: int | None = None) -> np.ndarray | None:
        """Where the signal of frame `index` is; None without ROIs.

        The exclude ROIs (cells drawn over the background) when there are any,
        else everything outside the background.  The bleach correction measures
        the fluorescence there (``region="signal"``).
        """
        rois = self.rois_for_frame(index)
        excludes = [roi for roi in rois if roi.role == "exclude"]
        if excludes:
            return np.logical_or.reduce([roi_mask(roi, shape) for roi in excludes])
        background = combined_mask(rois, shape)
        return None if background is None else ~background

    def is_empty(self) -> bool:
        """True when neither shared nor per-frame ROIs are defined."""
        return not self.rois and not any(self.overrides.values())

    def with_rois(self, rois: Iterable[ROI], index: int | None = None) -> ROISet:
        """A copy with the shared ROIs (``index=None``) or frame `index`'s override replaced."""
        if index is None:
            return replace(self, rois=tuple(rois))
        overrides = dict(self.overrides)
        overrides[int(index)] = tuple(rois)
        return replace(self, overrides=overrides)

    def without_override(self, index: int) -> ROISet:
        """A copy in which frame `index` uses the shared ROIs again."""
        overrides = {k: v for k, v in self.overrides.items() if k != index}
        return replace(self, overrides=overrides)


def unique_name(base: str, taken: Iterable[str]) -> str:
    """``"base N"`` with the smallest N >= 1 not in `taken`."""
    taken = set(taken)
    number = 1
    while f"{base} {number}" in taken:
        number += 1
    return f"{base} {number}"


# --------------------------------------------------------------------------- JSON

def roi_from_dict(data: Mapping[str, Any]) -> ROI:
    """Build an ROI from its :meth:`to_dict` form.

    Raises
    ------
    FileFormatError
        Unknown kind, missing or invalid fields.
    """
    if not isinstance(data, Mapping):
        raise FileFormatError(f"An ROI must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    cls = ROI_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise FileFormatError(f"Unknown ROI kind {str(kind)[:40]!r}; expected one of "
                              f"{', '.join(ROI_KINDS)}")
    name, role = data.get("name", ""), data.get("role", "include")
    if not isinstance(name, str) or len(name) > validate.MAX_TEXT_CHARS:
        raise FileFormatError(f"Invalid {kind} ROI: the name must be text of at most "
                              f"{validate.MAX_TEXT_CHARS} characters")
    common = {"role": role if isinstance(role, str) else repr(role)[:40], "name": name}
    try:
        if cls in (RectangleROI, EllipseROI):
            values = [_coordinate(data[key]) for key in ("x", "y", "width", "height")]
            return cls(*values, angle=_coordinate(data.get("angle", 0.0)), **common)
        if cls is BorderROI:
            width = data["width_px"]
            if isinstance(width, bool) or not isinstance(width, (int, float)):
                raise ValueError(f"the border width must be a number, got {width!r:.40}")
            return cls(width_px=width, **common)
        points = data["points"]
        if not isinstance(points, list) or len(points) > MAX_ROI_POINTS:
            raise ValueError(f"the points must be a list of at most {MAX_ROI_POINTS:,} [x, y] "
                             "pairs")
        return cls(points=_checked_points(points), **common)
    except KeyError as exc:
        raise FileFormatError(f"Invalid {kind} ROI {name[:40]!r}: missing {exc}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise FileFormatError(f"Invalid {kind} ROI {name[:40]!r}: {exc}") from None


def _coordinate(value: Any) -> float:
    """A coordinate read from a file: a finite number within :data:`MAX_ROI_COORDINATE`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"coordinates must be numbers, got {value!r:.40}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_ROI_COORDINATE:
        raise ValueError(f"coordinate {number!r} is not finite or beyond "
                         f"±{MAX_ROI_COORDINATE:g} pixels")
    return number


def _checked_points(points: Sequence[Any]) -> tuple[tuple[float, float], ...]:
    checked = []
    for point in points:
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise ValueError(f"every point must be an [x, y] pair, got {point!r:.40}")
        checked.append((_coordinate(point[0]), _coordinate(point[1])))
    return tuple(checked)


def roiset_to_dict(roiset: ROISet) -> dict[str, Any]:
    """JSON-ready form of an ROI set (schema :data:`SCHEMA_NAME`, :data:`SCHEMA_VERSION`)."""
    return {
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "coordinates": COORDINATES_NOTE,
        "fit_profile": roiset.fit_profile,
        "fit_offset": roiset.fit_offset,
        "rois": [roi.to_dict() for roi in roiset.rois],
        "frame_overrides": {str(k): [roi.to_dict() for roi in v]
                            for k, v in sorted(roiset.overrides.items())},
    }


def roiset_from_dict(data: Mapping[str, Any]) -> ROISet:
    """Inverse of :func:`roiset_to_dict`.

    Raises
    ------
    FileFormatError
        Not an ROI-set document, written by a newer app version, or invalid ROIs.
    """
    if not isinstance(data, Mapping) or data.get("schema") != SCHEMA_NAME:
        raise FileFormatError("Not an ROI set written by flimage-app "
                              f"(missing \"schema\": \"{SCHEMA_NAME}\")")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise FileFormatError(f"ROI set has an invalid schema version {version!r}")
    if version > SCHEMA_VERSION:
        raise FileFormatError(f"ROI set uses schema version {version}; this flimage-app reads "
                              f"up to {SCHEMA_VERSION} — please update")
    shared, per_frame = data.get("rois", []), data.get("frame_overrides", {})
    if not isinstance(shared, list) or not isinstance(per_frame, Mapping) or not all(
            isinstance(v, list) for v in per_frame.values()):
        raise FileFormatError("Invalid ROI set: \"rois\" must be a list and "
                              "\"frame_overrides\" an object of lists")
    count = len(shared) + sum(len(v) for v in per_frame.values())
    if count > MAX_ROIS:
        raise FileFormatError(f"Invalid ROI set: {count:,} ROIs (at most {MAX_ROIS:,} are read)")
    overrides = {}
    for key, value in per_frame.items():
        if not str(key).isdigit():
            raise FileFormatError(f"Invalid ROI set: frame {str(key)[:20]!r} is not a frame "
                                  "number")
        overrides[int(key)] = tuple(roi_from_dict(r) for r in value)
    rois = tuple(roi_from_dict(r) for r in shared)
    settings = {key: data.get(key, default) for key, default in
                (("fit_profile", "tilt"), ("fit_offset", "mean"))}
    for key, value in settings.items():
        if not isinstance(value, str) or len(value) > 40:
            raise FileFormatError(f"Invalid ROI set: {key} must be a short text, "
                                  f"got {value!r:.40}")
    return ROISet(rois=rois, overrides=overrides, **settings)


def roiset_to_json(roiset: ROISet) -> str:
    """The ROI set as indented JSON text."""
    return json.dumps(roiset_to_dict(roiset), indent=1)


def roiset_from_json(text: str) -> ROISet:
    """Parse JSON text written by :func:`roiset_to_json`."""
    return roiset_from_dict(validate.read_json_text(text, "ROI file", "the ROI set"))


def save_roiset_json(roiset: ROISet, path: str | os.PathLike, overwrite: bool = False) -> None:
    """Write the ROI set to a JSON file (atomically; an existing file needs `overwrite`)."""
    with atomic_output(path, overwrite=overwrite) as temporary:
        Path(temporary).write_text(roiset_to_json(roiset), encoding="utf-8")


def load_roiset_json(path: str | os.PathLike) -> ROISet:
    """Read an ROI set from a JSON file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > validate.MAX_JSON_BYTES:
            raise FileFormatError(f"{path.name}: an ROI file of {size:,} bytes is too large "
                                  f"(limit {validate.MAX_JSON_BYTES:,})")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"Cannot read ROI file {path}: {exc}") from None
    try:
        return roiset_from_json(text)
    except FileFormatError as exc:
        raise FileFormatError(f"{path.name}: {exc}") from None


# --------------------------------------------------------------------------- HDF5

def write_roiset(group: h5py.Group, roiset: ROISet) -> None:
    """Store the ROI set as JSON text in ``group/flimage_app/rois``.

    `group` is the series root (or an FLImage root for single images).  The
    app's own group keeps the ROIs away from flimage, which validates root
    attributes and sums everything in ``bg_data``.  Text in a dataset, not an
    attribute, because hand-drawn outlines exceed HDF5's 64 kB attribute limit.
    """
    app = group.require_group(APP_GROUP)
    if H5_DATASET in app:
        del app[H5_DATASET]
    app.create_dataset(H5_DATASET, data=roiset_to_json(roiset),
                       dtype=h5py.string_dtype("utf-8"))


def read_roiset(group: h5py.Group) -> ROISet | None:
    """The ROI set stored by :func:`write_roiset` in `group`, or None if there is none."""
    app = validate.member(group, APP_GROUP)
    if not isinstance(app, h5py.Group):
        return None
    stored = validate.member(app, H5_DATASET)
    if stored is None:
        return None
    where = validate.object_name(app, H5_DATASET)
    text = validate.read_text_dataset(stored, where, "an ROI set (JSON text)")
    try:
        return roiset_from_dict(validate.read_json_text(text, where, "the ROI set"))
    except FileFormatError as exc:
        message = str(exc)
        raise FileFormatError(message if message.startswith(where) else f"{where}: {message}"
                              ) from None


def save_roiset_h5(path: str | os.PathLike, roiset: ROISet) -> None:
    """Store the ROI set in an existing HDF5 file (the user asked to save into it)."""
    try:
        with h5py.File(path, "a") as h5:
            write_roiset(h5, roiset)
    except OSError as exc:
        raise FileFormatError(f"Cannot write ROIs into {path}: {exc}") from None


def load_roiset_h5(path: str | os.PathLike) -> ROISet | None:
    """The ROI set stored in an HDF5 file, or None; the file is opened read-only."""
    try:
        with h5py.File(path, "r") as h5:
            return read_roiset(h5)
    except OSError as exc:
        raise file_open_error(path, exc) from None


# --------------------------------------------------------------------------- ImageJ

def import_imagej(path: str | os.PathLike) -> list[ROI]:
    """Read ImageJ/Fiji ROIs from a ``.roi`` file or a RoiSet ``.zip`` as include ROIs.

    Rectangles and ovals keep their shape on ImageJ's whole-pixel bounds,
    also where the file stores sub-pixel bounds (the app's own export
    included: one file means the same pixels here and in Fiji); polygons,
    traced and rotated shapes become polygons;
    free-hand outlines become :class:`FreehandROI`; composite ROIs become one
    polygon per closed path.  Lines and points enclose no area and are
    skipped.  ImageJ uses the same pixel grid and the same rule for pixel
    centres on an outline as this module, and rectangles and ovals get the
    whole-pixel bounds on which ImageJ measures them, so the regions cover
    the same pixels as in Fiji.

    Raises
    ------
    FileFormatError
        The file cannot be read or holds no area ROI.
    """
    import roifile

    path = Path(path)
    if path.suffix.lower() not in (".roi", ".zip"):
        raise FileFormatError(f"{path.name}: ImageJ ROIs come as .roi or RoiSet .zip files")
    rois: list[ROI] = []
    for number, (entry, data) in enumerate(_imagej_entries(path), start=1):
        try:
            item = roifile.ImagejRoi.frombytes(data)
            role = _imagej_role(item)
            rois.extend(replace(roi, role=role)
                        for roi in _from_imagej(item, item.name or f"{path.stem} {number}"))
        except (ValueError, TypeError, IndexError, KeyError, OverflowError, struct.error,
                EOFError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FileFormatError(f"Cannot read ImageJ ROIs from {path.name}: {entry} is "
                                  f"truncated or damaged ({reason})") from None
    if not rois:
        raise FileFormatError(f"{path.name} holds no ROI that encloses an area")
    return rois


def _imagej_entries(path: Path) -> list[tuple[str, bytes]]:
    """(name, bytes) of each ROI in a .roi file or a RoiSet .zip, sizes checked first."""
    try:
        if path.suffix.lower() == ".roi":
            size = path.stat().st_size
            if size > MAX_ROI_FILE_BYTES:
                raise FileFormatError(f"{path.name}: {size:,} bytes is too large for an ImageJ "
                                      f"ROI (limit {MAX_ROI_FILE_BYTES:,})")
            return [("the ROI", path.read_bytes())]
        with zipfile.ZipFile(path) as archive:
            entries = [info for info in archive.infolist() if not info.is_dir()]
            if len(entries) > MAX_ROIS:
                raise FileFormatError(f"{path.name}: {len(entries):,} entries (at most "
                                      f"{MAX_ROIS:,} ROIs are read)")
            for info in entries:
                if info.file_size > MAX_ROI_FILE_BYTES:
                    raise FileFormatError(f"{path.name}: entry {info.filename[:60]!r} declares "
                                          f"{info.file_size:,} bytes (limit "
                                          f"{MAX_ROI_FILE_BYTES:,})")
            # reads stop at the declared size, so a lying entry cannot inflate further
            return [(f"entry {info.filename[:60]!r}", archive.read(info)) for info in entries]
    except FileFormatError:
        raise
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError,
            RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileFormatError(f"Cannot read ImageJ ROIs from {path.name}: {reason}") from None


def _from_imagej(item: Any, name: str) -> list[ROI]:
    from roifile import ROI_SUBTYPE, ROI_TYPE

    if item.composite:
        paths = [p for p in item.coordinates(multi=True) if len(p) >= 3]
        return [PolygonROI(points=_points(p), name=name if len(paths) == 1 else f"{name} {i}")
                for i, p in enumerate(paths, start=1)]
    rotated = item.subtype in (ROI_SUBTYPE.ELLIPSE, ROI_SUBTYPE.ROTATED_RECT)
    if item.roitype in (ROI_TYPE.RECT, ROI_TYPE.OVAL) and not rotated:
        x, y, width, height = _imagej_bounds(item)
        if width <= 0 or height <= 0:
            return []
        cls = RectangleROI if item.roitype == ROI_TYPE.RECT else EllipseROI
        return [cls(x=x, y=y, width=width, height=height, name=name)]
    if item.roitype in (ROI_TYPE.FREEHAND, ROI_TYPE.POLYGON, ROI_TYPE.TRACED):
        points = item.coordinates()
        if len(points) < 3:
            return []
        if item.roitype == ROI_TYPE.FREEHAND and not rotated:
            return [FreehandROI(points=_points(points), name=name)]
        return [PolygonROI(points=_points(points), name=name)]
    return []  # lines, angles, points, text: no area


def _imagej_bounds(item: Any) -> tuple[float, float, float, float]:
    """The whole-pixel bounds on which ImageJ measures a rectangle or an oval.

    With sub-pixel bounds stored, ImageJ's mask still uses integer bounds:
    x and y cut to integers (towards zero), width and height rounded up.
    """
    if item.subpixelrect and item.widthd > 0 and item.heightd > 0:
        return (float(int(item.xd)), float(int(item.yd)), float(math.ceil(item.widthd)),
                float(math.ceil(item.heightd)))
    return (float(item.left), float(item.top), float(item.right - item.left),
            float(item.bottom - item.top))


def _points(coordinates: Sequence[Sequence[float]]) -> tuple[tuple[float, float], ...]:
    if len(coordinates) > MAX_ROI_POINTS:
        raise ValueError(f"{len(coordinates):,} points (limit {MAX_ROI_POINTS:,})")
    points = [(_coordinate(x), _coordinate(y)) for x, y in coordinates]
    if len(points) > 3 and points[0] == points[-1]:
        points.pop()  # closed paths repeat their first point
    return tuple(points)


# --------------------------------------------------------------------------- any file

#: suffixes of the files :func:`load_roiset` reads
ROI_FILE_SUFFIXES: tuple[str, ...] = (".json", ".roi", ".zip", ".h5", ".hdf5", ".hdf")


def load_roiset(path: str | os.PathLike, imagej_role: str = "include") -> ROISet:
    """Read an ROI set from any file the app takes ROIs from, chosen by its suffix.

    Parameters
    ----------
    path : path
        The app's ROI JSON (``.json``), Fiji ROIs (``.roi``, RoiSet ``.zip``),
        or an HDF5 file holding an ROI set in ``flimage_app/rois`` (written by
        the ``background`` verb, the Background panel or File ▸ Save).
    imagej_role : {"include", "exclude"}
        Role given to Fiji ROIs, which carry none ("exclude": the cells drawn
        over the background).

    Raises
    ------
    FileFormatError
        Another kind of file, an unreadable one, or an HDF5 file without ROIs.
    """
    _check_role(imagej_role)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return load_roiset_json(path)
    if suffix in (".roi", ".zip"):
        return ROISet(rois=tuple(replace(roi, role=imagej_role) for roi in import_imagej(path)))
    if suffix in (".h5", ".hdf5", ".hdf"):
        roiset = load_roiset_h5(path)
        if roiset is None:
            raise FileFormatError(f"{path.name} holds no ROI set (flimage_app/rois): ROIs are "
                                  "stored there by the background verb and the app's Save")
        return roiset
    raise FileFormatError(f"{path.name}: ROIs are read from {', '.join(ROI_FILE_SUFFIXES)} "
                          "files (app JSON, Fiji .roi / RoiSet .zip, HDF5 with stored ROIs)")


# --------------------------------------------------------------------------- ImageJ export

#: ROI property (ImageJ ``Roi.setProperty``) that keeps the role through a Fiji round trip.
IMAGEJ_ROLE_PROPERTY = "flimage_app.role"
#: Outline colours written for Fiji (ARGB): include green, exclude red, as the app draws them.
IMAGEJ_STROKE_COLOURS = {"include": b"\xff\x3c\xdc\x5a", "exclude": b"\xff\xff\x46\x6e"}
#: Vertices of a rotated ellipse exported as a polygon (ImageJ's ovals cannot rotate).
ELLIPSE_POLYGON_VERTICES = 72


def _imagej_role(item: Any) -> str:
    """The role stored in an ImageJ ROI's properties by :func:`export_imagej` (else include)."""
    try:
        role = item.properties.get(IMAGEJ_ROLE_PROPERTY, "include")
    except (AttributeError, ValueError):
        return "include"
    return role if role in ROLES else "include"


def to_imagej(roi: ROI, shape: tuple[int, int] | None = None):
    """The ``roifile.ImagejRoi`` of `roi`, following ImageJ's conventions.

    Unrotated rectangles and ellipses become RECT / OVAL ROIs with integer bounds
    (ImageJ's own); bounds that are not whole pixels are kept as ImageJ's sub-pixel
    rectangle as well, which Fiji draws but measures on whole-pixel bounds (as
    :func:`import_imagej` reads it back).  Polygons and free-hand outlines keep
    sub-pixel vertices.
    A rotated rectangle becomes a polygon of its corners, a rotated ellipse a polygon
    of :data:`ELLIPSE_POLYGON_VERTICES` points, and a border (which needs the image
    `shape`) a polygon around the frame with the inner edge as a hole (joined by a
    zero-width cut; ImageJ fills polygons even-odd).  The role is stored as the ROI
    property ``flimage_app.role`` and shown as the outline colour.

    Raises
    ------
    ValueError
        A border ROI without `shape`.
    """
    from roifile import ROI_OPTIONS, ROI_TYPE, ImagejRoi

    if isinstance(roi, RectangleROI | EllipseROI) and roi.angle % 360 == 0:
        left, top = math.floor(roi.x + 0.5), math.floor(roi.y + 0.5)
        right = max(math.floor(roi.x + roi.width + 0.5), left + 1)
        bottom = max(math.floor(roi.y + roi.height + 0.5), top + 1)
        item = ImagejRoi(roitype=ROI_TYPE.RECT if isinstance(roi, RectangleROI)
                         else ROI_TYPE.OVAL, left=left, top=top, right=right, bottom=bottom)
        whole = all(float(v).is_integer() for v in (roi.x, roi.y, roi.width, roi.height))
        if not whole:
            item.version = max(item.version, 223)
            item.options |= ROI_OPTIONS.SUB_PIXEL_RESOLUTION
            item.xd, item.yd = float(roi.x), float(roi.y)
            item.widthd, item.heightd = float(roi.width), float(roi.height)
    else:
        points, roitype = _imagej_outline(roi, shape)
        item = ImagejRoi.frompoints(np.asarray(points, dtype=float))
        item.roitype = roitype
    item.name = roi.name or roi.kind
    item.stroke_color = IMAGEJ_STROKE_COLOURS[roi.role]
    item.properties = {IMAGEJ_ROLE_PROPERTY: roi.role}
    return item


def _imagej_outline(roi: ROI, shape: tuple[int, int] | None):
    """Vertices and ImageJ type of the ROIs that ImageJ stores as outlines."""
    from roifile import ROI_TYPE

    if isinstance(roi, FreehandROI):
        return roi.points, ROI_TYPE.FREEHAND
    if isinstance(roi, PolygonROI):
        return roi.points, ROI_TYPE.POLYGON
    if isinstance(roi, RectangleROI):
        return roi.corners(), ROI_TYPE.POLYGON
    if isinstance(roi, EllipseROI):
        t = np.linspace(0, 2 * np.pi, ELLIPSE_POLYGON_VERTICES, endpoint=False)
        local = np.column_stack([roi.width / 2 * (1 + np.cos(t)),
                                 roi.height / 2 * (1 + np.sin(t))])
        return _rotate(local, roi.angle) + [roi.x, roi.y], ROI_TYPE.POLYGON
    if isinstance(roi, BorderROI):
        if shape is None:
            raise ValueError(f"The border ROI {roi.name!r} needs the image size to be "
                             "exported for ImageJ")
        rows, columns = (int(n) for n in shape[:2])
        n = min(roi.width_px, rows // 2, columns // 2)
        outer = [(0, 0), (columns, 0), (columns, rows), (0, rows), (0, n)]
        inner = [(n, n), (n, rows - n), (columns - n, rows - n), (columns - n, n), (n, n),
                 (0, n)]
        return outer + inner, ROI_TYPE.POLYGON
    raise TypeError(f"No ImageJ form for {type(roi).__name__}")


def export_imagej(rois: Sequence[ROI], path: str | os.PathLike, *,
                  shape: tuple[int, int] | None = None, overwrite: bool = False) -> Path:
    """Write ROIs for ImageJ / Fiji: one ROI to a ``.roi`` file, any number to a RoiSet ``.zip``.

    See :func:`to_imagej` for the conventions; `shape` (rows, columns) is needed
    for border ROIs.  The file is written atomically and an existing one needs
    `overwrite`.  Names are made unique inside a zip (Fiji's ROI Manager needs that).

    Raises
    ------
    ValueError
        No ROIs, several ROIs for a ``.roi`` file, another suffix, or a border without `shape`.
    FileExistsError
        `path` exists and `overwrite` is False.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    rois = list(rois)
    if suffix not in (".roi", ".zip"):
        raise ValueError(f"{path.name}: ImageJ ROIs are written as .roi or RoiSet .zip files")
    if not rois:
        raise ValueError("There are no ROIs to export")
    if suffix == ".roi" and len(rois) != 1:
        raise ValueError(f"{path.name}: a .roi file holds one ROI; export {len(rois)} ROIs "
                         "as a RoiSet .zip")
    items = [to_imagej(roi, shape) for roi in rois]
    taken: set[str] = set()
    for item in items:
        if item.name in taken:
            item.name = unique_name(item.name, taken)
        taken.add(item.name)
    with atomic_output(path, overwrite=overwrite) as temporary:
        if suffix == ".roi":
            Path(temporary).write_bytes(items[0].tobytes())
        else:
            # a RoiSet as Fiji's ROI Manager saves it: one "<name>.roi" entry per ROI
            with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
                for item in items:
                    archive.writestr(f"{item.name}.roi", item.tobytes())
    return path
