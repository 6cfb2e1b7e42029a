"""FLImage: one fluorescence image with its background and metadata, in HDF5.

The layout is flimage's, so files move freely between the app, scripts and
flimage 0.3.3::

    <root>                      attrs: metadata keys only (see meta.META_KEYS)
    <root>/fluorescence/raw     float32 image
    <root>/fluorescence/bg_data/data, /fit   backgrounds, summed into bg_fl
    <root>/fluorescence/estimate_bg_from_mask  bool mask of the last fit

Unlike flimage, opening a file writes nothing to it: version attributes are
written only when image data is written, and a file opened with ``"r"``
stays untouched.
"""

from __future__ import annotations

import errno
import os
import uuid
import warnings
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from . import background as bg_estimate
from . import validate
from .errors import FileFormatError, ReadOnlyError, file_open_error
from .h5io import copy_group, write_image_dataset
from .meta import DATA_KEYS, META_DEF, MetaDict, check_key, check_value
from .names import FLIMAGE_FORMAT_VERSION, QPIMAGE_FORMAT_VERSION

#: background keys flimage knows
VALID_BG_KEYS: tuple[str, ...] = ("data", "fit")

def new_in_memory_file(prefix: str) -> h5py.File:
    """An HDF5 file that lives in memory only.

    HDF5 refuses a second in-memory file of the same name while the first is
    open, so the name must be unique in the process: ``flimage_app-`` keeps it
    apart from flimage's ``flimage{N}.h5`` (a notebook may use both
    libraries), and a random UUID from every other app object, whatever
    counters other code keeps.
    """
    return h5py.File(f"flimage_app-{prefix}-{uuid.uuid4().hex}.h5", mode="w", driver="core",
                     backing_store=False)


def open_h5(h5file, h5mode: str, prefix: str) -> tuple[h5py.Group, bool]:
    """Resolve the `h5file` argument of FLImage / FLSeries.

    Returns the group to use and whether this object owns (and must close) it.
    """
    if isinstance(h5file, h5py.Group):
        return h5file, False
    if h5file is None:
        return new_in_memory_file(prefix), True
    if not isinstance(h5file, (str, os.PathLike)):
        raise ValueError(f"`h5file` must be a path, an h5py.Group or None, got {h5file!r}")
    if h5mode not in ("r", "r+", "w", "w-", "x", "a"):
        raise ValueError(f"`h5mode` must be one of 'r', 'r+', 'w', 'w-', 'x', 'a'; got {h5mode!r}")
    try:
        return h5py.File(h5file, mode=h5mode), True
    except FileNotFoundError:
        raise FileNotFoundError(f"No such file: {os.fspath(h5file)}") from None
    except FileExistsError:
        raise FileExistsError(f"File exists: {os.fspath(h5file)}") from None
    except OSError as exc:
        raise file_open_error(h5file, exc) from None


def check_internal(group: h5py.Group, name: str) -> None:
    """Refuse to follow ``group[name]`` out of the file (or round a link loop).

    Files are untrusted input: an external link could make the app read (or,
    for a writable file, write) another file than the one the user opened.
    See :func:`flimage_app.model.validate.member`.
    """
    validate.member(group, name)


def is_writable(group: h5py.Group) -> bool:
    return group.file.mode != "r"


def python_value(value: Any) -> Any:
    """HDF5 attribute value as a plain Python object (bytes → str, numpy scalar → scalar)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_meta(group: h5py.Group) -> MetaDict:
    """The metadata attributes of `group`, each read by name and checked.

    Attributes that are not metadata keys are never read; values of the wrong
    shape or type are treated as missing with a warning
    (:func:`flimage_app.model.validate.read_metadata`).
    """
    return MetaDict(validate.read_metadata(group))


class H5Backed:
    """An object kept in an HDF5 group (`h5`); closes the file it opened itself.

    Used as a context manager, as in flimage.
    """

    h5: h5py.Group
    _owns_h5: bool

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the file if this object opened it."""
        if self._owns_h5 and self.h5.id.valid:
            self.h5.file.close()


class FLImage(H5Backed):
    """Fluorescence image with background correction and metadata.

    Parameters
    ----------
    data : 2-D array-like or None
        The raw fluorescence image.
    meta_data : mapping
        Metadata, keys from :data:`flimage_app.model.meta.META_KEYS` (SI units).
    h5file : path, h5py.Group or None
        Where the data live: None keeps them in memory; a path opens that
        file with `h5mode`; a group stores them inside it.
    h5mode : {"a", "r", "r+", "w", "w-", "x"}
        h5py file mode, used when `h5file` is a path.
    h5dtype : str
        Data type in which images are stored.
    """

    def __init__(self, data=None, meta_data: Mapping[str, Any] = {}, h5file=None,
                 h5mode: str = "a", h5dtype: str = "float32") -> None:
        if data is not None and not isinstance(data, (np.ndarray, list, tuple)):
            message = "`data` must be a 2-D numpy array"
            if isinstance(data, (str, os.PathLike)):
                message += f"; did you mean `h5file={data!r}`?"
            raise ValueError(message)
        meta = MetaDict(meta_data)
        self.h5dtype = h5dtype
        self.h5, self._owns_h5 = open_h5(h5file, h5mode, "flimage")
        try:
            self._init_content(data, meta)
        except BaseException:
            self.close()
            raise

    def _init_content(self, data, meta: MetaDict) -> None:
        if data is not None:
            data = np.asarray(data)
            if data.ndim != 2:
                raise ValueError(f"`data` must be a 2-D image, got shape {data.shape}")
            if np.iscomplexobj(data):
                raise ValueError("`data` must be real-valued fluorescence, not complex")
        if "fluorescence" in self.h5:
            self._check_links()
        if not is_writable(self.h5):
            if data is not None or meta:
                raise ReadOnlyError(f"{self._where()}: cannot write data or metadata, the "
                                    "file is open read-only (h5mode='r')")
            if "fluorescence" not in self.h5 or "raw" not in self.h5["fluorescence"]:
                raise FileFormatError(f"{self._where()} holds no FLImage (no fluorescence/raw)")
            return
        for key, value in meta.items():
            self.h5.attrs[key] = check_value(key, value)
        group = self.h5.require_group("fluorescence")
        group.require_group("bg_data")
        if data is not None:
            write_image_dataset(group, "raw", data, self.h5dtype)
            self._write_versions()

    def _check_links(self) -> None:
        group = validate.group_member(self.h5, "fluorescence")
        for name in ("raw", "bg_data", "estimate_bg_from_mask"):
            check_internal(group, name)
        self._bg_group()

    def _write_versions(self) -> None:
        self.h5.attrs.setdefault("qpimage version", QPIMAGE_FORMAT_VERSION)
        self.h5.attrs.setdefault("flimage version", FLIMAGE_FORMAT_VERSION)

    def _where(self) -> str:
        return f"{self.h5.file.filename}:{self.h5.name}"

    # ----------------------------------------------------------- protocol
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FLImage) or self.shape != other.shape:
            return False
        mine = {k: v for k, v in self.meta.items() if k in DATA_KEYS}
        theirs = {k: v for k, v in other.meta.items() if k in DATA_KEYS}
        return mine == theirs and bool(np.allclose(self.fl, other.fl))

    __hash__ = None  # mutable, compared by content

    def __contains__(self, key: str) -> bool:
        return key in self.h5.attrs and key in META_DEF

    def __getitem__(self, given):
        """``fli["key"]`` reads metadata; ``fli[rows, cols]`` returns a new in-memory FLImage.

        A slice keeps the background: the combined background, sliced, becomes
        the "data" background of the new image, so ``fli[s].fl == fli.fl[s]``.
        """
        if isinstance(given, str):
            return self.meta[given]
        if isinstance(given, (slice, tuple)):
            sliced = FLImage(data=self.raw_fl[given], meta_data=self.meta, h5dtype=self.h5dtype)
            if self.bg_keys:
                sliced.set_bg_data(self.bg_fl[given])
            return sliced
        raise ValueError("Index an FLImage with a metadata key or with slices")

    def __setitem__(self, key: str, value: Any) -> None:
        check_key(key)
        if not is_writable(self.h5):
            raise ReadOnlyError(f"{self._where()}: cannot set {key!r}, the file is open "
                                "read-only")
        self.h5.attrs[key] = check_value(key, value)

    def __repr__(self) -> str:
        ident = self.meta.get("identifier", hex(id(self)))
        try:
            rows, cols = self.shape
            return f"FLImage <{ident}>, {rows}x{cols}px"
        except (KeyError, ValueError):
            return f"FLImage <{ident}>, empty"

    # ----------------------------------------------------------- data
    @property
    def _fl_group(self) -> h5py.Group:
        group = validate.group_member(self.h5, "fluorescence")
        if group is None:
            raise FileFormatError(f"{validate.object_name(self.h5)} holds no FLImage "
                                  "(no fluorescence group)")
        return group

    def _raw_dataset(self) -> h5py.Dataset:
        """The checked raw image dataset (kind, shape, type, storage, size)."""
        group = self._fl_group
        return validate.check_image(validate.member(group, "raw"),
                                    validate.object_name(group, "raw"))

    def _bg_group(self) -> h5py.Group | None:
        group = validate.group_member(self._fl_group, "bg_data")
        if group is not None and len(group) > validate.MAX_BACKGROUNDS:
            raise validate.refuse(validate.object_name(group), f"holds {len(group)} "
                                  f"backgrounds (at most {validate.MAX_BACKGROUNDS} are read)")
        return group

    def _background(self, bg_group: h5py.Group, key: str) -> np.ndarray:
        """One stored background, checked: a number or an image of the raw image's shape."""
        return validate.read_background(bg_group, key, self.shape)

    @property
    def raw_fl(self) -> np.ndarray:
        """Raw fluorescence image, as stored."""
        dset = self._raw_dataset()
        return validate.read_array(dset, validate.object_name(dset))

    @property
    def bg_keys(self) -> list[str]:
        """Names of the backgrounds stored (a subset of "data", "fit")."""
        group = self._bg_group()
        return list(group.keys()) if group is not None else []

    @property
    def bg_fl(self) -> np.ndarray:
        """Combined background image: the sum of all stored backgrounds (float64)."""
        combined = np.zeros(self.shape, dtype=float)
        bg_group = self._bg_group()
        if bg_group is not None:
            for key in bg_group:
                combined += self._background(bg_group, key)
        return combined

    @property
    def fl(self) -> np.ndarray:
        """Background-corrected fluorescence image, raw − background (float64)."""
        raw = self.raw_fl
        if not self.bg_keys:
            return raw.astype(float)
        return raw - self.bg_fl

    fluorescence = fl

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape (rows, columns)."""
        return tuple(self._raw_dataset().shape)

    @property
    def dtype(self) -> np.dtype:
        """Data type of the stored raw image."""
        return self._raw_dataset().dtype

    @property
    def meta(self) -> MetaDict:
        """Metadata of this image (a validated dictionary, SI units)."""
        return read_meta(self.h5)

    @property
    def info(self) -> list[tuple[str, Any]]:
        """(name, value) pairs of metadata and background settings."""
        info = list(self.meta.items())
        bg_group = self._bg_group()
        for key in VALID_BG_KEYS:
            if bg_group is not None and key in bg_group:
                for name, value in _fit_settings(validate.member(bg_group, key)).items():
                    info.append((f"fluorescence background {name}", value))
        if bg_group is not None and "fit" in bg_group:
            info.append(("fluorescence background from mask",
                         "estimate_bg_from_mask" in self._fl_group))
        return info

    # ----------------------------------------------------------- background
    def get_bg(self, key: str | None = None, ret_attrs: bool = False):
        """A stored background ("data" or "fit"), or the combined one with ``key=None``."""
        if key is None:
            if ret_attrs:
                raise ValueError("The combined background has no attributes")
            return self.bg_fl
        _check_bg_key(key)
        bg_group = self._bg_group()
        if bg_group is None or key not in bg_group:
            raise KeyError(f"No {key!r} background is stored in {self!r}")
        data = self._background(bg_group, key)
        if ret_attrs:
            return data, _fit_settings(validate.member(bg_group, key))
        return data

    def _set_bg(self, key: str, value, attrs: Mapping[str, Any] | None = None) -> None:
        _check_bg_key(key)
        if not is_writable(self.h5):
            if value is None and key not in self.bg_keys:
                return  # nothing to remove, nothing to write: flimage does nothing either
            raise ReadOnlyError(f"{self._where()}: cannot change the background, the file is "
                                "open read-only")
        bg_group = self._fl_group.require_group("bg_data")
        if key in bg_group:
            del bg_group[key]
        if value is None:
            return
        value = np.asarray(value, dtype=float)
        if value.ndim != 0 and value.shape != self.shape:
            raise ValueError(f"Background of shape {value.shape} does not match the image "
                             f"shape {self.shape}")
        dset = write_image_dataset(bg_group, key, value, self.h5dtype)
        for name, attr in (attrs or {}).items():
            dset.attrs[name] = attr

    def set_bg_data(self, bg_data) -> None:
        """Set the experimental ("data") background: an image, an FLImage (its `fl`), or None."""
        if isinstance(bg_data, FLImage):
            bg_data = bg_data.fl
        self._set_bg("data", bg_data)

    def del_bg(self, key: str) -> None:
        """Remove the "data" or "fit" background (a warning if there is none)."""
        _check_bg_key(key)
        if key in self.bg_keys:
            self._set_bg(key, None)
            if key == "fit" and "estimate_bg_from_mask" in self._fl_group:
                del self._fl_group["estimate_bg_from_mask"]
        else:
            warnings.warn(f"No {key!r} background to remove in {self!r}", stacklevel=2)

    def estimate_bg(self, fit_offset: str = "mean", fit_profile: str = "tilt",
                    border_px: float = 0, from_mask: np.ndarray | None = None,
                    ret_mask: bool = False):
        """Fit the background and store it as the "fit" background.

        The fit runs on the image corrected for the "data" background only.
        See :func:`flimage_app.model.background.estimate` for the parameters.
        The settings are stored as attributes of ``bg_data/fit`` and the mask
        as ``fluorescence/estimate_bg_from_mask``, as flimage does.
        """
        if not is_writable(self.h5):
            raise ReadOnlyError(f"{self._where()}: cannot estimate the background, the file "
                                "is open read-only")
        raw = self.raw_fl
        bg_group = self._bg_group()
        image = (raw - self._background(bg_group, "data")
                 if bg_group is not None and "data" in bg_group else raw.astype(float))
        background, mask = bg_estimate.estimate(image, fit_offset=fit_offset,
                                                fit_profile=fit_profile, border_px=border_px,
                                                from_mask=from_mask, ret_mask=True)
        self._set_bg("fit", background, attrs={"fit_offset": fit_offset,
                                               "fit_profile": fit_profile,
                                               "border_px": border_px})
        if from_mask is None:
            if "estimate_bg_from_mask" in self._fl_group:
                del self._fl_group["estimate_bg_from_mask"]
        else:
            write_image_dataset(self._fl_group, "estimate_bg_from_mask",
                                np.asarray(from_mask, dtype=bool))
        return mask if ret_mask else None

    # ----------------------------------------------------------- copies
    def copy(self, h5file=None) -> FLImage:
        """A copy of this image in memory (None), in a new file (path) or in a group.

        A path that exists is not overwritten (FileExistsError).
        """
        if isinstance(h5file, (str, os.PathLike)):
            if os.path.lexists(h5file):
                # one line instead of h5py's "Unable to synchronously create file (… errno …)"
                raise FileExistsError(errno.EEXIST, "exists; FLImage.copy does not replace a "
                                      "file: remove it or choose another name",
                                      os.fspath(h5file))
            target = h5py.File(h5file, mode="w-")
            copy_group(self.h5, target)
            return FLImage(h5file=target, h5dtype=self.h5dtype)._owning()
        target = h5file if isinstance(h5file, h5py.Group) else new_in_memory_file("flimage")
        copy_group(self.h5, target)
        copied = FLImage(h5file=target, h5dtype=self.h5dtype)
        return copied._owning() if h5file is None else copied

    def _owning(self) -> FLImage:
        self._owns_h5 = True
        return self


#: The attributes flimage stores with a fitted background, and their kinds.
FIT_SETTINGS: dict[str, str] = {"fit_offset": "text", "fit_profile": "text",
                                "border_px": "number"}


def _fit_settings(dset: h5py.HLObject) -> dict[str, Any]:
    """The background settings stored on `dset`, read by name (nothing else is read)."""
    settings = {}
    for name, kind in FIT_SETTINGS.items():
        value = validate.read_attribute(dset, name, kind)
        if value is not None:
            settings[name] = int(value) if name == "border_px" and value == int(value) else value
    return settings


def _check_bg_key(key: str) -> None:
    if key not in VALID_BG_KEYS:
        raise ValueError(f"Invalid background key {key!r}; use one of {list(VALID_BG_KEYS)}")
