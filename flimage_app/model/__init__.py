"""The model layer: FLImage / FLSeries files and the processing on them (no Qt here).

The public API is flimage's user API::

    from flimage_app.model import FLImage, FLSeries
"""

from .errors import Cancelled, FileFormatError, FitError, FLImageAppError
from .flseries import FLSeries
from .image import FLImage
from .meta import META_KEYS, MetaDataMissingError

__all__ = ["Cancelled", "FileFormatError", "FitError", "FLImage", "FLImageAppError",
           "FLSeries", "META_KEYS", "MetaDataMissingError"]
