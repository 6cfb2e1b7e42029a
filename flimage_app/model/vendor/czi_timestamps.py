"""The ``TimeStamps`` attachment of a CZI file: the acquisition's time stamp per time point.

ZEN records when each time point was acquired in an attachment (content type
``CZTIMS``) that pylibCZIrw does not expose.  Its layout (ZISRAW file format):

* file header segment ``ZISRAWFILE``: the attachment directory's position is
  the int64 at byte 104 of the file;
* ``ZISRAWATTDIR``: after the 32-byte segment header, an int32 entry count,
  252 reserved bytes, then 128-byte entries (``"A1"``, 10 reserved bytes,
  int64 file position, int32 file part, 16-byte GUID, 8-byte content type,
  80-byte name);
* ``ZISRAWATTACH`` at an entry's position: its data start 256 bytes after the
  segment header, and for ``CZTIMS`` are an int32 size, an int32 count and
  that many float64 time stamps in seconds.

Everything is read with bounded reads; any inconsistency means "no time
stamps" (the caller falls back to the XML metadata), never an exception.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

SEGMENT_HEADER = 32
ATTACHMENT_DIRECTORY_OFFSET = 104
ENTRY_BYTES = 128
ATTACHMENT_DATA_OFFSET = SEGMENT_HEADER + 256
MAX_ENTRIES = 10_000
TIME_STAMPS_TYPE = b"CZTIMS"


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


__all__ = ["read_time_stamps"]
