"""The ``flimage-app measure`` verb: per-ROI intensity traces of a series, as a table.

::

    flimage-app measure cells.h5 --rois RoiSet.zip -o cells.csv
    flimage-app measure cells.h5 --rois RoiSet.zip --corrected cells_corr.h5 \\
        --normalise 0-4 -o cells.csv --h5 cells_measure.h5
    flimage-app measure day2.h5 --like cells_measure.h5 -o day2.csv

The model is imported inside :func:`run`, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .console import (
    BLEACH_METHODS,
    HDF5_SUFFIXES,
    Console,
    UsageError,
    check_outputs,
    non_negative_int,
    open_input,
    output_argument,
    overwrite_argument,
    require_suffix,
    stack_arguments,
    stack_options,
    verb,
)

#: bleach methods that are a factor per frame (histogram matching is not: use --corrected)
ON_THE_FLY_METHODS: tuple[str, ...] = tuple(m for m in BLEACH_METHODS if m != "histogram")
#: the bleach verb's border width (cli.bleach.DEFAULT_BORDER_PX; that module imports the model)
DEFAULT_BORDER_PX = 20
#: suffixes of the ROI files --rois reads (flimage_app.model.roi_measure.MEASURE_ROI_SUFFIXES)
ROI_SUFFIXES: tuple[str, ...] = (".json", ".roi", ".zip", ".h5", ".hdf5", ".hdf")

DESCRIPTION = """\
Measure cells over time: for every ROI and frame the area (px and µm²), mean,
sum (integrated density, ImageJ's RawIntDen), min, max and standard deviation
(sample, n − 1, as ImageJ's StdDev), on the raw frames, on the frames minus their
stored background, and, with --corrected or --bleach, on bleach-corrected frames.
The table is written as CSV (UTF-8 with BOM); --h5 also stores it with its record
(ROIs, series, correction), which --like repeats on another series.  Input files
are never changed."""

EPILOG = """\
examples:
  flimage-app measure cells.h5 --rois RoiSet.zip -o cells.csv
  flimage-app measure cells.h5 --rois RoiSet.zip --corrected cells_corr.h5 --normalise 0-4 \\
      -o cells.csv --h5 cells_measure.h5
  flimage-app measure day2.h5 --like cells_measure.h5 -o day2.csv"""


def frames_argument(text: str) -> list[int]:
    """argparse type: baseline frames such as ``0-4`` or ``0,2,5-7``."""
    from ..model.roi_measure import parse_frames

    try:
        return parse_frames(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _measure_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("input", type=Path, metavar="SERIES",
                        help="series to measure: FLSeries HDF5 file, TIFF stack or .npy")
    parser.add_argument("--rois", type=Path, metavar="ROIS",
                        help="measurement ROIs: Fiji RoiSet .zip / .roi, the app's .json, or "
                             "an .h5 file holding measurement ROIs")
    output_argument(parser, "table to write (.csv)")
    parser.add_argument("--wide", action="store_true",
                        help="one row per frame and one column per ROI and quantity (default: "
                             "one row per ROI, frame and data set)")
    parser.add_argument("--h5", type=Path, metavar="MEASUREMENT.h5",
                        help="also store the table with its record (ROIs, series, correction) "
                             "in a new HDF5 file, for --like")
    bleach = parser.add_argument_group("bleach-corrected data")
    bleach.add_argument("--corrected", type=Path, metavar="CORRECTED.h5",
                        help="a bleach-corrected copy of SERIES (e.g. from flimage-app "
                             "bleach): its frames are measured too")
    bleach.add_argument("--bleach", choices=ON_THE_FLY_METHODS, metavar="METHOD",
                        help="correct bleaching on the fly with METHOD ("
                             f"{', '.join(ON_THE_FLY_METHODS)}), measured on the whole frame "
                             "above the mean of the image border, as flimage-app bleach "
                             "does by default")
    bleach.add_argument("--border-px", type=non_negative_int, metavar="N",
                        help=f"with --bleach: width of that border (default "
                             f"{DEFAULT_BORDER_PX})")
    parser.add_argument("--normalise", type=frames_argument, metavar="F0_FRAMES",
                        help="add F/F0 and ΔF/F0, F0 being the mean over these frames "
                             "(counted from 0), e.g. 0-4")
    parser.add_argument("--like", type=Path, metavar="MEASUREMENT.h5",
                        help="measure as in MEASUREMENT.h5 (written with --h5, or a series "
                             "saved by the app): same ROIs, baseline and on-the-fly "
                             "correction; --rois, --normalise and --bleach are then left out")
    stack_arguments(parser)
    overwrite_argument(parser)


#: the options that --like takes from its file (argparse destination → option)
LIKE_OPTIONS: dict[str, str] = {"rois": "--rois", "normalise": "--normalise",
                                "bleach": "--bleach", "border_px": "--border-px"}


def _like_setup(like: Path, console: Console, corrected: Path | None):
    """ROIs, baseline and bleach options of the measurement stored in `like` (checked)."""
    from ..model.errors import FLImageAppError
    from ..model.loader import check_readable
    from ..model.roi_measure import load_measurement
    from .bleach import LIKE_PARAMETERS

    check_readable(like)
    previous = load_measurement(like)
    bleach = previous.record.get("bleach")
    options = None
    if bleach is not None:
        if not isinstance(bleach, dict):
            raise FLImageAppError(f"{like.name}: its record's bleach correction is not a "
                                  "table of settings; --like cannot use it")
        options = {}
        for key, accepts in LIKE_PARAMETERS.items():
            if key not in bleach:
                continue
            value = bleach[key]
            try:
                ok = bool(accepts(value))
            except TypeError:
                ok = False
            if not ok or (key == "method" and value not in ON_THE_FLY_METHODS):
                raise FLImageAppError(f"{like.name}: its record gives the bleach {key} "
                                      f"{value!r:.40}, which measure does not accept")
            options[key] = value
        if "method" not in options:
            raise FLImageAppError(f"{like.name}: its record's bleach correction names no "
                                  "method")
        if options.get("background") == "mask" or options.get("region") == "signal":
            raise FLImageAppError(f"{like.name} was measured with a bleach correction on "
                                  "regions; correct the series with flimage-app bleach --like "
                                  "and give it with --corrected")
    if previous.record.get("corrected") and corrected is None:
        console.note(f"{like.name} was measured with a corrected series; give this series' "
                     "with --corrected to measure bleach-corrected data too")
    if options is not None and corrected is not None:
        console.note(f"--corrected is measured; the on-the-fly correction of {like.name} is "
                     "not used")
        options = None
    return previous.rois, previous.baseline, options


@verb("measure", "measure ROIs on every frame: area, mean, sum, min, max, std (a CSV table)",
      _measure_arguments)
def run_measure(args: argparse.Namespace, console: Console) -> int:
    require_suffix(args.output, (".csv",), "the output of measure")
    if args.h5 is not None:
        require_suffix(args.h5, HDF5_SUFFIXES, "--h5")
    if args.corrected is not None:
        require_suffix(args.corrected, HDF5_SUFFIXES, "--corrected")
    if args.corrected is not None and args.bleach is not None:
        raise UsageError("--corrected and --bleach both give the bleach-corrected data; "
                         "choose one")
    if args.border_px is not None and args.bleach is None:
        raise UsageError("--border-px goes with --bleach")
    if args.like is not None:
        given = [option for name, option in LIKE_OPTIONS.items()
                 if getattr(args, name) is not None]
        if given:
            raise UsageError(f"--like takes the ROIs, baseline and correction from "
                             f"{args.like.name}; leave out {', '.join(given)}")
        if args.like.suffix.lower() not in HDF5_SUFFIXES:
            raise UsageError(f"--like reads the measurement stored with --h5 (an .h5 file); "
                             f"{args.like.name} is not one (a table holds no ROI outlines)")
    elif args.rois is None:
        raise UsageError("give the ROIs to measure with --rois ROIS (or --like "
                         "MEASUREMENT.h5)")
    else:
        require_suffix(args.rois, ROI_SUFFIXES, "--rois")
    layout = stack_options(args, args.input)
    check_outputs([args.input, args.rois, args.corrected, args.like],
                  [args.output, args.h5], args.overwrite)

    import h5py

    from ..model.h5io import atomic_output, output_group
    from ..model.roi_measure import load_measure_rois, measure_series
    from ..model.tiffio import is_stack_file

    # an imported stack is measured in memory: the record names the stack file itself
    layout_is_stack = is_stack_file(args.input)

    if args.like is not None:
        rois, baseline, bleach = _like_setup(args.like, console, args.corrected)
        console.note(f"measuring like {args.like.name}: {len(rois)} ROIs"
                     + (f", F0 over frames {_frames_text(baseline)}" if baseline else ""))
    else:
        rois, baseline, bleach = load_measure_rois(args.rois), args.normalise, None
        if args.bleach is not None:
            border = args.border_px if args.border_px is not None else DEFAULT_BORDER_PX
            bleach = {"method": args.bleach, "border_px": border}
    console.check_interrupt()
    with output_group():
        with open_input(args.input, console.cancel, **layout) as series:
            if baseline and baseline[-1] >= len(series):
                raise UsageError(f"--normalise: frame {baseline[-1]} is beyond the last frame "
                                 f"of {args.input.name} ({len(series) - 1})")
            measurement = measure_series(series, rois, corrected=args.corrected,
                                         bleach=bleach, baseline=baseline,
                                         source=args.input if layout_is_stack else None,
                                         progress=console.progress("measure"),
                                         cancel=console.cancel)
        console.check_interrupt()
        with atomic_output(args.output, overwrite=args.overwrite) as temporary:
            measurement.to_csv(temporary, wide=args.wide)
        if args.h5 is not None:
            with atomic_output(args.h5, overwrite=args.overwrite) as temporary:
                with h5py.File(temporary, "w") as handle:
                    measurement.write_to(handle)
        console.check_interrupt()
    for path in (args.output, args.h5):
        if path is not None:
            console.note(f"wrote {path}")
    return 0


def _frames_text(frames: list[int]) -> str:
    return ", ".join(map(str, frames[:8])) + (" …" if len(frames) > 8 else "")
