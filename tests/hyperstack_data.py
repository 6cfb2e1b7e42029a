"""Plane stacks with known values for the hyperstack tests (T × C × Z of small planes)."""

from __future__ import annotations

import numpy as np

from flimage_app.model.planes import PlaneStack

#: time constant [s] of the synthetic bleaching, different per channel
TAUS = (30.0, 60.0, 90.0)


def bleaching_planes(frames: int = 20, channels: int = 2, planes: int = 3, shape=(24, 32),
                     interval: float = 2.0, seed: int = 1) -> np.ndarray:
    """uint16 data (T, C, Z, Y, X): a bright cell on a dim background, fading per channel."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    cell = np.exp(-((rows - shape[0] / 2) ** 2 + (cols - shape[1] / 2) ** 2) / 40.0)
    data = np.empty((frames, channels, planes, *shape), dtype=np.uint16)
    for t in range(frames):
        for c in range(channels):
            fade = np.exp(-t * interval / TAUS[c % len(TAUS)])
            for z in range(planes):
                image = 100 + (2000 + 500 * c + 300 * z) * cell * fade
                data[t, c, z] = np.round(image + rng.normal(0, 3, shape)).astype(np.uint16)
    return data


def plane_stack(data: np.ndarray, *, path="cells.czi", kind="CZI", pixel_size=2e-7,
                interval: float | None = 2.0, names=None, colours=None, z_step=5e-7,
                scene=0) -> PlaneStack:
    """A PlaneStack over `data` (T, C, Z, Y, X), as a vendor reader returns it."""
    frames, channels, planes, rows, cols = data.shape
    return PlaneStack(
        path=path, kind=kind, dtype=data.dtype,
        sizes={"T": frames, "C": channels, "Z": planes, "Y": rows, "X": cols},
        read_plane=lambda t, c, z: data[t, c, z],
        pixel_size=pixel_size, z_step=z_step if planes > 1 else None,
        times=None if interval is None else interval * np.arange(frames),
        time_source="frame interval" if interval else "none",
        channel_names=names or [f"Ch{c}" for c in range(channels)],
        channel_colours=colours or ["#00ff00", "#ff00ff", "#0000ff"][:channels],
        scene=scene)
