"""Exceptions of the model layer.

Every error a user can cause with a file or a parameter derives from
:class:`FLImageAppError` and carries a one-line message fit for a dialog or
for stderr.  Where flimage 0.3.3 lets an h5py error through, the app's error
is also an instance of h5py's exception type, so that code written for
flimage (``except OSError``, ``except KeyError``) keeps working.
"""

from __future__ import annotations

import os
import re


class FLImageAppError(Exception):
    """Base class of the app's own, user-facing errors."""


class FileFormatError(FLImageAppError, ValueError):
    """A file is missing, damaged, or not of a kind the app reads."""


class FileOpenError(FileFormatError, OSError):
    """HDF5 cannot open a file: an OSError, like h5py's error that flimage raises there."""

    __str__ = BaseException.__str__  # the message alone, not OSError's "[Errno …]" form


class ReadOnlyError(FLImageAppError, OSError, KeyError, ValueError):
    """A write to an image or series whose file is open read-only.

    h5py refuses such a write with KeyError (deleting an attribute or a
    dataset), OSError (creating an attribute) or ValueError (creating a group),
    and flimage lets those through; this error is all three.
    """

    __str__ = BaseException.__str__  # the message alone (KeyError would quote it)


class FrameNotFoundError(KeyError, IndexError):
    """No frame at this index: a KeyError as in flimage, an IndexError as for a sequence."""


class FrameIndexError(ValueError, IndexError):
    """A negative index beyond the first frame: a ValueError as in flimage, and an IndexError."""


class FitError(FLImageAppError, RuntimeError):
    """A curve fit failed or the data do not show what the model describes."""


class Cancelled(FLImageAppError):
    """The user cancelled a long-running operation."""


_TRUNCATED = re.compile(r"truncated file: eof = (\d+).*stored_eof = (\d+)")


def hdf5_open_problem(error: OSError) -> str:
    """What h5py's error on opening a file means, in words for the person who owns the file."""
    text = str(error).splitlines()[0] if str(error) else ""
    truncated = _TRUNCATED.search(text)
    if truncated:
        have, want = (int(number) for number in truncated.groups())
        return (f"the file is incomplete: it has {have:,} of its {want:,} bytes (an interrupted "
                "copy or download?); copy it again from where it came from")
    if "unable to lock file" in text or isinstance(error, BlockingIOError):
        return ("is open in another program (HDF5 file lock); close it there, or copy the "
                "file and open the copy")
    # "Unable to synchronously open file (reason)" → "reason"
    inner = re.search(r"\((.+)\)\s*$", text)
    reason = inner.group(1) if inner else (text or "unreadable")
    return f"damaged HDF5 file ({reason})"


def file_open_error(path: str | os.PathLike, error: OSError) -> FileOpenError:
    """The one-line error for h5py's `error` on opening `path` (raise it ``from None``).

    It keeps h5py's ``errno`` (e.g. EAGAIN for a file locked by another
    process) and names the file; ``str()`` is the message alone.
    """
    problem = FileOpenError(f"{os.fspath(path)}: {hdf5_open_problem(error)}")
    problem.errno, problem.filename = error.errno, os.fspath(path)
    return problem
