"""Opening microscope files and hyperstacks in the GUI: scene choice, import in a worker.

What :meth:`HyperstackOpener.open` takes over from the window's plain open path:

* a microscope file (``.czi``, ``.nd2``, ``.lif``) or an OME-Zarr folder
  (``.zarr``; the ``zarr.json`` / ``.zattrs`` / ``.zgroup`` inside it stands for
  the folder, since a file dialog picks files *or* folders) — when the file has
  several scenes the user chooses one (:mod:`flimage_app.gui.widgets.scene_dialog`);
* a TIFF with channels or Z planes (an OME-TIFF or ImageJ hyperstack);
* an HDF5 hyperstack file the app wrote (opened directly, read-only).

A file to import is imported by ``model.hyperstack_import.import_planes`` in a
worker (progress, Cancel) into the app's scratch folder (:mod:`flimage_app.gui.scratch`);
the result opens as an unsaved document, as a corrected series does: it is named
in the quit prompt and kept with File ▸ Save As.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from flimage_app.gui.hyperstack_document import HyperstackDocument
from flimage_app.gui.scratch import remove_scratch_file, scratch_path
from flimage_app.gui.thread_warnings import collect_warnings
from flimage_app.gui.workers import Task, error_message

#: Suffixes of TIFF files, which may be hyperstacks.
TIFF_SUFFIXES = (".tif", ".tiff")


def vendor_target(path: str | os.PathLike) -> Path | None:
    """The microscope file or OME-Zarr folder `path` names, or None for other files.

    A Zarr metadata file inside a folder (what a file dialog can pick) stands for
    the folder, and a metadata file of a group inside the image (e.g. the level
    "0" of its pyramid) for the image's folder; a dropped folder is taken as it is.
    """
    from flimage_app.model.vendor import ZARR_METADATA_FILES, is_vendor_path, zarr_root

    path = Path(path)
    if not is_vendor_path(path):
        return None
    if path.name in ZARR_METADATA_FILES:
        folder = zarr_root(path)
        while (folder.suffix.lower() != ".zarr" and folder.parent != folder
               and any((folder.parent / name).is_file() for name in ZARR_METADATA_FILES)):
            folder = folder.parent
        path = folder
    return path


def tiff_hyperstack(path: str | os.PathLike) -> bool:
    """True for a TIFF with channels or Z planes that do not map to one time series.

    The model's rule (``loader.holds_planes``): a plain stack, e.g. an ImageJ stack
    of "slices" saved without hyperstack axes, stays one time series and opens
    through the window's plain path; so does a TIFF that path refuses with its
    own message.
    """
    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES or not path.is_file():
        return False
    from flimage_app.model.errors import FLImageAppError
    from flimage_app.model.loader import holds_planes

    try:
        with collect_warnings():  # calibration warnings come again with the import
            return holds_planes(path)
    except (FLImageAppError, OSError, ValueError):
        return False  # the plain open path says what is wrong with it


def is_hyperstack_file(path: str | os.PathLike) -> bool:
    """True for an HDF5 file holding a hyperstack (channels or planes of FLSeries)."""
    path = Path(path)
    if not path.is_file():
        return False
    from flimage_app.model.hyperstack import is_hyperstack

    try:
        return bool(is_hyperstack(path))
    except (OSError, ValueError):
        return False


#: Scenes up to this many are described with their sizes in the scene chooser (each one
#: is opened for its metadata, which costs a moment per scene in some formats).
SCENE_SIZES_UP_TO = 16


def scene_sizes(path: Path, names: list[str]) -> list[str] | None:
    """ "T=20, C=2, Z=3, 512 x 512 px" per scene, read from the metadata (no pixels).

    None when the file has more than :data:`SCENE_SIZES_UP_TO` scenes; a scene
    whose metadata cannot be read says why instead.
    """
    if len(names) > SCENE_SIZES_UP_TO:
        return None
    from flimage_app.model.errors import FLImageAppError
    from flimage_app.model.vendor import open_vendor

    sizes = []
    for scene in range(len(names)):
        try:
            with collect_warnings(), open_vendor(path, scene=scene) as stack:
                sizes.append(stack.layout)
        except (FLImageAppError, OSError, ValueError) as error:
            sizes.append(f"cannot be read: {error_message(error)}")
    return sizes


#: characters no file name may hold on some system (scene names may have them)
UNSAFE_IN_NAMES = '<>:"/\\|?*'


def file_name_safe(name: str) -> str:
    """`name` with the characters a file name cannot hold replaced by "_"."""
    cleaned = "".join("_" if char in UNSAFE_IN_NAMES or ord(char) < 32 else char
                      for char in name).strip(" .")
    return cleaned or "import"


class HyperstackOpener:
    """The open path of microscope files and hyperstacks of one main window.

    Parameters
    ----------
    window
        The :class:`~flimage_app.gui.main_window.MainWindow`: its ``run_task``,
        ``add_document``, ``report_error`` and status bar are used.
    """

    def __init__(self, window) -> None:
        self.window = window
        #: imports running (their tasks), for tests and ``busy``
        self.tasks: list[Task] = []
        self._remember = True

    @property
    def busy(self) -> bool:
        return any(not task.is_done() for task in self.tasks)

    def open(self, path: str | os.PathLike, remember: bool = True) -> bool:
        """Open `path` if it is one of this module's files; False leaves it to the plain path.

        True means handled: opened, import started, cancelled by the user or refused
        with a dialog.  With `remember`, the file goes into File ▸ Open Recent once open.
        """
        path = Path(path)
        self._remember = remember
        vendor = vendor_target(path)
        if vendor is not None:
            self._open_vendor(vendor)
            return True
        if is_hyperstack_file(path):
            self._open_hyperstack_file(path)
            return True
        if tiff_hyperstack(path):
            self.start_import(path, path.name, lambda: self._inspect_tiff(path))
            return True
        return False

    # ------------------------------------------------------------------ the kinds
    def _open_vendor(self, path: Path) -> None:
        from flimage_app.model.errors import FLImageAppError
        from flimage_app.model.vendor import open_vendor, scene_names

        try:
            with collect_warnings():
                names = list(scene_names(path))
        except (FLImageAppError, OSError, ValueError) as error:
            self._refuse(path, error)
            return
        scene = 0
        name = path.name
        if len(names) > 1 and getattr(self.window, "headless", False):
            # nobody can answer a dialog (--screenshot): the first scene, said on stderr
            print(f"flimage-app: {path.name} holds {len(names)} scenes; showing the first "
                  f"({names[0]})", file=sys.stderr)
            name = f"{path.name} [{names[0]}]"
        elif len(names) > 1:
            from flimage_app.gui.widgets.scene_dialog import choose_scene

            chosen = choose_scene(self.window, path.name, names, scene_sizes(path, names))
            if chosen is None:
                return
            scene = chosen
            name = f"{path.name} [{names[scene]}]"
        self.start_import(path, name, lambda: open_vendor(path, scene=scene))

    @staticmethod
    def _inspect_tiff(path: Path):
        from flimage_app.model.tiffio import inspect_planes

        return inspect_planes(path)

    def _open_hyperstack_file(self, path: Path) -> None:
        from flimage_app.model.errors import FLImageAppError
        from flimage_app.model.hyperstack import open_hyperstack

        try:
            hyperstack = open_hyperstack(path)
        except (FLImageAppError, OSError, ValueError, KeyError) as error:
            self._refuse(path, error)
            return
        try:
            self.window.add_document(HyperstackDocument(hyperstack, path.name, str(path)))
        except Exception as error:  # a leaf that cannot be read: the file stays closed
            hyperstack.close()
            self._refuse(path, error)
            return
        if self._remember:
            self.window.remember_opened(str(path))

    # ------------------------------------------------------------------ import
    def start_import(self, path: Path, name: str, read_stack) -> Task:
        """Import the stack `read_stack()` returns into the scratch folder, then open it."""
        from flimage_app.model.hyperstack_import import import_planes

        remember = self._remember
        # named after what the user opened ("cells.czi [Position 2].h5"): the records of
        # what is made from it (a bleach correction) name this file as their input
        target = scratch_path(f"{file_name_safe(name)}.h5")
        notes: list[str] = []

        def work(progress, cancel):
            try:
                with collect_warnings() as caught:
                    with read_stack() as stack:
                        written = import_planes(stack, target, progress=progress,
                                                cancel=cancel)
                notes.extend(caught)
                return written
            finally:
                if not target.exists():
                    remove_scratch_file(target)

        task = self.window.run_task(f"Importing {path.name}", work,
                                    lambda written: self._imported(path, name, written, notes,
                                                                   remember))
        task.failed.connect(lambda _message: remove_scratch_file(target))
        task.cancelled.connect(lambda: remove_scratch_file(target))
        self.tasks.append(task)
        task.finished.connect(lambda: self.tasks.remove(task) if task in self.tasks else None)
        return task

    def _imported(self, source: Path, name: str, written, notes: list[str],
                  remember: bool) -> None:
        from flimage_app.model.loader import open_series

        written = Path(written)
        origin = f"the import of {source.name}"
        try:
            if is_hyperstack_file(written):
                from flimage_app.model.hyperstack import open_hyperstack

                hyperstack = open_hyperstack(written)
                try:
                    document = HyperstackDocument(hyperstack, name, temporary_path=written,
                                                  origin=origin)
                except Exception:
                    hyperstack.close()
                    raise
                self.window.add_document(document)
            else:  # one channel, one plane: a plain series
                series = open_series(written)
                self.window.add_series(series, name, temporary_path=written)
        except Exception as error:
            remove_scratch_file(written)
            self._refuse(source, error)
            return
        if remember:
            self.window.remember_opened(str(source))
        if notes:  # e.g. no calibration in the file: say so where the user looks
            self.window.statusBar().showMessage(" · ".join(notes), 15000)

    def _refuse(self, path: Path, error: BaseException) -> None:
        message = error_message(error)
        if path.name not in message:
            message = f"{path}: {message}"
        self.window.report_error("Cannot open file", message)


__all__ = ["SCENE_SIZES_UP_TO", "TIFF_SUFFIXES", "HyperstackOpener", "file_name_safe",
           "is_hyperstack_file", "scene_sizes", "tiff_hyperstack", "vendor_target"]
