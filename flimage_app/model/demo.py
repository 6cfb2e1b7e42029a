"""The demo data: a synthetic, realistic photobleaching time series.

A few cells bleach at different rates (one with a fast and a slow
component) on an uneven, slightly tilted background; camera offset, shot
(Poisson) noise and read noise are added, frame times are irregular (jitter
and a pause), and the pixel size is set.  Pixel values are whole camera
counts stored as float32, which keeps the file small (~3 MB).

The acquisition is fast, 4 frames/s over ~10 s with half-lives of 0.7-25 s:
flimage 0.3.3's exponential fit starts from a decay-rate guess that grows
with the length of the series and stalls on series much longer than ~30 s,
and the demo must work with every bleach-correction method, flimage's
(the default) included.

The series is generated from a fixed seed.  A copy ships with the package
(``resources/demo_series.h5`` at the repository root); :func:`demo_series_path` returns
it, or regenerates the series into the user's cache folder if that copy is
missing.  Regenerate the bundled copy with::

    python -m flimage_app.model.demo resources/demo_series.h5 --overwrite

The true model (cell labels, amplitudes, half-lives, background) is stored
in the series' ``flimage_app/demo`` group, so tests and users can compare
corrections against the truth.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .flseries import FLSeries
from .h5io import atomic_output
from .image import FLImage

#: bump when the generated content changes, so cached copies are regenerated
DEMO_VERSION = 2
DEMO_SEED = 20_240_611
DEMO_FILENAME = "demo_series.h5"
DEMO_IDENTIFIER = "flimage-app demo bleaching series"


@dataclass(frozen=True)
class Cell:
    """An elliptical cell with a darker nucleus and a (bi-)exponential bleach.

    Lengths in pixels, brightness in photons per pixel at t = 0, half-lives in seconds.
    """

    center: tuple[float, float]
    radii: tuple[float, float]
    angle: float
    brightness: float
    half_life: float
    #: fraction of the brightness that bleaches with `fast_half_life` (0: mono-exponential)
    fast_fraction: float = 0.0
    fast_half_life: float = 1.0


@dataclass(frozen=True)
class DemoParameters:
    """Everything that defines the demo series (the seed makes it reproducible)."""

    seed: int = DEMO_SEED
    shape: tuple[int, int] = (192, 256)
    frames: int = 36
    pixel_size: float = 0.32e-6  # [m]
    interval: float = 0.25  # nominal frame interval [s]
    jitter: float = 0.02  # uniform timing jitter, ± [s]
    pause_after: int = 20  # frames before an acquisition pause
    pause: float = 1.0  # extra time of the pause [s]
    camera_offset: float = 100.0  # counts
    read_noise: float = 1.6  # counts (Gaussian)
    background_level: float = 30.0  # mean autofluorescence [photons/px]
    background_tilt: tuple[float, float] = (0.045, -0.03)  # [photons/px per px] along y, x
    cells: tuple[Cell, ...] = (
        Cell((52.0, 60.0), (26.0, 19.0), 0.4, 320.0, 4.5),
        Cell((60.0, 170.0), (22.0, 30.0), -0.3, 240.0, 12.0),
        Cell((135.0, 92.0), (28.0, 21.0), 1.2, 280.0, 7.5, fast_fraction=0.35,
             fast_half_life=0.7),
        Cell((140.0, 205.0), (18.0, 16.0), 0.0, 180.0, 25.0),
    )


# ------------------------------------------------------------------ model
def frame_times(params: DemoParameters, rng: np.random.Generator) -> np.ndarray:
    """Irregular acquisition times [s]: nominal steps with jitter and one pause."""
    steps = params.interval + rng.uniform(-params.jitter, params.jitter, params.frames - 1)
    steps[params.pause_after - 1] += params.pause
    return np.round(np.concatenate([[0.0], np.cumsum(steps)]), 4)


def smooth_field(shape: tuple[int, int], rng: np.random.Generator, scale: float) -> np.ndarray:
    """Random smooth field with mean 0 and standard deviation 1 (features ~`scale` px)."""
    noise = rng.standard_normal(shape)
    rows = np.fft.fftfreq(shape[0])[:, None]
    cols = np.fft.rfftfreq(shape[1])[None, :]
    kernel = np.exp(-2 * (np.pi * scale) ** 2 * (rows**2 + cols**2))
    field = np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=shape)
    return (field - field.mean()) / field.std()


def background_photons(params: DemoParameters, rng: np.random.Generator) -> np.ndarray:
    """Uneven (vignetted, patchy) and slightly tilted autofluorescence [photons/px]."""
    rows, cols = np.indices(params.shape, dtype=float)
    center_y, center_x = (params.shape[0] - 1) / 2, (params.shape[1] - 1) / 2
    radius2 = ((rows - center_y) ** 2 + (cols - center_x) ** 2) / (center_x**2 + center_y**2)
    vignette = 1.0 - 0.25 * radius2
    patches = 1.0 + 0.12 * smooth_field(params.shape, rng, scale=30.0)
    tilt = params.background_tilt[0] * (rows - center_y) + params.background_tilt[1] * (
        cols - center_x)
    return params.background_level * vignette * patches + tilt


def cell_profile(cell: Cell, shape: tuple[int, int], texture: np.ndarray) -> np.ndarray:
    """Relative brightness (0…~1) of `cell`: soft edge, darker nucleus, cytoplasm texture."""
    rows, cols = np.indices(shape, dtype=float)
    dy, dx = rows - cell.center[0], cols - cell.center[1]
    cos, sin = np.cos(cell.angle), np.sin(cell.angle)
    u, v = (dx * cos + dy * sin) / cell.radii[1], (-dx * sin + dy * cos) / cell.radii[0]
    radius = np.hypot(u, v)
    body = 1.0 / (1.0 + np.exp((radius - 1.0) * 12.0))  # logistic edge, ~2 px wide
    nucleus = 1.0 / (1.0 + np.exp((radius - 0.45) * 18.0))
    return body * (1.0 - 0.45 * nucleus) * (1.0 + 0.15 * texture)


def bleach_factor(cell: Cell, times: np.ndarray) -> np.ndarray:
    """Remaining fraction of the cell's fluorescence at `times`."""
    slow = np.exp2(-times / cell.half_life)
    fast = np.exp2(-times / cell.fast_half_life)
    return (1.0 - cell.fast_fraction) * slow + cell.fast_fraction * fast


def cell_labels(params: DemoParameters) -> np.ndarray:
    """Label image: 0 background, k for the k-th cell (where its profile exceeds one half)."""
    labels = np.zeros(params.shape, dtype=np.uint8)
    flat = np.zeros(params.shape)
    for number, cell in enumerate(params.cells, start=1):
        labels[cell_profile(cell, params.shape, flat) > 0.5] = number
    return labels


# ------------------------------------------------------------------ writing
def write_demo_series(target: str | os.PathLike, params: DemoParameters = DemoParameters(),
                      overwrite: bool = False) -> Path:
    """Generate the demo series into the HDF5 file `target` (through ``atomic_output``).

    Frames are generated one at a time, so memory use stays at a few frames.
    """
    rng = np.random.default_rng(params.seed)
    times = frame_times(params, rng)
    background = background_photons(params, rng)
    profiles = [cell_profile(cell, params.shape, smooth_field(params.shape, rng, scale=3.0))
                for cell in params.cells]
    meta = {"pixel size": params.pixel_size, "device": "synthetic camera (flimage-app demo)",
            "software": f"flimage-app demo generator v{DEMO_VERSION}"}
    with atomic_output(target, overwrite=overwrite) as temporary:
        with FLSeries(h5file=temporary, h5mode="w", identifier=DEMO_IDENTIFIER) as series:
            for time in times:
                photons = background.copy()
                for cell, profile in zip(params.cells, profiles, strict=True):
                    photons += cell.brightness * bleach_factor(cell, np.array(time)) * profile
                counts = (params.camera_offset + rng.poisson(np.clip(photons, 0, None))
                          + np.round(rng.normal(0.0, params.read_noise, params.shape)))
                with FLImage(data=counts, meta_data={**meta, "time": float(time)}) as fli:
                    series.add_flimage(fli)
            _write_truth(series, params, background)
    return Path(target)


def _write_truth(series: FLSeries, params: DemoParameters, background: np.ndarray) -> None:
    group = series.app_group(create=True).create_group("demo")
    group.attrs["version"] = DEMO_VERSION
    group.attrs["numpy version"] = np.__version__
    group.attrs["parameters"] = json.dumps(asdict(params))
    group.attrs["description"] = (
        "Synthetic truth: cell_labels (0 = background), background_counts (camera offset + "
        "autofluorescence, counts per pixel); parameters holds brightness [photons/px] and "
        "half-lives [s] per cell")
    group.create_dataset("cell_labels", data=cell_labels(params), compression="gzip")
    group.create_dataset("background_counts",
                         data=(background + params.camera_offset).astype(np.float32),
                         compression="gzip")


# ------------------------------------------------------------------ locating
def bundled_demo_path() -> Path:
    """Where the app keeps its copy of the demo series (it may be missing)."""
    from ..resources import resource_path

    return resource_path(DEMO_FILENAME)


def user_cache_dir() -> Path:
    """The app's per-user cache folder (not created here)."""
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "flimage-app" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "flimage-app"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flimage-app"


def demo_series_path() -> Path:
    """Path of the demo series: the bundled copy, else a copy generated once into the cache."""
    bundled = bundled_demo_path()
    if bundled.is_file():
        return bundled
    cached = user_cache_dir() / f"demo_series-v{DEMO_VERSION}.h5"
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_demo_series(cached)
        except FileExistsError:  # another process generated it meanwhile
            pass
    return cached


def main(argv: list[str] | None = None) -> int:
    """Regenerate the demo series into a file (used to refresh the bundled copy)."""
    parser = argparse.ArgumentParser(prog="python -m flimage_app.model.demo",
                                     description="Write the synthetic demo bleaching series.")
    parser.add_argument("output", type=Path, nargs="?", default=bundled_demo_path())
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    path = write_demo_series(args.output, overwrite=args.overwrite)
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
