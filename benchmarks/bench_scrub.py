"""Benchmark of the series browser: scrubbing speed and time to the first frame.

Run with ``QT_QPA_PLATFORM=offscreen python benchmarks/bench_scrub.py``.

* Scrubbing: a 1024 × 1024 and a 2048 × 2048 (sCMOS) series are stepped
  through frame by frame in the main window; a frame counts once it is on
  display (read on the reader thread, decompressed, scaled and drawn).  First
  pass: frames come from the file (look-ahead reading); second pass
  backwards: partly from the cache.  Goals: ≥ 60 displayed frames/s at
  1024², ≥ 30 at 2048².
* Opening: a 5,000-frame series (64 × 64 px) is opened through the window;
  the time until its first frame is on display is measured.  Goal: well under 1 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def synthetic_frames(count: int, shape: tuple[int, int], seed: int = 0):
    """Frames of bleaching blobs on a tilted background with noise (compress like camera data)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape)
    centres = rng.uniform(0.2, 0.8, size=(6, 2)) * shape
    cells = sum(np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (0.002 * shape[0] * shape[1]))
                for r, c in centres)
    background = 100 + 0.02 * rows + 0.01 * cols
    for index in range(count):
        noise = rng.normal(0, 5, shape)
        yield (background + 800 * cells * np.exp(-0.03 * index) + noise).astype(np.float32)


def write_series(path: Path, count: int, shape: tuple[int, int]) -> float:
    """Write a series with the model's FLSeries; returns seconds taken."""
    from flimage_app.model import FLImage, FLSeries

    start = time.perf_counter()
    with FLSeries(h5file=path, h5mode="w") as series:
        for index, frame in enumerate(synthetic_frames(count, shape)):
            series.add_flimage(FLImage(data=frame, meta_data={"time": 1.5 * index,
                                                              "pixel size": 0.2e-6}))
    return time.perf_counter() - start


def wait_for_frame(app, window, index: int, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while True:
        app.processEvents()
        frame = window.current_frame()
        if frame is not None and frame.index == index:
            return
        if time.perf_counter() > deadline:
            raise TimeoutError(f"frame {index} was not displayed within {timeout} s")
        time.sleep(0.0005)


def scrub(app, window, indices) -> float:
    """Step through `indices`; returns displayed frames per second."""
    start = time.perf_counter()
    for index in indices:
        window.browser.set_index(index)
        wait_for_frame(app, window, index)
        window.image_view.graphics.viewport().repaint()  # draw it now, as on screen
    return len(indices) / (time.perf_counter() - start)


def read_rate(path: Path) -> float:
    """Frames per second the reader can deliver (the ceiling for scrubbing)."""
    from flimage_app.gui.browser.frame_cache import read_frame
    from flimage_app.model import FLSeries

    with FLSeries(h5file=path, h5mode="r") as series:
        count = min(len(series), 20)
        start = time.perf_counter()
        for index in range(count):
            read_frame(series, index)
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames of each series")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--long-frames", type=int, default=5000)
    args = parser.parse_args()

    from flimage_app.gui.app import SETTINGS_ENV, ensure_application

    with tempfile.TemporaryDirectory() as folder:
        os.environ[SETTINGS_ENV] = str(Path(folder) / "settings.ini")
        app = ensure_application()
        from flimage_app.gui.main_window import MainWindow

        for size in args.sizes:
            big = Path(folder) / f"big_{size}.h5"
            seconds = write_series(big, args.frames, (size, size))
            print(f"wrote {args.frames} frames of {size}x{size} px in {seconds:.1f} s "
                  f"({big.stat().st_size / 2**20:.0f} MiB)")
            print(f"reading alone (decompression, no display): {read_rate(big):.1f} frames/s; "
                  f"CPU load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            window = MainWindow(load_optional_panels=False)
            window.resize(1400, 900)
            window.show()
            window.open_paths([big], remember=False)
            wait_for_frame(app, window, 0)
            forward = scrub(app, window, list(range(1, args.frames)))
            backward = scrub(app, window, list(range(args.frames - 2, -1, -1)))
            goal = 60 if size <= 1024 else 30
            print(f"scrubbing {size}x{size}: forward from file {forward:.1f} frames/s, "
                  f"backward {backward:.1f} frames/s (goal >= {goal})")
            window.shutdown()
            big.unlink()

        long = Path(folder) / "long.h5"
        seconds = write_series(long, args.long_frames, (64, 64))
        print(f"wrote {args.long_frames} frames of 64x64 px in {seconds:.1f} s")
        window = MainWindow(load_optional_panels=False)
        window.resize(1400, 900)
        window.show()
        app.processEvents()
        start = time.perf_counter()
        window.open_paths([long], remember=False)
        wait_for_frame(app, window, 0)
        first = time.perf_counter() - start
        print(f"time to first frame, {args.long_frames}-frame series: {first * 1000:.0f} ms "
              "(goal well under 1 s)")
        window.browser.set_index(args.long_frames - 1)
        wait_for_frame(app, window, args.long_frames - 1)
        print(f"jump to the last frame: {(time.perf_counter() - start - first) * 1000:.0f} ms")
        window.shutdown()


if __name__ == "__main__":
    main()
