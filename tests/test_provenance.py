"""Provenance of outputs: stored where flimage ignores it, read back, re-applied identically."""

import hashlib
import warnings

import h5py
import numpy as np
import pytest

from flimage_app import __version__
from flimage_app.model.bleach import correct_series
from flimage_app.model.bleach.synthetic import blob, write_bleaching_series
from flimage_app.model.errors import FileFormatError
from flimage_app.model.provenance import read_provenance
from flimage_app.model.recipes import reapply

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import flimage

SHAPE = (40, 40)
TIMES = np.arange(25) * 0.2


@pytest.fixture
def series_path(tmp_path):
    path = tmp_path / "input.h5"
    write_bleaching_series(path, TIMES, SHAPE, rate=0.4, plateau=100.0, noise=2.0)
    return path


def raw_frames(path):
    with h5py.File(path, "r") as handle:
        count = sum(1 for key in handle if key.startswith("fli_"))
        return [handle[f"fli_{i}/fluorescence/raw"][()] for i in range(count)]


def test_record_holds_method_parameters_masks_report_input_and_version(series_path, tmp_path):
    signal = blob(SHAPE) > 0.3
    output = tmp_path / "out.h5"
    result = correct_series(series_path, output, "exp", region="signal", signal_mask=signal,
                            background="constant", background_value=100.0)
    record = read_provenance(output)
    assert record["operation"] == "bleach correction" and record["method"] == "exp"
    assert record["parameters"]["region"] == "signal"
    assert record["parameters"]["background_value"] == 100.0
    np.testing.assert_array_equal(record["masks"]["signal_mask"], signal)
    assert record["masks"]["background_mask"] is None
    assert record["input"]["file"] == "input.h5"
    assert record["input"]["sha256"] == hashlib.sha256(series_path.read_bytes()).hexdigest()
    assert record["app_version"] == __version__ and record["date"][:2] == "20"
    assert record["report"]["parameters"] == pytest.approx(result.report.parameters)
    assert record["report"]["errors"] == pytest.approx(result.report.errors)
    assert "Half-life" in record["report"]["text"]
    np.testing.assert_allclose(record["trace"]["intensity"], result.intensity)
    np.testing.assert_allclose(record["trace"]["correction"], result.correction)


def test_flimage_ignores_the_app_group(series_path, tmp_path):
    output = tmp_path / "out.h5"
    correct_series(series_path, output, "ratio", border_px=6)
    with h5py.File(output, "r") as handle:
        assert "flimage_app" in handle
        assert all("flimage_app" not in handle[key] for key in handle if key.startswith("fli_"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with flimage.FLSeries(h5file=output, h5mode="r") as fls:
            assert len(fls) == TIMES.size
            assert fls[0].info  # flimage validates every root attribute of a frame


@pytest.mark.parametrize("method", ["flimage", "histogram", "biexp_mask"])
def test_reapplied_provenance_gives_identical_frames(method, series_path, tmp_path):
    options = {}
    if method == "biexp_mask":
        method, options = "ratio", {"background": "mask", "background_mask": blob(SHAPE) < 0.05,
                                    "region": "outside"}
    first = tmp_path / "first.h5"
    correct_series(series_path, first, method, border_px=6, **options)
    again = tmp_path / "again.h5"
    reapply(read_provenance(first), series_path, again)
    for expected, actual in zip(raw_frames(first), raw_frames(again), strict=True):
        np.testing.assert_array_equal(actual, expected)


def test_reapply_to_another_series(series_path, tmp_path):
    first = tmp_path / "first.h5"
    correct_series(series_path, first, "exp", border_px=6)
    other = tmp_path / "other.h5"
    write_bleaching_series(other, TIMES, SHAPE, rate=0.2, plateau=100.0, seed=5)
    result = reapply(read_provenance(first), other, tmp_path / "other_corrected.h5")
    assert result.method == "exp"
    assert result.report.parameters["k"] == pytest.approx(0.2, rel=0.1)


def test_series_without_provenance_says_so(series_path):
    with pytest.raises(FileFormatError, match="no provenance"):
        read_provenance(series_path)


def _rewrite_record(path, change):
    import json

    with h5py.File(path, "r+") as handle:
        group = handle["flimage_app/provenance"]
        record = json.loads(group.attrs["record"])
        change(record)
        group.attrs["record"] = json.dumps(record)


def test_an_unknown_parameter_is_left_out_with_a_warning_and_never_applied(series_path,
                                                                          tmp_path):
    from flimage_app.model.validate import FileContentWarning

    first = tmp_path / "first.h5"
    correct_series(series_path, first, "exp", border_px=6)
    bright = tmp_path / "bright.h5"
    write_bleaching_series(bright, TIMES, SHAPE, rate=0.05, plateau=5000.0, seed=3)
    # a crafted record that would make reapply measure another series
    _rewrite_record(first, lambda record: record["parameters"].update(source=str(bright)))
    with pytest.warns(FileContentWarning, match=r"does not take \('source'\); ignored"):
        record = read_provenance(first)
    assert "source" not in record["parameters"] and record["parameters"]["border_px"] == 6
    result = reapply(record, series_path, tmp_path / "again.h5")
    assert result.report.parameters["k"] == pytest.approx(0.4, rel=0.1)  # series_path, not bright


def test_a_known_parameter_of_the_wrong_type_is_refused_naming_it(series_path, tmp_path):
    first = tmp_path / "first.h5"
    correct_series(series_path, first, "exp", border_px=6)
    _rewrite_record(first, lambda record: record["parameters"].update(border_px="6"))
    with pytest.raises(FileFormatError, match=r"first\.h5: /flimage_app/provenance: the "
                                              r"provenance record's parameter 'border_px' is "
                                              r"str '6'; expected a whole number"):
        read_provenance(first)


def test_a_file_is_hashed_once_until_it_changes(tmp_path, monkeypatch):
    import hashlib
    import os

    from flimage_app.model import provenance

    path = tmp_path / "input.h5"
    path.write_bytes(b"a" * 1000)
    opened = []
    real_open = open
    monkeypatch.setattr(provenance, "open", lambda *a, **k: opened.append(a[0]) or
                        real_open(*a, **k), raising=False)
    first = provenance.file_sha256(path)
    assert provenance.file_sha256(str(path)) == first == hashlib.sha256(b"a" * 1000).hexdigest()
    assert len(opened) == 1  # the second call used the first one's digest
    path.write_bytes(b"b" * 1000)  # same size, new content: a new modification time
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert provenance.file_sha256(path) == hashlib.sha256(b"b" * 1000).hexdigest()
    assert len(opened) == 2
