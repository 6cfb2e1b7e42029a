"""The verbs that read and write files as they are: ``info``, ``import`` and ``export``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..model.errors import FileFormatError
from .console import (
    EXPORT_SUFFIXES,
    HDF5_SUFFIXES,
    Console,
    UsageError,
    check_outputs,
    is_hyperstack,
    open_whole,
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
    from ..model.loader import check_readable, describe, planes_summary
    from ..model.tiffio import NPY_SUFFIXES, inspect_planes, is_stack_file, stack_summary
    from ..model.vendor import is_vendor_path

    if is_vendor_path(path):
        return describe(path, layout.get("scene") or 0)
    if is_stack_file(path):
        summary = stack_summary(check_readable(path), **layout)
        if summary["problem"] is None or path.suffix.lower() in NPY_SUFFIXES or \
                layout.get("channel") is not None or layout.get("plane") is not None:
            return summary
        try:
            with inspect_planes(path) as stack:
                planes = planes_summary(stack.calibrated(pixel_size=layout.get("pixel_size"),
                                                         interval=layout.get("interval")))
        except FileFormatError:
            return summary  # not channels and planes either: the stack's own problem
        planes["notes"].append("imports whole (every channel and plane); --channel / "
                               "--plane import one of them")
        return planes
    if layout:
        from ..model.loader import open_series

        open_series(path, **layout).close()  # a leaf that does not exist is refused
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
    if key in ("pixel_size", "z_step") and isinstance(value, (int, float)):
        return f"{value * 1e6:g} µm ({value:g} m)"
    if key == "channels" and isinstance(value, list):
        return ", ".join(f"{entry.get('name')} ({entry.get('colour') or 'no colour'})"
                         for entry in value if isinstance(entry, dict)) or "none"
    if key == "scenes" and isinstance(value, list):
        return ", ".join(f"{number}: {name}" for number, name in enumerate(value)) or "none"
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
    parser.add_argument("stack", type=Path,
                        help="TIFF (ImageJ, OME, plain; hyperstacks whole), .npy, or a "
                             "microscope file (.czi, .nd2, .lif, OME-Zarr)")
    output_argument(parser, "FLSeries HDF5 file to write (.h5)")
    stack_arguments(parser)
    overwrite_argument(parser)


@verb("import", "convert a TIFF / .npy stack or a microscope file into an HDF5 file",
      _import_arguments)
def run_import(args: argparse.Namespace, console: Console) -> int:
    from ..model.h5io import output_group
    from ..model.loader import check_readable
    from ..model.tiffio import import_stack
    from ..model.vendor import is_vendor_path

    require_suffix(args.output, HDF5_SUFFIXES, "the output of import")
    options = stack_options(args, args.stack)
    if not is_vendor_path(args.stack):
        check_readable(args.stack)
    check_outputs([args.stack], [args.output], args.overwrite)
    stack = _planes_to_import(args.stack, options)
    with output_group():
        if stack is None:
            series = import_stack(args.stack, **options, h5file=args.output,
                                  overwrite=args.overwrite, progress=console.progress("import"),
                                  cancel=console.cancel)
            with series:
                made = f"{len(series)} frames"
        else:
            from ..model.hyperstack_import import import_planes

            with stack:
                calibrated = stack.calibrated(pixel_size=options.get("pixel_size"),
                                              interval=options.get("interval"))
                import_planes(calibrated, args.output, overwrite=args.overwrite,
                              progress=console.progress("import"), cancel=console.cancel,
                              parameters={key: options.get(key) for key in (
                                  "pixel_size", "interval", "channel", "plane")})
                sizes = stack.sizes
                made = (f"{sizes['T']} frames x {sizes['C']} channels x {sizes['Z']} planes"
                        + (f", scene {stack.scene}" if len(stack.scene_names) > 1 else ""))
        console.check_interrupt()
    console.note(f"wrote {args.output} ({made})")
    return 0


def _planes_to_import(path: Path, options: dict[str, Any]):
    """The PlaneStack to import whole (a microscope file, a TIFF hyperstack), or None.

    None: a stack that maps to one series, or one channel / plane chosen of a
    TIFF, which :func:`~flimage_app.model.tiffio.import_stack` imports.
    """
    from ..model.tiffio import NPY_SUFFIXES, inspect_planes, inspect_stack
    from ..model.vendor import is_vendor_path, open_vendor

    if is_vendor_path(path):
        stack = open_vendor(path, options.get("scene") or 0)
        try:
            return stack.select(options.get("channel"), options.get("plane"))
        except BaseException:
            stack.release()
            raise
    if path.suffix.lower() in NPY_SUFFIXES or options.get("channel") is not None \
            or options.get("plane") is not None:
        return None
    layout = {key: options[key] for key in ("pixel_size", "interval") if key in options}
    if inspect_stack(path, **layout).problem is None:
        return None
    try:
        return inspect_planes(path)
    except FileFormatError:
        return None  # import_stack names the stack's own problem


# ---- export
#: pixel types of an exported TIFF (flimage_app.model.export_report.EXPORT_CHOICES)
EXPORT_DTYPES: tuple[str, ...] = ("float32", "input", "uint16", "uint8")


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path,
                        help="FLSeries / hyperstack / FLImage HDF5, TIFF, .npy or microscope "
                             "file")
    output_argument(parser, "ImageJ TIFF (.tif) or NumPy (.npy) stack to write")
    parser.add_argument("--raw", action="store_true",
                        help="export the raw fluorescence instead of the background-corrected")
    parser.add_argument("--dtype", choices=EXPORT_DTYPES, default="float32",
                        help="pixel type of the TIFF: float32 (default); input: the input's "
                             "8- or 16-bit type, as Fiji writes it (rounded, clipped to the "
                             "type's range, the clipped pixels counted and reported); or that "
                             "type named")
    stack_arguments(parser)
    overwrite_argument(parser)


@verb("export", "write a series or hyperstack as an ImageJ TIFF (TYX, TCYX, TZCYX) or .npy",
      _export_arguments)
def run_export(args: argparse.Namespace, console: Console) -> int:
    require_suffix(args.output, EXPORT_SUFFIXES, "the output of export")
    if args.dtype != "float32" and args.output.suffix.lower() == ".npy":
        raise UsageError("--dtype goes with a TIFF output; a .npy export is float32")
    options = stack_options(args, args.input)
    check_outputs([args.input], [args.output], args.overwrite)
    from ..model.h5io import output_group

    with output_group():
        report = export_series_file(args.input, args.output, raw=args.raw,
                                    overwrite=args.overwrite, console=console,
                                    dtype=args.dtype, **options)
        console.check_interrupt()
    if report is not None and report.message():
        console.note(report.message())
    console.note(f"wrote {args.output}")
    return 0


def export_series_file(source: Path, target: Path, *, raw: bool, overwrite: bool,
                       console: Console, name: str | None = None, dtype: str = "float32",
                       **layout: Any):
    """Export the series or hyperstack in file `source` to `target` (format from its suffix).

    `name` is the file named as the origin in a TIFF's Info text (default:
    `source`'s name); `layout` the stack options of the `source`; `dtype`
    the TIFF's pixel type (:data:`EXPORT_DTYPES`).  Returns the TIFF's
    :class:`~flimage_app.model.export_report.ExportReport` (None for .npy).
    """
    from ..model.export_report import resolve_dtype
    from ..model.hyperstack_export import export_hyperstack_tiff
    from ..model.loader import recorded_dtype
    from ..model.tiffio import export_npy, export_tiff

    progress = console.progress("export")
    with open_whole(source, console.cancel, progress, **layout) as opened:
        if is_hyperstack(opened):
            if target.suffix.lower() == ".npy":
                raise UsageError(f"{source.name} has {opened.n_channels} channels x "
                                 f"{opened.n_planes} planes; export it as a .tif hyperstack, "
                                 "or one series with --channel / --plane")
            return export_hyperstack_tiff(opened, target, dtype=dtype, raw=raw,
                                          overwrite=overwrite, progress=progress,
                                          cancel=console.cancel)
        if target.suffix.lower() == ".npy":
            export_npy(opened, target, raw=raw, overwrite=overwrite, progress=progress,
                       cancel=console.cancel)
            return None
        kind = resolve_dtype(dtype, recorded_dtype(source, **layout)
                             if dtype == "input" else None, source.name)
        return export_tiff(opened, target, raw=raw, overwrite=overwrite, progress=progress,
                           cancel=console.cancel, source=name or source.name, dtype=kind)
