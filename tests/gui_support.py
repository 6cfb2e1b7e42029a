"""Helpers for the GUI tests: series files on disk, waiting for frames."""

from __future__ import annotations

import numpy as np

from flimage_app.model import FLImage, FLSeries
from tests.synthetic import make_frames

PIXEL_SIZE = 0.25e-6


def write_series(path, count=5, shape=(32, 40), with_background=False, seed=0):
    """Write an FLSeries file of synthetic frames; frame i has time 2·i s.

    With `with_background`, every frame stores a constant "data" background of 10 + i.
    Returns the list of raw frames (float32, as stored).
    """
    frames = [frame.astype(np.float32) for frame in make_frames(count, shape, seed)]
    with FLSeries(h5file=path, h5mode="w") as series:
        for index, raw in enumerate(frames):
            image = FLImage(data=raw, meta_data={"time": 2.0 * index, "pixel size": PIXEL_SIZE,
                                                 "identifier": f"frame-{index}"})
            if with_background:
                image.set_bg_data(np.full(shape, 10.0 + index))
            series.add_flimage(image)
    return frames


def wait_for_frame(qtbot, main_window, index: int) -> None:
    """Wait until frame `index` is on display."""
    qtbot.waitUntil(lambda: main_window.current_frame() is not None
                    and main_window.current_frame().index == index, timeout=5000)


def answer_message_boxes(button, seen: list[str] | None = None, timeout_ms: int = 10_000):
    """Answer every modal QMessageBox that opens by clicking its `button`, until stopped.

    `button` is a ``QMessageBox.StandardButton`` or a function ``box -> button``.
    The texts of each box (``text`` + newline + ``informativeText``) are appended
    to `seen`.  The click is a real mouse click on the button.  Returns a
    function that stops answering.
    """
    from PyQt6 import QtCore, QtWidgets
    from PyQt6.QtTest import QTest

    timer = QtCore.QTimer()
    timer.setInterval(20)

    def poll() -> None:
        box = QtWidgets.QApplication.activeModalWidget()
        if not isinstance(box, QtWidgets.QMessageBox) or not box.isVisible():
            return
        if getattr(box, "_answered_by_test", False):
            return
        box._answered_by_test = True
        if seen is not None:
            seen.append(f"{box.text()}\n{box.informativeText()}")
        choice = button(box) if callable(button) else button
        QTest.mouseClick(box.button(choice), QtCore.Qt.MouseButton.LeftButton)

    timer.timeout.connect(poll)
    timer.start()
    QtCore.QTimer.singleShot(timeout_ms, timer.stop)
    return timer.stop
