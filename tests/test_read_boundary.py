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

from .corpus import CASES, running_as_root

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
