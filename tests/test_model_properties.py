"""Property-based tests of the model: whatever valid input, files round-trip and fits run."""

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from flimage_app.model import FLImage, FLSeries
from flimage_app.model.background import VALID_FIT_OFFSETS, VALID_FIT_PROFILES, estimate

shapes = st.tuples(st.integers(2, 24), st.integers(2, 24))
dtypes = st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64])
finite = dict(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=30)
metadata = st.fixed_dictionaries({}, optional={
    "time": st.floats(0, 1e6, allow_nan=False),
    "pixel size": st.floats(1e-9, 1e-3),
    "identifier": text,
    "device": text,
    "numerical aperture": st.floats(0.01, 1.7),
    "pos x": st.floats(**finite),
})


@st.composite
def images(draw):
    shape = draw(shapes)
    dtype = draw(dtypes)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        elements = st.integers(max(info.min, -(2**24)), min(info.max, 2**24))
    else:
        elements = st.floats(width=32, **finite)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=images(), meta=metadata, with_data_bg=st.booleans(), with_fit=st.booleans(),
       profile=st.sampled_from(["offset", "tilt"]))
def test_images_round_trip_through_a_series_file(raw, meta, with_data_bg, with_fit, profile):
    fli = FLImage(data=raw, meta_data=meta)
    if with_data_bg:
        fli.set_bg_data(np.full(raw.shape, 1.5))
    if with_fit:
        fli.estimate_bg(fit_profile=profile, fit_offset="mean")
    expected_fl = fli.fl
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "series.h5"
        with FLSeries(h5file=path, h5mode="w") as fls:
            fls.add_flimage(fli, identifier="only")
        with FLSeries(h5file=path, h5mode="r") as fls:
            back = fls["only"]
            np.testing.assert_array_equal(back.raw_fl, raw.astype(np.float32))
            np.testing.assert_allclose(back.fl, expected_fl, rtol=1e-6,
                                       atol=1e-6 * max(1.0, np.abs(expected_fl).max()))
            for key, value in meta.items():
                if key != "identifier":
                    assert back[key] == value
            assert sorted(back.bg_keys) == sorted(["data"] * with_data_bg + ["fit"] * with_fit)


@settings(max_examples=60, deadline=None)
@given(data=hnp.arrays(np.float64, shapes, elements=st.floats(-1e3, 1e3)),
       profile=st.sampled_from(VALID_FIT_PROFILES), offset=st.sampled_from(VALID_FIT_OFFSETS),
       border=st.integers(0, 5), mask_seed=st.integers(0, 2**16))
def test_estimate_never_crashes_on_a_valid_mask(data, profile, offset, border, mask_seed):
    mask = np.random.default_rng(mask_seed).random(data.shape) < 0.7
    if offset == "fit" and profile == "offset":
        with pytest.raises(ValueError, match="needs a fitted profile"):
            estimate(data, fit_offset=offset, fit_profile=profile, from_mask=mask)
        return
    used = mask.copy()
    if border:
        frame = np.zeros_like(mask)
        frame[:border], frame[-border:], frame[:, :border], frame[:, -border:] = (True,) * 4
        used &= frame
    if not used.any():
        with pytest.raises(ValueError, match="no pixel"):
            estimate(data, fit_offset=offset, fit_profile=profile, border_px=border,
                     from_mask=mask)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # under-determined fits may warn; they must not crash
        background = estimate(data, fit_offset=offset, fit_profile=profile, border_px=border,
                              from_mask=mask)
    assert background.shape == data.shape
    assert np.all(np.isfinite(background))


def test_gaussian_offset_of_values_near_the_smallest_floats():
    # found by hypothesis: the histogram's density overflowed and the fit got infinities
    from flimage_app.model.background import offset_gaussian

    values = np.array([1e-308, 0.0, 0.0, 0.0, 2e-308])
    centre = offset_gaussian(values)
    assert np.isfinite(centre) and 0.0 <= centre <= 2e-308
    scaled = offset_gaussian(values * 1e308)
    assert centre == pytest.approx(scaled * 1e-308, rel=1e-6)


@pytest.mark.parametrize("offset", ["mode", "gauss"])
def test_histogram_offsets_of_tiny_ranges_and_single_values(offset):
    from flimage_app.model.background import offset_gaussian, offset_mode

    function = offset_mode if offset == "mode" else offset_gaussian
    for values in ([1.11253693e-308, 0.0, 0.0, 0.0], [5e-324, 0.0, 1e-323, 0.0], [3.0]):
        centre = function(np.array(values))
        assert np.isfinite(centre) and min(values) - 1 <= centre <= max(values) + 1
    data = np.zeros((2, 2))
    data[0, 0] = 1.11253693e-308
    for profile in VALID_FIT_PROFILES:
        assert np.all(np.isfinite(estimate(data, fit_offset=offset, fit_profile=profile)))
