"""The bleach panel's Qt-free state, driven without widgets: per series, undoable, provenance."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from flimage_app.gui.bleach.bleach_state import (
    BleachSettings,
    BleachState,
    FitOutcome,
    Masks,
    measure_and_fit,
    result_from_provenance,
)
from flimage_app.gui.history import History
from flimage_app.model.bleach import correct_series
from flimage_app.model.demo import demo_series_path
from flimage_app.model.provenance import read_provenance


class FakeDocument:
    """What the state needs of a document: its panel states and its undo history."""

    def __init__(self) -> None:
        self.panel_state: dict = {}
        self.history = History()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    target = tmp_path_factory.mktemp("data") / "demo.h5"
    shutil.copy(demo_series_path(), target)
    return target


@pytest.fixture(scope="module")
def corrected(demo, tmp_path_factory):
    """The demo corrected with a bi-exponential, and the result of that correction."""
    target = tmp_path_factory.mktemp("out") / "demo_bleachcorr.h5"
    result = correct_series(demo, target, "biexp", border_px=12)
    return target, result


def test_state_module_imports_no_qt():
    code = ("import sys, flimage_app.gui.bleach.bleach_state; "
            "print(sorted(m for m in sys.modules if m.startswith(('PyQt', 'pyqtgraph'))))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert output == "[]"


def test_each_document_has_its_own_settings():
    first, second = FakeDocument(), FakeDocument()
    state = BleachState.attach(first)
    assert BleachState.attach(first) is state is first.panel_state["bleach"]
    other = BleachState.attach(second)
    assert other is not state
    state.change(region="signal", background="mask", method="biexp")
    assert state.settings == BleachSettings(method="biexp", region="signal", background="mask")
    assert other.settings == BleachSettings()
    assert not second.history.can_undo  # the other series' history is untouched


def test_setting_changes_are_undo_steps_the_view_can_follow():
    document = FakeDocument()
    state = BleachState.attach(document)
    seen = []
    state.settings_changed.connect(seen.append)
    assert state.change(method="ratio")
    assert document.history.undo_text == "Set method to ratio"
    state.change(region="signal")
    assert document.history.undo_text == "Set region to Signal ROI"
    assert not state.change(region="signal")  # no change, no step
    document.history.undo()
    assert state.settings.region == "frame" and state.settings.method == "ratio"
    document.history.undo()
    assert state.settings == BleachSettings()
    document.history.redo()
    assert state.settings.method == "ratio"
    assert [settings.method for settings in seen] == ["ratio", "ratio", "ratio", "exp", "ratio"]
    assert seen[-1] is state.settings


def test_spun_values_merge_into_one_step_and_bad_values_are_refused():
    document = FakeDocument()
    state = BleachState.attach(document)
    for width in (21, 22, 23):
        state.change(border_px=width)
    assert document.history.undo_text == "Set border width to 23 px"
    document.history.undo()
    assert state.settings.border_px == 20 and not document.history.can_undo
    with pytest.raises(ValueError, match="method"):
        state.change(method="magic")
    with pytest.raises(ValueError, match="border"):
        state.change(border_px=0)
    assert state.settings == BleachSettings() and not document.history.can_undo


def test_stored_fit_is_kept_for_its_settings_masks_and_times():
    state = BleachState.attach(FakeDocument())
    signal = np.zeros((8, 8), bool)
    signal[2:5, 2:5] = True
    state.set_masks(Masks(signal=signal))
    key = state.fit_key({})
    outcome = FitOutcome(state.settings, failure="stand-in")
    state.set_outcome(outcome, key)
    assert state.outcome_for(state.fit_key({})) is outcome
    # masks that the settings do not use do not matter; edited times do
    other = signal.copy()
    other[0, 0] = True
    state.set_masks(Masks(signal=other))
    assert state.outcome_for(state.fit_key({})) is outcome
    assert state.outcome_for(state.fit_key({3: {"time": 9.0}})) is None
    state.change(region="signal")
    assert state.outcome_for(state.fit_key({})) is None
    signal_key = state.fit_key({})
    state.set_masks(Masks(signal=signal))
    assert state.fit_key({}) != signal_key
    state.history.undo()
    assert state.outcome_for(state.fit_key({})) is outcome


def test_missing_roi_is_named_and_the_choice_kept():
    state = BleachState.attach(FakeDocument())
    state.change(region="signal", background="mask")
    message = state.missing_roi()
    assert "Signal ROI" in message and "Background ROIs" in message
    assert "a signal ROI" in message and "background ROIs" in message
    assert "Background panel" in message
    state.set_masks(Masks(signal=np.ones((4, 4), bool), background=np.eye(4, dtype=bool)))
    assert state.missing_roi() == ""
    assert state.settings.region == "signal"


def test_measure_and_fit_outcome_is_a_result_or_a_reason(demo):
    settings = BleachSettings(method="exp")
    outcome = measure_and_fit(demo, settings, Masks())
    assert outcome.failure is None and outcome.result.report.half_lives
    flat = measure_and_fit(demo, BleachSettings(method="exp", background="constant",
                                                background_value=1e9), Masks())
    assert flat.result is None and flat.failure


def test_corrected_series_shows_its_provenance_not_a_fit_of_itself(corrected):
    path, made = corrected
    document = FakeDocument()
    state = BleachState.attach(document, read_provenance(path))
    assert state.showing_provenance
    assert state.settings == BleachSettings(method="biexp", border_px=12)
    shown = state.shown_outcome(state.fit_key({}))
    assert shown is state.shown_outcome(state.fit_key({}))  # no new fit, the same record
    assert state.current_result({}) is shown.result
    result = shown.result
    assert result.method == "biexp"
    np.testing.assert_allclose(result.intensity, made.intensity)
    np.testing.assert_allclose(result.fitted, made.fitted)
    np.testing.assert_allclose(result.correction, made.correction)
    np.testing.assert_allclose(result.report.half_lives, made.report.half_lives)
    assert result.report.r_squared == pytest.approx(made.report.r_squared)
    assert result.report.as_text() == made.report.as_text()
    assert "bleach correction (Bi-exponential + offset) of demo.h5" in \
        state.provenance.describe()
    assert state.origin("demo_bleachcorr", str(path))[0] == "demo.h5"

    # "Correct again" is an explicit, undoable choice
    state.set_correcting_again(True)
    assert not state.showing_provenance
    assert state.shown_outcome(state.fit_key({})) is None  # now a fit of this series is due
    assert document.history.undo_text == "Correct again"
    document.history.undo()
    assert state.showing_provenance


def test_provenance_of_a_method_without_fit_has_no_fitted_curve(demo, tmp_path):
    target = tmp_path / "ratio.h5"
    correct_series(demo, target, "ratio")
    result = result_from_provenance(read_provenance(target))
    assert result.fitted is None
    assert np.isnan(result.report.r_squared) and result.report.half_lives == []
    assert result.correction[0] == pytest.approx(1.0)


def test_changed_settings_are_unsaved_work_until_written_into_a_saved_copy(tmp_path):
    import h5py

    from flimage_app.gui.bleach.bleach_state import read_stored_settings
    from flimage_app.gui.events import Event

    document = FakeDocument()
    document.app_data_writers, document.changed = [], Event()
    told = []
    document.changed.connect(lambda: told.append(True))
    state = BleachState.attach(document)
    assert state.unsaved_work() == [] and document.app_data_writers == [state.write_settings]
    state.change(method="biexp", border_px=7)
    assert told and state.unsaved_work() == ["bleach-correction settings "
                                             "(Bi-exponential + offset)"]
    with h5py.File(tmp_path / "copy.h5", "w") as handle:
        for write in document.app_data_writers:
            write(handle)
    assert state.unsaved_work() == []
    with h5py.File(tmp_path / "copy.h5", "r") as handle:
        stored = read_stored_settings(handle)
    reopened = BleachState.attach(FakeDocument(), stored_settings=stored)
    assert reopened.settings == state.settings and reopened.unsaved_work() == []
    document.history.undo()  # back to the defaults: differs from what was saved
    assert state.unsaved_work() != []
    # settings written by something else are ignored, not trusted
    assert BleachState(stored_settings={"method": "magic"}).settings == BleachSettings()


def test_stored_settings_are_read_through_the_reading_boundary(tmp_path):
    """Settings behind a link into another file, or not text, are not used: defaults apply."""
    import h5py

    from flimage_app.gui.bleach.bleach_state import read_stored_settings

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5.create_group("flimage_app").attrs["bleach_settings"] = '{"method": "ratio"}'
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as h5:
        h5["flimage_app"] = h5py.ExternalLink(str(other), "/flimage_app")
    with h5py.File(path, "r") as h5:
        assert read_stored_settings(h5) is None
    with h5py.File(path, "w") as h5:
        h5.create_group("flimage_app").attrs["bleach_settings"] = [1.0, 2.0]
    with h5py.File(path, "r") as h5:
        assert read_stored_settings(h5) is None
    with h5py.File(path, "w") as h5:
        h5.create_group("flimage_app").attrs["bleach_settings"] = '{"method": "ratio"}'
    with h5py.File(path, "r") as h5:
        assert read_stored_settings(h5) == {"method": "ratio"}
