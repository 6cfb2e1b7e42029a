"""Total-variation denoising of a series (Chambolle's algorithm), as flimage offers it.

Frames are read, denoised and written one at a time; denoising runs on a
thread pool (scikit-image's Chambolle iterations are numpy array operations
that release the GIL), a few frames ahead of the writer, so memory stays a
few frames for any series length.
"""

from __future__ import annotations

import collections
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from .errors import Cancelled
from .fastwrite import FrameWriter, bound_metadata_cache
from .h5io import atomic_output
from .progress import Cancel, Progress, start_pass
from .provenance import InputDescriptions, denoise_record, write_provenance


def denoise_image(image: np.ndarray, weight: float = 2.0) -> np.ndarray:
    """Total-variation denoised `image` (scikit-image ``denoise_tv_chambolle``).

    Larger `weight` removes more noise (and more detail); flimage uses 2.
    """
    from skimage.restoration import denoise_tv_chambolle  # heavy import, only when used

    return denoise_tv_chambolle(image, weight=weight)


def denoise_series(series, output, weight: float = 2.0, progress: Progress | None = None,
                   cancel: Cancel | None = None, overwrite: bool = False,
                   workers: int | None = None) -> str | None:
    """Denoise every frame of `series` into a new series at `output`.

    Parameters
    ----------
    series : FLSeries, h5py.Group or path
        Input series (background-corrected images ``fl`` are denoised, as in flimage).
    output : path or h5py.Group
        Where the denoised series goes; a path is written atomically.
    weight : float
        Denoising weight (positive).
    progress, cancel : callable or None
        ``progress(done, total)`` after every frame; ``cancel()`` returning True
        raises :class:`Cancelled` and leaves no output file.
    overwrite : bool
        Replace an existing output file.
    workers : int or None
        Threads for denoising and compression (default: number of CPUs).

    Returns
    -------
    str or None
        The output path (None when `output` is a group).
    """
    from .bleach.measure import FrameReader

    if not weight > 0:
        raise ValueError(f"The denoising weight must be positive, got {weight}")
    with FrameReader(series) as reader:
        inputs = InputDescriptions(reader)
        try:
            if isinstance(output, h5py.Group):
                _denoise_into(reader, output, weight, progress, cancel, workers)
                write_provenance(output, denoise_record(weight, inputs.result()))
                return None
            with atomic_output(output, overwrite=overwrite) as temporary:
                with h5py.File(temporary, "w") as handle:
                    bound_metadata_cache(handle)
                    _denoise_into(reader, handle, weight, progress, cancel, workers)
                    write_provenance(handle, denoise_record(weight, inputs.result()))
        finally:
            inputs.close()
    return os.fspath(Path(output))


def _denoise_into(reader, output: h5py.Group, weight: float, progress: Progress | None,
                  cancel: Cancel | None, workers: int | None) -> None:
    workers = workers or os.cpu_count() or 1
    total = len(reader)
    pending: collections.deque[tuple[int, Future]] = collections.deque()
    reader.keep_identifier(output)
    start_pass(progress, "denoising")
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="denoise") as pool, \
            FrameWriter(output, workers=workers) as writer:
        try:
            for index, image in reader.iter_fl():
                if cancel is not None and cancel():
                    raise Cancelled("Denoising cancelled; no output written")
                pending.append((index, pool.submit(denoise_image, image, weight)))
                if len(pending) > workers:
                    _write_next(pending, reader, writer, progress, total)
            while pending:
                _write_next(pending, reader, writer, progress, total)
        finally:
            for _, future in pending:
                future.cancel()


def _write_next(pending, reader, writer: FrameWriter, progress: Progress | None,
                total: int) -> None:
    index, future = pending.popleft()
    writer.submit(future.result(), reader.meta(index))
    if progress is not None:
        progress(index + 1, total)


def flimage_denoise(series, h5file, count=None, max_count=None, weight: float = 2.0,
                    **options) -> None:
    """flimage 0.3.3's ``FLSeries.denoise(h5file, count, max_count)`` on the app's engine.

    `count` / `max_count` are anything with a ``.value``: `max_count` grows by
    the number of frames, `count` by one per frame.
    """
    announced = [False]

    def progress(done: int, total: int) -> None:
        if max_count is not None and not announced[0]:
            max_count.value += total
            announced[0] = True
        if count is not None:
            count.value += 1

    denoise_series(series, h5file, weight=weight, progress=progress, **options)
