"""Synthetic bleaching series with a known decay, for tests, benchmarks and demos."""

from __future__ import annotations

import os

import h5py
import numpy as np

from ..fastwrite import FrameWriter
from ..h5io import atomic_output


def blob(shape: tuple[int, int], sigma_fraction: float = 0.15) -> np.ndarray:
    """A Gaussian "cell" in the middle of the frame, peak 1."""
    rows, cols = np.indices(shape, dtype=float)
    sigma = sigma_fraction * min(shape)
    return np.exp(-((rows - shape[0] / 2) ** 2 + (cols - shape[1] / 2) ** 2) / (2 * sigma**2))


def bleaching_frame(index: int, time: float, shape: tuple[int, int], *, rate: float,
                    signal: float = 1000.0, plateau: float = 0.0, background: float = 100.0,
                    noise: float = 5.0, slow_fraction: float = 0.0, seed: int = 0) -> np.ndarray:
    """One camera frame of a bleaching "cell".

    ``background + (signal·[(1 − f)·exp(−rate·t) + f·exp(−rate·t/10)] + plateau)·blob``
    plus Gaussian noise, rounded to whole counts as a camera delivers them
    (``f`` = `slow_fraction`, a second population bleaching ten times slower).
    The noise of frame `index` is reproducible from `seed`.
    """
    rng = np.random.default_rng((seed, index))
    decay = (1 - slow_fraction) * np.exp(-rate * time) + slow_fraction * np.exp(-rate * time / 10)
    level = signal * decay + plateau
    image = background + level * blob(shape) + rng.normal(0.0, noise, shape)
    return np.round(image).astype(np.float32)


def write_bleaching_series(path: str | os.PathLike, times, shape=(64, 64), *, rate: float,
                           overwrite: bool = False, with_times: bool = True,
                           **frame_options) -> None:
    """Write a synthetic bleaching series (one frame per entry of `times`) to `path`."""
    with atomic_output(path, overwrite=overwrite) as temporary:
        with h5py.File(temporary, "w") as handle, FrameWriter(handle) as writer:
            for index, time in enumerate(np.asarray(times, dtype=float)):
                meta = {"time": float(time), "pixel size": 1e-7} if with_times else {}
                writer.submit(bleaching_frame(index, time, shape, rate=rate, **frame_options),
                              meta)
