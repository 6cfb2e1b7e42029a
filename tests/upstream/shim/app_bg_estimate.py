"""qpimage.bg_estimate's interface, served by the app's estimator (flimage_app.model.background).

``upstream_plugin`` installs this module as ``qpimage.bg_estimate`` when
qpimage's background tests run, so that ``QPImage.compute_bg`` and
``qpimage.integrity_check`` compute backgrounds with the app's code.
"""

from flimage_app.model.background import (
    VALID_FIT_OFFSETS,
    VALID_FIT_PROFILES,
    estimate,
    offset_gaussian,
    offset_mode,
)

__all__ = ["VALID_FIT_OFFSETS", "VALID_FIT_PROFILES", "estimate", "offset_gaussian",
           "offset_mode"]
