"""One voice for the command line (issue 13): every verb speaks, errs and reports the same way.

Run in this process through ``cli.main([...])``; only the no-display case needs
a process of its own.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import types
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import roifile
import tifffile

from flimage_app import cli
from flimage_app.cli import command as cli_command
from flimage_app.cli import console as cli_console
from flimage_app.model import FLImage, FLSeries
from flimage_app.model.bleach.synthetic import blob
from flimage_app.model.h5io import atomic_output
from flimage_app.model.rois import EllipseROI, RectangleROI, ROISet, save_roiset_json
from flimage_app.model.tiffio import inspect_stack

SHAPE = (48, 64)
#: verbs that read a series (any of them may be handed a TIFF / .npy stack)
STACK_VERBS = ("info", "import", "export", "background", "bleach", "denoise")


def main(*args) -> int:
    """``flimage-app ARGS`` in this process; the exit status (argparse's exits too)."""
    try:
        return cli.main([str(arg) for arg in args])
    except SystemExit as exit_:
        return int(exit_.code)


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "usage:" not in err
    return lines[0]


@pytest.fixture
def series_path(tmp_path) -> Path:
    """12 frames of a bleaching cell on an offset of 100, with an identifier."""
    rng = np.random.default_rng(8)
    cell = 300 * blob(SHAPE)
    path = tmp_path / "cells.h5"
    with FLSeries(h5file=path, h5mode="w", identifier="cells of day 1") as series:
        for index in range(12):
            image = 100 + cell * np.exp(-0.2 * index) + rng.normal(0, 1, SHAPE)
            series.add_flimage(FLImage(data=image, meta_data={"time": 0.5 * index,
                                                              "pixel size": 2e-7}))
    return path


@pytest.fixture
def plain_tif(tmp_path) -> Path:
    """A plain TIFF stack: no frame times, no pixel size."""
    path = tmp_path / "plain.tif"
    rng = np.random.default_rng(9)
    frames = [100 + 300 * blob(SHAPE) * np.exp(-0.2 * i) + rng.normal(0, 1, SHAPE)
              for i in range(6)]
    tifffile.imwrite(path, np.array(frames, dtype=np.float32))
    return path


def verb_options(verb: str) -> set[str]:
    parser = cli_command.build_verb_parser()
    sub = next(action for action in parser._actions
               if isinstance(action, type(parser._subparsers._group_actions[0])))
    return {option for action in sub.choices[verb]._actions for option in action.option_strings}


# ------------------------------------------------------------------ hints name real options
def test_every_hint_of_the_stack_reader_names_an_option_of_every_verb(tmp_path, plain_tif):
    hints = list(inspect_stack(plain_tif).notes)
    channels = tmp_path / "channels.tif"
    tifffile.imwrite(channels, np.zeros((3, 2, 4, 5, 6), np.uint16), imagej=True,
                     metadata={"axes": "TZCYX"})
    problem = inspect_stack(channels).problem
    assert problem is not None
    hints.append(problem)
    suggested = {option for text in hints for option in re.findall(r"--[a-z][a-z-]+", text)}
    assert {"--interval", "--pixel-size", "--channel"} <= suggested
    for verb in STACK_VERBS:
        missing = suggested - verb_options(verb)
        assert not missing, f"{verb} lacks {missing}, which its warnings suggest"


@pytest.mark.parametrize("verb", ["export", "background", "bleach", "denoise", "info"])
def test_each_verb_takes_the_options_its_warnings_suggest(verb, plain_tif, tmp_path, capsys):
    out = {"export": "o.tif", "background": "o.h5", "bleach": "o.h5", "denoise": "o.h5"}
    extra = {"background": ["--border-px", "3"], "bleach": ["--border-px", "3"]}.get(verb, [])
    output = ["-o", tmp_path / out[verb]] if verb in out else []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(verb, plain_tif, *output, *extra) == 0
    captured = capsys.readouterr()
    # info lists the notes in its summary; the other verbs warn on stderr
    said = captured.out if verb == "info" else captured.err
    suggested = set(re.findall(r"--[a-z][a-z-]+", said))
    assert "--interval" in suggested and suggested <= verb_options(verb)
    # and with them, the warnings are gone and the values are used
    assert main(verb, plain_tif, *output, *extra, "--interval", "0.5", "--pixel-size", "1e-7",
                "--overwrite" if output else "--json") == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err and "--interval" not in captured.out


def test_stack_options_are_refused_for_hdf5_inputs(series_path, tmp_path, capsys):
    assert main("bleach", series_path, "-o", tmp_path / "o.h5", "--interval", "2") == 2
    line = error_line(capsys)
    assert line.startswith("flimage-app bleach: error: --interval read TIFF")


# ------------------------------------------------------------------ usage errors
@pytest.mark.parametrize("arguments, verb, fragment", [
    (["bleach", "IN", "-o", "o.h5", "--border-px", "x"], "bleach", "not an integer"),
    (["bleach", "IN", "-o", "o.h5", "--method", "magic"], "bleach", "invalid choice"),
    (["bleach", "IN"], "bleach", "required"),
    (["export", "IN", "-o", "o.tif", "--pixel-size", "0.13"], "export", "unit is metres"),
    (["denoise", "IN", "-o", "o.h5", "--weight", "-1"], "denoise", "positive"),
    (["background", "IN", "-o", "o.h5", "--roi", "star:1,2"], "background", "write rect"),
    (["background", "IN", "-o", "o.h5", "--border-px", "2", "--frames", "5-2"], "background",
     "need 0 <= A <= B"),
    (["bleach", "IN", "-o", "o.h5", "--background", "mask", "--roi", "rect:1,2"], "bleach",
     "needs 4 values"),
    (["info"], "info", "required"),
    (["--panel", "nowhere"], None, "invalid choice"),
])
def test_usage_errors_are_one_line_with_exit_2(arguments, verb, fragment, series_path,
                                               capsys):
    arguments = [str(series_path) if a == "IN" else a for a in arguments]
    assert main(*arguments) == 2
    line = error_line(capsys)
    prog = f"flimage-app {verb}" if verb else "flimage-app"
    assert line.startswith(f"{prog}: error: ") and fragment in line, line
    if "(see" in line:
        assert line.endswith(f"(see {prog} --help)")


@pytest.mark.parametrize("word, hint", [("inf", "did you mean 'info'?"),
                                        ("Info", "did you mean 'info'?"),
                                        ("bleech", "did you mean 'bleach'?"),
                                        ("help", "see flimage-app --help")])
def test_a_word_that_is_no_verb_and_no_file_is_an_error(word, hint, series_path, monkeypatch,
                                                        capsys):
    calls = []
    fake_gui = types.ModuleType("flimage_app.gui")
    fake_gui.main = lambda files, **options: calls.append(files) or 0
    monkeypatch.setitem(sys.modules, "flimage_app.gui", fake_gui)
    monkeypatch.setattr("flimage_app.gui", fake_gui, raising=False)
    assert main(word, series_path) == 2
    assert error_line(capsys) == (f"flimage-app: error: {word!r} is not a verb or an "
                                  f"existing file; {hint}")
    assert calls == []  # never handed to a (running) window
    assert main(series_path) == 0 and calls == [[str(series_path)]]


@pytest.mark.parametrize("environ, platform, ok", [
    ({}, "linux", False),
    ({"QT_QPA_PLATFORM": "xcb"}, "linux", False),
    ({"WAYLAND_DISPLAY": "wayland-0", "QT_QPA_PLATFORM": "xcb"}, "linux", False),
    ({"DISPLAY": ":0"}, "linux", True),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux", True),
    ({"QT_QPA_PLATFORM": "minimal"}, "freebsd14", True),
    ({}, "darwin", True),
    ({}, "win32", True),
])
def test_display_problem(environ, platform, ok):
    assert (cli_command.display_problem(environ, platform) is None) == ok


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 / Wayland systems only")
@pytest.mark.parametrize("arguments", [[], ["--demo"], ["FILE"]])
def test_without_a_display_one_line_and_exit_1(arguments, series_path):
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    arguments = [str(series_path) if a == "FILE" else a for a in arguments]
    done = subprocess.run([sys.executable, "-m", "flimage_app", *arguments], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "flimage-app: error: no display to open the app on (DISPLAY or WAYLAND_DISPLAY is not "
        "set); run it in a desktop session, or use a verb without a window (see flimage-app "
        "--help)"]


def test_existing_output_messages_name_the_option(tmp_path, series_path, capsys):
    target = tmp_path / "taken.h5"
    target.write_bytes(b"keep")
    with pytest.raises(FileExistsError, match=r"overwrite=True"):
        with atomic_output(target):
            pass
    assert "--overwrite" in cli_console.error_message(FileExistsError(
        f"{target} exists; choose another name or pass overwrite=True to replace it"))
    # h5py's own text for an existing file ("errno = 17, error message = 'File exists'")
    try:
        h5py.File(target, "w-")
    except OSError as exc:
        text = cli_console.error_message(exc)
    assert text == f"{target} exists; pass --overwrite to replace it"
    for verb, out in (("background", "taken.h5"), ("denoise", "taken.h5"),
                      ("bleach", "taken.h5"), ("export", "taken.tif")):
        (tmp_path / out).write_bytes(b"keep")
        extra = ["--border-px", "3"] if verb == "background" else []
        assert main(verb, series_path, "-o", tmp_path / out, *extra) == 1
        assert error_line(capsys).endswith("exists; pass --overwrite to replace it")
        assert (tmp_path / out).read_bytes() == b"keep"


# ------------------------------------------------------------------ progress
def test_progress_counts_frames_per_named_pass(series_path, tmp_path, capsys):
    assert main("bleach", series_path, "-o", tmp_path / "o.h5", "--method", "flimage",
                "--border-px", "4", "--tif", tmp_path / "o.tif") == 0
    lines = [line for line in capsys.readouterr().err.splitlines()
             if re.fullmatch(r"\w+: [a-z ]+ \d+/\d+", line)]
    assert "bleach: measuring the background 12/12" in lines
    assert "bleach: measuring 12/12" in lines and "bleach: writing 12/12" in lines
    # the TIFF is written in the writing pass, as the frames are corrected: no export pass
    assert not any(line.startswith("export:") for line in lines), lines
    assert all(line.endswith("/12") for line in lines), lines  # frames, not passes × frames
    passes = [line.rsplit(" ", 1)[0] for line in lines]
    assert passes.index("bleach: measuring") < passes.index("bleach: writing")


@pytest.mark.parametrize("verb, label", [("background", "background: fitting"),
                                         ("denoise", "denoise: denoising"),
                                         ("export", "export: exporting")])
def test_every_verb_shows_progress(verb, label, series_path, tmp_path, capsys):
    out = tmp_path / ("o.tif" if verb == "export" else "o.h5")
    extra = ["--border-px", "3"] if verb == "background" else []
    assert main(verb, series_path, "-o", out, *extra) == 0
    err = capsys.readouterr().err
    assert f"{label} 12/12" in err
    assert err.strip().splitlines()[-1].startswith(f"flimage-app: wrote {out}")


def test_a_plain_progress_callback_still_works(series_path):
    from flimage_app.model.bleach import correct_series

    calls = []
    correct_series(series_path, None, "exp", border_px=4,
                   progress=lambda done, total: calls.append(total))
    assert calls == [12] * 12


# ------------------------------------------------------------------ --rois of every kind
def imagej_file(path: Path, *rois) -> Path:
    if path.suffix == ".zip":
        roifile.roiwrite(path, list(rois))
    else:
        rois[0].tofile(path)
    return path


def test_rois_come_from_json_fiji_and_h5(series_path, tmp_path, capsys):
    strip = RectangleROI(0, 0, 10, 48, name="strip")
    json_file = tmp_path / "rois.json"
    save_roiset_json(ROISet(rois=(strip,)), json_file)
    rect = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=0, top=0, right=10, bottom=48,
                             name="strip")
    sources = {"json": json_file,
               "roi": imagej_file(tmp_path / "strip.roi", rect),
               "zip": imagej_file(tmp_path / "set.zip", rect)}
    # an .h5 written by the background verb stores the ROIs it used
    assert main("background", series_path, "-o", tmp_path / "bg.h5", "--rois", json_file) == 0
    sources["h5"] = tmp_path / "bg.h5"
    traces = {}
    for kind, rois in sources.items():
        out = tmp_path / f"c_{kind}.h5"
        assert main("bleach", series_path, "-o", out, "--background", "mask", "--rois", rois,
                    "-q") == 0, capsys.readouterr().err
        from flimage_app.model.provenance import read_provenance

        record = read_provenance(out)
        np.testing.assert_array_equal(record["masks"]["background_mask"], strip.mask(SHAPE))
        traces[kind] = record["trace"]["background"]
    for kind in sources:
        np.testing.assert_allclose(traces[kind], traces["json"])


def test_fiji_rois_are_the_cells_for_signal_rois(series_path, tmp_path):
    oval = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=22, top=14, right=42, bottom=34,
                             name="cell")
    path = imagej_file(tmp_path / "cell.roi", oval)
    out = tmp_path / "c.h5"
    assert main("bleach", series_path, "-o", out, "--region", "signal", "--signal-rois", path,
                "-q") == 0
    from flimage_app.model.provenance import read_provenance

    expected = EllipseROI(22, 14, 20, 20).mask(SHAPE)
    np.testing.assert_array_equal(read_provenance(out)["masks"]["signal_mask"], expected)


def test_an_h5_without_rois_is_refused_in_one_line(series_path, tmp_path, capsys):
    assert main("bleach", series_path, "-o", tmp_path / "c.h5", "--background", "mask",
                "--rois", series_path) == 1
    assert "holds no ROI set" in error_line(capsys)


# ------------------------------------------------------------------ background verb
def test_background_verb_speaks_like_the_others(series_path, tmp_path, capsys):
    out = tmp_path / "bg.h5"
    assert main("background", series_path, "-o", out, "--border-px", "4") == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines()[-1].startswith(f"flimage-app: wrote {out}: "
                                                            "fitted the background of 12")
    assert main("info", out) == 0
    info = capsys.readouterr().out
    assert "provenance:        background (tilt) of cells.h5" in info
    assert "identifier:        cells of day 1" in info


@pytest.mark.parametrize("verb", ["bleach", "denoise", "background"])
def test_outputs_keep_the_series_identifier(verb, series_path, tmp_path):
    out = tmp_path / "o.h5"
    assert main(verb, series_path, "-o", out, "--border-px" if verb != "denoise" else "-q",
                *(["4"] if verb != "denoise" else []), "-q") == 0
    with FLSeries(h5file=out, h5mode="r") as series:
        assert series.identifier == "cells of day 1"


# ------------------------------------------------------------------ true descriptions
def exported_info(path: Path) -> str:
    with tifffile.TiffFile(path) as tif:
        return tif.imagej_metadata["Info"]


def test_export_says_what_the_pixels_are_and_where_they_come_from(tmp_path, series_path):
    ome = tmp_path / "cells.ome.tif"
    tifffile.imwrite(ome, np.zeros((3, 8, 8), np.uint16), metadata={"axes": "TYX"})
    assert main("export", ome, "-o", tmp_path / "a.tif", "-q") == 0
    text = exported_info(tmp_path / "a.tif")
    assert "from cells.ome.tif" in text
    assert "background-corrected" not in text and "no background stored" in text

    image = tmp_path / "image.h5"
    with FLImage(data=np.ones((8, 8)), h5file=image, h5mode="w"):
        pass
    assert main("export", image, "-o", tmp_path / "b.tif", "-q") == 0
    text = exported_info(tmp_path / "b.tif")
    assert "from image.h5" in text and "memory" not in text

    assert main("background", series_path, "-o", tmp_path / "bg.h5", "--border-px", "4",
                "-q") == 0
    assert main("export", tmp_path / "bg.h5", "-o", tmp_path / "c.tif", "-q") == 0
    assert "background-corrected" in exported_info(tmp_path / "c.tif")
    assert main("export", tmp_path / "bg.h5", "-o", tmp_path / "d.tif", "--raw", "-q") == 0
    assert "raw fluorescence" in exported_info(tmp_path / "d.tif")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_stored_background_is_the_csv_background(series_path, tmp_path):
    bg = tmp_path / "bg.h5"
    assert main("background", series_path, "-o", bg, "--border-px", "4", "--profile", "offset",
                "-q") == 0
    table = tmp_path / "c.csv"
    assert main("bleach", bg, "-o", tmp_path / "c.h5", "--background", "stored", "--csv",
                table, "-q") == 0
    rows = read_csv(table)
    with FLSeries(h5file=bg, h5mode="r") as series:
        stored = [series[i].bg_fl.mean() for i in range(len(series))]
    np.testing.assert_allclose([float(row["background"]) for row in rows], stored, rtol=1e-6)
    assert min(stored) > 95  # the offset of 100 was subtracted, not 0


def test_csv_starts_with_a_byte_order_mark_for_excel(series_path, tmp_path):
    table = tmp_path / "c.csv"
    assert main("bleach", series_path, "-o", tmp_path / "c.h5", "--border-px", "4", "--csv",
                table, "-q") == 0
    raw = table.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfframe,")
    assert len(read_csv(table)) == 12


def test_like_on_an_imported_file_says_what_it_is(tmp_path, plain_tif, series_path, capsys):
    imported = tmp_path / "imported.h5"
    assert main("import", plain_tif, "-o", imported, "--interval", "1", "-q") == 0
    assert main("bleach", series_path, "-o", tmp_path / "c.h5", "--like", imported) == 1
    line = error_line(capsys)
    assert "was made by 'import', not by a bleach correction" in line
    assert "not written by flimage-app" not in line
    assert main("info", imported) == 0
    assert "provenance:        import (TIFF" in capsys.readouterr().out


# ------------------------------------------------------------------ the default method
def test_bleach_defaults_to_exp_whose_corrected_frames_stay_flat(tmp_path, capsys):
    """The README's measurement: flimage's method leaves a fading series, exp does not."""
    rng = np.random.default_rng(7)
    shape = (96, 96)
    cell = blob(shape, 0.2)
    path = tmp_path / "camera.h5"
    with FLSeries(h5file=path, h5mode="w") as series:
        for index in range(80):
            time = 0.25 * index
            photons = 5 + 200 * cell * np.exp(-0.05 * time)
            image = 100 + rng.poisson(photons) + rng.normal(0, 2, shape)
            series.add_flimage(FLImage(data=np.round(image), meta_data={"time": time}))

    def corrected_means(out: Path) -> np.ndarray:
        with h5py.File(out, "r") as handle:
            return np.array([handle[f"fli_{i}/fluorescence/raw"][()].mean() for i in (0, 40, 79)])

    assert main("bleach", path, "-o", tmp_path / "default.h5", "-q") == 0
    assert "exp" in capsys.readouterr().out  # the report names the model
    flat = corrected_means(tmp_path / "default.h5")
    assert np.ptp(flat) < 0.02 * flat[0]
    assert main("bleach", path, "-o", tmp_path / "flimage.h5", "--method", "flimage",
                "--allow-stalled-fit", "-q") == 0
    fading = corrected_means(tmp_path / "flimage.h5")
    assert fading[2] < 0.9 * fading[0]


def test_help_names_exp_as_the_default(capsys):
    assert main("bleach", "--help") == 0
    text = capsys.readouterr().out
    assert "exp        A·exp(−k·t) + C" in text and "(default)" in text
    assert "(default: exp)" in re.sub(r"\s+", " ", text)


def test_console_progress_protocol_lines():
    log = io.StringIO()
    progress = cli_console.Console(stream=log).progress("bleach")
    progress.start_pass("measuring")
    for done in range(1, 81):
        progress(done, 80)
    progress.start_pass("writing")
    for done in range(1, 81):
        progress(done, 80)
    lines = log.getvalue().splitlines()
    assert lines[:2] == ["bleach: measuring 8/80", "bleach: measuring 16/80"]
    assert "bleach: measuring 80/80" in lines and lines[-1] == "bleach: writing 80/80"
    assert len(lines) == 20
