"""Pre-compressed chunks: the bytes HDF5's own filters would write, readable everywhere."""

import os
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flimage_app.model import FLImage, FLSeries, chunks
from flimage_app.model.chunks import encode_chunk, fletcher32, shuffle_bytes
from flimage_app.model.errors import FileFormatError
from flimage_app.model.fastwrite import FrameWriter
from flimage_app.model.h5io import COMPRESSION, write_image_dataset

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import flimage


def stored_chunk(dset):
    return dset.id.read_direct_chunk((0,) * dset.ndim)[1]


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=0, max_size=3000))
def test_fletcher32_matches_hdf5_on_any_bytes(payload):
    # Store raw bytes with HDF5's fletcher32 filter only; its checksum trails the data.
    with h5py.File("fletcher.h5", "w", driver="core", backing_store=False) as handle:
        data = np.frombuffer(payload, dtype=np.uint8) if payload else np.zeros(1, np.uint8)
        dset = handle.create_dataset("x", data=data, chunks=data.shape, fletcher32=True)
        chunk = stored_chunk(dset)
    assert int.from_bytes(chunk[-4:], "little") == fletcher32(chunk[:-4])


@pytest.fixture
def zlib_only(monkeypatch):
    """Python's zlib for compressing and inflating, as where the faster wheels are missing."""
    monkeypatch.setattr(chunks, "_COMPRESS", None)
    monkeypatch.setattr(chunks, "_INFLATE", None)


@pytest.mark.parametrize("shape", [(64, 64), (7, 13), (1, 1), (101, 33)])
def test_zlib_chunks_are_byte_identical_to_hdf5_filters(tmp_path, shape, zlib_only):
    rng = np.random.default_rng(0)
    image = rng.normal(100, 10, shape).astype(np.float32)
    with h5py.File(tmp_path / "ref.h5", "w") as handle:
        dset = write_image_dataset(handle, "raw", image, "float32")
        assert stored_chunk(dset) == encode_chunk(image, COMPRESSION["compression_opts"],
                                                  COMPRESSION.get("shuffle", False))


def test_zlib_shuffled_chunks_match_hdf5_shuffle(tmp_path, zlib_only):
    image = np.arange(300, dtype=np.float32).reshape(15, 20)
    with h5py.File(tmp_path / "s.h5", "w") as handle:
        dset = handle.create_dataset("x", data=image, chunks=image.shape, shuffle=True,
                                     compression="gzip", compression_opts=3, fletcher32=True)
        assert stored_chunk(dset) == encode_chunk(image, 3, shuffle=True)
    assert shuffle_bytes(np.array([1, 2], dtype="<u2")) == bytes([1, 2, 0, 0])


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("shape", [(64, 64), (7, 13), (1, 1), (101, 33)])
def test_chunks_of_every_codec_are_read_by_hdf5_filters(tmp_path, shape, shuffle):
    # whatever library compressed it, HDF5's gzip + fletcher32 filters decode and verify it
    image = np.random.default_rng(0).normal(100, 10, shape).astype(np.float32)
    with h5py.File(tmp_path / "c.h5", "w") as handle:
        dset = handle.create_dataset("x", shape=shape, dtype="float32", chunks=shape,
                                     compression="gzip", compression_opts=1, shuffle=shuffle,
                                     fletcher32=True)
        dset.id.write_direct_chunk((0, 0), encode_chunk(image, 1, shuffle=shuffle))
    with h5py.File(tmp_path / "c.h5", "r") as handle:
        assert np.array_equal(handle["x"][...], image)
        shuffled, checksummed = chunks.direct_decoding(handle["x"])
        decoded = chunks.decode_chunk(stored_chunk(handle["x"]), np.dtype("float32"), shape,
                                      shuffled, checksummed)
        assert np.array_equal(decoded, image)


def test_the_fast_libraries_are_in_use_where_installed():
    # the test extra installs both wheels: CI must measure what users get
    assert chunks.CODEC == {"compress": "isal", "inflate": "libdeflate"}


def test_zlib_is_the_fallback_when_forced(tmp_path):
    # a fresh interpreter: the library choice is made at import
    script = ("import numpy as np, h5py\n"
              "from flimage_app.model import chunks\n"
              "assert chunks.CODEC == {'compress': 'zlib', 'inflate': 'zlib'}, chunks.CODEC\n"
              "image = np.arange(600, dtype='float32').reshape(20, 30)\n"
              "data = chunks.encode_chunk(image, 1)\n"
              "out = chunks.decode_chunk(data, np.dtype('float32'), (20, 30), False, True)\n"
              "assert np.array_equal(out, image)\n")
    env = {**os.environ, "FLIMAGE_APP_ZLIB_ONLY": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("codec", ["fast", "zlib"])
def test_bounded_inflate_never_exceeds_the_declared_size(codec, monkeypatch):
    if codec == "zlib":
        monkeypatch.setattr(chunks, "_INFLATE", None)
    bomb = zlib.compress(bytes(10_000_000), 9)
    with pytest.raises(FileFormatError, match="beyond"):
        chunks.bounded_inflate(bomb, 1_000_000, "bomb")
    with pytest.raises(FileFormatError, match="damaged"):
        chunks.bounded_inflate(b"not a stream", 1_000, "junk")
    assert chunks.bounded_inflate(zlib.compress(b"abc"), 3, "ok") == b"abc"
    assert chunks.bounded_inflate(zlib.compress(b"abc"), 10, "short") == b"abc"


def frames_written_by(tmp_path, name, images, metas, via_writer):
    path = tmp_path / name
    if via_writer:
        with h5py.File(path, "w") as handle, FrameWriter(handle, max_pending=2) as writer:
            for image, meta in zip(images, metas, strict=True):
                writer.submit(image, meta)
    else:
        with FLSeries(h5file=path, h5mode="w") as fls:
            for image, meta in zip(images, metas, strict=True):
                fls.add_flimage(FLImage(data=image, meta_data=meta))
    return path


def test_frames_equal_what_flimage_layout_stores_and_flimage_reads_them(tmp_path):
    rng = np.random.default_rng(1)
    images = [rng.normal(50, 5, (40, 30)) for _ in range(7)]
    metas = [{"time": 0.5 * i, "pixel size": 2e-7, "identifier": f"frame {i}"} for i in range(7)]
    fast = frames_written_by(tmp_path, "fast.h5", images, metas, via_writer=True)
    slow = frames_written_by(tmp_path, "slow.h5", images, metas, via_writer=False)
    with h5py.File(fast, "r") as a, h5py.File(slow, "r") as b:
        assert sorted(a) == sorted(b)
        for key in b:
            for name in ("fluorescence/raw",):
                fast_dset, slow_dset = a[f"{key}/{name}"], b[f"{key}/{name}"]
                # h5py verifies the fletcher32 checksum while reading
                np.testing.assert_array_equal(fast_dset[()], slow_dset[()])
                assert fast_dset.dtype == slow_dset.dtype
                assert fast_dset.chunks == slow_dset.chunks
                assert (fast_dset.compression, fast_dset.fletcher32, fast_dset.shuffle) == \
                    (slow_dset.compression, slow_dset.fletcher32, slow_dset.shuffle)
                assert dict(fast_dset.attrs) == dict(slow_dset.attrs)
            assert dict(a[key].attrs) == dict(b[key].attrs)
            assert list(a[f"{key}/fluorescence"]) == list(b[f"{key}/fluorescence"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with flimage.FLSeries(h5file=fast, h5mode="r") as fls:
            assert len(fls) == 7
            assert fls[3]["identifier"] == "frame 3"
            np.testing.assert_array_equal(fls[3].fl, images[3].astype(np.float32))


def test_corrupted_chunk_is_detected_by_hdf5(tmp_path):
    path = frames_written_by(tmp_path, "fast.h5", [np.ones((8, 8))], [{}], via_writer=True)
    with h5py.File(path, "r+") as handle:
        dset = handle["fli_0/fluorescence/raw"]
        chunk = bytearray(stored_chunk(dset))
        chunk[3] ^= 0xFF
        dset.id.write_direct_chunk((0, 0), bytes(chunk))
    with h5py.File(path, "r") as handle, pytest.raises(OSError):
        handle["fli_0/fluorescence/raw"][()]


def test_in_memory_series_is_written_without_direct_chunks():
    with h5py.File("mem.h5", "w", driver="core", backing_store=False) as handle:
        with FrameWriter(handle) as writer:
            writer.submit(np.full((4, 4), 2.0), {"time": 1.0})
        np.testing.assert_array_equal(handle["fli_0/fluorescence/raw"][()], 2.0)
        assert handle["fli_0"].attrs["time"] == 1.0


@pytest.mark.parametrize("storage", [
    {"compression": "gzip", "compression_opts": 1, "fletcher32": True},
    {"compression": "gzip", "compression_opts": 9},
    {"compression": "gzip", "compression_opts": 4, "shuffle": True, "fletcher32": True},
    {"compression": "lzf"},  # not decoded here: HDF5 reads it
    {},  # contiguous
])
def test_frame_reader_decodes_like_hdf5(tmp_path, storage):
    from flimage_app.model.bleach.measure import FrameReader

    rng = np.random.default_rng(3)
    images = [np.round(rng.normal(100, 10, (20, 30))).astype(np.float32) for _ in range(5)]
    path = tmp_path / "series.h5"
    with h5py.File(path, "w") as handle:
        for index, image in enumerate(images):
            group = handle.create_group(f"fli_{index}/fluorescence")
            chunks = {"chunks": image.shape} if storage else {}
            group.create_dataset("raw", data=image, **chunks, **storage)
            bg = group.create_group("bg_data")
            if index == 2:
                bg.create_dataset("data", data=np.full(image.shape, 7.0, dtype=np.float32))
    with FrameReader(path, workers=2) as reader:
        decoded = list(reader.iter_fl())
    assert [index for index, _ in decoded] == list(range(5))
    for index, image in decoded:
        expected = images[index].astype(float) - (7.0 if index == 2 else 0.0)
        np.testing.assert_array_equal(image, expected)


def test_frame_reader_leaves_damaged_chunks_to_hdf5(tmp_path):
    from flimage_app.model.bleach.measure import FrameReader

    path = frames_written_by(tmp_path, "fast.h5", [np.ones((8, 8))], [{}], via_writer=True)
    with h5py.File(path, "r+") as handle:
        dset = handle["fli_0/fluorescence/raw"]
        chunk = bytearray(stored_chunk(dset))
        chunk[3] ^= 0xFF
        dset.id.write_direct_chunk((0, 0), bytes(chunk))
    # HDF5's checksum error, as one line naming the dataset (the reading boundary)
    with FrameReader(path) as reader, pytest.raises(FileFormatError, match="fli_0"):
        list(reader.iter_fl())


def test_fletcher32_over_several_blocks_matches_hdf5(tmp_path):
    # many rows of 65535 words, and an odd length
    payload = np.random.default_rng(3).integers(0, 256, 2 * 65535 * 70 + 3,
                                                dtype=np.uint8)
    with h5py.File(tmp_path / "f.h5", "w") as handle:
        dset = handle.create_dataset("x", data=payload, chunks=payload.shape, fletcher32=True)
        chunk = stored_chunk(dset)
    assert int.from_bytes(chunk[-4:], "little") == fletcher32(chunk[:-4])


def _layout(handle: h5py.File, frame: str) -> dict:
    """Everything HDF5 records about one frame's objects, attributes and links."""
    def attributes(obj):
        found = {}
        for name in obj.attrs:
            attr = obj.attrs.get_id(name)
            value = obj.attrs[name]
            found[name] = (attr.get_type().dtype, attr.get_type().get_class(),
                           attr.get_space().get_simple_extent_type(),
                           value if not isinstance(value, float) else "number",
                           getattr(attr.get_type(), "get_cset", lambda: None)(),
                           getattr(attr.get_type(), "get_strpad", lambda: None)(),
                           attr.get_type().is_variable_str()
                           if attr.get_type().get_class() == h5py.h5t.STRING else None)
        return found

    def links(group):
        return {name: (group.id.links.get_info(name.encode()).cset,
                       group.id.links.get_info(name.encode()).type) for name in group}

    def group_plist(group):
        plist = group.id.get_create_plist()
        return (plist.get_link_creation_order(), plist.get_attr_creation_order(),
                h5py.h5o.get_info(group.id).ctime == 0)  # no time stamps, as h5py writes

    root, raw = handle[frame], handle[f"{frame}/fluorescence/raw"]
    dcpl = raw.id.get_create_plist()
    filters = [dcpl.get_filter(i)[:3] for i in range(dcpl.get_nfilters())]
    fill = np.zeros(1, raw.dtype)
    dcpl.get_fill_value(fill)
    return {
        "frame attrs": attributes(root), "raw attrs": attributes(raw),
        "links": (links(handle)[frame], links(root), links(root["fluorescence"])),
        "groups": [group_plist(g) for g in (root, root["fluorescence"],
                                              root["fluorescence/bg_data"])],
        "raw": (raw.dtype, raw.id.get_type().get_order(), raw.chunks, filters,
                dcpl.get_fill_time(), dcpl.get_alloc_time(), fill.tolist(),
                h5py.h5o.get_info(raw.id).ctime == 0, dcpl.get_layout()),
        "bg_data": list(root["fluorescence/bg_data"]),
    }


def test_frames_after_the_first_are_laid_out_as_h5py_lays_out_the_first(tmp_path):
    # The writer creates the first frame with h5py's high-level calls and the next ones
    # with HDF5's calls directly (faster); readers must not be able to tell them apart.
    path = tmp_path / "frames.h5"
    metas = [{"time": 0.25 * i, "pixel size": 2e-7, "identifier": f"cell {i}"}
             for i in range(3)]
    with h5py.File(path, "w") as handle, FrameWriter(handle) as writer:
        for index, meta in enumerate(metas):
            writer.submit(np.full((6, 5), index, np.float32), meta)
        writer.flush()
        assert writer._layout is not None  # the later frames took the direct path
    with h5py.File(path, "r") as handle:
        first = _layout(handle, "fli_0")
        for frame in ("fli_1", "fli_2"):
            later = _layout(handle, frame)
            later["frame attrs"]["identifier"] = first["frame attrs"]["identifier"]
            assert later == first
            assert handle[frame].attrs["identifier"] == f"cell {frame[-1]}"
        np.testing.assert_allclose([handle[f"fli_{i}"].attrs["time"] for i in range(3)],
                                   [0.0, 0.25, 0.5])
        np.testing.assert_array_equal(handle["fli_2/fluorescence/raw"][()], 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with flimage.FLSeries(h5file=path, h5mode="r") as fls:
            assert [fls[i]["time"] for i in range(3)] == [0.0, 0.25, 0.5]
            np.testing.assert_array_equal(fls[1].fl, 1.0)


@pytest.mark.parametrize("dtype", ["u1", "<u2", "<f4", ">f4", "<f8", "<i8"])
def test_unshuffle_inverts_hdf5_shuffle(dtype):
    rng = np.random.default_rng(5)
    data = rng.integers(0, 250, 257).astype(dtype)
    restored = chunks.unshuffle_bytes(shuffle_bytes(data), data.dtype)
    assert restored.dtype == data.dtype
    np.testing.assert_array_equal(restored, data)


def noise_floats(shape, seed=6):
    """float32 values whose every bit is random (finite): nothing for deflate to find."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 2**32, shape, dtype=np.uint32).view(np.float32)
    return np.where(np.isfinite(values), values, np.float32(1.0))


@pytest.mark.parametrize("shuffle", [False, True])
def test_incompressible_chunks_are_stored_as_they_are_and_read_everywhere(tmp_path, shuffle,
                                                                         monkeypatch):
    monkeypatch.setitem(COMPRESSION, "shuffle", shuffle)
    path = tmp_path / "noise.h5"
    images = [noise_floats((300, 280), seed) for seed in range(2)]  # above the sample size
    smooth = np.tile(np.arange(280, dtype=np.float32), (300, 1))
    with h5py.File(path, "w") as handle, FrameWriter(handle) as writer:
        for image in (*images, smooth):  # frame 0 by h5py's calls, the others directly
            writer.submit(image, {"time": 1.0})
    deflate_bit = 1 << (1 if shuffle else 0)
    with h5py.File(path, "r") as handle:
        for index, image in enumerate((*images, smooth)):
            dset = handle[f"fli_{index}/fluorescence/raw"]
            mask, chunk = dset.id.read_direct_chunk((0, 0))
            if index < 2:
                assert mask == deflate_bit  # deflate skipped: the bytes as they are (+ checksum)
                assert len(chunk) == image.nbytes + 4
            else:
                assert mask == 0 and len(chunk) < image.nbytes / 4
            np.testing.assert_array_equal(dset[()], image)  # HDF5 checks fletcher32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with flimage.FLSeries(h5file=path, h5mode="r") as fls:
            np.testing.assert_array_equal(fls[1].raw_fl, images[1])
    from flimage_app.model.bleach import measure

    with measure.FrameReader(path) as reader:
        def by_hdf5(*args):
            raise AssertionError("the frame reader left a stored chunk to HDF5")

        monkeypatch.setattr(measure.validate, "read_array", by_hdf5)
        for index, image in reader.iter_fl():  # decoded on the reader's threads
            np.testing.assert_array_equal(image, (*images, smooth)[index])


def test_a_small_incompressible_chunk_is_judged_whole():
    image = noise_floats((40, 30))
    chunk, mask = chunks.encode_frame_chunk(image, 1)
    assert mask == 1 and chunk[:-4] == image.tobytes()
    assert chunks.decode_chunk(chunk, image.dtype, image.shape, False, True,
                               filter_mask=mask).tobytes() == image.tobytes()
    # a mask of other skipped filters is left to HDF5
    assert chunks.decode_chunk(chunk, image.dtype, image.shape, False, True,
                               filter_mask=2) is None
    compressible = np.zeros((40, 30), np.float32)
    chunk, mask = chunks.encode_frame_chunk(compressible, 1)
    assert mask == 0 and chunk == encode_chunk(compressible, 1)
