"""The reading boundary: every object the app reads from a file is checked here first.

Files are untrusted input.  Before the app allocates, decompresses or
follows anything a file declares, this module checks that

* the object is of the kind, shape and type expected (an image is a 2-D
  dataset of real numbers; a metadata attribute is one number or one string
  of bounded length);
* its data are stored inside the file (contiguous, chunked or compact): no
  external raw storage, no virtual dataset, no external link, no link that
  leads into another file or round in a loop;
* the memory it declares fits in what the computer can spare
  (:func:`memory_budget`), before anything is allocated;
* no compressed chunk inflates beyond its declared size (checked with a
  bounded decompression, :func:`check_chunks`);
* metadata have sane sizes: attributes are read by name, only those the app
  needs, and their size is checked before they are read.

Every refusal is a :class:`~flimage_app.model.errors.FileFormatError` with a
one-line message that names the file, the object and the reason.  Metadata
that are present but unusable (a "time" that is an array or infinite, an
"identifier" that is a number) are treated as missing, with a
:class:`FileContentWarning`: the pixels are still readable.

This module imports nothing else from the app but its errors and metadata
keys, so every reader can use it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
import warnings
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from .chunks import bounded_inflate, decode_chunk, direct_decoding
from .errors import FileFormatError
from .meta import META_DEF, NUMERIC_KEYS

__all__ = ["bounded_inflate"]  # re-exported: the bounded inflate belongs to the boundary

#: Share of the memory available to the process that one object read from a file may take.
MEMORY_FRACTION = 0.25
#: Bytes of working memory per pixel of a frame: raw, background and corrected images as
#: float64 and one temporary (the bleach and background code hold that many copies).
WORKING_BYTES_PER_PIXEL = 32
#: Memory assumed available where the operating system does not say (bytes).
FALLBACK_AVAILABLE_BYTES = 2 * 2**30
#: Environment variable that caps the memory the app assumes it has (bytes), e.g. to
#: behave as on a smaller computer; the smaller of it and what is free is used.
MEMORY_LIMIT_VARIABLE = "FLIMAGE_APP_MEMORY_LIMIT"
#: Longest text attribute read (characters); identifiers and device names are short.
MAX_TEXT_CHARS = 4096
#: Largest JSON document read from a file (provenance record, ROI set), in bytes.
MAX_JSON_BYTES = 64 * 2**20
#: Most datasets in a frame's ``bg_data`` group (flimage writes "data" and "fit").
MAX_BACKGROUNDS = 16
#: Largest magnitude of a time [s] taken from a file (about 31,700 years).
MAX_ABS_TIME = 1e12
#: HDF5 filters whose output size is bounded by the chunk size, or checked here.
#: deflate, shuffle, fletcher32, szip, n-bit, scale-offset, LZF
KNOWN_FILTERS: dict[int, str] = {1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip",
                                 5: "n-bit", 6: "scale-offset", 32000: "LZF"}
_DEFLATE, _FLETCHER32 = 1, 3
#: Most bytes a chunk is inflated in per step of the bounded check.
_INFLATE_STEP = 16 * 2**20


class FileContentWarning(UserWarning):
    """A file holds metadata the app cannot use; they are treated as missing."""


# ------------------------------------------------------------------ names and errors
def file_name(obj: h5py.HLObject) -> str:
    """The name of the file that holds `obj` (read from its identifier: cheap)."""
    try:
        return h5py.h5f.get_name(obj.id).decode("utf-8", "replace")
    except (ValueError, RuntimeError, TypeError, AttributeError):  # closed
        return "HDF5 file"


def object_name(obj: h5py.HLObject | None, name: str = "") -> str:
    """``file: /path/of/object`` for messages."""
    if obj is None:
        return name
    path = (obj.name or "").rstrip("/")
    if name:
        path = f"{path}/{name}"
    return f"{file_name(obj)}: {path or '/'}"


def refuse(where: str, reason: str) -> FileFormatError:
    """The one-line error for `where` (file and object) and `reason`."""
    text = f"{where}: {reason}"
    return FileFormatError(" ".join(text.split()))


def human_bytes(count: float) -> str:
    """1536 → "1.5 KiB"."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} EiB"  # pragma: no cover - the loop returns


# ------------------------------------------------------------------ memory
def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _sysconf_available() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _psutil_available() -> int | None:
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def _address_space_left() -> int | None:
    """What a resource limit on the address space (RLIMIT_AS) still allows, if one is set."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            used = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        used = 0
    return max(0, soft - used)


def available_memory() -> int:
    """Bytes the process can still allocate: free memory, an address-space limit if set,
    and :data:`MEMORY_LIMIT_VARIABLE` if set."""
    available = _meminfo_available() or _sysconf_available() or _psutil_available()
    available = available or FALLBACK_AVAILABLE_BYTES
    left = _address_space_left()
    if left is not None:
        available = min(available, left)
    setting = os.environ.get(MEMORY_LIMIT_VARIABLE, "").strip()
    if setting:
        with contextlib.suppress(ValueError):
            available = min(available, max(0, int(float(setting))))
    return available


_cached_budget: tuple[float, int] = (-1.0, 0)
#: Seconds a measured budget is reused (reading /proc for every dataset would cost more
#: than the checks themselves).
_BUDGET_TTL_S = 0.5


def memory_budget() -> int:
    """Bytes that one object read from a file may take (:data:`MEMORY_FRACTION` of what is free)."""
    global _cached_budget
    now = time.monotonic()
    measured_at, budget = _cached_budget
    if now - measured_at > _BUDGET_TTL_S or measured_at < 0:
        budget = int(available_memory() * MEMORY_FRACTION)
        _cached_budget = (now, budget)
    return budget


def check_allocation(nbytes: int, where: str, what: str) -> None:
    """Refuse to allocate `nbytes` for `what` if they exceed :func:`memory_budget`."""
    budget = memory_budget()
    if nbytes > budget:
        raise refuse(where, f"{what} needs {human_bytes(nbytes)} of memory, more than the "
                            f"{human_bytes(budget)} this computer can spare for it")


def check_frame_pixels(shape: tuple[int, ...], where: str) -> None:
    """Refuse a frame whose working copies (:data:`WORKING_BYTES_PER_PIXEL`) do not fit."""
    pixels = math.prod(int(n) for n in shape)
    check_allocation(pixels * WORKING_BYTES_PER_PIXEL, where,
                     f"a frame of {' x '.join(map(str, shape))} pixels")


# ------------------------------------------------------------------ links and objects
def member(group: h5py.Group, name: str) -> h5py.HLObject | None:
    """``group[name]`` (one path component) after checking the link; None if absent.

    Refuses external links, links that end in another file (a soft link
    through an external one), and soft links that do not resolve (loops).
    """
    encoded = name.encode("utf-8")
    try:
        if not group.id.links.exists(encoded):
            return None
        link_type = group.id.links.get_info(encoded).type
    except (KeyError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise refuse(object_name(group, name), f"unreadable link ({_first_line(exc)})") from None
    if link_type == h5py.h5l.TYPE_HARD:
        try:
            return group[name]
        except (KeyError, RuntimeError, OSError, ValueError) as exc:
            raise refuse(object_name(group, name), f"unreadable object "
                                                   f"({_first_line(exc)})") from None
    where = object_name(group, name)
    link = group.get(name, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        raise refuse(where, f"is an external link to {link.filename}; refusing to follow it")
    if not isinstance(link, h5py.SoftLink):
        raise refuse(where, "is a link of a kind the app does not follow")
    try:
        obj = group.get(name)
    except (KeyError, RuntimeError, OSError, ValueError, RecursionError) as exc:
        raise refuse(where, f"is a soft link that does not resolve (a loop or a dangling "
                            f"link: {_first_line(exc)})") from None
    if obj is None:
        raise refuse(where, f"is a soft link to {link.path}, which does not exist")
    if obj.id.fileno != group.id.fileno:
        raise refuse(where, "leads into another file; refusing to follow it")
    return obj


def member_path(group: h5py.Group, path: str) -> h5py.HLObject | None:
    """Walk `path` ("a/b/c") from `group` with :func:`member` at every step; None if absent."""
    obj: h5py.HLObject | None = group
    for part in path.strip("/").split("/"):
        if not isinstance(obj, h5py.Group):
            raise refuse(object_name(group, path), f"{obj.name} is not a group")
        obj = member(obj, part)
        if obj is None:
            return None
    return obj


def group_member(group: h5py.Group, name: str) -> h5py.Group | None:
    """A checked sub-group, None if absent; refused if it is not a group."""
    obj = member(group, name)
    if obj is not None and not isinstance(obj, h5py.Group):
        raise refuse(object_name(group, name), f"is {_kind_of(obj)}, not a group")
    return obj


def _kind_of(obj: Any) -> str:
    if isinstance(obj, h5py.Group):
        return "a group"
    if isinstance(obj, h5py.Dataset):
        return f"a dataset of type {obj.dtype}"
    if isinstance(obj, h5py.Datatype):
        return "a named data type"
    return type(obj).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ------------------------------------------------------------------ datasets
def check_storage(dset: h5py.Dataset, where: str | None = None) -> None:
    """Refuse data stored outside the file and filters whose output is not bounded."""
    where = where or object_name(dset)
    try:
        plist = dset.id.get_create_plist()
        layout = plist.get_layout()
        external = plist.get_external_count()
        filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
    except (RuntimeError, OSError, ValueError) as exc:
        raise refuse(where, f"unreadable storage description ({_first_line(exc)})") from None
    if layout == h5py.h5d.VIRTUAL:
        raise refuse(where, "is a virtual dataset (its pixels live in other files); "
                            "the app reads only data stored inside the file")
    if external:
        raise refuse(where, "keeps its data in an external raw file; the app reads only "
                            "data stored inside the file")
    if layout not in (h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED, h5py.h5d.COMPACT):
        raise refuse(where, f"has an unknown storage layout ({layout})")
    for code, _flags, values, _name in filters:
        if code not in KNOWN_FILTERS:
            raise refuse(where, f"is compressed with HDF5 filter {code}, which the app "
                                "does not read")
        if code == 32000 and len(values) >= 3:  # LZF: values[2] is the buffer size it allocates
            check_allocation(int(values[2]), where, "an LZF chunk")
    if layout == h5py.h5d.CHUNKED:
        chunk_bytes = math.prod(dset.chunks) * dset.dtype.itemsize
        check_allocation(chunk_bytes, where, f"a chunk of {' x '.join(map(str, dset.chunks))}")


def check_dataset(obj: Any, where: str, *, ndims: tuple[int, ...] = (2,),
                  kinds: str = "biuf", what: str = "an image",
                  allow_empty: bool = False) -> h5py.Dataset:
    """Refuse anything but a dataset of `ndims` dimensions and a real number type.

    Also checks the storage (:func:`check_storage`) and that the declared
    size fits in memory; returns the dataset.
    """
    if not isinstance(obj, h5py.Dataset):
        raise refuse(where, f"is {_kind_of(obj)}, not {what}")
    try:
        shape, dtype = obj.shape, obj.dtype
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        raise refuse(where, f"unreadable dataset ({_first_line(exc)})") from None
    if shape is None:
        raise refuse(where, f"holds no data (a null dataspace), not {what}")
    if dtype.names is not None or dtype.subdtype is not None or dtype.kind not in kinds:
        described = "text" if h5py.check_string_dtype(dtype) else f"type {dtype}"
        raise refuse(where, f"holds {described}, not {what} of real numbers")
    if len(shape) not in ndims:
        raise refuse(where, f"has shape {shape}; {what} must have "
                            f"{' or '.join(map(str, ndims))} dimension(s)")
    if len(shape) and min(shape) == 0 and not allow_empty:
        raise refuse(where, f"is empty (shape {shape})")
    check_storage(obj, where)
    check_allocation(math.prod(shape) * dtype.itemsize, where,
                     f"{what} of {' x '.join(map(str, shape)) or 'one value'}")
    return obj


def check_image(obj: Any, where: str) -> h5py.Dataset:
    """A 2-D image dataset whose frame-sized working copies fit in memory."""
    dset = check_dataset(obj, where)
    check_frame_pixels(dset.shape, where)
    return dset


def _chunk_locations(dset: h5py.Dataset) -> list[tuple[tuple[int, ...], int]]:
    """(offset, stored size) of every written chunk."""
    locations: list[tuple[tuple[int, ...], int]] = []
    try:
        dset.id.chunk_iter(lambda info: locations.append((info.chunk_offset, info.size)))
    except AttributeError:  # HDF5 < 1.12.3
        for index in range(dset.id.get_num_chunks()):
            info = dset.id.get_chunk_info(index)
            locations.append((info.chunk_offset, info.size))
    return locations


def deflate_position(dset: h5py.Dataset) -> tuple[int, bool] | None:
    """(bit of deflate in the filter mask, checksummed) if `dset` is deflated, else None."""
    plist = dset.id.get_create_plist()
    codes = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    if _DEFLATE not in codes:
        return None
    position = codes.index(_DEFLATE)
    # fletcher32 after deflate checksums the compressed bytes: 4 bytes to strip first
    return position, _FLETCHER32 in codes[position + 1:]


def inflated_size(data: bytes, limit: int, where: str) -> int:
    """Size of zlib stream `data` inflated, refused as soon as it exceeds `limit` bytes.

    Inflates in steps of at most :data:`_INFLATE_STEP` bytes, so memory stays bounded
    whatever the stream claims.
    """
    inflater = zlib.decompressobj()
    total = 0
    pending = data
    try:
        while pending and not inflater.eof:
            out = inflater.decompress(pending, _INFLATE_STEP)
            total += len(out)
            if total > limit:
                raise refuse(where, f"compressed data inflate beyond their declared "
                                    f"{human_bytes(limit)} (a decompression bomb?)")
            pending = inflater.unconsumed_tail
            if not out and not pending:
                break
    except zlib.error:
        pass  # damage, not a bomb: HDF5 reports it when it reads the chunk
    return total


def check_chunks(dset: h5py.Dataset, where: str | None = None) -> None:
    """Refuse a deflated dataset any of whose chunks inflates beyond the chunk size.

    HDF5's deflate filter grows its output buffer until the stream ends, so a
    crafted chunk of a few megabytes could take gigabytes; this checks each
    chunk with a bounded inflate before HDF5 decodes it.
    """
    if dset.chunks is None:
        return
    where = where or object_name(dset)
    deflate = deflate_position(dset)
    if deflate is None:
        return
    bit, checksummed = deflate
    limit = math.prod(dset.chunks) * dset.dtype.itemsize
    try:
        locations = _chunk_locations(dset)
    except (RuntimeError, OSError, ValueError) as exc:
        raise refuse(where, f"unreadable chunk index ({_first_line(exc)})") from None
    for offset, size in locations:
        if size > 8 * limit + 2**16:
            raise refuse(where, f"a chunk is stored in {human_bytes(size)}, far more than its "
                                f"{human_bytes(limit)} of data")
        try:
            mask, data = dset.id.read_direct_chunk(offset)
        except (RuntimeError, OSError, ValueError) as exc:
            raise refuse(where, f"unreadable chunk ({_first_line(exc)})") from None
        if mask & (1 << bit):
            continue  # deflate was skipped for this chunk: stored as it is
        if checksummed:
            data = data[:-4]
        inflated_size(data, limit, where)


def read_array(dset: h5py.Dataset, where: str) -> np.ndarray:
    """Read a checked dataset, its chunks checked first; HDF5 read errors become one line.

    One-chunk deflated images (every image the app writes) are inflated here,
    bounded, instead of by HDF5: one decompression, never past the image size.
    """
    try:
        decoded = _decoded_directly(dset, where)
    except MemoryError:
        raise refuse(where, "cannot be read: not enough memory") from None
    if decoded is not None:
        return decoded
    check_chunks(dset, where)
    try:
        return dset[()]
    except MemoryError:
        raise refuse(where, "cannot be read: not enough memory") from None
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        raise refuse(where, f"cannot be read ({_first_line(exc)})") from None


def _decoded_directly(dset: h5py.Dataset, where: str) -> np.ndarray | None:
    stored = stored_chunk(dset, where)
    return None if stored is None else stored.decode()


@dataclass(frozen=True)
class StoredChunk:
    """The stored bytes of a one-chunk deflated image, read; decoding needs no HDF5 call.

    :func:`stored_chunk` reads them (an HDF5 call, cheap: no filter runs);
    :meth:`decode` checks and inflates them on any thread, without the
    file and with the GIL released for the inflate, so a reader can hold
    its file lock for the read only.
    """

    data: bytes
    dtype: np.dtype
    shape: tuple[int, ...]
    shuffled: bool
    checksummed: bool
    #: file and object, for refusals
    where: str

    def decode(self, writable: bool = True) -> np.ndarray | None:
        """The image, as HDF5's filters would return it.

        None when the checksum does not match this implementation's reading:
        the caller then lets HDF5 read the dataset (:func:`read_array`).  A
        chunk that inflates beyond or short of its image is refused
        (:class:`FileFormatError` naming :attr:`where`), with at most the
        image's size inflated; so is a chunk the memory cannot hold.
        With `writable` False the array is the inflated buffer itself,
        read-only: no copy (for readers that share their frames).
        """
        try:
            image = decode_chunk(self.data, self.dtype, self.shape, self.shuffled,
                                 self.checksummed, self.where)
            if image is None:
                return None
            if writable:
                return image.copy()
            image.flags.writeable = False  # the inflate's buffer may be a bytearray
            return image
        except MemoryError:
            raise refuse(self.where, "cannot be read: not enough memory") from None


def stored_chunk(dset: h5py.Dataset, where: str) -> StoredChunk | None:
    """The stored chunk of a checked one-chunk deflated image (every image the app writes).

    None where HDF5 must decode the dataset: other layouts or filters, no
    chunk written (the fill value), a filter skipped for the chunk, or an
    unreadable chunk (HDF5 then says why, in :func:`read_array`).
    """
    decoding = direct_decoding(dset)
    if decoding is None:
        return None
    try:
        mask, chunk = dset.id.read_direct_chunk((0,) * dset.ndim)
    except (OSError, RuntimeError, ValueError):
        return None  # no chunk written (fill value) or unreadable: HDF5 decides
    if mask != 0:
        return None
    return StoredChunk(chunk, dset.dtype, tuple(dset.shape), *decoding, where)


def read_background(group: h5py.Group, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The stored background `name` of `group`, checked: a number, or an image of `shape`."""
    where = object_name(group, name)
    dset = check_dataset(member(group, name), where, ndims=(0, 2), what="a background")
    if dset.ndim == 2 and dset.shape != tuple(shape):
        raise refuse(where, f"has shape {dset.shape}, the image {tuple(shape)}")
    return read_array(dset, where)


def read_image(obj: Any, where: str) -> np.ndarray:
    """Check (:func:`check_image`) and read a 2-D image dataset."""
    return read_array(check_image(obj, where), where)


# ------------------------------------------------------------------ attributes
_collecting = threading.local()
#: (file, problem) pairs already reported outside :func:`collected_warnings`
_reported: set[tuple[str, str]] = set()


def _warn(message: str) -> None:
    """Warn about unusable file content, once per file and problem.

    Reading a frame's metadata again (the browser does, frame after frame)
    must not repeat the warning.  Inside :func:`collected_warnings` the
    message is collected on this thread instead, to be summarised.
    """
    message = " ".join(message.split())
    collector = getattr(_collecting, "messages", None)
    if collector is not None:
        collector.append(message)
        return
    file, _, problem = message.partition(": ")
    # the object path varies from frame to frame; the file and the problem do not
    key = (file, problem.partition(": ")[2] or problem)
    if key in _reported:
        return
    _reported.add(key)
    warnings.warn(message, FileContentWarning, stacklevel=3)


def attribute_count(obj: h5py.HLObject) -> int:
    """Number of attributes of `obj`, from its header (no attribute is read)."""
    return int(h5py.h5o.get_info(obj.id).num_attrs)


def read_attribute(obj: h5py.HLObject, name: str, kind: str, *, warn: bool = True,
                   max_chars: int = MAX_TEXT_CHARS) -> Any:
    """Attribute `name` of `obj` as a Python number (``kind="number"``), a str
    (``"text"``) or a small float array (``"vector"``, a point such as "sim center").

    Returns None when the attribute is absent, and also when it is not one
    value of that kind (an array, text where a number belongs, a number
    where text belongs, text longer than :data:`MAX_TEXT_CHARS`, a null
    dataspace), with a :class:`FileContentWarning` unless `warn` is False.
    Shape and type are checked before anything is read, so an array of
    thousands of values costs nothing.
    """
    encoded = name.encode("utf-8")
    try:
        if not h5py.h5a.exists(obj.id, encoded):
            return None
        attr = h5py.h5a.open(obj.id, encoded)
        space = attr.get_space()
        space_type = space.get_simple_extent_type()
        dtype = attr.dtype
        storage = attr.get_storage_size() if kind == "text" else 0
    except (KeyError, RuntimeError, OSError, ValueError, TypeError) as exc:
        if warn:
            _warn(f"{object_name(obj)}: attribute {name!r} is unreadable ({_first_line(exc)}); "
                  "ignored")
        return None
    problem = None
    if kind == "vector":
        return _read_vector(obj, name, attr, space, space_type, dtype, warn)
    if space_type == h5py.h5s.NULL:
        problem = "holds no value (a null dataspace)"
    elif space_type == h5py.h5s.SIMPLE and math.prod(space.shape) != 1:
        problem = f"is an array of shape {space.shape}, not one value"
    elif kind == "number" and (dtype.kind not in "biuf" or dtype.names or dtype.subdtype):
        problem = f"holds {'text' if h5py.check_string_dtype(dtype) else dtype}, not a number"
    elif kind == "text" and not h5py.check_string_dtype(dtype):
        problem = f"holds {dtype}, not text"
    elif kind == "text" and storage > 4 * max_chars:
        problem = f"is {storage:,} bytes long (limit {max_chars:,} characters)"
    if problem is None:
        try:
            value = _read_value(attr, kind, space_type)
        except (RuntimeError, OSError, ValueError, TypeError) as exc:
            problem = f"is unreadable ({_first_line(exc)})"
        else:
            if kind == "text" and len(value) > max_chars:
                problem = f"is {len(value):,} characters long (limit {max_chars:,})"
            else:
                return value
    if warn:
        _warn(f"{object_name(obj)}: attribute {name!r} {problem}; treated as missing")
    return None


#: Most values of a "vector" attribute (e.g. qpimage's "sim center").
MAX_VECTOR_VALUES = 16


def _read_vector(obj, name, attr, space, space_type, dtype, warn: bool) -> Any:
    """A few numbers (a point): a numeric array of at most :data:`MAX_VECTOR_VALUES`."""
    size = 1 if space_type == h5py.h5s.SCALAR else (
        0 if space_type == h5py.h5s.NULL else math.prod(space.shape))
    problem = None
    if dtype.kind not in "biuf" or dtype.names or dtype.subdtype:
        problem = f"holds {dtype}, not numbers"
    elif not 1 <= size <= MAX_VECTOR_VALUES:
        problem = f"holds {size:,} values (1 to {MAX_VECTOR_VALUES} expected)"
    if problem is None:
        buffer = np.empty(() if space_type == h5py.h5s.SCALAR else space.shape,
                          dtype=np.float64)
        try:
            attr.read(buffer)
        except (RuntimeError, OSError, ValueError, TypeError) as exc:
            problem = f"is unreadable ({_first_line(exc)})"
        else:
            return buffer
    if warn:
        _warn(f"{object_name(obj)}: attribute {name!r} {problem}; treated as missing")
    return None


def _read_value(attr: h5py.h5a.AttrID, kind: str, space_type: int) -> Any:
    shape = () if space_type == h5py.h5s.SCALAR else (1,)
    if kind == "number":
        if attr.dtype.kind == "b":  # an HDF5 enum: no conversion to float in HDF5
            buffer = np.empty(shape, dtype=attr.dtype)
            attr.read(buffer)
            return float(buffer.reshape(-1)[0])
        buffer = np.empty(shape, dtype=np.float64)
        attr.read(buffer)
        return float(buffer.reshape(-1)[0])
    string_info = h5py.check_string_dtype(attr.dtype)
    if string_info.length is None:  # variable length: read as Python objects
        buffer = np.empty(shape, dtype=attr.dtype)
    else:
        buffer = np.empty(shape, dtype=f"S{max(1, string_info.length)}")
    attr.read(buffer)
    value = buffer.reshape(-1)[0]
    if isinstance(value, bytes):
        value = value.rstrip(b"\0").decode("utf-8", "replace")
    return str(value)


def check_time(value: float | None, where: str, *, warn: bool = True) -> float | None:
    """A time [s] read from a file, or None (with a warning) if it is not finite or huge."""
    if value is None:
        return None
    if not math.isfinite(value) or abs(value) > MAX_ABS_TIME:
        if warn:
            _warn(f"{where}: \"time\" = {value!r} is not a usable time "
                  f"(|t| must be finite and at most {MAX_ABS_TIME:g} s); treated as missing")
        return None
    return value


#: Up to this many attributes, their names are listed rather than each key looked up.
_LISTED_ATTRIBUTES = 32


#: Metadata keys that hold a few numbers rather than one (qpimage writes a point).
VECTOR_KEYS = frozenset({"sim center"})


def read_meta_value(obj: h5py.HLObject, key: str) -> Any:
    """Metadata `key` stored on `obj`, checked (see :func:`read_metadata`), or None."""
    kind = "number" if key in NUMERIC_KEYS else "vector" if key in VECTOR_KEYS else "text"
    if kind == "vector":
        return read_attribute(obj, key, kind)
    value = read_attribute(obj, key, kind)
    if value is None:
        return None
    if key == "time":
        return check_time(value, object_name(obj))
    if kind == "number" and not math.isfinite(value):
        _warn(f"{object_name(obj)}: attribute {key!r} = {value!r} is not finite; "
              "treated as missing")
        return None
    if key == "pixel size" and not value > 0:
        _warn(f"{object_name(obj)}: \"pixel size\" = {value!r} is not positive; "
              "treated as missing")
        return None
    return value


def read_metadata(obj: h5py.HLObject) -> dict[str, Any]:
    """The metadata keys (:data:`~flimage_app.model.meta.META_DEF`) stored on `obj`.

    Each key is looked up by name (a frame with 40,000 other attributes costs
    as much as one without); unusable values are left out with a warning.
    """
    meta: dict[str, Any] = {}
    try:
        few = attribute_count(obj) <= _LISTED_ATTRIBUTES
    except (RuntimeError, OSError, ValueError):
        few = False
    # a handful of attributes: list their names once instead of asking for every key
    keys = [key for key in obj.attrs if key in META_DEF] if few else META_DEF
    for key in keys:
        value = read_meta_value(obj, key)
        if value is not None:
            meta[key] = value
    return meta


@contextlib.contextmanager
def collected_warnings(summary: str) -> Iterator[list[str]]:
    """Collect this thread's file-content warnings inside; afterwards warn once with `summary`.

    `summary` is formatted with ``count`` and ``first`` (the first message).
    Thread-local, unlike :class:`warnings.catch_warnings`, so that GUI
    workers reading different files do not swap each other's warning state.
    """
    outer = getattr(_collecting, "messages", None)
    messages: list[str] = []
    _collecting.messages = messages
    try:
        yield messages
    finally:
        _collecting.messages = outer
    if messages:
        text = summary.format(count=len(messages), first=messages[0])
        if outer is not None:
            outer.append(text)
        else:
            warnings.warn(text, FileContentWarning, stacklevel=3)


# ------------------------------------------------------------------ JSON records
def read_json_text(value: Any, where: str, what: str) -> Any:
    """Parse a JSON document stored as text, after checking its size."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise refuse(where, f"{what} is not text")
    if len(value) > MAX_JSON_BYTES:
        raise refuse(where, f"{what} is {len(value):,} characters long "
                            f"(limit {MAX_JSON_BYTES:,})")
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise refuse(where, f"{what} is not valid JSON ({_first_line(exc)})") from None


def read_text_dataset(obj: Any, where: str, what: str) -> str:
    """One string stored as a scalar text dataset (the app's ROI set), size checked first."""
    if not isinstance(obj, h5py.Dataset):
        raise refuse(where, f"is {_kind_of(obj)}, not {what}")
    if obj.shape not in ((), (1,)) or not h5py.check_string_dtype(obj.dtype):
        raise refuse(where, f"is not {what} (shape {obj.shape}, type {obj.dtype})")
    check_storage(obj, where)
    try:
        storage = obj.id.get_storage_size()
    except (RuntimeError, OSError):
        storage = 0
    if storage > MAX_JSON_BYTES:
        raise refuse(where, f"{what} is {storage:,} bytes (limit {MAX_JSON_BYTES:,})")
    try:
        value = obj[()]
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        raise refuse(where, f"cannot be read ({_first_line(exc)})") from None
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if len(value) > MAX_JSON_BYTES:
        raise refuse(where, f"{what} is {len(value):,} characters (limit {MAX_JSON_BYTES:,})")
    return str(value)


def checked_mapping(value: Any, where: str, what: str) -> Mapping[str, Any]:
    """`value` if it is a JSON object (dict with str keys), else a refusal."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise refuse(where, f"{what} is not a JSON object")
    return value
