"""Bleaching curve models and their least-squares fits, with honest uncertainties.

Three fits are offered:

* :func:`fit_flimage_exponential` reproduces flimage 0.3.3's fit of
  ``A·exp(−k·t) + C`` step for step (same start values, bounds and
  Levenberg–Marquardt settings), so that the app's "flimage" method gives the
  numbers flimage gives on the same file.
* :func:`fit_exponential` and :func:`fit_biexponential` fit the same model and
  a two-rate model robustly: the rates are first searched on a grid (for fixed
  rates the model is linear in the amplitudes and the offset), then all
  parameters are refined together.

Every fit returns a :class:`FitOutcome` with standard errors from the
covariance matrix (``s² (JᵀJ)⁻¹``, ``s²`` the residual variance), R² and the
residuals.  A fit that does not converge, or a curve that does not decay
significantly, raises :class:`~flimage_app.model.errors.FitError` saying why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ..errors import FitError

#: Factor between a decay and its standard error below which it is not called a decay.
SIGNIFICANCE = 2.0

#: Grid of rates (in units of 1 / duration of the series) searched for start values.
RATE_GRID = np.geomspace(0.02, 200.0, 60)


@dataclass
class FitOutcome:
    """Result of one curve fit.

    Attributes
    ----------
    model : str
        The model as a formula, e.g. ``"A·exp(−k·t) + C"``.
    names : list of str
        Parameter names in the order of `values`.
    values, errors : ndarray
        Best-fit parameters and their standard errors.
    covariance : ndarray
        Covariance matrix of the parameters.
    fitted : ndarray
        The model evaluated at the fitted times.
    residuals : ndarray
        ``data − fitted``.
    r_squared : float
        Coefficient of determination ``1 − SSR/SST``.
    rates : list of str
        Names of the rate parameters (for half-lives).
    time_origin : float
        The model's ``t`` is measured from this time.
    """

    model: str
    names: list[str]
    values: np.ndarray
    errors: np.ndarray
    covariance: np.ndarray
    fitted: np.ndarray
    residuals: np.ndarray
    r_squared: float
    rates: list[str] = field(default_factory=list)
    time_origin: float = 0.0

    @property
    def parameters(self) -> dict[str, float]:
        """Best-fit values by parameter name."""
        return dict(zip(self.names, map(float, self.values), strict=True))

    @property
    def parameter_errors(self) -> dict[str, float]:
        """Standard errors by parameter name."""
        return dict(zip(self.names, map(float, self.errors), strict=True))

    def half_lives(self) -> list[tuple[float, float]]:
        """``(ln2/k, ln2·σk/k²)`` for every rate ``k`` of the model."""
        params, errors = self.parameters, self.parameter_errors
        return [half_life(params[name], errors[name]) for name in self.rates]


def half_life(rate: float, rate_error: float) -> tuple[float, float]:
    """Half-life ``ln2/k`` and its standard error ``ln2·σk/k²`` (first-order propagation)."""
    if rate <= 0:
        return math.inf, math.nan
    return math.log(2) / rate, math.log(2) * rate_error / rate**2


def r_squared(data: np.ndarray, fitted: np.ndarray) -> float:
    """Coefficient of determination; NaN for constant data."""
    total = float(np.sum((data - np.mean(data)) ** 2))
    if total == 0:
        return math.nan
    return 1.0 - float(np.sum((data - fitted) ** 2)) / total


# --- models and their Jacobians -------------------------------------------------------------

def exp_offset(t: np.ndarray, amplitude: float, rate: float, offset: float) -> np.ndarray:
    """``amplitude·exp(−rate·t) + offset``."""
    return amplitude * np.exp(-rate * t) + offset


def exp_offset_jacobian(t: np.ndarray, params: np.ndarray) -> np.ndarray:
    amplitude, rate, _ = params
    decay = np.exp(-rate * t)
    return np.column_stack([decay, -amplitude * t * decay, np.ones_like(t)])


def biexp_offset(t: np.ndarray, amp_fast: float, rate_fast: float, amp_slow: float,
                 rate_slow: float, offset: float) -> np.ndarray:
    """Sum of a fast and a slow exponential plus an offset."""
    return amp_fast * np.exp(-rate_fast * t) + amp_slow * np.exp(-rate_slow * t) + offset


def biexp_offset_jacobian(t: np.ndarray, params: np.ndarray) -> np.ndarray:
    amp_fast, rate_fast, amp_slow, rate_slow, _ = params
    fast, slow = np.exp(-rate_fast * t), np.exp(-rate_slow * t)
    return np.column_stack([fast, -amp_fast * t * fast, slow, -amp_slow * t * slow,
                            np.ones_like(t)])


# --- checks and statistics ------------------------------------------------------------------

def check_trace(times: np.ndarray, intensity: np.ndarray, n_params: int) -> None:
    """Raise FitError unless the trace can support a fit with `n_params` parameters."""
    if len(intensity) < n_params + 1:
        raise FitError(f"A fit with {n_params} parameters needs at least {n_params + 1} "
                       f"frames; the series has {len(intensity)}")
    if not (np.all(np.isfinite(intensity)) and np.all(np.isfinite(times))):
        raise FitError("The intensity trace or the times contain NaN or infinite values")
    if np.ptp(times) == 0:
        raise FitError("All frames have the same time; nothing to fit against")
    if np.ptp(intensity) == 0:
        raise FitError("The intensity is the same in every frame: the series does not decay")


def covariance_from_jacobian(jacobian: np.ndarray, residuals: np.ndarray) -> np.ndarray:
    """``s²·(JᵀJ)⁻¹`` with ``s² = SSR/(n − p)``; raises FitError if singular."""
    n, p = jacobian.shape
    dof = max(n - p, 1)
    variance = float(residuals @ residuals) / dof
    # Scale columns before inverting: amplitudes and rates differ by many decades.
    scale = np.linalg.norm(jacobian, axis=0)
    if np.any(scale == 0) or not np.all(np.isfinite(scale)):
        raise FitError("The fit parameters are not determined by the data (zero sensitivity)")
    scaled = jacobian / scale
    try:
        inverse = np.linalg.inv(scaled.T @ scaled)
    except np.linalg.LinAlgError:
        raise FitError("The fit parameters are not determined by the data "
                       "(singular covariance)") from None
    return variance * inverse / np.outer(scale, scale)


def _outcome(model: str, names: list[str], rates: list[str], t: np.ndarray, data: np.ndarray,
             values: np.ndarray, function: Callable, jacobian: Callable,
             time_origin: float) -> FitOutcome:
    fitted = function(t, *values)
    residuals = data - fitted
    covariance = covariance_from_jacobian(jacobian(t, values), residuals)
    errors = np.sqrt(np.clip(np.diag(covariance), 0, None))
    return FitOutcome(model=model, names=names, values=np.asarray(values, dtype=float),
                      errors=errors, covariance=covariance, fitted=fitted, residuals=residuals,
                      r_squared=r_squared(data, fitted), rates=rates, time_origin=time_origin)


def check_significant_decay(outcome: FitOutcome, t: np.ndarray, jacobian: Callable) -> None:
    """Raise FitError unless the fitted curve drops significantly over the series.

    The drop ``D = f(t_first) − f(t_last)`` has the standard error
    ``sqrt(gᵀ C g)`` with ``g = ∂D/∂p``; it must exceed :data:`SIGNIFICANCE`
    times that error.
    """
    first, last = int(np.argmin(t)), int(np.argmax(t))
    drop = outcome.fitted[first] - outcome.fitted[last]
    jac = jacobian(t[[first, last]], outcome.values)
    gradient = jac[0] - jac[1]
    drop_error = math.sqrt(max(float(gradient @ outcome.covariance @ gradient), 0.0))
    if not drop > SIGNIFICANCE * drop_error:
        raise FitError(
            f"The series does not decay: the fitted intensity changes by {-drop:+.4g} "
            f"(± {drop_error:.2g}) from the first to the last frame")


# --- flimage 0.3.3 compatible fit -----------------------------------------------------------

class _Bounded:
    """One parameter with Minuit-style box constraints, as flimage's fit library applies them.

    The optimiser varies an unbounded internal value; the model sees the
    external value mapped into [lower, upper].
    """

    def __init__(self, start: float, lower: float, upper: float):
        self.lower, self.upper = lower, upper
        self.start = min(max(start, lower), upper)

    def internal_start(self) -> float:
        x, lo, hi = self.start, self.lower, self.upper
        if math.isinf(hi):
            value = math.sqrt((x - lo + 1.0) ** 2 - 1.0)
        else:
            value = math.asin(2.0 * (x - lo) / (hi - lo) - 1.0)
        return 0.0 if abs(value) < 1e-15 else value

    def external(self, internal: float) -> float:
        lo, hi = self.lower, self.upper
        if math.isinf(hi):
            return lo - 1.0 + math.sqrt(internal * internal + 1.0)
        return lo + (math.sin(internal) + 1.0) * (hi - lo) / 2.0


def fit_flimage_exponential(times: np.ndarray, intensity: np.ndarray,
                            strict: bool = True) -> FitOutcome:
    """Fit ``A·exp(−k·t) + C`` exactly as flimage 0.3.3's ``bleach_correction`` does.

    flimage starts at ``A = max − min``, ``k = −Δt/ΔI · I₀/20``, ``C = min``
    with bounds ``min(I) ≤ A ≤ 2·max(I)``, ``k ≥ 0``, ``C ≥ 0`` and runs
    MINPACK's Levenberg–Marquardt on bound-transformed parameters; this
    function runs the same optimiser (``scipy.optimize.leastsq``) on the same
    transformation, so it stops where flimage stops.  Times are used as they
    are (no shift to the first frame), as flimage does.

    flimage's start value for ``k`` has units of time, not 1/time, so on
    series longer than a few seconds its fit often stalls far from the data.
    With `strict` (default) such a fit raises FitError instead of returning a
    wrong curve: its residuals are compared with those of
    :func:`fit_exponential` on the same data.

    Raises
    ------
    FitError
        The trace cannot be fitted, the optimiser gave up, the fit stalled
        (`strict`), or the series does not decay (`strict`).
    """
    t = np.asarray(times, dtype=float)
    data = np.asarray(intensity, dtype=float)
    check_trace(t, data, 3)
    low, high = float(data.min()), float(data.max())
    dt, df = t[-1] - t[0], data[-1] - data[0]
    if df == 0:
        raise FitError("First and last frame have the same intensity: the series does not decay")
    params = [_Bounded(high - low, low, 2 * high),
              _Bounded(float(-dt / df * data[0] / 20), 0.0, math.inf),
              _Bounded(low, 0.0, math.inf)]

    def external(internal: np.ndarray) -> list[float]:
        return [p.external(float(v)) for p, v in zip(params, np.atleast_1d(internal), strict=True)]

    def residual(internal: np.ndarray) -> np.ndarray:
        amplitude, rate, offset = external(internal)
        return amplitude * np.exp(-rate * t) + offset - data

    start = np.array([p.internal_start() for p in params])
    best, _, _, message, status = optimize.leastsq(
        residual, start, full_output=True, ftol=1.5e-8, xtol=1.5e-8, gtol=0.0,
        maxfev=2 * 2000 * (len(params) + 1), epsfcn=1e-10, factor=100)
    if status not in (1, 2, 3, 4):
        raise FitError(f"The exponential fit did not converge: {message}")
    values = np.array(external(best))
    if not strict:
        return _outcome_without_checks(t, data, values)
    reference = fit_exponential(t, data)  # raises FitError if the series does not decay
    ssr = float(np.sum((exp_offset(t, *values) - data) ** 2))
    ssr_best = float(reference.residuals @ reference.residuals)
    tolerance = 1e-6 * float(np.sum((data - data.mean()) ** 2))
    if ssr > 2 * ssr_best + tolerance:
        raise FitError(
            f"flimage 0.3.3's exponential fit stalls far from the data (residuals "
            f"{ssr / max(ssr_best, tolerance):.3g}× larger than the best exponential, "
            f"R² {r_squared(data, exp_offset(t, *values)):.3f} instead of "
            f"{reference.r_squared:.3f}); use the method 'exp'")
    outcome = _outcome("A·exp(−k·t) + C", ["A", "k", "C"], ["k"], t, data, values,
                       exp_offset, exp_offset_jacobian, time_origin=0.0)
    check_significant_decay(outcome, t, exp_offset_jacobian)
    return outcome


def _outcome_without_checks(t: np.ndarray, data: np.ndarray, values: np.ndarray) -> FitOutcome:
    """FitOutcome of flimage's fit as it is; errors are NaN where the covariance is singular."""
    try:
        return _outcome("A·exp(−k·t) + C", ["A", "k", "C"], ["k"], t, data, values,
                        exp_offset, exp_offset_jacobian, time_origin=0.0)
    except FitError:
        fitted = exp_offset(t, *values)
        return FitOutcome(model="A·exp(−k·t) + C", names=["A", "k", "C"], values=values,
                          errors=np.full(3, np.nan), covariance=np.full((3, 3), np.nan),
                          fitted=fitted, residuals=data - fitted,
                          r_squared=r_squared(data, fitted), rates=["k"], time_origin=0.0)


# --- robust fits ----------------------------------------------------------------------------

def _linear_coefficients(basis: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares coefficients of `data` in the columns of `basis`, and the SSR."""
    coefficients, *_ = np.linalg.lstsq(basis, data, rcond=None)
    residual = data - basis @ coefficients
    return coefficients, float(residual @ residual)


def _refine(function: Callable, jacobian: Callable, t: np.ndarray, data: np.ndarray,
            start: np.ndarray, lower: np.ndarray) -> np.ndarray:
    start = np.maximum(start, lower)
    result = optimize.least_squares(
        lambda p: function(t, *p) - data, start, jac=lambda p: jacobian(t, p),
        bounds=(lower, np.full_like(lower, np.inf)), x_scale="jac", method="trf",
        xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=2000)
    if result.status <= 0:
        raise FitError(f"The fit did not converge: {result.message}")
    return result.x


def fit_exponential(times: np.ndarray, intensity: np.ndarray) -> FitOutcome:
    """Fit ``A·exp(−k·(t − t₀)) + C`` with ``A, k ≥ 0``; ``t₀`` is the first time.

    Raises
    ------
    FitError
        Too few frames, no convergence, or no significant decay.
    """
    t_abs = np.asarray(times, dtype=float)
    data = np.asarray(intensity, dtype=float)
    check_trace(t_abs, data, 3)
    origin = float(t_abs.min())
    t = t_abs - origin
    duration = float(t.max())
    best = None
    for rate in RATE_GRID / duration:
        (amplitude, offset), ssr = _linear_coefficients(
            np.column_stack([np.exp(-rate * t), np.ones_like(t)]), data)
        if amplitude > 0 and (best is None or ssr < best[0]):
            best = (ssr, np.array([amplitude, rate, offset]))
    if best is None:
        raise FitError("The series does not decay: no decaying exponential matches the trace")
    lower = np.array([0.0, 0.0, -np.inf])
    values = _refine(exp_offset, exp_offset_jacobian, t, data, best[1], lower)
    outcome = _outcome("A·exp(−k·(t − t₀)) + C", ["A", "k", "C"], ["k"], t, data, values,
                       exp_offset, exp_offset_jacobian, time_origin=origin)
    check_significant_decay(outcome, t, exp_offset_jacobian)
    return outcome


def fit_biexponential(times: np.ndarray, intensity: np.ndarray) -> FitOutcome:
    """Fit ``A₁·exp(−k₁·(t − t₀)) + A₂·exp(−k₂·(t − t₀)) + C`` with ``k₁ > k₂ ≥ 0``.

    Two components are kept only where the data support them; otherwise
    FitError names the reason (one line) and suggests the single exponential:

    * the fast half-life ``ln 2 / k₁`` is shorter than the frame interval
      (the median time between frames): the series cannot resolve it;
    * an amplitude or a rate has a standard error larger than itself
      (relative error > 100 %), or none can be computed (singular
      covariance): the trace does not determine that component;
    * an amplitude is zero or both rates are equal.

    Raises
    ------
    FitError
        Too few frames, no convergence, no significant decay, or the data do
        not support two components (see above).
    """
    t_abs = np.asarray(times, dtype=float)
    data = np.asarray(intensity, dtype=float)
    check_trace(t_abs, data, 5)
    origin = float(t_abs.min())
    t = t_abs - origin
    duration = float(t.max())
    rates = RATE_GRID[::2] / duration
    best = None
    for i, fast in enumerate(rates):
        for slow in rates[:i]:
            basis = np.column_stack([np.exp(-fast * t), np.exp(-slow * t), np.ones_like(t)])
            (amp_fast, amp_slow, offset), ssr = _linear_coefficients(basis, data)
            if amp_fast > 0 and amp_slow > 0 and (best is None or ssr < best[0]):
                best = (ssr, np.array([amp_fast, fast, amp_slow, slow, offset]))
    if best is None:
        raise FitError("No sum of two decaying exponentials matches the trace; "
                       "try the single exponential")
    lower = np.array([0.0, 0.0, 0.0, 0.0, -np.inf])
    try:
        values = _refine(biexp_offset, biexp_offset_jacobian, t, data, best[1], lower)
    except FitError as exc:
        raise FitError(f"{exc} (the data may not support two exponential components; "
                       "try the single exponential)") from None
    if values[1] < values[3]:  # keep the fast component first
        values = values[[2, 3, 0, 1, 4]]
    amp_fast, rate_fast, amp_slow, rate_slow, _ = values
    if min(amp_fast, amp_slow) <= 0 or math.isclose(rate_fast, rate_slow, rel_tol=1e-6):
        raise FitError("The data do not support two exponential components; "
                       "use the single exponential")
    interval = float(np.median(np.diff(np.sort(t))))
    fast_half_life = math.log(2) / rate_fast
    if fast_half_life < interval:
        raise FitError(f"The fast component's half-life ({fast_half_life:.3g}) is shorter than "
                       f"the frame interval ({interval:.3g}): the data do not resolve it; "
                       "use the single exponential")
    outcome = _outcome("A₁·exp(−k₁·(t − t₀)) + A₂·exp(−k₂·(t − t₀)) + C",
                       ["A1", "k1", "A2", "k2", "C"], ["k1", "k2"], t, data, values,
                       biexp_offset, biexp_offset_jacobian, time_origin=origin)
    for name in ("k1", "A1", "k2", "A2"):
        value, error = outcome.parameters[name], outcome.parameter_errors[name]
        if not error <= abs(value):  # also NaN: the covariance determines nothing
            raise FitError(f"The data do not support two exponential components: {name} = "
                           f"{value:.3g} ± {error:.2g} (relative error above 100 %); "
                           "use the single exponential")
    check_significant_decay(outcome, t, biexp_offset_jacobian)
    return outcome
