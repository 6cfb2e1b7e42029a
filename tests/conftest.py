"""Shared test set-up: offscreen Qt, the reference files, and small synthetic series."""

import os
import pathlib
import shutil

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: reference files written by flimage (read-only; copy before writing)
REFERENCE_DIR = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flimage"


@pytest.fixture
def reference_file(tmp_path):
    """Copy a reference file of flimage to tmp_path and return the copy's path."""
    def copy(name: str) -> pathlib.Path:
        source = REFERENCE_DIR / name
        if not source.exists():
            pytest.skip(f"reference file {source} not available")
        target = tmp_path / name
        shutil.copy(source, target)
        return target
    return copy
