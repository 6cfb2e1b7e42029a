"""Synthetic cells of known intensity and decay, for the measurement tests."""

from __future__ import annotations

import numpy as np

from flimage_app.model.flseries import FLSeries
from flimage_app.model.image import FLImage
from flimage_app.model.rois import EllipseROI, PolygonROI, RectangleROI

SHAPE = (64, 80)
#: centre (x, y), radius [px] and brightness of each cell at time 0
CELLS = (((20.0, 20.0), 9.0, 120.0), ((55.0, 22.0), 8.0, 60.0), ((38.0, 46.0), 10.0, 200.0))
RATE = 0.05  # bleaching rate [1/s]
INTERVAL = 2.0  # s
OFFSET = 10.0  # the background stored in every frame
NOISE = 1.0
PIXEL_SIZE = 2e-7


def cell_rois() -> list:
    """Measurement ROIs well inside each cell: an ellipse, a rectangle and a polygon."""
    (x1, y1), _, _ = CELLS[0]
    (x2, y2), _, _ = CELLS[1]
    (x3, y3), _, _ = CELLS[2]
    return [EllipseROI(x=x1 - 5, y=y1 - 5, width=10, height=10, name="cell A"),
            RectangleROI(x=x2 - 4, y=y2 - 4, width=8, height=8),
            PolygonROI(points=((x3 - 6, y3 - 3.5), (x3 + 5.5, y3 - 5), (x3 + 3, y3 + 6),
                               (x3 - 4.5, y3 + 5)))]


def truth(frame: int) -> np.ndarray:
    """The noise-free fluorescence above the background of each cell at `frame`."""
    decay = np.exp(-RATE * INTERVAL * frame)
    return np.array([brightness * decay for _, _, brightness in CELLS])


def cell_frames(count: int = 12, seed: int = 3) -> list[np.ndarray]:
    """Frames: flat cells (uniform disks) that bleach, on the background OFFSET, with noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(SHAPE) + 0.5
    frames = []
    for frame in range(count):
        image = np.full(SHAPE, OFFSET)
        for ((x, y), radius, _), level in zip(CELLS, truth(frame), strict=True):
            image[(cols - x) ** 2 + (rows - y) ** 2 <= radius ** 2] += level
        frames.append((image + rng.normal(0, NOISE, SHAPE)).astype(np.float32))
    return frames


def write_cell_series(path, count: int = 12, stored_background: bool = True,
                      times: bool = True) -> list[np.ndarray]:
    """Write the cells as an FLSeries file (background OFFSET stored in every frame)."""
    frames = cell_frames(count)
    with FLSeries(h5file=str(path), h5mode="w") as series:
        for index, data in enumerate(frames):
            meta = {"pixel size": PIXEL_SIZE}
            if times:
                meta["time"] = INTERVAL * index
            image = FLImage(data=data, meta_data=meta)
            if stored_background:
                image.set_bg_data(np.full(SHAPE, OFFSET))
            series.add_flimage(image)
    return frames
