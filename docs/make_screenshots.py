"""Render the README's screenshots (offscreen): ``python docs/make_screenshots.py [RETINA.h5]``.

The retina screenshot needs flimage's reference file ``retina_p10.h5`` (by default
looked for in ``../shared/data/flimage/``); the others use the bundled demo series.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DOCS = Path(__file__).resolve().parent
RETINA = DOCS.parents[1] / "shared" / "data" / "flimage" / "retina_p10.h5"


def window_with(paths, panel: str | None = None):
    from flimage_app.gui.app import SETTINGS_ENV
    from flimage_app.gui.main_window import MainWindow

    # every window as on a first start (no pane sizes or recent files from earlier ones)
    os.environ[SETTINGS_ENV] = tempfile.mkstemp(suffix=".ini")[1]
    window = MainWindow()
    window.headless = True
    window.open_paths([str(path) for path in paths], remember=False)
    if panel:
        window.show_panel(panel)
    return window


def draw_background_regions(window) -> None:
    """Regions as a user draws them on the demo: margins, a corner, and a cell left out."""
    from flimage_app.model.rois import EllipseROI, PolygonROI, RectangleROI

    panel = window.panel("background")
    panel.add_rois([RectangleROI(x=0, y=0, width=12, height=192, name="left margin"),
                    RectangleROI(x=150, y=110, width=106, height=82, name="lower right"),
                    EllipseROI(x=185, y=118, width=50, height=58, role="exclude", name="cell"),
                    PolygonROI(points=((196, 0), (256, 0), (256, 70), (220, 55)),
                               name="top right")],
                   "Add regions")


def outline(centre_yx, radii_yx, angle, scale=0.92, points=40):
    """A free-hand outline traced just inside an elliptical cell of the demo (as by hand)."""
    import numpy as np

    t = np.linspace(0, 2 * np.pi, points, endpoint=False)
    # the demo's cell equation (model.demo.cell_profile): u along the angle, v across it
    u, v = scale * radii_yx[1] * np.cos(t), scale * radii_yx[0] * np.sin(t)
    cos, sin = np.cos(angle), np.sin(angle)
    x = centre_yx[1] + u * cos - v * sin
    y = centre_yx[0] + u * sin + v * cos
    return tuple(zip(x.round(1).tolist(), y.round(1).tolist(), strict=True))


def measure_cells(window) -> None:
    """Three cells of the demo outlined (a fast, a two-phase and a slow bleacher), measured."""
    from flimage_app.model.demo import DemoParameters
    from flimage_app.model.rois import FreehandROI

    panel = window.panel("measure")
    cells = DemoParameters().cells
    for cell in (cells[0], cells[2], cells[3]):
        panel.add_roi(FreehandROI(points=outline(cell.center, cell.radii, cell.angle)))
    # the demo stores no background: its raw data are what is shown (the panel says so)
    panel.data_combo.setCurrentIndex(panel.data_combo.findData("raw"))
    panel.measure()
    window.browser.set_index(12)  # the marker of the frame on display, inside the traces


def main() -> int:
    from flimage_app.gui import render_screenshot
    from flimage_app.gui.app import ensure_application
    from flimage_app.model.demo import demo_series_path

    app = ensure_application()  # noqa: F841 (kept alive while windows exist)
    demo = demo_series_path()
    retina = Path(sys.argv[1]) if len(sys.argv) > 1 else RETINA
    shots = [("screenshot_browser_demo.png", [demo], None, None),
             ("screenshot_background.png", [demo], "background", draw_background_regions),
             ("screenshot_bleach.png", [demo], "bleach", None),
             ("screenshot_measure.png", [demo], "measure", measure_cells)]
    if retina.exists():
        shots.append(("screenshot_browser_retina.png", [retina], None, None))
    else:
        print(f"skipped the retina screenshot: {retina} not found", file=sys.stderr)
    for name, paths, panel, prepare in shots:
        window = window_with(paths, panel)
        if prepare is not None:
            prepare(window)
        if not render_screenshot(window, DOCS / name):
            print(f"could not write {name}", file=sys.stderr)
            return 1
        print(f"wrote docs/{name}")
        window.shutdown()
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
