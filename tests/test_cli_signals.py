"""SIGINT and SIGTERM in the middle of a verb: exit 130 / 143, no output and no temporary left.

These run the command as a subprocess (a signal needs a process of its own) and
send the signal while the output's temporary file is being written.  Each case
runs several times: the failure this guards against (a KeyboardInterrupt that a
garbage-collection callback swallowed, so the verb finished and exited 0) came
and went between runs.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from flimage_app.model import FLImage, FLSeries

FRAMES, SHAPE = 120, (192, 192)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def long_series(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("signals") / "long.h5"
    rng = np.random.default_rng(5)
    rows, cols = np.indices(SHAPE)
    cell = 400 * np.exp(-((rows - 96) ** 2 + (cols - 96) ** 2) / 900)
    with FLSeries(h5file=path, h5mode="w") as series:
        for index in range(FRAMES):
            image = 100 + cell * np.exp(-0.02 * index) + rng.normal(0, 3, SHAPE)
            series.add_flimage(FLImage(data=image, meta_data={"time": 0.25 * index}))
    return path


def interrupt_midway(command: list[str], folder: Path, signum: int) -> subprocess.Popen:
    """Start `command`, send `signum` once a temporary output holds data; return the process."""
    process = subprocess.Popen([sys.executable, "-m", "flimage_app", *command],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        partial = [p for p in folder.iterdir() if p.name.endswith(".part")]
        if partial and any(p.stat().st_size > 200_000 for p in partial if p.exists()):
            break
        time.sleep(0.005)
    assert process.poll() is None, "the verb finished before the signal could be sent"
    process.send_signal(signum)
    process.wait(timeout=120)
    return process


CASES = {
    "bleach with csv and tif": lambda src, out: ["bleach", src, "-o", out / "c.h5",
                                                 "--csv", out / "c.csv", "--tif", out / "c.tif"],
    "background": lambda src, out: ["background", src, "-o", out / "bg.h5", "--border-px", "8"],
    "export": lambda src, out: ["export", src, "-o", out / "e.tif"],
    "denoise": lambda src, out: ["denoise", src, "-o", out / "d.h5"],
}
RUNS = [(case, signum, attempt) for case in CASES
        for signum in (signal.SIGINT, signal.SIGTERM)
        for attempt in range(3 if case in ("bleach with csv and tif", "background") else 1)]


@pytest.mark.parametrize("case, signum, attempt", RUNS,
                         ids=[f"{c}-{signal.Signals(s).name}-{a}" for c, s, a in RUNS])
def test_a_signal_midway_stops_cleanly(long_series, tmp_path, case, signum, attempt):
    before = digest(long_series)
    out = tmp_path / "out"
    out.mkdir()
    process = interrupt_midway([str(part) for part in CASES[case](long_series, out)], out,
                               signum)
    stderr = process.stderr.read()
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "flimage-app: interrupted; no output written"
    assert list(out.iterdir()) == []  # neither outputs nor hidden temporary files
    assert digest(long_series) == before


def test_import_interrupted_leaves_nothing(tmp_path):
    stack = tmp_path / "stack.npy"
    np.save(stack, np.random.default_rng(2).random((150, 192, 192), dtype=np.float32))
    out = tmp_path / "out"
    out.mkdir()
    process = interrupt_midway(["import", str(stack), "-o", str(out / "i.h5")], out,
                               signal.SIGTERM)
    assert process.returncode == 143, process.stderr.read()
    assert list(out.iterdir()) == []


def test_the_import_of_a_stack_input_stops_at_a_signal_too(tmp_path):
    from flimage_app.cli.console import Console, SignalGuard, open_input
    from flimage_app.model.errors import Cancelled

    stack = tmp_path / "stack.npy"
    np.save(stack, np.ones((4, 8, 8), np.float32))
    guard = SignalGuard()
    guard.received = signal.SIGTERM  # as the handler records it
    with pytest.raises(Cancelled):
        with open_input(stack, Console(signals=guard).cancel):
            pass


def test_the_signal_handlers_are_restored_after_a_verb(tmp_path):
    from flimage_app import cli

    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    np.save(tmp_path / "s.npy", np.ones((2, 8, 8), np.float32))
    assert cli.main(["export", str(tmp_path / "s.npy"), "-o", str(tmp_path / "s.tif"),
                     "-q"]) == 0
    assert {number: signal.getsignal(number) for number in before} == before
