"""Low-level HDF5 helpers shared by the model: image datasets and safe output files.

Image datasets are written the way flimage writes them (chunk = image shape,
fletcher32 checksums, HDFView image attributes), so that any HDF5 reader and
flimage 0.3.3 open them.  Compression is gzip level 1 without shuffle: on
fluorescence frames it writes ~25x faster than flimage's level 9 for files
~20 % larger (measured in ``benchmarks/bench_series.py``), and shuffle made
both size and speed worse on camera data.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from . import validate
from .errors import FLImageAppError


class WriteError(FLImageAppError, OSError):
    """An output file could not be written (disk full, size limit, quota)."""

#: Compression of image datasets written by the app.
COMPRESSION: dict = {"compression": "gzip", "compression_opts": 1, "shuffle": False}

#: Attributes that let HDFView show a float array as a greyscale image.
IMAGE_ATTRS: dict[str, np.bytes_] = {
    "CLASS": np.bytes_("IMAGE"),
    "IMAGE_VERSION": np.bytes_("1.2"),
    "IMAGE_SUBCLASS": np.bytes_("IMAGE_GRAYSCALE"),
}


def is_in_memory(group: h5py.Group) -> bool:
    """True for groups of in-memory files (h5py "core" driver without backing store)."""
    return group.file.driver == "core"


def write_image_dataset(group: h5py.Group, key: str, data, h5dtype=None) -> h5py.Dataset:
    """Write a 2-D image (or a scalar background) to ``group[key]``, replacing what was there.

    Boolean arrays stay boolean; everything else is stored as `h5dtype`
    (default: the dtype of `data`).
    """
    data = np.asarray(data)
    if h5dtype is None or data.dtype == bool:
        h5dtype = data.dtype
    if key in group:
        del group[key]
    kwargs: dict = {}
    if not is_in_memory(group) and data.ndim > 0:
        kwargs = {"fletcher32": True, "chunks": data.shape, **COMPRESSION}
    dset = group.create_dataset(key, data=data.astype(h5dtype, copy=False), **kwargs)
    if not is_in_memory(group):
        for name, value in IMAGE_ATTRS.items():
            dset.attrs.create(name, value)
    return dset


def copy_group(source: h5py.Group, target: h5py.Group, _ancestors: tuple[int, ...] = ()) -> None:
    """Copy all members and attributes of `source` into `target` (links are resolved).

    Datasets are rewritten with the app's compression unless both files use
    the same filters, in which case HDF5 copies the compressed chunks as they are.
    Every member is checked on the way (:mod:`flimage_app.model.validate`):
    no link out of the file, no group cycle, data stored inside the file.  Of
    an FLImage root (a group with "fluorescence") only the metadata keys are
    copied, read by name: flimage refuses any other root attribute, and a
    frame with thousands of stray attributes would make every copy slow.
    """
    ancestors = (*_ancestors, hash(source.id))
    for key in source:
        if key in target:
            del target[key]
        item = validate.member(source, key)
        if isinstance(item, (h5py.Group, h5py.Dataset)) and hash(item.id) in ancestors:
            raise validate.refuse(validate.object_name(source, key),
                                  "links back to a group that contains it (a cycle)")
        if isinstance(item, h5py.Group):
            copy_group(item, target.create_group(key), ancestors)
        elif isinstance(item, h5py.Dataset):
            where = validate.object_name(item)
            validate.check_storage(item, where)
            if _same_storage(item, target):
                source.copy(item, target, name=key)
            else:
                dset = write_image_dataset(target, key, validate.read_array(item, where))
                for name, value in item.attrs.items():
                    dset.attrs[name] = value
    if "fluorescence" in source:
        for name, value in validate.read_metadata(source).items():
            target.attrs[name] = value
        return
    for name, value in source.attrs.items():
        target.attrs[name] = value


def _same_storage(dset: h5py.Dataset, target: h5py.Group) -> bool:
    if is_in_memory(target) or is_in_memory(dset.parent):
        return is_in_memory(target) and is_in_memory(dset.parent)
    return dset.compression == COMPRESSION["compression"] and dset.fletcher32


#: longest file name most file systems allow (ext4, XFS, APFS, NTFS: 255 bytes / UTF-16 units)
NAME_MAX_BYTES = 255
#: the random part of a temporary name that :func:`tempfile.mkstemp` adds
_RANDOM_CHARS = 8
_TEMP_SUFFIX = ".part"


def temporary_path_beside(target: str | os.PathLike) -> Path:
    """A new, unique, hidden file name in the folder of `target`.

    The rename from there to `target` is atomic because both lie on the same file system.
    The name is ``.<target name>.<random>.part``, with the target name shortened so that
    the whole stays within :data:`NAME_MAX_BYTES` (any valid target name gets a temporary).
    """
    target = Path(target)
    room = NAME_MAX_BYTES - len(f"..{'x' * _RANDOM_CHARS}{_TEMP_SUFFIX}")
    stem = target.name.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    fd, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=_TEMP_SUFFIX, dir=target.parent)
    # mkstemp makes the file private (0600); an output gets the permissions of a new file
    os.chmod(name, 0o666 & ~_current_umask())
    os.close(fd)
    return Path(name)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: errno values that mean "the disk (or the allowed file size) is full"
_FULL_ERRNOS = {errno.ENOSPC: "no space left on device",
                errno.EFBIG: "the file is too large for the disk or a size limit",
                errno.EDQUOT: "the disk quota is exceeded"}
#: below this many free bytes a write that failed without saying why is taken for a full disk
_NEARLY_FULL_BYTES = 1 << 20


def disk_full_reason(exc: BaseException, target: str | os.PathLike | None = None) -> str | None:
    """A readable reason if `exc` says the disk is full, else None.

    h5py reports HDF5's write failures as RuntimeError/OSError whose text
    carries the errno ("errno = 28"), so both the attribute and the text are
    read.  Some writers (NumPy's ``tofile``, used by tifffile) report a short
    write only as "N requested and M written", without an errno: then the
    free space of `target`'s file system decides.
    """
    code = getattr(exc, "errno", None)
    if code not in _FULL_ERRNOS:
        match = re.search(r"errno = (\d+)", str(exc))
        code = int(match.group(1)) if match else None
    if code in _FULL_ERRNOS:
        return _FULL_ERRNOS[code]
    if target is not None and re.search(r"\d+ requested and \d+ written", str(exc)):
        try:
            stats = os.statvfs(Path(target).parent)
        except (OSError, AttributeError):  # no statvfs on Windows
            return None
        if stats.f_bavail * stats.f_frsize < _NEARLY_FULL_BYTES:
            return _FULL_ERRNOS[errno.ENOSPC]
    return None


def exists_message(target: str | os.PathLike) -> str:
    """The one line for an output that exists and may not be replaced."""
    return f"{os.fspath(target)} exists; choose another name or pass overwrite=True to replace it"


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it to `target` only on success.

    Any exception (including KeyboardInterrupt, SystemExit and a cancel)
    removes the temporary file, so no partial file ever appears at `target`.
    An existing `target` is replaced only with ``overwrite=True``.  Inside
    :func:`output_group`, the rename waits until every output of the group
    is complete.

    Raises
    ------
    FileExistsError
        `target` exists and `overwrite` is False.
    WriteError
        The disk, a quota or a file size limit is full.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise FileExistsError(exists_message(target))
    if not target.parent.is_dir():
        raise FileNotFoundError(f"Folder {target.parent} does not exist")
    groups = _open_groups()
    group = groups[-1] if groups else None
    temporary = temporary_path_beside(target)
    committed = False
    try:
        try:
            yield temporary
            if group is not None:
                group.add(temporary, target, overwrite)
            else:
                _commit(temporary, target, overwrite)
            committed = True
        except (OSError, RuntimeError) as exc:
            reason = disk_full_reason(exc, target)
            if reason is None:
                raise
            raise WriteError(f"{reason} writing {target}") from exc
    finally:
        if not committed or group is None:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()


def _commit(temporary: Path, target: Path, overwrite: bool) -> None:
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} appeared while writing; not overwritten")
    os.replace(temporary, target)


class _OutputGroup:
    """Outputs of one task, renamed to their targets together (see :func:`output_group`)."""

    def __init__(self) -> None:
        self.pending: list[tuple[Path, Path, bool]] = []

    def add(self, temporary: Path, target: Path, overwrite: bool) -> None:
        self.pending.append((temporary, target, overwrite))

    def path_of(self, target: str | os.PathLike) -> Path:
        """Where the finished but not yet renamed output for `target` is (to read it back)."""
        key = Path(target)
        for temporary, pending_target, _ in self.pending:
            if pending_target == key:
                return temporary
        raise KeyError(f"{target} is not an output of this group")

    def commit(self) -> None:
        created: list[Path] = []
        try:
            for temporary, target, overwrite in self.pending:
                existed = target.exists()
                _commit(temporary, target, overwrite)
                if not existed:
                    created.append(target)
        except BaseException:
            # a failed rename (rare: the folder vanished …): take back the new files too
            for target in created:
                with contextlib.suppress(OSError):
                    target.unlink()
            raise
        finally:
            self.discard()

    def discard(self) -> None:
        for temporary, _, _ in self.pending:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        self.pending.clear()


_THREAD_STATE = threading.local()


def _open_groups() -> list[_OutputGroup]:
    """The output groups open on this thread (innermost last); atomic outputs join the last."""
    if not hasattr(_THREAD_STATE, "groups"):
        _THREAD_STATE.groups = []
    return _THREAD_STATE.groups


def readable_path(target: str | os.PathLike) -> Path:
    """Where the output just written for `target` can be read now.

    `target` itself, or inside :func:`output_group` the finished temporary
    file that is renamed to `target` when the group ends.
    """
    for group in reversed(_open_groups()):
        with contextlib.suppress(KeyError):
            return group.path_of(target)
    return Path(target)


@contextlib.contextmanager
def output_group() -> Iterator[_OutputGroup]:
    """All outputs of a task appear together, or none does.

    Every :func:`atomic_output` completed inside the ``with`` block keeps its
    temporary file until the block ends; then all are renamed to their
    targets.  An exception anywhere in the block removes all of them.  The
    yielded object's ``path_of(target)`` gives the finished temporary file of
    an output that must be read again (e.g. exported) before the block ends.
    Groups are per thread: outputs written on other threads are not held back.
    """
    group = _OutputGroup()
    _open_groups().append(group)
    try:
        yield group
    except BaseException:
        group.discard()
        raise
    finally:
        _open_groups().remove(group)
    group.commit()


@contextlib.contextmanager
def outside_output_groups() -> Iterator[None]:
    """Outputs completed in the block are renamed at once, whatever group is open.

    For scratch files that are not outputs of the task (a microscope file
    imported into a temporary file to be read): they must be readable at
    their own name now, and must not wait for, or fail, the task's group.
    """
    groups = _open_groups()
    saved = list(groups)
    groups.clear()
    try:
        yield
    finally:
        groups[:] = saved + groups

