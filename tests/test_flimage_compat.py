"""Files go both ways between the app and the real flimage 0.3.3 / qpimage from PyPI."""

import warnings

import h5py
import numpy as np
import pytest

from flimage_app.model import FLImage, FLSeries

from .synthetic import make_frames

flimage = pytest.importorskip("flimage")
qpimage = pytest.importorskip("qpimage")


def signal_mask(shape):
    mask = np.ones(shape, dtype=bool)
    mask[8:24, 10:30] = False
    return mask


def assert_same_image(app_fli, ref_fli):
    assert app_fli.shape == ref_fli.shape
    np.testing.assert_array_equal(app_fli.raw_fl, ref_fli.raw_fl)
    np.testing.assert_allclose(app_fli.fl, ref_fli.fl, rtol=0, atol=1e-12)
    assert dict(app_fli.meta) == {k: (v.item() if hasattr(v, "item") else v)
                                  for k, v in dict(ref_fli.meta).items()}


def test_reference_files_open_identically(reference_file):
    for name in ("basic.h5", "retina_p10.h5"):
        path = reference_file(name)
        with FLImage(h5file=path, h5mode="r") as app, flimage.FLImage(h5file=path,
                                                                      h5mode="r") as ref:
            assert_same_image(app, ref)
    with FLImage(h5file=reference_file("retina_p10.h5"), h5mode="r") as app:
        assert app["identifier"] == "cda88:49"
        assert app["pixel size"] == pytest.approx(1.39e-7)


def test_flimage_writes_app_reads(tmp_path):
    frames = make_frames(4)
    path = tmp_path / "from_flimage.h5"
    with flimage.FLSeries(h5file=path, h5mode="w", identifier="series A") as fls:
        for ii, frame in enumerate(frames):
            fli = flimage.FLImage(data=frame, meta_data={"time": 0.5 * ii, "pixel size": 2e-7})
            if ii == 1:
                fli.set_bg_data(np.full(frame.shape, 3.0))
            if ii == 2:
                fli._fl.estimate_bg(fit_profile="poly2o", fit_offset="mode", border_px=3,
                                    from_mask=signal_mask(frame.shape))
            fls.add_flimage(fli, identifier=f"frame {ii}")
    with flimage.FLSeries(h5file=path, h5mode="r") as ref, \
            FLSeries(h5file=path, h5mode="r") as app:
        assert len(app) == len(ref) == 4
        assert app.identifier == "series A"
        assert app.identifiers() == [f"frame {ii}" for ii in range(4)]
        for ii in range(4):
            assert_same_image(app[ii], ref[ii])
        assert_same_image(app["frame 2"], ref["frame 2"])
        np.testing.assert_array_equal(app[2].h5["fluorescence/estimate_bg_from_mask"][()],
                                      signal_mask(frames[0].shape))
        np.testing.assert_allclose(app.times(), [0, 0.5, 1.0, 1.5])


def test_flimage_series_inside_a_group(tmp_path):
    path = tmp_path / "grouped.h5"
    with h5py.File(path, "w") as h5:
        group = h5.create_group("experiment/day 1")
        fls = flimage.FLSeries(h5file=group)
        for ii, frame in enumerate(make_frames(3)):
            fls.add_flimage(flimage.FLImage(data=frame, meta_data={"time": ii}), identifier=str(ii))
    with h5py.File(path, "r") as h5:
        app = FLSeries(h5file=h5["experiment/day 1"])
        assert len(app) == 3 and "2" in app
        np.testing.assert_allclose(app["1"].fl, make_frames(3)[1].astype("f4"))


def test_app_writes_flimage_reads(tmp_path):
    frames = make_frames(4)
    path = tmp_path / "from_app.h5"
    with FLSeries(h5file=path, h5mode="w", identifier="series B") as fls:
        for ii, frame in enumerate(frames):
            fli = FLImage(data=frame, meta_data={"time": 0.25 * ii, "pixel size": 1e-7})
            if ii == 1:
                fli.set_bg_data(np.full(frame.shape, 2.0))
            if ii == 3:
                fli.estimate_bg(fit_profile="tilt", fit_offset="gauss", border_px=2,
                                from_mask=signal_mask(frame.shape))
            fls.add_flimage(fli, identifier=f"f{ii}")
        fls.app_group(create=True).attrs["note"] = "the app's own data"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # flimage must not even warn
        with flimage.FLSeries(h5file=path, h5mode="r") as ref, \
                FLSeries(h5file=path, h5mode="r") as app:
            assert len(ref) == 4
            assert ref.identifier == "series B"
            for ii in range(4):
                assert_same_image(app[ii], ref[ii])
                assert ref[ii]["identifier"] == f"f{ii}"
            assert "f3" in ref


def test_single_image_both_ways(tmp_path):
    frame = make_frames(1)[0]
    app_path = tmp_path / "app.h5"
    with FLImage(data=frame, meta_data={"time": 3.0}, h5file=app_path) as fli:
        fli.estimate_bg(fit_profile="tilt", fit_offset="fit", border_px=4)
    with flimage.FLImage(h5file=app_path, h5mode="r") as ref, \
            FLImage(h5file=app_path, h5mode="r") as app:
        assert_same_image(app, ref)
    ref_path = tmp_path / "ref.h5"
    with flimage.FLImage(data=frame, meta_data={"time": 3.0}, h5file=ref_path) as fli:
        fli._fl.estimate_bg(fit_profile="tilt", fit_offset="fit", border_px=4)
    with flimage.FLImage(h5file=ref_path, h5mode="r") as ref, \
            FLImage(h5file=ref_path, h5mode="r") as app:
        assert_same_image(app, ref)
        assert app.get_bg("fit", ret_attrs=True)[1] == {"fit_offset": "fit",
                                                         "fit_profile": "tilt", "border_px": 4}


@pytest.mark.parametrize("profile", ["offset", "tilt", "poly2o"])
@pytest.mark.parametrize("offset", ["mean", "mode", "gauss", "fit"])
@pytest.mark.parametrize("use_mask", [False, True])
def test_estimate_bg_matches_qpimage(profile, offset, use_mask):
    from qpimage import bg_estimate as reference

    from flimage_app.model.background import estimate

    rng = np.random.default_rng(42)
    shape = (48, 64)
    rows, cols = np.indices(shape)
    data = (5 + 0.03 * rows - 0.02 * cols + 1e-3 * (rows - 20) ** 2 + 5e-4 * rows * cols
            + rng.normal(0, 0.5, shape))
    data[15:30, 20:40] += 50  # a cell that must not count as background
    mask = signal_mask(shape) if use_mask else None
    kwargs = dict(fit_offset=offset, fit_profile=profile, border_px=6, from_mask=mask)
    if offset == "fit" and profile == "offset":
        with pytest.raises(ValueError):
            reference.estimate(data, **kwargs)
        with pytest.raises(ValueError, match="needs a fitted profile"):
            estimate(data, **kwargs)
        return
    expected, expected_mask = reference.estimate(data, ret_mask=True, **kwargs)
    actual, actual_mask = estimate(data, ret_mask=True, **kwargs)
    np.testing.assert_array_equal(actual_mask, expected_mask)
    # float32 precision relative to the image values
    np.testing.assert_allclose(actual, expected, rtol=0, atol=2e-6 * np.abs(data).max())
