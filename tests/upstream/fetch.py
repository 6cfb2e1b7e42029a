"""Refresh the vendored upstream test files from the PyPI source distributions.

``python tests/upstream/fetch.py`` downloads the sdists with pip
(``pip download --no-deps --no-binary :all:``), copies the files listed in
:data:`FILES` (tests, their data and the licence) into this folder and
rewrites ``SOURCES.txt`` with the SHA-256 of every sdist and file.  The
test suite itself needs no network: it runs the vendored copies.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: sdist → files copied from it (paths inside the sdist's top folder)
FILES = {
    "flimage==0.3.3": ["LICENSE", "tests/test_core.py", "tests/test_core_convenience.py",
                       "tests/test_series.py", "tests/test_series_convenience.py",
                       "tests/data/basic.h5"],
    # the background estimation, which the app reimplements; the rest of qpimage's suite
    # tests QPImage (phase, amplitude, refocusing), which the app does not have
    "qpimage==0.9.3": ["LICENSE", "tests/conftest.py", "tests/test_bg_estimate.py",
                       "tests/test_bg_estimate_offset.py", "tests/test_bg_estimate_poly2o.py",
                       "tests/test_bg_estimate_tilt.py", "tests/data/bg_tilt.h5"],
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    lines = ["# Vendored from PyPI sdists by tests/upstream/fetch.py (licences alongside)."]
    with tempfile.TemporaryDirectory() as folder:
        for requirement, members in FILES.items():
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--no-binary", ":all:", requirement, "-d", folder], check=True)
            name, version = requirement.split("==")
            sdist = Path(folder) / f"{name}-{version}.tar.gz"
            lines.append(f"{sdist.name}  sha256 {sha256(sdist)}")
            with tarfile.open(sdist) as archive:
                archive.extractall(folder, filter="data")
            for member in members:
                source = Path(folder) / f"{name}-{version}" / member
                target = HERE / f"{name}-{version}" / member
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                lines.append(f"  {name}-{version}/{member}  sha256 {sha256(target)}")
    (HERE / "SOURCES.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
