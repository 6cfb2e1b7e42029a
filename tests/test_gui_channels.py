"""Multi-channel / Z documents in the GUI: opening, channel and plane choice, composite, saving."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from PyQt6 import QtCore, QtWidgets

from flimage_app.gui.channels import (
    COMPOSITE,
    ChannelView,
    composite_rgb,
)
from flimage_app.model.channel_colours import DEFAULT_COLOURS, channel_colours
from tests.channel_data import (
    INTERVAL_S,
    NAMES,
    PIXEL_SIZE_UM,
    acquisition,
    write_ome_tiff,
    write_ome_zarr,
    write_two_scene_zarr,
)

#: fixtures settings_file, errors, window
pytest_plugins = ["tests.gui_fixtures"]


# ---------------------------------------------------------------------- Qt-free state
def test_channel_view_choices_and_events():
    view = ChannelView(["GFP", "mCherry"], ["#00ff00", None], planes=3, z_step=5e-7)
    seen = []
    view.changed.connect(seen.append)
    assert view.colours == ["#00ff00", "#ff0000"]  # mCherry: red, as its name says
    assert view.choice == 0 and view.describe() == "GFP   z 0 of 3 (0 µm)"
    view.choose(1)
    view.choose(1)  # no change, no event
    view.choose(COMPOSITE)
    assert view.channel == 1 and view.composite and view.choice == COMPOSITE
    view.set_plane(2)
    assert view.describe() == "Composite   z 2 of 3 (1 µm)"
    view.set_active(0, False)
    view.set_active(1, False)  # the last channel stays in the composite
    assert view.composite_channels() == [1]
    view.set_levels(0, (10, 500))
    assert seen == ["channel", "channel", "plane", "active", "levels"]
    for wrong in (2, -1, True, "GFP"):
        with pytest.raises(ValueError, match="does not exist"):
            view.choose(wrong)
    with pytest.raises(ValueError, match="planes 0 to 2"):
        view.set_plane(3)
    with pytest.raises(ValueError, match="black below white"):
        view.set_levels(0, (5, 5))


def test_channel_colours_fill_in_missing_and_black():
    assert channel_colours(["#FF00ff", None, "#000000", "red"]) == [
        "#ff00ff", DEFAULT_COLOURS[1], DEFAULT_COLOURS[2], DEFAULT_COLOURS[3]]
    # without a colour in the file, the dye's name gives it; else Fiji's order
    assert channel_colours([None] * 5, ["EGFP", "Alexa Fluor 647", "DAPI", "Channel 4",
                                        "#00ff00 mCherry"]) == [
        "#00ff00", "#ff00ff", "#0000ff", DEFAULT_COLOURS[3], "#ff0000"]
    assert channel_colours(["#123456"], ["GFP"]) == ["#123456"]  # the file's colour wins


def test_composite_adds_the_channels_in_their_colours_with_their_levels():
    first = np.array([[0.0, 50.0, 100.0, 200.0]])
    second = np.array([[10.0, 10.0, 20.0, np.nan]])
    rgb = composite_rgb([first, second], ["#ff0000", "#00ff80"], [(0, 100), (10, 20)])
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 4, 3)
    # red: first scaled to 0…1 (clipped above 100); green and half blue: second
    assert rgb[0, :, 0].tolist() == [0, 128, 255, 255]
    assert rgb[0, :, 1].tolist() == [0, 0, 255, 0]
    assert rgb[0, :, 2].tolist() == [0, 0, 128, 0]
    # two overlapping channels add up, clipped at white
    both = composite_rgb([first, first], ["#ff0000", "#ff0000"], [(0, 100), (0, 100)])
    assert both[0, 1, 0] == 255
    with pytest.raises(ValueError, match="cannot be blended"):
        composite_rgb([first, np.zeros((2, 2))], ["#ff0000"] * 2, [(0, 1)] * 2)


# ---------------------------------------------------------------------- opening
@pytest.fixture
def ome_tiff(tmp_path):
    path = tmp_path / "cells.ome.tif"
    data = write_ome_tiff(path, acquisition(frames=6, planes=3, shape=(24, 32)))
    return path, data


def open_and_wait(qtbot, window, path):
    count = len(window.documents)
    window.open_paths([str(path)])
    qtbot.waitUntil(lambda: len(window.documents) == count + 1, timeout=20_000)
    qtbot.waitUntil(lambda: window.current_frame() is not None, timeout=10_000)
    return window.documents[-1]


def test_a_multichannel_z_tiff_imports_in_a_worker_and_opens_as_one_unsaved_document(
        qtbot, window, ome_tiff, errors):
    from flimage_app.gui import scratch
    from flimage_app.gui.hyperstack_document import HyperstackDocument

    path, data = ome_tiff
    document = open_and_wait(qtbot, window, path)
    assert not errors
    assert isinstance(document, HyperstackDocument)
    assert document.name == "cells.ome.tif" and len(document) == 6
    assert document.view.names == list(NAMES) and document.view.planes == 3
    # imported into the scratch folder; the input is the source, never written
    assert scratch.scratch_folder() in Path(document.temporary_path).parents
    assert Path(document.temporary_path).name == "cells.ome.tif.h5"  # what records name
    assert document.unsaved_work()[0].startswith("the import of cells.ome.tif "
                                                 "(2 channels × 3 planes")
    np.testing.assert_array_equal(window.current_frame().raw, data[0, 0, 0])
    assert document.pixel_size(0) == pytest.approx(PIXEL_SIZE_UM * 1e-6)
    assert document.meta_value(3, "time") == pytest.approx(3 * INTERVAL_S)
    assert "GFP   z 0 of 3" in window.image_view.caption.text()
    assert "2 channels × 3 Z planes" in window.info_label.text()


def test_the_channel_bar_switches_channel_plane_and_composite(qtbot, window, ome_tiff):
    path, data = ome_tiff
    document = open_and_wait(qtbot, window, path)
    bar = window.channel_bar
    assert not bar.isHidden()
    combo = bar.channel_combo
    assert [combo.itemText(row) for row in range(combo.count())] == [*NAMES, "Composite"]
    assert not combo.itemIcon(0).isNull()  # the colour swatch
    window.browser.set_index(4)
    qtbot.waitUntil(lambda: window.current_frame().index == 4, timeout=5000)

    combo.setCurrentIndex(1)
    assert document.leaf == (1, 0) and document.series is document.leaf_series(1, 0)
    qtbot.waitUntil(lambda: np.array_equal(window.current_frame().raw, data[4, 1, 0]),
                    timeout=5000)
    assert window.browser.index == 4  # the frame stays

    bar.z_spin.setValue(2)
    assert document.leaf == (1, 2)
    # only the plane on display keeps frame readers (one per channel at most)
    assert {key[1] for key in document._caches} == {2}
    qtbot.waitUntil(lambda: np.array_equal(window.current_frame().raw, data[4, 1, 2]),
                    timeout=5000)

    combo.setCurrentIndex(2)  # Composite
    qtbot.waitUntil(lambda: getattr(window.current_frame(), "is_composite", False),
                    timeout=5000)
    frame = window.current_frame()
    assert document.series is document.leaf_series(1, 2)  # the panels' channel stays
    levels = frame.levels_of("corrected")
    expected = composite_rgb([data[4, 0, 2].astype(float), data[4, 1, 2].astype(float)],
                             document.view.colours, levels)
    np.testing.assert_array_equal(window.image_view.image_item.image, expected)
    assert not window.image_view.histogram.isVisible()
    assert not bar.active_box.isHidden()
    readout = window.image_view.readout_at(20.5, 16.5)
    assert readout.channels == (("GFP", float(data[4, 0, 2][16, 20])),
                                ("mCherry", float(data[4, 1, 2][16, 20])))
    assert "GFP " in readout.text() and "mCherry " in readout.text()

    bar.active_checks[1].setChecked(False)  # GFP alone in the composite
    only = composite_rgb([data[4, 0, 2].astype(float)], [document.view.colours[0]],
                         [levels[0]])
    np.testing.assert_array_equal(window.image_view.image_item.image, only)
    assert not bar.active_checks[0].isEnabled()  # the last one cannot be left out

    combo.setCurrentIndex(0)
    qtbot.waitUntil(lambda: not getattr(window.current_frame(), "is_composite", False)
                    and np.array_equal(window.current_frame().raw, data[4, 0, 2]),
                    timeout=5000)
    assert window.image_view.histogram.isVisible()


def test_levels_set_on_a_channel_are_its_levels_in_the_held_composite(qtbot, window,
                                                                         ome_tiff):
    path, _data = ome_tiff
    document = open_and_wait(qtbot, window, path)
    window.image_view.set_hold_levels(True)
    window.image_view.set_levels(100, 900)
    assert document.view.levels[0] == (100, 900)
    document.view.choose(COMPOSITE)
    qtbot.waitUntil(lambda: getattr(window.current_frame(), "is_composite", False),
                    timeout=5000)
    assert window.current_frame().levels_of("corrected")[0] == (100, 900)
    window.image_view.auto_levels()  # every channel scaled to this frame, not the blend
    assert document.view.levels[0] != (100, 900)
    assert window.image_view.histogram.isVisible() is False


def test_the_bleach_state_is_per_channel_and_the_rois_are_shared(qtbot, window, ome_tiff):
    from flimage_app.gui.bleach.bleach_sources import state_of

    path, _data = ome_tiff
    document = open_and_wait(qtbot, window, path)
    roi_state = object()
    document.panel_state["background"] = roi_state
    first = state_of(document)
    first.change(method="ratio")
    document.view.choose(1)
    assert document.panel_state["background"] is roi_state
    second = state_of(document)
    assert second is not first and second.settings.method == "exp"
    assert "background" in document.panel_state and "bleach" in document.panel_state
    document.view.choose(0)
    assert state_of(document) is first
    states = document.all_panel_states()
    assert first in states and second in states and roi_state in states


def test_save_as_copies_every_channel_and_plane_with_the_edits(qtbot, window, ome_tiff,
                                                               tmp_path):
    from flimage_app.gui.background.background_state import BackgroundState
    from flimage_app.gui.bleach.bleach_sources import state_of
    from flimage_app.gui.bleach.bleach_state import read_stored_settings
    from flimage_app.model.hyperstack import open_hyperstack
    from flimage_app.model.rois import RectangleROI, read_roiset

    path, data = ome_tiff
    document = open_and_wait(qtbot, window, path)
    document.set_meta("pixel size", 3e-7, [0, 1, 2, 3, 4, 5])
    BackgroundState.attach(document).add_roi(RectangleROI(1, 1, 5, 4))  # shared
    state_of(document).change(method="ratio")  # channel 0, plane 0 only
    document.view.choose(1)
    state_of(document).change(border_px=7)  # channel 1, plane 0 only
    target = tmp_path / "saved.h5"
    document.save_copy(target)
    assert document.unsaved_work() == []
    with open_hyperstack(target) as saved:
        assert saved.channel_names == list(NAMES) and saved.n_planes == 3
        for channel, plane, series in saved.leaves():
            assert series[2].meta["pixel size"] == pytest.approx(3e-7)
            np.testing.assert_array_equal(series[2].raw_fl, data[2, channel, plane])
            # the ROIs are in every leaf; each leaf's bleach settings in its own
            assert len(read_roiset(series.h5).rois) == 1
            stored = read_stored_settings(series.h5)
            assert stored == (
                {**stored, "method": "ratio"} if (channel, plane) == (0, 0)
                else {**stored, "border_px": 7} if (channel, plane) == (1, 0)
                else None), (channel, plane, stored)
    with pytest.raises(ValueError, match="over the opened input"):
        document.save_copy(document.temporary_path, overwrite=True)


def test_a_saved_hyperstack_file_opens_directly(qtbot, window, ome_tiff, tmp_path):
    from flimage_app.gui.hyperstack_document import HyperstackDocument

    path, data = ome_tiff
    open_and_wait(qtbot, window, path).save_copy(tmp_path / "saved.h5")
    document = open_and_wait(qtbot, window, tmp_path / "saved.h5")
    assert isinstance(document, HyperstackDocument)
    assert document.source_path == str(tmp_path / "saved.h5") and not document.unsaved_work()
    document.view.set_plane(1)
    qtbot.waitUntil(lambda: np.array_equal(window.current_frame().raw, data[0, 0, 1]),
                    timeout=5000)


def test_closing_removes_the_imported_scratch_file(qtbot, window, ome_tiff,
                                                   discard_without_asking):
    import os

    path, _data = ome_tiff
    document = open_and_wait(qtbot, window, path)
    scratch_file = document.temporary_path
    assert os.path.exists(scratch_file)
    window.close_current()
    assert not os.path.exists(scratch_file) and not window.documents


def test_a_cancelled_import_leaves_nothing(qtbot, window, tmp_path, monkeypatch):
    from flimage_app.gui import scratch
    from flimage_app.model import hyperstack_import

    path = tmp_path / "cells.ome.tif"
    write_ome_tiff(path, acquisition(frames=4, planes=2, shape=(16, 20)))
    real = hyperstack_import.import_planes

    def cancel_at_once(stack, target, *, progress=None, cancel=None, **options):
        return real(stack, target, progress=progress, cancel=lambda: True, **options)

    monkeypatch.setattr(hyperstack_import, "import_planes", cancel_at_once)
    window.open_paths([str(path)])
    qtbot.waitUntil(lambda: not window.hyperstacks.busy and not window._tasks, timeout=10_000)
    assert not window.documents
    assert not list(scratch.scratch_folder().rglob("*.h5"))


# ---------------------------------------------------------------------- microscope files
def test_an_ome_zarr_folder_opens_from_its_metadata_file_and_by_drop(qtbot, window, tmp_path):
    data = acquisition(frames=4, planes=1, shape=(16, 20))
    folder = tmp_path / "cells.zarr"
    write_ome_zarr(folder, data)
    # the Open dialog can pick the folder's metadata file
    document = open_and_wait(qtbot, window, folder / ".zattrs")
    assert document.view.names == list(NAMES)
    assert document.view.colours == ["#00ff00", "#ff00ff"]
    np.testing.assert_array_equal(window.current_frame().raw, data[0, 0, 0])
    # a folder dropped onto the window
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(folder))])
    event = _drop_event(window, mime)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: len(window.documents) == 2, timeout=20_000)
    assert window.documents[1].name == "cells.zarr (2)"


def _drop_event(window, mime):
    from PyQt6 import QtGui

    return QtGui.QDropEvent(QtCore.QPointF(10, 10), QtCore.Qt.DropAction.CopyAction, mime,
                            QtCore.Qt.MouseButton.NoButton,
                            QtCore.Qt.KeyboardModifier.NoModifier)


def test_a_file_with_scenes_asks_which_one(qtbot, window, tmp_path, monkeypatch):
    from flimage_app.gui.widgets import scene_dialog

    first = acquisition(frames=3, planes=1, shape=(16, 20), seed=1)
    second = acquisition(frames=5, planes=2, shape=(12, 14), seed=2)
    root = tmp_path / "converted.zarr"
    write_two_scene_zarr(root, first, second)
    asked = []

    def answer(dialog):
        asked.append([dialog.list.item(row).text() for row in range(dialog.list.count())])
        dialog.list.setCurrentRow(1)
        return QtWidgets.QDialog.DialogCode.Accepted

    monkeypatch.setattr(scene_dialog.SceneDialog, "exec", answer)
    document = open_and_wait(qtbot, window, root)
    assert asked == [["0: Position 1   (T=3, C=2, Z=1, 16 x 20 px)",
                      "1: Position 2   (T=5, C=2, Z=2, 12 x 14 px)"]]
    assert document.name == "converted.zarr [Position 2]" and len(document) == 5
    assert Path(document.temporary_path).name == "converted.zarr [Position 2].h5"
    assert document.view.planes == 2
    np.testing.assert_array_equal(window.current_frame().raw, second[0, 0, 0])
    # cancelling the choice opens nothing
    monkeypatch.setattr(scene_dialog.SceneDialog, "exec",
                        lambda dialog: QtWidgets.QDialog.DialogCode.Rejected)
    window.open_paths([str(root)])
    assert len(window.documents) == 1 and not window._tasks


def test_a_damaged_microscope_file_is_one_line_in_a_dialog(qtbot, window, tmp_path, errors):
    path = tmp_path / "broken.czi"
    path.write_bytes(b"not a czi file at all" * 10)
    window.open_paths([str(path)])
    qtbot.waitUntil(lambda: bool(errors) and not window._tasks, timeout=10_000)
    title, message = errors[0]
    assert title.startswith(("Cannot open", "Importing")) and "broken.czi" in message
    assert "\n" not in message and not window.documents


def test_the_open_dialog_offers_the_microscope_formats():
    from flimage_app.gui.main_window import OPEN_FILTER

    for pattern in ("*.czi", "*.nd2", "*.lif", "*.zarr", "zarr.json", ".zattrs"):
        assert pattern in OPEN_FILTER.split(";;")[0]


def test_single_channel_files_still_open_as_plain_series(qtbot, window, tmp_path):
    from flimage_app.gui.hyperstack_document import HyperstackDocument

    path = tmp_path / "one.ome.tif"
    data = write_ome_tiff(path, acquisition(frames=4, channels=1, planes=1, shape=(16, 20)))
    document = open_and_wait(qtbot, window, path)
    assert not isinstance(document, HyperstackDocument) and window.channel_bar.isHidden()
    np.testing.assert_array_equal(window.current_frame().raw, data[0, 0, 0])
    assert document.source_path == str(path)


def test_a_hyperstack_file_is_not_written_by_the_app(qtbot, window, ome_tiff, tmp_path):
    path, _data = ome_tiff
    before = path.read_bytes()
    document = open_and_wait(qtbot, window, path)
    document.view.choose(1)
    document.save_copy(tmp_path / "copy.h5")
    assert path.read_bytes() == before
    with h5py.File(document.temporary_path, "r") as h5:
        assert "channel_1" in h5


# ---------------------------------------------------------------------- correcting, exporting
@pytest.fixture
def panels_window(qtbot, settings_file, errors):
    """A main window with the Bleach panel, closed (tasks waited for) after the test."""
    from flimage_app.gui.main_window import MainWindow

    main_window = MainWindow(load_optional_panels=True)

    def before_close(widget):
        for name in widget.panel_names():
            qtbot.waitUntil(lambda n=name: not getattr(widget.panel(n), "busy", False),
                            timeout=30_000)
        widget.shutdown()

    qtbot.addWidget(main_window, before_close_func=before_close)
    yield main_window
    main_window.shutdown()


def correct_all(qtbot, window, z_mode, errors):
    box = window.panel("bleach").all_channels
    window.panel("bleach").border_spin.setValue(4)
    box.set_z_mode(z_mode)
    count = len(window.documents)
    assert box.run() is not None
    qtbot.waitUntil(lambda: len(window.documents) == count + 1 or bool(errors),
                    timeout=60_000)
    assert not errors
    qtbot.waitUntil(lambda: not window._tasks, timeout=10_000)
    return box, window.documents[-1]


def test_correct_all_channels_per_plane_fits_every_plane(qtbot, panels_window, tmp_path,
                                                         errors):
    path = tmp_path / "cells.ome.tif"
    write_ome_tiff(path, acquisition(frames=16, planes=3, shape=(48, 64)))
    document = open_and_wait(qtbot, panels_window, path)
    box, corrected = correct_all(qtbot, panels_window, "plane", errors)
    assert set(box.results) == {(c, z) for c in range(2) for z in range(3)}
    heading, *lines = box.results_label.text().splitlines()
    assert heading == "Fits of cells.ome.tif, one per channel:"
    assert [line.split(":")[0] for line in lines] == [
        f"{name}, z {plane}" for name in NAMES for plane in range(3)]
    assert corrected.view.names == document.view.names and corrected.n_planes == 3
    assert corrected.unsaved_work()[0].startswith(
        "the bleach correction of cells.ome.tif (2 channels × 3 planes")
    # each leaf of the result records its own fit
    bleach = panels_window.panel("bleach")
    corrected.view.choose(1)
    corrected.view.set_plane(2)
    qtbot.waitUntil(lambda: bleach.outcome is not None and bleach.showing_provenance,
                    timeout=20_000)
    recorded = bleach.current_result()
    np.testing.assert_allclose(recorded.correction, box.results[(1, 2)].correction)
    assert bleach.status_label.text().startswith("mCherry, z 2 — Recorded correction")


def test_correct_all_channels_refuses_unsaved_metadata_edits(qtbot, panels_window, ome_tiff,
                                                             errors):
    path, _data = ome_tiff
    document = open_and_wait(qtbot, panels_window, path)
    document.set_interval(3.0)
    assert panels_window.panel("bleach").all_channels.run() is None
    assert errors and "unsaved metadata edits" in errors[-1][1]
    assert len(panels_window.documents) == 1


def test_the_hyperstack_export_counts_what_the_input_type_clips(qtbot, panels_window, tmp_path,
                                                                monkeypatch, errors):
    import tifffile

    data = acquisition(frames=16, planes=1, shape=(48, 64))
    data = (data.astype(float) * 30).clip(0, 65535).astype(np.uint16)  # bright
    path = tmp_path / "bright.ome.tif"
    write_ome_tiff(path, data)
    open_and_wait(qtbot, panels_window, path)
    _box, corrected = correct_all(qtbot, panels_window, "time point", errors)
    exporter = panels_window.exporter
    answers = []

    def save_dialog(_parent, _title, _proposal, filters, **_kwargs):
        target, wanted = answers.pop(0)
        return str(target), next(choice for choice in filters.split(";;") if wanted in choice)

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", save_dialog)

    def export(target, wanted) -> str:
        answers.append((target, wanted))
        exporter.last_message = ""
        exporter.export_tiff()
        qtbot.waitUntil(lambda: not panels_window._tasks and bool(exporter.last_message),
                        timeout=30_000)
        return exporter.last_message

    floats = tmp_path / "bright32.tif"
    assert export(floats, "32-bit float") == f"Exported {floats} (float32, 2 channels)"
    with tifffile.TiffFile(floats) as tif:
        assert tif.series[0].axes == "TCYX" and tif.series[0].dtype == np.float32
        values = np.floor(tif.asarray().astype(np.float64) + 0.5)  # (T, C, Y, X)
    low = [int((values[:, c] < 0).sum()) for c in range(2)]
    high = [int((values[:, c] > 65535).sum()) for c in range(2)]
    assert sum(low) + sum(high) > 0  # the correction does leave uint16's range here

    integers = tmp_path / "bright16.tif"
    message = export(integers, "uint16")
    assert message.startswith(f"Exported {integers} (uint16, 2 channels); "
                              f"{sum(low) + sum(high):,} pixels were clipped to the range "
                              "of uint16 (")
    for name, below, above in zip(NAMES, low, high, strict=True):
        counts = ", ".join(text for text in (f"{below:,} below 0" if below else "",
                                             f"{above:,} above 65535" if above else "")
                           if text)
        assert f"{name}: {counts}" in message
    with tifffile.TiffFile(integers) as tif:
        assert tif.series[0].dtype == np.uint16
        np.testing.assert_array_equal(tif.asarray(), values.clip(0, 65535).astype(np.uint16))
    assert corrected is panels_window.current_document()


def test_file_open_ome_zarr_folder_picks_a_folder(qtbot, window, tmp_path, monkeypatch):
    data = acquisition(frames=3, planes=2, shape=(16, 20))
    write_ome_zarr(tmp_path / "cells.ome.zarr", data)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory",
                        lambda *args, **kwargs: str(tmp_path / "cells.ome.zarr"))
    window.open_folder_action.trigger()
    qtbot.waitUntil(lambda: len(window.documents) == 1 and window.current_frame() is not None,
                    timeout=20_000)
    assert window.documents[0].view.planes == 2
    np.testing.assert_array_equal(window.current_frame().raw, data[0, 0, 0])


def test_a_channel_that_cannot_be_read_says_so_in_the_composite(qtbot, window, ome_tiff,
                                                               monkeypatch):
    from flimage_app.gui.browser import frame_cache

    path, _data = ome_tiff
    document = open_and_wait(qtbot, window, path)
    broken = document.leaf_series(1, 0)
    real = frame_cache.stage_frame  # what the frame cache's readers call

    def read(series, index):
        if series is broken and index == 3:
            raise OSError("the disk went away")
        return real(series, index)

    monkeypatch.setattr(frame_cache, "stage_frame", read)
    document.view.choose(COMPOSITE)
    window.browser.set_index(3)
    qtbot.waitUntil(lambda: window.current_frame() is None, timeout=5000)
    assert window.image_view.message == "Frame 3 cannot be read:\nthe disk went away"
    window.browser.set_index(2)
    qtbot.waitUntil(lambda: getattr(window.current_frame(), "is_composite", False),
                    timeout=5000)


def test_a_two_scene_czi_opens_the_scene_chosen_in_the_dialog(qtbot, window, tmp_path):
    """A CZI written by ZEISS' pylibCZIrw, dropped on the window; the real dialog answered."""
    pytest.importorskip("pylibCZIrw.czi")
    from flimage_app.gui.widgets.scene_dialog import SCENE_DIALOG_NAME
    from tests.test_vendor_czi import write_czi

    path = tmp_path / "cells.czi"
    written = write_czi(path, scenes=2)

    def answer():
        dialog = QtWidgets.QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != SCENE_DIALOG_NAME:
            QtCore.QTimer.singleShot(20, answer)
            return
        dialog.list.setCurrentRow(1)
        dialog.accept()

    QtCore.QTimer.singleShot(20, answer)
    mime = _urls(path)  # kept: the event refers to it
    window.dropEvent(_drop_event(window, mime))
    qtbot.waitUntil(lambda: len(window.documents) == 1 and window.current_frame() is not None,
                    timeout=20_000)
    document = window.documents[0]
    assert document.name.startswith("cells.czi [") and document.view.names == ["EGFP",
                                                                              "mCherry"]
    assert document.view.colours == ["#00ff00", "#ff00ff"]
    assert window.current_frame().raw.shape == (12, 10)
    np.testing.assert_array_equal(window.current_frame().raw, written[1][(0, 0, 0)])
    assert document.pixel_size(0) == pytest.approx(0.13e-6)


def _urls(*paths):
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path)) for path in paths])
    return mime


def test_a_screenshot_waits_for_the_import_and_takes_the_first_scene(qtbot, settings_file,
                                                                    tmp_path, capsys):
    from PyQt6 import QtGui

    from flimage_app.gui import main

    first = acquisition(frames=3, planes=1, shape=(16, 20), seed=1)
    root = tmp_path / "converted.zarr"
    write_two_scene_zarr(root, first, acquisition(frames=5, planes=2, shape=(12, 14), seed=2))
    png = tmp_path / "shot.png"
    # nobody can answer the scene dialog: the first scene, said on stderr; the
    # picture is taken once the imported series is on display (exit 0: it opened)
    assert main([str(root)], screenshot=str(png)) == 0
    assert "holds 2 scenes; showing the first (Position 1)" in capsys.readouterr().err
    assert QtGui.QImage(str(png)).width() == 1400


def test_an_imported_file_goes_into_open_recent_and_reopens_from_there(qtbot, window, ome_tiff):
    path, data = ome_tiff
    open_and_wait(qtbot, window, path)
    assert window.recent_files()[0] == str(path)
    other = path.with_name("other.ome.tif")
    write_ome_tiff(other, data)
    window.open_paths([str(other)], remember=False)  # e.g. --screenshot: not remembered
    qtbot.waitUntil(lambda: len(window.documents) == 2, timeout=20_000)
    assert str(other) not in window.recent_files()
    window.recent_menu.actions()[0].trigger()  # File ▸ Open Recent ▸ cells.ome.tif
    qtbot.waitUntil(lambda: len(window.documents) == 3, timeout=20_000)
    assert window.documents[2].name == "cells.ome.tif (2)"


def test_a_plain_imagej_stack_of_slices_stays_one_time_series(qtbot, window, tmp_path):
    """Fiji saves a plain stack as "slices": it is a time series, not a Z-stack to import."""
    import tifffile

    from flimage_app.gui.hyperstack_document import HyperstackDocument

    path = tmp_path / "plain.tif"
    stack = np.random.default_rng(2).integers(0, 200, (3, 16, 20), dtype=np.uint16)
    tifffile.imwrite(path, stack, imagej=True)
    document = open_and_wait(qtbot, window, path)
    assert not isinstance(document, HyperstackDocument) and len(document) == 3
    assert document.source_path == str(path) and not window.hyperstacks.tasks


def test_scratch_names_hold_no_character_a_file_system_refuses():
    from flimage_app.gui.hyperstack_open import file_name_safe

    assert file_name_safe('cells.czi [A1: well "3"/2]') == "cells.czi [A1_ well _3__2]"
    assert file_name_safe(" .. ") == "import"


def test_a_narrow_channel_bar_puts_z_on_its_own_row_and_keeps_the_names_whole(qtbot):
    from flimage_app.gui.browser.channel_bar import ChannelBar

    bar = ChannelBar()
    qtbot.addWidget(bar)
    view = ChannelView(["Alexa Fluor 488", "mCherry", "DAPI"], [None] * 3, planes=5)
    bar.set_view(view)
    view.choose(COMPOSITE)
    bar.resize(bar.one_row_width() + 20, 60)
    bar.show()
    qtbot.waitExposed(bar)
    assert not bar.z_on_own_row
    bar.resize(bar.one_row_width() - 40, 60)
    qtbot.waitUntil(lambda: bar.z_on_own_row, timeout=2000)
    combo = bar.channel_combo
    assert combo.width() >= combo.sizeHint().width()  # "Composite", not "Comp"
    # narrower still: the ticks keep their swatches (names in their tooltips)
    bar.resize(bar.channel_row_width(with_names=False) + 10, 60)
    qtbot.waitUntil(lambda: [check.text() for check in bar.active_checks] == ["", "", ""],
                    timeout=2000)
    assert combo.width() >= combo.sizeHint().width()
    assert [check.toolTip() for check in bar.active_checks][0] == \
        "Add Alexa Fluor 488 to the composite"
    bar.resize(bar.one_row_width() + 20, 60)
    qtbot.waitUntil(lambda: not bar.z_on_own_row, timeout=2000)
    assert [check.text() for check in bar.active_checks] == view.names


def test_a_default_colour_taken_by_another_channel_gives_way():
    # Fiji's default for the second place is green, but GFP (first) is green already
    assert channel_colours([None, None], ["GFP", "Channel 2"]) == ["#00ff00", "#0000ff"]
    assert channel_colours([None, "#ff0000"]) == ["#00ff00", "#ff0000"]


def test_a_measurement_says_which_channel_it_was_measured_on(qtbot, window, ome_tiff,
                                                             discard_without_asking):
    """The ROIs are shared by the channels, a table is not: shown on another channel, the
    panel says so instead of passing one channel's numbers off as the other's."""
    from flimage_app.gui.measure.measure_panel import MeasurePanel
    from flimage_app.model.rois import RectangleROI

    panel = MeasurePanel(window)
    window.add_panel("measure", panel, "Measure")
    window.resize(1300, 850)
    window.show()
    qtbot.waitExposed(window)
    path, data = ome_tiff
    document = open_and_wait(qtbot, window, path)
    window.show_panel("measure")
    qtbot.waitUntil(panel.isVisible, timeout=3000)
    panel.add_roi(RectangleROI(2, 2, 8, 6))
    assert panel.measure() is not None
    qtbot.waitUntil(lambda: not panel.busy and panel.state.table is not None, timeout=20_000)
    QtWidgets.QApplication.processEvents()
    first = document.leaf_name((0, 0))
    assert "Measured on" not in panel.status_label.text()
    document.view.choose(1)
    qtbot.waitUntil(lambda: document.leaf == (1, 0), timeout=5000)
    text = panel.status_label.text()
    assert f"Measured on {first}, not on {document.leaf_name((1, 0))}" in text
    document.view.choose(0)
    qtbot.waitUntil(lambda: "Measured on" not in panel.status_label.text(), timeout=5000)
