"""Curve fits of the bleach engine: flimage-exact replication, robust fits, honest errors."""

import math
import warnings

import numpy as np
import pytest

from flimage_app.model.bleach.fitting import (
    biexp_offset,
    exp_offset,
    fit_biexponential,
    fit_exponential,
    fit_flimage_exponential,
    half_life,
)
from flimage_app.model.bleach.report import FitReport
from flimage_app.model.errors import FitError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from flimage.series import fit_exponential as flimage_fit_exponential


def noisy(values, relative, seed):
    rng = np.random.default_rng(seed)
    return values * (1 + rng.normal(0, relative, values.size))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flimage_fit_reproduces_flimage_exactly(seed):
    times = np.arange(60) * 0.08
    trace = noisy(exp_offset(times, 8e5, 0.7, 1.5e5), 0.002, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = flimage_fit_exponential(times, trace)
    outcome = fit_flimage_exponential(times, trace)
    np.testing.assert_allclose(outcome.fitted, expected, rtol=1e-10)


def test_flimage_fit_stalls_on_long_series_and_says_so():
    # flimage's start value for k is in seconds, so on a 100 s series it stalls.
    times = np.arange(100.0)
    trace = noisy(exp_offset(times, 1e6, 0.02, 2e5), 0.003, 0)
    with pytest.raises(FitError, match="stalls far from the data.*'exp'"):
        fit_flimage_exponential(times, trace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = flimage_fit_exponential(times, trace)
    lenient = fit_flimage_exponential(times, trace, strict=False)
    np.testing.assert_allclose(lenient.fitted, expected, rtol=1e-10)
    assert lenient.r_squared < 0.5


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_exponential_recovers_rate_within_standard_error(seed):
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.uniform(0.5, 3.0, 80))  # irregular intervals
    rate = 0.03
    trace = exp_offset(times - times[0], 500.0, rate, 80.0) + rng.normal(0, 2.0, times.size)
    outcome = fit_exponential(times, trace)
    k, k_error = outcome.parameters["k"], outcome.parameter_errors["k"]
    assert 0 < k_error < 0.1 * k
    assert abs(k - rate) < 3 * k_error
    assert outcome.time_origin == times[0]
    assert outcome.r_squared > 0.99
    value, error = outcome.half_lives()[0]
    assert value == pytest.approx(math.log(2) / k)
    assert error == pytest.approx(math.log(2) * k_error / k**2)


def test_irregular_times_are_not_frame_indices():
    # Same frames, bursts of fast acquisition: fitting against the index would be wrong.
    times = np.concatenate([np.arange(20) * 0.1, 2 + np.arange(20) * 5.0])
    trace = exp_offset(times, 300.0, 0.05, 50.0)
    outcome = fit_exponential(times, trace)
    assert outcome.parameters["k"] == pytest.approx(0.05, rel=1e-6)
    np.testing.assert_allclose(outcome.fitted, trace, rtol=1e-8)


def test_biexponential_recovers_both_rates():
    rng = np.random.default_rng(7)
    times = np.linspace(0, 200, 150)
    trace = biexp_offset(times, 400.0, 0.1, 300.0, 0.01, 50.0) + rng.normal(0, 1.0, times.size)
    outcome = fit_biexponential(times, trace)
    params, errors = outcome.parameters, outcome.parameter_errors
    assert abs(params["k1"] - 0.1) < 3 * errors["k1"]
    assert abs(params["k2"] - 0.01) < 3 * errors["k2"]
    assert len(outcome.half_lives()) == 2


@pytest.mark.parametrize("fit", [fit_exponential, fit_biexponential, fit_flimage_exponential])
def test_flat_series_raises_fit_error(fit):
    rng = np.random.default_rng(11)
    times = np.arange(50.0)
    trace = 1000 + rng.normal(0, 5, times.size)
    reasons = "does not decay|two exponential|not converge|not determined"
    with pytest.raises(FitError, match=reasons):
        fit(times, trace)


def test_rising_series_raises_fit_error():
    times = np.arange(30.0)
    with pytest.raises(FitError, match="does not decay"):
        fit_exponential(times, 100 + 2 * times)


def test_too_few_frames_and_nan_raise():
    with pytest.raises(FitError, match="at least 4 frames"):
        fit_exponential(np.arange(3.0), np.array([3.0, 2.0, 1.0]))
    with pytest.raises(FitError, match="NaN"):
        fit_exponential(np.arange(5.0), np.array([5.0, np.nan, 3.0, 2.0, 1.0]))


def test_half_life_of_non_decay_is_infinite():
    assert half_life(0.0, 0.1)[0] == math.inf


def test_report_text_lists_parameters_errors_half_life_and_r2():
    times = np.arange(40) * 0.5
    trace = noisy(exp_offset(times, 200.0, 0.1, 20.0), 0.001, 1)
    report = FitReport.from_fit(fit_exponential(times, trace), "s", ["a note"])
    text = report.as_text()
    for expected in ("Model: A·exp", "k = ", "± ", "[1/s]", "Half-life = ", "R² = ",
                     "Note: a note"):
        assert expected in text
    assert report.residuals.shape == times.shape


@pytest.mark.parametrize("seed", range(24))
def test_biexponential_refuses_a_fast_component_on_single_exponential_data(seed):
    """The docstring's rule: no component the data do not support, for a one-line reason."""
    rng = np.random.default_rng(seed)
    interval = [0.25, 0.5, 1.0, 2.0][seed % 4]
    times = np.arange(60) * interval
    trace = exp_offset(times, 500.0, 0.05, 100.0) + rng.normal(0, [0.5, 2, 5][seed % 3],
                                                                 times.size)
    with pytest.raises(FitError) as caught:
        fit_biexponential(times, trace)
    message = str(caught.value)
    assert "\n" not in message and "single exponential" in message
    assert fit_exponential(times, trace).parameters["k"] == pytest.approx(0.05, rel=0.2)


def test_biexponential_names_a_half_life_shorter_than_the_frame_interval():
    rng = np.random.default_rng(30)
    times = np.arange(60) * 1.0
    trace = exp_offset(times, 500.0, 0.05, 100.0) + rng.normal(0, 5.0, times.size)
    with pytest.raises(FitError, match=r"half-life \(0\.\d+\) is shorter than the frame "
                                       r"interval \(1\)"):
        fit_biexponential(times, trace)


@pytest.mark.parametrize("seed", range(6))
def test_biexponential_keeps_two_components_the_data_support(seed):
    rng = np.random.default_rng(seed)
    times = np.linspace(0, 60, 120)
    trace = biexp_offset(times, 400.0, 0.5, 300.0, 0.03, 50.0) + rng.normal(0, 1.0, times.size)
    outcome = fit_biexponential(times, trace)
    assert outcome.parameters["k1"] == pytest.approx(0.5, rel=0.2)
    assert outcome.parameters["k2"] == pytest.approx(0.03, rel=0.2)
