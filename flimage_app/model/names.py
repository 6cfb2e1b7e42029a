"""Names of the file format: HDF5 groups, datasets and version attributes.

One place for the strings that define the FLImage / FLSeries layout (flimage
0.3.3's) and the app's own group, so that every module writes and reads the
same names.  This module imports nothing of the app: any module may use it.

Layout of a series file::

    <root>/fli_0 … fli_{N-1}                 one FLImage each (FRAME_PREFIX)
    <frame>/fluorescence/raw                 the image (FLUORESCENCE, RAW)
    <frame>/fluorescence/bg_data/data, /fit  backgrounds (BG_DATA)
    <frame>/fluorescence/estimate_bg_from_mask
    <root>/flimage_app/provenance            the app's record (APP_GROUP, PROVENANCE_GROUP)
    <root>/flimage_app/rois                  the app's ROI set (ROIS_DATASET)
    <root>/flimage_app/measure_rois          the measurement ROIs (MEASURE_ROIS_DATASET)
    <root>/flimage_app/measurement           the last measurement table (MEASUREMENT_GROUP)
"""

from __future__ import annotations

#: frames of a series are the groups fli_0 … fli_{N-1} of its root
FRAME_PREFIX = "fli_"
#: the group of the app's own data (provenance, ROIs); flimage ignores it
APP_GROUP = "flimage_app"
#: the provenance record inside APP_GROUP
PROVENANCE_GROUP = "provenance"
#: the ROI set (JSON text) inside APP_GROUP
ROIS_DATASET = "rois"
#: the measurement ROIs (JSON text) inside APP_GROUP, apart from the background ROIs
MEASURE_ROIS_DATASET = "measure_rois"
#: the measurement table and its record inside APP_GROUP
MEASUREMENT_GROUP = "measurement"

#: the image group of an FLImage and its members
FLUORESCENCE = "fluorescence"
RAW = "raw"
BG_DATA = "bg_data"
BG_MASK = "estimate_bg_from_mask"
RAW_PATH = f"{FLUORESCENCE}/{RAW}"
BG_DATA_PATH = f"{FLUORESCENCE}/{BG_DATA}"

#: the flimage / qpimage releases whose file format the app writes
FLIMAGE_FORMAT_VERSION = "0.3.3"
QPIMAGE_FORMAT_VERSION = "0.9.3"


def frame_name(index: int) -> str:
    """Name of frame `index`'s group in a series file (``fli_<index>``)."""
    return f"{FRAME_PREFIX}{index}"

#: a multi-channel / Z file: the root holds channel_0 … (a complete FLSeries each when it
#: has one Z plane), and each channel with Z planes holds plane_0 … (a complete FLSeries each)
CHANNEL_PREFIX = "channel_"
PLANE_PREFIX = "plane_"
#: JSON attribute of the root's APP_GROUP that describes the channels and planes
HYPERSTACK_ATTRIBUTE = "hyperstack"
#: version of that description
HYPERSTACK_VERSION = 1


def channel_name(channel: int) -> str:
    """Group name of channel `channel` at the root of a hyperstack file (``channel_<c>``)."""
    return f"{CHANNEL_PREFIX}{channel}"


def plane_name(plane: int) -> str:
    """Group name of Z plane `plane` inside a channel group (``plane_<z>``)."""
    return f"{PLANE_PREFIX}{plane}"
