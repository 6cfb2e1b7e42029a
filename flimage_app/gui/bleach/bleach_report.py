"""The words the bleach panel shows: one-line summary, fit report, failure report (Qt-free).

Pure functions of a :class:`~flimage_app.model.bleach.BleachResult` (a fit, or
the one recorded in a corrected series' provenance) and the settings that made
it, so that what *Copy report* copies and the report CSV hold can be tested
without widgets.
"""

from __future__ import annotations

import math

import numpy as np

from flimage_app.gui.bleach.bleach_state import (
    METHOD_LABELS,
    BleachSettings,
    Provenance,
    readable_date,
)


def summary_text(result, recorded: bool = False) -> str:
    """One line: method, half-lives ± SE, R² and the last frame's factor.

    `recorded`: the result is the one recorded in a corrected series, not a new fit.
    """
    report = result.report
    parts = [METHOD_LABELS.get(result.method, result.method)]
    if report.half_lives:
        unit = report.time_unit
        parts.append("half-life " + ", ".join(f"{value:.3g} ± {error:.2g} {unit}"
                                              for value, error in report.half_lives))
    if not math.isnan(report.r_squared):
        parts.append(f"R² = {report.r_squared:.4f}")
    factor = np.asarray(result.correction, dtype=float)
    if factor.size and np.isfinite(factor).all():
        parts.append(f"last frame × {factor[-1]:.3g}")
    prefix = "Recorded correction: " if recorded else "Fit: "
    return prefix + "; ".join(parts)


def report_context(result, settings: BleachSettings, series_name: str,
                   provenance: Provenance | None = None) -> list[tuple[str, str]]:
    """The facts around a fit report, as (name, value): series, source, measurement, frames."""
    times = np.asarray(result.times, dtype=float)
    unit = result.report.time_unit
    context = [("Series", series_name)]
    if provenance is not None:
        source, _path = provenance.source()
        record = provenance.record
        context.append(("Corrected from", source or "an in-memory series"))
        context.append(("Recorded", f"{readable_date(record.get('date', ''))} by "
                                    f"flimage-app {record.get('app_version', '')}"))
    context.append(("Measured", settings.measurement_text()))
    if times.size:
        context.append(("Frames used", f"{times.size} (frames 0–{times.size - 1}, "
                                       f"t = {times[0]:.4g} … {times[-1]:.4g} {unit})"))
    if result.background.size and settings.background in ("border", "mask"):
        context.append(("Background level", f"{float(result.background[0]):.6g}"))
    return context


def report_text(result, context: list[tuple[str, str]]) -> str:
    """The fit report as the panel shows it and *Copy report* copies it."""
    lines = [f"Method: {METHOD_LABELS.get(result.method, result.method)} ({result.method})"]
    lines.extend(f"{key}: {value}" for key, value in context)
    lines.append(result.report.as_text())
    return "\n".join(lines)


def failure_text(settings: BleachSettings, message: str, trace=None) -> tuple[str, str]:
    """``(status line, report)`` of a correction that could not be made."""
    label = METHOD_LABELS[settings.method]
    lines = [f"Method: {label}", f"Measured: {settings.measurement_text()}",
             f"Result: no correction. {message}"]
    if trace is not None:
        lines.append(f"The points show the measured trace (mean − background, "
                     f"{trace.times.size} frames).")
    return f"No correction with {label}: {message}", "\n".join(lines)


__all__ = ["failure_text", "report_context", "report_text", "summary_text"]
