"""The ``flimage-app`` command: GUI launcher and batch verbs.

::

    flimage-app [--demo] [--panel browse|background|bleach|measure] [--screenshot PNG] [FILE ...]
    flimage-app info FILE
    flimage-app import STACK -o OUT.h5 [--pixel-size M] [--interval S]
    flimage-app export IN.h5 -o OUT.tif|OUT.npy [--raw]
    flimage-app bleach IN.h5 -o OUT.h5 [--method M] [--background B] [--region R] [ROIs …]
    flimage-app bleach IN.h5 -o OUT.h5 --like CORRECTED.h5 [--csv CSV] [--tif TIF]
    flimage-app denoise IN.h5 -o OUT.h5 [--weight W]
    flimage-app measure IN.h5 --rois ROIS -o TABLE.csv [--corrected CORR.h5] [--normalise F]

Errors print one line ``flimage-app: error: …`` and exit with status 1
(usage errors: 2; Ctrl-C: 130); ``--debug`` adds the traceback.  Progress
goes to stderr (a bar on a terminal), ``--quiet`` silences progress and notes.
Outputs are written to a temporary file and renamed when complete; an
existing output is replaced only with ``--overwrite``, and an input file is
never an output.

The package: :mod:`.console` (console, argument types, verb registry),
one module per verb family (:mod:`.files`, :mod:`.bleach`, :mod:`.background`,
:mod:`.denoise`, :mod:`.measure`) and this module (launcher, parsers, ``main``).  Adding a verb:
write ``_<verb>_arguments(parser)`` and a ``run`` function decorated with
``@verb(name, help, _<verb>_arguments)`` in its family's module.  The model (and with
it numpy, h5py …) is imported inside the verbs, so ``--version`` and
``--help`` answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from . import denoise as _denoise  # noqa: F401  (registers its verb)
from . import files as _files  # noqa: F401  (registers info, import, export)
from . import measure as _measure  # noqa: F401  (registers its verb)
from .console import (
    LAUNCHER_VALUE_OPTIONS,
    PANELS,
    PROG,
    VERBS,
    CommandError,
    Console,
    Interrupted,
    SignalGuard,
    UsageError,
    error_message,
    ordered_verbs,
    show_warning,
    verb,
)
from .files import format_summary, summarise


# bleach and background import the model (numpy, h5py …) at the top, so they are loaded only
# when their verb runs: --help and --version answer at once.
def _bleach_arguments(parser: argparse.ArgumentParser) -> None:
    from .bleach import configure_parser

    configure_parser(parser)


@verb("bleach", "correct photobleaching of a series (or correct it like an earlier file)",
      _bleach_arguments)
def run_bleach(args: argparse.Namespace, console: Console) -> int:
    from .bleach import run

    return run(args, console)


def _background_arguments(parser: argparse.ArgumentParser) -> None:
    from .background import configure_parser

    configure_parser(parser)


@verb("background", "fit the background on regions of interest in every frame",
      _background_arguments)
def run_background(args: argparse.Namespace, console: Console) -> int:
    from .background import run

    return run(args, console)



# ------------------------------------------------------------------ launcher
def launch(args: argparse.Namespace, console: Console) -> int:
    """Open the GUI with the files (or the demo); print summaries if there is no GUI."""
    check_launcher_files(args.files)
    try:
        from .. import gui

        gui_main = gui.main
    except (ImportError, AttributeError) as exc:
        return _launch_without_gui(args, console, exc)
    # importing Qt is harmless without a display; creating the QApplication aborts (134)
    problem = display_problem()
    if problem is not None:
        raise CommandError(problem)
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
        from ..model.demo import demo_series_path

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


#: Qt platforms that need no display server
HEADLESS_PLATFORMS: frozenset[str] = frozenset({"offscreen", "minimal", "vnc", "linuxfb",
                                                "eglfs", "vkkhrdisplay"})


def display_problem(environ: dict[str, str] | None = None,
                    platform: str | None = None) -> str | None:
    """Why the GUI cannot open a window here, or None.

    Without a display Qt aborts the process ("could not connect to display",
    exit status 134); this is checked before any Qt object exists, so the
    user gets one line and exit status 1 instead.  Only Linux and the other
    X11 / Wayland systems need a display server; macOS and Windows always
    have their own.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin", "cygwin")):
        return None
    requested = environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if requested in HEADLESS_PLATFORMS:
        return None
    has_x11, has_wayland = bool(environ.get("DISPLAY")), bool(environ.get("WAYLAND_DISPLAY"))
    if (requested == "xcb" and has_x11) or (requested.startswith("wayland") and has_wayland):
        return None
    if not requested and (has_x11 or has_wayland):
        return None
    needed = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}.get(
        requested.split("-")[0], "DISPLAY or WAYLAND_DISPLAY")
    return (f"no display to open the app on ({needed} is not set); run it in a desktop "
            f"session, or use a verb without a window (see {PROG} --help)")


def check_launcher_files(files: Sequence[Path]) -> None:
    """Refuse a word that is neither a verb nor an existing file (exit status 2).

    Such a word is a mistyped verb (``inf``, ``Info``, ``help``) far more often
    than a file to open, and a running window must not be handed it.
    """
    for path in files:
        if path.exists():
            continue
        word = str(path)
        hint = ""
        if os.sep not in word and "/" not in word and not path.suffix:
            close = difflib.get_close_matches(word.lower(), list(VERBS), n=1, cutoff=0.6)
            if word.lower() in VERBS:
                close = [word.lower()]
            if close:
                hint = f"; did you mean {close[0]!r}?"
            elif word.lower() in ("help", "h", "?"):
                hint = f"; see {PROG} --help"
            else:
                hint = f"; the verbs are {', '.join(v.name for v in ordered_verbs())}"
        raise UsageError(f"{word!r} is not a verb or an existing file{hint}")


# ------------------------------------------------------------------ parsers
class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, as every error of the command.

    argparse prints a usage block of several lines before its message; here a
    usage error reads ``flimage-app VERB: error: <message> (see flimage-app
    VERB --help)`` and exits with status 2.
    """

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """--quiet / --debug, accepted before and after a verb.

    Sub-parsers use SUPPRESS as default, so that an option given before the
    verb is not reset by the sub-parser's default.
    """
    parent = OneLineParser(add_help=False)
    default_false: Any = False if defaults else argparse.SUPPRESS
    parent.add_argument("-q", "--quiet", action="store_true", default=default_false,
                        help="no progress or notes on stderr")
    parent.add_argument("--debug", action="store_true", default=default_false,
                        help="show the traceback of errors")
    return parent


def _verb_list() -> str:
    verbs = ordered_verbs()
    width = max(len(v.name) for v in verbs)
    rows = "\n".join(f"  {v.name:<{width}}  {v.help}" for v in verbs)
    return f"verbs ({PROG} VERB --help for their options):\n{rows}"


def build_launcher_parser() -> argparse.ArgumentParser:
    """Parser of ``flimage-app [options] [FILE ...]`` (the GUI launcher)."""
    parser = OneLineParser(
        prog=PROG, parents=[_common_options(True)],
        usage=f"{PROG} [options] [FILE ...]\n       {PROG} VERB [options] ...",
        description="Fluorescence microscopy images and time series (FLImage / FLSeries): "
                    "opens the app, or runs a batch verb.",
        epilog=_verb_list(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE",
                        help="files to open: FLSeries / FLImage HDF5, TIFF, .npy, CZI, ND2, LIF, "
                             "or OME-Zarr folders")
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
    parser = OneLineParser(prog=PROG, parents=[common], epilog=_verb_list(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB",
                                       parser_class=OneLineParser)
    for entry in ordered_verbs():
        # "resolve": a verb may define its own --quiet (it then replaces the common one)
        sub = subparsers.add_parser(entry.name, help=entry.help, description=entry.help,
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




def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_verb_parser() if first_verb(argv) else build_launcher_parser()
    args = parser.parse_args(argv)
    verb_name = getattr(args, "verb", None)
    # the GUI handles its own signals; a verb that writes stops at a safe point (see SignalGuard)
    signals = SignalGuard(deferred=verb_name not in (None, "info"))
    console = Console(quiet=args.quiet, signals=signals)
    try:
        with warnings.catch_warnings(), (signals if verb_name else contextlib.nullcontext()):
            warnings.showwarning = show_warning(console)
            status = args.run(args, console)
        if signals.received is not None:
            # arrived after the verb's last check: its outputs were complete and renamed
            print(f"{PROG}: interrupted after the outputs were written", file=sys.stderr)
            return 128 + signals.received
        return status
    except UsageError as exc:
        # one line, as argparse writes it but without the (long) usage block
        failed = getattr(args, "verb_parser", parser)
        failed.exit(2, f"{failed.prog}: error: {exc}\n")
    except (Interrupted, KeyboardInterrupt) as exc:
        return _interrupted(signals.received or getattr(exc, "signum", signal.SIGINT))
    except BrokenPipeError:
        # the reader of stdout went away (e.g. `| head`): stop quietly, as Unix tools do;
        # stdout is redirected so that Python's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        if signals.received is not None:
            # the model's Cancelled (its cancel callback saw the signal), or what a signal broke
            return _interrupted(signals.received)
        if args.debug:
            traceback.print_exc()
        print(f"{PROG}: error: {error_message(exc)}", file=sys.stderr)
        return 1
    return 0  # parser.error exits; this keeps type checkers content


def _interrupted(signum: int) -> int:
    print(f"{PROG}: interrupted; no output written", file=sys.stderr)
    return 128 + int(signum)


if __name__ == "__main__":
    raise SystemExit(main())
