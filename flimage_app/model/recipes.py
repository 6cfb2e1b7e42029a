"""Re-apply a recipe: run the operation recorded in a provenance record again.

Above the engines (bleach correction, denoising), which write the record
through :mod:`flimage_app.model.provenance`; the record itself sits below
them, so that no engine imports this module.
"""

from __future__ import annotations

from .bleach import correct_series
from .denoise import denoise_series
from .errors import FileFormatError


def reapply(provenance: dict, series, output, **options):
    """Run the operation recorded in `provenance` on `series`, writing to `output`.

    Same method, parameters and masks; `options` (e.g. ``progress``,
    ``cancel``, ``overwrite``, or ``source`` for a correction that was
    measured on one series and applied to another) are passed on.  Returns what the operation
    returns (a BleachResult for a bleach correction, None for denoising).
    """
    operation = provenance.get("operation")
    parameters = dict(provenance.get("parameters", {}))
    if operation == "bleach correction":
        method = parameters.pop("method", provenance.get("method"))
        masks = provenance.get("masks") or {}
        return correct_series(series, output, method, **parameters,
                              signal_mask=masks.get("signal_mask"),
                              background_mask=masks.get("background_mask"), **options)
    if operation == "denoise":
        return denoise_series(series, output, weight=parameters["weight"], **options)
    raise FileFormatError(f"Unknown operation {operation!r} in the provenance record")
