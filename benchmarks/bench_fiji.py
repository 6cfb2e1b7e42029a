"""The app against Fiji's Bleach Correction (CorrectBleach), on the same TIFF stack.

Fiji's plugin is built from its public source (``../shared/peers/CorrectBleach``,
see ``../shared/peers/README.md``) into a temporary folder at run time: ``javac``
against Debian's ``ij.jar`` (package ``imagej``) with a one-method stand-in for
``org.scijava.util.VersionUtils`` (only used for a version label in its dialog)
and a small headless driver.  Nothing of it is copied into the project.  Where
Java or ij.jar is missing the benchmark says so and stops (exit 0).

Both correct a uint16 stack (300 × 512² by default) with ratio, exp and
histogram matching, measuring the whole frame with no background (Fiji's
defaults):

* whole process: from the start of the JVM / of ``flimage-app bleach stack.tif
  --tif out.tif --method M`` to the written 16-bit TIFF (the app with
  ``--tif-type input``, as Fiji writes 16 bits);
* compute alone: Fiji's ``doCorrection`` (timed inside the JVM) and the app's
  ``correct_stack`` in this process (reading, correcting, writing the TIFF).

Runs alternate Fiji and the app; medians are printed with the load
(``os.getloadavg``), as wall time and as CPU time (all threads of the process:
the JVM's compiler and collector threads count, as do the app's compression
threads).  On a machine shared with other work the CPU time is the steadier
figure; the wall time is what a user waits.  The corrected frames are compared
(ratio and exp: within one count of 16 bits plus float tolerance; histogram
matching: reported only, the two match histograms differently).  The goals of
issue 15 are printed with the ratios: the app at least as fast as Fiji for
ratio and exp, at least 10× faster for histogram matching (whole process).

    python benchmarks/bench_fiji.py [--frames 300] [--size 512] [--repeats 3]

``benchmarks/bench_bleach.py`` runs this comparison too, with flimage's.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers" / "CorrectBleach"
FALLBACK_PEERS = Path("/work/shared/peers/CorrectBleach")
METHODS = {"ratio": 0, "exp": 1, "histogram": 2}
#: Issue 15's goals, whole process: how many times faster than Fiji the app must be.
GOALS = {"ratio": 1.0, "exp": 1.0, "histogram": 10.0}

VERSION_STAND_IN = """package org.scijava.util;
/** Stand-in: CorrectBleach asks it for a version label in its dialog only. */
public final class VersionUtils {
    public static String getVersion(Class<?> c) { return "built by bench_fiji"; }
}
"""

DRIVER = """import ij.IJ;
import ij.ImagePlus;
import emblcmci.BleachCorrection;
/** Headless run: open, correct (timed), save as TIFF. */
public class BenchDriver {
    public static void main(String[] args) {
        ImagePlus imp = IJ.openImage(args[0]);
        long start = System.nanoTime();
        BleachCorrection.setCorrectionMethod(Integer.parseInt(args[2]));
        BleachCorrection correction = new BleachCorrection();
        correction.setHeadlessProcessing(true);
        correction.setSimpleRatioBaseline(0.0);
        ImagePlus corrected = correction.doCorrection(imp);
        long end = System.nanoTime();
        IJ.saveAsTiff(corrected, args[1]);
        System.out.println("BENCH compute " + (end - start) / 1e9);
        System.exit(0);
    }
}
"""


def ij_jar() -> Path | None:
    """Debian's ij.jar (package libij-java, pulled in by imagej), or None."""
    try:
        listed = subprocess.run(["dpkg", "-L", "libij-java"], capture_output=True, text=True,
                                check=False).stdout.split()
    except FileNotFoundError:
        listed = []
    jars = [Path(line) for line in listed if line.endswith("/ij.jar")]
    jars += [Path("/usr/share/java/ij.jar")]
    return next((jar for jar in jars if jar.is_file()), None)


def build(folder: Path) -> str | None:
    """Compile CorrectBleach + stand-in + driver into `folder`; the classpath, or None."""
    sources = PEERS if PEERS.is_dir() else FALLBACK_PEERS
    jar = ij_jar()
    if shutil.which("javac") is None or shutil.which("java") is None:
        print("bench_fiji: skipped: no Java (apt-get install default-jdk-headless)")
        return None
    if jar is None:
        print("bench_fiji: skipped: no ij.jar (apt-get install imagej)")
        return None
    if not sources.is_dir():
        print(f"bench_fiji: skipped: CorrectBleach source not found at {sources}")
        return None
    stand_in = folder / "src" / "org" / "scijava" / "util" / "VersionUtils.java"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text(VERSION_STAND_IN)
    (folder / "src" / "BenchDriver.java").write_text(DRIVER)
    java_files = [str(path) for path in (sources / "src" / "main" / "java").rglob("*.java")]
    java_files += [str(stand_in), str(folder / "src" / "BenchDriver.java")]
    classes = folder / "classes"
    classes.mkdir()
    done = subprocess.run(["javac", "-nowarn", "-encoding", "UTF-8", "-cp", str(jar), "-d",
                           str(classes), *java_files], capture_output=True, text=True)
    if done.returncode != 0:
        print("bench_fiji: skipped: CorrectBleach does not compile here:\n" + done.stderr[-2000:])
        return None
    return f"{classes}{os.pathsep}{jar}"


def make_stack(path: Path, frames: int, size: int) -> None:
    """A uint16 camera series: bleaching cells (exp. decay + offset) on a dark background."""
    rng = np.random.default_rng(0)
    rows, cols = np.indices((size, size))
    cells = sum(np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (0.004 * size * size))
                for r, c in rng.uniform(0.2, 0.8, (8, 2)) * size)
    with tifffile.TiffWriter(path, imagej=True) as tif:
        stack = np.empty((frames, size, size), np.uint16)
        for index in range(frames):
            mean = 100 + 2000 * cells * (0.8 * np.exp(-index / (0.3 * frames)) + 0.2)
            stack[index] = rng.poisson(mean)
        tif.write(stack, metadata={"axes": "TYX", "finterval": 0.1})


def children_cpu() -> float:
    """CPU seconds (user + system, all threads) of the waited-for child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    """CPU seconds (user + system) of this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_fiji(classpath: str, stack: Path, out: Path, method: str
             ) -> tuple[float, float, float]:
    """Fiji's whole process: wall time, CPU time, and its compute time (timed inside)."""
    start, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(["java", "-Djava.awt.headless=true", "-Xmx2g", "-cp", classpath,
                           "BenchDriver", str(stack), str(out), str(METHODS[method])],
                          capture_output=True, text=True)
    whole, whole_cpu = time.perf_counter() - start, children_cpu() - cpu
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"Fiji failed ({method}):\n{done.stdout[-800:]}{done.stderr[-800:]}")
    compute = float(next(line.split()[-1] for line in done.stdout.splitlines()
                         if line.startswith("BENCH compute")))
    return whole, whole_cpu, compute


APP_OPTIONS = ["--background", "constant", "--background-value", "0", "--tif-type", "input"]


def run_app_process(stack: Path, out: Path, method: str) -> tuple[float, float]:
    """The app's whole process (``flimage-app bleach``): wall and CPU time."""
    start, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run([sys.executable, "-m", "flimage_app", "bleach", str(stack), "--tif",
                           str(out), "--method", method, *APP_OPTIONS, "-q"],
                          capture_output=True, text=True)
    whole, whole_cpu = time.perf_counter() - start, children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"app failed ({method}): {done.stderr}")
    return whole, whole_cpu


def run_app_compute(stack: Path, out: Path, method: str) -> float:
    from flimage_app.model.stackstream import correct_stack

    start = time.perf_counter()
    correct_stack(stack, out, method=method, background="constant", background_value=0.0,
                  tif_type="input")
    return time.perf_counter() - start


def compare(fiji: Path, app: Path) -> str:
    a = tifffile.imread(fiji).astype(float)
    b = tifffile.imread(app).astype(float)
    if a.shape != b.shape:
        return f"shapes differ: Fiji {a.shape}, app {b.shape}"
    difference = np.abs(a - b)
    relative = difference / np.maximum(np.abs(a), 1.0)
    return (f"max |Δ| {difference.max():.3g} counts, mean |Δ| {difference.mean():.3g}, "
            f"max relative {relative.max():.2g}")


@dataclass
class FijiRow:
    """Medians of one method's runs (seconds) and how the corrected frames agree."""

    method: str
    fiji_whole: float
    fiji_whole_cpu: float
    app_whole: float
    app_whole_cpu: float
    fiji_compute: float
    app_compute: float
    agreement: str
    #: How many times faster the app's whole process is: median of the ratios of the
    #: runs, each Fiji's and the app's run side by side (steadier under load than the
    #: ratio of the medians); wall time, and CPU time.
    ratio: float = float("nan")
    cpu_ratio: float = float("nan")


def compare_with_fiji(frames: int = 300, size: int = 512, repeats: int = 3,
                      methods=tuple(METHODS), histogram_frames: int = 20
                      ) -> list[FijiRow] | None:
    """Build Fiji's plugin, run both on the same stacks; None (with a message) if not possible."""
    with tempfile.TemporaryDirectory(prefix="bench_fiji_") as folder:
        folder = Path(folder)
        classpath = build(folder / "build")
        if classpath is None:
            return None
        stacks = {"full": folder / "stack.tif", "short": folder / "short.tif"}
        make_stack(stacks["full"], frames, size)
        make_stack(stacks["short"], min(histogram_frames, frames), size)
        print(f"Fiji: {frames} × {size}² uint16 (histogram matching: "
              f"{min(histogram_frames, frames)} frames); load {os.getloadavg()}")
        rows = []
        for method in methods:
            stack = stacks["short" if method == "histogram" else "full"]
            runs: list[tuple[float, ...]] = []
            for _ in range(repeats):
                outputs = [folder / f"{who}_{method}.tif" for who in ("fiji", "app", "lib")]
                for path in outputs:
                    path.unlink(missing_ok=True)
                fiji_whole, fiji_cpu, fiji_compute = run_fiji(classpath, stack, outputs[0],
                                                              method)
                app_whole, app_cpu = run_app_process(stack, outputs[1], method)
                runs.append((fiji_whole, fiji_cpu, app_whole, app_cpu, fiji_compute,
                             run_app_compute(stack, outputs[2], method)))
                print(f"  {method:9s} Fiji {fiji_whole:.2f} s (CPU {fiji_cpu:.2f}), app "
                      f"{app_whole:.2f} s (CPU {app_cpu:.2f})")
            medians = [statistics.median(column) for column in zip(*runs, strict=True)]
            rows.append(FijiRow(method, *medians, compare(outputs[0], outputs[1]),
                                ratio=statistics.median(run[0] / run[2] for run in runs),
                                cpu_ratio=statistics.median(run[1] / run[3] for run in runs)))
        print(f"Fiji: load after: {os.getloadavg()}")
        return rows


def print_fiji_table(rows: list[FijiRow]) -> None:
    print("| method | Fiji whole [s] (CPU) | app whole [s] (CPU) | ratio wall (CPU), median "
          "of the pairs | goal | "
          "Fiji compute [s] | app compute [s] | ratio | frames agree |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        goal = GOALS[row.method]
        print(f"| {row.method} | {row.fiji_whole:.2f} ({row.fiji_whole_cpu:.2f}) | "
              f"{row.app_whole:.2f} ({row.app_whole_cpu:.2f}) | {row.ratio:.1f}× "
              f"({row.cpu_ratio:.1f}×) | ≥ {goal:g}×: {'met' if row.ratio >= goal else 'NOT met'}"
              f" | {row.fiji_compute:.2f} | {row.app_compute:.2f} | "
              f"{row.fiji_compute / row.app_compute:.1f}× | {row.agreement} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--histogram-frames", type=int, default=20,
                        help="frames of the histogram-matching run (Fiji's takes about 5 s "
                             "per 512² frame here; both programs get the same shorter stack)")
    args = parser.parse_args()
    rows = compare_with_fiji(args.frames, args.size, args.repeats, args.methods,
                             args.histogram_frames)
    if rows is not None:
        print_fiji_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
