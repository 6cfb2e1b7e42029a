"""model.vendor's entry points: which paths are vendor files, and the checks before any reader."""

import os

import pytest

from flimage_app.model import vendor
from flimage_app.model.errors import FileFormatError


def test_suffixes_and_kinds():
    assert vendor.VENDOR_SUFFIXES == (".czi", ".nd2", ".lif", ".zarr")
    assert vendor.vendor_kind("a/b/cells.CZI") == "CZI"
    assert vendor.vendor_kind("cells.nd2") == "ND2"
    assert vendor.vendor_kind("cells.lif") == "LIF"
    assert vendor.vendor_kind("cells.ome.zarr") == "OME-Zarr"
    for name in vendor.ZARR_METADATA_FILES:
        assert vendor.vendor_kind(f"cells.zarr/{name}") == "OME-Zarr"
        assert vendor.zarr_root(f"x/cells.zarr/{name}").as_posix() == "x/cells.zarr"
    for other in ("cells.tif", "cells.h5", "cells.npy", "czi", "notes.json"):
        assert vendor.vendor_kind(other) is None and not vendor.is_vendor_path(other)


def test_a_non_vendor_path_is_refused_in_one_line(tmp_path):
    with pytest.raises(FileFormatError, match="cells.tif: not a CZI, ND2, LIF or OME-Zarr file"):
        vendor.open_vendor(tmp_path / "cells.tif")


@pytest.mark.parametrize("call", [vendor.open_vendor, vendor.scene_names])
def test_missing_empty_folder_and_unreadable_files_are_refused_before_a_reader(tmp_path, call):
    with pytest.raises(FileFormatError, match="no such file"):
        call(tmp_path / "absent.czi")
    (tmp_path / "empty.nd2").write_bytes(b"")
    with pytest.raises(FileFormatError, match="the file is empty"):
        call(tmp_path / "empty.nd2")
    (tmp_path / "folder.lif").mkdir()
    with pytest.raises(FileFormatError, match="is a folder, not a file"):
        call(tmp_path / "folder.lif")
    if os.geteuid() != 0:  # root reads everything
        locked = tmp_path / "locked.czi"
        locked.write_bytes(b"ZISRAWFILE")
        locked.chmod(0)
        with pytest.raises(FileFormatError, match="permission denied"):
            call(locked)


@pytest.mark.parametrize("scene", [-1, True, "1", 1.0])
def test_a_scene_must_be_a_whole_number_in_range(tmp_path, scene):
    pytest.importorskip("pylibCZIrw")
    import numpy as np
    from pylibCZIrw import czi

    path = tmp_path / "one.czi"
    with czi.create_czi(str(path)) as writer:
        writer.write(np.zeros((4, 4), np.uint16), plane={"T": 0, "C": 0, "Z": 0})
        writer.write_metadata()
    with pytest.raises(FileFormatError, match="one.czi: (there is no scene -1|scene must be a "
                                              "whole number)"):
        vendor.open_vendor(path, scene=scene)
