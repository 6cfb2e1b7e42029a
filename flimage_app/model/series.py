"""The file layer of FLSeries: a time series of FLImages in one HDF5 file, read lazily.

Frames are the groups ``fli_0 … fli_{N-1}`` of the series root, each a
complete FLImage (see :mod:`flimage_app.model.image`).  Opening a series
reads no pixels; identifiers are looked up in an index built once from the
frames' attributes, not by opening every frame.

:class:`FLSeriesBase` is everything of flimage's FLSeries except its
processing methods; the engines (bleach, denoise, …) work on it.  The public
:class:`~flimage_app.model.flseries.FLSeries` adds flimage's
``bleach_correction`` and ``denoise`` above the engines, so that imports run
one way (file layer → engines → FLSeries).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterator, Mapping
from typing import Any

import h5py
import numpy as np

from . import validate
from .errors import FileFormatError, FrameIndexError, FrameNotFoundError, ReadOnlyError
from .h5io import copy_group
from .image import FLImage, H5Backed, is_writable, open_h5
from .meta import MetaDict, check_key, check_value
from .names import APP_GROUP, FRAME_PREFIX, frame_name

__all__ = ["APP_GROUP", "FRAME_PREFIX", "FLSeriesBase", "frame_name"]

_TEXT = h5py.string_dtype("utf-8")


class FLSeriesBase(H5Backed):
    """Series of fluorescence images (the file layer; see :class:`FLSeries` for flimage's API).

    Parameters
    ----------
    flimage_list : list of FLImage
        Images appended to the series in this order.
    meta_data : mapping
        Metadata that overrides the metadata of every frame.
    h5file : path, h5py.Group or None
        Where the series lives (None: in memory).
    h5mode : {"a", "r", "r+", "w", "w-", "x"}
        h5py file mode, used when `h5file` is a path.
    identifier : str or None
        Identifier of the whole series.
    """

    # flimage's signature, defaults included; the defaults are never mutated
    def __init__(self, flimage_list: list[FLImage] = [],  # noqa: B006
                 meta_data: Mapping[str, Any] = {}, h5file=None, h5mode: str = "a",
                 identifier: str | None = None) -> None:
        if flimage_list and not isinstance(flimage_list, list):
            message = "`flimage_list` must be a list of FLImage"
            if isinstance(flimage_list, (str, os.PathLike)):
                message += f"; did you mean `h5file={flimage_list!r}`?"
            raise ValueError(message)
        if meta_data and h5mode == "r":
            raise ValueError("`h5mode` must not be 'r' if `meta_data` is given")
        meta = MetaDict(meta_data)
        self.h5, self._owns_h5 = open_h5(h5file, h5mode, "flseries")
        try:
            if "fluorescence" in self.h5:
                raise ValueError(f"{self.h5.file.filename} is an FLImage file, not an FLSeries "
                                 "file; open it with FLImage")
            self._length: int | None = None
            self._identifier_index: dict[str, int] | None = None
            for fli in flimage_list:
                self.add_flimage(fli)
            if meta:
                for index in range(len(self)):
                    attrs = self.frame_group(index).attrs
                    for key, value in meta.items():
                        attrs[key] = check_value(key, value)
            if identifier:
                self.h5.attrs["identifier"] = identifier
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------- protocol
    def __len__(self) -> int:
        if self._length is None:
            self._length = sum(1 for key in self.h5 if key.startswith(FRAME_PREFIX))
        return self._length

    def __iter__(self) -> Iterator[FLImage]:
        for index in range(len(self)):
            yield self.get_flimage(index)

    def __getitem__(self, index: int | str) -> FLImage:
        return self.get_flimage(index)

    def __contains__(self, identifier: str) -> bool:
        return identifier in self._identifiers()

    def __repr__(self) -> str:
        ident = self.identifier or hex(id(self))
        return f"FLSeries <{ident}>, {len(self)} frames"

    # ----------------------------------------------------------- properties
    @property
    def identifier(self) -> str | None:
        """Identifier of the series, if set."""
        return validate.read_attribute(self.h5, "identifier", "text")

    def series_meta(self, key: str) -> Any:
        """Metadata `key` stored at the series root, checked, or None if unset or unusable.

        Read by name through the reading boundary
        (:func:`flimage_app.model.validate.read_meta_value`): an array or a
        value of the wrong type is treated as missing with a warning.
        """
        check_key(key)
        return validate.read_meta_value(self.h5, key)

    @property
    def filename(self) -> str | None:
        """Path of the file on disk, or None for an in-memory series."""
        if self.h5.file.driver == "core":
            return None
        return self.h5.file.filename

    @property
    def frame_shape(self) -> tuple[int, int]:
        """Shape of the first frame's raw image."""
        if len(self) == 0:
            raise IndexError("The series has no frames")
        return self._frame_raw_shape(0)

    def _frame_raw_shape(self, index: int) -> tuple[int, int]:
        """Shape of frame `index`'s raw image, checked (no pixels read)."""
        frame = self.frame_group(index)
        raw = validate.member_path(frame, "fluorescence/raw")
        if raw is None:
            raise validate.refuse(validate.object_name(frame), "has no fluorescence/raw image")
        return tuple(validate.check_image(raw, validate.object_name(raw)).shape)

    # ----------------------------------------------------------- frames
    def frame_group(self, index: int) -> h5py.Group:
        """HDF5 group of frame `index` (0 … len − 1); external links are refused."""
        name = frame_name(index)
        group = validate.member(self.h5, name)
        if group is not None and not isinstance(group, h5py.Group):
            raise validate.refuse(validate.object_name(self.h5, name),
                                  f"is {validate._kind_of(group)}, not a frame (a group)")
        if group is None:
            raise FileFormatError(f"Frame {name} is missing in {self.h5.file.filename} "
                                  f"(the series has {len(self)} fli_ groups)")
        return group

    def _identifiers(self) -> dict[str, int]:
        if self._identifier_index is None:
            index: dict[str, int] = {}
            with validate.collected_warnings(
                    f"{self.filename or 'series'}: {{count}} frame identifier(s) are unusable "
                    "and treated as missing (first: {first})"):
                for ii in range(len(self)):
                    ident = self._frame_attribute(ii, "identifier", "text")
                    if ident is not None:
                        index.setdefault(ident, ii)
            self._identifier_index = index
        return self._identifier_index

    def _frame_attribute(self, index: int, name: str, kind: str):
        """Attribute `name` of frame `index` as a number or text (`kind`), or None.

        No pixels are read.  The frame group is opened with low-level calls
        (~3x faster than ``.attrs`` over thousands of frames); the attribute's
        shape and type are checked before it is read
        (:func:`flimage_app.model.validate.read_attribute`): an array where
        one value belongs is treated as missing with a warning.
        """
        name_bytes = frame_name(index).encode()
        try:
            if self.h5.id.links.get_info(name_bytes).type != h5py.h5l.TYPE_HARD:
                raise TypeError("not a hard link: let the checked path decide")
            frame = h5py.Group(h5py.h5g.open(self.h5.id, name_bytes))
        except (KeyError, TypeError, ValueError, OSError, RuntimeError):
            frame = self.frame_group(index)
        return validate.read_attribute(frame, name, kind)

    def identifiers(self) -> list[str | None]:
        """Identifier of every frame (None where a frame has none)."""
        by_index = {ii: ident for ident, ii in self._identifiers().items()}
        return [by_index.get(ii) for ii in range(len(self))]

    def times(self) -> np.ndarray:
        """Acquisition time [s] of every frame, NaN where a frame has none (no pixels read)."""
        label = self.filename or "series"
        with validate.collected_warnings(
                f"{label}: {{count}} frame time(s) are unusable and "
                "treated as missing (first: {first})"):
            times = [validate.check_time(self._frame_attribute(ii, "time", "number"),
                                         f"{label}: {frame_name(ii)}")
                     for ii in range(len(self))]
        return np.array([_float_or_nan(t) for t in times], dtype=float)

    def frame_shapes(self) -> list[tuple[int, ...]]:
        """Shape of every frame's raw image, read from the file's metadata (no pixels)."""
        return [self._frame_raw_shape(ii) for ii in range(len(self))]

    def get_flimage(self, index: int | str) -> FLImage:
        """The frame with this index (negative counts from the end) or identifier.

        Raises
        ------
        KeyError
            No frame with this identifier, or index ≥ the number of frames
            (:class:`~.errors.FrameNotFoundError`, also an IndexError), as in flimage.
        ValueError
            Index < −(number of frames) (:class:`~.errors.FrameIndexError`,
            also an IndexError), as in flimage.
        """
        if isinstance(index, str):
            position = self._identifiers().get(index)
            if position is None:
                raise KeyError(f"No frame with identifier {index!r} in this series")
            return FLImage(h5file=self.frame_group(position))
        if not isinstance(index, numbers.Real):
            raise TypeError(f"Frame index must be an integer or an identifier, got {index!r}")
        length = len(self)
        if index < -length:
            raise FrameIndexError(f"Frame index {index} out of range for a series of {length} "
                                  "frames")
        position = index + length if index < 0 else index
        # flimage looks up the group "fli_<index>": 1.0 or True name no frame
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise FrameNotFoundError(f"No frame at index {index!r} (not an integer) in a series "
                                     f"of {length} frames")
        if position >= length:
            raise FrameNotFoundError(f"Frame index {index} out of range for a series of "
                                     f"{length} frames")
        return FLImage(h5file=self.frame_group(int(position)))

    def add_flimage(self, fli: FLImage, identifier: str | None = None) -> None:
        """Append a copy of `fli` as the next frame.

        Raises
        ------
        ValueError
            `identifier` (or the image's own) is already used in the series.
        """
        source = getattr(fli, "h5", None)
        if not isinstance(source, h5py.Group) or "fluorescence" not in source:
            raise ValueError("`fli` must be an FLImage")
        if identifier is None:
            identifier = validate.read_attribute(source, "identifier", "text")
        if identifier and identifier in self:
            raise ValueError(f"The identifier {identifier!r} already exists in the series; "
                             "give the image another identifier")
        if not is_writable(self.h5):
            raise ReadOnlyError(f"{self.h5.file.filename}: cannot add a frame, the file is "
                                "open read-only")
        index = len(self)
        group = self.h5.create_group(frame_name(index))
        copy_group(source, group)
        if identifier:
            group.attrs["identifier"] = identifier
        self._length = index + 1
        if self._identifier_index is not None and identifier:
            self._identifier_index.setdefault(identifier, index)

    # ----------------------------------------------------------- app data
    def app_group(self, create: bool = False) -> h5py.Group | None:
        """The series' ``flimage_app`` group (provenance, ROIs), or None if absent."""
        if APP_GROUP in self.h5:
            return self.h5[APP_GROUP]
        if create:
            if not is_writable(self.h5):
                raise ReadOnlyError(f"{self.h5.file.filename}: cannot store app data, the file "
                                    "is open read-only")
            return self.h5.create_group(APP_GROUP)
        return None


def _float_or_nan(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
