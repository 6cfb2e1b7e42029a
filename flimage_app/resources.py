"""Where the app's bundled files (icon, demo series, desktop entry) are found.

In a source checkout or an editable install they are in ``resources/`` at the
repository root; in the PyInstaller build they are in ``resources/`` inside
the bundle (``sys._MEIPASS``).
"""

from __future__ import annotations

import sys
from pathlib import Path

#: files the app loads at run time; the PyInstaller spec must bundle each of them
RUNTIME_RESOURCES: tuple[str, ...] = ("flimage-app.png", "flimage-app.ico", "demo_series.h5")


def resources_dir() -> Path:
    """The folder that holds the bundled resources."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(name: str) -> Path:
    """Path of the bundled resource `name` (it may not exist, e.g. in a bare wheel install)."""
    return resources_dir() / name


def icon_path() -> Path:
    """The application icon (PNG)."""
    return resource_path("flimage-app.png")
