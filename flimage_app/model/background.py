"""Background estimation of fluorescence images.

The semantics are those of qpimage 0.9.3's ``bg_estimate.estimate`` (which
flimage uses), so that files stay interchangeable: a profile ("offset",
"tilt" or "poly2o") is fitted to the background pixels, then an offset is
added ("mean", "mode", "gauss", or the fitted constant with "fit").  The
linear profiles are solved by linear least squares instead of an iterative
optimiser: the same minimum, found exactly and faster.  Only with "mode",
whose histogram bin can depend on the residuals' last bits, the profile is
fitted on qpimage's own iterative path (:func:`fit_profile_as_qpimage`).

Coordinates of the profiles are centred like qpimage's: ``x`` runs along
rows (axis 0) and ``y`` along columns (axis 1), both relative to
``shape // 2``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

#: valid values of `fit_offset`
VALID_FIT_OFFSETS: tuple[str, ...] = ("fit", "gauss", "mean", "mode")
#: valid values of `fit_profile`
VALID_FIT_PROFILES: tuple[str, ...] = ("offset", "poly2o", "tilt")


def border_mask(shape: tuple[int, int], border_px: float) -> np.ndarray:
    """Boolean mask that is True in a frame `border_px` pixels wide around the image."""
    mask = np.zeros(shape, dtype=bool)
    width = int(np.round(border_px))
    if width > 0:
        mask[:width, :] = True
        mask[-width:, :] = True
        mask[:, :width] = True
        mask[:, -width:] = True
    return mask


def background_mask(shape: tuple[int, int], border_px: float = 0,
                    from_mask: np.ndarray | None = None) -> np.ndarray:
    """The pixels used for background estimation: `from_mask` ∩ border frame.

    Either may be absent; with neither, every pixel is background.
    """
    if from_mask is not None:
        from_mask = np.asarray(from_mask)
        if from_mask.shape != tuple(shape):
            raise ValueError(f"Background mask has shape {from_mask.shape}, "
                             f"the image {tuple(shape)}")
        mask = from_mask.astype(bool, copy=True)
    else:
        mask = np.ones(shape, dtype=bool)
    if border_px > 0:
        mask &= border_mask(shape, border_px)
    return mask


def _centred_coordinates(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    x = (np.arange(shape[0]) - shape[0] // 2).reshape(-1, 1).astype(float)
    y = (np.arange(shape[1]) - shape[1] // 2).reshape(1, -1).astype(float)
    return x, y


def _profile_terms(shape: tuple[int, int], fit_profile: str) -> list[np.ndarray]:
    """The basis images of a profile; the constant term comes first."""
    x, y = _centred_coordinates(shape)
    ones = np.ones(shape)
    if fit_profile == "tilt":
        return [ones, x + 0 * y, y + 0 * x]
    if fit_profile == "poly2o":
        return [ones, x + 0 * y, y + 0 * x, x * y, x**2 + 0 * y, y**2 + 0 * x]
    return [ones]


def fit_profile_linear(data: np.ndarray, mask: np.ndarray, fit_profile: str) -> np.ndarray:
    """Least-squares fit of a polynomial profile to ``data[mask]``; returns the profile image.

    The profile includes its fitted constant term.
    """
    terms = _profile_terms(data.shape, fit_profile)
    design = np.stack([term[mask] for term in terms], axis=1)
    values = data[mask].astype(float)
    # scale columns so that the solve is well conditioned on large images
    scale = np.abs(design).max(axis=0)
    scale[scale == 0] = 1
    scaled = design / scale
    coefficients, *_ = np.linalg.lstsq(scaled, values, rcond=None)
    # one step of iterative refinement: the solve of the residual recovers the
    # last bits that the first solve lost (exact data are then fitted to ~1 ulp)
    correction, *_ = np.linalg.lstsq(scaled, values - scaled @ coefficients, rcond=None)
    coefficients = (coefficients + correction) / scale
    return sum(c * term for c, term in zip(coefficients, terms, strict=True))


#: qpimage's parameter order per profile (the order changes MINPACK's path)
_QPIMAGE_PARAMETERS = {"tilt": ("mx", "my", "off"),
                       "poly2o": ("mx", "my", "mxy", "ax", "ay", "off")}


def _qpimage_profile(values: np.ndarray, shape: tuple[int, int], fit_profile: str) -> np.ndarray:
    """A profile evaluated as qpimage evaluates it: the offset first, then the terms added."""
    x = (np.arange(shape[0]) - shape[0] // 2).reshape(-1, 1)
    y = (np.arange(shape[1]) - shape[1] // 2).reshape(1, -1)
    named = dict(zip(_QPIMAGE_PARAMETERS[fit_profile], values, strict=True))
    profile = np.zeros(shape, dtype=float) + named["off"]
    if fit_profile == "tilt":
        profile += named["mx"] * x + named["my"] * y
    else:
        profile += (named["ax"] * x**2 + named["ay"] * y**2 + named["mx"] * x
                    + named["my"] * y + named["mxy"] * x * y)
    return profile


def fit_profile_as_qpimage(data: np.ndarray, mask: np.ndarray, fit_profile: str) -> np.ndarray:
    """The profile that qpimage 0.9.3 fits, to the last bit; returns the profile image.

    qpimage fits with lmfit's Levenberg–Marquardt (MINPACK through
    ``scipy.optimize.leastsq``: ``ftol = xtol = 1.5e-8``, ``gtol = 0``,
    ``epsfcn = 1e-10``, ``factor = 100``, at most 4000·(n + 1) evaluations)
    from zero slopes and the mean of the background pixels as offset, on the
    residual ``data − profile`` over the mask.  It stops within its tolerance
    of the exact minimum that :func:`fit_profile_linear` finds; the mode of
    the residuals can depend on those last bits (several bins of almost equal
    density), so ``fit_offset="mode"`` fits this way to give qpimage's numbers.
    """
    data = np.asarray(data, dtype=float)
    names = _QPIMAGE_PARAMETERS[fit_profile]
    if np.count_nonzero(mask) < len(names):
        # MINPACK refuses fewer residuals than parameters (qpimage fails there); the
        # least-squares solution of the under-determined fit is still defined
        return fit_profile_linear(data, mask, fit_profile)
    start = np.zeros(len(names))
    start[-1] = np.average(data[mask])

    def residual(values: np.ndarray) -> np.ndarray:
        return (data - _qpimage_profile(values, data.shape, fit_profile))[mask].flatten()

    best, *_ = optimize.leastsq(residual, start, full_output=True, ftol=1.5e-8, xtol=1.5e-8,
                                gtol=0.0, maxfev=2 * 2000 * (len(names) + 1), epsfcn=1e-10,
                                factor=100)
    return _qpimage_profile(np.atleast_1d(best), data.shape, fit_profile)


def offset_mode(values: np.ndarray) -> float:
    """Mode of `values`: centre of the densest bin of a histogram with ceil(√n) bins.

    The bin is chosen by its density (count / width), as qpimage does, not by
    its count: the bins' widths differ in the last bits of the floating-point
    edges, so between equally full bins the narrowest wins, and among bins of
    equal density the first.  Choosing by count alone picks the first full
    bin and gives another background on some images.
    """
    values = np.asarray(values, dtype=float).ravel()
    nbins = int(np.ceil(np.sqrt(values.size)))
    low, high = values.min(), values.max()
    histogram = _histogram(values, nbins, low, high)
    if histogram is None:
        return _in_units_of_range(offset_mode, values, low, high - low)
    density, edges = histogram
    return float(_bin_centres(edges)[np.argmax(density)])


def _histogram(values: np.ndarray, nbins: int, low: float, high: float
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """Density and bin edges over [low, high]; None if the bins are too narrow for floats."""
    try:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            density, edges = np.histogram(values, nbins, range=(low, high), density=True)
    except ValueError:  # numpy: "Too many bins for data range"
        return None
    if not (np.all(np.isfinite(density)) and np.all(np.isfinite(edges))
            and np.all(np.diff(edges) > 0)):
        return None
    return density, edges


def _bin_centres(edges: np.ndarray) -> np.ndarray:
    """Centres of the bins as qpimage places them (every bin shifted by the second's width)."""
    width = abs(edges[1] - edges[2]) if edges.size > 2 else edges[1] - edges[0]
    return edges[1:] - width / 2


def _in_units_of_range(offset: Callable[[np.ndarray], float], values: np.ndarray,
                       low: float, span: float) -> float:
    """`offset` of `values` computed in units of their range, where every bin is representable.

    Values near the smallest floats (a range of 1e-308) make numpy refuse the bins
    or the density overflow.
    """
    return float(low + span * offset((values - low) / span))


def offset_gaussian(values: np.ndarray) -> float:
    """Centre of a Gaussian fitted to the histogram of `values`.

    The histogram has 2·ceil(√n) bins over the data range widened by half of
    it on each side, as in qpimage.
    """
    values = np.asarray(values, dtype=float).ravel()
    nbins = 2 * int(np.ceil(np.sqrt(values.size)))
    low, high = values.min(), values.max()
    span = high - low
    if span == 0:
        return float(low)
    histogram = _histogram(values, nbins, low - span / 2, high + span / 2)
    if histogram is None:
        return _in_units_of_range(offset_gaussian, values, low, span)
    density, edges = histogram
    centres = _bin_centres(edges)

    def gaussian(x, area, centre, sigma):
        return area / (sigma * np.sqrt(2 * np.pi)) * np.exp(-((x - centre) ** 2) / (2 * sigma**2))

    weights = density / density.sum()
    centre0 = float(np.sum(weights * centres))
    sigma0 = float(np.sqrt(max(np.sum(weights * (centres - centre0) ** 2), (span / nbins) ** 2)))
    area0 = float(density.sum() * abs(edges[1] - edges[0]))
    try:
        popt, _ = optimize.curve_fit(gaussian, centres, density, p0=(area0, centre0, sigma0),
                                     maxfev=10000)
    except (RuntimeError, optimize.OptimizeWarning):
        return centre0
    return float(popt[1])


def estimate(data: np.ndarray, fit_offset: str = "mean", fit_profile: str = "tilt",
             border_px: float = 0, from_mask: np.ndarray | None = None,
             ret_mask: bool = False):
    """Estimate the background image of `data`.

    Parameters
    ----------
    data : 2-D array
        Image whose background is estimated.
    fit_offset : {"mean", "mode", "gauss", "fit"}
        How the offset is found: mean, histogram mode or centre of a Gaussian
        fit of the residual background pixels, or the constant term of the
        profile fit ("fit"; not with ``fit_profile="offset"``).
    fit_profile : {"tilt", "offset", "poly2o"}
        Background shape: a plane, a constant, or a 2nd-order polynomial with
        mixed term.
    border_px : float
        Use a frame of this many pixels around the image as background.
    from_mask : boolean 2-D array or None
        True where the image is background.  With `border_px` too, the
        intersection of both is used.
    ret_mask : bool
        Also return the mask that was used.

    Returns
    -------
    background : 2-D float array
    mask : 2-D bool array
        Only with ``ret_mask=True``.

    Raises
    ------
    ValueError
        For an unknown profile or offset, or a mask that selects no pixel.
    """
    if fit_profile not in VALID_FIT_PROFILES:
        raise ValueError(f"`fit_profile` must be one of {list(VALID_FIT_PROFILES)}, "
                         f"got {fit_profile!r}")
    if fit_offset not in VALID_FIT_OFFSETS:
        raise ValueError(f"`fit_offset` must be one of {list(VALID_FIT_OFFSETS)}, "
                         f"got {fit_offset!r}")
    if fit_offset == "fit" and fit_profile == "offset":
        raise ValueError("`fit_offset='fit'` needs a fitted profile ('tilt' or 'poly2o'), "
                         "not 'offset'")
    data = np.asarray(data, dtype=float)
    mask = background_mask(data.shape, border_px, from_mask)
    if not mask.any():
        raise ValueError("The background region contains no pixel")
    if fit_profile == "offset":
        background = np.zeros(data.shape)
    elif fit_offset == "mode":  # the mode depends on the residuals' last bits
        background = fit_profile_as_qpimage(data, mask, fit_profile)
    else:
        background = fit_profile_linear(data, mask, fit_profile)
    if fit_offset != "fit":
        # as in qpimage, the offset of the residual is added to the fitted profile
        # (for "mean" it is ~0 after a least-squares fit with a constant term)
        residual = (data - background)[mask]
        if fit_offset == "mean":
            background = background + np.mean(residual)
        elif fit_offset == "mode":
            background = background + offset_mode(residual)
        else:
            background = background + offset_gaussian(residual)
    return (background, mask) if ret_mask else background
