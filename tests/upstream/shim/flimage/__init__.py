"""``import flimage`` pointed at the app: flimage 0.3.3's own tests run against flimage_app.model.

Only for ``tests/test_upstream_suites.py``, which puts this folder first on
``sys.path`` of a separate Python process; the real flimage stays installed
and is imported everywhere else.
"""

from flimage_app.model import *  # noqa: F403  (flimage's names, from the app)
from flimage_app.model import FLImage, FLSeries
from flimage_app.model.meta import META_KEYS as META_KEYS_FL

#: the flimage release whose user API the app follows
__version__ = "0.3.3"

__all__ = ["FLImage", "FLSeries", "META_KEYS_FL", "__version__"]
