"""Photobleaching correction: flimage's method and Fiji's, time-aware, streaming, reported.

Entry point :func:`correct_series`; see docs/ARCHITECTURE.md ("Bleach engine").
"""

from .engine import BleachResult, correct_series, corrected_frame, flimage_bleach_correction
from .measure import BACKGROUNDS, REGIONS, MissingTimeWarning
from .methods import METHODS
from .report import FitReport

__all__ = ["BACKGROUNDS", "BleachResult", "FitReport", "METHODS", "MissingTimeWarning",
           "REGIONS", "correct_series", "corrected_frame", "flimage_bleach_correction"]
