"""NaN and Inf pixels: left out of every measurement; a frame without finite pixels is named."""

import h5py
import numpy as np
import pytest

from flimage_app.model import FitError, FLSeries
from flimage_app.model.bleach import correct_series
from flimage_app.model.bleach.synthetic import write_bleaching_series


@pytest.fixture
def series_path(tmp_path):
    path = tmp_path / "series.h5"
    write_bleaching_series(path, np.arange(12) * 0.5, shape=(48, 48), rate=0.3)
    return path


def spoil(path, frame, rows, cols, value):
    with h5py.File(path, "a") as h5:
        raw = h5[f"fli_{frame}/fluorescence/raw"]
        data = raw[()]
        data[rows, cols] = value
        raw[...] = data


def test_nan_and_inf_pixels_are_left_out(series_path, tmp_path):
    clean = correct_series(series_path, None, method="exp", border_px=5)
    spoil(series_path, 3, slice(20, 22), slice(20, 22), np.nan)
    spoil(series_path, 5, 0, 0, np.inf)  # in the border: the background too
    spoiled = correct_series(series_path, tmp_path / "out.h5", method="exp", border_px=5)
    # a handful of pixels out of 2,304 changes the trace a little, never to NaN
    assert np.all(np.isfinite(spoiled.intensity))
    np.testing.assert_allclose(spoiled.intensity, clean.intensity, rtol=0.02)
    with FLSeries(h5file=tmp_path / "out.h5", h5mode="r") as out:
        corrected = out[3].fl
    assert np.isnan(corrected[20:22, 20:22]).all()  # the bad pixels stay marked as bad
    assert np.isfinite(np.delete(corrected.ravel(), [20 * 48 + 20, 20 * 48 + 21,
                                                     21 * 48 + 20, 21 * 48 + 21])).all()


@pytest.mark.parametrize("method", ["flimage", "exp", "ratio"])
def test_a_frame_without_finite_pixels_is_named(series_path, tmp_path, method):
    spoil(series_path, 7, slice(None), slice(None), np.nan)
    with pytest.raises(FitError, match="Frames 7 have no finite pixel"):
        correct_series(series_path, tmp_path / "out.h5", method=method, border_px=5)
    assert not (tmp_path / "out.h5").exists()
