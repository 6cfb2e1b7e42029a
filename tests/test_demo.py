"""The synthetic demo bleaching series (flimage_app.model.demo)."""

from __future__ import annotations

import json
from dataclasses import replace

import h5py
import numpy as np
import pytest
from scipy import ndimage

from flimage_app.model import FLSeries, demo
from flimage_app.model.demo import (
    DemoParameters,
    bleach_factor,
    bundled_demo_path,
    demo_series_path,
    write_demo_series,
)

#: a small version of the demo, quick to generate in tests
SMALL = replace(DemoParameters(), shape=(96, 128), frames=8, pause_after=4,
                cells=tuple(replace(c, center=(c.center[0] / 2, c.center[1] / 2),
                                    radii=(c.radii[0] / 2, c.radii[1] / 2))
                            for c in DemoParameters().cells))


def frames_of(path) -> np.ndarray:
    with FLSeries(h5file=path, h5mode="r") as series:
        return np.stack([fli.raw_fl for fli in series])


@pytest.fixture(scope="module")
def demo_path():
    path = demo_series_path()
    assert path.is_file()
    return path


def test_bundled_demo_is_what_demo_series_path_returns(demo_path):
    assert bundled_demo_path().is_file()
    assert demo_path == bundled_demo_path()
    assert demo_path.stat().st_size < 5e6  # "a few MB"


def test_demo_series_content(demo_path):
    params = DemoParameters()
    with FLSeries(h5file=demo_path, h5mode="r") as series:
        assert len(series) == params.frames
        assert series.frame_shape == params.shape
        assert series.identifier == demo.DEMO_IDENTIFIER
        times = series.times()
        assert {fli.meta["pixel size"] for fli in series} == {params.pixel_size}
        first = series[0].raw_fl
    steps = np.diff(times)
    assert times[0] == 0.0 and np.all(steps > 0)
    assert steps.max() > params.interval + params.pause / 2  # the pause
    assert np.ptp(np.delete(steps, params.pause_after - 1)) > params.jitter  # jitter
    assert np.array_equal(first, np.round(first))  # whole camera counts
    assert first.min() >= 0


def test_demo_opens_in_flimage(demo_path):
    import flimage

    with flimage.FLSeries(h5file=str(demo_path), h5mode="r") as series:
        assert len(series) == DemoParameters().frames
        assert series.get_flimage(5)["pixel size"] == DemoParameters().pixel_size


def test_bundled_demo_equals_a_fresh_generation(demo_path, tmp_path):
    with h5py.File(demo_path, "r") as h5:
        numpy_version = h5["flimage_app/demo"].attrs["numpy version"]
    if numpy_version != np.__version__:
        pytest.skip(f"bundled demo made with numpy {numpy_version}; random streams may differ")
    fresh = write_demo_series(tmp_path / "fresh.h5")
    np.testing.assert_array_equal(frames_of(fresh), frames_of(demo_path))


def test_generation_is_reproducible_and_seeded(tmp_path):
    first = frames_of(write_demo_series(tmp_path / "a.h5", SMALL))
    again = frames_of(write_demo_series(tmp_path / "b.h5", SMALL))
    other = frames_of(write_demo_series(tmp_path / "c.h5", replace(SMALL, seed=1)))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    path = write_demo_series(tmp_path_factory.mktemp("demo") / "small.h5",
                             replace(SMALL, frames=24, pause_after=12))
    with h5py.File(path, "r") as h5:
        group = h5["flimage_app/demo"]
        truth = {"labels": group["cell_labels"][()],
                 "background": group["background_counts"][()].astype(float),
                 "parameters": json.loads(group.attrs["parameters"])}
    with FLSeries(h5file=path, h5mode="r") as series:
        truth["times"] = series.times()
    truth["frames"] = frames_of(path).astype(float)
    return truth


def test_cells_bleach_at_their_own_rates(small_demo):
    labels, frames = small_demo["labels"], small_demo["frames"]
    signal = frames - small_demo["background"]
    times = small_demo["times"]
    params = replace(SMALL, frames=24, pause_after=12)
    curves = []
    for number, cell in enumerate(params.cells, start=1):
        inside = labels == number
        assert inside.sum() > 50
        trace = signal[:, inside].mean(axis=1)
        expected = bleach_factor(cell, times)
        np.testing.assert_allclose(trace / trace[0], expected / expected[0], atol=0.04)
        curves.append(trace / trace[0])
    for first in range(len(curves)):  # every cell bleaches differently from every other
        for second in range(first):
            assert np.abs(curves[first] - curves[second]).max() > 0.1
    assert small_demo["parameters"]["cells"][2]["fast_fraction"] > 0  # one bi-exponential


def test_background_is_uneven_tilted_and_has_shot_noise(small_demo):
    params = replace(SMALL, frames=24, pause_after=12)
    background = small_demo["background"]
    outside = small_demo["labels"] == 0
    rows, cols = np.indices(background.shape)
    design = np.column_stack([np.ones(outside.sum()), rows[outside], cols[outside]])
    coefficients, *_ = np.linalg.lstsq(design, background[outside], rcond=None)
    plane = design @ coefficients
    assert abs(coefficients[1]) > 0.01 and abs(coefficients[2]) > 0.01  # tilt [counts/px]
    assert np.std(background[outside] - plane) > 1.0  # uneven beyond the tilt
    # Poisson: variance of photons = their mean; plus Gaussian read noise (and rounding);
    # measured away from the cells' soft edges
    far = ndimage.distance_transform_edt(outside) > 8
    residual = small_demo["frames"][:, far] - background[far]
    photons = background[far] - params.camera_offset
    expected_variance = photons.mean() + params.read_noise**2 + 1 / 12
    assert residual.var() == pytest.approx(expected_variance, rel=0.1)


def test_missing_bundled_file_is_generated_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "bundled_demo_path", lambda: tmp_path / "missing.h5")
    monkeypatch.setattr(demo, "user_cache_dir", lambda: tmp_path / "cache")
    calls = []
    real_write = demo.write_demo_series

    def small_write(target, params=SMALL, overwrite=False):
        calls.append(target)
        return real_write(target, SMALL, overwrite)

    monkeypatch.setattr(demo, "write_demo_series", small_write)
    path = demo.demo_series_path()
    assert path.parent == tmp_path / "cache" and path.is_file()
    assert demo.demo_series_path() == path
    assert len(calls) == 1
    assert len(frames_of(path)) == SMALL.frames


def test_user_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setattr(demo.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert demo.user_cache_dir() == tmp_path / "flimage-app"


def test_regeneration_command_refuses_to_overwrite(tmp_path, capsys):
    target = tmp_path / "demo.h5"
    target.write_bytes(b"x")
    with pytest.raises(FileExistsError):
        demo.main([str(target)])
    assert target.read_bytes() == b"x"
