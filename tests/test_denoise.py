"""Total-variation denoising of a series: flimage's results, streamed, cancellable."""

import warnings

import h5py
import numpy as np
import pytest

from flimage_app.model import FLSeries
from flimage_app.model.bleach.synthetic import bleaching_frame, write_bleaching_series
from flimage_app.model.denoise import denoise_series
from flimage_app.model.errors import Cancelled
from flimage_app.model.provenance import read_provenance

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import flimage

TIMES = np.arange(6) * 0.5


@pytest.fixture
def noisy_series(tmp_path):
    path = tmp_path / "noisy.h5"
    write_bleaching_series(path, TIMES, (40, 40), rate=0.2, noise=20.0)
    return path


def frames(path):
    with h5py.File(path, "r") as handle:
        return [handle[f"fli_{i}/fluorescence/raw"][()] for i in range(TIMES.size)]


def test_denoise_matches_flimage(noisy_series, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with flimage.FLSeries(h5file=noisy_series, h5mode="r") as fls:
            fls.denoise(str(tmp_path / "ref.h5"))
    denoise_series(noisy_series, tmp_path / "app.h5", weight=2.0)
    for expected, actual in zip(frames(tmp_path / "ref.h5"), frames(tmp_path / "app.h5"),
                                strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-6)
    denoise_series(noisy_series, tmp_path / "strong.h5", weight=40.0)
    noisy, smooth = frames(noisy_series)[0], frames(tmp_path / "strong.h5")[0]
    clean = bleaching_frame(0, TIMES[0], noisy.shape, rate=0.2, noise=0.0)
    assert np.std(smooth - clean) < 0.6 * np.std(noisy - clean)
    with h5py.File(tmp_path / "app.h5", "r") as handle:
        assert handle["fli_2"].attrs["time"] == TIMES[2]


def test_flseries_denoise_keeps_flimage_signature(noisy_series, tmp_path):
    class Counter:
        value = 0

    count, max_count = Counter(), Counter()
    with FLSeries(h5file=noisy_series, h5mode="r") as fls:
        fls.denoise(tmp_path / "out.h5", count=count, max_count=max_count)
    assert count.value == max_count.value == TIMES.size
    record = read_provenance(tmp_path / "out.h5")
    assert record["operation"] == "denoise" and record["parameters"] == {"weight": 2.0}


def test_cancel_leaves_no_output(noisy_series, tmp_path):
    calls = []
    with pytest.raises(Cancelled):
        denoise_series(noisy_series, tmp_path / "out.h5", progress=lambda d, t: calls.append(d),
                       cancel=lambda: len(calls) >= 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noisy.h5"]


def test_weight_must_be_positive(noisy_series, tmp_path):
    with pytest.raises(ValueError, match="positive"):
        denoise_series(noisy_series, tmp_path / "out.h5", weight=0)
