"""PlaneStack: the checked description every multi-dimensional reader returns."""

import numpy as np
import pytest

from flimage_app.model.errors import FileFormatError
from flimage_app.model.planes import PlaneStack


def make_stack(**changes):
    data = np.arange(2 * 3 * 4 * 5 * 6, dtype=np.uint16).reshape(2, 3, 4, 5, 6)
    options = dict(path="cells.czi", kind="CZI", dtype=np.uint16,
                   sizes={"T": 2, "C": 3, "Z": 4, "Y": 5, "X": 6},
                   read_plane=lambda t, c, z: data[t, c, z])
    options.update(changes)
    return PlaneStack(**options), data


def test_read_checks_indices_and_returns_the_plane():
    stack, data = make_stack()
    assert np.array_equal(stack.read(1, 2, 3), data[1, 2, 3])
    assert stack.n_planes == 24 and stack.plane_shape == (5, 6)
    assert stack.channel_names == ["Channel 1", "Channel 2", "Channel 3"]
    with pytest.raises(IndexError, match="Z index 4"):
        stack.read(0, 0, 4)


def test_a_reader_returning_another_shape_or_type_is_refused_in_one_line():
    stack, _ = make_stack(read_plane=lambda t, c, z: np.zeros((5, 7), np.uint16))
    with pytest.raises(FileFormatError, match=r"cells.czi: plane t=0, c=0, z=0 has shape"):
        stack.read(0)
    stack, _ = make_stack(read_plane=lambda t, c, z: np.zeros((5, 6), np.float64))
    with pytest.raises(FileFormatError, match="type float64"):
        stack.read(0)


def test_a_failing_reader_becomes_one_line():
    def broken(t, c, z):
        raise RuntimeError("libCZI: subblock 7 is truncated\nmore text")

    stack, _ = make_stack(read_plane=broken)
    with pytest.raises(FileFormatError) as info:
        stack.read(0)
    assert "\n" not in str(info.value) and "subblock 7 is truncated" in str(info.value)


def test_declared_sizes_and_metadata_are_checked():
    with pytest.raises(FileFormatError, match="empty axis"):
        make_stack(sizes={"T": 0, "C": 1, "Z": 1, "Y": 5, "X": 6})
    with pytest.raises(FileFormatError, match="memory"):
        make_stack(sizes={"T": 1, "C": 1, "Z": 1, "Y": 2**20, "X": 2**20})
    with pytest.raises(FileFormatError, match="3 channels, but 1 channel names"):
        make_stack(channel_names=["GFP"])
    with pytest.raises(FileFormatError, match="one finite time per time point"):
        make_stack(times=[0.0, np.nan])


def test_release_closes_once():
    closed = []
    stack, _ = make_stack(close=lambda: closed.append(1))
    with stack:
        pass
    stack.release()
    assert closed == [1]
