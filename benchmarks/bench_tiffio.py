"""Benchmark: import of a TIFF stack into an FLSeries file, export to ImageJ TIFF and .npy.

    python benchmarks/bench_tiffio.py [--frames 100] [--size 512]

Prints wall time, throughput (MB of uint16 input per second) and the growth of
the process' peak memory during each step: streaming keeps it at a few frames,
far below the stack size.
"""

from __future__ import annotations

import argparse
import pathlib
import resource
import sys
import tempfile
import time

import numpy as np
import tifffile

from flimage_app.model.loader import open_series
from flimage_app.model.tiffio import export_npy, export_tiff, import_stack


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far [MB] (Linux reports kB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak / 1e3


def write_stack(path: pathlib.Path, frames: int, size: int) -> None:
    """An ImageJ TIFF written frame by frame (never the whole stack in memory)."""
    rng = np.random.default_rng(0)
    base = rng.integers(100, 4000, (size, size), dtype=np.uint16)

    def images():
        for index in range(frames):
            yield base + np.uint16(index)

    tifffile.imwrite(path, images(), shape=(frames, size, size), dtype=np.uint16, imagej=True,
                     resolution=(5.0, 5.0), metadata={"axes": "TYX", "finterval": 0.1,
                                                      "unit": "um"})


def measure(label: str, stack_mb: float, function) -> None:
    before = peak_rss_mb()
    start = time.perf_counter()
    function()
    elapsed = time.perf_counter() - start
    growth = peak_rss_mb() - before
    print(f"{label:<28} {elapsed:6.2f} s  {stack_mb / elapsed:7.1f} MB/s  "
          f"peak memory +{growth:6.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    stack_mb = args.frames * args.size**2 * 2 / 1e6
    print(f"stack: {args.frames} frames of {args.size}x{args.size} uint16 = {stack_mb:.0f} MB")
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        write_stack(folder / "stack.tif", args.frames, args.size)
        measure("import TIFF -> FLSeries .h5", stack_mb, lambda: import_stack(
            folder / "stack.tif", h5file=folder / "series.h5").close())
        with open_series(folder / "series.h5") as series:
            measure("export -> ImageJ TIFF", stack_mb,
                    lambda: export_tiff(series, folder / "out.tif"))
            measure("export -> .npy", stack_mb, lambda: export_npy(series, folder / "out.npy"))
        print(f"file sizes: h5 {(folder / 'series.h5').stat().st_size / 1e6:.0f} MB, "
              f"tif {(folder / 'out.tif').stat().st_size / 1e6:.0f} MB (float32)")


if __name__ == "__main__":
    main()
