"""Bleach correction of a hyperstack: every channel its own fit and report, every plane kept.

Two rules for Z planes (`z_mode`):

* ``"time point"`` — Fiji's (CorrectBleach on a Z × T hyperstack): the
  intensity of a time point is the mean of the mean intensities of all its
  planes, the fit runs over the time points, and every plane of a time
  point is multiplied by that time point's one factor.  Histogram matching
  likewise matches the histogram of all planes of a time point together to
  that of the first time point, and applies the one mapping to every plane.
  Here the planes of a time point are laid side by side into one image for
  the engine (:class:`TimePointReader`), so background, regions and masks
  (given per plane) mean what they mean for one plane, repeated on every plane.
* ``"plane"`` — every plane is a series of its own: its own fit and factors.

Fiji corrects one channel (its plugin refuses a stack with channels); here
every channel is corrected on its own, with its own fit, report and factors.
The output keeps every channel and plane in the same layout, with the
provenance of its own correction in every leaf and the root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .bleach.engine import BleachResult, correct_series
from .bleach.measure import FrameReader, border_mask
from .fastwrite import FrameWriter, bound_metadata_cache
from .h5io import atomic_output, exists_message
from .hyperstack import Hyperstack, leaf_path, write_layout
from .meta import MetaDict
from .progress import Cancel, Progress, start_pass
from .provenance import bleach_record, file_sha256, write_provenance

#: how Z planes are corrected
Z_MODES = ("time point", "plane")


class TimePointReader:
    """The planes of one channel, side by side, as the frames of one series (one per time point).

    Has the interface of :class:`~flimage_app.model.bleach.measure.FrameReader`
    that the engine uses; frame `t` is ``[plane 0 | plane 1 | …]`` of time point `t`.
    """

    def __init__(self, readers: Sequence[FrameReader]) -> None:
        self.readers = list(readers)
        first = self.readers[0]
        self.length = len(first)
        self.plane_shape = first.shape
        self.shape = (first.shape[0], first.shape[1] * len(self.readers))
        self.meta_changes: dict = {}

    def __len__(self) -> int:
        return self.length

    def __enter__(self) -> TimePointReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        for reader in self.readers:
            reader.close()

    @property
    def filename(self) -> str | None:
        return self.readers[0].filename

    def keep_identifier(self, output: h5py.Group) -> None:
        self.readers[0].keep_identifier(output)

    def times(self) -> np.ndarray:
        """Time of every time point (plane 0's)."""
        return self.readers[0].times()

    def meta(self, index: int) -> MetaDict:
        return self.readers[0].meta(index)

    def fl(self, index: int) -> np.ndarray:
        return np.concatenate([reader.fl(index) for reader in self.readers], axis=1)

    def iter_fl(self, indices: Sequence[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        streams = [reader.iter_fl(indices) for reader in self.readers]
        for planes in zip(*streams, strict=True):
            yield planes[0][0], np.concatenate([image for _, image in planes], axis=1)

    def stored_backgrounds(self, index: int) -> Iterator[np.ndarray]:
        """One image: every plane's stored backgrounds summed, side by side (if any has one)."""
        sums, found = [], False
        for reader in self.readers:
            total = np.zeros(self.plane_shape)
            for stored in reader.stored_backgrounds(index):
                total = total + np.asarray(stored, dtype=float)
                found = True
            sums.append(total)
        if found:
            yield np.concatenate(sums, axis=1)


class _PlaneSplitter:
    """An engine sink that cuts a corrected time point back into its planes and writes them."""

    def __init__(self, outputs: Sequence[h5py.Group], readers: Sequence[FrameReader],
                 width: int) -> None:
        workers = max(1, (os.cpu_count() or 1) // len(outputs))
        self.writers = [FrameWriter(group, workers=workers) for group in outputs]
        self.readers, self.width, self.index = readers, width, 0

    def submit(self, image: np.ndarray, meta: Mapping[str, Any]) -> None:
        for z, (writer, reader) in enumerate(zip(self.writers, self.readers, strict=True)):
            # every plane keeps its own metadata (time, pixel size)
            writer.submit(image[:, z * self.width:(z + 1) * self.width], reader.meta(self.index))
        self.index += 1

    def flush(self) -> None:
        for writer in self.writers:
            writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


class _LeafProgress:
    """Progress that names the leaf in every pass ("Ch1, plane 2: measuring")."""

    def __init__(self, progress: Progress | None, label: str) -> None:
        self.progress, self.label = progress, label

    def start_pass(self, name: str) -> None:
        start_pass(self.progress, f"{self.label}: {name}")

    def __call__(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)


def _tiled(mask, planes: int) -> np.ndarray | None:
    return None if mask is None else np.tile(np.asarray(mask, dtype=bool), (1, planes))


def _engine_options(options: dict[str, Any], plane_shape: tuple[int, int],
                    planes: int) -> dict[str, Any]:
    """`options` (per plane) for the side-by-side image of `planes` planes.

    Every region becomes an explicit mask repeated on every plane: the border
    of each plane (not of the row of planes), the signal, and "outside the
    background mask" (as a signal mask).
    """
    engine = dict(options)
    background = engine.get("background", "border")
    background_mask = engine.pop("background_mask", None)
    region = engine.get("region", "frame")
    if region == "signal":
        engine["signal_mask"] = _tiled(engine.get("signal_mask"), planes)
    elif region == "outside" and background_mask is not None:
        engine["region"], engine["signal_mask"] = "signal", _tiled(
            ~np.asarray(background_mask, dtype=bool), planes)
    if background == "border":
        engine["background"] = "mask"
        engine["background_mask"] = _tiled(border_mask(plane_shape,
                                                       int(engine.get("border_px", 20))), planes)
    elif background_mask is not None:
        engine["background_mask"] = _tiled(background_mask, planes)
    return engine


def _recorded_masks(options: Mapping[str, Any]) -> dict[str, Any]:
    region, background = options.get("region", "frame"), options.get("background", "border")
    return {"signal_mask": options.get("signal_mask") if region == "signal" else None,
            "background_mask": (options.get("background_mask")
                                if background == "mask" or region == "outside" else None)}


def _input(hs: Hyperstack) -> dict[str, Any]:
    """The provenance description of the corrected file (hashed once for all its leaves)."""
    name = Path(hs.filename)
    return {"file": name.name, "path": os.path.abspath(name),
            "sha256": file_sha256(name) if name.is_file() else None,
            "frames": hs.n_frames, "frame_shape": list(hs.frame_shape)}


def correct_hyperstack(hs: Hyperstack, output: str | os.PathLike | None, method: str = "exp",
                       z_mode: str = "time point", *, progress: Progress | None = None,
                       cancel: Cancel | None = None, overwrite: bool = False,
                       **options: Any) -> dict[Any, BleachResult]:
    """Correct photobleaching in every channel of `hs`; write all channels and planes.

    Parameters
    ----------
    hs : Hyperstack
    output : path or None
        The corrected hyperstack file (same layout), written through
        ``atomic_output``; None measures and fits only.
    method : str
        As :func:`~flimage_app.model.bleach.correct_series`.
    z_mode : {"time point", "plane"}
        See the module notes.
    progress, cancel
        Passes are named after the channel (and plane): "GFP: measuring".
    overwrite : bool
    **options
        Everything else of ``correct_series`` (background, border_px, masks of
        the plane shape, region, strict, …).

    Returns
    -------
    dict
        "time point": ``{channel: BleachResult}`` (traces per time point);
        "plane": ``{(channel, plane): BleachResult}``.
    """
    if z_mode not in Z_MODES:
        raise ValueError(f"Unknown Z mode {z_mode!r}; choose one of {', '.join(Z_MODES)}")
    if output is not None and Path(output).exists() and not overwrite:
        raise FileExistsError(exists_message(output))
    for key in ("source", "sinks", "meta_changes"):
        if key in options:
            raise ValueError(f"correct_hyperstack does not take {key!r}")
    if output is None:
        return _correct_all(hs, None, method, z_mode, progress, cancel, options, None)
    with atomic_output(output, overwrite=overwrite) as temporary:
        with h5py.File(temporary, "w") as h5:
            bound_metadata_cache(h5)
            write_layout(h5, hs.layout)
            source = _input(hs)
            results = _correct_all(hs, h5, method, z_mode, progress, cancel, options, source)
            first = results[next(iter(results))]
            record = bleach_record(first, [source], _recorded_masks(options))
            record["parameters"]["z_mode"] = z_mode
            write_provenance(h5, record)
    for result in results.values():
        result.output = os.fspath(Path(output))
    return results


def _correct_all(hs: Hyperstack, h5: h5py.File | None, method: str, z_mode: str,
                 progress: Progress | None, cancel: Cancel | None,
                 options: dict[str, Any], source: dict[str, Any] | None
                 ) -> dict[Any, BleachResult]:
    results: dict[Any, BleachResult] = {}
    for c, name in enumerate(hs.channel_names):
        if z_mode == "plane" or hs.n_planes == 1:
            for z in range(hs.n_planes):
                label = name if hs.n_planes == 1 else f"{name}, plane {z}"
                group = h5.require_group(leaf_path(c, z, hs.n_planes)) if h5 is not None \
                    else None
                result = correct_series(hs.series(c, z), group, method,
                                        progress=_LeafProgress(progress, label), cancel=cancel,
                                        **options)
                if group is not None:
                    _record_mode(group, z_mode)
                results[c if z_mode == "time point" else (c, z)] = result
        else:
            results[c] = _correct_channel(hs, h5, c, method, _LeafProgress(progress, name),
                                          cancel, options, source)
    return results


def _record_mode(group: h5py.Group, z_mode: str) -> None:
    """Add the Z mode to the bleach record the engine wrote into `group`."""
    import json

    from .names import APP_GROUP, PROVENANCE_GROUP

    record_group = group[f"{APP_GROUP}/{PROVENANCE_GROUP}"]
    record = json.loads(record_group.attrs["record"])
    record["parameters"]["z_mode"] = z_mode
    record_group.attrs["record"] = json.dumps(record, allow_nan=True)


def _correct_channel(hs: Hyperstack, h5: h5py.File | None, channel: int, method: str,
                     progress: _LeafProgress, cancel: Cancel | None,
                     options: dict[str, Any], source: dict[str, Any] | None) -> BleachResult:
    """Fiji's rule for one channel: one factor per time point, from all its planes."""
    # the planes share the cores: one decompression thread each unless told otherwise
    workers = options.get("workers") or max(1, (os.cpu_count() or 1) // hs.n_planes)
    readers = [FrameReader(hs.series(channel, z), workers) for z in range(hs.n_planes)]
    with TimePointReader(readers) as reader:
        engine = _engine_options(options, reader.plane_shape, hs.n_planes)
        groups = ([h5.require_group(leaf_path(channel, z, hs.n_planes))
                   for z in range(hs.n_planes)] if h5 is not None else [])
        sinks = [_PlaneSplitter(groups, readers, reader.plane_shape[1])] if groups else []
        result = correct_series(reader, None, method, progress=progress, cancel=cancel,
                                sinks=sinks, **engine)
        # the record says what the user chose, per plane, not the engine's tiled masks
        result.settings = {**result.settings,
                           "background": options.get("background", "border"),
                           "region": options.get("region", "frame")}
        for z, group in enumerate(groups):
            readers[z].keep_identifier(group)
            record = bleach_record(result, [source], _recorded_masks(options))
            record["parameters"]["z_mode"] = "time point"
            write_provenance(group, record)
    return result


__all__ = ["TimePointReader", "Z_MODES", "correct_hyperstack"]
