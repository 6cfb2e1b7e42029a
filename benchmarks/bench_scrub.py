"""Benchmark of the series browser: scrubbing speed and time to the first frame.

Run with ``QT_QPA_PLATFORM=offscreen python benchmarks/bench_scrub.py``.

For a 1024 × 1024 and a 2048 × 2048 (sCMOS) series of float32 frames with
camera-like noise, written as the app writes them (one deflated chunk per
frame with a fletcher32 checksum), it reports in one run:

* reading alone, no display: one thread reading frame after frame (the old
  way, HDF5 calls and decoding under the file lock) and the browser's
  :class:`~flimage_app.gui.browser.frame_cache.FrameCache` (stored chunks read
  under the lock, decoded on every core ahead of the request);
* display alone: milliseconds to put a frame that is already in memory on
  screen (levels, colour map, drawing), full resolution (slider at rest) and
  while scrubbing (the screen's resolution);
* scrubbing: the main window stepped frame by frame, forwards through the
  file, then backwards (partly from the cache); a frame counts once it is
  on display and drawn;
* CPU per frame, in thread CPU time (less changed by other programs than
  the rates): staging (under the lock), decoding (on the readers), the GUI
  thread while scrubbing, and the frame rate they allow on idle cores.

Goals (issue 15): ≥ 60 displayed frames/s at 1024², ≥ 30 at 2048², from
the compressed file.  Opening: a 5,000-frame series (64 × 64 px) is opened
through the window; goal for the time to its first frame: well under 1 s.
The load average is printed with the figures: on a shared machine they are
figures under load.
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
    """Write a series as the app writes it (FrameWriter: the app's filters); returns seconds."""
    from flimage_app.model import FLSeries
    from flimage_app.model.fastwrite import FrameWriter

    start = time.perf_counter()
    with FLSeries(h5file=path, h5mode="w") as series, FrameWriter(series.h5) as writer:
        for index, frame in enumerate(synthetic_frames(count, shape)):
            writer.submit(frame, {"time": 1.5 * index, "pixel size": 0.2e-6})
    return time.perf_counter() - start


def wait_until(app, condition, timeout: float = 30.0, what: str = "the frame") -> None:
    """Run the event loop until `condition()` holds, sleeping while no event comes.

    Blocking in the event loop, as the application does, leaves the cores
    to the reader threads; polling would take its share of them.
    """
    from PyQt6 import QtCore

    deadline = time.perf_counter() + timeout
    alarm = QtCore.QTimer()
    alarm.start(50)  # wakes the loop now and then to look at the deadline
    try:
        while not condition():
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{what} did not come within {timeout} s")
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    finally:
        alarm.stop()


def wait_for_frame(app, window, index: int, timeout: float = 30.0) -> None:
    """Wait until frame `index` is on display in `window`."""
    def shown() -> bool:
        frame = window.current_frame()
        return frame is not None and frame.index == index

    wait_until(app, shown, timeout, f"frame {index}")


class PaintCounter:
    """Counts the paints of the image's viewport, and notes the count when a frame is shown."""

    def __init__(self, window) -> None:
        from PyQt6 import QtCore

        class Filter(QtCore.QObject):
            def eventFilter(inner, watched, event) -> bool:  # noqa: N805 - Qt's signature
                if event.type() == QtCore.QEvent.Type.Paint:
                    self.paints += 1
                return False

        self.paints = 0
        self.at_display = -1
        self._filter = Filter()
        self.viewport = window.image_view.graphics.viewport()
        self.viewport.installEventFilter(self._filter)
        window.frameShown.connect(self._shown)

    def _shown(self, _frame) -> None:
        self.at_display = self.paints

    def close(self, window) -> None:
        window.frameShown.disconnect(self._shown)
        self.viewport.removeEventFilter(self._filter)

    def ensure_drawn(self) -> None:
        """Draw the frame on display now unless the event loop has already drawn it."""
        if self.paints == self.at_display:
            self.viewport.repaint()


def scrub(app, window, indices) -> tuple[float, float]:
    """Step through `indices`; returns displayed frames per second and GUI CPU ms per frame.

    A frame counts once it is on display and drawn, once (as on screen: the
    event loop draws it, or the frame is drawn here if it has not yet been).
    """
    painter = PaintCounter(window)
    try:
        start, cpu = time.perf_counter(), time.thread_time()
        for index in indices:
            window.browser.set_index(index)
            wait_for_frame(app, window, index)
            painter.ensure_drawn()
        gui_ms = (time.thread_time() - cpu) / len(indices) * 1000
        return len(indices) / (time.perf_counter() - start), gui_ms
    finally:
        painter.close(window)


def read_rate_one_thread(path: Path, count: int) -> float:
    """Frames per second read one after the other on one thread, all under the file lock."""
    from flimage_app.gui.browser.frame_cache import read_frame
    from flimage_app.model import FLSeries

    with FLSeries(h5file=path, h5mode="r") as series:
        count = min(len(series), count)
        start = time.perf_counter()
        for index in range(count):
            read_frame(series, index)
        return count / (time.perf_counter() - start)


def read_rate_cache(app, path: Path, count: int) -> float:
    """Frames per second the browser's frame cache delivers forwards (no display)."""
    from flimage_app.gui.browser.frame_cache import FrameCache
    from flimage_app.model import FLSeries

    with FLSeries(h5file=path, h5mode="r") as series:
        count = min(len(series), count)
        cache = FrameCache(series)
        try:
            start = time.perf_counter()
            for index in range(count):
                if cache.request(index, +1) is None:
                    wait_until(app, lambda i=index: cache.cached(i) is not None)
            return count / (time.perf_counter() - start)
        finally:
            cache.close()


def decode_cpu(path: Path, count: int = 8) -> dict[str, float]:
    """CPU milliseconds (of the thread doing it) per frame: staging under the lock, decoding.

    Thread CPU time is little affected by other programs on the machine, unlike
    the rates: with it the ceiling on idle cores can be told on a busy machine.
    """
    from flimage_app.gui.browser.frame_cache import stage_frame
    from flimage_app.model import FLSeries

    staging, decoding = [], []
    with FLSeries(h5file=path, h5mode="r") as series:
        for index in range(min(count, len(series))):
            start = time.thread_time()
            staged = stage_frame(series, index)
            middle = time.thread_time()
            staged.finish()
            staging.append(middle - start)
            decoding.append(time.thread_time() - middle)
    return {"staging": 1000 * float(np.median(staging)),
            "decoding": 1000 * float(np.median(decoding))}


def display_cost(app, size: int, repeats: int = 12) -> dict[str, float]:
    """Milliseconds to show a frame held in memory: at rest (full) and while scrubbing."""
    from flimage_app.gui.browser.frame_cache import Frame
    from flimage_app.gui.browser.image_view import ImageView

    frames = [Frame.from_arrays(index, image, None)
              for index, image in enumerate(synthetic_frames(4, (size, size)))]
    view = ImageView()
    view.resize(1200, 800)
    view.show()
    view.set_frame(frames[0])
    app.processEvents()
    costs = {}
    for name, scrubbing in (("at rest", False), ("scrubbing", True)):
        start, cpu = time.perf_counter(), time.thread_time()
        for repeat in range(repeats):
            view.set_frame(frames[repeat % len(frames)], scrubbing=scrubbing)
            view.graphics.viewport().repaint()
        costs[name] = (time.perf_counter() - start) / repeats * 1000
        costs[f"{name} CPU"] = (time.thread_time() - cpu) / repeats * 1000
    costs["step"] = view.display_step
    view.close()
    return costs


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


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

        summary = []
        for size in args.sizes:
            goal = 60 if size <= 1024 else 30
            big = Path(folder) / f"big_{size}.h5"
            seconds = write_series(big, args.frames, (size, size))
            print(f"{size}x{size}: wrote {args.frames} frames in {seconds:.1f} s "
                  f"({big.stat().st_size / 2**20:.0f} MiB)")
            one = read_rate_one_thread(big, 20)
            pooled = read_rate_cache(app, big, args.frames)
            print(f"  reading alone, no display: {pooled:.1f} frames/s with the frame cache "
                  f"({one:.1f} frames/s on one thread under the lock); {load()}")
            cost = display_cost(app, size)
            print(f"  display alone (a 1200 x 800 view): {cost['at rest']:.1f} ms a frame at "
                  f"rest (full resolution), {cost['scrubbing']:.1f} ms while scrubbing (thinned "
                  f"by {cost['step']}: the screen's resolution); {load()}")
            window = MainWindow(load_optional_panels=False)
            window.resize(1400, 900)
            window.show()
            window.open_paths([big], remember=False)
            wait_for_frame(app, window, 0)
            forward, _ = scrub(app, window, list(range(1, args.frames)))
            backward, gui_ms = scrub(app, window, list(range(args.frames - 2, -1, -1)))
            print(f"  scrubbing: forward from the file {forward:.1f} frames/s, backward "
                  f"{backward:.1f} frames/s (goal >= {goal}); {load()}")
            cpu = decode_cpu(big)
            readers = len(window.documents[0].cache._readers)
            cores = os.cpu_count() or 1
            reading = cpu["staging"] + cpu["decoding"]
            # the GUI thread, the lock, the readers and the cores each bound the rate
            ceiling = min(1000 / gui_ms, 1000 / cpu["staging"], readers * 1000 / reading,
                          cores * 1000 / (reading + gui_ms))
            print(f"  CPU per frame (thread time, little changed by load): staging under the "
                  f"lock {cpu['staging']:.1f} ms, decoding {cpu['decoding']:.1f} ms "
                  f"({readers} readers), GUI thread {gui_ms:.1f} ms; ceiling on {cores} idle "
                  f"cores ~{ceiling:.0f} frames/s (goal >= {goal})")
            summary.append(f"{size}x{size}: forward {forward:.1f}, backward {backward:.1f} "
                           f"frames/s, goal >= {goal}: "
                           f"{'met' if min(forward, backward) >= goal else 'NOT met'}")
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
        print("summary (under the load printed above):")
        for line in summary:
            print(f"  {line}")


if __name__ == "__main__":
    main()
