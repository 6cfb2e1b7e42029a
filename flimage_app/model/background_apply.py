"""Fit the background of a series on ROI masks and write the corrected series.

The result is stored the way flimage stores a fitted background, so that
flimage 0.3.3 opens the output and its ``fl`` is the corrected image: every
fitted frame gets ``fluorescence/bg_data/fit`` (attributes ``fit_offset``,
``fit_profile``, ``border_px``) and ``fluorescence/estimate_bg_from_mask``.
The ROIs themselves go into the output's ``flimage_app`` group.

Frames are processed one at a time, so series larger than memory work.
:func:`assess_region` judges a background region for the live preview.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from . import background as bg_estimate
from .errors import Cancelled, FileFormatError, FitError, FLImageAppError
from .h5io import atomic_output, copy_group
from .image import FLImage
from .names import APP_GROUP, frame_name
from .progress import start_pass
from .provenance import background_record, describe_file, write_provenance
from .rois import ROISet, write_roiset
from .series import FLSeriesBase

#: number of free parameters of each profile (the offset included)
PROFILE_PARAMETERS: dict[str, int] = {"offset": 1, "tilt": 3, "poly2o": 6}
#: fewer background pixels than this per profile parameter make a fit unreliable
MIN_PIXELS_PER_PARAMETER = 20
#: residual scatter this many times the pixel noise means the region holds structure
SIGNAL_STD_RATIO = 2.0
#: more than this fraction of residuals above 5 noise sigmas means bright objects in the region
BRIGHT_FRACTION = 0.02


@dataclass
class RegionQuality:
    """How well a background region and fit describe the background.

    Attributes
    ----------
    n_pixels : int
        Pixels in the region.
    residual_mean, residual_std : float
        Mean and standard deviation of image − background in the region.
    noise : float
        Pixel noise estimated from differences of horizontal neighbours in
        the region (robust to smooth gradients and to a few bright pixels).
    warnings : list of str
        One-line warnings for the user; empty when the region looks fine.
    """

    n_pixels: int
    residual_mean: float
    residual_std: float
    noise: float
    warnings: list[str] = field(default_factory=list)


def minimum_pixels(fit_profile: str) -> int:
    """Smallest region for which a `fit_profile` fit is trusted."""
    return MIN_PIXELS_PER_PARAMETER * PROFILE_PARAMETERS.get(fit_profile, 1)


def pixel_noise(image: np.ndarray, mask: np.ndarray) -> float:
    """Noise σ of single pixels in the masked region, from neighbour differences.

    Differences of horizontally adjacent pixels cancel the smooth background
    and have variance 2σ²; the median absolute deviation makes the estimate
    ignore the few differences that straddle an edge.  NaN without pairs.
    """
    image = np.asarray(image, dtype=float)
    pairs = mask[:, 1:] & mask[:, :-1]
    differences = (image[:, 1:] - image[:, :-1])[pairs]
    if differences.size < 2:
        return float("nan")
    mad = np.median(np.abs(differences - np.median(differences)))
    return float(1.4826 * mad / np.sqrt(2))


def assess_region(image: np.ndarray, background: np.ndarray, mask: np.ndarray,
                  fit_profile: str) -> RegionQuality:
    """Residual statistics of a background fit in its region, with warnings.

    Warns when the region is too small for the profile, when the residual
    scatters much more than the pixel noise (the region covers signal or a
    background the profile cannot describe), and when many residuals are
    far above the noise (bright objects inside the region).
    """
    residual = (np.asarray(image, dtype=float) - background)[mask]
    n_pixels = int(residual.size)
    warnings: list[str] = []
    if n_pixels == 0:
        return RegionQuality(0, float("nan"), float("nan"), float("nan"),
                             ["The background region is empty"])
    noise = pixel_noise(image, mask)
    quality = RegionQuality(n_pixels, float(residual.mean()), float(residual.std()), noise,
                            warnings)
    if n_pixels < minimum_pixels(fit_profile):
        warnings.append(f"Region too small: {n_pixels} px for a {fit_profile!r} fit "
                        f"(use at least {minimum_pixels(fit_profile)} px)")
    if np.isfinite(noise) and noise > 0:
        if quality.residual_std > SIGNAL_STD_RATIO * noise:
            warnings.append(f"Residual std {quality.residual_std:.3g} is "
                            f"{quality.residual_std / noise:.1f}× the pixel noise "
                            f"{noise:.3g}: the region seems to cover signal")
        bright = float(np.mean(residual > 5 * noise))
        if bright > BRIGHT_FRACTION:
            warnings.append(f"{bright:.0%} of the region is far brighter than the background; "
                            "exclude cells from it")
    return quality


@dataclass
class ApplyResult:
    """What :func:`apply_background` did.

    Attributes
    ----------
    fitted_frames : list of int
        Indices of the frames whose background was fitted.
    residual_mean, residual_std : ndarray
        Per fitted frame, statistics of image − background in the region.
    n_pixels : ndarray
        Region size per fitted frame.
    """

    fitted_frames: list[int]
    residual_mean: np.ndarray
    residual_std: np.ndarray
    n_pixels: np.ndarray


def _frames_to_fit(frames: Iterable[int] | None, length: int) -> list[int]:
    if frames is None:
        return list(range(length))
    chosen = sorted({int(f) + length if int(f) < 0 else int(f) for f in frames})
    outside = [f for f in chosen if not 0 <= f < length]
    if outside:
        raise FLImageAppError(f"Frame {outside[0]} does not exist (the series has "
                              f"{length} frames, 0…{length - 1})")
    return chosen


def _check_settings(fit_profile: str, fit_offset: str) -> None:
    if fit_profile not in bg_estimate.VALID_FIT_PROFILES:
        raise FLImageAppError(f"Unknown background profile {fit_profile!r}; use one of "
                              f"{', '.join(bg_estimate.VALID_FIT_PROFILES)}")
    if fit_offset not in bg_estimate.VALID_FIT_OFFSETS:
        raise FLImageAppError(f"Unknown background offset {fit_offset!r}; use one of "
                              f"{', '.join(bg_estimate.VALID_FIT_OFFSETS)}")
    if fit_offset == "fit" and fit_profile == "offset":
        raise FLImageAppError("Offset 'fit' needs a fitted profile ('tilt' or 'poly2o')")


class _MaskCache:
    """Rasterise each distinct ROI list once, even when frames override the shared ROIs."""

    def __init__(self, roiset: ROISet, shape: tuple[int, int]) -> None:
        self._roiset = roiset
        self._shape = shape
        self._masks: dict[tuple, np.ndarray | None] = {}

    def mask(self, index: int) -> np.ndarray:
        rois = self._roiset.rois_for_frame(index)
        if rois not in self._masks:
            self._masks[rois] = self._roiset.mask(self._shape, index)
        mask = self._masks[rois]
        if mask is None:
            raise FLImageAppError("No background region: draw at least one ROI")
        if not mask.any():
            raise FitError(f"The background region of frame {index} lies outside the image "
                           "or is fully excluded")
        return mask


def fit_frame(fli: FLImage, mask: np.ndarray, fit_profile: str, fit_offset: str,
              data_background: np.ndarray | None = None) -> tuple[float, float, int]:
    """Fit and store the background of one writable FLImage; return residual (mean, std, n).

    With `data_background`, it is stored first as the "data" background and
    the fit runs on the image minus it, as in flimage.
    """
    if data_background is not None:
        fli.set_bg_data(data_background)
    try:
        fli.estimate_bg(fit_offset=fit_offset, fit_profile=fit_profile, border_px=0,
                        from_mask=mask)
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise FitError(f"Background fit failed: {exc}") from None
    residual = fli.fl[mask]
    return float(residual.mean()), float(residual.std()), int(residual.size)


def apply_background(series: FLSeriesBase, output: str | os.PathLike | h5py.Group,
                     roiset: ROISet, *, fit_profile: str | None = None,
                     fit_offset: str | None = None, frames: Iterable[int] | None = None,
                     data_background: np.ndarray | None = None, as_image: bool = False,
                     progress: Callable[[int, int], None] | None = None,
                     cancel: Callable[[], bool] | None = None,
                     overwrite: bool = False,
                     input_lock: contextlib.AbstractContextManager | None = None,
                     input_path: str | os.PathLike | None = None) -> ApplyResult:
    """Fit the background of frames on the ROI mask and write all frames to `output`.

    Parameters
    ----------
    series : FLSeries
        Input; only read.
    output : path or h5py.Group
        A new file (written through :func:`~flimage_app.model.h5io.atomic_output`)
        or an empty, writable group.
    roiset : ROISet
        Background regions (per-frame overrides honoured) and default settings.
    fit_profile, fit_offset : str, optional
        Override the settings stored in `roiset`.
    frames : iterable of int, optional
        Frames to fit (default: all).  The other frames are copied unchanged.
    data_background : 2-D array, optional
        Experimental background set as "data" background of the fitted frames.
    as_image : bool
        Write a one-frame series as an FLImage (the frame at the root) instead.
    progress, cancel
        Callbacks, see docs/ARCHITECTURE.md.
    overwrite : bool
        Replace an existing output file.
    input_lock : context manager, optional
        Held while the input is read (e.g. the GUI's lock of open HDF5 files),
        one frame at a time so that other readers are not blocked for long.
    input_path : path, optional
        The file `series` was read from, named in the output's provenance
        record (default: the series' own file; give it for an FLImage file or
        a stack, which are read into memory).

    Raises
    ------
    FLImageAppError
        Invalid settings, no region, a region outside the image, a failed fit.
    Cancelled
        `cancel` returned True; no output file is left behind.
    """
    fit_profile = fit_profile or roiset.fit_profile
    fit_offset = fit_offset or roiset.fit_offset
    _check_settings(fit_profile, fit_offset)
    length = len(series)
    if length == 0:
        raise FLImageAppError("The series has no frames")
    if as_image and length != 1:
        raise FLImageAppError(f"Cannot write {length} frames as one FLImage")
    to_fit = _frames_to_fit(frames, length)
    shape = series.frame_shape
    if data_background is not None:
        data_background = np.asarray(data_background, dtype=float)
        if data_background.shape != shape:
            raise FLImageAppError(f"Background image is {data_background.shape[1]}×"
                                  f"{data_background.shape[0]} px, the frames "
                                  f"{shape[1]}×{shape[0]} px")
    masks = _MaskCache(roiset, shape)
    for index in to_fit:  # fail before writing anything when a region is unusable
        masks.mask(index)
    settings = {"fit_profile": fit_profile, "fit_offset": fit_offset}
    run = _Writer(series, roiset, masks, to_fit, settings, data_background, as_image,
                  progress, cancel, input_lock or contextlib.nullcontext())
    run.input_path = input_path if input_path is not None else series.filename
    if isinstance(output, h5py.Group):
        return run.write(output)
    output = Path(output)
    try:
        with atomic_output(output, overwrite=overwrite) as temporary:
            with h5py.File(temporary, "w") as h5:
                result = run.write(h5)
    except FileExistsError as exc:
        raise FileFormatError(str(exc)) from None
    return result


class _Writer:
    """Copies frames to the output and fits the chosen ones, checking for cancel."""

    def __init__(self, series, roiset, masks, to_fit, settings, data_background, as_image,
                 progress, cancel, input_lock) -> None:
        self.series = series
        self.roiset = roiset
        self.masks = masks
        self.to_fit = set(to_fit)
        self.settings = settings
        self.data_background = data_background
        self.as_image = as_image
        self.progress = progress
        self.cancel = cancel
        self.input_lock = input_lock
        self.input_path: str | os.PathLike | None = None

    def write(self, root: h5py.Group) -> ApplyResult:
        length = len(self.series)
        fitted, means, stds, sizes = [], [], [], []
        start_pass(self.progress, "fitting")
        if not self.as_image:
            with self.input_lock:
                for name, value in self.series.h5.attrs.items():
                    root.attrs[name] = value
        for index in range(length):
            if self.cancel is not None and self.cancel():
                raise Cancelled("Background correction cancelled")
            group = root if self.as_image else root.create_group(frame_name(index))
            with self.input_lock:
                copy_group(self.series.get_flimage(index).h5, group)
            if index in self.to_fit:
                fli = FLImage(h5file=group)
                mean, std, size = fit_frame(fli, self.masks.mask(index),
                                            data_background=self.data_background,
                                            **self.settings)
                fitted.append(index)
                means.append(mean)
                stds.append(std)
                sizes.append(size)
            if self.progress is not None:
                self.progress(index + 1, length)
        self._write_app_data(root)
        return ApplyResult(fitted, np.array(means), np.array(stds), np.array(sizes))

    def _write_app_data(self, root: h5py.Group) -> None:
        with self.input_lock:
            source = self.series.h5.get(APP_GROUP)
            if isinstance(source, h5py.Group) and not self.as_image:
                copy_group(source, root.require_group(APP_GROUP))
        used = ROISet(rois=self.roiset.rois, overrides=self.roiset.overrides,
                      **self.settings)
        write_roiset(root, used)
        parameters = {**self.settings, "frames": sorted(self.to_fit),
                      "regions": len(used.rois), "frame_overrides": sorted(used.overrides),
                      "data_background": self.data_background is not None}
        inputs = [describe_file(self.input_path, len(self.series), self.series.frame_shape)]
        write_provenance(root, background_record(self.settings["fit_profile"], parameters,
                                                 inputs))


def load_background_image(path: str | os.PathLike) -> np.ndarray:
    """Read an experimental background image as a float array.

    That is the corrected first frame of an FLImage / FLSeries file, or the
    first image of a TIFF stack or ``.npy`` array.

    Raises
    ------
    FileFormatError
        The file cannot be read or holds no image.
    """
    from .loader import open_series

    with open_series(path) as series:
        if len(series) == 0:
            raise FileFormatError(f"{path}: holds no image")
        return np.asarray(series[0].fl, dtype=float)
