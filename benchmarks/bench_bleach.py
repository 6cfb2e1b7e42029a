"""Benchmark of the bleach-correction engine against flimage 0.3.3.

Prints:

1. flimage's ``FLSeries.bleach_correction(h5out=...)`` and the app's
   ``correct_series(..., "flimage")`` run alternately (A B A B …) in this
   process on two 100-frame 512×512 series — camera counts (whole numbers)
   and float data with sensor noise (random low bits, the hard case for
   deflate), also alternated: times, median ratio, whether the outputs agree
   (relative 1e-4) and whether flimage opens the app's output;
2. frames per second of every method of the app (measure + fit + write);
3. peak resident memory of the app correcting a long series (800 frames of
   512×512 by default) with exp, flimage and histogram, measured in a fresh
   subprocess (VmHWM), with the frame cache's budget that produced it.

Usage::

    python benchmarks/bench_bleach.py [--frames 100] [--size 512] [--repeats 2]
                                      [--long-frames 800] [--skip-memory]
                                      [--cache-mb 64] [--memory-only]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

from flimage_app.model.bleach import METHODS, correct_series
from flimage_app.model.bleach.measure import CACHE_BYTES
from flimage_app.model.bleach.synthetic import write_bleaching_series
from flimage_app.model.errors import FitError

#: Frame interval [s], bleaching rate [1/s] and fraction of a ten times slower
#: population: a few-second series (flimage's own fit converges only on those,
#: so that both outputs can be compared) that the bi-exponential can resolve.
INTERVAL, RATE, SLOW_FRACTION = 0.05, 2.0, 0.3


def make_series(path: Path, frames: int, size: int, kind: str = "camera counts") -> None:
    """A bleaching series of camera counts, or of floats whose low bits are sensor noise."""
    if kind == "camera counts":
        write_bleaching_series(path, np.arange(frames) * INTERVAL, (size, size), rate=RATE,
                               noise=5.0, slow_fraction=SLOW_FRACTION)
        return
    from flimage_app.model.bleach.synthetic import bleaching_frame
    from flimage_app.model.fastwrite import FrameWriter

    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as handle, FrameWriter(handle) as writer:
        for index in range(frames):
            image = bleaching_frame(index, index * INTERVAL, (size, size), rate=RATE,
                                    noise=5.0, slow_fraction=SLOW_FRACTION)
            noisy = image + rng.normal(0.0, 0.7, image.shape).astype(np.float32)
            writer.submit(noisy, {"time": index * INTERVAL, "pixel size": 1e-7})


def run_flimage(source: Path, target: Path) -> float:
    import flimage

    start = time.perf_counter()
    with flimage.FLSeries(h5file=str(source), h5mode="r") as fls:
        fls.bleach_correction(h5out=str(target), border_px=20)
    return time.perf_counter() - start


def run_app(source: Path, target: Path, method: str = "flimage") -> float:
    start = time.perf_counter()
    correct_series(source, target, method, border_px=20)
    return time.perf_counter() - start


def compare_outputs(reference: Path, ours: Path) -> float:
    """Largest relative difference between the frames of two series."""
    worst = 0.0
    with h5py.File(reference, "r") as ref, h5py.File(ours, "r") as app:
        count = sum(1 for key in ref if key.startswith("fli_"))
        if count != sum(1 for key in app if key.startswith("fli_")):
            return float("inf")
        for index in range(count):
            expected = ref[f"fli_{index}/fluorescence/raw"][()].astype(float)
            actual = app[f"fli_{index}/fluorescence/raw"][()].astype(float)
            scale = np.abs(expected).max()
            worst = max(worst, float(np.abs(actual - expected).max() / scale))
    return worst


def flimage_opens(path: Path) -> bool:
    import flimage

    with flimage.FLSeries(h5file=str(path), h5mode="r") as fls:
        return len(fls) > 0 and all(fli.fl.shape == fls[0].shape for fli in fls)


KINDS = ("camera counts", "float noise")


def alternate(workdir: Path, frames: int, size: int, repeats: int) -> None:
    sources = {kind: workdir / f"input_{number}.h5" for number, kind in enumerate(KINDS)}
    for kind, source in sources.items():
        make_series(source, frames, size, kind)
        print(f"series ({kind}): {frames} frames of {size}x{size} float32, "
              f"{source.stat().st_size / 1e6:.1f} MB on disk")
    times: dict = {kind: ([], []) for kind in KINDS}
    for repeat in range(repeats):
        for number, kind in enumerate(KINDS):  # the kinds alternate too
            ref = workdir / f"flimage_{number}_{repeat}.h5"
            ours = workdir / f"app_{number}_{repeat}.h5"
            times[kind][0].append(run_flimage(sources[kind], ref))
            times[kind][1].append(run_app(sources[kind], ours))
            print(f"  run {repeat + 1} {kind:13s}: flimage {times[kind][0][-1]:.2f} s, "
                  f"app {times[kind][1][-1]:.2f} s, "
                  f"ratio {times[kind][0][-1] / times[kind][1][-1]:.1f}x")
    for number, kind in enumerate(KINDS):
        flimage_times, app_times = times[kind]
        ratios = [a / b for a, b in zip(flimage_times, app_times, strict=True)]
        print(f"{kind}: median flimage {statistics.median(flimage_times):.2f} s, app "
              f"{statistics.median(app_times):.2f} s, app faster by "
              f"{statistics.median(ratios):.1f}x (median of the per-pair ratios)")
        ref, ours = workdir / f"flimage_{number}_0.h5", workdir / f"app_{number}_0.h5"
        difference = compare_outputs(ref, ours)
        print(f"  outputs equal to relative 1e-4: {difference <= 1e-4} "
              f"(max rel. diff {difference:.2e}); flimage opens the app's output: "
              f"{flimage_opens(ours)}")
        print(f"  output size: flimage {ref.stat().st_size / 1e6:.1f} MB, "
              f"app {ours.stat().st_size / 1e6:.1f} MB")
    for path in workdir.glob("*_*_*.h5"):
        path.unlink()
    sources["camera counts"].rename(workdir / "input.h5")


def throughput(workdir: Path, frames: int, size: int) -> None:
    source = workdir / "input.h5"
    print(f"frames/s per method ({frames} frames of {size}x{size}, output written):")
    for method in METHODS:
        target = workdir / f"method_{method}.h5"
        try:
            elapsed = run_app(source, target, method)
        except FitError as exc:
            print(f"  {method:10s} refused: {exc}")
            continue
        print(f"  {method:10s} {frames / elapsed:7.1f} frames/s ({elapsed:.2f} s)")
        target.unlink()


def histogram_matching(workdir: Path, frames: int, size: int) -> None:
    """Histogram matching on camera counts and on frames with a stored fitted background.

    A fitted (tilt) background makes nearly every pixel value unique, the case
    in which matching by sorted values costs most.
    """
    source, fitted = workdir / "input.h5", workdir / "fitted_background.h5"
    shutil.copy(source, fitted)
    rows, columns = np.mgrid[0:size, 0:size] / size
    with h5py.File(fitted, "a") as handle:
        for index in range(frames):
            group = handle[f"fli_{index}/fluorescence"].require_group("bg_data")
            group.create_dataset("fit", data=(3.3 * rows + 1.7 * columns).astype("float32"))
    print(f"histogram matching ({frames} frames of {size}x{size}, output written):")
    for label, path in (("camera counts", source), ("stored fitted background", fitted)):
        for reference in ("first", "previous"):
            target = workdir / "histogram.h5"
            start = time.perf_counter()
            correct_series(path, target, "histogram", histogram_reference=reference)
            elapsed = time.perf_counter() - start
            print(f"  {label:26s} to the {reference:8s} {frames / elapsed:7.1f} frames/s")
            target.unlink()
    fitted.unlink()


# Peak RSS from the kernel's high-water mark of this process image (VmHWM).
# getrusage's ru_maxrss is not used: on Linux it survives exec, so a child
# would report the parent's size at fork time.
MEMORY_CHILD = """
import json, resource, sys, time

def peak_kb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

from flimage_app.model.bleach import correct_series
base = peak_kb()
start = time.perf_counter()
correct_series(sys.argv[1], sys.argv[2], sys.argv[3], border_px=20,
               cache_bytes=int(sys.argv[4]))
elapsed = time.perf_counter() - start
print(json.dumps({"base_kb": base, "peak_kb": peak_kb(), "seconds": elapsed}))
"""


def memory(workdir: Path, frames: int, size: int, cache_mb: int) -> None:
    source = workdir / "long.h5"
    start = time.perf_counter()
    make_series(source, frames, size)
    pixels_mb = frames * size * size * 4 / 1e6
    print(f"long series: {frames} frames of {size}x{size} ({pixels_mb:.0f} MB of pixels, "
          f"{source.stat().st_size / 1e6:.0f} MB on disk, written in "
          f"{time.perf_counter() - start:.1f} s)")
    for method in ("exp", "flimage", "histogram"):
        target = workdir / f"long_{method}.h5"
        output = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(source), str(target),
                                 method, str(cache_mb << 20)], check=True, capture_output=True,
                                text=True).stdout
        figures = json.loads(output.strip().splitlines()[-1])
        print(f"  {method:10s} frame cache budget {cache_mb} MB: "
              f"peak RSS {figures['peak_kb'] / 1024:.0f} MB (after imports "
              f"{figures['base_kb'] / 1024:.0f} MB), {figures['seconds']:.1f} s, "
              f"{frames / figures['seconds']:.0f} frames/s")
        target.unlink()
    source.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--long-frames", type=int, default=800)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the long-series memory figures")
    parser.add_argument("--cache-mb", type=int, default=CACHE_BYTES >> 20,
                        help="frame cache budget of the long-series runs (MB)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="bench_bleach_") as tmp:
        workdir = Path(tmp)
        if not args.memory_only:
            alternate(workdir, args.frames, args.size, args.repeats)
            throughput(workdir, args.frames, args.size)
            histogram_matching(workdir, args.frames, args.size)
        if not args.skip_memory:
            memory(workdir, args.long_frames, args.size, args.cache_mb)


if __name__ == "__main__":
    main()
