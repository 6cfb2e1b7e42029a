"""Speed of ROI rasterisation, of the preview fit, and of applying a background to a series.

Run: ``python benchmarks/bench_background.py [--frames N] [--size PX] [--gui]`` (prints
figures).  With ``--gui`` it also measures how long the GUI thread of the background panel
is busy per ROI edit (the preview fit itself runs in a worker thread).
"""

from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--gui", action="store_true",
                        help="also time the background panel's GUI thread per ROI edit")
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
    if args.gui:
        gui_time_per_edit(size)


def gui_time_per_edit(size: int, edits: int = 12) -> None:
    """Move a rectangle `edits` times in the background panel; time the GUI thread's share.

    Counted: the slot that starts the preview (after the debounce), the slot that shows
    its result, and the first paint of the new preview (thumbnails and region overlay).
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from bench_scrub import wait_for_frame, write_series
    from PyQt6 import QtWidgets

    from flimage_app.gui.background.background_panel import BackgroundPanel
    from flimage_app.gui.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "series.h5"
        write_series(path, 2, (size, size))
        os.environ["FLIMAGE_APP_SETTINGS"] = str(Path(folder) / "settings.ini")
        window = MainWindow(load_optional_panels=False)
        panel = BackgroundPanel(window)
        window.add_panel("background", panel, "Background")
        window.resize(1400, 900)
        window.show()
        window.open_paths([path])
        wait_for_frame(app, window, 0)
        window.show_panel("background")
        scale = size / 2048
        panel.add_rois([BorderROI(40 * scale), EllipseROI(600 * scale, 600 * scale, 400 * scale,
                                                          400 * scale, role="exclude")], "regions")
        panel.add_roi(RectangleROI(100 * scale, 100 * scale, 300 * scale, 300 * scale))

        def settle() -> None:
            deadline = time.perf_counter() + 60
            while panel.busy and time.perf_counter() < deadline:
                app.processEvents()
                time.sleep(0.001)

        settle()
        spent: dict[str, list[float]] = {}

        def timed(name: str, slot, paint: bool = False):
            def run(*args):
                start = time.perf_counter()
                slot(*args)
                spent.setdefault(name, []).append(time.perf_counter() - start)
                if paint:  # images are converted for the screen on their first paint
                    start = time.perf_counter()
                    panel.preview.viewport().repaint()
                    window.image_view.graphics.viewport().repaint()
                    spent.setdefault("first paint of the preview", []).append(
                        time.perf_counter() - start)
            return run

        panel.preview_timer.timeout.disconnect()
        panel.preview_timer.timeout.connect(timed("start of the preview", panel.update_preview))
        runner = panel._preview_runner
        runner.succeeded.disconnect()
        runner.succeeded.connect(timed("display of the result", panel._show_preview_result,
                                       paint=True))
        item = panel._graphics[-1].item
        waits = []
        for step in range(edits):
            item.setPos((scale * (100 + 20 * step), scale * (120 + 10 * step)))
            item.sigRegionChangeFinished.emit(item)  # the end of a drag: one undoable edit
            start = time.perf_counter()
            settle()
            waits.append(time.perf_counter() - start)
        window.shutdown()
    print(f"background panel, {size}x{size} px, GUI thread per ROI edit (median of {edits}):")
    total = 0.0
    for name, values in spent.items():
        median = 1e3 * float(np.median(values))
        total += median
        print(f"  {name:<28} {median:8.2f} ms")
    print(f"  {'total':<28} {total:8.2f} ms; preview on display after "
          f"{1e3 * float(np.median(waits)):.0f} ms (including the debounce)")


if __name__ == "__main__":
    main()
