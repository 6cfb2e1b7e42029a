"""HDF5's chunk encoding for one-chunk image datasets, in Python: the same bytes as the filters.

Every image the app writes is one chunk (chunk shape = image shape), filtered
by deflate (optionally after shuffle) and followed by a fletcher32 checksum,
as in flimage.  Encoding and decoding those bytes here lets the app compress
and decompress on a thread pool — zlib and numpy release the GIL, HDF5's own
filters run on the calling thread with it held — and hand the bytes to HDF5
with ``write_direct_chunk`` / ``read_direct_chunk``.  Tests check that
every reader (HDF5's filters, h5py, flimage) decodes them.

Deflate goes through the fastest library installed (see :data:`CODEC`):
ISA-L (``isal``) compresses, at level 1, 5–8× faster than zlib with a
stream 1 % larger on float noise and 1 % smaller on corrected camera
frames; libdeflate (``deflate``) inflates 2–3× faster than zlib into a
buffer of the declared size, so it can never inflate beyond it.  Both write
and read standard zlib streams.  Python's zlib is the fallback for either
when its wheel is missing (``FLIMAGE_APP_ZLIB_ONLY=1`` forces it, for tests).

A frame that deflate would shrink by less than 3 % is stored as it is, with
deflate marked as skipped in its chunk's filter mask (:func:`encode_frame_chunk`).
Measured on 512² float32 frames corrected by the bleach engine (ISA-L level 1):
camera counts 0.31 of their size (shuffle: 0.66 — the whole-value repeats are
lost), float data with sensor noise 0.92 (shuffle: 0.83, 10 % smaller, same
speed); so shuffle stays off by default (:data:`~.h5io.COMPRESSION`).
"""

from __future__ import annotations

import os
import zlib

import h5py
import numpy as np

from .errors import FileFormatError


def _isal_compress():
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    # ISA-L has levels 0–3; HDF5's gzip levels 1–9 map to its 1 (fast) … 3 (small)
    return lambda data, level: isal_zlib.compress(data, 1 if level <= 3 else
                                                  (2 if level <= 6 else 3))


def _libdeflate_inflate():
    try:
        import deflate
    except ImportError:
        return None
    return deflate.zlib_decompress, deflate.DeflateError


_ZLIB_ONLY = os.environ.get("FLIMAGE_APP_ZLIB_ONLY", "") not in ("", "0")
_COMPRESS = None if _ZLIB_ONLY else _isal_compress()
_INFLATE = None if _ZLIB_ONLY else _libdeflate_inflate()
#: The libraries in use: ``{"compress": "isal" | "zlib", "inflate": "libdeflate" | "zlib"}``.
CODEC = {"compress": "zlib" if _COMPRESS is None else "isal",
         "inflate": "zlib" if _INFLATE is None else "libdeflate"}


def compress(data, level: int) -> bytes:
    """A zlib stream of `data` (bytes or a contiguous array; HDF5's gzip filter reads it),
    by the fastest library at hand."""
    if _COMPRESS is None:
        return zlib.compress(data, level)
    return _COMPRESS(data, level)


#: Modulus of the 16-bit Fletcher sums.
_FLETCHER_MODULUS = 65535


def _reduced(total: int) -> int:
    """A Fletcher sum in HDF5's representation: 0 only for all-zero data, else 1 … 65535."""
    return 0 if total == 0 else (total - 1) % _FLETCHER_MODULUS + 1


#: Weight of word k of a series of whole rows of 65535 words in the sum of running sums,
#: modulo 65535: it depends only on the column (k mod 65535).
_COLUMN_WEIGHTS = (_FLETCHER_MODULUS - np.arange(_FLETCHER_MODULUS, dtype=np.int64)) \
    % _FLETCHER_MODULUS


def fletcher32(data: bytes) -> int:
    """HDF5's Fletcher-32 checksum of `data`.

    HDF5 reads the data as big-endian 16-bit words (a trailing odd byte is
    the high byte of one more word), sums them (``sum1``) and sums the
    running sums (``sum2``), both folded to 16 bits, and returns
    ``sum2 << 16 | sum1``.  The folding keeps the sums modulo 65535, where
    ``sum2 = Σ (n − i)·wᵢ`` and the weight ``(n − i) mod 65535`` repeats
    every 65535 words: with the words laid out in rows of 65535 (zeros in
    front), ``sum2`` is the column sums times one weight per column — one
    pass over the data, no matrix library (whose threads stall on a busy
    machine).  The rows are a view of the data after its first
    ``n mod 65535`` words, which fill the last columns of a first row: no
    padded copy.
    """
    if len(data) % 2:
        data = bytes(data) + b"\0"
    words = np.frombuffer(data, dtype=">u2")
    count = words.size
    if count == 0:
        return 0
    rows, partial = divmod(count, _FLETCHER_MODULUS)
    if rows:
        # 32-bit column sums cannot overflow below 65537 rows (8 GB; HDF5 chunks are < 4 GB)
        accumulator = np.uint32 if rows < _FLETCHER_MODULUS + 2 else np.int64
        columns = words[partial:].reshape(rows, _FLETCHER_MODULUS).sum(
            axis=0, dtype=accumulator).astype(np.int64)
    else:
        columns = np.zeros(_FLETCHER_MODULUS, dtype=np.int64)
    if partial:  # the first words: the end of a first row whose front is zeros
        columns[_FLETCHER_MODULUS - partial:] += words[:partial]
    sum1 = int(columns.sum())
    sum2 = int(np.dot(columns, _COLUMN_WEIGHTS))  # below 2**63 for any chunk HDF5 allows
    return (_reduced(sum2) << 16) | _reduced(sum1)


def shuffle_bytes(data: np.ndarray) -> bytes:
    """HDF5's shuffle filter: byte 0 of every element, then byte 1, …"""
    flat = np.ascontiguousarray(data).reshape(-1)
    return flat.view(np.uint8).reshape(flat.size, flat.itemsize).T.tobytes()


def _payload(data: np.ndarray, shuffle: bool):
    # deflate reads the array's buffer itself: no copy of the frame as bytes
    return shuffle_bytes(data) if shuffle else np.ascontiguousarray(data).reshape(-1)


def encode_chunk(data: np.ndarray, level: int, shuffle: bool = False,
                 checksum: bool = True) -> bytes:
    """The bytes HDF5 stores for one chunk holding `data` under the app's filters."""
    compressed = compress(_payload(data, shuffle), level)
    if checksum:
        compressed += fletcher32(compressed).to_bytes(4, "little")
    return compressed


#: A chunk that deflate would shrink by less than 3 % (e.g. float data whose low bits
#: are all noise) is stored as it is, with deflate marked as skipped in the chunk's
#: filter mask — an HDF5 feature of its optional filters that every reader follows
#: (HDF5, h5py, flimage): writing it costs no deflate, reading it no inflate.
INCOMPRESSIBLE_FRACTION = 0.97
#: Bytes deflated first to judge a larger chunk (its first rows).
SAMPLE_BYTES = 1 << 16


def encode_frame_chunk(data: np.ndarray, level: int, shuffle: bool = False,
                       checksum: bool = True) -> tuple[bytes, int]:
    """The bytes HDF5 stores for one chunk of `data` and the chunk's filter mask.

    Deflated (mask 0) as :func:`encode_chunk`, unless deflate gains less
    than ``1 − INCOMPRESSIBLE_FRACTION``: judged on the first
    :data:`SAMPLE_BYTES` (so that hopeless data is not deflated whole),
    then on the whole stream.  Then the chunk holds the (shuffled) bytes
    as they are and the mask has the bit of deflate, the first filter
    after the optional shuffle.
    """
    payload = _payload(data, shuffle)
    octets = np.frombuffer(payload, np.uint8) if isinstance(payload, bytes) \
        else payload.view(np.uint8)
    compressed = None
    if octets.size >= 4 * SAMPLE_BYTES:
        sample = compress(octets[:SAMPLE_BYTES], level)
        if len(sample) < INCOMPRESSIBLE_FRACTION * SAMPLE_BYTES:
            compressed = compress(payload, level)
    else:
        compressed = compress(payload, level)
    mask = 0
    if compressed is None or len(compressed) >= INCOMPRESSIBLE_FRACTION * octets.size:
        compressed, mask = octets.tobytes(), 1 << deflate_index(shuffle)
    if checksum:
        compressed += fletcher32(compressed).to_bytes(4, "little")
    return compressed, mask


def deflate_index(shuffled: bool) -> int:
    """Position of deflate in the app's filter pipelines (after shuffle, if any)."""
    return 1 if shuffled else 0



_DEFLATE, _SHUFFLE, _FLETCHER32 = 1, 2, 3
#: Filter pipelines whose chunks :func:`decode_chunk` decodes (as h5py orders them).
_DECODABLE = {(_DEFLATE,): (False, False), (_DEFLATE, _FLETCHER32): (False, True),
              (_SHUFFLE, _DEFLATE): (True, False), (_SHUFFLE, _DEFLATE, _FLETCHER32): (True, True)}


def direct_decoding(dset: h5py.Dataset) -> tuple[bool, bool] | None:
    """``(shuffled, checksummed)`` if `dset` is one deflated chunk decodable here, else None."""
    if dset.chunks is None or dset.chunks != dset.shape or dset.dtype.kind not in "biuf":
        return None
    plist = dset.id.get_create_plist()
    codes = tuple(plist.get_filter(i)[0] for i in range(plist.get_nfilters()))
    return _DECODABLE.get(codes)


def bounded_inflate(data: bytes, limit: int, where: str) -> bytes:
    """Inflate zlib stream `data`, refused if it would exceed `limit` bytes."""
    if _INFLATE is not None:
        inflate, failure = _INFLATE
        try:
            # libdeflate fills a buffer of `limit` bytes and stops there: bounded by design
            return inflate(data, limit)
        except failure:
            pass  # damaged or too long: zlib below says which, in bounded steps
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise FileFormatError(f"{where}: damaged compressed chunk ({exc})") from None
    if len(out) > limit or (inflater.unconsumed_tail and not inflater.eof):
        raise FileFormatError(f"{where}: a compressed chunk inflates beyond its declared "
                              f"{limit:,} bytes (a decompression bomb?)")
    return out


def decode_chunk(chunk: bytes, dtype: np.dtype, shape: tuple[int, ...], shuffled: bool,
                 checksummed: bool, where: str = "HDF5 chunk",
                 filter_mask: int = 0) -> np.ndarray | None:
    """The array in one stored chunk, as HDF5's filters would return it.

    Returns None if the checksum does not match this implementation's
    reading, so that the caller lets HDF5 decide (it also accepts checksums
    of very old files and reports damage in its own words), and for a
    `filter_mask` other than 0 or deflate skipped (the chunk then holds its
    bytes as they are).  A chunk that inflates beyond (or short of) its
    image is refused with FileFormatError naming `where`, with at most the
    image's size inflated.
    """
    stored_as_is = 1 << deflate_index(shuffled)
    if filter_mask not in (0, stored_as_is):
        return None
    if checksummed:
        chunk, stored = chunk[:-4], int.from_bytes(chunk[-4:], "little")
        if fletcher32(chunk) != stored:
            return None
    # bounded: a crafted chunk must not inflate past the image it claims to hold
    expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
    payload = chunk if filter_mask else bounded_inflate(chunk, expected, where)
    if len(payload) != expected:
        raise FileFormatError(f"{where}: a compressed chunk holds {len(payload):,} bytes, "
                              f"its image {expected:,}")
    if shuffled:
        return unshuffle_bytes(payload, dtype).reshape(shape)
    return np.frombuffer(payload, dtype=dtype).reshape(shape)


def unshuffle_bytes(payload: bytes, dtype) -> np.ndarray:
    """Undo HDF5's shuffle filter: the flat array of `dtype` whose bytes were shuffled.

    One strided copy per byte plane (3.5× faster on 512² float32 than a
    transposed copy of the whole buffer).
    """
    dtype = np.dtype(dtype)
    planes = np.frombuffer(payload, np.uint8).reshape(dtype.itemsize, -1)
    interleaved = np.empty((planes.shape[1], dtype.itemsize), np.uint8)
    for byte in range(dtype.itemsize):
        interleaved[:, byte] = planes[byte]
    return interleaved.reshape(-1).view(dtype)


