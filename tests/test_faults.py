"""Faults during a write: a kill, a full disk. The input stays as it was, no partial output."""

import hashlib
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from flimage_app.model import FLImage, FLSeries


def write_long_series(path, frames=150, shape=(256, 256)):
    rng = np.random.default_rng(3)
    rows, cols = np.indices(shape)
    cell = 400 * np.exp(-((rows - shape[0] / 2) ** 2 + (cols - shape[1] / 2) ** 2) / 800)
    with FLSeries(h5file=path, h5mode="w") as fls:
        for ii in range(frames):
            image = 20 + cell * np.exp(-0.02 * ii) + rng.normal(0, 2, shape)
            fls.add_flimage(FLImage(data=image, meta_data={"time": 0.5 * ii}))
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bleach_command(source, target):
    return [sys.executable, "-m", "flimage_app", "bleach", str(source), "-o", str(target),
            "--quiet"]


@pytest.fixture(scope="module")
def long_series(tmp_path_factory):
    return write_long_series(tmp_path_factory.mktemp("faults") / "long.h5")


def test_sigkill_during_bleach_leaves_no_output(long_series, tmp_path):
    before = digest(long_series)
    target = tmp_path / "corrected.h5"
    process = subprocess.Popen(bleach_command(long_series, target), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    # wait until the output is being written (its temporary file exists and grows)
    while time.monotonic() < deadline and process.poll() is None:
        partial = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
        if partial and partial[0].stat().st_size > 1_000_000:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the correction finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not target.exists()
    assert digest(long_series) == before


def _limit_file_size():
    # writes past 2 MB fail with EFBIG, as on a full disk, instead of killing the process
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))


def test_full_disk_gives_one_clear_line(long_series, tmp_path):
    before = digest(long_series)
    target = tmp_path / "corrected.h5"
    done = subprocess.run(bleach_command(long_series, target), capture_output=True, text=True,
                          preexec_fn=_limit_file_size, timeout=300)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flimage-app: error: "), done.stderr
    assert "too large" in lines[0] and f"writing {target}" in lines[0]
    assert "Traceback" not in done.stderr
    assert not target.exists()
    assert [p for p in tmp_path.iterdir()] == []
    assert digest(long_series) == before
