"""The desktop app (PyQt6 + pyqtgraph).

:func:`main` starts it; the command line (``flimage-app``) calls it.
"""

from __future__ import annotations

import os
import sys
import time

#: Size of windows rendered with ``--screenshot`` (width, height in pixels).
SCREENSHOT_SIZE = (1400, 900)
#: Longest wait for the first frame before a screenshot is taken anyway.
SCREENSHOT_TIMEOUT_S = 20.0
PANEL_CHOICES = ("browse", "background", "bleach")


def main(files: list[str], demo: bool = False, screenshot: str | os.PathLike | None = None,
         panel: str | None = "browse") -> int:
    """Run the app.

    Parameters
    ----------
    files
        Files to open at start.
    demo
        Also open the demo series.
    screenshot
        Instead of showing the window, render it at :data:`SCREENSHOT_SIZE` to this
        PNG file and return (works with ``QT_QPA_PLATFORM=offscreen``).
    panel
        Panel in front: "browse", "background" or "bleach" (a panel that is not
        installed falls back to the browser).

    Returns
    -------
    int
        With `screenshot`: 0 on success; 1 when the screenshot could not be
        written or a file given for it failed to open.  Without, the window runs
        until closed and the process then ends with the event loop's exit code
        (see :func:`_exit_now`); 0 if the files were handed to a running app.
    """
    from PyQt6 import QtCore

    from flimage_app.gui.app import ensure_application
    from flimage_app.gui.file_open import FileOpenReceiver, send_to_running_app

    app = ensure_application()
    if files and not screenshot and not demo and send_to_running_app(files):
        return 0  # "Open with" while the app runs: the running app opens them

    from flimage_app.gui import scratch
    from flimage_app.gui.main_window import MainWindow

    # results left unsaved by an app that crashed: nobody can reach them any more
    scratch.remove_stale_folders()

    window = MainWindow()
    if screenshot:
        window.headless = True
        window.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    requested = len(files) + (1 if demo else 0)
    if demo:
        window.open_demo()
    if files:
        window.open_paths(files, remember=not screenshot)
    panel = panel or "browse"
    if not window.show_panel(panel):
        print(f"flimage-app: panel {panel!r} is not available; showing the browser",
              file=sys.stderr)
        window.show_panel("browse")
    if not screenshot:
        receiver = FileOpenReceiver()
        receiver.files_requested.connect(lambda paths: _open_from_desktop(window, paths))
        app.installEventFilter(receiver)
        if window.start_maximised:
            window.showMaximized()
        else:
            window.show()
        try:
            code = app.exec()
        finally:
            app.removeEventFilter(receiver)
            receiver.close()
        _exit_now(window, code)
    try:
        written = render_screenshot(window, screenshot)
        opened = len(window.documents)
    finally:
        window.shutdown()
        scratch.remove_scratch_folder()
        window.deleteLater()
    if not written:
        print(f"flimage-app: error: could not write {screenshot}", file=sys.stderr)
        return 1
    return 0 if opened == requested else 1


def _exit_now(window, code: int) -> None:
    """End the process once the window has closed every file.

    PyQt's own clean-up at interpreter exit visits the Python wrappers of Qt
    objects; after a panel's background work, some of those objects are
    already gone and the visit crashes the process (a segmentation fault at
    exit, after the user's work is done).  Every file is closed and the
    settings are written by then, so the process ends here instead.
    """
    import logging

    from flimage_app.gui import scratch

    window.shutdown()
    scratch.remove_scratch_folder()
    window.settings.sync()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _open_from_desktop(window, paths: list[str]) -> None:
    """Open files handed over by the desktop and bring the window to the front."""
    window.open_paths(paths)
    window.showNormal()
    window.raise_()
    window.activateWindow()


def render_screenshot(window, path: str | os.PathLike,
                      size: tuple[int, int] = SCREENSHOT_SIZE) -> bool:
    """Render `window` at `size` into the PNG `path` once its frame is on display."""
    from PyQt6 import QtWidgets

    window.resize(*size)
    window.show()
    deadline = time.monotonic() + SCREENSHOT_TIMEOUT_S
    while time.monotonic() < deadline:
        QtWidgets.QApplication.processEvents()
        shown = window.current_document() is None or window.current_frame() is not None
        # panels that work in the background (a fit) say so with a `busy` property
        busy = any(getattr(window.panel(name), "busy", False) for name in window.panel_names())
        # a microscope file or hyperstack is being imported: its series is not open yet
        busy = busy or window.hyperstacks.busy
        if shown and not busy:
            break
        time.sleep(0.01)
    if window.current_frame() is not None:
        window.image_view.update_histogram()  # normally done once the display rests
    for _ in range(5):  # let layouts, the histogram and the scale bar settle
        QtWidgets.QApplication.processEvents()
        time.sleep(0.02)
    return window.grab().save(os.fspath(path), "PNG")
