"""pytest plugin for the upstream suites run against the app (see tests/test_upstream_suites.py).

``UPSTREAM_SUITE`` names the suite ("flimage" or "qpimage"); ``UPSTREAM_TARGET``
is "app" (default) or "upstream" (the real package, as a control).  Against
the app it checks that ``flimage`` is the shim, installs the app's background
estimator as ``qpimage.bg_estimate``, and skips the tests listed in
``tests/upstream/skips.py`` with their reasons.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

SHIM = Path(__file__).resolve().parent.parent / "shim"
SUITE = os.environ.get("UPSTREAM_SUITE", "")
TARGET = os.environ.get("UPSTREAM_TARGET", "app")


def _skips() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("upstream_skips", SHIM.parent / "skips.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SKIPS


def pytest_configure(config) -> None:
    if SUITE == "flimage":
        import flimage

        is_shim = Path(flimage.__file__).resolve().parent == SHIM / "flimage"
        if is_shim != (TARGET == "app"):
            raise pytest.UsageError(f"`import flimage` found {flimage.__file__} for the "
                                    f"{TARGET} run")
    elif SUITE == "qpimage" and TARGET == "app":
        import qpimage
        import qpimage.image_data
        import qpimage.integrity_check  # noqa: F401  (imports bg_estimate by attribute)

        sys.path.insert(0, str(SHIM))
        import app_bg_estimate

        sys.modules["qpimage.bg_estimate"] = app_bg_estimate
        qpimage.bg_estimate = app_bg_estimate
        qpimage.image_data.bg_estimate = app_bg_estimate


def pytest_collection_modifyitems(config, items) -> None:
    if TARGET != "app":
        return
    skips = _skips()
    for item in items:
        key = f"{SUITE}/{Path(item.fspath).name}::{item.name}"
        if key in skips:
            item.add_marker(pytest.mark.skip(reason=f"private detail: {skips[key]}"))
