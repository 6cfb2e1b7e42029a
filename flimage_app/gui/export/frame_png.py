"""The frame on display as a picture: the image as shown (colour map, levels, ROIs,
caption) with its scale bar, cut to the image and at least at its own resolution."""

from __future__ import annotations

import math
import os
from pathlib import Path

from PyQt6 import QtCore, QtGui

from flimage_app.model.h5io import atomic_output


def render_frame(image_view) -> QtGui.QImage:
    """Render the visible part of the image of `image_view` (an ``ImageView``).

    The view box is drawn as the user sees it, so the scale bar and the
    overlays are in the picture; the picture is scaled up so that one image
    pixel covers at least one picture pixel.

    Raises
    ------
    ValueError
        No frame is on display.
    """
    frame = image_view.frame
    if frame is None:
        raise ValueError("No frame is on display")
    rows, columns = frame.raw.shape[:2]
    view_box = image_view.view_box
    image_rect = QtCore.QRectF(view_box.mapViewToScene(QtCore.QPointF(0, 0)),
                               view_box.mapViewToScene(QtCore.QPointF(columns, rows))).normalized()
    source = image_rect.intersected(view_box.sceneBoundingRect())
    if source.width() < 1 or source.height() < 1:
        raise ValueError("The image is scrolled out of view; use View ▸ Fit image to view")
    # image pixels visible across the source rectangle
    (x0, x1), _ = view_box.viewRange()
    visible_columns = min(x1, columns) - max(x0, 0)
    scale = max(1.0, visible_columns / source.width()) if visible_columns > 0 else 1.0
    size = QtCore.QSize(math.ceil(source.width() * scale), math.ceil(source.height() * scale))
    picture = QtGui.QImage(size, QtGui.QImage.Format.Format_ARGB32)
    picture.fill(QtGui.QColor("black"))
    painter = QtGui.QPainter(picture)
    try:
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        view_box.scene().render(painter, QtCore.QRectF(0, 0, size.width(), size.height()),
                                source)
    finally:
        painter.end()
    return picture


def write_png(picture: QtGui.QImage, path: str | os.PathLike, *,
              overwrite: bool = False) -> Path:
    """Save `picture` as the PNG `path` through ``atomic_output`` (any thread)."""
    with atomic_output(path, overwrite=overwrite) as temporary:
        if not picture.save(os.fspath(temporary), "PNG"):
            raise OSError(f"{path}: the PNG could not be written")
    return Path(path)
