"""The reading boundary (issue 17): every corpus file through the library, in this process.

For each case of :mod:`tests.corpus`: opening, reading every frame's pixels,
backgrounds and metadata, the times and identifiers, and ``describe`` either
succeed or raise one FileFormatError whose one-line message names the file;
never another exception, a crash or a hang; the input stays byte-identical.
"""

from __future__ import annotations

import hashlib
import time
import warnings

import pytest

from flimage_app.model.errors import FileFormatError
from flimage_app.model.loader import describe, open_series
from flimage_app.model.validate import MEMORY_LIMIT_VARIABLE

from .corpus import CASES, ROI_CASES, ROI_FRAME_SHAPE, running_as_root

#: Seconds one case may take (the slowest builds 40,000 attributes).
CASE_DEADLINE_S = 20.0
#: The memory the app may assume in these tests: the 2 GB computer of issue 17.
MEMORY_LIMIT = 2 * 2**30


@pytest.fixture(autouse=True)
def small_computer(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, str(MEMORY_LIMIT))


def digest(path):
    if not path.is_file():
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except PermissionError:
        return "unreadable"


def read_everything(path) -> None:
    """What `info`, the browser and the processing verbs read from a file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        series = open_series(path)
        try:
            series.times()
            series.identifiers()
            for index in range(len(series)):
                frame = series[index]
                frame.raw_fl
                frame.bg_fl
                frame.meta
                frame.info
        finally:
            series.close()
        describe(path)


def outcome(path) -> str:
    try:
        read_everything(path)
    except FileFormatError as exc:
        message = str(exc)
        assert "\n" not in message.strip(), message
        assert path.name in message, f"the message does not name the file: {message}"
        return "error"
    return "ok"


@pytest.mark.parametrize("name, expected, make", CASES, ids=[case[0] for case in CASES])
def test_corpus_through_the_library(tmp_path, name, expected, make):
    if name == "unreadable file" and running_as_root():
        pytest.skip("root reads files without read permission")
    path = make(tmp_path)
    before = digest(path)
    started = time.perf_counter()
    result = outcome(path)
    elapsed = time.perf_counter() - started
    assert elapsed < CASE_DEADLINE_S, f"{name} took {elapsed:.1f} s"
    if expected["read"] != "either":
        assert result == expected["read"], f"{name}: {result}, expected {expected['read']}"
    assert digest(path) == before


def load_and_rasterise(path) -> None:
    from flimage_app.model.rois import ROISet, import_imagej, load_roiset_json

    if path.suffix == ".json":
        roiset = load_roiset_json(path)
    else:
        roiset = ROISet(rois=tuple(import_imagej(path)))
    mask = roiset.mask(ROI_FRAME_SHAPE)
    assert mask is not None and mask.shape == ROI_FRAME_SHAPE


#: Peak memory (traced by Python) that loading and rasterising one ROI file may take.
ROI_PEAK_BYTES = 300 * 2**20
#: Seconds one ROI file may take.
ROI_DEADLINE_S = 15.0


@pytest.mark.parametrize("name, expected, make", ROI_CASES, ids=[case[0] for case in ROI_CASES])
def test_roi_files_load_bounded_or_refuse_in_one_line(tmp_path, name, expected, make):
    import tracemalloc

    path = make(tmp_path)
    before = digest(path)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        load_and_rasterise(path)
        result = "ok"
    except (FileFormatError, ValueError) as exc:
        message = str(exc)
        assert message and "\n" not in message.strip(), message
        result = "error"
    finally:
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert result == expected, f"{name}: {result}"
    assert elapsed < ROI_DEADLINE_S, f"{name} took {elapsed:.1f} s"
    assert peak < ROI_PEAK_BYTES, f"{name} peaked at {peak / 2**20:.0f} MiB"
    assert digest(path) == before
