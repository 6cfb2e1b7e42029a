"""The bleach engine on files: parity with flimage 0.3.3, every method, streaming and control."""

import hashlib
import warnings

import h5py
import numpy as np
import pytest

from flimage_app.model import FLImage, FLSeries
from flimage_app.model.bleach import METHODS, MissingTimeWarning, correct_series
from flimage_app.model.bleach.synthetic import blob, write_bleaching_series
from flimage_app.model.errors import Cancelled, FitError
from flimage_app.model.provenance import read_provenance

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import flimage

SHAPE = (48, 48)
RATE = 0.5  # 1/s
TIMES = np.arange(30) * 0.1  # flimage's own fit converges on a few-second series


@pytest.fixture
def series_path(tmp_path):
    path = tmp_path / "input.h5"
    write_bleaching_series(path, TIMES, SHAPE, rate=RATE, plateau=150.0, noise=3.0)
    return path


def frames_of(path):
    with h5py.File(path, "r") as handle:
        count = sum(1 for key in handle if key.startswith("fli_"))
        return [handle[f"fli_{i}/fluorescence/raw"][()].astype(float) for i in range(count)]


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_flimage_method_matches_flimage_033(series_path, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with flimage.FLSeries(h5file=series_path, h5mode="r") as fls:
            bg, flint, decay, times = fls.bleach_correction(h5out=tmp_path / "ref.h5",
                                                            border_px=8)
    result = correct_series(series_path, tmp_path / "app.h5", "flimage", border_px=8)
    np.testing.assert_allclose(result.background, bg, rtol=1e-12)
    np.testing.assert_allclose(result.intensity, flint, rtol=1e-4)
    np.testing.assert_allclose(result.fitted, decay, rtol=1e-4)
    np.testing.assert_allclose(result.times, times)
    reference, ours = frames_of(tmp_path / "ref.h5"), frames_of(tmp_path / "app.h5")
    assert len(ours) == len(reference) == TIMES.size
    for expected, actual in zip(reference, ours, strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    # flimage opens the app's output and sees the same frames and metadata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with flimage.FLSeries(h5file=tmp_path / "app.h5", h5mode="r") as app_fls, \
                flimage.FLSeries(h5file=tmp_path / "ref.h5", h5mode="r") as ref_fls:
            assert len(app_fls) == len(ref_fls)
            for app_fli, ref_fli in zip(app_fls, ref_fls, strict=True):
                assert app_fli["time"] == ref_fli["time"]
                assert app_fli["pixel size"] == ref_fli["pixel size"]
                assert app_fli == ref_fli


class Counter:
    def __init__(self):
        self.value = 0


def test_flseries_bleach_correction_keeps_flimage_signature(series_path, tmp_path):
    count, max_count, calls = Counter(), Counter(), []
    with FLSeries(h5file=series_path, h5mode="r") as fls:
        bg, flint, decay, times = fls.bleach_correction(
            h5out=str(tmp_path / "out.h5"), border_px=8, count=count, max_count=max_count,
            callback=lambda done, total: calls.append((done, total)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with flimage.FLSeries(h5file=series_path, h5mode="r") as fls:
            expected = fls.bleach_correction(border_px=8)
    assert isinstance(bg, float) and bg == pytest.approx(expected[0], rel=1e-12)
    np.testing.assert_allclose(flint, expected[1], rtol=1e-4)
    np.testing.assert_allclose(decay, expected[2], rtol=1e-4)
    assert count.value == max_count.value == 3 * TIMES.size  # flimage's step count
    # three passes (background, intensity, write), each counted in frames
    assert calls == [(done, TIMES.size) for done in range(1, TIMES.size + 1)] * 3


def test_source_series_is_corrected_with_the_measured_correction(series_path, tmp_path):
    other = tmp_path / "other.h5"
    write_bleaching_series(other, TIMES, SHAPE, rate=RATE, plateau=150.0, noise=3.0, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with flimage.FLSeries(h5file=series_path, h5mode="r") as fls, \
                flimage.FLSeries(h5file=other, h5mode="r") as flscorr:
            fls.bleach_correction(h5out=tmp_path / "ref.h5", border_px=8, flscorr=flscorr)
    correct_series(series_path, tmp_path / "app.h5", "flimage", border_px=8, source=other)
    for expected, actual in zip(frames_of(tmp_path / "ref.h5"), frames_of(tmp_path / "app.h5"),
                                strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-3)


def corrected_trace(path, method):
    """Intensity of every frame of a corrected series, measured as `method` measures it.

    Corrected frames are background-subtracted already; flimage's measure is the
    sum of the positive pixels (it includes the positive half of the noise, which
    does not bleach), the other methods use the mean.
    """
    if method == "flimage":
        return np.array([frame[frame > 0].sum() for frame in frames_of(path)])
    return np.array([frame.mean() for frame in frames_of(path)])


@pytest.mark.parametrize("method", [*METHODS, "histogram_previous"])
def test_every_method_flattens_a_known_decay(method, series_path, tmp_path):
    output = tmp_path / f"{method}.h5"
    options = {"border_px": 8}
    if method == "histogram_previous":
        method, options["histogram_reference"] = "histogram", "previous"
    if method == "biexp":
        path = tmp_path / "biexp_input.h5"
        times = np.linspace(0, 20, 60)
        # two bleaching populations: fast (k=1/s) and slow (k=0.1/s)
        write_bleaching_series(path, times, SHAPE, rate=1.0, signal=600.0, noise=1.0,
                               plateau=0.0)
        _add_slow_component(path, times, rate=0.1, signal=400.0)
    else:
        path = series_path
    result = correct_series(path, output, method, **options)
    trace = corrected_trace(output, method)
    raw_trace = result.intensity
    assert raw_trace[-1] < 0.75 * raw_trace[0]  # it did bleach
    assert np.max(np.abs(trace / trace[0] - 1)) < 0.02  # and is flat now
    np.testing.assert_allclose(trace, raw_trace * result.correction, rtol=1e-3,
                               atol=1e-3 * raw_trace[0])
    if method in ("flimage", "exp", "biexp"):
        assert result.fitted is not None and result.report.r_squared > 0.99
        assert result.report.half_lives
    else:
        assert result.fitted is None


def _add_slow_component(path, times, rate, signal):
    with h5py.File(path, "r+") as handle:
        shape = handle["fli_0/fluorescence/raw"].shape
        for index, time in enumerate(times):
            dset = handle[f"fli_{index}/fluorescence/raw"]
            dset[...] = dset[()] + (signal * np.exp(-rate * time) * blob(shape)).astype(np.float32)


def test_exp_recovers_rate_with_irregular_times(tmp_path):
    rng = np.random.default_rng(2)
    times = np.cumsum(rng.uniform(0.05, 0.5, 40))
    path = tmp_path / "irregular.h5"
    write_bleaching_series(path, times, SHAPE, rate=RATE, noise=2.0, plateau=100.0)
    result = correct_series(path, None, "exp", border_px=8)
    k, error = result.report.parameters["k"], result.report.errors["k"]
    assert abs(k - RATE) < 3 * error
    np.testing.assert_allclose(result.times, times)


def test_missing_times_fall_back_to_frame_index_with_warning(tmp_path):
    path = tmp_path / "untimed.h5"
    write_bleaching_series(path, TIMES, SHAPE, rate=RATE, with_times=False)
    with pytest.warns(MissingTimeWarning, match="frame index"):
        result = correct_series(path, None, "exp", border_px=8)
    assert result.report.time_unit == "frame"
    np.testing.assert_array_equal(result.times, np.arange(TIMES.size))
    assert any("frame index" in note for note in result.report.notes)
    # the rate is per frame now: 0.5/s at 0.1 s per frame
    assert result.report.parameters["k"] == pytest.approx(RATE * 0.1, rel=0.05)


def test_metadata_changes_are_fitted_and_written_without_touching_the_input(tmp_path):
    # a file recorded with the wrong interval (10×), corrected as the app does before saving
    path = tmp_path / "wrong_interval.h5"
    write_bleaching_series(path, TIMES * 10, SHAPE, rate=RATE / 10, noise=2.0, plateau=100.0)
    before = sha256(path)
    changes = {index: {"time": float(time)} for index, time in enumerate(TIMES)}
    changes[3]["identifier"] = "checked"
    result = correct_series(path, tmp_path / "out.h5", "exp", border_px=8,
                            meta_changes=changes)
    np.testing.assert_allclose(result.times, TIMES)
    assert result.report.parameters["k"] == pytest.approx(RATE, rel=0.1)
    assert sha256(path) == before
    with FLSeries(h5file=tmp_path / "out.h5", h5mode="r") as corrected:
        np.testing.assert_allclose(corrected.times(), TIMES)
        assert corrected[3]["identifier"] == "checked"
    record = read_provenance(tmp_path / "out.h5")
    assert record["metadata_changes"]["3"] == {"time": TIMES[3], "identifier": "checked"}
    # the edits are this file's: applying the recipe elsewhere does not carry them
    assert "meta_changes" not in record["parameters"]


def test_invalid_metadata_changes_are_refused_before_any_work(series_path, tmp_path):
    with pytest.raises(KeyError, match="colour"):
        correct_series(series_path, tmp_path / "out.h5", "exp", meta_changes={0: {"colour": 1}})
    with pytest.raises(ValueError, match="time"):
        correct_series(series_path, tmp_path / "out.h5", "exp", meta_changes={0: {"time": "x"}})
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize("method", ["flimage", "exp", "biexp"])
def test_non_decaying_series_raises_and_writes_nothing(method, tmp_path):
    path = tmp_path / "flat.h5"
    write_bleaching_series(path, TIMES, SHAPE, rate=0.0)
    output = tmp_path / "out.h5"
    with pytest.raises(FitError):
        correct_series(path, output, method, border_px=8)
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat.h5"]


def test_cancel_midway_leaves_no_output_and_input_untouched(series_path, tmp_path):
    before = sha256(series_path)
    output = tmp_path / "out.h5"
    calls = []

    def cancel():
        return len(calls) >= 2 * TIMES.size + 5  # during the write pass

    with pytest.raises(Cancelled):
        correct_series(series_path, output, "flimage", border_px=8, cancel=cancel,
                       progress=lambda done, total: calls.append((done, total)))
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.h5"]
    assert sha256(series_path) == before
    assert calls[:TIMES.size] == [(done, TIMES.size) for done in range(1, TIMES.size + 1)]
    assert all(total == TIMES.size for _, total in calls)


def test_existing_output_is_not_replaced_without_overwrite(series_path, tmp_path):
    output = tmp_path / "out.h5"
    output.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        correct_series(series_path, output, "exp", border_px=8)
    assert output.read_bytes() == b"precious"
    correct_series(series_path, output, "exp", border_px=8, overwrite=True)
    assert len(frames_of(output)) == TIMES.size


def test_one_measurement_pass_for_mean_methods(series_path):
    calls = []
    correct_series(series_path, None, "exp", border_px=8,
                   progress=lambda done, total: calls.append(total))
    assert calls[0] == TIMES.size


def test_masks_regions_and_constant_background(series_path, tmp_path):
    signal = blob(SHAPE) > 0.5
    background_mask = blob(SHAPE) < 0.01
    by_signal = correct_series(series_path, None, "ratio", background="mask",
                               background_mask=background_mask, region="signal",
                               signal_mask=signal)
    outside = correct_series(series_path, None, "ratio", background="constant",
                             background_value=100.0, region="outside",
                             background_mask=background_mask)
    frames = frames_of(series_path)
    levels = [frame[background_mask].mean() for frame in frames]
    np.testing.assert_allclose(by_signal.background, np.mean(levels))
    np.testing.assert_allclose(by_signal.intensity,
                               [frame[signal].mean() - np.mean(levels) for frame in frames])
    np.testing.assert_allclose(outside.background, 100.0)
    np.testing.assert_allclose(outside.intensity,
                               [frame[~background_mask].mean() - 100.0 for frame in frames])
    with pytest.raises(ValueError, match="signal mask is required"):
        correct_series(series_path, None, "ratio", region="signal")
    with pytest.raises(ValueError, match="shape"):
        correct_series(series_path, None, "ratio", region="signal", signal_mask=np.ones((3, 3)))


def test_stored_background_of_each_frame_is_used(tmp_path):
    path = tmp_path / "stored.h5"
    rng = np.random.default_rng(0)
    with FLSeries(h5file=path, h5mode="w") as fls:
        for index, time in enumerate(TIMES):
            drift = 100.0 + 10 * index  # background that changes from frame to frame
            raw = drift + 500 * np.exp(-RATE * time) * blob(SHAPE) + rng.normal(0, 1, SHAPE)
            fli = FLImage(data=raw, meta_data={"time": float(time)})
            fli.set_bg_data(np.full(SHAPE, drift))
            fls.add_flimage(fli)
    result = correct_series(path, tmp_path / "out.h5", "exp", background="stored")
    np.testing.assert_array_equal(result.background, 0.0)
    assert abs(result.report.parameters["k"] - RATE) < 3 * result.report.errors["k"]


def test_output_group_and_csv(series_path, tmp_path):
    with h5py.File(tmp_path / "mine.h5", "w") as handle:
        group = handle.create_group("corrected")
        result = correct_series(series_path, group, "exp", border_px=8)
        assert sum(1 for key in group if key.startswith("fli_")) == TIMES.size
        assert "flimage_app" in group
    result.to_csv(tmp_path / "trace.csv")
    lines = (tmp_path / "trace.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("frame,time [s],background,intensity,fitted,correction factor")
    assert len(lines) == TIMES.size + 1


def test_unknown_choices_are_rejected(series_path):
    for kwargs in ({"method": "magic"}, {"background": "sky"}, {"region": "moon"}):
        with pytest.raises(ValueError, match="choose one of"):
            correct_series(series_path, None, **kwargs)


def test_default_method_is_exp_because_flimage_method_is_biased(tmp_path):
    """The README's figures: flimage's corrected frames still fall, exp's stay flat.

    flimage's intensity is the sum of the pixels above the background;
    background noise adds a constant (that does not bleach) to that sum.
    """
    path = tmp_path / "camera.h5"
    write_bleaching_series(path, np.arange(80) * 0.5, (128, 128), rate=0.05, signal=300.0,
                           background=100.0, noise=5.0)
    means = {}
    for method in ("flimage", None):
        output = tmp_path / f"{method}.h5"
        result = correct_series(path, output) if method is None else \
            correct_series(path, output, method)
        assert result.method == (method or "exp")
        means[result.method] = [frame.mean() for frame in frames_of(output)]
        assert result.report.r_squared > 0.9999  # both fits look perfect
    flimage_means, exp_means = np.array(means["flimage"]), np.array(means["exp"])
    np.testing.assert_allclose(flimage_means[[0, 40, 79]], [40.90, 38.25, 30.58], atol=0.01)
    np.testing.assert_allclose(exp_means[[0, 40, 79]], [40.90, 40.81, 40.92], atol=0.01)
    assert np.abs(exp_means / exp_means[0] - 1).max() < 0.03  # flat within the noise
    assert flimage_means[-1] / flimage_means[0] < 0.8  # still bleaching by a quarter


@pytest.mark.parametrize("level", [-5.0, 0.0, 99.5, 100.0, 180.0, 1e6])
def test_positive_sum_is_the_sum_of_the_pixels_above_the_level(level):
    from flimage_app.model.bleach.measure import positive_sum

    rng = np.random.default_rng(4)
    image = rng.normal(100, 20, (256, 192)).astype(np.float32).astype(float)
    image[3, 4], image[10, 11], image[20, 5] = np.nan, np.inf, -np.inf
    region = rng.random(image.shape) > 0.3
    for where in (None, region):
        values = image if where is None else image[where]
        values = values[np.isfinite(values)] - level
        # to the last bit, as flimage sums (frames identical to flimage's need it)
        assert positive_sum(image, level, where) == float(np.sum(values[values > 0]))
    untouched = image.copy()
    positive_sum(image, level, None)
    np.testing.assert_array_equal(image, untouched)  # the frame is not changed


def test_positive_sum_rounds_as_flimage_on_float_frames():
    # float frames with sensor noise: summing zeros in place of the pixels below the level
    # (np.maximum) changes numpy's pairwise grouping, and a few sums in the last bit — and
    # then the fit and about half of the corrected frames by one float32 step
    from flimage_app.model.bleach.measure import positive_sum
    from flimage_app.model.bleach.synthetic import bleaching_frame

    rng = np.random.default_rng(1)
    for index in range(5):
        frame = bleaching_frame(index, index * 0.05, (512, 512), rate=2.0, noise=5.0,
                                slow_fraction=0.3)
        image = (frame + rng.normal(0, 0.7, frame.shape).astype(np.float32)).astype(float)
        shifted = image - 100.62842819489502
        assert positive_sum(image, 100.62842819489502, None) == np.sum(shifted[shifted > 0])
