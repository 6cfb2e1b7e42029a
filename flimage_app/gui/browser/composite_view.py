"""The composite of a multi-channel document's frame: every channel in its colour, added up.

A thin layer above the frame caches: :class:`CompositeDisplay` asks each
channel's :class:`~flimage_app.gui.browser.frame_cache.FrameCache` (one per leaf,
:meth:`HyperstackDocument.cache_for`) for the frame on display and, once every
active channel's frame is there, shows a :class:`CompositeFrame` in the image
view.  The frame caches themselves know nothing of channels.

Levels: with *Hold levels* ticked each channel keeps its levels (those set on
the channel itself, else those of the first composite frame shown); unticked,
each channel of each frame is scaled to its own 0.5–99.8 % range, as a single
channel is.  *Auto levels* scales every channel to the frame on display.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PyQt6 import QtCore

from flimage_app.gui.browser.frame_cache import Frame
from flimage_app.gui.browser.image_view import robust_levels
from flimage_app.gui.channels import composite_rgb


@dataclass(frozen=True)
class CompositeFrame(Frame):
    """A frame of every active channel, shown as their colour blend.

    `raw`, `background` and `corrected` are those of the channel the panels work
    on (so shapes, metadata and panels behave as for a single channel);
    :meth:`image` is the RGB blend of the channels' images of that view mode.
    """

    channel_frames: tuple[Frame, ...] = ()
    channel_names: tuple[str, ...] = ()
    colours: tuple[str, ...] = ()
    #: per channel: (black, white), or None for the frame's own robust range
    channel_levels: tuple[tuple[float, float] | None, ...] = ()
    _rendered: dict = field(default_factory=dict, repr=False, compare=False)

    is_composite = True

    def levels_of(self, mode: str) -> list[tuple[float, float]]:
        """The levels each channel is shown with in view `mode`."""
        return [levels if levels is not None else robust_levels(frame.image(mode))
                for frame, levels in zip(self.channel_frames, self.channel_levels,
                                         strict=True)]

    def image(self, mode: str) -> np.ndarray:
        if mode not in self._rendered:
            images = [frame.image(mode) for frame in self.channel_frames]
            self._rendered[mode] = composite_rgb(images, list(self.colours),
                                                 self.levels_of(mode))
        return self._rendered[mode]

    def channel_values(self, row: int, column: int, mode: str) -> tuple[tuple[str, float], ...]:
        """(channel name, value) at pixel (`row`, `column`) in view `mode`, per channel."""
        return tuple((name, float(frame.image(mode)[row, column]))
                     for name, frame in zip(self.channel_names, self.channel_frames,
                                            strict=True))


def make_composite(current: Frame, frames: list[Frame], names: list[str], colours: list[str],
                   levels: list[tuple[float, float] | None]) -> CompositeFrame:
    """The composite of `frames` (one per active channel) around the panels' frame `current`."""
    return CompositeFrame(index=current.index, raw=current.raw, background=current.background,
                          corrected=current.corrected, meta=dict(current.meta),
                          backgrounds=current.backgrounds, channel_frames=tuple(frames),
                          channel_names=tuple(names), colours=tuple(colours),
                          channel_levels=tuple(levels))


class CompositeDisplay(QtCore.QObject):
    """Gathers the channels' frames of one time point and shows their composite.

    Parameters
    ----------
    show
        ``show(document, composite_frame)``: puts a finished composite on display.
    hold_levels
        ``hold_levels() -> bool``: whether channels keep their levels across frames.
    failed
        ``failed(document, index, message)``: a channel's frame cannot be read, so the
        composite of that time point cannot be shown.
    """

    def __init__(self, show, hold_levels, failed,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._show = show
        self._hold_levels = hold_levels
        self._failed_callback = failed
        self._document = None
        self._pending: Frame | None = None
        self._connected: list = []

    def clear(self) -> None:
        """Forget the frame waited for and stop listening to the caches."""
        for cache in self._connected:
            for signal, slot in ((cache.frameReady, self._on_frame_ready),
                                 (cache.readFailed, self._on_read_failed)):
                try:
                    signal.disconnect(slot)
                except TypeError:  # already disconnected
                    pass
        self._connected = []
        self._document = None
        self._pending = None

    def request(self, document, current: Frame) -> bool:
        """Show the composite at `current`'s time point; True if it is on display already.

        Frames of other channels not read yet are asked for; the composite is
        shown when the last arrives.
        """
        if self._document is not document:
            self.clear()
            self._document = document
        self._pending = current
        caches = document.channel_caches()
        for cache in caches:
            if cache not in self._connected:
                cache.frameReady.connect(self._on_frame_ready)
                cache.readFailed.connect(self._on_read_failed)
                self._connected.append(cache)
        return self._try_show()

    def refresh(self) -> bool:
        """Show the composite again (the active channels or their levels changed)."""
        if self._document is None or self._pending is None:
            return False
        return self._try_show()

    def reset_levels(self) -> None:
        """*Auto levels*: every channel scaled to the frame on display (and held from it)."""
        document = self._document
        if document is None:
            return
        for channel in range(document.n_channels):
            document.view.levels[channel] = None
        self.refresh()

    def _on_frame_ready(self, _index: int, _frame: Frame) -> None:
        if self._pending is not None and _index == self._pending.index:
            self._try_show()

    def _on_read_failed(self, index: int, message: str) -> None:
        if self._pending is not None and index == self._pending.index:
            self._failed_callback(self._document, index, message)

    def _try_show(self) -> bool:
        document, current = self._document, self._pending
        view = document.view
        frames, names, colours, levels = [], [], [], []
        for channel in view.composite_channels():
            if channel == view.channel:
                frame = current
            else:
                cache = document.cache_for(channel, view.plane)
                frame = cache.cached(current.index)
                if frame is None:
                    cache.request(current.index)
                    frame = cache.cached(current.index)
                if frame is None:
                    return False  # shown when it arrives
            frames.append(frame)
            names.append(view.names[channel])
            colours.append(view.colours[channel])
            held = view.levels[channel] if self._hold_levels() else None
            if self._hold_levels() and held is None:
                held = robust_levels(frame.image("corrected"))
                view.levels[channel] = held  # held from this frame on
            levels.append(held)
        self._show(document, make_composite(current, frames, names, colours, levels))
        return True


__all__ = ["CompositeDisplay", "CompositeFrame", "make_composite"]
