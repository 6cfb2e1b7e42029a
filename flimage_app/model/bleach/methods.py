"""The bleach-correction methods: one function per method, all with the same inputs.

Each function takes the time axis and the background-subtracted intensity
trace and returns a :class:`Correction`: a multiplicative factor per frame,
the fitted curve (if any) and the fit.  Histogram matching corrects pixel
values rather than scaling frames; :class:`HistogramMatcher` does that frame
by frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import FitError
from .fitting import FitOutcome, fit_biexponential, fit_exponential, fit_flimage_exponential

#: Names of the methods, in the order the GUI offers them.
METHODS = ("flimage", "ratio", "exp", "biexp", "histogram")


@dataclass
class Correction:
    """Per-frame correction factors and the fit they come from (if any)."""

    factors: np.ndarray | None
    fitted: np.ndarray | None = None
    fit: FitOutcome | None = None


def factors_from_curve(curve: np.ndarray) -> np.ndarray:
    """``curve[0] / curve``: scale every frame back to the first frame's level."""
    if not np.all(curve > 0):
        frame = int(np.flatnonzero(~(curve > 0))[0])
        raise FitError(f"The fitted curve reaches {curve[frame]:.4g} at frame {frame}; "
                       "a correction needs a positive curve (is the background too high?)")
    return curve[0] / curve


def flimage_correction(times: np.ndarray, intensity: np.ndarray,
                       strict: bool = True) -> Correction:
    """flimage 0.3.3: exponential with offset fitted the way flimage fits it."""
    fit = fit_flimage_exponential(times, intensity, strict=strict)
    return Correction(factors_from_curve(fit.fitted), fit.fitted, fit)


def ratio_correction(times: np.ndarray, intensity: np.ndarray) -> Correction:
    """Fiji's simple ratio: scale frame i by I(first) / I(i)."""
    if not np.all(intensity > 0):
        frame = int(np.flatnonzero(~(intensity > 0))[0])
        raise FitError(f"Frame {frame} has no signal above the background "
                       f"(intensity {intensity[frame]:.4g}); the ratio is undefined")
    return Correction(intensity[0] / intensity)


def exp_correction(times: np.ndarray, intensity: np.ndarray) -> Correction:
    """Exponential with offset fitted against the frame times."""
    fit = fit_exponential(times, intensity)
    return Correction(factors_from_curve(fit.fitted), fit.fitted, fit)


def biexp_correction(times: np.ndarray, intensity: np.ndarray) -> Correction:
    """Sum of two exponentials with offset fitted against the frame times."""
    fit = fit_biexponential(times, intensity)
    return Correction(factors_from_curve(fit.fitted), fit.fitted, fit)


def histogram_correction(times: np.ndarray, intensity: np.ndarray) -> Correction:
    """Histogram matching fits nothing; its factors are measured while frames are matched."""
    return Correction(None)


#: Method name → function computing the correction from ``(times, intensity)``.
CORRECTIONS: dict[str, Callable[..., Correction]] = {
    "flimage": flimage_correction,
    "ratio": ratio_correction,
    "exp": exp_correction,
    "biexp": biexp_correction,
    "histogram": histogram_correction,
}


class HistogramMatcher:
    """Match every frame's intensity histogram to a reference frame (Miura 2020).

    Each value is mapped to the reference value at the same quantile
    (cumulative histogram), learned on the pixels of `region`.  The
    reference is the first frame, or with ``reference="previous"`` the
    previous frame after its own matching, which follows slow changes of
    the specimen better.

    Parameters
    ----------
    reference : {"first", "previous"}
        Which frame each frame is matched to.
    region : bool ndarray or None
        Pixels the histograms are computed from (None: all); the mapping is
        applied to every pixel.
    """

    def __init__(self, reference: str = "first", region: np.ndarray | None = None) -> None:
        if reference not in ("first", "previous"):
            raise ValueError(f"histogram_reference must be 'first' or 'previous', "
                             f"got {reference!r}")
        self.reference = reference
        self.region = region
        self._quantiles: np.ndarray | None = None
        self._values: np.ndarray | None = None

    def _distribution(self, image: np.ndarray,
                      finite: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Sorted values of the region's finite pixels and their cumulative quantiles."""
        selected = finite if self.region is None else (
            self.region if finite is None else self.region & finite)
        pixels = image.ravel() if selected is None else image[selected]
        if pixels.size == 0:
            raise FitError("A frame has no finite pixel in the histogram-matching region")
        values, counts = np.unique(pixels, return_counts=True)
        return values, np.cumsum(counts) / pixels.size

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The matched frame; the first frame passes unchanged and becomes the reference.

        NaN and Inf pixels are left out of the histograms and keep their value.
        """
        finite = np.isfinite(image)
        finite = None if finite.all() else finite
        if self._values is None:
            self._values, self._quantiles = self._distribution(image, finite)
            return image
        if self.region is None and finite is None:
            return self._match_every_pixel(image)
        values, quantiles = self._distribution(image, finite)
        targets = np.interp(quantiles, self._quantiles, self._values)
        matched = np.interp(image, values, targets)
        if finite is not None:
            matched[~finite] = image[~finite]
        if self.reference == "previous":
            self._values, self._quantiles = self._distribution(matched, finite)
        return matched

    def _match_every_pixel(self, image: np.ndarray) -> np.ndarray:
        # Every pixel is one of the distribution's values: its target is looked up by
        # index instead of interpolated (3× faster on frames with a fitted background).
        values, inverse, counts = np.unique(image, return_inverse=True, return_counts=True)
        quantiles = np.cumsum(counts) / image.size
        targets = np.interp(quantiles, self._quantiles, self._values)
        if self.reference == "previous":
            # targets rise with the values: the matched frame's distribution, unsorted
            last = np.append(targets[1:] != targets[:-1], True)
            self._values, self._quantiles = targets[last], quantiles[last]
        return targets[inverse.reshape(image.shape)]
        # Every pixel is one of the distribution's values: look its target up by index
        # instead of interpolating (3× faster on frames with a fitted background).
        values, inverse, counts = np.unique(image, return_inverse=True, return_counts=True)
        quantiles = np.cumsum(counts) / image.size
        targets = np.interp(quantiles, self._quantiles, self._values)
        matched = targets[inverse.reshape(image.shape)]
        if self.reference == "previous":
            # targets rise with the values: the matched frame's distribution without sorting
            last = np.append(targets[1:] != targets[:-1], True)
            self._values, self._quantiles = targets[last], quantiles[last]
        return matched
