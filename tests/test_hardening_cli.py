"""The command line against bad input (the corpus) and faults on the write side.

Every file of the bad-input corpus goes through `flimage-app info` and `flimage-app bleach`.

For each case: exit status 0 or 1 (1 where the file must be refused), never a
traceback, exactly one `flimage-app: error:` line on failure, the input file
unchanged, and no file at the output path after a failure.
"""

import contextlib
import errno
import hashlib
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from flimage_app import cli
from flimage_app.model import FLImage, FLSeries, h5io
from flimage_app.model.bleach.synthetic import blob
from flimage_app.model.rois import RectangleROI, ROISet, save_roiset_json

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


# ------------------------------------------------------------------ the write side (issue 17)
SHAPE = (40, 56)


def main(*args) -> int:
    try:
        return cli.main([str(arg) for arg in args])
    except SystemExit as exit_:
        return int(exit_.code)


def one_error(capsys, status_line="flimage-app: error: ") -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(status_line), err
    return err[0]


def make_series(path, frames=10, level=100.0, identifier=None):
    rng = np.random.default_rng(abs(hash(path.name)) % 1000)
    cell = 300 * blob(SHAPE)
    with FLSeries(h5file=path, h5mode="w", identifier=identifier) as series:
        for index in range(frames):
            image = level + cell * np.exp(-0.2 * index) + rng.normal(0, 1, SHAPE)
            series.add_flimage(FLImage(data=image, meta_data={"time": 0.5 * index}))
    return path


@pytest.fixture
def cells(tmp_path):
    return make_series(tmp_path / "cells.h5")


def snapshot(folder):
    return {p.name: fingerprint(p) for p in folder.iterdir()}


@pytest.mark.parametrize("verb, extra", [
    ("background", ["--border-px", "3"]), ("bleach", ["--border-px", "4"]), ("denoise", []),
    ("export", []), ("import", []),
])
@pytest.mark.parametrize("link", ["same name", "symbolic link", "hard link"])
def test_no_verb_writes_over_its_input(verb, extra, link, tmp_path, cells, capsys):
    source = cells
    if verb == "import":
        source = tmp_path / "stack.npy"
        np.save(source, np.ones((3, 8, 8), np.float32))
    if verb == "export":
        source = tmp_path / "stack.tif"
        import tifffile

        tifffile.imwrite(source, np.ones((3, 8, 8), np.float32))
    if verb == "import" and link == "same name":
        pytest.skip("import's input (a stack) and output (.h5) never share a name")
    suffix = {"import": ".h5"}.get(verb, source.suffix)
    target = {"same name": source, "symbolic link": tmp_path / f"link{suffix}",
              "hard link": tmp_path / f"hard{suffix}"}[link]
    if link == "symbolic link":
        target.symlink_to(source)
    elif link == "hard link":
        os.link(source, target)
    before = snapshot(tmp_path)
    for overwrite in ([], ["--overwrite"]):
        assert main(verb, source, "-o", target, *extra, *overwrite) == 1
        assert "is an input file" in one_error(capsys)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("option", ["--like", "--rois", "--signal-rois", "--csv-over-rois"])
def test_bleach_never_writes_over_a_file_it_reads(option, tmp_path, cells, capsys):
    rois = tmp_path / "rois.json"
    save_roiset_json(ROISet(rois=(RectangleROI(0, 0, 8, 40),)), rois)
    reference = tmp_path / "ref.h5"
    assert main("bleach", cells, "-o", reference, "--border-px", "4", "-q") == 0
    hard = tmp_path / "hard.h5"
    if option == "--like":
        os.link(reference, hard)
        arguments = ["--like", reference, "-o", hard]
    elif option == "--rois":
        os.link(rois, hard)
        arguments = ["--background", "mask", "--rois", rois, "-o", hard]
    elif option == "--signal-rois":
        os.link(rois, tmp_path / "hard.tif")
        arguments = ["--region", "signal", "--signal-rois", rois, "-o", tmp_path / "o.h5",
                     "--tif", tmp_path / "hard.tif"]
    else:
        os.link(rois, tmp_path / "hard.csv")
        arguments = ["--background", "mask", "--rois", rois, "-o", tmp_path / "o.h5",
                     "--csv", tmp_path / "hard.csv"]
    before = snapshot(tmp_path)
    assert main("bleach", cells, *arguments, "--overwrite") == 1
    assert "is an input file" in one_error(capsys)
    assert snapshot(tmp_path) == before


def test_background_never_writes_over_its_bg_image_or_rois(tmp_path, cells, capsys):
    image = tmp_path / "dark.npy"
    np.save(image, np.zeros(SHAPE))
    rois = tmp_path / "rois.json"
    save_roiset_json(ROISet(rois=(RectangleROI(0, 0, 8, 40),)), rois)
    link = tmp_path / "dark_link.h5"
    link.symlink_to(image)
    before = snapshot(tmp_path)
    assert main("background", cells, "-o", link, "--border-px", "3", "--bg-image", image,
                "--overwrite", "-q") == 1
    assert "is an input file" in one_error(capsys)
    assert main("background", cells, "-o", tmp_path / "rois.h5", "--rois", rois, "-q") == 0
    os.link(tmp_path / "rois.h5", tmp_path / "rois_again.h5")
    before = snapshot(tmp_path)
    assert main("background", cells, "-o", tmp_path / "rois_again.h5", "--rois",
                tmp_path / "rois.h5", "--overwrite", "-q") == 1
    assert "is an input file" in one_error(capsys)
    assert snapshot(tmp_path) == before


def write_record(path, record):
    """Replace the provenance record of the app-written file `path` (a crafted reference)."""
    with h5py.File(path, "r+") as handle:
        handle["flimage_app/provenance"].attrs["record"] = json.dumps(record)


def test_like_never_reads_a_source_named_in_the_record(tmp_path, cells, capsys):
    other = make_series(tmp_path / "other.h5", level=5000.0)
    reference = tmp_path / "ref.h5"
    assert main("bleach", cells, "-o", reference, "--border-px", "4", "-q") == 0
    with h5py.File(reference, "r") as handle:
        record = json.loads(handle["flimage_app/provenance"].attrs["record"])
    record["parameters"]["source"] = str(other)
    record["source"] = {"file": "other.h5", "path": str(other)}
    write_record(reference, record)
    out = tmp_path / "out.h5"
    assert main("bleach", cells, "-o", out, "--like", reference) == 0
    err = capsys.readouterr().err
    assert "not taken from ref.h5's record: source" in err
    with h5py.File(out, "r") as handle:  # the frames are those of IN, never of other.h5
        assert handle["fli_0/fluorescence/raw"][()].mean() < 1000


@pytest.mark.parametrize("key, value", [
    ("method", "magic"), ("method", ["exp"]), ("border_px", "20"), ("border_px", -3),
    ("border_px", 2.5), ("background", "/etc/passwd"), ("background_value", "1e3"),
    ("region", {"a": 1}), ("strict", "no"), ("histogram_reference", None),
])
def test_like_checks_every_recorded_parameter(key, value, tmp_path, cells, capsys):
    reference = tmp_path / "ref.h5"
    assert main("bleach", cells, "-o", reference, "--border-px", "4", "-q") == 0
    with h5py.File(reference, "r") as handle:
        record = json.loads(handle["flimage_app/provenance"].attrs["record"])
    record["parameters"][key] = value
    write_record(reference, record)
    out = tmp_path / "out.h5"
    assert main("bleach", cells, "-o", out, "--like", reference) == 1
    line = one_error(capsys)
    # a wrong JSON type is refused by the reading boundary (provenance.check_record,
    # "... parameter 'border_px' is str '20'; expected a whole number"), a value out of
    # range by --like ("its record gives border_px = -3, which bleach does not accept");
    # either way one line naming the file, the parameter and its value
    assert "ref.h5: " in line and key in line and repr(value) in line
    assert line.endswith("; --like cannot use it")
    assert not out.exists()


def test_like_refuses_a_record_that_is_not_a_table(tmp_path, cells, capsys):
    reference = tmp_path / "ref.h5"
    assert main("bleach", cells, "-o", reference, "--border-px", "4", "-q") == 0
    write_record(reference, {"operation": "bleach correction", "parameters": [1, 2]})
    assert main("bleach", cells, "-o", tmp_path / "o.h5", "--like", reference) == 1
    line = one_error(capsys)  # refused by the reading boundary
    assert "ref.h5: " in line and "'parameters' is list [1, 2]; expected an object" in line
    assert line.endswith("; --like cannot use it")


def fail_with_enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("failing", ["tif", "csv", "bleach"])
def test_bleach_outputs_appear_all_or_none(failing, tmp_path, cells, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    if failing == "tif":
        monkeypatch.setattr("flimage_app.model.tiffio.tifffile.imwrite", fail_with_enospc)
    elif failing == "csv":
        monkeypatch.setattr("flimage_app.model.bleach.engine.BleachResult.to_csv",
                            fail_with_enospc)
    else:
        monkeypatch.setattr("flimage_app.model.bleach.engine.provenance_module.write_provenance",
                            fail_with_enospc)
    assert main("bleach", cells, "-o", out / "c.h5", "--border-px", "4", "--csv",
                out / "c.csv", "--tif", out / "c.tif", "-q") == 1
    assert "no space left on device writing" in one_error(capsys)
    assert list(out.iterdir()) == []


def test_an_existing_output_survives_a_failed_run(tmp_path, cells, monkeypatch, capsys):
    out = tmp_path / "c.h5"
    assert main("bleach", cells, "-o", out, "--border-px", "4", "-q") == 0
    before = fingerprint(out)
    monkeypatch.setattr("flimage_app.model.tiffio.tifffile.imwrite", fail_with_enospc)
    assert main("bleach", cells, "-o", out, "--border-px", "4", "--tif", tmp_path / "c.tif",
                "--overwrite", "-q") == 1
    assert fingerprint(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5", "cells.h5"]


def test_output_group_renames_together_and_cleans_up(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    with pytest.raises(RuntimeError):
        with h5io.output_group():
            with h5io.atomic_output(first) as temporary:
                temporary.write_text("a")
            assert not first.exists()  # held back until the group ends
            raise RuntimeError("the second output failed")
    assert list(tmp_path.iterdir()) == []
    with h5io.output_group() as group:
        with h5io.atomic_output(first) as temporary:
            temporary.write_text("a")
        assert group.path_of(first).read_text() == "a"
        assert h5io.readable_path(first) == group.path_of(first)
        with h5io.atomic_output(second) as temporary:
            temporary.write_text("b")
    assert first.read_text() == "a" and second.read_text() == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_atomic_output_removes_its_temporary_on_any_exit(stop, tmp_path):
    with pytest.raises(stop):
        with h5io.atomic_output(tmp_path / "x.h5") as temporary:
            temporary.write_bytes(b"partial")
            raise stop()
    assert list(tmp_path.iterdir()) == []


def test_a_name_at_the_file_system_limit_works(tmp_path, cells, capsys):
    name = "c" * 240 + ".h5"  # 243 characters: valid, while its old temporary name was not
    assert len(name) == 243
    assert main("bleach", cells, "-o", tmp_path / name, "--border-px", "4", "-q") == 0
    tif = "t" * 251 + ".tif"
    assert main("export", tmp_path / name, "-o", tmp_path / tif, "-q") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["cells.h5", name, tif])
    temporary = h5io.temporary_path_beside(tmp_path / ("é" * 127 + ".h5"))
    assert len(temporary.name.encode()) <= 255
    temporary.unlink()


def test_import_refuses_times_that_overflow(tmp_path, capsys):
    stack = tmp_path / "s.npy"
    np.save(stack, np.ones((3, 8, 8), np.float32))
    assert main("import", stack, "-o", tmp_path / "s.h5", "--interval", "1e308") == 1
    assert "times overflow" in one_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npy"]


@contextlib.contextmanager
def small_disk(folder):
    """A 2 MB tmpfs at `folder` (root only), or a skip."""
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def big_series(tmp_path):
    path = tmp_path / "big.h5"
    rng = np.random.default_rng(1)
    cell = 400 * blob((128, 128))
    with FLSeries(h5file=path, h5mode="w") as series:
        # 3.9 MB of float32 pixels in a TIFF: more than the disk holds; whole counts
        # compress well, so that the corrected .h5 and the CSV fit and the TIFF fails last
        for index in range(60):
            image = np.round(100 + cell * np.exp(-0.05 * index) + rng.normal(0, 2, (128, 128)))
            series.add_flimage(FLImage(data=image, meta_data={"time": float(index)}))
    return path


def test_a_full_disk_gives_one_line_and_leaves_nothing(big_series, tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        done = run("export", big_series, "-o", disk / "e.tif", "-q")
        assert done.returncode == 1
        assert done.stderr.strip() == f"flimage-app: error: no space left on device writing " \
                                      f"{disk / 'e.tif'}"
        assert list(disk.iterdir()) == []
        done = run("bleach", big_series, "-o", disk / "c.h5", "--csv", disk / "c.csv",
                   "--tif", disk / "c.tif", "--border-px", "4", "-q")
        assert done.returncode == 1
        # the HDF5 and the TIFF are written in one pass: the disk fills on either
        assert any(f"no space left on device writing {disk / name}" in done.stderr
                   for name in ("c.tif", "c.h5")), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert list(disk.iterdir()) == []
