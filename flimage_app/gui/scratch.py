"""The app's scratch folder: results not yet saved (e.g. a corrected series) live here.

Each running app has its own folder ``flimage-app-scratch-<pid>-…`` in the system's
temporary folder.  A result's file is removed when its series is closed, the
folder when the app ends, and folders left behind by an app that crashed are
removed at the next start (:func:`remove_stale_folders`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "flimage-app-scratch-"
_folder: Path | None = None


def scratch_folder() -> Path:
    """This app's scratch folder (made on first use)."""
    global _folder
    if _folder is None or not _folder.is_dir():
        _folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    return _folder


def scratch_path(file_name: str) -> Path:
    """A new, unused path named `file_name` in its own sub-folder of the scratch folder."""
    return Path(tempfile.mkdtemp(dir=scratch_folder())) / file_name


def remove_scratch_file(path: str | os.PathLike) -> None:
    """Remove a result's file and its sub-folder if they are in the scratch folder."""
    path = Path(path)
    if _folder is None or _folder not in path.parents:
        return
    path.unlink(missing_ok=True)
    parent = path.parent
    if parent != _folder:
        shutil.rmtree(parent, ignore_errors=True)


def remove_scratch_folder() -> None:
    """Remove this app's scratch folder (at exit)."""
    global _folder
    if _folder is not None:
        shutil.rmtree(_folder, ignore_errors=True)
        _folder = None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive, and not ours to clean
    return True


def remove_stale_folders(temporary_root: str | os.PathLike | None = None) -> list[Path]:
    """Remove scratch folders of apps that are no longer running; returns what was removed."""
    root = Path(temporary_root or tempfile.gettempdir())
    removed = []
    for folder in root.glob(f"{PREFIX}*"):
        pid_text = folder.name[len(PREFIX):].split("-", 1)[0]
        if not folder.is_dir() or not pid_text.isdigit():
            continue
        if int(pid_text) != os.getpid() and not _pid_alive(int(pid_text)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
