"""One read where one will do, and TIFF in → TIFF out without an HDF5 file (issue 15)."""

import threading

import h5py
import numpy as np
import pytest
import tifffile

from flimage_app import cli
from flimage_app.model.bleach import correct_series
from flimage_app.model.bleach.measure import FrameReader
from flimage_app.model.errors import Cancelled
from flimage_app.model.fastwrite import FrameWriter
from flimage_app.model.stackstream import StackReader, TiffSink, correct_stack, tiff_type
from flimage_app.model.tiffio import import_stack

FRAMES, SHAPE, INTERVAL = 14, (40, 48), 0.25
OPTIONS = {"border_px": 4}


def camera_stack(seed=0, dtype=np.uint16):
    """A bleaching cell on a camera background, in counts."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(SHAPE)
    cell = 900 * np.exp(-((rows - 20) ** 2 + (cols - 24) ** 2) / 60.0)
    return np.stack([rng.poisson(100 + cell * np.exp(-0.4 * index * INTERVAL))
                     for index in range(FRAMES)]).astype(dtype)


@pytest.fixture
def stack(tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, camera_stack(), imagej=True,
                     metadata={"axes": "TYX", "finterval": INTERVAL})
    return path


@pytest.fixture
def series(tmp_path):
    path = tmp_path / "series.h5"
    with h5py.File(path, "w") as handle, FrameWriter(handle) as writer:
        for index, image in enumerate(camera_stack(1)):
            writer.submit(image, {"time": index * INTERVAL, "pixel size": 1e-7})
    return path


def frames(path):
    with h5py.File(path, "r") as handle:
        count = sum(name.startswith("fli_") for name in handle)
        assert count == FRAMES
        return [handle[f"fli_{i}/fluorescence/raw"][...] for i in range(count)]


# ------------------------------------------------------------------ one read
@pytest.mark.parametrize("method", ["exp", "flimage", "ratio", "histogram"])
def test_frames_kept_between_passes_are_read_once_and_give_identical_frames(
        series, tmp_path, method):
    with FrameReader(series, cache_bytes=0) as reader:
        twice = correct_series(reader, tmp_path / "twice.h5", method, **OPTIONS)
        decoded_twice = reader.decoded
    with FrameReader(series, cache_bytes=1 << 30) as reader:
        once = correct_series(reader, tmp_path / "once.h5", method, **OPTIONS)
        assert reader.decoded == FRAMES  # every frame inflated once, whatever the passes
    passes = 3 if method == "flimage" else 2
    assert decoded_twice == passes * FRAMES
    for a, b in zip(frames(tmp_path / "twice.h5"), frames(tmp_path / "once.h5"), strict=True):
        assert np.array_equal(a, b)  # bit-identical
    np.testing.assert_array_equal(twice.correction, once.correction)
    np.testing.assert_array_equal(twice.intensity, once.intensity)


def test_the_cache_stays_within_its_budget(series, tmp_path):
    frame_bytes = SHAPE[0] * SHAPE[1] * 4  # float32 as stored
    budget = 3 * frame_bytes + frame_bytes // 2
    with FrameReader(series, cache_bytes=budget) as reader:
        seen = []
        original = reader._kept

        def watched(index, raw):
            kept = original(index, raw)
            seen.append(reader._cached_bytes)
            return kept

        reader._kept = watched
        correct_series(reader, tmp_path / "o.h5", "exp", **OPTIONS)
        assert max(seen) <= budget and len(reader._cache) == 3
        # the 3 frames that fit are read once, the others in both passes
        assert reader.decoded == FRAMES + (FRAMES - 3)


@pytest.mark.parametrize("method", ["flimage", "exp"])
def test_a_series_that_fits_the_default_budget_is_read_once(series, tmp_path, method):
    # no budget given: a short series is kept whole, so flimage's three passes inflate
    # every frame once (they inflated most frames three times with a fixed 16 MB)
    with FrameReader(series) as reader:
        assert reader.cache_bytes == FRAMES * SHAPE[0] * SHAPE[1] * 4
        correct_series(reader, tmp_path / "o.h5", method, **OPTIONS)
        assert reader.decoded == FRAMES


def test_a_series_longer_than_the_whole_series_budget_keeps_the_small_one(
        series, tmp_path, monkeypatch):
    from flimage_app.model.bleach import measure

    frame_bytes = SHAPE[0] * SHAPE[1] * 4
    monkeypatch.setattr(measure, "WHOLE_SERIES_BYTES", FRAMES * frame_bytes - 1)
    monkeypatch.setattr(measure, "CACHE_BYTES", 2 * frame_bytes)
    with FrameReader(series) as reader:
        assert reader.cache_bytes == 2 * frame_bytes  # memory bounded whatever the length
        correct_series(reader, tmp_path / "o.h5", "flimage", **OPTIONS)
        assert reader.decoded == 2 + 3 * (FRAMES - 2)
    # the memory budget of the machine bounds the whole-series cache too
    monkeypatch.setattr(measure, "WHOLE_SERIES_BYTES", 1 << 40)
    monkeypatch.setattr(measure.validate, "memory_budget", lambda: FRAMES * frame_bytes - 1)
    with FrameReader(series) as reader:
        assert reader.cache_bytes == 2 * frame_bytes


def test_stored_backgrounds_are_subtracted_in_every_pass_once_looked_up(tmp_path):
    # frames without a stored background are remembered after the first pass (no
    # group checks again); frames with one get it subtracted in every pass
    path = tmp_path / "bg.h5"
    images = camera_stack()[:4].astype(np.float32)
    with h5py.File(path, "w") as handle, FrameWriter(handle) as writer:
        for index, image in enumerate(images):
            writer.submit(image, {"time": index * INTERVAL})
    with h5py.File(path, "a") as handle:
        handle["fli_2/fluorescence/bg_data"].create_dataset(
            "level", data=np.full(SHAPE, 30.0, np.float32))
    with FrameReader(path, cache_bytes=1 << 30) as reader:
        looked_up = []
        original = reader.stored_backgrounds

        def counted(index):
            looked_up.append(index)
            return original(index)

        reader.stored_backgrounds = counted
        for _ in range(3):
            passes = dict(reader.iter_fl())
            for index, image in enumerate(images):
                expected = image.astype(float) - (30.0 if index == 2 else 0.0)
                np.testing.assert_array_equal(passes[index], expected)
        assert sorted(looked_up) == [0, 1, 2, 2, 2, 3]


# ------------------------------------------------------------------ TIFF → TIFF
@pytest.mark.parametrize("method", ["exp", "ratio", "histogram", "flimage"])
def test_tiff_to_tiff_equals_the_route_through_hdf5(stack, tmp_path, method):
    with import_stack(stack) as imported:
        correct_series(imported, tmp_path / "via.h5", method, **OPTIONS)
    result = correct_stack(stack, tmp_path / "direct.tif", method=method, **OPTIONS)
    direct = tifffile.imread(tmp_path / "direct.tif")
    assert direct.dtype == np.float32 and result.clipped is None
    for index, image in enumerate(frames(tmp_path / "via.h5")):
        assert np.array_equal(direct[index], image)
    with tifffile.TiffFile(tmp_path / "direct.tif") as tif:
        labels = tif.imagej_metadata["Labels"]
    assert labels[3] == f"t={3 * INTERVAL!r} s"  # times travel as in export_tiff


def test_tiff_and_hdf5_outputs_are_written_in_one_pass(stack, tmp_path):
    passes = []

    class Progress:
        def start_pass(self, name):
            passes.append(name)

        def __call__(self, done, total):
            pass

    correct_stack(stack, tmp_path / "o.tif", h5=tmp_path / "o.h5", method="exp",
                  progress=Progress(), **OPTIONS)
    assert passes == ["measuring", "writing"]
    direct = tifffile.imread(tmp_path / "o.tif")
    for index, image in enumerate(frames(tmp_path / "o.h5")):
        assert np.array_equal(direct[index], image)


def test_an_hdf5_series_streams_to_a_tiff_too(series, tmp_path):
    correct_series(series, tmp_path / "ref.h5", "exp", **OPTIONS)
    correct_stack(series, tmp_path / "o.tif", method="exp", **OPTIONS)
    direct = tifffile.imread(tmp_path / "o.tif")
    for index, image in enumerate(frames(tmp_path / "ref.h5")):
        assert np.array_equal(direct[index], image)


def test_integer_export_rounds_clips_and_counts(stack, tmp_path):
    # a constant background above the darkest pixels: corrected values go negative
    options = {"background": "constant", "background_value": 110.0}
    result = correct_stack(stack, tmp_path / "float.tif", method="ratio", **options)
    exact = tifffile.imread(tmp_path / "float.tif").astype(float)
    result = correct_stack(stack, tmp_path / "int.tif", method="ratio", tif_type="input",
                           **options)
    stored = tifffile.imread(tmp_path / "int.tif")
    assert stored.dtype == np.uint16
    rounded = np.floor(exact + 0.5)
    expected_clipped = int(np.count_nonzero((rounded < 0) | (rounded > 65535)))
    assert expected_clipped > 0 and result.clipped == expected_clipped
    np.testing.assert_array_equal(stored, np.clip(rounded, 0, 65535).astype(np.uint16))


def test_integer_conversion_counts_both_ends_and_nan():
    sink = TiffSink.__new__(TiffSink)  # conversion only, no file
    sink.dtype, sink.clipped = np.dtype("uint8"), 0
    out = sink.converted(np.array([-3.0, 0.4, 2.5, 254.6, 300.0, np.nan]))
    assert out.tolist() == [0, 0, 3, 255, 255, 0] and sink.clipped == 3


def test_tiff_types():
    assert tiff_type("input", np.dtype("uint16")) == "uint16"
    assert tiff_type("input", np.dtype("float32")) == "float32"
    assert tiff_type("input", None) == "float32"
    with pytest.raises(ValueError):
        tiff_type("int64", None)


def test_a_cancelled_stream_leaves_no_file_and_no_thread(stack, tmp_path):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > FRAMES + 3  # during the writing pass

    with pytest.raises(Cancelled):
        correct_stack(stack, tmp_path / "o.tif", method="exp", cancel=cancel, **OPTIONS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.tif"]
    assert not any(thread.name == "tiff-sink" for thread in threading.enumerate())


def test_stack_reader_reads_lazily_in_the_imported_type(stack):
    with StackReader(stack, cache_bytes=0) as reader:
        assert len(reader) == FRAMES and reader.shape == SHAPE
        assert reader.dtype == np.float32
        assert reader.decoded == 0  # opening reads no pixels
        np.testing.assert_array_equal(reader.fl(5), camera_stack()[5].astype(float))
        assert reader.decoded == 1
        np.testing.assert_allclose(reader.times(), np.arange(FRAMES) * INTERVAL)


# ------------------------------------------------------------------ CLI
def bleach(*args) -> int:
    try:
        return cli.main(["bleach", *map(str, args)])
    except SystemExit as exit_:
        return int(exit_.code)


def test_cli_tiff_to_tiff_needs_no_hdf5(stack, tmp_path, capsys):
    out = tmp_path / "corrected.tif"
    assert bleach(stack, "--tif", out, "--method", "exp", "--border-px", "4", "-q") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrected.tif", "stack.tif"]
    with import_stack(stack) as imported:
        correct_series(imported, tmp_path / "via.h5", "exp", **OPTIONS)
    direct = tifffile.imread(out)
    for index, image in enumerate(frames(tmp_path / "via.h5")):
        assert np.array_equal(direct[index], image)


def test_cli_integer_tiff_reports_clipping(stack, tmp_path, capsys):
    out = tmp_path / "c.tif"
    assert bleach(stack, "--tif", out, "--tif-type", "input", "--method", "ratio",
                  "--background", "constant", "--background-value", "110") == 0
    assert tifffile.imread(out).dtype == np.uint16
    assert "pixels were clipped to the range" in capsys.readouterr().err


def test_cli_refuses_a_tiff_output_that_is_its_input(stack, tmp_path, capsys):
    assert bleach(stack, "--tif", stack, "--overwrite", "-q") == 1
    assert "is an input file" in capsys.readouterr().err
    assert bleach(stack, "-q") == 2  # no output at all
    assert bleach(stack, "-o", tmp_path / "o.h5", "--tif-type", "input", "-q") == 2


@pytest.mark.parametrize("layout", [{}, {"byteorder": ">"}, {"compression": "zlib"},
                                    {"imagej": False, "photometric": "minisblack"}])
def test_stack_reader_reads_mapped_and_page_by_page_alike(tmp_path, layout):
    path = tmp_path / "s.tif"
    data = camera_stack(2)
    options = {"imagej": True, "metadata": {"axes": "TYX"}} if layout.get("imagej", True) \
        else {}
    tifffile.imwrite(path, data, **options,
                     **{k: v for k, v in layout.items() if k != "imagej"})
    with StackReader(path, cache_bytes=0) as reader:
        assert len(reader) == FRAMES
        for index in (0, 7, FRAMES - 1):
            np.testing.assert_array_equal(reader.fl(index), data[index].astype(float))


def test_raw_frames_for_measuring_give_the_numbers_of_the_float64_frames(tmp_path):
    # flimage's passes measure the stored float32 frames where they are fl exactly
    # (no stored background): border means and positive sums equal to the last bit
    from flimage_app.model.bleach.measure import border_mask, positive_sum, region_mean

    path = tmp_path / "bg.h5"
    rng = np.random.default_rng(8)
    images = (camera_stack()[:5] + rng.normal(0, 0.7, (5, *SHAPE))).astype(np.float32)
    with h5py.File(path, "w") as handle, FrameWriter(handle) as writer:
        for index, image in enumerate(images):
            writer.submit(image, {"time": index * INTERVAL})
    with h5py.File(path, "a") as handle:
        handle["fli_3/fluorescence/bg_data"].create_dataset(
            "level", data=np.full(SHAPE, 12.5, np.float32))
    border = border_mask(SHAPE, 4)
    with FrameReader(path) as reader:
        expected = dict(reader.iter_fl())
        for _ in range(2):  # from the file, then from the cache
            for index, raw, image in reader.iter_raw():
                assert raw.dtype == np.float32
                np.testing.assert_array_equal(raw, images[index])
                if index == 3:
                    np.testing.assert_array_equal(image, expected[3])
                    continue
                assert image is None
                assert region_mean(raw, border) == region_mean(expected[index], border)
                assert positive_sum(raw, 101.7, None) == positive_sum(expected[index], 101.7,
                                                                      None)
        result = correct_series(reader, None, "flimage", border_px=4, strict=False)
    level = np.mean([region_mean(expected[index], border) for index in range(5)])
    np.testing.assert_array_equal(
        result.intensity, [positive_sum(expected[index], level, None) for index in range(5)])
