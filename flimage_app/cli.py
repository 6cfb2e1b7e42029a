"""The ``flimage-app`` command: GUI launcher and batch verbs.

::

    flimage-app [--demo] [--panel browse|background|bleach] [--screenshot PNG] [FILE ...]
    flimage-app info FILE
    flimage-app import STACK -o OUT.h5 [--pixel-size M] [--interval S]
    flimage-app export IN.h5 -o OUT.tif|OUT.npy [--raw]
    flimage-app bleach IN.h5 -o OUT.h5 [--method M] [--background B] [--region R] [ROIs …]
    flimage-app bleach IN.h5 -o OUT.h5 --like CORRECTED.h5 [--csv CSV] [--tif TIF]
    flimage-app denoise IN.h5 -o OUT.h5 [--weight W]

Errors print one line ``flimage-app: error: …`` and exit with status 1
(usage errors: 2; Ctrl-C: 130); ``--debug`` adds the traceback.  Progress
goes to stderr (a bar on a terminal), ``--quiet`` silences progress and notes.
Outputs are written to a temporary file and renamed when complete; an
existing output is replaced only with ``--overwrite``, and an input file is
never an output.

Adding a verb: write ``_<verb>_arguments(parser)`` and a ``run`` function
decorated with ``@verb(name, help, _<verb>_arguments)``.  The model (and with
it numpy, h5py …) is imported inside the verbs, so ``--version`` and
``--help`` answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from . import __version__

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


#: the verbs by name, in the order `flimage-app --help` lists them
VERBS: dict[str, Verb] = {}


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
    from .model.loader import open_series

    series = open_series(path, **import_options)
    try:
        yield series
    finally:
        series.close()


# ---- info
def _info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="FLSeries / FLImage HDF5, TIFF or .npy file")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


@verb("info", "summarise a file: kind, frames, shape, times, pixel size, backgrounds",
      _info_arguments)
def run_info(args: argparse.Namespace, console: Console) -> int:
    summary = summarise(args.file)
    if args.json:
        print(json.dumps(summary, indent=2, default=_json_default))
    else:
        print(format_summary(summary))
    return 0


def summarise(path: Path) -> dict[str, Any]:
    """Summary of any input file; stacks are described from their metadata (no pixels read)."""
    from .model.loader import check_readable, describe
    from .model.tiffio import is_stack_file, stack_summary

    if is_stack_file(path):
        return stack_summary(check_readable(path))
    return describe(path)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable lines of :func:`flimage_app.model.loader.describe`'s summary."""
    lines = []
    for key, value in summary.items():
        label = key.replace("_", " ")
        lines.append(f"{label + ':':<19}{_format_value(key, value)}")
    return "\n".join(lines)


def _format_value(key: str, value: Any) -> str:
    if value is None:
        return "none" if key in ("provenance", "identifier", "problem") else "unknown"
    if key == "shape" and isinstance(value, (tuple, list)):
        return " x ".join(str(v) for v in value) + " px"
    if key == "time_range" and isinstance(value, (tuple, list)) and len(value) == 2:
        return f"{value[0]:g} s to {value[1]:g} s"
    if key == "pixel_size" and isinstance(value, (int, float)):
        return f"{value * 1e6:g} µm ({value:g} m)"
    if key == "notes" and isinstance(value, list):
        return "; ".join(value) if value else "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) if value else "none"
    if key == "provenance" and isinstance(value, dict) and "operation" in value:
        made = f"{value['operation']} ({value.get('method')})"
        if value.get("input"):
            made += f" of {value['input']}"
        if value.get("date"):
            made += f", {value['date']}"
        return made + f", flimage-app {value.get('app_version', '?')}"
    if isinstance(value, dict):
        return json.dumps(value, default=_json_default)
    return str(value)


# ---- import
def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", type=Path, help="TIFF (ImageJ, OME, plain) or .npy stack")
    output_argument(parser, "FLSeries HDF5 file to write (.h5)")
    parser.add_argument("--pixel-size", type=pixel_size_metres, metavar="M",
                        help="pixel size in metres (overrides the file), e.g. 1.3e-7")
    parser.add_argument("--interval", type=positive_float, metavar="S",
                        help="frame interval in seconds (overrides the file's frame times)")
    parser.add_argument("--channel", type=non_negative_int, metavar="N",
                        help="channel (or colour sample) to import, counted from 0")
    parser.add_argument("--plane", type=non_negative_int, metavar="N",
                        help="Z plane to import, counted from 0")
    overwrite_argument(parser)


@verb("import", "convert a TIFF / .npy stack into an FLSeries HDF5 file", _import_arguments)
def run_import(args: argparse.Namespace, console: Console) -> int:
    from .model.loader import check_readable
    from .model.tiffio import import_stack

    require_suffix(args.output, HDF5_SUFFIXES, "the output of import")
    check_readable(args.stack)
    check_outputs([args.stack], [args.output], args.overwrite)
    series = import_stack(args.stack, pixel_size=args.pixel_size, interval=args.interval,
                          channel=args.channel, plane=args.plane, h5file=args.output,
                          overwrite=args.overwrite, progress=console.progress("import"))
    with series:
        console.note(f"wrote {args.output} ({len(series)} frames)")
    return 0


def require_suffix(path: Path, suffixes: Sequence[str], what: str) -> None:
    """Usage error (exit 2) unless `path` ends with one of `suffixes`."""
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"{what} must end with {', '.join(suffixes)}: {path}")


class UsageError(Exception):
    """A wrong combination of arguments that argparse cannot see; exit status 2."""


# ---- export
def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="FLSeries / FLImage HDF5 (or TIFF, .npy) file")
    output_argument(parser, "ImageJ TIFF (.tif) or NumPy (.npy) stack to write")
    parser.add_argument("--raw", action="store_true",
                        help="export the raw fluorescence instead of the background-corrected")
    overwrite_argument(parser)


@verb("export", "write a series as an ImageJ TIFF or .npy stack (float32, TYX)",
      _export_arguments)
def run_export(args: argparse.Namespace, console: Console) -> int:
    require_suffix(args.output, EXPORT_SUFFIXES, "the output of export")
    check_outputs([args.input], [args.output], args.overwrite)
    export_series_file(args.input, args.output, raw=args.raw, overwrite=args.overwrite,
                       console=console)
    console.note(f"wrote {args.output}")
    return 0


def export_series_file(source: Path, target: Path, *, raw: bool, overwrite: bool,
                       console: Console) -> None:
    """Export the series in file `source` to `target` (format from its suffix)."""
    from .model.tiffio import export_npy, export_tiff

    export = export_npy if target.suffix.lower() == ".npy" else export_tiff
    with open_input(source) as series:
        export(series, target, raw=raw, overwrite=overwrite,
               progress=console.progress("export"))


# ---- bleach (implemented in cli_bleach)
def _bleach_arguments(parser: argparse.ArgumentParser) -> None:
    from .cli_bleach import configure_parser

    configure_parser(parser)


@verb("bleach", "correct photobleaching of a series (or correct it like an earlier file)",
      _bleach_arguments)
def run_bleach(args: argparse.Namespace, console: Console) -> int:
    from .cli_bleach import run

    return run(args, console)


# ---- denoise
def _denoise_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="FLSeries HDF5 file (or TIFF, .npy)")
    output_argument(parser, "denoised FLSeries HDF5 file to write (.h5)")
    parser.add_argument("--weight", type=positive_float, default=2.0, metavar="W",
                        help="total-variation denoising weight (default 2.0, as flimage)")
    overwrite_argument(parser)


@verb("denoise", "total-variation denoising of every frame", _denoise_arguments)
def run_denoise(args: argparse.Namespace, console: Console) -> int:
    require_suffix(args.output, HDF5_SUFFIXES, "the output of denoise")
    check_outputs([args.input], [args.output], args.overwrite)

    from .model.denoise import denoise_series

    with open_input(args.input) as series:
        denoise_series(series, args.output, weight=args.weight,
                       progress=console.progress("denoise"), overwrite=args.overwrite)
    console.note(f"wrote {args.output}")
    return 0


# ---- background (ROIs; implemented in cli_background)
def _background_arguments(parser: argparse.ArgumentParser) -> None:
    from .cli_background import configure_parser

    configure_parser(parser)


@verb("background", "fit the background on regions of interest in every frame",
      _background_arguments)
def run_background(args: argparse.Namespace, console: Console) -> int:
    from .cli_background import run

    return run(args)


# ------------------------------------------------------------------ launcher
def launch(args: argparse.Namespace, console: Console) -> int:
    """Open the GUI with the files (or the demo); print summaries if there is no GUI."""
    try:
        from . import gui

        gui_main = gui.main
    except (ImportError, AttributeError) as exc:
        return _launch_without_gui(args, console, exc)
    screenshot = str(args.screenshot) if args.screenshot is not None else None
    result = gui_main([str(path) for path in args.files], demo=args.demo,
                      screenshot=screenshot, panel=args.panel or "browse")
    return int(result or 0)


def _launch_without_gui(args: argparse.Namespace, console: Console,
                        reason: BaseException) -> int:
    why = str(reason).splitlines()[0] if str(reason) else type(reason).__name__
    if args.screenshot is not None:
        raise CommandError(f"--screenshot needs the GUI, which is not available ({why})")
    files: list[Path] = list(args.files)
    if args.demo:
        from .model.demo import demo_series_path

        files.insert(0, demo_series_path())
    if not files:
        raise UsageError("the GUI is not available; give files to summarise, or use a verb "
                         f"(see {PROG} --help)")
    console.note(f"the GUI is not available ({why}); showing a summary instead")
    for number, path in enumerate(files):
        if number:
            print()
        print(format_summary(summarise(Path(path))))
    return 0


# ------------------------------------------------------------------ parsers
def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """--quiet / --debug, accepted before and after a verb.

    Sub-parsers use SUPPRESS as default, so that an option given before the
    verb is not reset by the sub-parser's default.
    """
    parent = argparse.ArgumentParser(add_help=False)
    default_false: Any = False if defaults else argparse.SUPPRESS
    parent.add_argument("-q", "--quiet", action="store_true", default=default_false,
                        help="no progress or notes on stderr")
    parent.add_argument("--debug", action="store_true", default=default_false,
                        help="show the traceback of errors")
    return parent


def _verb_list() -> str:
    width = max(len(name) for name in VERBS)
    rows = "\n".join(f"  {name:<{width}}  {v.help}" for name, v in VERBS.items())
    return f"verbs ({PROG} VERB --help for their options):\n{rows}"


def build_launcher_parser() -> argparse.ArgumentParser:
    """Parser of ``flimage-app [options] [FILE ...]`` (the GUI launcher)."""
    parser = argparse.ArgumentParser(
        prog=PROG, parents=[_common_options(True)],
        usage=f"{PROG} [options] [FILE ...]\n       {PROG} VERB [options] ...",
        description="Fluorescence microscopy images and time series (FLImage / FLSeries): "
                    "opens the app, or runs a batch verb.",
        epilog=_verb_list(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE",
                        help="FLSeries / FLImage HDF5, TIFF or .npy files to open")
    parser.add_argument("--demo", action="store_true", help="open the bundled demo series")
    parser.add_argument("--panel", choices=PANELS, help="panel to show first")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="save a screenshot of the window to PNG and quit")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.set_defaults(run=launch)
    return parser


def build_verb_parser() -> argparse.ArgumentParser:
    """Parser of ``flimage-app VERB ...``."""
    common = _common_options(True)
    parser = argparse.ArgumentParser(prog=PROG, parents=[common], epilog=_verb_list(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, entry in VERBS.items():
        # "resolve": a verb may define its own --quiet (it then replaces the common one)
        sub = subparsers.add_parser(name, help=entry.help, description=entry.help,
                                    parents=[_common_options(False)],
                                    conflict_handler="resolve")
        entry.add_arguments(sub)
        sub.set_defaults(run=entry.run, verb_parser=sub)
    return parser


def first_verb(argv: Sequence[str]) -> str | None:
    """The verb named by `argv`, if its first positional argument is one."""
    skip_next = False
    for token in argv:
        if skip_next:
            skip_next = False
            continue
        if token == "--":
            return None
        if token in LAUNCHER_VALUE_OPTIONS:
            skip_next = True
            continue
        if token.startswith("-"):
            continue
        return token if token in VERBS else None
    return None


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


def _show_warning(console: Console):
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        console.note(f"warning: {message}")
    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_verb_parser() if first_verb(argv) else build_launcher_parser()
    args = parser.parse_args(argv)
    console = Console(quiet=args.quiet)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning(console)
            return args.run(args, console)
    except UsageError as exc:
        # one line, as argparse writes it but without the (long) usage block
        failed = getattr(args, "verb_parser", parser)
        failed.exit(2, f"{failed.prog}: error: {exc}\n")
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (e.g. `| head`): stop quietly, as Unix tools do;
        # stdout is redirected so that Python's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(f"{PROG}: error: {error_message(exc)}", file=sys.stderr)
        return 1
    return 0  # parser.error exits; this keeps type checkers content


if __name__ == "__main__":
    raise SystemExit(main())
