"""The ``denoise`` verb: total-variation denoising of every frame."""

from __future__ import annotations

import argparse
from pathlib import Path

from .console import (
    HDF5_SUFFIXES,
    Console,
    check_outputs,
    open_input,
    output_argument,
    overwrite_argument,
    positive_float,
    require_suffix,
    stack_arguments,
    stack_options,
    verb,
)


def _denoise_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="FLSeries HDF5 file (or TIFF, .npy)")
    output_argument(parser, "denoised FLSeries HDF5 file to write (.h5)")
    parser.add_argument("--weight", type=positive_float, default=2.0, metavar="W",
                        help="total-variation denoising weight (default 2.0, as flimage)")
    stack_arguments(parser)
    overwrite_argument(parser)


@verb("denoise", "total-variation denoising of every frame", _denoise_arguments)
def run_denoise(args: argparse.Namespace, console: Console) -> int:
    require_suffix(args.output, HDF5_SUFFIXES, "the output of denoise")
    options = stack_options(args, args.input)
    check_outputs([args.input], [args.output], args.overwrite)

    from ..model.denoise import denoise_series
    from ..model.h5io import output_group

    with output_group(), open_input(args.input, console.cancel, **options) as series:
        denoise_series(series, args.output, weight=args.weight,
                       progress=console.progress("denoise"), cancel=console.cancel,
                       overwrite=args.overwrite)
        console.check_interrupt()
    console.note(f"wrote {args.output}")
    return 0


