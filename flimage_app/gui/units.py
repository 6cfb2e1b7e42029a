"""How the GUI writes numbers with units: the same text in every table, caption and readout.

Qt-free, so that the Qt-free states and table models format as the widgets do.
"""

from __future__ import annotations

import math


def format_time(seconds: float) -> str:
    """A time in seconds with 3 decimals (the frame table, the slider row, the captions,
    the Measure table); "–" where there is none."""
    return "–" if not math.isfinite(seconds) else f"{seconds:.3f}"


__all__ = ["format_time"]
