"""Nikon ND2 through model.vendor: the mapping from nd2's own metadata types to a PlaneStack.

There is no ND2 writer on PyPI, so these tests build a real ``nd2.ND2File``
whose low-level reader returns instances of nd2's own types
(``nd2.structures.Attributes``, ``TimeLoop``, ``XYPosLoop``, ``ZStackLoop``,
``Metadata``, ``FrameMetadata`` …): nd2's own code computes the sizes, the pixel
type and the voxel size from them, and the app's reader maps those.
Real ND2 files from NIS-Elements were not tried (none is available here).
"""

import threading

import numpy as np
import pytest

from flimage_app.model import vendor
from flimage_app.model.errors import FileFormatError

nd2 = pytest.importorskip("nd2")
from nd2 import structures as st  # noqa: E402

ND2File = nd2.ND2File

T, P, Z, C, Y, X = 4, 2, 3, 2, 12, 10


def volume(calibrated=(True, True, True), calibration=(0.325, 0.325, 0.75)):
    return st.Volume(axesCalibrated=calibrated, axesCalibration=calibration,
                     axesInterpretation=("distance", "distance", "distance"),
                     bitsPerComponentInMemory=16, bitsPerComponentSignificant=16,
                     cameraTransformationMatrix=(1.0, 0.0, 0.0, 1.0), componentCount=1,
                     componentDataType="unsigned", voxelCount=(X, Y, Z))


def channel(index, name, rgb, **volume_options):
    return st.Channel(channel=st.ChannelMeta(name=name, index=index, color=st.Color(*rgb)),
                      loops=st.LoopIndices(TimeLoop=0, XYPosLoop=1, ZStackLoop=2),
                      microscope=st.Microscope(), volume=volume(**volume_options))


def time_loop(count=T, period_ms=1000.0, average_ms=1012.5):
    return st.TimeLoop(count=count, nestingLevel=0, parameters=st.TimeLoopParams(
        startMs=0.0, periodMs=period_ms, durationMs=0.0,
        periodDiff=st.PeriodDiff(avg=average_ms, max=average_ms, min=average_ms)))


def position_loop(names=("Well A1", "")):
    points = [st.Position(stagePositionUm=st.StagePosition(100.0 * i, 0.0, 0.0), name=name)
              for i, name in enumerate(names)]
    return st.XYPosLoop(count=len(points), nestingLevel=1,
                        parameters=st.XYPosLoopParams(isSettingZ=False, points=points))


def z_loop(count=Z, step=0.75):
    return st.ZStackLoop(count=count, nestingLevel=2, parameters=st.ZStackLoopParams(
        homeIndex=1, stepUm=step, bottomToTop=True, deviceName="Ti2 ZDrive"))


class LowLevelReader:
    """nd2's reader protocol, answering with nd2's own types and in-memory frames."""

    def __init__(self, experiment, channels, frames, stamps_ms=None, *, rgb=False,
                 sequence_count=None):
        self._experiment, self._channels, self.frames = experiment, channels, frames
        self.stamps_ms = stamps_ms
        self.closed_count, self.rgb = 0, rgb
        self.sequence_count = len(frames) if sequence_count is None else sequence_count
        self.read_log = []

    _closed = False
    _was_open = False

    def is_legacy(self):
        return False

    def attributes(self):
        components = 3 if self.rgb else len(self._channels)
        return st.Attributes(bitsPerComponentInMemory=16, bitsPerComponentSignificant=16,
                             componentCount=components, heightPx=Y,
                             pixelDataType="unsigned", sequenceCount=self.sequence_count,
                             widthBytes=X * 2 * components, widthPx=X,
                             channelCount=1 if self.rgb else len(self._channels))

    def experiment(self):
        return self._experiment

    def metadata(self):
        return st.Metadata(contents=st.Contents(channelCount=len(self._channels),
                                                frameCount=len(self.frames)),
                           channels=self._channels)

    def voxel_size(self):
        return self._channels[0].volume.axesCalibration

    def frame_metadata(self, seq_index):
        if self.stamps_ms is None:
            return st.FrameMetadata(contents=st.Contents(channelCount=1, frameCount=1),
                                    channels=[])
        time = st.TimeStamp(absoluteJulianDayNumber=2460000.5,
                            relativeTimeMs=self.stamps_ms[seq_index])
        meta = self._channels[0]
        frame_channel = st.FrameChannel(channel=meta.channel, loops=meta.loops,
                                        microscope=meta.microscope, volume=meta.volume,
                                        position=st.Position(st.StagePosition(0, 0, 0)),
                                        time=time)
        return st.FrameMetadata(contents=st.Contents(channelCount=1, frameCount=1),
                                channels=[frame_channel])

    def read_frame(self, index):
        self.read_log.append(index)
        return self.frames[index]  # (Y, X, C) as nd2's readers return it

    def close(self):
        self.closed_count += 1
        self._closed = True


def make_file(monkeypatch, reader, path="cells.nd2"):
    """Make nd2.ND2File(path) return a real ND2File on `reader`."""
    real_class = ND2File

    def open_file(name, *args, **kwargs):
        handle = real_class.__new__(real_class)
        reader._closed = False  # opened again
        handle._rdr, handle._path, handle._lock = reader, name, threading.RLock()
        handle._error_radius, handle._storage_options = None, None
        return handle

    monkeypatch.setattr(nd2, "ND2File", open_file)


@pytest.fixture()
def nd2_path(tmp_path):
    path = tmp_path / "cells.nd2"
    path.write_bytes(b"\xda\xce\xbe\x0a" + bytes(60))  # the reader is replaced; a file must exist
    return path


def acquisition(seed=0, t=T):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4000, size=(t * P * Z, Y, X, C), dtype=np.uint16)


def standard_reader(**options):
    channels = [channel(0, "Widefield Green", (91, 255, 0)),
                channel(1, "Widefield Red", (255, 40, 0))]
    frames = acquisition()
    stamps = np.arange(len(frames)) * 110.0 + 5000.0  # ms since the start, every frame
    return LowLevelReader([time_loop(), position_loop(), z_loop()], channels, frames,
                          stamps_ms=options.pop("stamps_ms", stamps), **options)


def test_sizes_calibration_channels_and_times_map_to_the_stack(monkeypatch, nd2_path):
    reader = standard_reader()
    make_file(monkeypatch, reader)
    assert vendor.scene_names(nd2_path) == ["Well A1", "position 1"]
    with vendor.open_vendor(nd2_path, scene=1) as stack:
        assert stack.kind == "ND2"
        assert stack.sizes == {"T": T, "C": C, "Z": Z, "Y": Y, "X": X}
        assert stack.dtype == np.uint16
        assert stack.pixel_size == pytest.approx(0.325e-6)
        assert stack.z_step == pytest.approx(0.75e-6)
        assert stack.channel_names == ["Widefield Green", "Widefield Red"]
        assert stack.channel_colours == ["#5bff00", "#ff2800"]
        assert stack.scene == 1 and stack.scene_names == ["Well A1", "position 1"]
        # time point t of position 1 starts at sequence frame (t * P + 1) * Z
        assert stack.time_source == "plane time stamps"
        assert np.allclose(stack.times, np.arange(T) * P * Z * 0.110)
        for t, c, z in np.ndindex(T, C, Z):
            sequence = (t * P + 1) * Z + z
            assert np.array_equal(stack.read(t, c, z), reader.frames[sequence][:, :, c])
    assert reader.closed_count == 2  # scene_names' and the stack's


def test_without_frame_time_stamps_the_time_loop_gives_the_interval(monkeypatch, nd2_path):
    make_file(monkeypatch, standard_reader(stamps_ms=None))
    with vendor.open_vendor(nd2_path) as stack:
        assert stack.time_source == "frame interval"
        assert np.allclose(stack.times, np.arange(T) * 1.0125)  # the measured mean period


def test_non_increasing_time_stamps_fall_back_to_the_loop(monkeypatch, nd2_path):
    make_file(monkeypatch, standard_reader(stamps_ms=np.zeros(T * P * Z)))
    with vendor.open_vendor(nd2_path) as stack:
        assert stack.time_source == "frame interval"
        assert any("do not increase" in note for note in stack.notes)


def test_a_single_channel_time_series_without_calibration(monkeypatch, nd2_path):
    frames = acquisition(t=5)[:5, :, :, :1]
    reader = LowLevelReader([time_loop(count=5)],
                            [channel(0, "", (255, 255, 255), calibrated=(False, False, False),
                                     calibration=(1.0, 1.0, 1.0))],
                            frames, stamps_ms=np.arange(5) * 250.0)
    make_file(monkeypatch, reader)
    with vendor.open_vendor(nd2_path) as stack:
        assert stack.sizes == {"T": 5, "C": 1, "Z": 1, "Y": Y, "X": X}
        assert stack.pixel_size is None and stack.z_step is None
        assert "the file gives no pixel size" in stack.notes
        assert stack.channel_names == ["Channel 1"]
        assert np.allclose(stack.times, [0, 0.25, 0.5, 0.75, 1.0])
        assert np.array_equal(stack.read(3), frames[3, :, :, 0])


def test_a_non_equidistant_time_loop_concatenates_its_phases(monkeypatch, nd2_path):
    phases = [st.Period(startMs=0.0, periodMs=500.0, durationMs=0.0,
                        periodDiff=st.PeriodDiff(avg=500.0), count=2),
              st.Period(startMs=0.0, periodMs=2000.0, durationMs=0.0,
                        periodDiff=st.PeriodDiff(avg=2000.0), count=3)]
    loop = st.NETimeLoop(count=5, nestingLevel=0,
                         parameters=st.NETimeLoopParams(periods=phases))
    frames = acquisition(t=5)[:5, :, :, :1]
    make_file(monkeypatch, LowLevelReader([loop], [channel(0, "GFP", (0, 255, 0))], frames))
    with vendor.open_vendor(nd2_path) as stack:
        assert stack.time_source == "frame interval"
        assert np.allclose(stack.times, [0, 0.5, 1.0, 3.0, 5.0])


def test_an_interrupted_acquisition_reads_its_complete_time_points(monkeypatch, nd2_path):
    make_file(monkeypatch, standard_reader(sequence_count=2 * P * Z + 1))
    with vendor.open_vendor(nd2_path) as stack:
        assert stack.sizes["T"] == 2
        assert any("stopped early: 2 of 4" in note for note in stack.notes)


def test_rgb_and_custom_loops_are_refused_in_one_line(monkeypatch, nd2_path):
    frames = np.zeros((2, Y, X, 3), np.uint16)
    make_file(monkeypatch, LowLevelReader([time_loop(count=2)],
                                          [channel(0, "Brightfield", (255, 255, 255))],
                                          frames, rgb=True))
    with pytest.raises(FileFormatError, match=r"cells.nd2: .* RGB samples \(S=3\)"):
        vendor.open_vendor(nd2_path)
    custom = st.CustomLoop(count=3)
    make_file(monkeypatch, LowLevelReader([custom], [channel(0, "GFP", (0, 255, 0))],
                                          np.zeros((3, Y, X, 1), np.uint16)))
    with pytest.raises(FileFormatError, match=r"custom loop \(U=3\)"):
        vendor.open_vendor(nd2_path)


def test_absurd_declared_sizes_are_refused_before_reading(monkeypatch, nd2_path):
    reader = standard_reader()
    reader._experiment = [time_loop(count=10**8), position_loop(), z_loop()]
    make_file(monkeypatch, reader)
    with pytest.raises(FileFormatError, match="along T"):
        vendor.open_vendor(nd2_path)
    assert reader.read_log == []


def test_a_reader_failure_is_one_line_and_the_file_is_closed(monkeypatch, nd2_path):
    reader = standard_reader()

    def broken(seq_index):
        raise KeyError(f"ImageMetadataSeq|{seq_index}!")

    reader.frame_metadata = broken
    make_file(monkeypatch, reader)
    with pytest.raises(FileFormatError) as error:
        vendor.open_vendor(nd2_path)
    assert str(error.value).startswith("cells.nd2: not a readable Nikon ND2 file (KeyError")
    assert "\n" not in str(error.value) and reader.closed_count == 1


# ------------------------------------------------------------------ real nd2 on bad bytes
@pytest.mark.parametrize("content", [
    b"\xda\xce\xbe\x0a" + bytes(4092), b"\x00" * 4096, b"ND2 FILE SIGNATURE CHUNK MAP" * 50,
], ids=["magic-then-zeros", "zeros", "text"])
def test_garbage_through_the_real_reader_is_one_line(tmp_path, content):
    path = tmp_path / "broken.nd2"
    path.write_bytes(content)
    for call in (vendor.open_vendor, vendor.scene_names):
        with pytest.raises(FileFormatError) as error:
            call(path)
        assert str(error.value).startswith("broken.nd2: ") and "\n" not in str(error.value)


def test_a_missing_reader_names_the_extra(monkeypatch, nd2_path):
    import importlib

    original = importlib.import_module

    def refuse(name, *args):
        if name == "nd2":
            raise ImportError("No module named 'nd2'")
        return original(name, *args)

    monkeypatch.setattr(importlib, "import_module", refuse)
    with pytest.raises(FileFormatError) as error:
        vendor.open_vendor(nd2_path)
    assert str(error.value) == ("cells.nd2: reading Nikon ND2 files needs the optional reader "
                                "nd2: pip install 'flimage-app[nd2]'")
