"""Microscope vendors' files read as :class:`~flimage_app.model.planes.PlaneStack`.

One module per format, each on the format's own well-kept reader (imported
only when a file of that format is opened, so that each is an optional
install extra):

=========  ================================  =====================
format     reader (PyPI)                     extra
=========  ================================  =====================
OME-Zarr   ``zarr`` (v2 and v3 stores)       ``flimage-app[zarr]``
CZI        ``pylibCZIrw`` (ZEISS' libCZI)    ``flimage-app[czi]``
ND2        ``nd2``                           ``flimage-app[nd2]``
LIF        ``readlif``                       ``flimage-app[lif]``
=========  ================================  =====================

``flimage-app[formats]`` installs all of them.  Every reader is an
untrusted-input boundary: declared sizes are checked before anything is
allocated, and any failure is one :class:`FileFormatError` line naming the
file.

An OME-Zarr image is a folder.  :func:`open_vendor` and :func:`scene_names`
accept the folder, or its metadata file (``zarr.json``, ``.zattrs`` or
``.zgroup``) so that a file dialog can pick it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import FileFormatError
from ..planes import PlaneStack

#: file suffixes of the vendor formats (an OME-Zarr folder usually ends in ".zarr"
#: or ".ome.zarr"; any folder holding Zarr metadata is one too, see is_vendor_path)
VENDOR_SUFFIXES = (".czi", ".nd2", ".lif", ".zarr")

#: the metadata files at the root of a Zarr group (v3, v2 attributes, v2 group)
ZARR_METADATA_FILES = ("zarr.json", ".zattrs", ".zgroup")

_FILE_KINDS = {".czi": "CZI", ".nd2": "ND2", ".lif": "LIF"}


def _is_zarr_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in ZARR_METADATA_FILES)


def vendor_kind(path: str | os.PathLike) -> str | None:
    """"CZI", "ND2", "LIF", "OME-Zarr" or None, from the name (and, for Zarr, the folder)."""
    path = Path(path)
    kind = _FILE_KINDS.get(path.suffix.lower())
    if kind is not None:
        return kind
    if path.name in ZARR_METADATA_FILES:
        return "OME-Zarr"
    if path.suffix.lower() == ".zarr" or _is_zarr_folder(path):
        return "OME-Zarr"
    return None


def is_vendor_path(path: str | os.PathLike) -> bool:
    """Whether `path` is for :func:`open_vendor`: a .czi / .nd2 / .lif file or an OME-Zarr.

    True for a ``.zarr`` name, a folder holding Zarr metadata, and a Zarr
    metadata file (``zarr.json``, ``.zattrs``, ``.zgroup``) itself.  The loader
    asks this before it refuses a folder.  Whether the file is readable is
    :func:`open_vendor`'s question.
    """
    return vendor_kind(path) is not None


def zarr_root(path: str | os.PathLike) -> Path:
    """The OME-Zarr folder that `path` (the folder or its metadata file) names."""
    path = Path(path)
    return path.parent if path.name in ZARR_METADATA_FILES else path


def _checked_path(path: str | os.PathLike) -> tuple[Path, str]:
    path = Path(path)
    kind = vendor_kind(path)
    if kind is None:
        raise FileFormatError(f"{path.name}: not a CZI, ND2, LIF or OME-Zarr file")
    if kind == "OME-Zarr":
        path = zarr_root(path)
        if not path.exists():
            raise FileFormatError(f"{path}: no such folder")
        if not path.is_dir():
            raise FileFormatError(f"{path.name}: an OME-Zarr image is a folder; this is a "
                                  "file (zipped Zarr stores are not read: unzip it first)")
        if not os.access(path, os.R_OK | os.X_OK):
            raise FileFormatError(f"{path}: permission denied (the folder is not readable)")
        return path, kind
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if path.is_dir():
        raise FileFormatError(f"{path}: is a folder, not a file")
    if not os.access(path, os.R_OK):
        raise FileFormatError(f"{path}: permission denied (the file is not readable)")
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path}: the file is empty")
    return path, kind


def _module(kind: str):
    if kind == "CZI":
        from . import czi as module
    elif kind == "ND2":
        from . import nd2 as module
    elif kind == "LIF":
        from . import lif as module
    else:
        from . import ome_zarr as module
    return module


def open_vendor(path: str | os.PathLike, scene: int = 0) -> PlaneStack:
    """Scene `scene` of a vendor file as a PlaneStack (metadata only; planes read lazily).

    Call :meth:`PlaneStack.release` (or use it as a context manager) to close
    the file.

    Raises
    ------
    FileFormatError
        One line naming the file: missing optional reader (naming the extra),
        damaged file, axes the app does not read, scene out of range.
    """
    path, kind = _checked_path(path)
    return _module(kind).open_stack(path, scene)


def scene_names(path: str | os.PathLike) -> list[str]:
    """Names of the scenes (positions, series) of a vendor file; reads no pixels."""
    path, kind = _checked_path(path)
    return _module(kind).scene_names(path)


__all__ = ["VENDOR_SUFFIXES", "ZARR_METADATA_FILES", "is_vendor_path", "open_vendor",
           "scene_names", "vendor_kind", "zarr_root"]
