"""Synthetic data shared by the tests."""

import numpy as np


def make_frames(count=5, shape=(32, 40), seed=0):
    """Synthetic fluorescence frames: a bright blob on a tilted background with noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape)
    blob = 200 * np.exp(-((rows - shape[0] / 2) ** 2 + (cols - shape[1] / 2) ** 2) / 40)
    frames = []
    for ii in range(count):
        background = 10 + 0.1 * rows + 0.05 * cols
        frames.append(background + blob * np.exp(-0.2 * ii) + rng.normal(0, 1, shape))
    return frames
