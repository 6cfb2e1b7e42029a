"""FLImage within the app: API of flimage's user guide, metadata rules, files."""

import h5py
import numpy as np
import pytest

from flimage_app.model import FLImage, MetaDataMissingError
from flimage_app.model.errors import FileFormatError


def test_user_api_snippets_run_as_written(tmp_path):
    fluorescence_ndarray = np.arange(200, dtype=float).reshape(10, 20)
    path = str(tmp_path / "file.h5")
    with FLImage(data=fluorescence_ndarray, h5file=path):
        pass
    fli = FLImage(h5file=path, h5mode="r")
    assert np.array_equal(fli.fl, fluorescence_ndarray)
    fli.close()
    with FLImage(h5file=path, h5mode="a") as fli:
        fli.set_bg_data(np.ones((10, 20)))
    with FLImage(h5file=path, h5mode="r") as fli:
        assert np.allclose(fli.fluorescence, fluorescence_ndarray - 1)


def test_metadata_rules():
    fli = FLImage(data=np.zeros((4, 5)), meta_data={"time": 1.5})
    assert fli["time"] == 1.5
    fli["pixel size"] = 1e-7
    assert fli.meta["pixel size"] == 1e-7
    with pytest.raises(KeyError, match="valid keys are: pixel size, time"):
        fli["wavelength"] = 5
    with pytest.raises(MetaDataMissingError, match="'focus'.*fli\\['focus'\\] = value"):
        fli["focus"]
    with pytest.raises(KeyError, match="Unknown metadata key"):
        FLImage(data=np.zeros((2, 2)), meta_data={"colour": "green"})
    with pytest.raises(ValueError, match="must be a number"):
        fli["time"] = "yesterday"


def test_data_validation():
    with pytest.raises(ValueError, match="did you mean `h5file="):
        FLImage(data="image.h5")
    with pytest.raises(ValueError, match="2-D"):
        FLImage(data=np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="complex"):
        FLImage(data=np.zeros((2, 3), dtype=complex))


def test_background_combination_and_slicing():
    raw = np.arange(30, dtype=float).reshape(5, 6)
    fli = FLImage(data=raw, meta_data={"time": 2.0, "identifier": "x"})
    fli.set_bg_data(np.full((5, 6), 2.0))
    fli.estimate_bg(fit_profile="offset", fit_offset="mean", border_px=1)
    assert sorted(fli.bg_keys) == ["data", "fit"]
    assert np.allclose(fli.bg_fl, fli.get_bg("data") + fli.get_bg("fit"))
    assert np.allclose(fli.fl, raw - fli.bg_fl)
    part = fli[1:4, 2:5]
    assert part.shape == (3, 3)
    assert np.allclose(part.fl, fli.fl[1:4, 2:5])
    assert part["time"] == 2.0
    data, attrs = fli.get_bg("fit", ret_attrs=True)
    assert attrs == {"fit_offset": "mean", "fit_profile": "offset", "border_px": 1}
    fli.del_bg("fit")
    assert fli.bg_keys == ["data"]
    with pytest.warns(UserWarning, match="No 'fit' background"):
        fli.del_bg("fit")
    fli.set_bg_data(None)
    assert fli.bg_keys == []
    with pytest.raises(ValueError, match="does not match"):
        fli.set_bg_data(np.zeros((2, 2)))


def test_equality_copy_and_repr(tmp_path):
    fli = FLImage(data=np.eye(4), meta_data={"time": 1.0, "identifier": "cell 1"})
    assert repr(fli) == "FLImage <cell 1>, 4x4px"
    copied = fli.copy()
    assert copied == fli
    copied.set_bg_data(np.ones((4, 4)))
    assert copied != fli
    on_disk = fli.copy(h5file=tmp_path / "copy.h5")
    assert on_disk == fli
    on_disk.close()
    with pytest.raises(FileExistsError):
        fli.copy(h5file=tmp_path / "copy.h5")


def test_read_only_never_writes(reference_file):
    path = reference_file("basic.h5")
    before = path.read_bytes()
    with FLImage(h5file=path, h5mode="r") as fli:
        assert fli.shape == (10, 20)
        _ = fli.fl, fli.meta, fli.info, repr(fli)
        with pytest.raises(ValueError, match="read-only"):
            fli["time"] = 3
        with pytest.raises(ValueError, match="read-only"):
            fli.estimate_bg()
    assert path.read_bytes() == before


def test_read_only_without_version_attributes(tmp_path):
    # flimage 0.3.3 cannot open such a file read-only; the app must
    path = tmp_path / "bare.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("fluorescence/raw", data=np.ones((3, 3), dtype="f4"))
        h5.create_group("fluorescence/bg_data")
    path.chmod(0o444)
    with FLImage(h5file=path, h5mode="r") as fli:
        assert np.array_equal(fli.fl, np.ones((3, 3)))
        assert "flimage version" not in fli


def test_not_an_flimage(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5["x"] = 1
    with pytest.raises(FileFormatError, match="no fluorescence/raw"):
        FLImage(h5file=path, h5mode="r")
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(FileFormatError, match="damaged HDF5 file") as caught:
        FLImage(h5file=text, h5mode="r")
    assert isinstance(caught.value, OSError)  # as h5py's error, which flimage raises


def test_file_format_matches_flimage(tmp_path):
    path = tmp_path / "fmt.h5"
    with FLImage(data=np.ones((8, 9)), meta_data={"pixel size": 1e-7}, h5file=path) as fli:
        fli.estimate_bg(fit_profile="tilt", fit_offset="mean", border_px=2)
    with h5py.File(path, "r") as h5:
        raw = h5["fluorescence/raw"]
        assert raw.dtype == np.float32
        assert raw.compression == "gzip" and raw.fletcher32 and raw.chunks == (8, 9)
        assert raw.attrs["CLASS"] == b"IMAGE"
        assert raw.attrs["IMAGE_SUBCLASS"] == b"IMAGE_GRAYSCALE"
        assert set(h5.attrs) == {"pixel size", "flimage version", "qpimage version"}
        assert set(h5["fluorescence/bg_data"]) == {"fit"}
        assert "estimate_bg_from_mask" not in h5["fluorescence"]


def test_atomic_output_gives_normal_permissions_and_no_partial_file(tmp_path):
    import os

    from flimage_app.model.h5io import atomic_output

    target = tmp_path / "out.h5"
    old = os.umask(0o022)
    try:
        with atomic_output(target) as temporary:
            temporary.write_bytes(b"complete")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"complete"
    assert target.stat().st_mode & 0o777 == 0o644
    with pytest.raises(FileExistsError):
        with atomic_output(target):
            pass
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output(tmp_path / "failed.h5") as temporary:
            temporary.write_bytes(b"half")
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]
