"""Multi-channel / Z files for the GUI tests, written by the formats' own writers."""

from __future__ import annotations

import json

import numpy as np
import tifffile

#: channel names and colours of the test acquisitions
NAMES = ("GFP", "mCherry")
PIXEL_SIZE_UM = 0.2
INTERVAL_S = 2.0
Z_STEP_UM = 0.5


def acquisition(frames: int = 20, channels: int = 2, planes: int = 3, shape=(48, 64),
                seed: int = 0) -> np.ndarray:
    """uint16 (T, C, Z, Y, X): two cells, one per channel, bleaching at different rates."""
    rng = np.random.default_rng(seed)
    rows, columns = np.indices(shape)
    cells = [np.exp(-((rows - 16) ** 2 + (columns - 20) ** 2) / 60.0),
             np.exp(-((rows - 30) ** 2 + (columns - 44) ** 2) / 80.0)]
    data = np.empty((frames, channels, planes, *shape), dtype=np.uint16)
    for t in range(frames):
        for c in range(channels):
            fade = np.exp(-t * INTERVAL_S / (30.0 + 40.0 * c))
            for z in range(planes):
                image = 120 + (1800 + 400 * z) * cells[c % 2] * fade
                data[t, c, z] = np.round(image + rng.normal(0, 4, shape)).clip(0, 65535)
    return data


def write_ome_tiff(path, data: np.ndarray, names=NAMES) -> np.ndarray:
    """An OME-TIFF (TZCYX) of `data` (T, C, Z, Y, X) with channel names and calibration."""
    tifffile.imwrite(path, data.transpose(0, 2, 1, 3, 4), ome=True, metadata={
        "axes": "TZCYX", "Channel": {"Name": list(names[:data.shape[1]])},
        "PhysicalSizeX": PIXEL_SIZE_UM, "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": PIXEL_SIZE_UM, "PhysicalSizeYUnit": "µm",
        "PhysicalSizeZ": Z_STEP_UM, "PhysicalSizeZUnit": "µm",
        "TimeIncrement": INTERVAL_S, "TimeIncrementUnit": "s"})
    return data


def write_ome_zarr(folder, data: np.ndarray) -> None:
    """An OME-Zarr image (NGFF 0.4) of `data` (T, C, Z, Y, X), written by ome-zarr."""
    import warnings

    from ome_zarr import format as ome_format
    from ome_zarr import writer

    channels = {"channels": [{"label": name, "color": colour,
                              "window": {"start": 0, "end": 3000, "min": 0, "max": 65535}}
                             for name, colour in zip(NAMES, ("00FF00", "FF00FF"), strict=False)]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ome-zarr's notes about chunking and channels
        writer.write_image(data, str(folder), axes="tczyx", fmt=ome_format.FormatV04(),
                           scale={"t": INTERVAL_S, "z": Z_STEP_UM, "y": PIXEL_SIZE_UM,
                                  "x": PIXEL_SIZE_UM},
                           axes_units={"t": "second", "z": "micrometer", "y": "micrometer",
                                       "x": "micrometer"},
                           scale_factors=(2,), omero=channels)


def write_two_scene_zarr(root, first: np.ndarray, second: np.ndarray) -> None:
    """A bioformats2raw layout (a converted multi-position file) with two scenes."""
    for index, data in enumerate((first, second)):
        write_ome_zarr(root / str(index), data)
    (root / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (root / ".zattrs").write_text(json.dumps({"bioformats2raw.layout": 3}))
    (root / "OME").mkdir()
    (root / "OME" / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (root / "OME" / ".zattrs").write_text(json.dumps({"series": ["Position 1", "Position 2"]}))
