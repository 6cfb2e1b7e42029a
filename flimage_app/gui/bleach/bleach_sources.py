"""Where the bleach panel's inputs come from: a series' provenance and its ROI masks.

The state of a series (:class:`~.bleach_state.BleachState`) is made on first
use with the provenance stored in the series (a corrected series shows it).
ROI masks are read from the Background panel's state of the series
(``document.panel_state["background"]`` with a ``roiset``: any series), else
from the Background panel's ``signal_mask()`` / ``background_mask()`` (the
series in front only).  The dependency runs one way: bleach reads background.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from flimage_app.gui.bleach.bleach_state import BleachState, Masks, read_stored_settings
from flimage_app.gui.browser.frame_cache import H5_LOCK

log = logging.getLogger(__name__)


def read_bleach_provenance(document, on_problem=None) -> dict | None:
    """The bleach-correction record stored in `document`'s series, or None.

    A record that the reading boundary refuses (malformed, ill-typed, reaching
    out of the file) is not used; `on_problem(message)` is told why, in one line.
    """
    from flimage_app.model.errors import FileFormatError
    from flimage_app.model.provenance import has_provenance, read_provenance

    try:
        with H5_LOCK:
            if not has_provenance(document.series):
                return None  # most series carry none: nothing to show or to report
            record = read_provenance(document.series)
    except FileFormatError as problem:
        if on_problem is not None:
            on_problem(f"The recorded correction is not used: {problem}")
        return None
    except Exception:  # e.g. an FLImage object without an h5 group: nothing to show
        return None
    return record if record.get("operation") == "bleach correction" else None


def read_saved_settings(document) -> dict | None:
    """Bleach settings saved with `document`'s series by an earlier Save As, or None."""
    try:
        with H5_LOCK:
            stored = read_stored_settings(document.series.h5)
            if (stored is None and getattr(document, "source_kind", None) == "FLImage"
                    and len(document.series)):
                stored = read_stored_settings(document.series[0].h5)
    except Exception:  # an unreadable app group: the defaults do
        log.debug("stored bleach settings not read", exc_info=True)
        return None
    return stored


def state_of(document, on_problem=None) -> BleachState:
    """The bleach state of `document` (made on first use, with its provenance and settings).

    `on_problem(message)` hears why a stored record could not be used.
    """
    state = document.panel_state.get("bleach")
    if state is None:
        state = BleachState.attach(document, read_bleach_provenance(document, on_problem),
                                   read_saved_settings(document))
    return state


def read_masks(document, roi_panel, in_front: bool) -> Masks | None:
    """The signal and background masks of `document`; None when no source knows them.

    `roi_panel` is the Background panel (or None); it knows the masks of the
    series in front only (`in_front`).
    """
    background_state = document.panel_state.get("background")
    roiset = getattr(background_state, "roiset", None)
    if roiset is not None and hasattr(roiset, "mask") and hasattr(roiset, "signal_mask"):
        try:
            with H5_LOCK:
                shape = tuple(document.series.frame_shape)
        except Exception:  # a series without frames has no masks
            log.debug("frame shape not available", exc_info=True)
            return None
        index = document.current_index
        return Masks(signal=mask_or_none(lambda: roiset.signal_mask(shape, index)),
                     background=mask_or_none(lambda: roiset.mask(shape, index)))
    if roi_panel is None or not in_front:
        return None
    return Masks(signal=mask_or_none(roi_panel.signal_mask),
                 background=mask_or_none(roi_panel.background_mask))


def mask_or_none(getter: Callable[[], Any]) -> np.ndarray | None:
    """The mask `getter` returns as a bool array; None for no mask or an empty one."""
    try:
        mask = getter()
    except Exception:  # the ROI editor has no usable mask right now
        log.debug("ROI mask not available", exc_info=True)
        return None
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    return mask if mask.any() else None


__all__ = ["mask_or_none", "read_bleach_provenance", "read_masks", "read_saved_settings",
           "state_of"]
