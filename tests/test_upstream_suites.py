"""flimage 0.3.3's and qpimage 0.9.3's own tests, run against the app.

The test files are vendored from the PyPI source distributions (with their
licences) under ``tests/upstream/``; ``tests/upstream/fetch.py`` refreshes
them.  Each suite runs in its own Python process with ``tests/upstream/shim``
first on ``sys.path``:

* flimage's suite imports ``flimage`` from the shim, which is
  ``flimage_app.model``;
* qpimage's background tests run on the real qpimage (the app has no
  QPImage), with ``qpimage.bg_estimate`` replaced by the app's background
  estimator, the part of qpimage the app reimplements.

Tests that check a private detail are skipped with the reason written out
in ``tests/upstream/skips.py``.  As a control, both suites also run,
unskipped, against the real packages.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

pytest.importorskip("flimage")
pytest.importorskip("qpimage")

UPSTREAM = Path(__file__).parent / "upstream"
ROOT = Path(__file__).parent.parent
SUITES = {"flimage": UPSTREAM / "flimage-0.3.3" / "tests",
          "qpimage": UPSTREAM / "qpimage-0.9.3" / "tests"}
EXPECTED_COUNTS = {"flimage": 20, "qpimage": 11}


def load_skips() -> dict[str, str]:
    namespace: dict = {}
    exec((UPSTREAM / "skips.py").read_text(encoding="utf-8"), namespace)  # noqa: S102
    return namespace["SKIPS"]


def run_suite(suite: str, target: str, tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Run one vendored suite in a subprocess; test name → (outcome, message)."""
    folder = tmp_path / suite / "tests"
    shutil.copytree(SUITES[suite], folder)  # outside this project's conftest and rootdir
    report = tmp_path / f"{suite}-{target}.xml"
    path = [str(UPSTREAM / "shim")] if target == "app" else []
    path += [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p),
           "UPSTREAM_SUITE": suite, "UPSTREAM_TARGET": target, "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] += os.pathsep + str(UPSTREAM / "plugin")  # for the control run too
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "upstream_plugin",
         "--rootdir", str(folder.parent), f"--junitxml={report}", str(folder)],
        cwd=folder.parent, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        module = case.get("classname").rpartition(".")[2]  # e.g. "tests.test_core"
        name = f"{suite}/{module}.py::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "skipped" if child.tag == "skipped" else "failed"
                message = ((child.get("message") or "").splitlines() or [""])[0]
        outcomes[name] = (outcome, message)
    return outcomes


@pytest.mark.parametrize("suite", list(SUITES))
def test_upstream_suite_passes_against_the_app(suite, tmp_path):
    outcomes = run_suite(suite, "app", tmp_path)
    assert len(outcomes) == EXPECTED_COUNTS[suite]
    skips = {name for name in load_skips() if name.startswith(f"{suite}/")}
    failed = {name: message for name, (outcome, message) in outcomes.items()
              if outcome == "failed"}
    assert failed == {}
    skipped = {name for name, (outcome, _) in outcomes.items() if outcome == "skipped"}
    assert skipped == skips  # exactly the listed private details, each with its reason
    assert all("private detail: " in outcomes[name][1] for name in skipped)


@pytest.mark.parametrize("suite", list(SUITES))
def test_upstream_suite_passes_against_the_real_package(suite, tmp_path):
    """Control: the vendored tests are intact, and the skipped ones pass on flimage / qpimage."""
    outcomes = run_suite(suite, "upstream", tmp_path)
    assert len(outcomes) == EXPECTED_COUNTS[suite]
    assert {name: o for name, o in outcomes.items() if o[0] != "passed"} == {}


def test_every_listed_skip_names_an_upstream_test():
    for name, reason in load_skips().items():
        suite, _, rest = name.partition("/")
        filename, _, test = rest.partition("::")
        source = (SUITES[suite] / filename).read_text(encoding="utf-8")
        assert f"def {test}(" in source and len(reason) > 20


def test_vendored_files_are_the_sdists_files():
    """tests/upstream/SOURCES.txt records each file's SHA-256 as fetched from PyPI."""
    listed = [line.split() for line in (UPSTREAM / "SOURCES.txt").read_text().splitlines()
              if line.startswith("  ")]
    assert len(listed) == 13
    for relative, _, digest in listed:
        assert hashlib.sha256((UPSTREAM / relative).read_bytes()).hexdigest() == digest
