"""Speed of ROI rasterisation, of the preview fit, and of applying a background to a series.

Run: ``python benchmarks/bench_background.py [--frames N] [--size PX]`` (prints figures).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from flimage_app.model import FLImage, FLSeries
from flimage_app.model.background import estimate
from flimage_app.model.background_apply import apply_background
from flimage_app.model.rois import (
    BorderROI,
    EllipseROI,
    FreehandROI,
    RectangleROI,
    ROISet,
)


def best_of(repeats: int, function) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    size = args.size
    shape = (size, size)

    angles = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    outline = np.stack([size / 2 + size / 3 * np.cos(angles),
                        size / 2 + size / 4 * np.sin(angles)], axis=1)
    shapes = {"rectangle": RectangleROI(10, 10, size / 3, size / 2),
              "rotated rectangle": RectangleROI(size / 2, 10, size / 3, size / 4, angle=30),
              "ellipse": EllipseROI(10, 10, size * 0.8, size * 0.6),
              "free-hand (2000 points)": FreehandROI(points=outline),
              "border 20 px": BorderROI(20)}
    print(f"rasterising on {size}x{size} px (best of 5):")
    for name, roi in shapes.items():
        print(f"  {name:<24} {1e3 * best_of(5, lambda r=roi: r.mask(shape)):8.2f} ms")

    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:size, :size]
    image = 100 + 0.05 * rows + 0.02 * cols + rng.normal(0, 3, shape)
    roiset = ROISet(rois=(BorderROI(20), EllipseROI(size / 3, size / 3, size / 4, size / 4,
                                                     role="exclude")))
    mask = roiset.mask(shape)
    print(f"preview fit on {mask.sum()} background px (best of 3):")
    for profile, offset in (("tilt", "mean"), ("poly2o", "mode"), ("tilt", "gauss")):
        seconds = best_of(3, lambda p=profile, o=offset: estimate(image, o, p, from_mask=mask))
        print(f"  {profile:>6} / {offset:<5} {1e3 * seconds:8.2f} ms")

    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "series.h5"
        with FLSeries(h5file=source, h5mode="w") as series:
            for index in range(args.frames):
                frame = image + rng.normal(0, 1, shape)
                series.add_flimage(FLImage(data=frame, meta_data={"time": float(index)}))
        with FLSeries(h5file=source, h5mode="r") as series:
            start = time.perf_counter()
            apply_background(series, Path(folder) / "out.h5", roiset)
            seconds = time.perf_counter() - start
        print(f"apply (tilt/mean) to {args.frames} frames of {size}x{size}: {seconds:.2f} s, "
              f"{1e3 * seconds / args.frames:.1f} ms per frame")


if __name__ == "__main__":
    main()
