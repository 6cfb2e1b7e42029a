"""Histogram matching (Miura 2020): the quantile mapping, its fast path and non-finite pixels."""

import numpy as np
import pytest

from flimage_app.model.bleach.methods import HistogramMatcher
from flimage_app.model.errors import FitError


def quantile_mapping(image, reference, region=None):
    """Map each value to the reference value at the same quantile (plain definition)."""
    def distribution(frame):
        pixels = frame if region is None else frame[region]
        values, counts = np.unique(pixels, return_counts=True)
        return values, np.cumsum(counts) / pixels.size

    values, quantiles = distribution(image)
    reference_values, reference_quantiles = distribution(reference)
    return np.interp(image, values, np.interp(quantiles, reference_quantiles, reference_values))


def fading_frames(kind, count=4, shape=(40, 50), seed=1):
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(count):
        counts = rng.poisson(80 * 0.8 ** index + 20, shape).astype(float)
        if kind == "continuous":  # a fitted background was subtracted: few repeated values
            counts -= np.linspace(0, 3.3, shape[1])[None, :]
        frames.append(counts)
    return frames


@pytest.mark.parametrize("kind", ["counts", "continuous"])
@pytest.mark.parametrize("reference", ["first", "previous"])
@pytest.mark.parametrize("with_region", [False, True])
def test_matching_is_the_quantile_mapping(kind, reference, with_region):
    frames = fading_frames(kind)
    region = None
    if with_region:
        region = np.zeros(frames[0].shape, bool)
        region[5:30, 10:45] = True
    matcher = HistogramMatcher(reference, region)
    expected_reference = frames[0]
    np.testing.assert_array_equal(matcher(frames[0].copy()), frames[0])
    for frame in frames[1:]:
        expected = quantile_mapping(frame, expected_reference, region)
        matched = matcher(frame.copy())
        np.testing.assert_allclose(matched, expected, rtol=1e-12, atol=1e-12)
        if reference == "previous":
            expected_reference = expected
    # the matching restores the first frame's brightness
    assert matched.mean() == pytest.approx(frames[0].mean(), rel=0.02)


def test_non_finite_pixels_keep_their_value_and_are_left_out():
    first, later = fading_frames("counts", count=2)
    spoiled = later.copy()
    spoiled[3, 4], spoiled[10, 11], spoiled[20, 21] = np.nan, np.inf, -np.inf
    finite = np.isfinite(spoiled)
    matcher = HistogramMatcher("first")
    matcher(first.copy())
    matched = matcher(spoiled.copy())
    assert np.isnan(matched[3, 4]) and matched[10, 11] == np.inf and matched[20, 21] == -np.inf
    # the finite pixels are matched as if the others were not there
    alone = spoiled[finite]
    expected = quantile_mapping(alone, first)
    np.testing.assert_allclose(matched[finite], expected, rtol=1e-12)


def test_a_frame_without_finite_pixels_in_the_region_is_refused():
    first, later = fading_frames("counts", count=2)
    region = np.zeros(first.shape, bool)
    region[:5, :5] = True
    later[:5, :5] = np.nan
    matcher = HistogramMatcher("first", region)
    matcher(first)
    with pytest.raises(FitError, match="no finite pixel"):
        matcher(later)
