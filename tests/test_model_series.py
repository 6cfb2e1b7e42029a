"""FLSeries: lazy access, identifiers, read-only files, and the loader."""

import h5py
import numpy as np
import pytest

from flimage_app.model import FileFormatError, FLImage, FLSeries
from flimage_app.model.loader import describe, file_kind, open_series

from .synthetic import make_frames


def write_series(path, count=5, identifiers=True):
    with FLSeries(h5file=path, h5mode="w") as fls:
        for ii, frame in enumerate(make_frames(count)):
            fli = FLImage(data=frame, meta_data={"time": 1.5 * ii, "pixel size": 3e-7})
            fls.add_flimage(fli, identifier=f"img{ii}" if identifiers else None)
    return path


def test_user_api_series_snippet(tmp_path):
    paths = []
    for ii in range(3):
        path = tmp_path / f"file_{ii}.h5"
        with FLImage(data=make_frames(1, seed=ii)[0], h5file=path):
            pass
        paths.append(path)
    series_file = tmp_path / "series_file.h5"
    with FLSeries(h5file=series_file, h5mode="w") as fls:
        for ii, pp in enumerate(paths):
            fli = FLImage(h5file=pp, h5mode="r")
            fls.add_flimage(fli=fli, identifier=f"my_name_{ii}")
            fli.close()
    with FLSeries(h5file=series_file, h5mode="r") as fls:
        assert fls[0] == fls["my_name_0"]
        assert fls[-1] == fls["my_name_2"]
        assert "my_name_1" in fls and "nope" not in fls


def test_indexing_and_iteration(tmp_path):
    path = write_series(tmp_path / "s.h5")
    with FLSeries(h5file=path, h5mode="r") as fls:
        assert len(fls) == 5
        assert [fli["identifier"] for fli in fls] == [f"img{ii}" for ii in range(5)]
        assert fls.get_flimage(-2)["identifier"] == "img3"
        np.testing.assert_allclose(fls.times(), [0, 1.5, 3, 4.5, 6])
        assert fls.frame_shape == (32, 40)
        assert fls.filename == str(path)
        with pytest.raises(IndexError, match="out of range"):
            fls[5]
        with pytest.raises(KeyError, match="No frame with identifier 'x'"):
            fls["x"]


def test_duplicate_identifier_rejected():
    fls = FLSeries()
    fli = FLImage(data=np.ones((3, 3)), meta_data={"identifier": "a"})
    fls.add_flimage(fli)
    with pytest.raises(ValueError, match="'a' already exists"):
        fls.add_flimage(fli)
    fls.add_flimage(fli, identifier="b")
    assert fls.identifiers() == ["a", "b"]


def test_flimage_file_is_not_a_series(tmp_path):
    path = tmp_path / "image.h5"
    with FLImage(data=np.ones((3, 3)), h5file=path):
        pass
    with pytest.raises(ValueError, match="FLImage file, not an FLSeries"):
        FLSeries(h5file=path, h5mode="r")


def test_meta_data_overrides_frames(tmp_path):
    path = write_series(tmp_path / "s.h5", count=3)
    with FLSeries(h5file=path, h5mode="a", meta_data={"pixel size": 5e-7}) as fls:
        assert all(fli["pixel size"] == 5e-7 for fli in fls)
    with pytest.raises(ValueError, match="must not be 'r'"):
        FLSeries(h5file=path, h5mode="r", meta_data={"time": 1})


def test_opening_reads_no_pixels(tmp_path, monkeypatch):
    path = write_series(tmp_path / "s.h5", count=20)
    from flimage_app.model import validate

    reads = []
    original = h5py.Dataset.__getitem__
    original_direct = validate._decoded_directly

    def counting(self, key):
        reads.append(self.name)
        return original(self, key)

    def counting_direct(dset, where):
        reads.append(dset.name)
        return original_direct(dset, where)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting)
    # the reading boundary inflates one-chunk images itself (read_direct_chunk), not through h5py
    monkeypatch.setattr(validate, "_decoded_directly", counting_direct)
    with FLSeries(h5file=path, h5mode="r") as fls:
        assert "img17" in fls and fls["img9"]["time"] == 13.5
        fls.times()
        assert reads == []
        fls[7].fl
        assert reads and all(name.startswith("/fli_7/") for name in reads)


def test_read_only_series_is_untouched(tmp_path):
    path = write_series(tmp_path / "s.h5", count=3)
    before = path.read_bytes()
    path.chmod(0o444)
    with FLSeries(h5file=path, h5mode="r") as fls:
        for fli in fls:
            fli.fl, fli.meta, fli.info
        assert fls.app_group() is None
        with pytest.raises(ValueError, match="read-only"):
            fls.app_group(create=True)
    assert path.read_bytes() == before


def test_loader_opens_every_kind(tmp_path, reference_file):
    series_path = write_series(tmp_path / "s.h5", count=3)
    assert file_kind(series_path) == "FLSeries"
    with open_series(series_path) as fls:
        assert len(fls) == 3
    image_path = reference_file("retina_p10.h5")
    assert file_kind(image_path) == "FLImage"
    with open_series(image_path) as fls:
        assert len(fls) == 1 and fls[0]["identifier"] == "cda88:49"
    summary = describe(series_path)
    assert summary["kind"] == "FLSeries" and summary["frames"] == 3
    assert summary["time_range"] == (0.0, 3.0)
    assert summary["pixel_size"] == 3e-7
    assert summary["frame_identifiers"] == ["img0", "img1", "img2"]


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"just some text", "not an HDF5"),
])
def test_loader_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.h5"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=message):
        open_series(path)


def test_loader_foreign_and_missing(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        open_series(tmp_path / "missing.h5")
    with pytest.raises(FileFormatError, match="is a folder"):
        open_series(tmp_path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["temperature"] = np.arange(3)
    with pytest.raises(FileFormatError, match="without FLImage or FLSeries data.*temperature"):
        open_series(other)
    truncated = tmp_path / "truncated.h5"
    write_series(truncated, count=3)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(FileFormatError):
        with open_series(truncated) as fls:
            for fli in fls:
                fli.fl


def test_an_incomplete_file_is_named_as_such_in_plain_words(tmp_path):
    path = tmp_path / "cut.h5"
    write_series(path, count=3)
    data = path.read_bytes()
    path.write_bytes(data[:5000])
    with pytest.raises(FileFormatError) as caught:
        open_series(path)
    message = str(caught.value)
    assert f"the file is incomplete: it has 5,000 of its {len(data):,} bytes" in message
    assert "\n" not in message and "synchronously" not in message


def test_large_stacks_are_imported_into_a_temporary_file(tmp_path, monkeypatch):
    import tifffile

    from flimage_app.model import loader

    stack = np.arange(6 * 8 * 10, dtype=np.uint16).reshape(6, 8, 10)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, imagej=True, metadata={"axes": "TYX", "finterval": 0.5})
    monkeypatch.setattr(loader, "IN_MEMORY_LIMIT_BYTES", 100)
    with open_series(path) as fls:
        assert fls.filename is not None  # on disk, not in memory
        assert len(fls) == 6
        np.testing.assert_array_equal(fls[5].raw_fl, stack[5])
        np.testing.assert_allclose(fls.times(), 0.5 * np.arange(6))
    monkeypatch.setattr(loader, "IN_MEMORY_LIMIT_BYTES", 10**9)
    with open_series(path) as fls:
        assert fls.filename is None
