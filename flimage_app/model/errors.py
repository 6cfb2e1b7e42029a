"""Exceptions of the model layer.

Every error a user can cause with a file or a parameter derives from
:class:`FLImageAppError` and carries a one-line message fit for a dialog or
for stderr.
"""


class FLImageAppError(Exception):
    """Base class of the app's own, user-facing errors."""


class FileFormatError(FLImageAppError, ValueError):
    """A file is missing, damaged, or not of a kind the app reads."""


class FitError(FLImageAppError, RuntimeError):
    """A curve fit failed or the data do not show what the model describes."""


class Cancelled(FLImageAppError):
    """The user cancelled a long-running operation."""
