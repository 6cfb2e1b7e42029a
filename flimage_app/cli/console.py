"""Shared parts of the ``flimage-app`` command: the console, argument types, output checks
and the verb registry.

Every verb module registers its verbs here with :func:`verb`; this module
imports no verb, so the verb modules can import it without a circle.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import re
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
class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: the verb stops at its next safe point.

    A BaseException, as KeyboardInterrupt, so that no ``except Exception``
    on the way takes it for an error of the file at hand.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """128 + the signal number, as shells report it (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


class SignalGuard:
    """SIGINT and SIGTERM handled by the command itself, while a verb runs.

    Python's own Ctrl-C handling raises KeyboardInterrupt wherever the main
    thread happens to be, also inside a garbage-collection callback or a
    lock's ``__exit__``, where it is swallowed ("Exception ignored …") and
    the verb finishes and exits 0; SIGTERM is not handled at all and leaves
    the temporary files behind.  Here the handler only records the signal
    (`deferred`): the model polls :meth:`cancelled` as its cancel callback
    after every frame and stops with ``Cancelled``, and the verb calls
    :meth:`check` between its steps.  A second signal, or any signal when not
    `deferred` (a verb that writes nothing), raises :class:`Interrupted` at once.
    """

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self, deferred: bool = True) -> None:
        self.deferred = deferred
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                number = getattr(signal, name)
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        import signal

        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        repeated = self.received is not None
        self.received = signum
        if repeated or not self.deferred:
            raise Interrupted(signum)

    def cancelled(self) -> bool:
        """The cancel callback of the model's long operations: True once a signal arrived."""
        return self.received is not None

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal arrived (call between the steps of a verb)."""
        if self.received is not None:
            raise Interrupted(self.received)


class Console:
    """Progress, notes and warnings on stderr; silent with ``--quiet``.

    `signals` gives the verbs their cancel callback (:attr:`cancel`) and the
    check between steps (:meth:`check_interrupt`).
    """

    def __init__(self, quiet: bool = False, stream: TextIO | None = None,
                 signals: SignalGuard | None = None) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.signals = signals if signals is not None else SignalGuard()

    @property
    def cancel(self) -> Callable[[], bool]:
        """``cancel()`` for the model: True once SIGINT or SIGTERM arrived."""
        return self.signals.cancelled

    def check_interrupt(self) -> None:
        """Stop here (:class:`Interrupted`) if SIGINT or SIGTERM arrived."""
        self.signals.check()

    @property
    def is_terminal(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def note(self, message: str) -> None:
        """One line on stderr, unless quiet."""
        if not self.quiet:
            print(f"{PROG}: {message}", file=self.stream, flush=True)

    def progress(self, label: str) -> Callable[[int, int], None] | None:
        """A ``progress(done, total)`` callback: a bar on a terminal, else every 10 %.

        It counts frames within each pass and names the pass ("bleach:
        measuring 40/80"), following :mod:`flimage_app.model.progress`.
        """
        if self.quiet:
            return None
        if self.is_terminal:
            return _TerminalBar(label, self.stream)
        return _ProgressLines(label, self.stream)


class _PassProgress:
    """What both progress displays share: the verb's label and the current pass."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label, self.stream = label, stream
        self.pass_name = ""

    def start_pass(self, name: str) -> None:
        """The model starts the pass `name` (see :func:`flimage_app.model.progress.start_pass`)."""
        self.pass_name = name
        self.restart()

    def restart(self) -> None:
        """A new pass: its count starts again."""

    @property
    def heading(self) -> str:
        return f"{self.label}: {self.pass_name}" if self.pass_name else f"{self.label}:"


class _TerminalBar(_PassProgress):
    WIDTH = 30

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        filled = round(self.WIDTH * fraction)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r{self.heading} [{bar}] {done}/{total}{end}")
        self.stream.flush()


class _ProgressLines(_PassProgress):
    """Progress for logs: a line at every tenth of each pass."""

    def __init__(self, label: str, stream: TextIO) -> None:
        super().__init__(label, stream)
        self.last_tenth = 0

    def restart(self) -> None:
        self.last_tenth = 0

    def __call__(self, done: int, total: int) -> None:
        tenth = 10 * done // total if total else 10
        if tenth != self.last_tenth:
            self.last_tenth = tenth
            print(f"{self.heading} {done}/{total}", file=self.stream, flush=True)


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
VERB_ORDER: tuple[str, ...] = ("info", "import", "export", "background", "bleach", "denoise",
                               "measure")


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


#: the options of :func:`stack_arguments` (argparse destination → option)
STACK_OPTIONS: dict[str, str] = {"pixel_size": "--pixel-size", "interval": "--interval",
                                 "channel": "--channel", "plane": "--plane", "scene": "--scene"}
#: the stack options an HDF5 file takes: which leaf of a hyperstack file
LEAF_OPTIONS: tuple[str, ...] = ("channel", "plane")


def stack_arguments(parser: argparse.ArgumentParser, *, overrides: str = "the file's") -> None:
    """Add ``--pixel-size``, ``--interval``, ``--channel`` and ``--plane``: how a stack is read.

    Every verb that reads TIFF / ``.npy`` stacks takes them, so that every
    hint the reader gives ("give the frame interval with --interval S")
    names an option of the verb at hand.  :func:`stack_options` reads them.
    """
    group = parser.add_argument_group("reading a TIFF / .npy stack")
    group.add_argument("--pixel-size", type=pixel_size_metres, metavar="M",
                       help=f"pixel size in metres (overrides {overrides}), e.g. 1.3e-7")
    group.add_argument("--interval", type=positive_float, metavar="S",
                       help=f"frame interval in seconds (overrides {overrides} frame times)")
    group.add_argument("--channel", type=non_negative_int, metavar="N",
                       help="channel (or colour sample) to read, counted from 0")
    group.add_argument("--plane", type=non_negative_int, metavar="N",
                       help="Z plane to read, counted from 0")
    group.add_argument("--scene", type=non_negative_int, metavar="N",
                       help="scene (position, series) of a CZI / ND2 / LIF / OME-Zarr file, "
                            "counted from 0 (default 0)")


def stack_options(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """The stack options given (for :func:`open_input`), checked against the input `path`.

    Raises
    ------
    UsageError
        A stack option given for an HDF5 input, whose frames carry their own metadata.
    """
    from ..model.tiffio import is_stack_file
    from ..model.vendor import is_vendor_path

    given = {name: getattr(args, name) for name in STACK_OPTIONS
             if getattr(args, name, None) is not None}
    if is_vendor_path(path):
        return given
    if "scene" in given:
        raise UsageError(f"--scene chooses a scene of a CZI / ND2 / LIF / OME-Zarr file; "
                         f"{path.name} is not one")
    unfit = [name for name in given if name not in LEAF_OPTIONS]
    if unfit and not is_stack_file(path):
        options = ", ".join(STACK_OPTIONS[name] for name in unfit)
        raise UsageError(f"{options} read TIFF / .npy stacks and microscope files; "
                         f"{path.name} is not one (an HDF5 file's frames carry their own "
                         "times and pixel size)")
    return given


def output_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help=help)


def overwrite_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files")


def check_outputs(inputs: Sequence[Path | None], outputs: Sequence[Path | None],
                  overwrite: bool) -> None:
    """Refuse outputs that are inputs, repeat each other, exist or lack a folder.

    `inputs` are every file the verb reads (the series, ``--like``, ROI
    files, a background image): an output is refused when it is one of them,
    also through a symbolic or hard link (same device and inode), with
    ``--overwrite`` or not.  Existing outputs are accepted with `overwrite`.
    Checked before any work starts, so a long run does not fail at its end.
    """
    sources = {key for path in inputs if path is not None for key in _identities(path)}
    seen: set = set()
    for output in outputs:
        if output is None:
            continue
        keys = _identities(output)
        if keys & sources:
            raise CommandError(f"{output} is an input file; choose another output name "
                               "(input files are never modified, not even with --overwrite)")
        if keys & seen:
            raise CommandError(f"{output} is given for two outputs")
        seen |= keys
        if output.exists() and not overwrite:
            raise CommandError(f"{output} exists; pass --overwrite to replace it")
        if output.exists() and output.is_dir():
            raise CommandError(f"{output} is a folder, not a file name")
        if not output.parent.is_dir():
            raise CommandError(f"folder {output.parent} does not exist")


def _identities(path: Path) -> set:
    """What makes two names the same file: the resolved path and, if it exists, its inode."""
    keys: set = {Path(os.path.realpath(path))}
    with contextlib.suppress(OSError):
        status = os.stat(path)
        keys.add((status.st_dev, status.st_ino))
    return keys


@contextlib.contextmanager
def open_input(path: Path, cancel: Callable[[], bool] | None = None,
               **import_options: Any) -> Iterator[Any]:
    """The FLSeries of any readable input file (read-only), closed afterwards.

    A TIFF / .npy stack is imported first; `cancel` (e.g. ``console.cancel``)
    stops that import too.
    """
    from ..model.loader import open_series
    from ..model.tiffio import is_stack_file
    from ..model.vendor import is_vendor_path

    if cancel is not None and (is_stack_file(path) or is_vendor_path(path)):
        import_options["cancel"] = cancel
    series = open_series(path, **import_options)
    try:
        yield series
    finally:
        series.close()


@contextlib.contextmanager
def open_whole(path: Path, cancel: Callable[[], bool] | None = None,
               progress: Callable[[int, int], None] | None = None,
               **import_options: Any) -> Iterator[Any]:
    """Every channel and plane of the input: a Hyperstack, or an FLSeries; closed afterwards.

    With ``--channel`` / ``--plane`` given, the one series they choose
    (:func:`open_input`).  A TIFF hyperstack or a microscope file is
    imported into a temporary file first (`progress`, `cancel`).
    """
    from ..model.loader import open_any

    if import_options.get("channel") is not None or import_options.get("plane") is not None:
        with open_input(path, cancel, **import_options) as series:
            yield series
        return
    scene = import_options.pop("scene", None) or 0
    opened = open_any(path, scene, progress=progress, cancel=cancel, **import_options)
    try:
        yield opened
    finally:
        opened.close()


def is_hyperstack(opened: Any) -> bool:
    """Whether what :func:`open_whole` gave is a Hyperstack (several channels or planes)."""
    from ..model.hyperstack import Hyperstack

    return isinstance(opened, Hyperstack)


def require_suffix(path: Path, suffixes: Sequence[str], what: str) -> None:
    """Usage error (exit 2) unless `path` ends with one of `suffixes`."""
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"{what} must end with {', '.join(suffixes)}: {path}")


class UsageError(Exception):
    """A wrong combination of arguments that argparse cannot see; exit status 2."""



# ------------------------------------------------------------------ main
def error_message(exc: BaseException) -> str:
    """One line that tells the user what went wrong."""
    if isinstance(exc, FileExistsError) or "overwrite=True" in str(exc):
        # the library names its keyword (overwrite=True); here the option is --overwrite
        text = _plain_hdf5_error(re.sub(r"^\[Errno \d+\] ", "", str(exc)))
        text = text.replace("overwrite=True", "--overwrite")
        if "--overwrite" not in text:
            text = f"{text.rstrip('.')}; pass --overwrite to replace it"
        return text
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = _plain_hdf5_error(str(exc))
        if isinstance(exc, KeyError) and text.startswith(("'", '"')) and len(exc.args) == 1:
            text = str(exc.args[0])
    from_app = type(exc).__module__.startswith("flimage_app") or isinstance(
        exc, (CommandError, OSError, KeyError, ValueError))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = "; ".join(lines) if lines else type(exc).__name__
    if not from_app:
        text = f"{type(exc).__name__}: {text} (run with --debug for details)"
    return text


#: h5py's text for a failed open/create, e.g. "Unable to create file (unable to open file:
#: name = 'x.h5', errno = 17, error message = 'File exists', flags = 15, o_flags = c2)"
_HDF5_ERRNO_TEXT = re.compile(r"name = '(?P<name>[^']*)', errno = (?P<errno>\d+), "
                              r"error message = '(?P<message>[^']*)'")


def _plain_hdf5_error(text: str) -> str:
    """h5py's raw errno text as "<file>: <reason>" (the existing-file case names --overwrite)."""
    match = _HDF5_ERRNO_TEXT.search(text)
    if match is None:
        return text
    if int(match["errno"]) == errno.EEXIST:
        return f"{match['name']} exists; pass --overwrite to replace it"
    return f"{match['name']}: {match['message'].lower()}"


def show_warning(console: Console):
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        console.note(f"warning: {message}")
    return show
