"""The `flimage-app` command line, run as a subprocess (``python -m flimage_app``)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from flimage_app import __version__, cli
from flimage_app.cli import command as cli_main
from flimage_app.cli import console as cli_console
from flimage_app.model import FLImage, FLSeries
from flimage_app.model.hyperstack import is_hyperstack
from flimage_app.model.tiffio import MissingCalibrationWarning


def run(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flimage_app", *map(str, args)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def assert_one_error_line(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flimage-app: error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.fixture
def bleaching_series(tmp_path) -> Path:
    """A small FLSeries file: a bright spot that bleaches with a 1 s half-life, 4 frames/s."""
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[:48, :64]
    spot = 500 * np.exp(-((rows - 24) ** 2 + (cols - 32) ** 2) / 120)
    path = tmp_path / "series.h5"
    with FLSeries(h5file=path, h5mode="w") as series:
        for index in range(12):
            time = 0.25 * index
            image = 100 + spot * 0.5 ** (time / 1.0) + rng.normal(0, 1, rows.shape)
            with FLImage(data=image, meta_data={"time": time, "pixel size": 2e-7}) as fli:
                series.add_flimage(fli)
    return path


@pytest.fixture
def imagej_stack(tmp_path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(4).integers(0, 4000, (5, 16, 20), dtype=np.uint16)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, imagej=True, resolution=(5.0, 5.0),
                     metadata={"axes": "TYX", "finterval": 0.5, "unit": "um"})
    return path, data


# ------------------------------------------------------------------ general
def test_version_and_help():
    done = run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"flimage-app {__version__}"
    done = run("--help")
    assert done.returncode == 0
    for name in ("info", "import", "export", "bleach", "denoise", "background", "--demo"):
        assert name in done.stdout


def test_usage_errors_exit_2():
    assert run("info").returncode == 2  # missing FILE
    assert run("export", "a.h5", "-o", "b.h5", "--no-such-option").returncode == 2
    done = run("bleach", "a.h5", "-o", "b.h5", "--method", "magic")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_info_of_a_series(bleaching_series):
    done = run("info", bleaching_series)
    assert done.returncode == 0, done.stderr
    assert "FLSeries" in done.stdout
    assert "48 x 64 px" in done.stdout
    assert "0 s to 2.75 s" in done.stdout
    assert "0.2 µm" in done.stdout
    summary = json.loads(run("info", "--json", bleaching_series).stdout)
    assert summary["frames"] == 12 and summary["kind"] == "FLSeries"


def test_info_of_stacks_reads_metadata_only(tmp_path, imagej_stack):
    stack, _ = imagej_stack
    done = run("info", stack)
    assert done.returncode == 0, done.stderr
    assert "ImageJ TIFF" in done.stdout and "T=5 x Y=16 x X=20" in done.stdout
    assert "0 s to 2 s" in done.stdout and "0.2 µm" in done.stdout
    hyper = tmp_path / "hyper.tif"
    tifffile.imwrite(hyper, np.zeros((3, 2, 8, 9), np.uint8), imagej=True,
                     metadata={"axes": "TCYX"})
    done = run("info", hyper)
    assert done.returncode == 0, done.stderr
    # channels import whole now (issue 14); --channel still picks one
    assert "Channel 1 (no colour), Channel 2 (no colour)" in done.stdout
    assert "imports whole" in done.stdout and "--channel" in done.stdout


def test_errors_are_one_line_and_debug_shows_the_traceback(tmp_path):
    missing = tmp_path / "missing.h5"
    assert_one_error_line(run("info", missing), "missing.h5")
    done = run("--debug", "info", missing)
    assert done.returncode == 1 and "Traceback" in done.stderr
    done = run("info", missing, "--debug")
    assert done.returncode == 1 and "Traceback" in done.stderr


# ------------------------------------------------------------------ import
def test_import_tiff(tmp_path, imagej_stack):
    stack, data = imagej_stack
    out = tmp_path / "imported.h5"
    done = run("import", stack, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "import: importing 5/5" in done.stderr  # progress on stderr, lines when not a terminal
    with FLSeries(h5file=out, h5mode="r") as series:
        np.testing.assert_array_equal([fli.raw_fl for fli in series], data)
        np.testing.assert_allclose(series.times(), 0.5 * np.arange(5))
        assert series[0]["pixel size"] == pytest.approx(2e-7)


def test_import_options_and_quiet(tmp_path):
    np.save(tmp_path / "stack.npy", np.ones((3, 8, 8), np.uint16))
    out = tmp_path / "imported.h5"
    done = run("import", tmp_path / "stack.npy", "-o", out, "--pixel-size", "1.5e-7",
               "--interval", "2", "--quiet")
    assert done.returncode == 0 and done.stderr == ""
    with FLSeries(h5file=out, h5mode="r") as series:
        np.testing.assert_allclose(series.times(), [0, 2, 4])
        assert series[2]["pixel size"] == 1.5e-7


def test_import_warns_about_missing_calibration(tmp_path):
    np.save(tmp_path / "stack.npy", np.ones((3, 8, 8), np.uint16))
    done = run("import", tmp_path / "stack.npy", "-o", tmp_path / "out.h5")
    assert done.returncode == 0
    assert "warning: stack.npy: the file holds no frame times" in done.stderr
    assert "--interval" in done.stderr


def test_import_never_overwrites_without_overwrite(tmp_path, imagej_stack):
    stack, _ = imagej_stack
    out = tmp_path / "imported.h5"
    out.write_bytes(b"precious")
    assert_one_error_line(run("import", stack, "-o", out), "exists", "--overwrite")
    assert out.read_bytes() == b"precious"
    assert run("import", stack, "-o", out, "--overwrite", "-q").returncode == 0
    with FLSeries(h5file=out, h5mode="r") as series:
        assert len(series) == 5
    assert files_in(tmp_path) == ["imported.h5", "stack.tif"]


def test_import_errors(tmp_path):
    hyper = tmp_path / "hyper.tif"
    tifffile.imwrite(hyper, np.zeros((3, 2, 8, 9), np.uint8), imagej=True,
                     metadata={"axes": "TCYX"})
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((3, 8, 9, 3), np.uint8), photometric="rgb")
    assert_one_error_line(run("import", rgb, "-o", tmp_path / "o.h5"), "colour samples",
                          "--channel")
    assert run("import", hyper, "-o", tmp_path / "o.h5", "--channel", "1", "-q").returncode == 0
    assert run("import", hyper, "-o", tmp_path / "whole.h5", "-q").returncode == 0
    assert is_hyperstack(tmp_path / "whole.h5")
    done = run("import", hyper, "-o", tmp_path / "p.h5", "--pixel-size", "0.2")
    assert done.returncode == 2 and "unit is metres" in done.stderr
    assert run("import", hyper, "-o", tmp_path / "p.tif").returncode == 2
    assert run("import", hyper, "-o", tmp_path / "p.h5", "--interval", "-1").returncode == 2
    assert_one_error_line(run("import", tmp_path / "nope.tif", "-o", tmp_path / "p.h5"),
                          "nope.tif")
    assert not (tmp_path / "p.h5").exists()


# ------------------------------------------------------------------ export
def test_export_tif_and_npy(tmp_path, bleaching_series):
    done = run("export", bleaching_series, "-o", tmp_path / "out.tif", "-q")
    assert done.returncode == 0, done.stderr
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.imagej_metadata["finterval"] == pytest.approx(0.25)
        assert tif.imagej_metadata["unit"] == "um"
        data = tif.asarray()
    assert data.shape == (12, 48, 64) and data.dtype == np.float32
    assert run("export", bleaching_series, "-o", tmp_path / "raw.npy", "--raw").returncode == 0
    with FLSeries(h5file=bleaching_series, h5mode="r") as series:
        np.testing.assert_allclose(np.load(tmp_path / "raw.npy"),
                                   [fli.raw_fl for fli in series], rtol=1e-6)


def test_export_errors(tmp_path, bleaching_series):
    assert run("export", bleaching_series, "-o", tmp_path / "out.png").returncode == 2
    target = tmp_path / "out.tif"
    target.write_bytes(b"old")
    assert_one_error_line(run("export", bleaching_series, "-o", target), "--overwrite")
    assert target.read_bytes() == b"old"
    assert run("export", bleaching_series, "-o", target, "--overwrite", "-q").returncode == 0
    assert target.read_bytes() != b"old"


# ------------------------------------------------------------------ bleach
def test_bleach_with_csv_and_tif(tmp_path, bleaching_series):
    out, table, stack = tmp_path / "corrected.h5", tmp_path / "curve.csv", tmp_path / "c.tif"
    done = run("bleach", bleaching_series, "-o", out, "--method", "exp", "--border-px", "5",
               "--csv", table, "--tif", stack, "-q")
    assert done.returncode == 0, done.stderr
    assert "Half-life" in done.stdout  # the fit report
    with FLSeries(h5file=out, h5mode="r") as series:
        assert len(series) == 12
    rows = list(csv.reader(io.StringIO(table.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 13 and rows[0][0] == "frame"
    assert tifffile.imread(stack).shape == (12, 48, 64)
    info = run("info", out)
    assert "provenance:        bleach correction (exp) of series.h5" in info.stdout


def test_bleach_demo_with_the_default_method_exp(tmp_path):
    from flimage_app.model.demo import demo_series_path

    done = run("bleach", demo_series_path(), "-o", tmp_path / "c.h5", "-q")
    assert done.returncode == 0, done.stderr
    assert "Half-life" in done.stdout
    from flimage_app.model.provenance import read_provenance

    assert read_provenance(tmp_path / "c.h5")["method"] == "exp"


def test_bleach_checks_every_output_before_working(tmp_path, bleaching_series):
    out, table = tmp_path / "corrected.h5", tmp_path / "curve.csv"
    table.write_text("keep")
    assert_one_error_line(run("bleach", bleaching_series, "-o", out, "--csv", table),
                          "curve.csv exists")
    assert not out.exists() and table.read_text() == "keep"
    assert_one_error_line(run("bleach", bleaching_series, "-o", bleaching_series,
                              "--overwrite"), "is an input file")
    assert_one_error_line(run("bleach", bleaching_series, "-o", out, "--tif", out.with_suffix(
        ".tif"), "--csv", tmp_path / "missing_folder" / "c.csv"), "does not exist")
    assert run("bleach", bleaching_series, "-o", out, "--background",
               "constant").returncode == 2
    assert files_in(tmp_path) == ["curve.csv", "series.h5"]


def test_bleach_methods_match_the_engine():
    from flimage_app.model.bleach import METHODS

    assert set(cli_console.BLEACH_METHODS) == set(METHODS)


# ------------------------------------------------------------------ denoise
def test_denoise(tmp_path, bleaching_series):
    out = tmp_path / "denoised.h5"
    done = run("denoise", bleaching_series, "-o", out, "--weight", "1.5")
    assert done.returncode == 0, done.stderr
    assert "denoise: denoising 12/12" in done.stderr
    with FLSeries(h5file=out, h5mode="r") as series, \
            FLSeries(h5file=bleaching_series, h5mode="r") as source:
        assert len(series) == 12
        assert series[0].raw_fl.std() < source[0].raw_fl.std()
    assert run("denoise", bleaching_series, "-o", out, "--weight", "0").returncode == 2
    assert_one_error_line(run("denoise", bleaching_series, "-o", out), "--overwrite")


# ------------------------------------------------------------------ GUI launcher
def test_first_verb_skips_option_values():
    assert cli_main.first_verb(["info", "x.h5"]) == "info"
    assert cli_main.first_verb(["-q", "bleach", "x.h5"]) == "bleach"
    assert cli_main.first_verb(["--panel", "bleach", "x.h5"]) is None
    assert cli_main.first_verb(["--", "info"]) is None
    assert cli_main.first_verb(["data.h5"]) is None


def test_launcher_calls_the_gui(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("a.h5", "b.tif"):
        (tmp_path / name).write_bytes(b"")
    calls = []
    fake_gui = types.ModuleType("flimage_app.gui")
    fake_gui.main = lambda files, **options: calls.append((files, options)) or 0
    monkeypatch.setitem(sys.modules, "flimage_app.gui", fake_gui)
    monkeypatch.setattr("flimage_app.gui", fake_gui, raising=False)
    assert cli.main(["a.h5", "b.tif", "--panel", "bleach", "--demo"]) == 0
    assert calls == [(["a.h5", "b.tif"], {"demo": True, "screenshot": None, "panel": "bleach"})]


def test_launcher_without_gui_prints_a_summary(monkeypatch, capsys):
    no_gui = types.ModuleType("flimage_app.gui")  # a GUI package without main()
    monkeypatch.setitem(sys.modules, "flimage_app.gui", no_gui)
    monkeypatch.setattr("flimage_app.gui", no_gui, raising=False)
    assert cli.main(["--demo"]) == 0
    captured = capsys.readouterr()
    assert "GUI is not available" in captured.err
    assert "demo_series.h5" in captured.out and "36" in captured.out
    assert cli.main(["--demo", "--screenshot", "x.png"]) == 1
    assert "--screenshot needs the GUI" in capsys.readouterr().err


def test_demo_screenshot_through_the_real_gui(tmp_path):
    png = tmp_path / "demo.png"
    done = run("--demo", "--screenshot", png, "--panel", "browse",
               env={"QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ console
class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise():
    terminal = FakeTerminal()
    bar = cli_console.Console(stream=terminal).progress("work")
    for done in range(1, 5):
        bar(done, 4)
    assert terminal.getvalue().count("\r") == 4 and terminal.getvalue().endswith("4/4\n")
    log = io.StringIO()
    lines = cli_console.Console(stream=log).progress("work")
    for done in range(1, 101):
        lines(done, 100)
    assert log.getvalue().splitlines() == [f"work: {n}/100" for n in range(10, 101, 10)]
    assert cli_console.Console(quiet=True, stream=log).progress("work") is None


def test_warnings_become_notes(capsys, tmp_path):
    np.save(tmp_path / "s.npy", np.zeros((2, 4, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("always", MissingCalibrationWarning)
        assert cli.main(["export", str(tmp_path / "s.npy"), "-o", str(tmp_path / "s.tif")]) == 0
    assert "flimage-app: warning: s.npy: the file holds no pixel size" in capsys.readouterr().err
