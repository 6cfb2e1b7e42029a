"""The ``flimage-app`` command (see :mod:`flimage_app.cli.command`)."""

from .command import main

__all__ = ["main"]
