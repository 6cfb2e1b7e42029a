"""The fit report a bleach correction hands back: what was fitted, how well, and how sure."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .fitting import FitOutcome


@dataclass
class FitReport:
    """Model, parameters with standard errors, half-lives, R² and residuals of a correction.

    Attributes
    ----------
    model : str
        Formula of the fitted model, or a description of a method without a fit.
    parameters, errors : dict of str to float
        Best-fit values and standard errors (empty without a fit).
    half_lives : list of (float, float)
        ``(ln2/k, its standard error)`` per rate, in `time_unit`.
    r_squared : float
        Coefficient of determination (NaN without a fit).
    residuals : ndarray
        ``intensity − fitted`` per frame (empty without a fit).
    time_unit : str
        "s", or "frame" when the frames had no times.
    time_origin : float
        The model's t is measured from this time.
    notes : list of str
        Anything the reader must know (e.g. times replaced by frame indices).
    """

    model: str
    parameters: dict[str, float] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)
    half_lives: list[tuple[float, float]] = field(default_factory=list)
    r_squared: float = math.nan
    residuals: np.ndarray = field(default_factory=lambda: np.empty(0))
    time_unit: str = "s"
    time_origin: float = 0.0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_fit(cls, outcome: FitOutcome, time_unit: str, notes: list[str]) -> FitReport:
        """Report of a curve fit."""
        return cls(model=outcome.model, parameters=outcome.parameters,
                   errors=outcome.parameter_errors, half_lives=outcome.half_lives(),
                   r_squared=outcome.r_squared, residuals=outcome.residuals,
                   time_unit=time_unit, time_origin=outcome.time_origin, notes=list(notes))

    @classmethod
    def without_fit(cls, description: str, time_unit: str, notes: list[str]) -> FitReport:
        """Report of a method that fits no curve (simple ratio, histogram matching)."""
        return cls(model=description, time_unit=time_unit, notes=list(notes))

    def parameter_unit(self, name: str) -> str:
        """Unit of a parameter: rates are per time unit, the rest are intensities."""
        return f"1/{self.time_unit}" if name.startswith("k") else "intensity"

    def as_text(self) -> str:
        """Plain-text report, one fact per line, fit for a lab notebook."""
        lines = [f"Model: {self.model}"]
        if self.time_origin:
            lines.append(f"t₀ = {self.time_origin:.6g} {self.time_unit}")
        for name, value in self.parameters.items():
            error = self.errors.get(name, math.nan)
            lines.append(f"{name} = {value:.6g} ± {error:.2g} [{self.parameter_unit(name)}]")
        for number, (value, error) in enumerate(self.half_lives, start=1):
            label = "Half-life" if len(self.half_lives) == 1 else f"Half-life {number}"
            lines.append(f"{label} = {value:.6g} ± {error:.2g} {self.time_unit}")
        if not math.isnan(self.r_squared):
            lines.append(f"R² = {self.r_squared:.6f}")
        if self.residuals.size:
            rms = float(np.sqrt(np.mean(self.residuals**2)))
            lines.append(f"RMS residual = {rms:.4g} ({self.residuals.size} frames)")
        lines.extend(f"Note: {note}" for note in self.notes)
        return "\n".join(lines)
