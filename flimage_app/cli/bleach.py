"""The ``flimage-app bleach`` verb: correct photobleaching of a series.

The correction is set up on the command line (method, background, where the
fluorescence is measured, with regions written as in the ``background`` verb
or loaded from an ROI set the app exported), or taken from an earlier
corrected file with ``--like``: that file's provenance record holds the
method, every parameter and the masks, so the input is corrected exactly as
that file was (what the app's batch dialog does, one file per call)::

    flimage-app bleach cells.h5 -o cells_corr.h5 --method exp --background mask \\
        --rois cells_rois.json --region signal --signal-rois cells_rois.json
    flimage-app bleach day2.h5 -o day2_corr.h5 --like cells_corr.h5
    flimage-app bleach stack.tif --tif corrected.tif --tif-type input

With ``--tif`` the corrected frames go to the TIFF as they are corrected,
read lazily from a TIFF / .npy input (no HDF5 file in between); ``-o``
writes the HDF5 series too, in the same pass.

Options that cannot go together are refused before any file is read.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model.errors import FLImageAppError
from .background import (
    add_roi_arguments,
    has_roi_arguments,
    parse_roi_spec,
    roiset_from_arguments,
)
from .console import (
    BLEACH_BACKGROUNDS,
    BLEACH_METHODS,
    HDF5_SUFFIXES,
    Console,
    UsageError,
    check_outputs,
    non_negative_int,
    open_input,
    open_whole,
    overwrite_argument,
    require_suffix,
    stack_arguments,
    stack_options,
)

#: where the intensity is measured (flimage_app.model.bleach.REGIONS)
BLEACH_REGIONS: tuple[str, ...] = ("frame", "signal", "outside")
#: reference frames of histogram matching
HISTOGRAM_REFERENCES: tuple[str, ...] = ("first", "previous")
#: exp, not flimage: flimage's method sums the pixels above the background, and the
#: background noise adds a constant to that sum, so its corrected frames still fade
#: (see the README, "Command line")
DEFAULT_METHOD = "exp"
#: --z-mode choices → flimage_app.model.hyperstack_bleach.Z_MODES
Z_MODES: dict[str, str] = {"time-point": "time point", "plane": "plane"}
#: pixel types of --tif (flimage_app.model.stackstream.INTEGER_TYPES, "input", float32)
TIF_TYPES: tuple[str, ...] = ("float32", "input", "uint8", "uint16", "int16")
DEFAULT_BORDER_PX = 20

#: the options that set up a correction (argparse destination → option); ``--like``
#: takes all of them from its file, so none of them may be given with it
CORRECTION_OPTIONS: dict[str, str] = {
    "method": "--method", "histogram_reference": "--histogram-reference",
    "allow_stalled_fit": "--allow-stalled-fit", "background": "--background",
    "border_px": "--border-px", "background_value": "--background-value", "roi": "--roi",
    "exclude": "--exclude", "rois": "--rois", "region": "--region",
    "signal_roi": "--signal-roi", "signal_rois": "--signal-rois",
}

DESCRIPTION = """\
Correct photobleaching: measure the fluorescence of every frame, follow how it
fades, and scale every frame back to the level of the first one.  The input file
is never changed; the corrected series is written to a new file.

methods (--method):
  exp        A·exp(−k·t) + C fitted to the mean intensity against the frame times
             (default)
  flimage    exponential decay with offset, fitted exactly as flimage 0.3.3 does
             (same numbers as flimage; its intensity, the sum of the pixels above
             the background, counts background noise, so corrected frames of a
             noisy camera series still fade)
  ratio      each frame scaled by I(first frame) / I(frame); no fit, follows noise
  biexp      two exponentials + C: a fast and a slow bleaching component
  histogram  each frame's intensity histogram matched to the first (or previous)
             frame; no fit

regions (--roi, --exclude, --signal-roi) are written in image pixels (x = column,
y = row, counted from the top-left corner) as rect:X,Y,W,H, ellipse:X,Y,W,H (its
bounding box) or polygon:x1,y1,x2,y2,…; ROIS is an ROI set: the app's JSON
(Export button of the Background panel), Fiji .roi / RoiSet .zip, or an .h5 file
whose ROIs the background verb stored."""

EPILOG = """\
examples:
  flimage-app bleach cells.h5 -o cells_corr.h5 --method exp --csv cells_curve.csv
  flimage-app bleach cells.h5 -o cells_corr.h5 --method exp --background mask \\
      --roi rect:0,0,40,512 --region signal --signal-roi ellipse:200,180,90,70
  # correct many files as one that was tuned in the app (saved as tuned_corr.h5):
  for f in *.h5; do flimage-app bleach "$f" -o "corrected/$f" --like tuned_corr.h5; done"""


# ------------------------------------------------------------------ arguments
def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments and help texts of the ``bleach`` verb to `parser`.

    Correction options default to None (not given), so that contradictions
    and ``--like`` can be checked; :func:`correction_setup` fills in the defaults.
    """
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("input", type=Path, metavar="IN",
                        help="series to correct: FLSeries HDF5 file, TIFF stack or .npy")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT",
                        help="corrected FLSeries HDF5 file to write (.h5); optional with --tif")

    method = parser.add_argument_group("how the bleaching is undone")
    method.add_argument("--method", choices=BLEACH_METHODS,
                        help=f"correction method, see above (default: {DEFAULT_METHOD})")
    method.add_argument("--histogram-reference", choices=HISTOGRAM_REFERENCES,
                        help="with --method histogram: match every frame to the first frame "
                             "(default) or to the frame before it")
    method.add_argument("--allow-stalled-fit", action="store_true", default=None,
                        help="with --method flimage: keep a fit that stalled far from the "
                             "data, as flimage itself does (default: stop with an error)")

    background = parser.add_argument_group(
        "background (a level subtracted from every frame before it is measured)")
    background.add_argument(
        "--background", choices=BLEACH_BACKGROUNDS,
        help="border: mean of the image border (default); constant: --background-value; "
             "mask: mean of the background regions (--roi, --exclude, --rois); stored: "
             "only the background already stored in the file's frames")
    background.add_argument(
        "--border-px", type=non_negative_int, metavar="N",
        help=f"width of the image border in pixels: with --background border the region "
             f"measured (default {DEFAULT_BORDER_PX}); with --background mask a border "
             "added to the background regions")
    background.add_argument("--background-value", type=float, metavar="V",
                            help="the level subtracted with --background constant "
                                 "(in the image's units)")
    add_roi_arguments(background,
                      purpose="background region, for --background mask and "
                              "--region outside")

    region = parser.add_argument_group("where the fluorescence is measured")
    region.add_argument("--region", choices=BLEACH_REGIONS,
                        help="frame: the whole frame (default); signal: the signal regions "
                             "(--signal-roi, --signal-rois); outside: everything that is not "
                             "background (--roi, --exclude, --rois)")
    region.add_argument("--signal-roi", action="append", metavar="SPEC",
                        help="signal region for --region signal, e.g. a cell (same syntax as "
                             "--roi); repeat for several")
    region.add_argument("--signal-rois", type=Path, metavar="ROIS",
                        help="take the signal for --region signal from an ROI set, as the "
                             "app's Bleach panel does: its exclude regions (the cells drawn "
                             "over the background), or everything outside its background "
                             "regions if it has none; Fiji .roi / .zip ROIs are the cells")

    like = parser.add_argument_group("repeat an earlier correction")
    like.add_argument("--like", type=Path, metavar="CORRECTED.h5",
                      help="correct IN exactly as CORRECTED.h5 was corrected (same method, "
                           "settings and regions, read from the record the app stores in "
                           "every corrected file); no other correction option may be given")

    stack_arguments(parser)
    planes = parser.add_argument_group("channels and Z planes (hyperstacks, microscope files)")
    planes.add_argument("--z-mode", choices=Z_MODES, default="time-point",
                        help="time-point: one factor per time point from the mean of all its "
                             "Z planes, as Fiji's Bleach Correction (default); plane: every "
                             "plane its own fit.  Every channel is corrected on its own")

    outputs = parser.add_argument_group("more outputs")
    outputs.add_argument("--csv", type=Path, metavar="CURVE.csv",
                         help="also write the bleach curve, fit and factor per frame to a "
                              "CSV table")
    outputs.add_argument("--tif", type=Path, metavar="OUT.tif",
                         help="write the corrected series as an ImageJ TIFF stack, frame by "
                              "frame as it is corrected (with or without -o)")
    outputs.add_argument("--tif-type", "--dtype", choices=TIF_TYPES, dest="tif_type",
                         help="pixel type of --tif: float32 (default); input: the input "
                              "stack's 8- or 16-bit type, as Fiji writes it (values rounded, "
                              "clipped to the type's range, the clipped pixels counted); or "
                              "that type named")
    overwrite_argument(outputs)


def given_correction_options(args: argparse.Namespace) -> list[str]:
    """The correction options given on the command line (as written there)."""
    return [option for name, option in CORRECTION_OPTIONS.items()
            if getattr(args, name) not in (None, [], False)]


# ------------------------------------------------------------------ setup
@dataclass(frozen=True)
class CorrectionSetup:
    """A correction set up on the command line; masks follow once the frame shape is known.

    Attributes
    ----------
    options
        Keyword arguments of :func:`flimage_app.model.bleach.correct_series`
        other than the masks.
    background_rois
        ROI set of the background mask (``--background mask``, ``--region
        outside``), or None when no mask is needed.
    signal_rois
        Regions of ``--signal-roi``.
    signal_roiset
        ROI set of ``--signal-rois`` (signal taken as the Bleach panel does), or None.
    """

    options: dict[str, Any]
    background_rois: Any = None
    signal_rois: tuple = ()
    signal_roiset: Any = None

    def masks(self, shape: tuple[int, int]) -> dict[str, Any]:
        """``background_mask`` and ``signal_mask`` for frames of `shape` (None if unused).

        Raises
        ------
        FLImageAppError
            A mask that selects no pixel of the frames.
        """
        import numpy as np

        size = f"{shape[0]} x {shape[1]} px"
        background_mask = signal_mask = None
        if self.background_rois is not None:
            background_mask = self.background_rois.mask(shape)
            if background_mask is None or not background_mask.any():
                raise FLImageAppError(f"The background regions (--roi, --exclude, --rois) "
                                      f"select no pixel of the {size} frames; are they "
                                      "inside the image?")
        if self.options["region"] == "signal":
            parts = [roi.mask(shape) for roi in self.signal_rois]
            if self.signal_roiset is not None:
                parts.append(self.signal_roiset.signal_mask(shape))
            signal_mask = np.logical_or.reduce(parts)
            if not signal_mask.any():
                raise FLImageAppError(f"The signal regions (--signal-roi, --signal-rois) "
                                      f"select no pixel of the {size} frames; are they "
                                      "inside the image?")
        return {"background_mask": background_mask, "signal_mask": signal_mask}


def correction_options(args: argparse.Namespace) -> dict[str, Any]:
    """The engine options the command line asks for, defaults filled in.

    Raises
    ------
    UsageError
        Options that contradict each other or lack a partner, named in one line.
    """
    method = args.method or DEFAULT_METHOD
    background = args.background or "border"
    region = args.region or "frame"
    if args.histogram_reference is not None and method != "histogram":
        raise UsageError("--histogram-reference goes with --method histogram")
    if args.allow_stalled_fit and method != "flimage":
        raise UsageError("--allow-stalled-fit goes with --method flimage (the other fits "
                         "never return a stalled fit)")
    if background == "constant" and args.background_value is None:
        raise UsageError("--background constant needs --background-value V, the level to "
                         "subtract")
    if args.background_value is not None and background != "constant":
        raise UsageError("--background-value goes with --background constant")
    if args.border_px is not None and background not in ("border", "mask"):
        raise UsageError(f"--border-px goes with --background border or mask, "
                         f"not {background}")
    border_for_mask = bool(background == "mask" and args.border_px)
    if background == "mask" and not (has_roi_arguments(args) or border_for_mask):
        raise UsageError("--background mask needs background regions: --roi, --rois "
                         "(or --border-px)")
    if region == "outside" and not (has_roi_arguments(args) or border_for_mask):
        raise UsageError("--region outside needs background regions: --roi or --rois")
    if has_roi_arguments(args) and background != "mask" and region != "outside":
        raise UsageError("--roi, --exclude and --rois set the background regions; they go "
                         "with --background mask or --region outside")
    has_signal = bool(args.signal_roi or args.signal_rois)
    if has_signal and region != "signal":
        raise UsageError("--signal-roi and --signal-rois go with --region signal")
    if region == "signal" and not has_signal:
        raise UsageError("--region signal needs the signal regions: --signal-roi SPEC or "
                         "--signal-rois ROIS.json")
    border_px = args.border_px if args.border_px is not None else DEFAULT_BORDER_PX
    return {"method": method, "background": background,
            "border_px": border_px if background == "border" else DEFAULT_BORDER_PX,
            "background_value": args.background_value, "region": region,
            "histogram_reference": args.histogram_reference or "first",
            "strict": not args.allow_stalled_fit}


def correction_setup(args: argparse.Namespace, options: dict[str, Any]) -> CorrectionSetup:
    """Read the ROI files and parse the regions for `options` (see :func:`correction_options`).

    Raises
    ------
    FLImageAppError
        An unreadable ROI file or a malformed region.
    """
    background_rois = None
    if options["background"] == "mask" or options["region"] == "outside":
        border = (args.border_px or 0) if options["background"] == "mask" else 0
        background_rois = roiset_from_arguments(args, border)
        _warn_about_frame_overrides(background_rois, args.rois)
    signal_rois: tuple = ()
    signal_roiset = None
    if options["region"] == "signal":
        signal_rois = tuple(parse_roi_spec(spec, name=f"signal {number}")
                            for number, spec in enumerate(args.signal_roi or [], start=1))
        if args.signal_rois:
            from ..model.rois import load_roiset

            # Fiji ROIs carry no role: drawn for the signal, they are the cells
            signal_roiset = load_roiset(args.signal_rois, imagej_role="exclude")
            if not signal_roiset.rois:
                raise FLImageAppError(f"{args.signal_rois} holds no region shared by all "
                                      "frames; it cannot give the signal")
            _warn_about_frame_overrides(signal_roiset, args.signal_rois)
    return CorrectionSetup(options, background_rois, signal_rois, signal_roiset)


def _warn_about_frame_overrides(roiset, path: str | None) -> None:
    if roiset.overrides:
        frames = ", ".join(map(str, sorted(roiset.overrides)))
        warnings.warn(f"{path}: the regions drawn for single frames ({frames}) are not used; "
                      "a bleach correction uses the same regions on every frame",
                      stacklevel=2)


def describe(options: dict[str, Any]) -> str:
    """One line for people: method, background and where the fluorescence was measured."""
    background = options["background"]
    if background == "border":
        background = f"image border {options['border_px']} px"
    elif background == "constant":
        background = f"constant {options['background_value']:g}"
    elif background == "mask":
        background = "background regions"
    region = {"frame": "the whole frame", "signal": "the signal regions",
              "outside": "everything outside the background regions"}[options["region"]]
    method = options["method"]
    if method == "histogram":
        method += f" (to the {options['histogram_reference']} frame)"
    return f"method {method}; background: {background}; measured in {region}"


# ------------------------------------------------------------------ --like
def read_like(path: Path) -> dict[str, Any]:
    """The provenance record of the bleach correction stored in `path`.

    Raises
    ------
    FLImageAppError
        `path` is missing, unreadable, carries no record, was not made by a
        bleach correction, or its record fails the reading boundary's check
        (:func:`~flimage_app.model.provenance.check_record`: field types,
        parameter types; that line, naming the file and the field, is kept
        and says that --like cannot use the file).
    """
    from ..model.errors import FileFormatError
    from ..model.loader import check_readable
    from ..model.provenance import read_provenance

    check_readable(path)
    try:
        record = read_provenance(path)
    except FileFormatError as error:
        if "no provenance record" in str(error):
            raise FLImageAppError(f"{path} holds no record of a bleach correction (no "
                                  "provenance record); --like needs a file that flimage-app "
                                  "bleach corrected") from None
        raise FLImageAppError(f"{error}; --like cannot use it") from None
    if not isinstance(record, dict):
        raise FLImageAppError(f"{path}: its provenance record is not a record of settings")
    operation = record.get("operation")
    if operation != "bleach correction":
        made = (f"by {operation!r}" if isinstance(operation, str) and len(operation) < 40
                else "by another operation")
        raise FLImageAppError(f"{path} was made {made}, not by a bleach correction; "
                              "--like needs a file that flimage-app bleach corrected")
    return record


#: what --like takes from a record: parameter → check of its value (as the verb accepts it)
LIKE_PARAMETERS: dict[str, Any] = {
    "method": lambda v: v in BLEACH_METHODS,
    "background": lambda v: v in BLEACH_BACKGROUNDS,
    "border_px": lambda v: type(v) is int and 0 <= v <= 100_000,
    "background_value": lambda v: v is None or (type(v) in (int, float) and math.isfinite(v)),
    "region": lambda v: v in BLEACH_REGIONS,
    "histogram_reference": lambda v: v in HISTOGRAM_REFERENCES,
    "strict": lambda v: type(v) is bool,
}


def like_parameters(record: dict[str, Any], like: Path) -> tuple[dict[str, Any], list[str]]:
    """The recorded correction as options of ``correct_series``, checked, and what was left out.

    A file's record is untrusted input: only the parameters of
    :data:`LIKE_PARAMETERS`, each of the type and in the range the verb
    accepts, are used.  Anything else (a ``source`` series, a path, an
    unknown key) is never used; it is named in the returned list so the user
    hears of it.  (A record read by :func:`read_like` has passed the reading
    boundary already: JSON types are checked and parameters the operation
    does not take are left out there with a warning; here the values are
    checked against what bleach accepts.)

    Raises
    ------
    FLImageAppError
        A parameter of the wrong type or out of range, or no method.
    """
    parameters = record.get("parameters", {})
    if not isinstance(parameters, dict):
        raise FLImageAppError(f"{like.name}: its record's parameters are not a table of "
                              "settings; --like cannot use it")
    parameters = dict(parameters)
    parameters.setdefault("method", record.get("method"))
    options = like_options({"parameters": parameters})
    options["strict"] = parameters.get("strict", True)
    for key, accepts in LIKE_PARAMETERS.items():
        value = options[key]
        try:
            ok = bool(accepts(value))
        except TypeError:  # e.g. an unhashable list where a name is expected
            ok = False
        if not ok:
            shown = repr(value) if len(repr(value)) < 60 else f"a {type(value).__name__}"
            raise FLImageAppError(f"{like.name}: its record gives {key} = {shown}, which "
                                  "bleach does not accept; --like cannot use it")
    ignored = sorted(str(key)[:40] for key in parameters if key not in LIKE_PARAMETERS)
    if record.get("source"):
        ignored.append("source (another series)")
    return options, ignored


def check_like_masks(record: dict[str, Any], like: Path, source: Path,
                     shape: tuple[int, int]) -> None:
    """Refuse recorded masks that do not fit frames of `shape`, in one line."""
    for key, mask in (record.get("masks") or {}).items():
        if mask is not None and tuple(mask.shape) != tuple(shape):
            what = key.replace("_", " ")
            raise FLImageAppError(
                f"{like.name} was corrected with a {what} of {mask.shape[0]} x "
                f"{mask.shape[1]} px, but the frames of {source.name} are {shape[0]} x "
                f"{shape[1]} px; --like needs frames of the same size")


def like_options(record: dict[str, Any]) -> dict[str, Any]:
    """The recorded parameters, with defaults where a record lacks one (see :func:`describe`)."""
    parameters = record.get("parameters", {})
    return {"method": parameters.get("method", record.get("method")),
            "background": parameters.get("background", "border"),
            "border_px": parameters.get("border_px", DEFAULT_BORDER_PX),
            "background_value": parameters.get("background_value"),
            "region": parameters.get("region", "frame"),
            "histogram_reference": parameters.get("histogram_reference", "first")}


# ------------------------------------------------------------------ run
def run(args: argparse.Namespace, console: Console) -> int:
    """Execute the verb; returns the exit status.

    Raises
    ------
    UsageError
        Contradictory options (exit status 2).
    FLImageAppError, OSError, ValueError
        Bad files or a failed fit (one line, exit status 1).
    """
    if args.output is None and args.tif is None:
        raise UsageError("an output is required: -o OUT.h5, --tif OUT.tif or both")
    if args.tif_type is not None and args.tif is None:
        raise UsageError("--tif-type goes with --tif")
    if args.output is not None:
        require_suffix(args.output, HDF5_SUFFIXES, "the output of bleach")
    if args.csv is not None:
        require_suffix(args.csv, (".csv",), "--csv")
    if args.tif is not None:
        require_suffix(args.tif, (".tif", ".tiff"), "--tif")
    options = None
    if args.like is not None:
        given = given_correction_options(args)
        if given:
            raise UsageError(f"--like takes the whole correction from {args.like.name}; "
                             f"leave out {', '.join(given)}")
    else:
        options = correction_options(args)
    layout = stack_options(args, args.input)
    check_outputs([args.input, args.like, args.rois, args.signal_rois],
                  [args.output, args.csv, args.tif], args.overwrite)

    from ..model.bleach import correct_series
    from ..model.h5io import atomic_output, output_group

    like = None
    if args.like is not None:
        record = read_like(args.like)
        options, ignored = like_parameters(record, args.like)
        like = (record, options, ignored)
    setup = correction_setup(args, options) if like is None else None
    progress = console.progress("bleach")
    from ..model.loader import holds_planes

    if holds_planes(args.input, **layout):
        return _run_hyperstack(args, console, layout, like, setup, progress)
    # every output appears only when all are complete: bleach, CSV and TIFF renamed together
    with output_group():
        if args.tif is not None:
            from ..model.stackstream import correct_stack
            from ..model.tiffio import is_stack_file

            with contextlib.ExitStack() as opened:
                source = args.input
                if not is_stack_file(source):
                    # an HDF5 leaf or a microscope file: its series, not the path
                    source = opened.enter_context(open_input(args.input, console.cancel,
                                                             **layout))
                shape = (tuple(source.frame_shape) if not isinstance(source, Path)
                         else _frame_shape(args.input, layout))
                options, masks = _options_and_masks(like, setup, args, console, shape)
                tif_type = args.tif_type or "float32"
                if tif_type == "input" and not isinstance(source, Path):
                    tif_type = _recorded_type(args.input, layout) or "input"
                result = correct_stack(source, args.tif, h5=args.output, tif_type=tif_type,
                                       overwrite=args.overwrite, stack_options=layout,
                                       **options, **masks, progress=progress,
                                       cancel=console.cancel)
        else:
            with open_input(args.input, console.cancel, **layout) as series:
                options, masks = _options_and_masks(like, setup, args, console,
                                                    series.frame_shape)
                result = correct_series(series, args.output, **options, **masks,
                                        progress=progress, cancel=console.cancel,
                                        overwrite=args.overwrite)
        console.check_interrupt()
        if args.csv is not None:
            with atomic_output(args.csv, overwrite=args.overwrite) as temporary:
                result.to_csv(temporary)
        console.check_interrupt()
    if result.clipped:
        console.note(f"{result.clipped:,} pixels were clipped to the range of the TIFF's "
                     "integer type")
    if result.report is not None:
        print(result.report.as_text())
    for path in (args.output, args.csv, args.tif):
        if path is not None:
            console.note(f"wrote {path}")
    return 0


def _run_hyperstack(args: argparse.Namespace, console: Console, layout: dict[str, Any],
                    like, setup: CorrectionSetup | None, progress) -> int:
    """Correct every channel (and plane) of a hyperstack; -o and / or --tif."""
    import tempfile

    from ..model.h5io import output_group, readable_path
    from ..model.hyperstack import open_hyperstack
    from ..model.hyperstack_bleach import correct_hyperstack
    from ..model.hyperstack_export import export_hyperstack_tiff

    if args.csv is not None:
        raise UsageError(f"--csv writes the curve of one series; {args.input.name} has several "
                         "channels or planes (their curves and fits are in the output's "
                         "records; or choose one with --channel / --plane)")
    z_mode = Z_MODES[args.z_mode]
    report = None
    # the folder outlives the output group, which renames the outputs when it ends
    with tempfile.TemporaryDirectory(prefix="flimage-app-bleach-") as folder, output_group():
        with open_whole(args.input, console.cancel, progress, **layout) as stack:
            options, masks = _options_and_masks(like, setup, args, console,
                                                tuple(stack.frame_shape))
            corrected = args.output if args.output is not None else Path(folder) / "out.h5"
            results = correct_hyperstack(stack, corrected, z_mode=z_mode, progress=progress,
                                         cancel=console.cancel, overwrite=args.overwrite,
                                         **options, **masks)
            names = stack.channel_names
        console.check_interrupt()
        if args.tif is not None:
            with open_hyperstack(readable_path(corrected)) as written:
                report = export_hyperstack_tiff(written, args.tif,
                                                dtype=args.tif_type or "float32",
                                                overwrite=args.overwrite, progress=progress,
                                                cancel=console.cancel)
        console.check_interrupt()
    for key, result in results.items():
        channel, plane = key if isinstance(key, tuple) else (key, None)
        heading = names[channel] + (f", plane {plane}" if plane is not None else "")
        print(f"== {heading} ({args.z_mode}) ==")
        if result.report is not None:
            print(result.report.as_text())
    if report is not None and report.message():
        console.note(report.message())
    for path in (args.output, args.tif):
        if path is not None:
            console.note(f"wrote {path}")
    return 0


def _recorded_type(path: Path, layout: dict[str, Any]) -> str | None:
    """The 8- or 16-bit type the input was recorded in (a microscope file, a hyperstack)."""
    from ..model.loader import recorded_dtype
    from ..model.stackstream import INTEGER_TYPES

    dtype = recorded_dtype(path, **layout)
    return dtype if dtype in INTEGER_TYPES else None


def _frame_shape(path: Path, layout: dict[str, Any]) -> tuple[int, int]:
    """Frame shape of the input, from its metadata (a stack is not imported for it)."""
    from ..model.tiffio import inspect_stack, is_stack_file

    if is_stack_file(path):
        return tuple(inspect_stack(path, **layout).frame_shape)
    with open_input(path) as series:
        return tuple(series.frame_shape)


def _options_and_masks(like, setup: CorrectionSetup | None, args: argparse.Namespace,
                       console: Console, shape: tuple[int, int]
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The engine options and masks for frames of `shape` (from ``--like`` or the setup)."""
    if like is None:
        return setup.options, setup.masks(shape)
    record, options, ignored = like
    check_like_masks(record, args.like, args.input, shape)
    masks = {key: _checked_mask(record, key, args.like) for key in MASK_KEYS}
    console.note(f"correcting like {args.like.name}: {describe(options)}")
    if ignored:
        console.note(f"not taken from {args.like.name}'s record: "
                     f"{', '.join(ignored)} (IN alone is measured and corrected)")
    return options, masks


#: the masks a bleach record may hold
MASK_KEYS: tuple[str, ...] = ("signal_mask", "background_mask")


def _checked_mask(record: dict[str, Any], key: str, like: Path):
    """The recorded mask `key` as a 2-D boolean array, or None."""
    import numpy as np

    mask = (record.get("masks") or {}).get(key)
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != bool:
        raise FLImageAppError(f"{like.name}: its recorded {key.replace('_', ' ')} is not a "
                              "2-D yes/no image; --like cannot use it")
    return mask
