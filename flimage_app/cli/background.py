"""The ``flimage-app background`` verb: fit the background on ROIs for every frame.

Example::

    flimage-app background cells.h5 -o cells_bg.h5 --roi rect:0,0,40,512 \\
        --roi ellipse:400,20,80,60 --exclude ellipse:200,200,60,60 --border-px 10 \\
        --profile tilt --offset mode

Coordinates are image pixels, x = column, y = row, origin at the top-left
corner of the image; an ellipse is given by its bounding box.  The fit uses
the union of the include ROIs (``--roi``, ``--border-px``, the include ROIs of
``--rois``) minus the exclude ROIs; the output stores the fit as flimage does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .console import (
    Console,
    UsageError,
    check_outputs,
    open_input,
    stack_arguments,
    stack_options,
)

#: spellings accepted for each ROI kind in ``--roi``
KIND_ALIASES: dict[str, str] = {"rect": "rectangle", "rectangle": "rectangle",
                                "ellipse": "ellipse", "oval": "ellipse",
                                "polygon": "polygon", "poly": "polygon"}

#: how an ROI is written on the command line (``--roi`` and the options like it)
ROI_SPEC_SYNTAX = ("rect:X,Y,W,H, ellipse:X,Y,W,H (bounding box) or polygon:x1,y1,x2,y2,… "
                   "in pixels (x = column, y = row, from the top-left corner)")

HELP = "fit the background on regions of interest in every frame and write a new file"


def parse_roi_spec(spec: str, role: str = "include", name: str = ""):
    """Parse ``rect:X,Y,W,H``, ``ellipse:X,Y,W,H`` or ``polygon:x1,y1,x2,y2,…`` into an ROI.

    Raises
    ------
    UsageError
        Unknown kind, wrong number of values, or values that are not numbers
        (a usage error: exit status 2).
    """
    from ..model.rois import EllipseROI, PolygonROI, RectangleROI

    kind_text, _, values_text = spec.partition(":")
    kind = KIND_ALIASES.get(kind_text.strip().lower())
    if kind is None or not values_text:
        raise UsageError(f"ROI {spec!r}: write rect:X,Y,W,H, ellipse:X,Y,W,H or "
                              "polygon:x1,y1,x2,y2,…")
    try:
        values = [float(v) for v in values_text.split(",")]
    except ValueError:
        raise UsageError(f"ROI {spec!r}: coordinates must be numbers") from None
    try:
        if kind == "polygon":
            if len(values) < 6 or len(values) % 2:
                raise UsageError(f"ROI {spec!r}: a polygon needs at least 3 x,y pairs")
            points = tuple(zip(values[::2], values[1::2], strict=True))
            return PolygonROI(points=points, role=role, name=name)
        if len(values) != 4:
            raise UsageError(f"ROI {spec!r}: a {kind} needs 4 values X,Y,W,H")
        cls = RectangleROI if kind == "rectangle" else EllipseROI
        return cls(*values, role=role, name=name)
    except ValueError as exc:  # invalid geometry, e.g. zero width
        raise UsageError(f"ROI {spec!r}: {exc}") from None


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of the ``background`` verb to `parser`."""
    from ..model.background import VALID_FIT_OFFSETS, VALID_FIT_PROFILES

    parser.add_argument("input", metavar="IN", help="FLSeries / FLImage HDF5 file or TIFF stack")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="new HDF5 file (an FLImage input gives an FLImage file)")
    add_roi_arguments(parser, rois_note=" (its profile and offset are the defaults)")
    parser.add_argument("--border-px", type=int, default=0, metavar="N",
                        help="also use a frame N pixels wide around the image")
    parser.add_argument("--profile", choices=VALID_FIT_PROFILES, default=None,
                        help="background shape (default: tilt, or that of --rois)")
    parser.add_argument("--offset", choices=VALID_FIT_OFFSETS, default=None,
                        help="offset method (default: mean, or that of --rois)")
    parser.add_argument("--frames", metavar="A-B",
                        help="fit only frames A to B (0-based, inclusive); others are copied")
    parser.add_argument("--bg-image", metavar="FILE",
                        help="experimental background image (FLImage HDF5, TIFF or .npy), "
                             "subtracted as the 'data' background before the fit")
    stack_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def add_roi_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *,
                      purpose: str = "background region", rois_note: str = "") -> None:
    """Add ``--roi``, ``--exclude`` and ``--rois``: background regions as the app draws them.

    Shared by the verbs that take background regions, so that they are
    written the same way everywhere; :func:`roiset_from_arguments` reads them.

    Parameters
    ----------
    parser
        Parser or argument group to add the options to.
    purpose
        What an ``--roi`` region is, at the start of its help text.
    rois_note
        Added to the help text of ``--rois``.
    """
    parser.add_argument("--roi", action="append", default=[], metavar="SPEC",
                        help=f"{purpose}: {ROI_SPEC_SYNTAX}; repeat for several")
    parser.add_argument("--exclude", action="append", default=[], metavar="SPEC",
                        help="region never used as background (same syntax), e.g. a cell")
    parser.add_argument("--rois", type=Path, metavar="ROIS",
                        help="ROI set: the app's JSON (Export button of the Background "
                             "panel), Fiji .roi / RoiSet .zip (background regions), or an "
                             f".h5 file whose ROIs the background verb stored{rois_note}")


def has_roi_arguments(args: argparse.Namespace) -> bool:
    """True when any of ``--roi``, ``--exclude`` or ``--rois`` was given."""
    return bool(args.roi or args.exclude or args.rois)


def roiset_from_arguments(args: argparse.Namespace, border_px: int = 0):
    """The ROI set of ``--rois``, ``--roi`` and ``--exclude``, plus a border `border_px` wide.

    Parameters
    ----------
    args
        Parsed arguments with ``rois``, ``roi`` and ``exclude`` (see :func:`add_roi_arguments`).
    border_px
        Width of an image border added as a background region (0: none).

    Returns
    -------
    ROISet
        May hold no ROI; the caller decides whether that is an error.

    Raises
    ------
    FLImageAppError
        An unreadable ROI file, a malformed ROI, or a negative `border_px`.
    """
    from dataclasses import replace

    from ..model.rois import BorderROI, ROISet, load_roiset

    roiset = load_roiset(args.rois) if args.rois else ROISet()
    rois = list(roiset.rois)
    rois += [parse_roi_spec(s, name=f"roi {i}") for i, s in enumerate(args.roi, start=1)]
    rois += [parse_roi_spec(s, role="exclude", name=f"exclude {i}")
             for i, s in enumerate(args.exclude, start=1)]
    if border_px < 0:
        raise UsageError("--border-px must be 0 or positive")
    if border_px > 0:
        rois.append(BorderROI(border_px, name="border"))
    return replace(roiset, rois=tuple(rois))


def build_roiset(args: argparse.Namespace):
    """The ROI set described by the command line arguments of the ``background`` verb."""
    from dataclasses import replace

    roiset = roiset_from_arguments(args, args.border_px)
    if not roiset.rois:
        raise UsageError("no background region: give --roi, --border-px or --rois")
    return replace(roiset, fit_profile=args.profile or roiset.fit_profile,
                   fit_offset=args.offset or roiset.fit_offset)


def parse_frame_range(text: str | None) -> range | None:
    """``"A-B"`` or ``"A"`` as a range of frame indices; None for all frames."""
    if not text:
        return None
    first, _, last = text.partition("-")
    try:
        start = int(first)
        stop = int(last) if last else start
    except ValueError:
        raise UsageError(f"--frames {text!r}: write A-B with whole numbers") from None
    if start < 0 or stop < start:
        raise UsageError(f"--frames {text!r}: need 0 <= A <= B")
    return range(start, stop + 1)


def run(args: argparse.Namespace, console: Console) -> int:
    """Execute the verb; returns the exit status.

    Raises
    ------
    UsageError
        Malformed regions or frame range, no region (exit status 2).
    FLImageAppError
        Bad files, a region outside the image, a failed fit (exit status 1).
    """
    from ..model.background_apply import apply_background, load_background_image
    from ..model.h5io import output_group
    from ..model.loader import file_kind

    output = Path(args.output)
    options = stack_options(args, Path(args.input))
    roiset = build_roiset(args)
    frames = parse_frame_range(args.frames)
    inputs = [Path(args.input), args.rois, Path(args.bg_image) if args.bg_image else None]
    check_outputs(inputs, [output], args.overwrite)
    data_background = load_background_image(args.bg_image) if args.bg_image else None
    as_image = file_kind(args.input) == "FLImage"
    with output_group(), open_input(Path(args.input), console.cancel, **options) as series:
        if frames is not None and frames.stop > len(series):
            raise UsageError(f"--frames {args.frames}: the series has {len(series)} "
                             f"frames (0…{len(series) - 1})")
        result = apply_background(series, output, roiset, frames=frames,
                                  data_background=data_background, as_image=as_image,
                                  overwrite=args.overwrite,
                                  progress=console.progress("background"),
                                  cancel=console.cancel, input_path=args.input)
        console.check_interrupt()
    console.note(f"wrote {output}: fitted the background of {len(result.fitted_frames)} "
                 f"frame(s) ({roiset.fit_profile}, offset {roiset.fit_offset}) on "
                 f"{int(result.n_pixels.max())} px; residual std "
                 f"{result.residual_std.min():.4g}…{result.residual_std.max():.4g}")
    return 0
