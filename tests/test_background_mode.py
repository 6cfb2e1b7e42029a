"""``fit_offset="mode"`` picks the same histogram bin as qpimage 0.9.3, ties included.

Equally full bins are frequent on small images of whole counts; qpimage
takes the densest bin (count / width), and the widths differ in the last
bits.  Compared with the real qpimage package on many images.
"""

import warnings

import numpy as np
import pytest

from flimage_app.model import FLImage
from flimage_app.model.background import estimate, offset_mode

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # qpimage's optional GPU back-ends warn on import
    qpimage_bg = pytest.importorskip("qpimage.bg_estimate")


def small_poisson_images(count=2000, seed=13):
    rng = np.random.default_rng(seed)
    shapes = [(10, 12), (7, 9), (16, 16), (5, 20)]
    return [rng.poisson(rng.uniform(1.0, 12.0), shapes[ii % len(shapes)]).astype(float)
            for ii in range(count)]


def camera_frames(count=100, seed=5, shape=(128, 128)):
    """Camera-like frames: offset 100, Poisson photons (cell on a tilted background), read noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape)
    frames = []
    for _ in range(count):
        centre = rng.uniform(40, 88, 2)
        photons = (rng.uniform(5, 40) + 0.04 * rows - 0.02 * cols
                   + rng.uniform(50, 400) * np.exp(-((rows - centre[0]) ** 2
                                                    + (cols - centre[1]) ** 2) / 600))
        frames.append(np.round(100 + rng.poisson(photons) + rng.normal(0, 1.6, shape)))
    return frames


def test_mode_of_small_poisson_images_is_qpimages():
    images = small_poisson_images()
    differing = [ii for ii, image in enumerate(images)
                 if not np.array_equal(estimate(image, fit_offset="mode", fit_profile="offset"),
                                       qpimage_bg.estimate(image, fit_offset="mode",
                                                           fit_profile="offset"))]
    assert differing == []
    # the case tests the tie-break: on many images the first full bin is not the densest
    assert sum(first_full_bin_is_not_densest(image) for image in images) >= 10


def first_full_bin_is_not_densest(image) -> bool:
    values = image.ravel()
    bins = int(np.ceil(np.sqrt(values.size)))
    counts, _ = np.histogram(values, bins, range=(values.min(), values.max()))
    density, _ = np.histogram(values, bins, range=(values.min(), values.max()), density=True)
    return bool(np.argmax(counts) != np.argmax(density))


def test_mode_breaks_ties_as_qpimage_on_any_residuals():
    """On qpimage's own tilt residuals the app's mode gives qpimage's background exactly."""
    for image in small_poisson_images(count=400, seed=3):
        everything = np.ones(image.shape, dtype=bool)
        profile = qpimage_bg.profile_tilt(image, everything)
        expected = qpimage_bg.estimate(image, fit_offset="mode", fit_profile="tilt")
        assert np.array_equal(profile + offset_mode((image - profile)[everything]), expected)


@pytest.mark.parametrize("border_px", [0, 16])
def test_mode_of_camera_frames_is_qpimages(border_px):
    for frame in camera_frames():
        np.testing.assert_array_equal(
            estimate(frame, fit_offset="mode", fit_profile="offset", border_px=border_px),
            qpimage_bg.estimate(frame, fit_offset="mode", fit_profile="offset",
                                border_px=border_px))


@pytest.mark.parametrize("profile", ["tilt", "poly2o"])
@pytest.mark.parametrize("images", ["small", "camera"])
def test_mode_over_a_fitted_profile_is_qpimages(images, profile):
    """With "mode" the profile is fitted on qpimage's path: its last bits decide the bin."""
    frames = small_poisson_images(count=500) if images == "small" else camera_frames(count=40)
    rng = np.random.default_rng(8)
    for frame in frames:
        kwargs = {"fit_offset": "mode", "fit_profile": profile,
                  "border_px": 0 if images == "small" else 16,
                  "from_mask": rng.random(frame.shape) < 0.8 if images == "camera" else None}
        np.testing.assert_array_equal(estimate(frame, **kwargs),
                                      qpimage_bg.estimate(frame, **kwargs))


def test_other_offsets_keep_the_exact_linear_fit():
    """README: mean / gauss / fit use the exact minimum, within 1e-6 of qpimage's."""
    for frame in camera_frames(count=10):
        for offset in ("mean", "fit"):
            np.testing.assert_allclose(estimate(frame, fit_offset=offset, border_px=16),
                                       qpimage_bg.estimate(frame, fit_offset=offset,
                                                           border_px=16), rtol=0, atol=1e-6)


def test_flimage_estimate_bg_mode_stores_qpimages_background(tmp_path):
    for index, image in enumerate(small_poisson_images(count=50, seed=21)):
        with FLImage(data=image, h5file=tmp_path / f"{index}.h5", h5mode="w") as fli:
            fli.estimate_bg(fit_offset="mode", fit_profile="offset")
            expected = qpimage_bg.estimate(image.astype(np.float32).astype(float),
                                           fit_offset="mode", fit_profile="offset")
            np.testing.assert_array_equal(fli.get_bg("fit"), expected.astype(np.float32))


def test_mode_over_a_profile_with_fewer_pixels_than_parameters_does_not_fail():
    """qpimage's optimiser refuses such a fit; the app falls back to the least-squares one."""
    data = np.arange(16.0).reshape(4, 4)
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, :4] = True  # 4 pixels, 6 parameters of poly2o
    background = estimate(data, fit_offset="mode", fit_profile="poly2o", from_mask=mask)
    assert background.shape == (4, 4) and np.isfinite(background).all()
