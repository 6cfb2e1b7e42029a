"""The browser's frame cache: frames decoded on reader threads, outside the file lock.

Frames must equal what h5py reads, whatever the storage; a damaged chunk is a
one-line refusal; requests overtaken by newer ones are never read; the cache
stays within its budget in bytes.  No timing: speed is
``benchmarks/bench_scrub.py``'s business.
"""

from __future__ import annotations

import threading
import zlib

import h5py
import numpy as np
import pytest

from flimage_app.gui.browser import frame_cache
from flimage_app.gui.browser.frame_cache import H5_LOCK, FrameCache, stage_frame
from flimage_app.model import FLSeries
from flimage_app.model.chunks import fletcher32
from tests.gui_support import wait_for_frame, write_series

#: fixtures settings_file, errors, window
pytest_plugins = ["tests.gui_fixtures"]

SHAPE = (24, 40)

#: h5py storage options of the raw images, by name
STORAGES = {
    "deflate + fletcher32 (the app's)": {"chunks": SHAPE, "compression": "gzip",
                                         "compression_opts": 1, "fletcher32": True},
    "shuffle + deflate + fletcher32": {"chunks": SHAPE, "compression": "gzip",
                                       "shuffle": True, "fletcher32": True},
    "deflate only": {"chunks": SHAPE, "compression": "gzip", "compression_opts": 6},
    "shuffle + deflate": {"chunks": SHAPE, "compression": "gzip", "shuffle": True},
    "uncompressed, contiguous": {},
    "uncompressed, one chunk": {"chunks": SHAPE},
    "fletcher32 only": {"chunks": SHAPE, "fletcher32": True},
    "deflate in tiles": {"chunks": (8, 16), "compression": "gzip", "fletcher32": True},
    "deflate, rows of chunks": {"chunks": (1, SHAPE[1]), "compression": "gzip"},
}


def rewrite_frames(path, count, dtype, storage, background=None):
    """Store every frame's raw image (and `background`: "image" or "number") as given."""
    rng = np.random.default_rng(7)
    expected = []
    with h5py.File(path, "a") as handle:
        for index in range(count):
            fluorescence = handle[f"fli_{index}/fluorescence"]
            raw = (rng.normal(300, 40, SHAPE) * (1 + index)).astype(dtype)
            del fluorescence["raw"]
            fluorescence.create_dataset("raw", data=raw, **storage)
            stored = None
            if background is not None:
                bg_group = fluorescence.require_group("bg_data")
                for name in list(bg_group):
                    del bg_group[name]
                if background == "image":
                    stored = rng.normal(20, 3, SHAPE).astype(np.float32)
                    bg_group.create_dataset("data", data=stored, **storage)
                    fit = np.full(SHAPE, 1.5, dtype=np.float64)
                    bg_group.create_dataset("fit", data=fit, **storage)
                    stored = stored.astype(float) + fit
                else:
                    bg_group.create_dataset("data", data=np.float64(12.5))
                    stored = np.full(SHAPE, 12.5)
            expected.append((raw, stored))
    return expected


def read_all(qtbot, cache, count):
    frames = {}
    for index in range(count):
        frame = cache.request(index)
        if frame is None:
            qtbot.waitUntil(lambda i=index: cache.cached(i) is not None, timeout=5000)
            frame = cache.cached(index)
        frames[index] = frame
    return frames


@pytest.mark.parametrize("storage", list(STORAGES), ids=list(STORAGES))
@pytest.mark.parametrize("dtype", ["float32", "uint16", "int16", "float64"])
def test_frames_equal_h5py_reads(qtbot, tmp_path, storage, dtype):
    path = tmp_path / "series.h5"
    write_series(path, count=4, shape=SHAPE)
    expected = rewrite_frames(path, 4, dtype, STORAGES[storage])
    with FLSeries(h5file=path, h5mode="r") as series:
        cache = FrameCache(series, lookahead=2)
        try:
            frames = read_all(qtbot, cache, 4)
        finally:
            cache.close()
    for index, (raw, _) in enumerate(expected):
        frame = frames[index]
        assert frame.raw.dtype == raw.dtype
        np.testing.assert_array_equal(frame.raw, raw)
        assert frame.background is None and frame.corrected is frame.raw
        assert frame.meta["time"] == 2.0 * index


@pytest.mark.parametrize("storage", ["deflate + fletcher32 (the app's)",
                                     "shuffle + deflate", "uncompressed, contiguous"])
@pytest.mark.parametrize("background", ["image", "number"])
def test_frames_with_backgrounds_equal_flimage_arithmetic(qtbot, tmp_path, storage, background):
    path = tmp_path / "series.h5"
    write_series(path, count=3, shape=SHAPE)
    expected = rewrite_frames(path, 3, "float32", STORAGES[storage], background)
    with FLSeries(h5file=path, h5mode="r") as series:
        reference = [(series[i].bg_fl, series[i].fl) for i in range(3)]
        cache = FrameCache(series)
        try:
            frames = read_all(qtbot, cache, 3)
        finally:
            cache.close()
    for index, (raw, stored) in enumerate(expected):
        frame = frames[index]
        np.testing.assert_array_equal(frame.raw, raw)
        np.testing.assert_array_equal(frame.background, stored)
        np.testing.assert_array_equal(frame.background, reference[index][0])
        np.testing.assert_array_equal(frame.corrected, reference[index][1])
        assert set(frame.backgrounds) == ({"data", "fit"} if background == "image" else {"data"})


def test_app_frames_are_decoded_by_the_readers_outside_the_lock(qtbot, tmp_path, monkeypatch):
    """One-chunk frames are staged (chunk bytes) under H5_LOCK and inflated without it."""
    path = tmp_path / "series.h5"
    write_series(path, count=3, shape=SHAPE)
    inflating, release = threading.Event(), threading.Event()
    finish = frame_cache.StagedFrame.finish

    def slow_finish(staged):
        assert staged.frame is None, "an app frame must be decoded here, not read by HDF5"
        inflating.set()
        release.wait(5)
        return finish(staged)

    monkeypatch.setattr(frame_cache.StagedFrame, "finish", slow_finish)
    with FLSeries(h5file=path, h5mode="r") as series:
        cache = FrameCache(series, lookahead=0, readers=1)
        try:
            cache.request(1)
            assert inflating.wait(5)
            # the GUI thread can read the file while the frame is being decoded
            assert H5_LOCK.acquire(timeout=2)
            H5_LOCK.release()
            release.set()
            qtbot.waitUntil(lambda: cache.cached(1) is not None, timeout=5000)
            frame = cache.cached(1)
        finally:
            release.set()
            cache.close()
        np.testing.assert_array_equal(frame.raw, series[1].raw_fl)
    # the inflated buffer itself, shared, not a copy: nobody may change a cached frame
    assert not frame.raw.flags.writeable


def test_checksum_not_ours_lets_hdf5_decide(qtbot, tmp_path, monkeypatch):
    """A chunk whose checksum this reader does not accept is read by HDF5 (its verdict)."""
    path = tmp_path / "series.h5"
    write_series(path, count=2, shape=SHAPE)
    monkeypatch.setattr("flimage_app.model.chunks.fletcher32", lambda data: -1)
    with FLSeries(h5file=path, h5mode="r") as series:
        expected = h5py.File(path, "r")["fli_1/fluorescence/raw"][()]
        cache = FrameCache(series, lookahead=0)
        try:
            frames = read_all(qtbot, cache, 2)
        finally:
            cache.close()
    np.testing.assert_array_equal(frames[1].raw, expected)


def damage_chunk(path, index, kind):
    """Replace frame `index`'s stored chunk: garbage, a bomb, or one flipped byte."""
    with h5py.File(path, "a") as handle:
        dset = handle[f"fli_{index}/fluorescence/raw"]
        nbytes = dset.size * dset.dtype.itemsize
        _, chunk = dset.id.read_direct_chunk((0, 0))
        if kind == "flipped byte":  # the checksum no longer matches
            body = bytearray(chunk)
            body[len(body) // 2] ^= 0xFF
            damaged = bytes(body)
        else:
            body = (b"\x78\x01" + b"\xff" * 200 if kind == "garbage"
                    else zlib.compress(bytes(64 * nbytes), 1))  # inflates 64 times too far
            damaged = body + fletcher32(body).to_bytes(4, "little")
        dset.id.write_direct_chunk((0, 0), damaged)


@pytest.mark.parametrize(("kind", "reason"), [
    ("garbage", "damaged compressed chunk"),
    ("bomb", "beyond its declared"),
    ("flipped byte", "cannot be read"),
])
def test_damaged_chunk_is_a_one_line_refusal_in_the_window(qtbot, window, errors, tmp_path,
                                                           kind, reason):
    path = tmp_path / "damaged.h5"
    write_series(path, count=4, shape=SHAPE)
    damage_chunk(path, 2, kind)
    window.open_paths([path], remember=False)
    wait_for_frame(qtbot, window, 0)
    window.browser.set_index(2)
    qtbot.waitUntil(lambda: window.image_view.message.startswith("Frame 2 cannot be read"),
                    timeout=5000)
    message = window.image_view.message.split("\n", 1)[1]
    assert "\n" not in message and "Traceback" not in message
    assert reason in message and "damaged.h5" in message
    assert window.current_frame() is None
    # the reader survives: the next frame is shown
    window.browser.set_index(3)
    wait_for_frame(qtbot, window, 3)
    assert errors == []


def test_stale_requests_are_never_read(qtbot, tmp_path, monkeypatch):
    """While the readers are busy, requests overtaken by a newer one are dropped unread."""
    path = tmp_path / "series.h5"
    write_series(path, count=30, shape=SHAPE)
    read, release = [], threading.Event()

    def staged_slowly(series, index):
        read.append(index)
        release.wait(5)
        return stage_frame(series, index)

    monkeypatch.setattr(frame_cache, "stage_frame", staged_slowly)
    with FLSeries(h5file=path, h5mode="r") as series:
        cache = FrameCache(series, lookahead=3, readers=2)
        try:
            cache.request(0)
            qtbot.waitUntil(lambda: len(read) == 2, timeout=5000)  # both readers busy
            for index in (5, 10, 15):  # the user drags the slider on
                cache.request(index)
            cache.request(20)
            release.set()
            qtbot.waitUntil(lambda: all(cache.cached(i) is not None
                                        for i in (20, 21, 22, 23)), timeout=5000)
            qtbot.wait(50)
        finally:
            release.set()
            cache.close()
    assert sorted(read) == [0, 1, 20, 21, 22, 23]


def test_newest_request_comes_before_the_lookahead(qtbot, tmp_path, monkeypatch):
    path = tmp_path / "series.h5"
    write_series(path, count=30, shape=SHAPE)
    read, release = [], threading.Event()

    def staged_slowly(series, index):
        read.append(index)
        release.wait(5)
        return stage_frame(series, index)

    monkeypatch.setattr(frame_cache, "stage_frame", staged_slowly)
    with FLSeries(h5file=path, h5mode="r") as series:
        cache = FrameCache(series, lookahead=4, readers=1)
        try:
            cache.request(10, direction=-1)
            qtbot.waitUntil(lambda: read == [10], timeout=5000)
            cache.request(9, direction=-1)
            release.set()
            qtbot.waitUntil(lambda: cache.cached(5) is not None, timeout=5000)
        finally:
            release.set()
            cache.close()
    # backwards: the wanted frame first, then the look-ahead below it
    assert read == [10, 9, 8, 7, 6, 5]


def frame_bytes(qtbot, path):
    with FLSeries(h5file=path, h5mode="r") as series:
        cache = FrameCache(series, lookahead=0)
        try:
            return read_all(qtbot, cache, 1)[0].nbytes
        finally:
            cache.close()


@pytest.mark.parametrize("with_background", [False, True])
def test_cache_stays_within_its_budget_in_bytes(qtbot, tmp_path, with_background):
    path = tmp_path / "series.h5"
    write_series(path, count=25, shape=SHAPE, with_background=with_background)
    one = frame_bytes(qtbot, path)
    budget = 3 * one + one // 2  # three frames and a half
    peaks = []
    with FLSeries(h5file=path, h5mode="r") as series:
        cache = FrameCache(series, capacity_bytes=budget, lookahead=8)
        cache.frameReady.connect(lambda *_: peaks.append(cache._used_bytes()))
        try:
            for index in [*range(0, 25, 2), *range(24, -1, -3)]:
                if cache.request(index, direction=1 if index % 2 == 0 else -1) is None:
                    qtbot.waitUntil(lambda i=index: cache.cached(i) is not None, timeout=5000)
            qtbot.wait(100)
            held = [i for i in range(25) if cache.cached(i) is not None]
            # the look-ahead is cut to what the budget holds beside the frame on display
            assert cache._affordable_lookahead() == 2
        finally:
            cache.close()
    assert peaks and max(peaks) <= budget
    assert len(held) <= 3


def test_a_frame_larger_than_the_budget_is_still_shown(qtbot, tmp_path):
    path = tmp_path / "series.h5"
    write_series(path, count=6, shape=SHAPE)
    with FLSeries(h5file=path, h5mode="r") as series:
        cache = FrameCache(series, capacity_bytes=100, lookahead=4)
        try:
            for index in (0, 3, 5):
                if cache.request(index) is None:
                    qtbot.waitUntil(lambda i=index: cache.cached(i) is not None, timeout=5000)
            qtbot.wait(100)
            held = [i for i in range(6) if cache.cached(i) is not None]
            assert cache._affordable_lookahead() == 0
        finally:
            cache.close()
    assert held == [5]


def test_stored_chunk_is_the_reading_boundarys_decoder(tmp_path):
    """validate.stored_chunk reads the bytes; StoredChunk.decode is read_array's decoding."""
    from flimage_app.model import validate

    rng = np.random.default_rng(1)
    image = rng.normal(0, 1, SHAPE).astype(np.float32)
    with h5py.File(tmp_path / "one.h5", "w") as handle:
        for name, storage in STORAGES.items():
            handle.create_dataset(name.replace("/", "-"), data=image, **storage)
    with h5py.File(tmp_path / "one.h5", "r") as handle:
        for name, storage in STORAGES.items():
            dset = handle[name.replace("/", "-")]
            stored = validate.stored_chunk(dset, "one.h5: x")
            one_deflated_chunk = storage.get("chunks") == SHAPE and "compression" in storage
            assert (stored is not None) == one_deflated_chunk, name
            if stored is None:
                continue
            copy, shared = stored.decode(), stored.decode(writable=False)
            np.testing.assert_array_equal(copy, image)
            np.testing.assert_array_equal(shared, image)
            assert copy.flags.writeable and not shared.flags.writeable
            np.testing.assert_array_equal(validate.read_array(dset, "one.h5: x"), image)
