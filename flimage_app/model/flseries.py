"""FLSeries: flimage 0.3.3's series class, its processing methods included.

The file layer (frames, identifiers, times, app data) is
:class:`~flimage_app.model.series.FLSeriesBase`, which the engines use;
this module adds flimage's ``bleach_correction`` and ``denoise`` on top of
the engines, so that no engine imports the class that calls it.
"""

from __future__ import annotations

from .bleach.engine import flimage_bleach_correction
from .denoise import flimage_denoise
from .series import FLSeriesBase


class FLSeries(FLSeriesBase):
    """Series of fluorescence images.

    Parameters
    ----------
    flimage_list : list of FLImage
        Images appended to the series in this order.
    meta_data : mapping
        Metadata that overrides the metadata of every frame.
    h5file : path, h5py.Group or None
        Where the series lives (None: in memory).
    h5mode : {"a", "r", "r+", "w", "w-", "x"}
        h5py file mode, used when `h5file` is a path.
    identifier : str or None
        Identifier of the whole series.
    """

    def bleach_correction(self, h5out=None, border_px: int = 20,
                          flscorr: FLSeriesBase | None = None,
                          count=None, max_count=None, callback=None):
        """Correct photobleaching as flimage does (exponential with offset).

        Returns ``(bg, flint, decay, times)``; see
        :func:`flimage_app.model.bleach.flimage_bleach_correction`.
        """
        return flimage_bleach_correction(self, h5out=h5out, border_px=border_px,
                                         flscorr=flscorr, count=count, max_count=max_count,
                                         callback=callback)

    def denoise(self, h5file, count=None, max_count=None, weight: float = 2.0) -> None:
        """Total-variation denoising of every frame into a new series at `h5file`."""
        flimage_denoise(self, h5file, count=count, max_count=max_count, weight=weight)
