"""The bleach-correction panel's Qt-free state: one :class:`BleachState` per open series.

Each document keeps its own state in ``document.panel_state["bleach"]``
(:meth:`BleachState.attach`): the chosen correction (:class:`BleachSettings`),
the ROI masks it measures with (:class:`Masks`, read from the Background
panel), the last fit and what it was fitted from, and — for a series that
*is* a bleach correction — the provenance recorded when it was made.
Switching series therefore never touches another series' settings, and
coming back shows the same fit without running it again.

Every change of a setting is one step of the document's undo history
(``document.history``), so Edit ▸ Undo undoes it; the panel's widgets observe
:attr:`BleachState.settings_changed`, :attr:`BleachState.outcome_changed` and
:attr:`BleachState.masks_changed` and never hold settings of their own.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from flimage_app.gui.events import Event
from flimage_app.gui.history import History
from flimage_app.model import validate
from flimage_app.model.bleach import BleachResult, FitReport, correct_series
from flimage_app.model.errors import FileFormatError, FitError
from flimage_app.model.series import APP_GROUP

METHOD_LABELS = {
    "flimage": "flimage 0.3.3 (exponential, compatible)",
    "ratio": "Simple ratio (Fiji)",
    "exp": "Exponential + offset",
    "biexp": "Bi-exponential + offset",
    "histogram": "Histogram matching",
}
METHOD_TIPS = {
    "flimage": "flimage 0.3.3's exponential fit and intensity (sum of pixels above the "
               "background): the same numbers as flimage",
    "ratio": "Scale every frame by I(first) / I(frame); no model, follows noise",
    "exp": "A·exp(−k·t) + C fitted against the frame times",
    "biexp": "A₁·exp(−k₁·t) + A₂·exp(−k₂·t) + C: a fast and a slow bleaching component",
    "histogram": "Match every frame's intensity histogram to a reference frame (no model)",
}
#: Methods that fit a curve (the others have no fitted curve, residuals or R²).
FITTED_METHODS = ("flimage", "exp", "biexp")
REGION_LABELS = {
    "frame": "Whole frame",
    "signal": "Signal ROI",
    "outside": "Outside the background ROIs",
}
BACKGROUND_LABELS = {
    "border": "Border of the frame",
    "constant": "Constant level",
    "mask": "Background ROIs",
    "stored": "Stored per-frame background only",
}
HISTOGRAM_REFERENCES = {"first": "first frame", "previous": "previous frame"}
#: How each setting is named in the undo history ("Set method to exp").
SETTING_NAMES = {"method": "method", "region": "region", "background": "background",
                 "border_px": "border width", "background_value": "background level",
                 "histogram_reference": "histogram reference", "strict": "stalled-fit check"}
#: Settings typed or spun in small steps: consecutive changes are one undo step.
MERGED_SETTINGS = ("border_px", "background_value")
ROI_HINT = "draw it in the Background panel"
#: Attribute of the series' ``flimage_app`` group that keeps the settings in a saved copy.
SETTINGS_ATTRIBUTE = "bleach_settings"


def read_stored_settings(root) -> dict[str, Any] | None:
    """The bleach settings saved with a series (:meth:`BleachState.write_settings`), or None.

    `root` is the h5py group that holds the series (or the FLImage of a single image).
    """
    # through the reading boundary (no links out of the file, bounded text); settings that
    # cannot be used are no error: the panel's defaults apply
    try:
        app = validate.group_member(root, APP_GROUP)
        text = (validate.read_attribute(app, SETTINGS_ATTRIBUTE, "text", warn=False,
                                        max_chars=validate.MAX_JSON_BYTES)
                if app is not None else None)
        if text is None:
            return None
        stored = validate.read_json_text(text, validate.object_name(app), "the bleach settings")
    except FileFormatError:
        return None
    return stored if isinstance(stored, dict) else None


@dataclass(frozen=True)
class BleachSettings:
    """What the user chose in the panel (everything but the ROI masks)."""

    method: str = "exp"
    region: str = "frame"
    background: str = "border"
    border_px: int = 20
    background_value: float = 0.0
    histogram_reference: str = "first"
    strict: bool = True

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~flimage_app.model.bleach.correct_series`."""
        return {"method": self.method, "region": self.region, "background": self.background,
                "border_px": int(self.border_px),
                "background_value": (float(self.background_value)
                                     if self.background == "constant" else None),
                "histogram_reference": self.histogram_reference, "strict": bool(self.strict)}

    def measurement_text(self) -> str:
        """One line: where and how the intensity is measured."""
        what = "Σ of pixels above background" if self.method == "flimage" else "mean − background"
        background = {
            "border": f"border of the frame ({self.border_px} px)",
            "constant": f"constant level {self.background_value:g}",
            "mask": "background ROIs",
            "stored": "stored per-frame background only",
        }[self.background]
        return f"{what} in {REGION_LABELS[self.region].lower()}; background: {background}"

    def uses_signal_mask(self) -> bool:
        return self.region == "signal"

    def uses_background_mask(self) -> bool:
        return self.background == "mask" or self.region == "outside"

    @classmethod
    def from_record(cls, parameters: dict[str, Any]) -> BleachSettings:
        """The settings stored in a provenance record's ``parameters`` (unknown keys ignored)."""
        known = {item.name for item in fields(cls)}
        values = {key: value for key, value in parameters.items()
                  if key in known and value is not None}
        if "border_px" in values:
            values["border_px"] = int(values["border_px"])
        if "background_value" in values:
            values["background_value"] = float(values["background_value"])
        return cls(**values)


def describe_change(key: str, value: Any) -> str:
    """Undo-history text of setting `key` to `value`, e.g. "Set method to exp"."""
    labels = {"region": REGION_LABELS, "background": BACKGROUND_LABELS,
              "histogram_reference": HISTOGRAM_REFERENCES}.get(key, {})
    if key == "strict":
        shown = "on" if value else "off"
    elif key == "border_px":
        shown = f"{value} px"
    elif isinstance(value, float):
        shown = f"{value:g}"
    else:
        shown = labels.get(value, str(value))
    return f"Set {SETTING_NAMES.get(key, key)} to {shown}"


@dataclass
class Masks:
    """ROI masks from the background panel (None where there is none)."""

    signal: np.ndarray | None = None
    background: np.ndarray | None = None

    def engine_options(self) -> dict[str, np.ndarray | None]:
        return {"signal_mask": self.signal, "background_mask": self.background}


def masks_equal(first: Masks, second: Masks) -> bool:
    """True when both hold the same masks (None equals only None)."""
    def same(a, b) -> bool:
        if a is None or b is None:
            return a is b
        return a.shape == b.shape and bool(np.array_equal(a, b))
    return same(first.signal, second.signal) and same(first.background, second.background)


def mask_fingerprint(mask: np.ndarray | None) -> Hashable:
    """A short hashable summary of a mask (None stays None), for comparing fits."""
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    return (mask.shape, hashlib.sha1(np.packbits(mask).tobytes()).hexdigest())


def make_recipe(settings: BleachSettings, masks: Masks) -> dict[str, Any]:
    """The correction as a provenance-style record that ``provenance.reapply`` runs again."""
    parameters = settings.engine_options()
    method = parameters.pop("method")
    return {"operation": "bleach correction", "method": method, "parameters": parameters,
            "masks": {"signal_mask": masks.signal if settings.uses_signal_mask() else None,
                      "background_mask": (masks.background if settings.uses_background_mask()
                                          else None)}}


@dataclass
class FitOutcome:
    """What a measure-and-fit run produced: a result, or the reason there is none."""

    settings: BleachSettings
    result: Any = None  # BleachResult
    failure: str | None = None
    #: the measured trace (mean − background) shown when the fit failed, if measurable
    trace: Any = None


def measure_and_fit(series, settings: BleachSettings, masks: Masks,
                    progress: Callable[[int, int], None] | None = None,
                    cancel: Callable[[], bool] | None = None,
                    meta_changes: dict[int, dict[str, Any]] | None = None) -> FitOutcome:
    """Measure and fit without writing frames; a failed fit is an outcome, not an error.

    When the fit fails (:class:`FitError`), the trace is measured again with
    the simple ratio (which fits nothing) so that the panel can show the data
    the model could not describe.  `meta_changes` are unsaved metadata edits
    (e.g. corrected times) that the fit uses instead of the file's values.
    """
    options = {**settings.engine_options(), **masks.engine_options(),
               "meta_changes": meta_changes}
    try:
        return FitOutcome(settings, result=correct_series(series, None, **options,
                                                          progress=progress, cancel=cancel))
    except FitError as error:
        # the engine's messages are written for users; the first line says it all
        reason = str(error).splitlines()[0] if str(error) else "The fit failed"
    options["method"] = "ratio"
    try:
        trace = correct_series(series, None, **options, cancel=cancel)
    except FitError:
        trace = None
    return FitOutcome(settings, failure=reason, trace=trace)


def result_from_provenance(record: dict[str, Any]) -> BleachResult:
    """The :class:`BleachResult` recorded in a bleach correction's provenance.

    The curves are those measured on the series that was corrected (its decay,
    the fitted curve, the factors), the report is the one written then.

    Raises
    ------
    KeyError, ValueError
        The record holds no usable trace.
    """
    trace = record["trace"]
    times = np.asarray(trace["times"], dtype=float)
    intensity = np.asarray(trace["intensity"], dtype=float)
    if times.size == 0 or times.shape != intensity.shape:
        raise ValueError("The provenance record holds no per-frame trace")

    def array(key: str, default: float) -> np.ndarray:
        values = trace.get(key)
        return (np.asarray(values, dtype=float) if values is not None
                else np.full(times.size, default))

    fitted = trace.get("fitted")
    stored = record.get("report") or {}
    residuals = trace.get("residuals")
    report = FitReport(
        model=str(stored.get("model", record.get("method", ""))),
        parameters={key: float(value) for key, value in (stored.get("parameters") or {}).items()},
        errors={key: float(value) for key, value in (stored.get("errors") or {}).items()},
        half_lives=[(float(value), float(error))
                    for value, error in (stored.get("half_lives") or [])],
        r_squared=_float(stored.get("r_squared")),
        residuals=np.asarray(residuals, dtype=float) if residuals is not None else np.empty(0),
        time_unit=str(stored.get("time_unit", "s")),
        time_origin=_float(stored.get("time_origin"), 0.0),
        notes=[str(note) for note in stored.get("notes") or []])
    return BleachResult(
        method=str(record.get("method")), times=times, intensity=intensity,
        fitted=np.asarray(fitted, dtype=float) if fitted is not None else None,
        correction=array("correction", 1.0), background=array("background", 0.0),
        report=report, settings=dict(record.get("parameters") or {}))


def readable_date(iso: str) -> str:
    """``2026-12-01T13:43:05+00:00`` as ``2026-12-01 13:43 UTC`` (other text unchanged)."""
    try:
        moment = datetime.datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if moment.utcoffset() == datetime.timedelta(0):
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M %z") if moment.tzinfo else moment.strftime(
        "%Y-%m-%d %H:%M")


def _float(value: Any, default: float = math.nan) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def bleachcorr_path(source: str | os.PathLike | None, folder: str | os.PathLike,
                    stem: str, suffix: str) -> Path:
    """Proposed output name: ``<stem>_bleachcorr<suffix>`` beside `source` (else in `folder`)."""
    if source:
        source = Path(source)
        return source.with_name(f"{source.stem}_bleachcorr{suffix}")
    return Path(folder) / f"{stem}_bleachcorr{suffix}"


@dataclass
class CorrectedSeries:
    """A corrected series written from a series' settings (a file in the scratch folder)."""

    path: str
    source_name: str
    source_path: str | None
    key: tuple
    result: Any


@dataclass
class Provenance:
    """A bleach correction's record and the result it describes (see :func:`read_provenance`)."""

    record: dict[str, Any]
    result: BleachResult | None = None
    #: why the recorded curves cannot be shown ('' when they can)
    problem: str = ""
    masks: Masks = field(default_factory=Masks)
    _outcome: FitOutcome | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Provenance:
        stored = record.get("masks") or {}
        masks = Masks(signal=stored.get("signal_mask"), background=stored.get("background_mask"))
        try:
            return cls(record, result_from_provenance(record), masks=masks)
        except (KeyError, TypeError, ValueError) as error:
            return cls(record, None, f"the recorded curves cannot be shown ({error})", masks)

    @property
    def outcome(self) -> FitOutcome:
        """The recorded correction as a fit outcome (the same object every time)."""
        if self._outcome is None:
            self._outcome = FitOutcome(self.settings, result=self.result,
                                       failure=self.problem or None)
        return self._outcome

    @property
    def settings(self) -> BleachSettings:
        try:
            return BleachSettings.from_record(self.record.get("parameters") or {})
        except (TypeError, ValueError):
            return BleachSettings(method=str(self.record.get("method", "exp")))

    def describe(self) -> str:
        """One sentence: what this series is, made from what, when and by which version."""
        source = (self.record.get("input") or {}).get("file") or "an in-memory series"
        method = METHOD_LABELS.get(self.record.get("method"), self.record.get("method"))
        return (f"This series is a bleach correction ({method}) of {source}, made "
                f"{readable_date(self.record.get('date', ''))} by flimage-app "
                f"{self.record.get('app_version', '')}.")

    def source(self) -> tuple[str | None, str | None]:
        """Name and path of the series that was corrected (None where not recorded)."""
        described = self.record.get("input") or {}
        return described.get("file"), described.get("path")


class BleachState:
    """One series' bleach correction: settings, masks, fit outcome and provenance.

    Parameters
    ----------
    history
        The document's undo history; setting changes are pushed onto it.
    provenance
        The record of a series that is itself a bleach correction (from
        :func:`flimage_app.model.provenance.read_provenance`), or None.

    Events
    ------
    settings_changed(BleachSettings)
        A setting changed (by the user, or by undo / redo).
    masks_changed(Masks)
        The ROI masks of the series changed.
    outcome_changed(FitOutcome or None)
        A new fit outcome is stored (or the stored one was dropped).
    mode_changed(bool)
        The panel switched between showing the provenance and correcting again.
    """

    def __init__(self, history: History | None = None,
                 provenance: dict[str, Any] | None = None,
                 stored_settings: dict[str, Any] | None = None) -> None:
        self.history = history if history is not None else History()
        self.provenance = (Provenance.from_record(provenance)
                           if provenance and provenance.get("operation") == "bleach correction"
                           else None)
        self.settings = (self.provenance.settings if self.provenance is not None
                         else BleachSettings())
        if stored_settings:
            try:
                settings = BleachSettings.from_record(stored_settings)
                _check(settings)
            except (TypeError, ValueError):  # saved by another version: keep the defaults
                pass
            else:
                self.settings = settings
        #: the settings as the file on disk (or its last saved copy) has them
        self._saved_settings = self.settings
        self.masks = Masks()
        self.outcome: FitOutcome | None = None
        self._outcome_key: tuple | None = None
        #: True: show the recorded provenance; False: fit this series itself
        self.showing_provenance = self.provenance is not None
        #: corrected series written from this series (newest last)
        self.corrected: list[CorrectedSeries] = []
        self.settings_changed = Event()
        self.masks_changed = Event()
        self.outcome_changed = Event()
        self.mode_changed = Event()

    # --- attaching to a document --------------------------------------------------------
    @classmethod
    def attach(cls, document, provenance: dict[str, Any] | None = None,
               stored_settings: dict[str, Any] | None = None) -> BleachState:
        """The state of `document`, made the first time it is asked for.

        `provenance` and `stored_settings` are read from the document's file (see
        :func:`read_stored_settings`).  The state's settings go into every copy the
        document saves (``document.app_data_writers``), and a change of them tells
        the document (``document.changed``: the title marks unsaved work).
        """
        state = document.panel_state.get("bleach")
        if state is None:
            state = cls(document.history, provenance, stored_settings)
            document.panel_state["bleach"] = state
            writers = getattr(document, "app_data_writers", None)
            if writers is not None:
                writers.append(state.write_settings)
            changed = getattr(document, "changed", None)
            if changed is not None:
                state.settings_changed.connect(lambda _settings: changed.emit())
        return state

    # --- settings -----------------------------------------------------------------------
    def change(self, **changes: Any) -> bool:
        """Change settings as one undoable step; False when nothing changed.

        Raises
        ------
        ValueError
            An unknown method, region, background or histogram reference.
        """
        new = replace(self.settings, **changes)
        _check(new)
        if new == self.settings:
            return False
        changed = [key for key in changes if getattr(new, key) != getattr(self.settings, key)]
        text = (describe_change(changed[0], getattr(new, changed[0])) if len(changed) == 1
                else "Change bleach settings")
        merge_key = (("bleach", changed[0]) if len(changed) == 1
                     and changed[0] in MERGED_SETTINGS else None)
        old = self.settings
        self.history.push(text, undo=lambda: self._show_settings(old),
                          redo=lambda: self._show_settings(new), merge_key=merge_key,
                          apply=True)
        return True

    def _show_settings(self, settings: BleachSettings) -> None:
        self.settings = settings
        self.settings_changed.emit(settings)

    def set_correcting_again(self, again: bool) -> None:
        """On a corrected series: fit it itself (True) or show its provenance (False).

        An undoable step, as it changes what the panel's numbers mean.
        """
        if self.provenance is None or again != self.showing_provenance:
            return
        text = "Correct again" if again else "Show the recorded correction"

        def show(provenance: bool) -> Callable[[], None]:
            def apply() -> None:
                self.showing_provenance = provenance
                self.mode_changed.emit(provenance)
            return apply

        self.history.push(text, undo=show(again), redo=show(not again), apply=True)

    # --- masks --------------------------------------------------------------------------
    def set_masks(self, masks: Masks) -> bool:
        """Take the Background panel's masks of this series; False when they did not change.

        Not an undo step: the ROI edit that changed them is one already.
        """
        if masks_equal(masks, self.masks):
            return False
        self.masks = masks
        self.masks_changed.emit(masks)
        return True

    def missing_roi(self, settings: BleachSettings | None = None) -> str:
        """Why `settings` (default: the current ones) cannot be measured ('' when they can).

        The choice is kept (it comes back when the ROIs do); the panel says what is missing.
        """
        settings = settings or self.settings
        needs = []
        if settings.uses_signal_mask() and self.masks.signal is None:
            needs.append("a signal ROI")
        if settings.uses_background_mask() and self.masks.background is None:
            needs.append("background ROIs")
        if not needs:
            return ""
        chosen = []
        if settings.region != "frame":
            chosen.append(f"Measure in: {REGION_LABELS[settings.region]}")
        if settings.background == "mask":
            chosen.append(f"Background: {BACKGROUND_LABELS['mask']}")
        return (f"{' and '.join(chosen)} needs {' and '.join(needs)}, and this series has "
                f"none: {ROI_HINT}, or choose another setting.")

    # --- fits ---------------------------------------------------------------------------
    def fit_key(self, edits: dict[int, dict[str, Any]] | None = None,
                settings: BleachSettings | None = None) -> tuple:
        """What a fit depends on: settings, the masks they use and edited frame times."""
        settings = settings or self.settings
        times = tuple(sorted((index, changes["time"]) for index, changes in (edits or {}).items()
                             if "time" in changes))
        return (settings,
                mask_fingerprint(self.masks.signal) if settings.uses_signal_mask() else None,
                mask_fingerprint(self.masks.background) if settings.uses_background_mask()
                else None,
                times)

    def outcome_for(self, key: tuple) -> FitOutcome | None:
        """The stored outcome if it was fitted from `key`, else None (a fit is due)."""
        return self.outcome if self.outcome is not None and self._outcome_key == key else None

    def set_outcome(self, outcome: FitOutcome | None, key: tuple | None) -> None:
        """Store the outcome of a fit of `key` (a worker's result, even for a series not shown)."""
        self.outcome, self._outcome_key = outcome, key
        self.outcome_changed.emit(outcome)

    def shown_outcome(self, key: tuple) -> FitOutcome | None:
        """What the panel shows: the provenance's result, else the outcome fitted from `key`."""
        if self.showing_provenance and self.provenance is not None:
            return self.provenance.outcome
        return self.outcome_for(key)

    def current_result(self, edits: dict[int, dict[str, Any]] | None = None):
        """The BleachResult to export (File ▸ Export: curves and report), or None.

        A corrected series' recorded correction, else the stored fit of the current
        settings (`edits`: the document's unsaved metadata edits, ``document.edits``).
        """
        outcome = self.shown_outcome(self.fit_key(edits))
        return outcome.result if outcome is not None else None

    def shown_masks(self) -> Masks:
        """The masks of what is shown: those recorded in the provenance, or the series' own."""
        if self.showing_provenance and self.provenance is not None:
            return self.provenance.masks
        return self.masks

    # --- corrected series ---------------------------------------------------------------
    def corrected_for(self, key: tuple) -> CorrectedSeries | None:
        """A corrected series written from `key` whose file still exists."""
        for corrected in reversed(self.corrected):
            if corrected.key == key and os.path.exists(corrected.path):
                return corrected
        return None

    def origin(self, name: str, path: str | None) -> tuple[str, str | None]:
        """Name and path of the series a correction of this one comes from.

        A corrected series corrected again still names the original input.
        """
        if self.provenance is not None:
            source_name, source_path = self.provenance.source()
            if source_name:
                return source_name, source_path
        return name, path

    # --- saving -------------------------------------------------------------------------
    @property
    def settings_modified(self) -> bool:
        """True when the settings differ from those of the file (or its last saved copy)."""
        return self.settings != self._saved_settings

    def write_settings(self, root) -> None:
        """Store the settings in a saved copy (`root`: its series group); they are saved then."""
        app = root.require_group(APP_GROUP)
        app.attrs[SETTINGS_ATTRIBUTE] = json.dumps(asdict(self.settings))
        self._saved_settings = self.settings

    def unsaved_work(self) -> list[str]:
        """What a close would lose: changed settings (results are documents of their own)."""
        if not self.settings_modified:
            return []
        return [f"bleach-correction settings ({METHOD_LABELS.get(self.settings.method, '')})"]


def _check(settings: BleachSettings) -> None:
    from flimage_app.model.bleach import METHODS

    for key, allowed in (("method", METHODS), ("region", REGION_LABELS),
                         ("background", BACKGROUND_LABELS),
                         ("histogram_reference", HISTOGRAM_REFERENCES)):
        if getattr(settings, key) not in allowed:
            raise ValueError(f"Unknown {SETTING_NAMES[key]} {getattr(settings, key)!r}; "
                             f"choose one of {', '.join(allowed)}")
    if int(settings.border_px) < 1:
        raise ValueError(f"The border width must be at least 1 px, got {settings.border_px}")


__all__ = ["BACKGROUND_LABELS", "FITTED_METHODS", "HISTOGRAM_REFERENCES", "METHOD_LABELS",
           "METHOD_TIPS", "REGION_LABELS", "BleachSettings", "BleachState", "CorrectedSeries",
           "FitOutcome", "Masks", "Provenance", "bleachcorr_path", "describe_change",
           "make_recipe", "mask_fingerprint", "masks_equal", "measure_and_fit",
           "read_stored_settings", "result_from_provenance"]
