"""flimage_app: fluorescence microscopy images and time series, on the desktop and in scripts."""

__version__ = "0.1.0"
