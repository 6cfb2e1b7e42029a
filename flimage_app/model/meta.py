"""Metadata keys of FLImage files, exactly those that flimage 0.3.3 accepts.

flimage validates every root attribute of an FLImage group against this key
list, so nothing else may ever be written there.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

#: Keys every quantitative image should carry, with their meaning and SI unit.
DATA_DEF: dict[str, str] = {
    "pixel size": "detector pixel size [m]",
    "time": "acquisition time of the image [s]",
}

#: Optional keys.
OTHER_DEF: dict[str, str] = {
    "angle": "tomographic acquisition angle [rad]",
    "date": "acquisition date 'YYYY-MM-DD'",
    "device": "imaging device used",
    "flimage version": "flimage software version used",
    "focus": "focus position [m]",
    "identifier": "image identifier",
    "numerical aperture": "numerical aperture",
    "pos x": "x position [m]",
    "pos y": "y position [m]",
    "qpimage version": "qpimage software version used",
    "sim center": "simulation: center of object [px]",
    "sim model": "simulation: model used",
    "sim radius": "simulation: object radius [m]",
    "software": "imaging software used",
}

DATA_KEYS: list[str] = sorted(DATA_DEF)
OTHER_KEYS: list[str] = sorted(OTHER_DEF)
#: All valid metadata keys (same order as flimage's ``META_KEYS_FL``).
META_KEYS: list[str] = DATA_KEYS + OTHER_KEYS
META_DEF: dict[str, str] = {**DATA_DEF, **OTHER_DEF}

#: Keys whose values are numbers (everything else is text).
NUMERIC_KEYS: frozenset[str] = frozenset(
    ["pixel size", "time", "angle", "focus", "numerical aperture", "pos x", "pos y",
     "sim radius"])

#: Unit shown next to a key in user interfaces, SI as stored.
META_UNITS: dict[str, str] = {
    "pixel size": "m", "time": "s", "angle": "rad", "focus": "m", "pos x": "m",
    "pos y": "m", "sim radius": "m", "sim center": "px",
}


class MetaKeyError(KeyError):
    """A KeyError whose message reads as a sentence (KeyError would quote it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MetaDataMissingError(MetaKeyError):
    """A valid metadata key has no value in this image."""


def unknown_key_error(key: Any) -> KeyError:
    return MetaKeyError(f"Unknown metadata key {key!r}; valid keys are: {', '.join(META_KEYS)}")


def check_key(key: Any) -> str:
    """Return `key` if it is a valid metadata key, else raise KeyError naming the valid ones."""
    if key not in META_DEF:
        raise unknown_key_error(key)
    return key


def check_value(key: str, value: Any) -> Any:
    """Validate a metadata value for `key` and return it in the form stored in HDF5."""
    check_key(key)
    if key in NUMERIC_KEYS:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"Metadata {key!r} must be a number, got {value!r}") from None
        if key == "pixel size" and not number > 0:
            raise ValueError(f"Metadata 'pixel size' must be positive [m], got {value!r}")
        return number
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class MetaDict(collections.UserDict):
    """Dictionary of metadata that accepts only valid keys.

    Reading a valid key that was never set raises :class:`MetaDataMissingError`
    that says how to set it.
    """

    def __init__(self, data: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__()
        for key, value in dict(data or {}, **kwargs).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        check_key(key)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        super().__setitem__(key, value)

    def __getitem__(self, key: str) -> Any:
        if key in self.data:
            return self.data[key]
        check_key(key)
        raise MetaDataMissingError(
            f"No metadata {key!r} ({META_DEF[key]}) is set. Set it with "
            f"fli[{key!r}] = value, or pass meta_data={{{key!r}: value}} when creating "
            "the image.")
