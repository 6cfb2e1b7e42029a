"""Every file of the bad-input corpus through `flimage-app info` and `flimage-app bleach`.

For each case: exit status 0 or 1 (1 where the file must be refused), never a
traceback, exactly one `flimage-app: error:` line on failure, the input file
unchanged, and no file at the output path after a failure.
"""

import hashlib
import subprocess
import sys

import pytest

from .corpus import CASES, running_as_root


def fingerprint(path):
    if not path.exists():
        return None
    if path.is_dir():
        return "dir"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except PermissionError:
        return ("unreadable", path.stat().st_mtime_ns, path.stat().st_size)


def run(*args):
    # conftest sets FLIMAGE_APP_MEMORY_LIMIT: the CLI behaves as on a 2 GB computer
    return subprocess.run([sys.executable, "-m", "flimage_app", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def check_clean_outcome(done, expected):
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stderr
    if expected == "error":
        assert done.returncode == 1, f"accepted a file it must refuse: {done.stdout}"
    if expected == "ok":
        assert done.returncode == 0, done.stderr
    if done.returncode == 1:
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("flimage-app: error: "), done.stderr


@pytest.mark.parametrize("name, expected, make", CASES, ids=[case[0] for case in CASES])
def test_info_and_bleach_on_bad_input(tmp_path, name, expected, make):
    if name == "unreadable file" and running_as_root():
        pytest.skip("root reads files without read permission")
    path = make(tmp_path)
    before = fingerprint(path)

    info = run("info", path)
    check_clean_outcome(info, expected["read"])
    if info.returncode == 0:
        assert "frames" in info.stdout.lower()

    output = tmp_path / "out" / "corrected.h5"
    output.parent.mkdir()
    bleach = run("bleach", path, "-o", output, "--quiet", "--border-px", "5")
    check_clean_outcome(bleach, expected["process"])
    if bleach.returncode != 0:
        assert not output.exists()
    assert list(output.parent.iterdir()) in ([], [output])  # no temporary file left behind
    assert fingerprint(path) == before
