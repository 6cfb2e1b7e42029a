"""Document: unsaved metadata edits, the frame-interval edit, and saving a copy."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from flimage_app.gui.document import Document
from flimage_app.model import FLSeries
from flimage_app.model.loader import open_series
from tests.gui_support import write_series


@pytest.fixture
def document(qtbot, tmp_path):
    path = tmp_path / "series.h5"
    write_series(path, count=6)
    opened = Document(open_series(path), "series.h5", str(path), "FLSeries")
    yield opened
    opened.close()


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_interval_edit_sets_every_frame_time_and_is_saved_in_the_copy(document, tmp_path):
    source = tmp_path / "series.h5"
    before = digest(source)
    document.set_interval(0.25, start=1.0)
    assert document.modified
    assert [document.meta_value(i, "time") for i in range(6)] == [1.0, 1.25, 1.5, 1.75, 2.0,
                                                                   2.25]
    saved = document.save_copy(tmp_path / "copy.h5")
    with FLSeries(h5file=saved, h5mode="r") as series:
        np.testing.assert_allclose(series.times(), 1.0 + 0.25 * np.arange(6))
        assert series[2]["identifier"] == "frame-2"  # other metadata kept
    assert not document.modified
    assert digest(source) == before


@pytest.mark.parametrize("interval", [0.0, -1.0, float("nan"), float("inf")])
def test_an_unusable_interval_is_refused_and_nothing_changes(document, interval):
    with pytest.raises(ValueError, match="frame interval"):
        document.set_interval(interval)
    assert not document.modified
    assert document.meta_value(3, "time") == 6.0
