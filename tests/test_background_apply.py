"""Applying ROI-mask background fits to a series; outputs checked with real flimage / qpimage."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

from flimage_app.model import (
    Cancelled,
    FileFormatError,
    FitError,
    FLImage,
    FLImageAppError,
    FLSeries,
)
from flimage_app.model.background_apply import apply_background, assess_region, pixel_noise
from flimage_app.model.rois import (
    BorderROI,
    EllipseROI,
    PolygonROI,
    RectangleROI,
    ROISet,
    read_roiset,
)

SHAPE = (48, 64)
NOISE = 3.0


def make_frame(index: int, rng: np.random.Generator) -> np.ndarray:
    """Tilted background, a bright cell in the middle, Gaussian noise; dimmer with time."""
    rows, cols = np.mgrid[: SHAPE[0], : SHAPE[1]]
    background = 200 + 0.8 * cols - 0.5 * rows + 0.01 * (cols - 30) ** 2
    cell = 500 * np.exp(-((rows - 24) ** 2 + (cols - 32) ** 2) / 60) * 0.9**index
    return background + cell + rng.normal(0, NOISE, SHAPE)


@pytest.fixture
def series_path(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "input.h5"
    frames = [FLImage(data=make_frame(i, rng), meta_data={"time": 2.0 * i, "pixel size": 1e-7})
              for i in range(4)]
    with FLSeries(flimage_list=frames, h5file=path, h5mode="w", identifier="demo") as series:
        series.app_group(create=True).attrs["provenance"] = '{"steps": []}'
    return path


def background_rois() -> ROISet:
    return ROISet(rois=(RectangleROI(0, 0, 12, 48, name="left"),
                        PolygonROI(points=[(50, 0), (64, 0), (64, 48), (56, 48)], name="right"),
                        BorderROI(3, name="frame"),
                        EllipseROI(22, 14, 20, 20, role="exclude", name="cell")))


def file_digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("profile, offset", [("tilt", "mean"), ("offset", "mode"),
                                             ("poly2o", "fit"), ("tilt", "gauss")])
def test_output_opened_with_flimage_equals_qpimage_estimate(series_path, tmp_path, profile,
                                                            offset):
    import flimage
    from qpimage.bg_estimate import estimate

    out = tmp_path / "corrected.h5"
    roiset = background_rois()
    mask = roiset.mask(SHAPE)
    with FLSeries(h5file=series_path, h5mode="r") as series:
        result = apply_background(series, out, roiset, fit_profile=profile, fit_offset=offset)
    assert result.fitted_frames == [0, 1, 2, 3]
    assert result.n_pixels.tolist() == [mask.sum()] * 4
    with flimage.FLSeries(h5file=out, h5mode="r") as corrected, \
            flimage.FLSeries(h5file=series_path, h5mode="r") as original:
        assert len(corrected) == 4
        for index in range(4):
            raw = original.get_flimage(index).raw_fl
            expected_bg = estimate(raw, fit_offset=offset, fit_profile=profile, from_mask=mask)
            frame = corrected.get_flimage(index)
            np.testing.assert_allclose(frame.fl, raw - expected_bg, atol=0.05)
            np.testing.assert_array_equal(frame.raw_fl, raw)
            assert frame["time"] == 2.0 * index
            _, attrs = frame._fl.get_bg("fit", ret_attrs=True)
            assert attrs["fit_profile"] == profile and attrs["fit_offset"] == offset
            np.testing.assert_array_equal(frame.h5["fluorescence/estimate_bg_from_mask"][()],
                                          mask)


def test_background_is_removed_from_the_corrected_frames(series_path, tmp_path):
    out = tmp_path / "corrected.h5"
    roiset = background_rois()
    mask = roiset.mask(SHAPE)
    with FLSeries(h5file=series_path, h5mode="r") as series:
        result = apply_background(series, out, roiset, fit_profile="poly2o")
    assert np.all(np.abs(result.residual_mean) < 0.1)
    assert np.all(np.abs(result.residual_std - NOISE) < 0.5)
    with FLSeries(h5file=out, h5mode="r") as corrected:
        assert abs(corrected[0].fl[mask].mean()) < 0.1


def test_input_is_untouched_and_outputs_are_not_overwritten(series_path, tmp_path):
    before = file_digest(series_path)
    out = tmp_path / "corrected.h5"
    out.write_bytes(b"precious")
    with FLSeries(h5file=series_path, h5mode="r") as series:
        with pytest.raises(FileFormatError, match="exists"):
            apply_background(series, out, background_rois())
        assert out.read_bytes() == b"precious"
        apply_background(series, out, background_rois(), overwrite=True)
    assert file_digest(series_path) == before
    assert h5py.is_hdf5(out)


def test_only_chosen_frames_are_fitted(series_path, tmp_path):
    out = tmp_path / "corrected.h5"
    with FLSeries(h5file=series_path, h5mode="r") as series:
        result = apply_background(series, out, background_rois(), frames=[1, -1])
        assert result.fitted_frames == [1, 3]
        with FLSeries(h5file=out, h5mode="r") as corrected:
            assert corrected[0].bg_keys == [] and corrected[2].bg_keys == []
            assert corrected[1].bg_keys == ["fit"] and corrected[3].bg_keys == ["fit"]
            np.testing.assert_array_equal(corrected[2].fl, series[2].fl)
        with pytest.raises(FLImageAppError, match="does not exist"):
            apply_background(series, tmp_path / "x.h5", background_rois(), frames=[9])


def test_per_frame_override(series_path, tmp_path):
    out = tmp_path / "corrected.h5"
    special = (RectangleROI(0, 0, 64, 6, name="top strip"),)
    roiset = background_rois().with_rois(special, index=2)
    with FLSeries(h5file=series_path, h5mode="r") as series:
        apply_background(series, out, roiset)
    with h5py.File(out, "r") as h5:
        np.testing.assert_array_equal(h5["fli_2/fluorescence/estimate_bg_from_mask"][()],
                                      special[0].mask(SHAPE))
        np.testing.assert_array_equal(h5["fli_1/fluorescence/estimate_bg_from_mask"][()],
                                      background_rois().mask(SHAPE))
        stored = read_roiset(h5)
    assert stored.rois_for_frame(2) == special


def test_rois_and_app_data_are_kept_in_the_output(series_path, tmp_path):
    out = tmp_path / "corrected.h5"
    with FLSeries(h5file=series_path, h5mode="r") as series:
        apply_background(series, out, background_rois(), fit_profile="offset", fit_offset="mode")
    with h5py.File(out, "r") as h5:
        stored = read_roiset(h5)
        assert h5["flimage_app"].attrs["provenance"] == '{"steps": []}'
        assert h5.attrs["identifier"] == "demo"
    assert stored.rois == background_rois().rois
    assert (stored.fit_profile, stored.fit_offset) == ("offset", "mode")


def test_data_background_is_subtracted_before_the_fit_as_in_flimage(series_path, tmp_path):
    import flimage

    out = tmp_path / "corrected.h5"
    dark = np.full(SHAPE, 50.0) + np.linspace(0, 5, SHAPE[1])
    roiset = background_rois()
    with FLSeries(h5file=series_path, h5mode="r") as series:
        apply_background(series, out, roiset, data_background=dark, frames=[0])
        raw = series[0].raw_fl
    reference = flimage.FLImage(data=raw)
    reference.set_bg_data(dark)
    # flimage 0.3.3 exposes the fit on its Fluorescence data object
    reference._fl.estimate_bg(fit_offset="mean", fit_profile="tilt",
                              from_mask=roiset.mask(SHAPE))
    with flimage.FLSeries(h5file=out, h5mode="r") as corrected:
        frame = corrected.get_flimage(0)
        np.testing.assert_allclose(frame._fl.get_bg("data"), dark, rtol=1e-6)
        np.testing.assert_allclose(frame.fl, reference.fl, atol=0.05)


def test_single_image_output_opens_with_flimage(tmp_path):
    import flimage

    rng = np.random.default_rng(3)
    raw = make_frame(0, rng)
    series = FLSeries(flimage_list=[FLImage(data=raw, meta_data={"pixel size": 2e-7})])
    out = tmp_path / "image.h5"
    apply_background(series, out, background_rois(), as_image=True)
    with flimage.FLImage(h5file=out, h5mode="r") as fli:
        assert fli["pixel size"] == pytest.approx(2e-7)
        assert abs(fli.fl[background_rois().mask(SHAPE)].mean()) < 0.1
    with h5py.File(out, "r") as h5:
        assert read_roiset(h5).rois == background_rois().rois


def test_progress_and_cancel_leave_no_file(series_path, tmp_path):
    out = tmp_path / "corrected.h5"
    calls: list[tuple[int, int]] = []

    def cancel_after_two() -> bool:
        return len(calls) >= 2

    with FLSeries(h5file=series_path, h5mode="r") as series:
        with pytest.raises(Cancelled):
            apply_background(series, out, background_rois(), progress=lambda d, t:
                             calls.append((d, t)), cancel=cancel_after_two)
    assert calls == [(1, 4), (2, 4)]
    assert list(tmp_path.iterdir()) == [series_path]


@pytest.mark.parametrize("roiset, error, message", [
    (ROISet(), FLImageAppError, "draw at least one ROI"),
    (ROISet(rois=(RectangleROI(100, 100, 5, 5),)), FitError, "outside the image"),
    (ROISet(rois=(RectangleROI(0, 0, 5, 5), RectangleROI(0, 0, 9, 9, role="exclude"))),
     FitError, "fully excluded"),
    (ROISet(rois=(BorderROI(2),), fit_profile="cubic"), FLImageAppError, "Unknown background"),
    (ROISet(rois=(BorderROI(2),), fit_profile="offset", fit_offset="fit"), FLImageAppError,
     "needs a fitted profile"),
])
def test_unusable_settings_give_one_line_errors_and_no_file(series_path, tmp_path, roiset,
                                                            error, message):
    out = tmp_path / "corrected.h5"
    with FLSeries(h5file=series_path, h5mode="r") as series:
        with pytest.raises(error, match=message):
            apply_background(series, out, roiset)
    assert not out.exists()


def test_wrong_data_background_shape(series_path, tmp_path):
    with FLSeries(h5file=series_path, h5mode="r") as series:
        with pytest.raises(FLImageAppError, match="Background image is 3×2 px"):
            apply_background(series, tmp_path / "o.h5", background_rois(),
                             data_background=np.zeros((2, 3)))


# ----------------------------------------------------------------- region quality

def test_clean_region_has_no_warnings_and_measures_noise():
    rng = np.random.default_rng(11)
    image = 100 + rng.normal(0, 2.0, (80, 80))
    mask = BorderROI(10).mask(image.shape)
    quality = assess_region(image, np.full(image.shape, 100.0), mask, "tilt")
    assert quality.warnings == []
    assert quality.noise == pytest.approx(2.0, rel=0.1)
    assert quality.residual_std == pytest.approx(2.0, rel=0.1)
    assert quality.n_pixels == mask.sum()


def test_region_covering_a_cell_is_flagged():
    rng = np.random.default_rng(12)
    rows, cols = np.mgrid[:80, :80]
    image = 100 + 300 * np.exp(-((rows - 40) ** 2 + (cols - 40) ** 2) / 200)
    image += rng.normal(0, 2.0, image.shape)
    mask = RectangleROI(20, 20, 40, 40).mask(image.shape)
    quality = assess_region(image, np.full(image.shape, 100.0), mask, "tilt")
    assert any("cover signal" in w for w in quality.warnings)
    assert any("exclude cells" in w for w in quality.warnings)


def test_tiny_region_is_flagged():
    image = np.random.default_rng(1).normal(0, 1, (40, 40))
    mask = RectangleROI(0, 0, 4, 4).mask(image.shape)
    quality = assess_region(image, np.zeros_like(image), mask, "poly2o")
    assert any("too small" in w for w in quality.warnings)


def test_noise_ignores_smooth_gradients():
    rng = np.random.default_rng(2)
    rows, cols = np.mgrid[:60, :60]
    image = 5 * cols + 3 * rows + rng.normal(0, 1.5, (60, 60))
    # differences of neighbours remove the gradient but keep a constant 5; MAD removes that too
    assert pixel_noise(image, np.ones((60, 60), dtype=bool)) == pytest.approx(1.5, rel=0.1)
