"""Shared parts of the ``flimage-app`` command: the console, argument types, output checks
and the verb registry.

Every verb module registers its verbs here with :func:`verb`; this module
imports no verb, so the verb modules can import it without a circle.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

PROG = "flimage-app"
#: bleach-correction methods (flimage_app.model.bleach.METHODS)
BLEACH_METHODS: tuple[str, ...] = ("flimage", "ratio", "exp", "biexp", "histogram")
#: background choices of the bleach verb (flimage_app.model.bleach.BACKGROUNDS)
BLEACH_BACKGROUNDS: tuple[str, ...] = ("border", "constant", "mask", "stored")
PANELS: tuple[str, ...] = ("browse", "background", "bleach")
HDF5_SUFFIXES: tuple[str, ...] = (".h5", ".hdf5", ".hdf")
EXPORT_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".npy")
#: launcher options that take a value (so their value is not mistaken for a verb)
LAUNCHER_VALUE_OPTIONS: frozenset[str] = frozenset({"--screenshot", "--panel"})


class CommandError(Exception):
    """A user-facing failure of a verb (bad output path …); printed as one line."""


# ------------------------------------------------------------------ console
class Console:
    """Progress, notes and warnings on stderr; silent with ``--quiet``."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr

    @property
    def is_terminal(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def note(self, message: str) -> None:
        """One line on stderr, unless quiet."""
        if not self.quiet:
            print(f"{PROG}: {message}", file=self.stream, flush=True)

    def progress(self, label: str) -> Callable[[int, int], None] | None:
        """A ``progress(done, total)`` callback: a bar on a terminal, else every 10 %."""
        if self.quiet:
            return None
        if self.is_terminal:
            return _TerminalBar(label, self.stream)
        return _ProgressLines(label, self.stream)


class _TerminalBar:
    WIDTH = 30

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label, self.stream = label, stream

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        filled = round(self.WIDTH * fraction)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}{end}")
        self.stream.flush()


class _ProgressLines:
    """Progress for logs: a line at every tenth of the work."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label, self.stream = label, stream
        self.last_tenth = 0

    def __call__(self, done: int, total: int) -> None:
        tenth = 10 * done // total if total else 10
        if tenth != self.last_tenth:
            self.last_tenth = tenth
            print(f"{self.label}: {done}/{total}", file=self.stream, flush=True)


# ------------------------------------------------------------------ verbs
@dataclass(frozen=True)
class Verb:
    """A sub-command: its help line, its arguments, and what it does."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Console], int | None]


#: the verbs by name
VERBS: dict[str, Verb] = {}
#: the order in which `flimage-app --help` lists the verbs (a file's way through the app)
VERB_ORDER: tuple[str, ...] = ("info", "import", "export", "background", "bleach", "denoise")


def ordered_verbs() -> list[Verb]:
    """The registered verbs, in :data:`VERB_ORDER` (others after them, by name)."""
    rank = {name: number for number, name in enumerate(VERB_ORDER)}
    return sorted(VERBS.values(), key=lambda v: (rank.get(v.name, len(rank)), v.name))


def verb(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Register the decorated ``run(args, console)`` function as verb `name`."""
    def register(run: Callable[[argparse.Namespace, Console], int | None]):
        VERBS[name] = Verb(name, help, add_arguments, run)
        return run
    return register


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer ≥ 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def pixel_size_metres(text: str) -> float:
    """argparse type: a pixel size in metres (rejects values that look like µm)."""
    value = positive_float(text)
    if value > 1e-3:
        raise argparse.ArgumentTypeError(
            f"{text} m is not a microscope pixel size; the unit is metres "
            f"(e.g. {value * 1e-6:g} for {text} µm)")
    return value


def output_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help=help)


def overwrite_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files")


def check_outputs(inputs: Sequence[Path], outputs: Sequence[Path | None],
                  overwrite: bool) -> None:
    """Refuse outputs that are inputs, repeat each other, exist or lack a folder.

    Existing outputs are accepted with `overwrite`.
    Checked before any work starts, so a long run does not fail at its end.
    """
    sources = {_identity(path) for path in inputs}
    seen: set[Path] = set()
    for output in outputs:
        if output is None:
            continue
        key = _identity(output)
        if key in sources:
            raise CommandError(f"{output} is an input file; choose another output name "
                               "(input files are never modified)")
        if key in seen:
            raise CommandError(f"{output} is given for two outputs")
        seen.add(key)
        if output.exists() and not overwrite:
            raise CommandError(f"{output} exists; pass --overwrite to replace it")
        if output.exists() and output.is_dir():
            raise CommandError(f"{output} is a folder, not a file name")
        if not output.parent.is_dir():
            raise CommandError(f"folder {output.parent} does not exist")


def _identity(path: Path) -> Path:
    return Path(os.path.realpath(path))


@contextlib.contextmanager
def open_input(path: Path, **import_options: Any) -> Iterator[Any]:
    """The FLSeries of any readable input file (read-only), closed afterwards."""
    from ..model.loader import open_series

    series = open_series(path, **import_options)
    try:
        yield series
    finally:
        series.close()


def require_suffix(path: Path, suffixes: Sequence[str], what: str) -> None:
    """Usage error (exit 2) unless `path` ends with one of `suffixes`."""
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"{what} must end with {', '.join(suffixes)}: {path}")


class UsageError(Exception):
    """A wrong combination of arguments that argparse cannot see; exit status 2."""



# ------------------------------------------------------------------ main
def error_message(exc: BaseException) -> str:
    """One line that tells the user what went wrong."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc)
        if isinstance(exc, KeyError) and text.startswith(("'", '"')) and len(exc.args) == 1:
            text = str(exc.args[0])
    from_app = type(exc).__module__.startswith("flimage_app") or isinstance(
        exc, (CommandError, OSError, KeyError, ValueError))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = "; ".join(lines) if lines else type(exc).__name__
    if not from_app:
        text = f"{type(exc).__name__}: {text} (run with --debug for details)"
    return text


def show_warning(console: Console):
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        console.note(f"warning: {message}")
    return show
