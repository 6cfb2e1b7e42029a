"""The app behaves as the real flimage 0.3.3 does where the README lists no difference.

Every case runs the same call on flimage and on the app and checks that the
app's outcome is flimage's: the same value, or an exception that code written
for flimage catches (an instance of the type flimage raises).
"""

import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest

from flimage_app.model import FLImage, FLSeries
from flimage_app.model.errors import FileFormatError, FileOpenError, FLImageAppError

flimage = pytest.importorskip("flimage")


@pytest.fixture(autouse=True)
def _quiet_flimage():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # flimage's own deprecation warnings
        yield


def outcome(call):
    """("value", result) or ("error", exception) of `call()`."""
    try:
        return "value", call()
    except Exception as exc:  # noqa: BLE001 - any exception is an outcome to compare
        return "error", exc


def assert_same_outcome(app_call, flimage_call, compare=lambda a, b: a == b):
    (app_kind, app), (ref_kind, ref) = outcome(app_call), outcome(flimage_call)
    assert app_kind == ref_kind, f"app: {app!r}, flimage: {ref!r}"
    if ref_kind == "error":
        assert isinstance(app, type(ref)), f"app raises {app!r}, flimage {ref!r}"
    else:
        assert compare(app, ref)


def two_frame_series(library):
    series = library.FLSeries()
    for index in range(2):
        series.add_flimage(library.FLImage(data=np.full((4, 5), float(index)),
                                           meta_data={"time": float(index)}))
    return series


# ------------------------------------------------------------------ indexing
@pytest.mark.parametrize("index", [0, 1, 2, 5, -1, -2, -3, -9, np.int64(1), 1.0, True])
def test_frame_index_outcomes_are_flimages(index):
    app, ref = two_frame_series(sys.modules["flimage_app.model"]), two_frame_series(flimage)
    assert_same_outcome(lambda: app[index], lambda: ref[index],
                        compare=lambda a, b: np.array_equal(a.raw_fl, b.raw_fl))
    assert_same_outcome(lambda: app.get_flimage(index), lambda: ref.get_flimage(index),
                        compare=lambda a, b: np.array_equal(a.raw_fl, b.raw_fl))


def test_frame_index_errors_are_flimages_and_sequence_like():
    series = two_frame_series(sys.modules["flimage_app.model"])
    with pytest.raises(KeyError, match="out of range") as beyond:
        series[2]
    with pytest.raises(ValueError, match="out of range") as before:
        series[-3]
    # also what a Python sequence raises, as the app did before
    assert isinstance(beyond.value, IndexError) and isinstance(before.value, IndexError)
    with pytest.raises(KeyError, match="identifier 'nope'"):
        series["nope"]


# ------------------------------------------------------------------ read-only
@pytest.fixture
def image_files(tmp_path):
    """The same FLImage written by each library, with and without a "data" background."""
    paths = {}
    for name, library in (("app", sys.modules["flimage_app.model"]), ("flimage", flimage)):
        for background in (False, True):
            path = tmp_path / f"{name}_{background}.h5"
            with library.FLImage(data=np.arange(20.0).reshape(4, 5), meta_data={"time": 1.0},
                                 h5file=path, h5mode="w") as fli:
                if background:
                    fli.set_bg_data(np.ones((4, 5)))
            paths[name, background] = path
    return paths


READ_ONLY_WRITES = {
    "set existing metadata": lambda fli: fli.__setitem__("time", 2.0),
    "set new metadata": lambda fli: fli.__setitem__("identifier", "x"),
    "set unknown key": lambda fli: fli.__setitem__("no such key", 1),
    "set_bg_data(None)": lambda fli: fli.set_bg_data(None),
    "set_bg_data(array)": lambda fli: fli.set_bg_data(np.zeros((4, 5))),
}


@pytest.mark.parametrize("background", [False, True], ids=["no bg", "with bg"])
@pytest.mark.parametrize("write", list(READ_ONLY_WRITES))
def test_writes_to_a_read_only_image_fail_as_in_flimage(image_files, write, background):
    app_path, ref_path = image_files["app", background], image_files["flimage", background]
    before = app_path.read_bytes()
    with FLImage(h5file=app_path, h5mode="r") as app, \
            flimage.FLImage(h5file=ref_path, h5mode="r") as ref:
        assert_same_outcome(lambda: READ_ONLY_WRITES[write](app),
                            lambda: READ_ONLY_WRITES[write](ref))
        app_kind, error = outcome(lambda: READ_ONLY_WRITES[write](app))
        if app_kind == "error" and write != "set unknown key":
            # one line that names the file, and every type h5py raises for such a write
            assert isinstance(error, (FLImageAppError, KeyError, OSError, ValueError))
            assert str(app_path) in str(error) and "read-only" in str(error)
            assert "\n" not in str(error)
    assert app_path.read_bytes() == before


def test_set_bg_data_none_on_a_read_only_image_without_background_is_a_no_op(image_files):
    with FLImage(h5file=image_files["app", False], h5mode="r") as fli:
        assert fli.set_bg_data(None) is None
        assert fli.bg_keys == []


def test_writing_at_open_to_a_read_only_file_fails_as_in_flimage(image_files):
    path = image_files["app", False]
    for kwargs in ({"data": np.ones((2, 2))}, {"meta_data": {"time": 3.0}}):
        assert_same_outcome(lambda: FLImage(h5file=path, h5mode="r", **kwargs),  # noqa: B023
                            lambda: flimage.FLImage(h5file=path, h5mode="r", **kwargs))  # noqa: B023


def test_adding_a_frame_to_a_read_only_series_fails_as_in_flimage(tmp_path):
    path = tmp_path / "series.h5"
    with FLSeries(h5file=path, h5mode="w") as fls:
        fls.add_flimage(FLImage(data=np.ones((3, 3))))
    before = path.read_bytes()
    with FLSeries(h5file=path, h5mode="r") as app, \
            flimage.FLSeries(h5file=path, h5mode="r") as ref:
        assert_same_outcome(lambda: app.add_flimage(FLImage(data=np.ones((3, 3)))),
                            lambda: ref.add_flimage(flimage.FLImage(data=np.ones((3, 3)))))
        assert_same_outcome(lambda: app[0].__setitem__("time", 1.0),
                            lambda: ref[0].__setitem__("time", 1.0))
        with pytest.raises(OSError, match="read-only"):
            app.app_group(create=True)
    assert path.read_bytes() == before


# ------------------------------------------------------------------ opening
@pytest.mark.parametrize("content", [b"hello, not HDF5", b"\x89HDF\r\n\x1a\n" + b"\0" * 40],
                         ids=["text", "truncated HDF5 signature"])
def test_a_file_hdf5_cannot_open_is_an_oserror_as_in_flimage(tmp_path, content):
    path = tmp_path / "bad.h5"
    path.write_bytes(content)
    for library_class in (FLImage, FLSeries):
        assert_same_outcome(lambda: library_class(h5file=path, h5mode="r"),  # noqa: B023
                            lambda: getattr(flimage, library_class.__name__)(  # noqa: B023
                                h5file=path, h5mode="r"))
        with pytest.raises(FileOpenError) as caught:
            library_class(h5file=path, h5mode="r")
        assert isinstance(caught.value, (OSError, FileFormatError))
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_valid_file_locked_by_another_process_is_an_oserror_not_a_bad_file(tmp_path):
    path = tmp_path / "busy.h5"
    with FLImage(data=np.ones((3, 3)), h5file=path, h5mode="w"):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c", "import h5py, sys, time\n"
         f"handle = h5py.File({str(path)!r}, 'a')\nprint('open', flush=True)\n"
         "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        try:
            h5py.File(path, "r").close()
        except OSError:
            pass
        else:
            pytest.skip("this HDF5 build does not lock files")
        with pytest.raises(OSError) as flimage_error:
            flimage.FLImage(h5file=path, h5mode="r")
        with pytest.raises(FileOpenError) as caught:
            FLImage(h5file=path, h5mode="r")
        # flimage's BlockingIOError is an OSError with errno EAGAIN: so is the app's
        assert isinstance(caught.value, OSError)
        assert caught.value.errno == flimage_error.value.errno is not None
        assert "cannot be opened as HDF5" not in str(caught.value)
        assert str(path) in str(caught.value)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


# ------------------------------------------------------------------ in-memory files
def test_in_memory_objects_of_both_libraries_live_side_by_side():
    images = []
    for _ in range(3):  # interleaved: any shared naming scheme would collide
        images.append(flimage.FLImage(data=np.full((3, 3), 1.0)))
        images.append(FLImage(data=np.full((3, 3), 2.0)))
        images.append(flimage.FLSeries())
        images.append(FLSeries())
    names = [image.h5.file.filename for image in images]
    assert len(set(names)) == len(names)
    app_names = [image.h5.file.filename for image in images
                 if isinstance(image, (FLImage, FLSeries))]
    assert all(name.startswith("flimage_app-") for name in app_names)
    copies = [images[1].copy() for _ in range(3)]
    assert len({copy.h5.file.filename for copy in copies} | set(names)) == len(names) + 3
    assert all(np.array_equal(copy.raw_fl, np.full((3, 3), 2.0)) for copy in copies)


def test_copy_onto_an_existing_file_is_one_line_naming_it(tmp_path):
    existing = tmp_path / "taken.h5"
    existing.write_bytes(b"keep")
    image = FLImage(data=np.ones((4, 4)))
    with pytest.raises(FileExistsError) as caught:
        image.copy(h5file=existing)
    assert caught.value.filename == str(existing)
    # Python's own "[Errno 17] …: 'path'" form, not h5py's internals (flags, o_flags …)
    assert "synchronously" not in str(caught.value) and "o_flags" not in str(caught.value)
    assert "choose another name" in caught.value.strerror
    assert existing.read_bytes() == b"keep"
