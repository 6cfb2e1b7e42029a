"""The verbs that read and write files as they are: ``info``, ``import`` and ``export``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .console import (
    EXPORT_SUFFIXES,
    HDF5_SUFFIXES,
    Console,
    check_outputs,
    open_input,
    output_argument,
    overwrite_argument,
    require_suffix,
    stack_arguments,
    stack_options,
    verb,
)


# ---- info
def _info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="FLSeries / FLImage HDF5, TIFF or .npy file")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    stack_arguments(parser)


@verb("info", "summarise a file: kind, frames, shape, times, pixel size, backgrounds",
      _info_arguments)
def run_info(args: argparse.Namespace, console: Console) -> int:
    summary = summarise(args.file, **stack_options(args, args.file))
    if args.json:
        print(json.dumps(summary, indent=2, default=_json_default))
    else:
        print(format_summary(summary))
    return 0


def summarise(path: Path, **layout: Any) -> dict[str, Any]:
    """Summary of any input file; stacks are described from their metadata (no pixels read).

    `layout`: the stack options (``pixel_size``, ``interval``, ``channel``, ``plane``).
    """
    from ..model.loader import check_readable, describe
    from ..model.tiffio import is_stack_file, stack_summary

    if is_stack_file(path):
        return stack_summary(check_readable(path), **layout)
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
    stack_arguments(parser)
    overwrite_argument(parser)


@verb("import", "convert a TIFF / .npy stack into an FLSeries HDF5 file", _import_arguments)
def run_import(args: argparse.Namespace, console: Console) -> int:
    from ..model.h5io import output_group
    from ..model.loader import check_readable
    from ..model.tiffio import import_stack

    require_suffix(args.output, HDF5_SUFFIXES, "the output of import")
    check_readable(args.stack)
    check_outputs([args.stack], [args.output], args.overwrite)
    with output_group():
        series = import_stack(args.stack, **stack_options(args, args.stack),
                              h5file=args.output, overwrite=args.overwrite,
                              progress=console.progress("import"), cancel=console.cancel)
        with series:
            frames = len(series)
        console.check_interrupt()
    console.note(f"wrote {args.output} ({frames} frames)")
    return 0


# ---- export
def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="FLSeries / FLImage HDF5 (or TIFF, .npy) file")
    output_argument(parser, "ImageJ TIFF (.tif) or NumPy (.npy) stack to write")
    parser.add_argument("--raw", action="store_true",
                        help="export the raw fluorescence instead of the background-corrected")
    stack_arguments(parser)
    overwrite_argument(parser)


@verb("export", "write a series as an ImageJ TIFF or .npy stack (float32, TYX)",
      _export_arguments)
def run_export(args: argparse.Namespace, console: Console) -> int:
    require_suffix(args.output, EXPORT_SUFFIXES, "the output of export")
    options = stack_options(args, args.input)
    check_outputs([args.input], [args.output], args.overwrite)
    from ..model.h5io import output_group

    with output_group():
        export_series_file(args.input, args.output, raw=args.raw, overwrite=args.overwrite,
                           console=console, **options)
        console.check_interrupt()
    console.note(f"wrote {args.output}")
    return 0


def export_series_file(source: Path, target: Path, *, raw: bool, overwrite: bool,
                       console: Console, name: str | None = None, **layout: Any) -> None:
    """Export the series in file `source` to `target` (format from its suffix).

    `name` is the file named as the origin in a TIFF's Info text (default:
    `source`'s name); `layout` the stack options of a TIFF / .npy `source`.
    """
    from ..model.tiffio import export_npy, export_tiff

    with open_input(source, console.cancel, **layout) as series:
        progress = console.progress("export")
        if target.suffix.lower() == ".npy":
            export_npy(series, target, raw=raw, overwrite=overwrite, progress=progress,
                       cancel=console.cancel)
        else:
            export_tiff(series, target, raw=raw, overwrite=overwrite, progress=progress,
                        cancel=console.cancel, source=name or source.name)

