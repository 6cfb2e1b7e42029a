"""Benchmark: writing a series, opening it, identifier look-ups and random frame access,
the app's model against flimage 0.3.3 in the same run.

    python benchmarks/bench_series.py [--frames 3000] [--shape 64] [--write-frames 50]

Prints one line per measurement: the app's time, flimage's time and the ratio.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import tempfile
import time
import warnings

import numpy as np

import flimage_app.model as app

try:
    import flimage
except ImportError:  # the comparison needs the test extras
    flimage = None


def timed(function, repeat: int = 3) -> float:
    """Median wall time of `function()` over `repeat` runs [s]."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def frames(count: int, size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = rng.poisson(100, (size, size)).astype(np.float32)
    for ii in range(count):
        yield np.roll(base, ii, axis=1) * np.float32(0.999 ** ii)


def write_series(module, path: pathlib.Path, count: int, size: int) -> None:
    with module.FLSeries(h5file=str(path), h5mode="w") as fls:
        for ii, frame in enumerate(frames(count, size)):
            fli = module.FLImage(data=frame, meta_data={"time": 0.1 * ii, "pixel size": 1e-7})
            fls.add_flimage(fli, identifier=f"frame_{ii}")


def open_and_look_up(module, path: pathlib.Path, count: int) -> None:
    with module.FLSeries(h5file=str(path), h5mode="r") as fls:
        fls[f"frame_{count // 2}"].fl
        fls[f"frame_{count - 1}"].fl


def random_access(module, path: pathlib.Path, count: int, reads: int = 50) -> None:
    rng = np.random.default_rng(1)
    with module.FLSeries(h5file=str(path), h5mode="r") as fls:
        for index in rng.integers(0, count, reads):
            fls[int(index)].fl


def report(name: str, app_time: float, ref_time: float | None) -> None:
    if ref_time is None:
        print(f"{name:<42} app {app_time * 1e3:9.1f} ms")
    else:
        print(f"{name:<42} app {app_time * 1e3:9.1f} ms   flimage {ref_time * 1e3:9.1f} ms"
              f"   flimage/app {ref_time / app_time:6.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000, help="frames of the long series")
    parser.add_argument("--shape", type=int, default=64, help="frame size of the long series")
    parser.add_argument("--write-frames", type=int, default=50,
                        help="frames of the 512x512 write test")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        print(f"long series: {args.frames} frames of {args.shape}x{args.shape} px; "
              f"write test: {args.write_frames} frames of 512x512 px")
        app_write = timed(lambda: write_series(app, folder / "w_app.h5", args.write_frames, 512), 1)
        ref_write = (timed(lambda: write_series(flimage, folder / "w_ref.h5",
                                                args.write_frames, 512), 1)
                     if flimage else None)
        report("write 512x512 frames (per frame)", app_write / args.write_frames,
               ref_write / args.write_frames if ref_write else None)
        sizes = [os.path.getsize(folder / name) / args.write_frames / 1e6
                 for name in ("w_app.h5", "w_ref.h5") if (folder / name).exists()]
        labels = ("app", "flimage")[: len(sizes)]
        print(f"{'file size per 512x512 frame':<42} " + "   ".join(
            f"{label} {size:.2f} MB" for label, size in zip(labels, sizes, strict=True)))
        # the long series is written once, by the app; both read the same file
        write_series(app, folder / "long.h5", args.frames, args.shape)
        path = folder / "long.h5"
        report("open + 2 identifier look-ups", timed(lambda: open_and_look_up(app, path,
                                                                              args.frames)),
               timed(lambda: open_and_look_up(flimage, path, args.frames), 1) if flimage else None)
        report("open + 50 random frames (.fl)", timed(lambda: random_access(app, path,
                                                                            args.frames)),
               timed(lambda: random_access(flimage, path, args.frames), 1) if flimage else None)
        report("open + len + times of all frames",
               timed(lambda: app.FLSeries(h5file=str(path), h5mode="r").times()), None)


if __name__ == "__main__":
    main()
