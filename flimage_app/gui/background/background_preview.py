"""The background panel's preview fit, computed off the GUI thread.

At 2048 × 2048 px the fit of one frame takes 0.1–0.2 s, too long for the GUI
thread while the user drags a region or scrubs through frames.  The panel
therefore only collects the inputs (a :class:`PreviewRequest`: the frame's
pixels, the regions, the fit settings) and shows what :func:`compute_preview`
returns; :class:`LatestTaskRunner` runs the computation in a
:class:`~flimage_app.gui.workers.Task`, one at a time, and reports only the
result of the newest request.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PyQt6 import QtCore

from flimage_app.gui.browser.frame_cache import H5_LOCK
from flimage_app.gui.browser.image_view import robust_levels
from flimage_app.gui.workers import Task, TaskFunction, error_message
from flimage_app.model import background as bg_estimate
from flimage_app.model.background_apply import RegionQuality, assess_region
from flimage_app.model.errors import Cancelled
from flimage_app.model.rois import ROISet

#: colour (RGBA) of the background region drawn over the image
REGION_COLOUR = (60, 220, 90, 70)
#: the preview thumbnails keep at most this many pixels along each side; they are shown
#: about 200 px wide, and drawing a full 2048² image there costs the GUI thread ~7 ms each
THUMBNAIL_MAX_PX = 512


@dataclass(frozen=True)
class PreviewRequest:
    """Everything the preview fit of one frame needs, collected on the GUI thread.

    Attributes
    ----------
    index
        Frame index (selects per-frame regions).
    raw
        The frame's raw pixels (not modified).
    roiset
        Regions and fit settings (profile, offset).
    data_background
        Experimental ("data") background subtracted before the fit, or None.
    read_data_background
        When given (and `data_background` is None), called in the worker to read
        the frame's stored "data" background (None when it has none).
    """

    index: int
    raw: np.ndarray
    roiset: ROISet
    data_background: np.ndarray | None = None
    read_data_background: Callable[[], np.ndarray | None] | None = None


@dataclass
class PreviewResult:
    """What the preview of one request shows.

    `failure` is set (and the images are None) when there is nothing to show
    but a message: no pixel in the region, or a fit that failed.
    """

    request: PreviewRequest
    mask: np.ndarray
    overlay: np.ndarray
    background: np.ndarray | None = None
    corrected: np.ndarray | None = None
    quality: RegionQuality | None = None
    #: key ("background", "corrected") → (thumbnail image, display levels)
    thumbnails: dict[str, tuple[np.ndarray, tuple[float, float]]] = field(default_factory=dict)
    text: str = ""
    failure: str | None = None
    #: the stored "data" background read by the worker (for the panel's cache), if read
    data_background_read: np.ndarray | None = None
    data_background_was_read: bool = False


def region_overlay(mask: np.ndarray) -> np.ndarray:
    """RGBA image that tints the pixels of `mask` (transparent elsewhere)."""
    rgba = np.zeros(mask.shape + (4,), dtype=np.ubyte)
    rgba[mask] = REGION_COLOUR
    return rgba


def thumbnail(image: np.ndarray, max_px: int = THUMBNAIL_MAX_PX) -> np.ndarray:
    """Every n-th pixel of `image` so that no side exceeds `max_px` (the image if it fits).

    Subsampling, not averaging, keeps the noise the user judges the correction by.
    """
    step = max(1, math.ceil(max(image.shape[:2]) / max_px))
    return image if step == 1 else image[::step, ::step]


def quality_text(quality: RegionQuality, frame_pixels: int, background: np.ndarray) -> str:
    """The residual statistics line shown under the preview."""
    # a mean of 1e-15 is zero to the user: round at a thousandth of the noise
    resolution = 1e-3 * quality.noise if np.isfinite(quality.noise) else 0.0
    mean = 0.0 if abs(quality.residual_mean) < resolution else quality.residual_mean
    return (f"Region {quality.n_pixels} px ({100 * quality.n_pixels / frame_pixels:.1f} % of "
            f"the frame). Residual in the region: mean {mean:.3g}, std "
            f"{quality.residual_std:.3g} (pixel noise {quality.noise:.3g}). Fitted "
            f"background {background.min():.4g} … {background.max():.4g}.")


def compute_preview(request: PreviewRequest,
                    cancel: Callable[[], bool] = lambda: False) -> PreviewResult:
    """Rasterise the regions and fit the background of one frame (run in a worker).

    Parameters
    ----------
    request
        The inputs collected by the panel.
    cancel
        Returns True once the result is no longer wanted; checked between the
        steps (the fit itself cannot be interrupted).

    Returns
    -------
    PreviewResult
        The fit, or the reason there is none (`failure`).

    Raises
    ------
    Cancelled
        When `cancel` returned True.
    """
    def check() -> None:
        if cancel():
            raise Cancelled("Preview no longer wanted")

    roiset = request.roiset
    shape = tuple(request.raw.shape[:2])
    mask = roiset.mask(shape, request.index)
    if mask is None:  # the panel does not ask without regions; an empty set is all it can be
        mask = np.zeros(shape, dtype=bool)
    overlay = region_overlay(mask)
    if not mask.any():
        return PreviewResult(request, mask, overlay,
                             failure="The regions cover no pixel of this frame.")
    check()
    data_background, was_read = request.data_background, False
    if data_background is None and request.read_data_background is not None:
        data_background, was_read = request.read_data_background(), True
        check()
    image = np.asarray(request.raw, dtype=float)
    if data_background is not None:
        image = image - data_background
    failed = PreviewResult(request, mask, overlay, data_background_read=data_background,
                           data_background_was_read=was_read)
    try:
        background = bg_estimate.estimate(image, fit_offset=roiset.fit_offset,
                                          fit_profile=roiset.fit_profile, from_mask=mask)
    except (ValueError, np.linalg.LinAlgError) as error:
        failed.failure = f"Fit failed: {error_message(error)}"
        return failed
    check()
    corrected = image - background
    quality = assess_region(image, background, mask, roiset.fit_profile)
    thumbnails = {}
    for key, array in (("background", background), ("corrected", corrected)):
        small = thumbnail(array)
        thumbnails[key] = (small, robust_levels(small))
    return PreviewResult(request, mask, overlay, background, corrected, quality, thumbnails,
                         quality_text(quality, mask.size, background),
                         data_background_read=data_background,
                         data_background_was_read=was_read)


def stored_data_background_reader(series, index: int) -> Callable[[], np.ndarray | None]:
    """A function that reads the "data" background stored with frame `index` of `series`.

    Meant for the worker; the read holds :data:`H5_LOCK` like every GUI read.
    """
    def read() -> np.ndarray | None:
        with H5_LOCK:
            image = series[index]
            return image.get_bg("data") if "data" in image.bg_keys else None

    return read


class LatestTaskRunner(QtCore.QObject):
    """Runs one :class:`Task` at a time and reports only the newest request's outcome.

    A request made while a task runs waits for it (the running task is asked
    to cancel, since its result will be ignored); of several waiting
    requests only the newest is run.  After :meth:`invalidate`, nothing
    requested before is reported.

    Signals
    -------
    succeeded(object)
        The result of the newest request.
    failed(str)
        The newest request raised an error (one-line message).
    """

    succeeded = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(str)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._generation = 0
        self._queued: tuple[int, TaskFunction] | None = None
        self._running: Task | None = None
        #: generation of the running task while its outcome is still awaited, else None
        self._awaited: int | None = None

    @property
    def busy(self) -> bool:
        """True while the newest request has not been answered."""
        return self._queued is not None or (self._awaited is not None
                                            and self._awaited == self._generation)

    @property
    def running(self) -> bool:
        """True while a task (current or stale) runs in a worker thread."""
        return self._running is not None

    def submit(self, function: TaskFunction) -> None:
        """Run ``function(progress, cancel)`` as soon as no other task runs."""
        self._generation += 1
        self._queued = (self._generation, function)
        if self._running is None:
            self._start_queued()
        else:
            self._running.cancel()

    def invalidate(self) -> None:
        """Forget every request made so far: none of their outcomes will be reported."""
        self._generation += 1
        self._queued = None
        if self._running is not None:
            self._running.cancel()

    def _start_queued(self) -> None:
        generation, function = self._queued
        self._queued = None
        task = Task(function, self)
        task.succeeded.connect(lambda result: self._report(generation, result))
        task.failed.connect(lambda message: self._report_failure(generation, message))
        task.finished.connect(lambda: self._on_finished(task))
        self._running, self._awaited = task, generation
        task.start()

    def _report(self, generation: int, result) -> None:
        if generation == self._generation:
            self._awaited = None
            self.succeeded.emit(result)

    def _report_failure(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self._awaited = None
            self.failed.emit(message)

    def _on_finished(self, task: Task) -> None:
        if task is self._running:
            self._running = None
            self._awaited = None
        task.deleteLater()
        if self._queued is not None:
            self._start_queued()
