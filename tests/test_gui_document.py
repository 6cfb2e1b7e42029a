"""Document: unsaved metadata edits, the frame-interval edit, and saving a copy."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

from flimage_app.gui.document import Document
from flimage_app.model import FLImage, FLSeries
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


# --- series metadata (the series identifier) ----------------------------------------------
SERIES_ID = "HeLa-GFP_2024-05-03_dish2"


@pytest.fixture
def named_document(qtbot, tmp_path):
    """A document of an FLSeries file whose series identifier is SERIES_ID."""
    path = tmp_path / "named.h5"
    write_series(path, count=3)
    with h5py.File(path, "a") as h5:
        h5.attrs["identifier"] = SERIES_ID
    opened = Document(open_series(path), "named.h5", str(path), "FLSeries")
    yield opened
    opened.close()


def test_series_identifier_edit_is_unsaved_until_it_is_in_a_copy(named_document, tmp_path):
    source = tmp_path / "named.h5"
    before = digest(source)
    assert named_document.series_meta("identifier") == SERIES_ID
    assert not named_document.modified and named_document.title == "named.h5"

    assert named_document.set_series_meta("identifier", "experiment 7") == "experiment 7"
    assert named_document.series_meta("identifier") == "experiment 7"
    assert named_document.series_edits == {"identifier": "experiment 7"}
    assert named_document.edits == {}  # no frame was touched
    assert named_document.modified and named_document.title == "named.h5 *"
    assert named_document.series_meta_edited("identifier")

    saved = named_document.save_copy(tmp_path / "copy.h5")
    assert not named_document.modified and named_document.title == "named.h5"
    assert not named_document.series_meta_edited("identifier")
    assert named_document.series_meta("identifier") == "experiment 7"  # the edit stays shown
    with FLSeries(h5file=saved, h5mode="r") as series:
        assert series.identifier == "experiment 7"
        assert series.identifiers() == ["frame-0", "frame-1", "frame-2"]
        np.testing.assert_array_equal(series.times(), [0.0, 2.0, 4.0])
    assert digest(source) == before
    with FLSeries(h5file=source, h5mode="r") as original:
        assert original.identifier == SERIES_ID


def test_empty_series_identifier_removes_it_from_the_copy(named_document, tmp_path):
    source = tmp_path / "named.h5"
    before = digest(source)
    named_document.set_series_meta("identifier", "")
    assert named_document.series_meta("identifier") is None
    assert named_document.modified
    saved = named_document.save_copy(tmp_path / "anonymous.h5")
    with h5py.File(saved, "r") as h5:
        assert "identifier" not in h5.attrs
    with FLSeries(h5file=saved, h5mode="r") as series:
        assert series.identifier is None and len(series) == 3
    assert digest(source) == before
    assert not named_document.modified


def test_series_identifier_set_back_is_no_edit_but_differs_from_a_saved_copy(named_document,
                                                                            tmp_path):
    named_document.set_series_meta("identifier", "renamed")
    named_document.set_series_meta("identifier", SERIES_ID)
    assert not named_document.modified and named_document.series_edits == {}
    named_document.set_series_meta("identifier", "renamed")
    named_document.save_copy(tmp_path / "renamed.h5")
    # back to the file's value: the saved copy says "renamed", so this is unsaved again
    named_document.set_series_meta("identifier", SERIES_ID)
    assert named_document.modified and named_document.title.endswith(" *")
    saved = named_document.save_copy(tmp_path / "renamed.h5", overwrite=True)
    with FLSeries(h5file=saved, h5mode="r") as series:
        assert series.identifier == SERIES_ID
    assert not named_document.modified


def test_series_without_identifier_gets_one(document, tmp_path):
    assert document.series_meta("identifier") is None
    document.set_series_meta("identifier", "")  # removing what is not there changes nothing
    assert not document.modified
    document.set_series_meta("identifier", "first experiment")
    saved = document.save_copy(tmp_path / "named.h5")
    with FLSeries(h5file=saved, h5mode="r") as series:
        assert series.identifier == "first experiment"


def test_failed_save_keeps_the_series_edit_unsaved(named_document, tmp_path):
    existing = tmp_path / "existing.h5"
    existing.write_bytes(b"keep me")
    named_document.set_series_meta("identifier", "renamed")
    with pytest.raises(FileExistsError):
        named_document.save_copy(existing)
    assert named_document.modified
    assert existing.read_bytes() == b"keep me"


def test_unknown_series_key_is_refused(named_document):
    with pytest.raises(KeyError, match="series metadata key 'pixel size'"):
        named_document.set_series_meta("pixel size", 1e-6)  # a frame key, not a series key
    assert not named_document.modified


def test_single_image_file_has_no_series_metadata(qtbot, tmp_path):
    path = tmp_path / "image.h5"
    with FLImage(data=np.ones((8, 10), dtype=np.float32), h5file=path, h5mode="w",
                 meta_data={"identifier": "the image", "time": 1.0}):
        pass
    before = digest(path)
    opened = Document(open_series(path), "image.h5", str(path), "FLImage")
    try:
        assert not opened.has_series_level
        assert opened.series_meta("identifier") is None
        with pytest.raises(ValueError, match="single FLImage") as refused:
            opened.set_series_meta("identifier", "x")
        assert "\n" not in str(refused.value)
        assert not opened.modified and opened.series_edits == {}
        assert opened.meta_value(0, "identifier") == "the image"
        saved = opened.save_copy(tmp_path / "copy.h5")
        with FLImage(h5file=saved, h5mode="r") as image:
            assert image["identifier"] == "the image"
    finally:
        opened.close()
    assert digest(path) == before
