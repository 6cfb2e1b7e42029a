"""Helpers for the GUI tests: series files on disk, waiting for frames."""

from __future__ import annotations

import numpy as np

from flimage_app.model import FLImage, FLSeries
from tests.synthetic import make_frames

PIXEL_SIZE = 0.25e-6


def write_series(path, count=5, shape=(32, 40), with_background=False, seed=0):
    """Write an FLSeries file of synthetic frames; frame i has time 2·i s.

    With `with_background`, every frame stores a constant "data" background of 10 + i.
    Returns the list of raw frames (float32, as stored).
    """
    frames = [frame.astype(np.float32) for frame in make_frames(count, shape, seed)]
    with FLSeries(h5file=path, h5mode="w") as series:
        for index, raw in enumerate(frames):
            image = FLImage(data=raw, meta_data={"time": 2.0 * index, "pixel size": PIXEL_SIZE,
                                                 "identifier": f"frame-{index}"})
            if with_background:
                image.set_bg_data(np.full(shape, 10.0 + index))
            series.add_flimage(image)
    return frames


def wait_for_frame(qtbot, main_window, index: int) -> None:
    """Wait until frame `index` is on display."""
    qtbot.waitUntil(lambda: main_window.current_frame() is not None
                    and main_window.current_frame().index == index, timeout=5000)
