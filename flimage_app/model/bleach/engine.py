"""Bleach correction of a whole series: measure, fit, correct, write — frame by frame.

:func:`correct_series` reads every frame at most once per purpose
(background level, intensity, correction; the first two share one pass
whenever the intensity does not depend on the background level) and writes
the corrected frames one by one through :class:`~flimage_app.model.fastwrite.FrameWriter`,
so memory stays a few frames for any series length.  Output files appear
only when complete (:func:`~flimage_app.model.h5io.atomic_output`).
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import h5py
import numpy as np

from .. import provenance as provenance_module
from ..errors import Cancelled
from ..fastwrite import FrameWriter, bound_metadata_cache
from ..h5io import atomic_output, exists_message
from ..progress import Cancel, Progress, start_pass
from .measure import (
    BACKGROUNDS,
    REGIONS,
    FrameReader,
    border_mask,
    check_finite_trace,
    check_mask,
    positive_sum,
    region_mean,
    time_axis,
)
from .methods import CORRECTIONS, METHODS, Correction, HistogramMatcher
from .report import FitReport

_DESCRIPTIONS = {
    "ratio": "simple ratio I(first)/I(frame) (no fit)",
    "histogram": "histogram matching to the {reference} frame (no fit)",
}


@dataclass
class BleachResult:
    """Everything a bleach correction measured and decided, frame by frame.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    times : ndarray
        Time of every frame as used by the fit (s, or frame index; see ``report.time_unit``).
    intensity : ndarray
        Background-subtracted intensity trace that was corrected.
    fitted : ndarray or None
        Fitted curve at `times` (None for ratio and histogram).
    correction : ndarray
        Factor each frame was multiplied with (for histogram matching: the
        ratio of the region's mean after and before matching).
    background : ndarray
        Background level subtracted from every frame (in addition to any
        background stored in the frames).
    stored_background : ndarray or None
        With ``background="stored"``: the mean, over the measured region, of
        the background stored in every frame (already subtracted in its
        ``fl``; flimage's ``bg_data``); None otherwise.
    clipped : int or None
        Pixels clipped to the range of an integer export (set by the code
        that exported the frames, e.g. :func:`flimage_app.model.stackstream.correct_stack`);
        None when nothing was exported to an integer type.
    report : FitReport
        The fit report.
    output : str or None
        Path of the corrected series, if one was written to a file.
    settings : dict
        The options of :func:`correct_series` that produced this result.
    meta_changes : dict
        Metadata laid over the file's before measuring (``{frame: {key: value}}``),
        e.g. times corrected in the app but not saved; empty for none.
    """

    method: str
    times: np.ndarray
    intensity: np.ndarray
    fitted: np.ndarray | None
    correction: np.ndarray
    background: np.ndarray
    report: FitReport
    output: str | None = None
    settings: dict = field(default_factory=dict)
    meta_changes: dict = field(default_factory=dict)
    stored_background: np.ndarray | None = None
    clipped: int | None = None

    def subtracted_background(self) -> np.ndarray:
        """The background taken off every frame before it was measured, in all."""
        if self.stored_background is None:
            return self.background
        return self.background + self.stored_background

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write the per-frame table (time, background, intensity, fit, factor, residual).

        The background column holds all that was subtracted (with
        ``background="stored"``: the stored background).  The file is UTF-8
        with a byte-order mark, so that Excel reads the units (µ) right; other
        readers take it with ``encoding="utf-8-sig"``.
        """
        fitted = self.fitted if self.fitted is not None else np.full(self.times.size, np.nan)
        residual = self.intensity - fitted
        with open(path, "w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(["frame", f"time [{self.report.time_unit}]", "background",
                             "intensity", "fitted", "correction factor", "residual"])
            for row in zip(range(self.times.size), self.times, self.subtracted_background(),
                           self.intensity, fitted, self.correction, residual, strict=True):
                writer.writerow([row[0], *(repr(float(value)) for value in row[1:])])


class FrameSink(Protocol):
    """Where the write pass sends corrected frames besides the HDF5 output (e.g. a TIFF)."""

    def submit(self, image: np.ndarray, meta: Mapping[str, Any]) -> None:
        """Take one corrected frame (float64; the sink may keep it) and its metadata."""

    def flush(self) -> None:
        """Finish writing every frame submitted."""

    def close(self) -> None:
        """Stop, dropping what is not written (after an error or a cancel)."""


def _opened_reader(series, workers: int | None, meta_changes, cache_bytes: int | None):
    """A context manager giving the frame reader of `series`.

    A reader given by the caller (anything with ``iter_fl``, e.g. a TIFF
    stack's :class:`~flimage_app.model.stackstream.StackReader`) is used as
    it is and left open for the caller to close.
    """
    if hasattr(series, "iter_fl"):
        return contextlib.nullcontext(series)
    return FrameReader(series, workers, meta_changes, cache_bytes=cache_bytes)


class _Steps:
    """Progress and cancellation over the passes over the frames.

    Progress is counted in frames within each pass, and every pass is named
    (see :mod:`flimage_app.model.progress`).
    """

    def __init__(self, frames: int, progress: Progress | None, cancel: Cancel | None) -> None:
        self.done, self.total = 0, frames
        self.progress, self.cancel = progress, cancel
        self.check()

    def start(self, name: str) -> None:
        """A new pass over all frames begins."""
        self.done = 0
        start_pass(self.progress, name)

    def check(self) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled("Bleach correction cancelled; no output written")

    def step(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)
        self.check()


def _validate(method: str, background: str, region: str) -> None:
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if background not in BACKGROUNDS:
        raise ValueError(f"Unknown background {background!r}; "
                         f"choose one of {', '.join(BACKGROUNDS)}")
    if region not in REGIONS:
        raise ValueError(f"Unknown region {region!r}; choose one of {', '.join(REGIONS)}")


def _region(region: str, shape, signal_mask, background_mask) -> np.ndarray | None:
    if region == "frame":
        return None
    if region == "signal":
        return check_mask(signal_mask, shape, "signal mask")
    outside = ~check_mask(background_mask, shape, "background mask")
    if not outside.any():
        raise ValueError("The background mask covers the whole frame; nothing is outside it")
    return outside


def _background_region(background: str, shape, border_px: int, background_mask):
    if background == "border":
        return border_mask(shape, border_px)
    if background == "mask":
        return check_mask(background_mask, shape, "background mask")
    return None


def _measurable(reader) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, image)`` to measure: a frame as stored where that is its ``fl`` exactly.

    :func:`region_mean` and :func:`positive_sum` convert a stored float32
    image to the same float64 values as ``fl``, but only the pixels they
    need (the border), or as they subtract: two float64 copies of every
    frame fewer in flimage's two measuring passes.
    """
    if not isinstance(reader, FrameReader):
        yield from reader.iter_fl()
        return
    for index, raw, image in reader.iter_raw():
        yield index, (raw if image is None else image)


def _measure(reader: FrameReader, method: str, background: str, background_value,
             background_region, region, steps: _Steps) -> tuple[np.ndarray, np.ndarray]:
    """Background level and intensity per frame, in as few passes as the method allows."""
    count = len(reader)
    fixed_level = float(background_value or 0.0) if background == "constant" else 0.0
    if method == "flimage":
        # Sum of the pixels above the background: needs the level before the pass.
        level = fixed_level
        if background_region is not None:
            level_per_frame = np.empty(count)
            steps.start("measuring the background")
            for index, image in _measurable(reader):
                level_per_frame[index] = region_mean(image, background_region)
                steps.step()
            level = _mean_level(level_per_frame)
        intensity = np.empty(count)
        steps.start("measuring")
        for index, image in _measurable(reader):
            intensity[index] = positive_sum(image, level, region)
            steps.step()
        check_finite_trace(intensity, "measured region")
        return np.full(count, level), intensity
    # Mean intensity is linear in the level: one pass gives both.
    means, levels = np.empty(count), np.full(count, fixed_level)
    steps.start("measuring")
    for index, image in reader.iter_fl():
        means[index] = region_mean(image, region)
        if background_region is not None:
            levels[index] = region_mean(image, background_region)
        steps.step()
    if background_region is not None:
        levels[:] = _mean_level(levels)
    check_finite_trace(means, "measured region")
    return levels, means - levels


def _stored_levels(reader: FrameReader, region, steps: _Steps) -> np.ndarray:
    """Mean of each frame's stored background over `region` (None: the whole frame)."""
    levels = np.zeros(len(reader))
    steps.start("reading the stored background")
    for index in range(len(reader)):
        total = 0.0
        for stored in reader.stored_backgrounds(index):
            total = total + np.asarray(stored, dtype=float)
        levels[index] = region_mean(np.broadcast_to(total, reader.shape), region)
        steps.step()
    return levels


def _mean_level(levels: np.ndarray) -> float:
    """Background level averaged over the frames whose background region has finite pixels."""
    check_finite_trace(levels[np.isfinite(levels)] if np.isfinite(levels).any() else levels,
                       "background region")
    return float(np.mean(levels[np.isfinite(levels)]))


def _report(method: str, correction: Correction, unit: str, notes: list[str],
            histogram_reference: str) -> FitReport:
    if correction.fit is not None:
        return FitReport.from_fit(correction.fit, unit, notes)
    description = _DESCRIPTIONS[method].format(reference=histogram_reference)
    return FitReport.without_fit(description, unit, notes)


def correct_series(series, output, method: str = "exp", *, border_px: int = 20,
                   background: str = "border", background_value: float | None = None,
                   background_mask=None, region: str = "frame", signal_mask=None,
                   histogram_reference: str = "first", source=None,
                   progress: Progress | None = None, cancel: Cancel | None = None,
                   overwrite: bool = False, strict: bool = True,
                   workers: int | None = None,
                   meta_changes: Mapping[int, Mapping[str, Any]] | None = None,
                   sinks: Sequence[FrameSink] = (), cache_bytes: int | None = None
                   ) -> BleachResult:
    """Correct photobleaching in `series` and write the corrected series to `output`.

    Parameters
    ----------
    series : FLSeries, h5py.Group, path or frame reader
        The series to measure (opened read-only if a path); or a reader with
        :class:`~.measure.FrameReader`'s interface, e.g. a TIFF stack's
        :class:`~flimage_app.model.stackstream.StackReader` (then
        `meta_changes` and `cache_bytes` are the reader's own).
    output : path, h5py.Group or None
        Where the corrected series goes (a new file, or a group to fill);
        None measures and fits only (and feeds `sinks`, if any).
    method : {"exp", "flimage", "ratio", "biexp", "histogram"}
        "exp" (default) / "biexp": one or two exponentials with offset fitted
        against the frame times, on the mean intensity; "flimage": flimage
        0.3.3's exponential fit and intensity (sum of the pixels above the
        background), same numbers as flimage, but biased: background noise
        adds a constant that does not bleach to that sum, so the corrected
        frames still decay (see the README, "What differs from flimage");
        "ratio": Fiji's simple ratio; "histogram": histogram matching.
    border_px : int
        Width of the border frame for ``background="border"``.
    background : {"constant", "border", "mask", "stored"}
        Level subtracted from every frame: `background_value`; the mean over
        all frames of the border frame's mean; the same over `background_mask`;
        or nothing beyond the background already stored in each frame.
    background_value : float or None
        The constant level (default 0).
    background_mask, signal_mask : bool array or None
        Masks of background and signal (frame shape).
    region : {"frame", "signal", "outside"}
        Where the intensity is measured: whole frame, `signal_mask`, or
        everything outside `background_mask`.
    histogram_reference : {"first", "previous"}
        Reference frame of the histogram matching.
    source : FLSeries, h5py.Group, path or None
        Series whose frames are corrected with the correction measured on
        `series` (e.g. a denoised copy); default `series`.
    progress, cancel : callable or None
        ``progress(done, total)`` after every frame of every pass; ``cancel()``
        returning True stops with :class:`Cancelled` and leaves no output file.
    overwrite : bool
        Replace an existing output file.
    strict : bool
        For "flimage": refuse a fit that stalled far from the data (flimage
        itself returns it); see :func:`~.fitting.fit_flimage_exponential`.
    workers : int or None
        Compression threads (default: number of CPUs).
    meta_changes : mapping or None
        ``{frame index: {key: value}}`` laid over the metadata in the file
        (e.g. corrected times not yet saved): the fit uses these times and the
        written frames carry these values.  The input file is not changed.
    sinks : sequence of FrameSink
        Also receive every corrected frame in the write pass (e.g. a TIFF
        written as the frames come); they are flushed before the HDF5 output
        is complete, and closed on failure.
    cache_bytes : int or None
        Memory budget for decoded frames kept between the passes (default
        :func:`~.measure.default_cache_bytes`: the whole series if its frames
        take at most :data:`~.measure.WHOLE_SERIES_BYTES`, else
        :data:`~.measure.CACHE_BYTES`): within it each frame is read and
        inflated once, beyond it the rest is read again; 0 keeps none.

    Returns
    -------
    BleachResult

    Raises
    ------
    FitError
        The fit failed or the series does not decay.
    Cancelled
        `cancel` returned True.
    """
    _validate(method, background, region)
    if isinstance(output, (str, os.PathLike)) and Path(output).exists() and not overwrite:
        # fail before the measurement passes, not after them
        raise FileExistsError(exists_message(output))
    settings = {"method": method, "border_px": int(border_px), "background": background,
                "background_value": background_value, "region": region,
                "histogram_reference": histogram_reference, "strict": bool(strict)}
    with _opened_reader(series, workers, meta_changes, cache_bytes) as reader:
        # the source is read in the write pass only: nothing to keep for a next pass
        target_reader = (FrameReader(source, workers, meta_changes, cache_bytes=0)
                         if source is not None else reader)
        try:
            if (len(target_reader), target_reader.shape) != (len(reader), reader.shape):
                raise ValueError(f"The source series has {len(target_reader)} frames of "
                                 f"{target_reader.shape}, the measured one {len(reader)} of "
                                 f"{reader.shape}")
            region_mask = _region(region, reader.shape, signal_mask, background_mask)
            bg_region = _background_region(background, reader.shape, border_px, background_mask)
            matcher = (HistogramMatcher(histogram_reference, region_mask)
                       if method == "histogram" else None)
            steps = _Steps(len(reader), progress, cancel)
            axis = time_axis(reader.times())
            levels, intensity = _measure(reader, method, background, background_value,
                                         bg_region, region_mask, steps)
            stored = (_stored_levels(reader, region_mask, steps) if background == "stored"
                      else None)
            kwargs = {"strict": strict} if method == "flimage" else {}
            correction = CORRECTIONS[method](axis.values, intensity, **kwargs)
            notes = [axis.note] if axis.note else []
            edited = sum("time" in changes for changes in reader.meta_changes.values())
            if edited:
                notes.append(f"the times of {edited} frame{'s' if edited != 1 else ''} are "
                             "edited values, not those stored in the input file")
            result = BleachResult(
                method=method, times=axis.values, intensity=intensity,
                fitted=correction.fitted,
                correction=(correction.factors if correction.factors is not None
                            else np.ones(len(reader))),
                background=levels,
                report=_report(method, correction, axis.unit, notes, histogram_reference),
                settings=settings, meta_changes=reader.meta_changes,
                stored_background=stored)
            masks = {"signal_mask": signal_mask if region == "signal" else None,
                     "background_mask": (background_mask
                                         if "mask" in background or region == "outside"
                                         else None)}
            if output is None:
                if matcher is not None or sinks:
                    _apply(target_reader, None, result, matcher, region_mask, steps, workers,
                           sinks)
                return result
            readers = (reader,) if target_reader is reader else (reader, target_reader)
            inputs = provenance_module.InputDescriptions(*readers)
            try:
                if isinstance(output, h5py.Group):
                    _apply(target_reader, output, result, matcher, region_mask, steps, workers,
                           sinks)
                    provenance_module.write_provenance(
                        output, provenance_module.bleach_record(result, inputs.result(), masks))
                    return result
                with atomic_output(output, overwrite=overwrite) as temporary:
                    with h5py.File(temporary, "w") as handle:
                        bound_metadata_cache(handle)
                        _apply(target_reader, handle, result, matcher, region_mask, steps,
                               workers, sinks)
                        provenance_module.write_provenance(
                            handle,
                            provenance_module.bleach_record(result, inputs.result(), masks))
            finally:
                inputs.close()
            result.output = os.fspath(Path(output))
            return result
        finally:
            if target_reader is not reader:
                target_reader.close()


def _apply(reader: FrameReader, output: h5py.Group | None, result: BleachResult,
           matcher: HistogramMatcher | None, region: np.ndarray | None, steps: _Steps,
           workers: int | None, sinks: Sequence[FrameSink] = ()) -> None:
    """The write pass: corrected frames go to `output` and `sinks` (none: histogram factors)."""
    # the reader's threads compress too: fewer threads hold fewer freed frames in malloc
    executor = reader.executor if isinstance(reader, FrameReader) else None
    writer = (FrameWriter(output, workers=workers, executor=executor)
              if output is not None else None)
    if output is not None:
        reader.keep_identifier(output)
    writing = output is not None or bool(sinks)
    steps.start("writing" if writing else "matching histograms")
    try:
        for index, image in reader.iter_fl():
            image, result.correction[index] = _correct_frame(
                image, result.background[index], result.correction[index], matcher, region)
            meta = reader.meta(index) if writing else {}
            if writer is not None:
                writer.submit(image, meta)
            for sink in sinks:
                sink.submit(image, meta)
            steps.step()
        if writer is not None:
            writer.flush()
        for sink in sinks:
            sink.flush()
    finally:
        if writer is not None:
            writer.close()
        for sink in sinks:
            sink.close()


def _correct_frame(image: np.ndarray, level: float, factor: float,
                   matcher: HistogramMatcher | None,
                   region: np.ndarray | None) -> tuple[np.ndarray, float]:
    """One frame as the correction writes it, and the factor that was applied.

    The background level is subtracted, then the frame is scaled by `factor`
    or, with a `matcher`, histogram-matched (the factor is then the ratio of
    the region's means after / before).  `image` is changed in place.
    """
    if level:
        image -= level
    if matcher is None:
        image *= factor
        return image, factor
    before = region_mean(image, region)
    image = matcher(image)
    after = region_mean(image, region)
    return image, (after / before if before else np.nan)


def corrected_frame(series, result: BleachResult, index: int, *, region: str = "frame",
                    signal_mask=None, background_mask=None,
                    histogram_reference: str = "first") -> np.ndarray:
    """Frame `index` as :func:`correct_series` with `result` writes it (a preview).

    Nothing is written.  For histogram matching the reference frames are
    read too (frames 0 … `index` for the "previous" reference).
    """
    with _opened_reader(series, 1, None, 0) as reader:
        if result.method != "histogram":
            image, _ = _correct_frame(reader.fl(index), result.background[index],
                                      result.correction[index], None, None)
            return image
        region_mask = _region(region, reader.shape, signal_mask, background_mask)
        matcher = HistogramMatcher(histogram_reference, region_mask)
        numbers = range(index + 1) if histogram_reference == "previous" else sorted({0, index})
        for number in numbers:
            image, _ = _correct_frame(reader.fl(number), result.background[number], 1.0,
                                      matcher, region_mask)
        return image


def flimage_bleach_correction(series, h5out=None, border_px: int = 20, flscorr=None,
                              count=None, max_count=None, callback: Progress | None = None,
                              **options):
    """flimage 0.3.3's ``FLSeries.bleach_correction``, on the app's engine.

    Returns ``(bg, flint, decay, times)`` like flimage.  `count` and
    `max_count` are anything with a ``.value`` (e.g. ``multiprocessing.Value``):
    `max_count` grows by the number of frames at the start of every pass,
    `count` by one per frame and pass.  `callback(done, total)` is a progress
    callback (frames of each pass, see :mod:`flimage_app.model.progress`).  Unlike
    flimage, an existing `h5out` file is not appended to (FileExistsError),
    and a fit that stalled far from the data raises FitError.
    """
    progress = _FlimageCounters(count, max_count, callback)
    result = correct_series(series, h5out, "flimage", border_px=border_px, background="border",
                            region="frame", source=flscorr, progress=progress, **options)
    return float(result.background[0]), result.intensity, result.fitted, result.times


class _FlimageCounters:
    """flimage's ``count`` / ``max_count`` progress values, fed by the engine's passes."""

    def __init__(self, count, max_count, callback: Progress | None) -> None:
        self.count, self.max_count, self.callback = count, max_count, callback
        self.announce = True

    def start_pass(self, name: str) -> None:
        self.announce = True
        start_pass(self.callback, name)

    def __call__(self, done: int, total: int) -> None:
        if self.max_count is not None and self.announce:
            self.max_count.value += total
        self.announce = False
        if self.count is not None:
            self.count.value += 1
        if self.callback is not None:
            self.callback(done, total)


__all__ = ["BleachResult", "FrameSink", "correct_series", "flimage_bleach_correction"]
