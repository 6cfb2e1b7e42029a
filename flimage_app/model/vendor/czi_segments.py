"""The ZISRAW segments of a CZI file, checked and read in Python.

libCZI (under pylibCZIrw) trusts the file's subblock directory: a directory
entry whose dimension count does not fit its segment makes it read past its
buffer and crash the process (found by mutating pylibCZIrw-written files).
:func:`check_structure` therefore walks the file header, the subblock
directory and every subblock's segment header with bounded reads before
libCZI opens the file, and refuses an inconsistent file in one line.

It also reads the ``TimeStamps`` attachment (content type ``CZTIMS``), where
ZEN records when each time point was acquired and which pylibCZIrw does not
expose.

Layout used (ZISRAW file format)
--------------------------------
* every segment: a 16-byte id, int64 allocated size, int64 used size;
* ``ZISRAWFILE`` at 0: subblock directory position (int64) at byte 84,
  metadata segment position at byte 92, attachment directory position at
  byte 104;
* ``ZISRAWMETADATA``: int32 XML size, int32 attachment size, 248 reserved
  bytes, the XML;
* ``ZISRAWDIRECTORY``: int32 entry count, 124 reserved bytes, then entries
  ``"DV"``, int32 pixel type, int64 file position, int32 file part, int32
  compression, a pyramid byte, 5 reserved bytes, int32 dimension count and
  that many 20-byte dimension entries (id, start, size, start coordinate,
  stored size);
* ``ZISRAWSUBBLOCK``: int32 metadata size, int32 attachment size, int64 data
  size and its directory entry (together padded to at least 256 bytes), then
  the metadata, the data and the attachment;
* ``ZISRAWATTDIR``: int32 entry count, 252 reserved bytes, then 128-byte
  entries (``"A1"``, 10 reserved bytes, int64 file position, int32 file
  part, 16-byte GUID, 8-byte content type, 80-byte name);
* ``ZISRAWATTACH``: data 256 bytes after the segment header; ``CZTIMS`` data
  are an int32 size, an int32 count and that many float64 seconds.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..errors import FileFormatError

SEGMENT_HEADER = 32
DIRECTORY_OFFSET = 84
METADATA_OFFSET = 92

#: most bytes of XML metadata (ZEN writes some 100 kB to a few MB)
MAX_XML_BYTES = 64 * 2**20
ATTACHMENT_DIRECTORY_OFFSET = 104
ENTRY_BYTES = 128
ATTACHMENT_DATA_OFFSET = SEGMENT_HEADER + 256
MAX_ENTRIES = 10_000
TIME_STAMPS_TYPE = b"CZTIMS"

#: the dimensions a subblock may carry
DIMENSIONS = frozenset(b"XYZCTRIHVBSM")

#: bytes per pixel of libCZI's pixel types (uncompressed data must hold them)
PIXEL_BYTES = {0: 1, 1: 2, 2: 4, 3: 3, 4: 6, 8: 12, 9: 4, 10: 16, 11: 48, 12: 4, 13: 8}

#: most subblocks a file may list
MAX_SUBBLOCKS = 10_000_000

ENTRY_FIXED = 32
DIMENSION_ENTRY = 20
SUBBLOCK_FIXED = 16
SUBBLOCK_HEADER_MIN = 256


def _segment(handle, position: int, size: int, name: bytes, where: str) -> tuple[int, int]:
    """(allocated, used) of the segment `name` at `position`, checked to lie in the file."""
    header = _read(handle, position, SEGMENT_HEADER, size)
    if header is None or header[:16].rstrip(b"\x00") != name:
        raise FileFormatError(f"{where}: no {name.decode()} segment at byte {position:,} "
                              "(damaged CZI file)")
    allocated, used = struct.unpack_from("<qq", header, 16)
    if not 0 <= used <= allocated or position + SEGMENT_HEADER + used > size:
        raise FileFormatError(f"{where}: the {name.decode()} segment at byte {position:,} "
                              "runs past the end of the file (truncated or damaged CZI file)")
    return allocated, used


def _entries(data: bytes, count: int, where: str):
    """Every directory entry of `data`: (pixel type, position, compression, dimensions)."""
    offset = 0
    for _ in range(count):
        if offset + ENTRY_FIXED > len(data) or data[offset:offset + 2] != b"DV":
            raise FileFormatError(f"{where}: the subblock directory is damaged")
        pixel_type, position, _, compression = struct.unpack_from("<iqii", data, offset + 2)
        (dimension_count,) = struct.unpack_from("<i", data, offset + 28)
        end = offset + ENTRY_FIXED + DIMENSION_ENTRY * dimension_count
        if not 2 <= dimension_count <= len(DIMENSIONS) or end > len(data):
            raise FileFormatError(f"{where}: a subblock directory entry declares "
                                  f"{dimension_count} dimensions (damaged CZI file)")
        dimensions = {}
        for index in range(dimension_count):
            name, start, extent, _, stored = struct.unpack_from(
                "<4siifi", data, offset + ENTRY_FIXED + DIMENSION_ENTRY * index)
            name = name.rstrip(b"\x00 ")
            if len(name) != 1 or name[0] not in DIMENSIONS or extent < 0 or stored < 0:
                raise FileFormatError(f"{where}: a subblock directory entry has a damaged "
                                      "dimension")
            dimensions[name.decode()] = (start, extent, stored)
        yield pixel_type, position, compression, dimensions, data[offset:end]
        offset = end


def check_structure(path: Path) -> None:
    """Refuse a CZI file whose header, subblock directory or subblocks are inconsistent.

    Raises
    ------
    FileFormatError
        One line naming the file and what is wrong.
    """
    where = path.name
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = _read(handle, 0, ATTACHMENT_DIRECTORY_OFFSET + 8, size)
        if header is None or not header.startswith(b"ZISRAWFILE"):
            raise FileFormatError(f"{where}: not a Zeiss CZI file (no ZISRAWFILE header)")
        (directory,) = struct.unpack_from("<q", header, DIRECTORY_OFFSET)
        (metadata,) = struct.unpack_from("<q", header, METADATA_OFFSET)
        if metadata > 0:
            _check_metadata(handle, metadata, size, where)
        _, used = _segment(handle, directory, size, b"ZISRAWDIRECTORY", where)
        data = _read(handle, directory + SEGMENT_HEADER, used, size) or b""
        if len(data) < 128:
            raise FileFormatError(f"{where}: the subblock directory is damaged")
        (count,) = struct.unpack_from("<i", data, 0)
        if not 0 <= count <= min(MAX_SUBBLOCKS, (len(data) - 128) // ENTRY_FIXED):
            raise FileFormatError(f"{where}: the subblock directory lists {count:,} subblocks "
                                  "(damaged CZI file)")
        for pixel_type, position, compression, dimensions, entry in _entries(
                data[128:], count, where):
            _check_subblock(handle, size, where, pixel_type, position, compression,
                            dimensions, entry)


def _check_metadata(handle, position: int, size: int, where: str) -> None:
    """Refuse a metadata segment whose XML does not fit it or exceeds :data:`MAX_XML_BYTES`."""
    _, used = _segment(handle, position, size, b"ZISRAWMETADATA", where)
    head = _read(handle, position + SEGMENT_HEADER, 8, size)
    xml_size, attachment = struct.unpack_from("<ii", head or bytes(8), 0)
    if head is None or min(xml_size, attachment) < 0 or \
            SUBBLOCK_HEADER_MIN + xml_size + attachment > used:
        raise FileFormatError(f"{where}: the metadata segment is damaged")
    if xml_size > MAX_XML_BYTES:
        raise FileFormatError(f"{where}: the XML metadata are {xml_size:,} bytes long "
                              f"(limit {MAX_XML_BYTES:,})")


def _check_subblock(handle, size: int, where: str, pixel_type: int, position: int,
                    compression: int, dimensions: dict, entry: bytes) -> None:
    allocated, used = _segment(handle, position, size, b"ZISRAWSUBBLOCK", where)
    head = _read(handle, position + SEGMENT_HEADER, SUBBLOCK_FIXED + len(entry), size)
    if head is None:
        raise FileFormatError(f"{where}: a subblock at byte {position:,} is truncated")
    metadata, attachment, data = struct.unpack_from("<iiq", head, 0)
    if head[SUBBLOCK_FIXED:] != entry:
        raise FileFormatError(f"{where}: the subblock at byte {position:,} does not match its "
                              "directory entry (damaged CZI file)")
    needed = max(SUBBLOCK_HEADER_MIN, SUBBLOCK_FIXED + len(entry)) + metadata + data + \
        attachment
    if min(metadata, attachment, data) < 0 or needed > used:
        raise FileFormatError(f"{where}: the subblock at byte {position:,} declares more data "
                              "than its segment holds (damaged CZI file)")
    if compression == 0:  # uncompressed: the data must hold every stored pixel
        bytes_per_pixel = PIXEL_BYTES.get(pixel_type)
        if bytes_per_pixel is None:
            raise FileFormatError(f"{where}: a subblock has the unknown pixel type {pixel_type}")
        stored = dimensions.get("X", (0, 0, 0))[2] * dimensions.get("Y", (0, 0, 0))[2]
        if stored * bytes_per_pixel > data:
            raise FileFormatError(f"{where}: the subblock at byte {position:,} holds "
                                  f"{data:,} bytes for {stored:,} pixels (damaged CZI file)")


def _read(handle, position: int, count: int, size: int) -> bytes | None:
    if position < 0 or count < 0 or position + count > size:
        return None
    handle.seek(position)
    data = handle.read(count)
    return data if len(data) == count else None


def read_time_stamps(path: Path, max_count: int) -> np.ndarray | None:
    """The CZTIMS time stamps [s] of `path` (at most `max_count` + 1 read), or None."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            return _time_stamps(handle, size, max_count)
    except (OSError, struct.error, ValueError):
        return None


def _time_stamps(handle, size: int, max_count: int) -> np.ndarray | None:
    header = _read(handle, 0, ATTACHMENT_DIRECTORY_OFFSET + 8, size)
    if header is None or not header.startswith(b"ZISRAWFILE"):
        return None
    (directory,) = struct.unpack_from("<q", header, ATTACHMENT_DIRECTORY_OFFSET)
    head = _read(handle, directory, SEGMENT_HEADER + 4, size) if directory > 0 else None
    if head is None or not head.startswith(b"ZISRAWATTDIR"):
        return None
    (count,) = struct.unpack_from("<i", head, SEGMENT_HEADER)
    if not 0 < count <= MAX_ENTRIES:
        return None
    entries = _read(handle, directory + SEGMENT_HEADER + 256, count * ENTRY_BYTES, size)
    if entries is None:
        return None
    for index in range(count):
        entry = entries[index * ENTRY_BYTES:(index + 1) * ENTRY_BYTES]
        if entry[40:48].rstrip(b"\x00 ") != TIME_STAMPS_TYPE:
            continue
        (position,) = struct.unpack_from("<q", entry, 12)
        segment = _read(handle, position, ATTACHMENT_DATA_OFFSET + 8, size)
        if segment is None or not segment.startswith(b"ZISRAWATTACH"):
            return None
        (data_size,) = struct.unpack_from("<i", segment, SEGMENT_HEADER)
        _, number = struct.unpack_from("<ii", segment, ATTACHMENT_DATA_OFFSET)
        if not 0 < number <= max_count + 1 or 8 + 8 * number > data_size:
            return None
        values = _read(handle, position + ATTACHMENT_DATA_OFFSET + 8, 8 * number, size)
        if values is None:
            return None
        stamps = np.frombuffer(values, dtype="<f8").astype(float)
        return stamps if np.all(np.isfinite(stamps)) else None
    return None


__all__ = ["check_structure", "read_time_stamps"]
