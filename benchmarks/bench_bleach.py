"""The bleach-correction engine against its peers, flimage 0.3.3 and Fiji, in one run.

Prints:

1. flimage's ``FLSeries.bleach_correction(h5out=...)`` and the app's
   ``correct_series(..., "flimage")`` run alternately (A B A B …) in this
   process on two 100-frame 512×512 series — camera counts (whole numbers)
   and float data with sensor noise (random low bits, the hard case for
   deflate), also alternated: wall and CPU times, median ratios, whether the
   frames are identical (and the largest relative difference) and whether
   flimage opens the app's output;
2. frames per second of every method of the app (measure + fit + write);
3. histogram matching on camera counts and on a stored fitted background;
4. peak resident memory of the app correcting a long series (800 frames of
   512×512 by default) with exp, flimage and histogram, measured in a fresh
   subprocess (VmHWM), with the frame cache's budget that produced it;
5. Fiji's Bleach Correction against ``flimage-app bleach`` on a 300×512² uint16
   TIFF, whole process (``benchmarks/bench_fiji.py``; skipped with a message
   where Java or ImageJ is missing);
6. a table of issue 15's goals, each with the measured figure and whether it is met.

CPU time is user + system time of all threads (``getrusage``): on a machine
shared with other work it varies much less than the wall time, which is what
a user waits and what the goals are judged on.  The load (``os.getloadavg``)
is printed at the start and the end.

Usage::

    python benchmarks/bench_bleach.py [--frames 100] [--size 512] [--repeats 3]
                                      [--long-frames 800] [--skip-memory]
                                      [--skip-fiji] [--skip-throughput]
                                      [--fiji-frames 300] [--fiji-repeats 3]
                                      [--fiji-histogram-frames 5]
                                      [--cache-mb N] [--memory-only]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


#: Issue 15's goals against flimage 0.3.3 (100×512², flimage method): times faster.
FLIMAGE_GOALS = {"camera counts": 15.0, "float noise": 5.0}
#: Issue 15's goal for a long series: peak RSS correcting 800×512² with exp [MB].
RSS_GOAL_MB = 200


def process_cpu() -> float:
    """CPU seconds (user + system) of this process so far, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_flimage(source: Path, target: Path) -> tuple[float, float]:
    """flimage's bleach correction of `source` into `target`: wall and CPU seconds."""
    import flimage

    start, cpu = time.perf_counter(), process_cpu()
    with flimage.FLSeries(h5file=str(source), h5mode="r") as fls:
        fls.bleach_correction(h5out=str(target), border_px=20)
    return time.perf_counter() - start, process_cpu() - cpu


def run_app(source: Path, target: Path, method: str = "flimage") -> tuple[float, float]:
    """The app's correction of `source` into `target`: wall and CPU seconds."""
    start, cpu = time.perf_counter(), process_cpu()
    correct_series(source, target, method, border_px=20)
    return time.perf_counter() - start, process_cpu() - cpu


def compare_outputs(reference: Path, ours: Path) -> tuple[float, int, int]:
    """Largest relative difference between the frames of two series, and how many of
    the frames are bit-identical, of how many."""
    worst, identical = 0.0, 0
    with h5py.File(reference, "r") as ref, h5py.File(ours, "r") as app:
        count = sum(1 for key in ref if key.startswith("fli_"))
        if count != sum(1 for key in app if key.startswith("fli_")):
            return float("inf"), 0, count
        for index in range(count):
            expected = ref[f"fli_{index}/fluorescence/raw"][()]
            actual = app[f"fli_{index}/fluorescence/raw"][()]
            identical += bool(np.array_equal(expected, actual))
            scale = np.abs(expected.astype(float)).max()
            worst = max(worst, float(np.abs(actual.astype(float) - expected).max() / scale))
    return worst, identical, count


def flimage_opens(path: Path) -> bool:
    import flimage

    with flimage.FLSeries(h5file=str(path), h5mode="r") as fls:
        return len(fls) > 0 and all(fli.fl.shape == fls[0].shape for fli in fls)


KINDS = ("camera counts", "float noise")


def alternate(workdir: Path, frames: int, size: int, repeats: int) -> dict:
    """flimage and the app alternated on both kinds of series; the figures per kind."""
    sources = {kind: workdir / f"input_{number}.h5" for number, kind in enumerate(KINDS)}
    for kind, source in sources.items():
        make_series(source, frames, size, kind)
        print(f"series ({kind}): {frames} frames of {size}x{size} float32, "
              f"{source.stat().st_size / 1e6:.1f} MB on disk")
    runs: dict = {kind: [] for kind in KINDS}  # (flimage wall, cpu, app wall, cpu) per run
    for repeat in range(repeats):
        for number, kind in enumerate(KINDS):  # the kinds alternate too
            ref = workdir / f"flimage_{number}_{repeat}.h5"
            ours = workdir / f"app_{number}_{repeat}.h5"
            runs[kind].append((*run_flimage(sources[kind], ref), *run_app(sources[kind], ours)))
            flimage_wall, flimage_cpu, app_wall, app_cpu = runs[kind][-1]
            print(f"  run {repeat + 1} {kind:13s}: flimage {flimage_wall:.2f} s "
                  f"(CPU {flimage_cpu:.2f}), app {app_wall:.2f} s (CPU {app_cpu:.2f}), "
                  f"ratio {flimage_wall / app_wall:.1f}x (CPU {flimage_cpu / app_cpu:.1f}x)")
    summary = {}
    for number, kind in enumerate(KINDS):
        flimage_wall, flimage_cpu, app_wall, app_cpu = (
            statistics.median(column) for column in zip(*runs[kind], strict=True))
        ratio = statistics.median(run[0] / run[2] for run in runs[kind])
        cpu_ratio = statistics.median(run[1] / run[3] for run in runs[kind])
        print(f"{kind}: median flimage {flimage_wall:.2f} s (CPU {flimage_cpu:.2f}), app "
              f"{app_wall:.2f} s (CPU {app_cpu:.2f}); app faster by {ratio:.1f}x wall, "
              f"{cpu_ratio:.1f}x CPU (medians of the per-pair ratios)")
        ref, ours = workdir / f"flimage_{number}_0.h5", workdir / f"app_{number}_0.h5"
        difference, identical, count = compare_outputs(ref, ours)
        print(f"  frames bit-identical: {identical} of {count} (max rel. diff "
              f"{difference:.2e}); flimage opens the app's output: {flimage_opens(ours)}")
        print(f"  output size: flimage {ref.stat().st_size / 1e6:.1f} MB, "
              f"app {ours.stat().st_size / 1e6:.1f} MB")
        summary[kind] = {"ratio": ratio, "cpu_ratio": cpu_ratio, "app": app_wall,
                         "app_cpu": app_cpu, "flimage": flimage_wall,
                         "flimage_cpu": flimage_cpu, "identical": identical, "frames": count,
                         "difference": difference}
    for path in workdir.glob("*_*_*.h5"):
        path.unlink()
    sources["camera counts"].rename(workdir / "input.h5")
    sources["float noise"].unlink()
    return summary


def throughput(workdir: Path, frames: int, size: int) -> None:
    source = workdir / "input.h5"
    print(f"frames/s per method ({frames} frames of {size}x{size}, output written):")
    for method in METHODS:
        target = workdir / f"method_{method}.h5"
        try:
            elapsed, _ = run_app(source, target, method)
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
               cache_bytes=None if sys.argv[4] == "default" else int(sys.argv[4]))
elapsed = time.perf_counter() - start
print(json.dumps({"base_kb": base, "peak_kb": peak_kb(), "seconds": elapsed}))
"""


def memory(workdir: Path, frames: int, size: int, cache_mb: int | None) -> dict:
    """Peak RSS per method in a fresh process; cache_mb None: the engine's default budget."""
    from flimage_app.model.bleach.measure import default_cache_bytes

    source = workdir / "long.h5"
    start = time.perf_counter()
    make_series(source, frames, size)
    pixels_mb = frames * size * size * 4 / 1e6
    print(f"long series: {frames} frames of {size}x{size} ({pixels_mb:.0f} MB of pixels, "
          f"{source.stat().st_size / 1e6:.0f} MB on disk, written in "
          f"{time.perf_counter() - start:.1f} s)")
    budget = (default_cache_bytes(size * size * 4, frames) if cache_mb is None
              else cache_mb << 20)
    peaks = {}
    for method in ("exp", "flimage", "histogram"):
        target = workdir / f"long_{method}.h5"
        output = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(source), str(target),
                                 method, "default" if cache_mb is None else str(budget)],
                                check=True, capture_output=True, text=True).stdout
        figures = json.loads(output.strip().splitlines()[-1])
        peaks[method] = figures["peak_kb"] / 1024
        print(f"  {method:10s} frame cache budget {budget / 2**20:.0f} MB: "
              f"peak RSS {peaks[method]:.0f} MB (after imports "
              f"{figures['base_kb'] / 1024:.0f} MB), {figures['seconds']:.1f} s, "
              f"{frames / figures['seconds']:.0f} frames/s")
        target.unlink()
    source.unlink()
    return {"peaks": peaks, "budget_mb": budget / 2**20}


def print_goals(flimage_figures: dict | None, memory_figures: dict | None,
                fiji_rows: list | None, long_frames: int, size: int) -> None:
    """Issue 15's goals with the figures of this run (wall time decides; CPU shown)."""
    print(f"\nGoals of issue 15 (this run; load now {os.getloadavg()}):")
    print("| goal | measured: wall (CPU) | met |")
    print("|---|---|---|")

    def row(goal: str, measured: str, met: bool | None) -> None:
        print(f"| {goal} | {measured} | {'—' if met is None else ('yes' if met else 'NO')} |")

    if flimage_figures:
        for kind, goal in FLIMAGE_GOALS.items():
            figures = flimage_figures[kind]
            row(f"flimage 0.3.3, {kind}: ≥ {goal:g}× faster",
                f"{figures['ratio']:.1f}× ({figures['cpu_ratio']:.1f}×): flimage "
                f"{figures['flimage']:.2f} s ({figures['flimage_cpu']:.2f}), app "
                f"{figures['app']:.2f} s ({figures['app_cpu']:.2f})", figures["ratio"] >= goal)
        row("flimage 0.3.3: identical frames",
            "; ".join(f"{kind} {figures['identical']}/{figures['frames']} bit-identical, max "
                      f"rel. diff {figures['difference']:.1e}"
                      for kind, figures in flimage_figures.items()),
            all(figures["identical"] == figures["frames"]
                for figures in flimage_figures.values()))
    if fiji_rows:
        from bench_fiji import GOALS  # imported by main() before

        for fiji in fiji_rows:
            row(f"Fiji, {fiji.method}, whole process: ≥ {GOALS[fiji.method]:g}× faster",
                f"{fiji.ratio:.1f}× ({fiji.cpu_ratio:.1f}×): Fiji {fiji.fiji_whole:.2f} s "
                f"({fiji.fiji_whole_cpu:.2f}), app {fiji.app_whole:.2f} s "
                f"({fiji.app_whole_cpu:.2f})", fiji.ratio >= GOALS[fiji.method])
    elif fiji_rows is None:
        row("Fiji: ratio, exp ≥ 1×, histogram ≥ 10×", "not run (see above)", None)
    if memory_figures:
        peak = memory_figures["peaks"]["exp"]
        row(f"peak RSS ≤ {RSS_GOAL_MB} MB, {long_frames}×{size}² exp, streaming",
            f"{peak:.0f} MB with a {memory_figures['budget_mb']:.0f} MB frame cache",
            peak <= RSS_GOAL_MB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-frames", type=int, default=800)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-fiji", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true",
                        help="leave out the frames/s per method and histogram tables")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the long-series memory figures")
    parser.add_argument("--cache-mb", type=int, default=None,
                        help="frame cache budget of the long-series runs (MB; default: "
                             "the engine's)")
    parser.add_argument("--fiji-frames", type=int, default=300,
                        help="frames of the Fiji comparison's uint16 stack (size: --size)")
    parser.add_argument("--fiji-repeats", type=int, default=3)
    parser.add_argument("--fiji-histogram-frames", type=int, default=5,
                        help="frames of the histogram-matching stack (Fiji takes seconds "
                             "per 512² frame)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"load at start {os.getloadavg()} on {os.cpu_count()} CPUs")
    flimage_figures = memory_figures = fiji_rows = None
    with tempfile.TemporaryDirectory(prefix="bench_bleach_") as tmp:
        workdir = Path(tmp)
        if not args.memory_only:
            flimage_figures = alternate(workdir, args.frames, args.size, args.repeats)
            if not args.skip_throughput:
                throughput(workdir, args.frames, args.size)
                histogram_matching(workdir, args.frames, args.size)
        if not args.skip_memory:
            memory_figures = memory(workdir, args.long_frames, args.size, args.cache_mb)
    if not (args.memory_only or args.skip_fiji):
        sys.path.insert(0, str(Path(__file__).resolve().parent))  # also with python -m
        import bench_fiji

        fiji_rows = bench_fiji.compare_with_fiji(args.fiji_frames, args.size, args.fiji_repeats,
                                                 histogram_frames=args.fiji_histogram_frames)
        if fiji_rows is not None:
            bench_fiji.print_fiji_table(fiji_rows)
    print_goals(flimage_figures, memory_figures, fiji_rows if not args.skip_fiji else [],
                args.long_frames, args.size)


if __name__ == "__main__":
    main()
