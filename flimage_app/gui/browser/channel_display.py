"""The main window's part in showing multi-channel / Z documents.

A :class:`ChannelDisplay` belongs to one main window.  It owns the channel bar
(:mod:`.channel_bar`) and the composite (:mod:`.composite_view`), follows each
hyperstack document's :class:`~flimage_app.gui.channels.ChannelView`, and asks
the window to show a new leaf (another channel or plane) in place
(``window.show_leaf``) or a frame on the image (``window.put_on_image``).
Levels set on a single channel are remembered as that channel's, for the
composite; *Auto levels* on the composite scales each channel.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6 import QtCore

from flimage_app.gui.browser.channel_bar import ChannelBar
from flimage_app.gui.browser.composite_view import CompositeDisplay
from flimage_app.gui.browser.frame_cache import Frame


class ChannelDisplay(QtCore.QObject):
    """Channel bar, composite and channel levels of `window` (see the module docstring)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.bar = ChannelBar()
        image_view = window.image_view
        self.composite = CompositeDisplay(window.put_on_image, lambda: image_view.hold_levels,
                                          self._composite_failed, self)
        image_view.histogram.sigLevelChangeFinished.connect(self._remember_channel_levels)
        image_view.auto_level_handlers.append(self._auto_levels_of_composite)

    def watch(self, document) -> list[Callable[[], None]]:
        """Follow `document`'s channel view; returns the disconnections ([] for a series)."""
        view = getattr(document, "view", None)
        if view is None:
            return []
        return [document.leaf_changed.connect(lambda: self._on_leaf_changed(document)),
                view.changed.connect(lambda what: self._on_view_changed(document, what))]

    def show_document(self, document) -> None:
        """`document` (or None) is now in front: the bar shows its channels, if any."""
        self.composite.clear()
        self.bar.set_view(getattr(document, "view", None))

    def display(self, document, frame: Frame) -> bool:
        """Show the composite at `frame`'s time point if the document shows it; True if so.

        The composite appears when every channel's frame is there (at once when
        they are cached).
        """
        view = getattr(document, "view", None)
        if view is None or not view.composite:
            return False
        self.composite.request(document, frame)
        return True

    # ------------------------------------------------------------------ events
    def _composite_failed(self, document, index: int, message: str) -> None:
        window = self.window
        if document is window.current_document() and index == window.current_index():
            window.show_read_failure(index, message)

    def _on_leaf_changed(self, document) -> None:
        """Another channel or plane became the document's series: the window shows it."""
        if document is not self.window.current_document():
            return
        self.composite.clear()
        view, image_view = document.view, self.window.image_view
        held = view.levels[view.channel]
        if held is not None and image_view.hold_levels and not view.composite:
            image_view.set_levels(*held)  # the channel's own levels, not the last one's
        self.window.show_leaf(document)

    def _on_view_changed(self, document, what: str) -> None:
        """The composite was (un)chosen, or its channels or their levels changed."""
        window = self.window
        if document is not window.current_document() or what == "plane":
            return
        if what == "channel":
            # a new leaf was shown by _on_leaf_changed; the same leaf alone or in the
            # composite is shown again here (cached: at once)
            frame = document.cache.cached(window.current_index())
            if frame is not None:
                window.show_frame(document, frame)
        elif what in ("active", "levels") and document.view.composite:
            self.composite.refresh()

    def _remember_channel_levels(self, *_args) -> None:
        """Levels set on a single channel are the ones the composite shows it with."""
        view = getattr(self.window.current_document(), "view", None)
        image_view = self.window.image_view
        frame = image_view.frame
        if (view is None or view.composite or frame is None or image_view.values_label
                or getattr(frame, "is_composite", False)):
            return
        try:
            view.set_levels(view.channel, image_view.levels())
        except ValueError:  # a flat frame's levels: nothing to keep
            pass

    def _auto_levels_of_composite(self) -> bool:
        if not getattr(self.window.image_view.frame, "is_composite", False):
            return False
        self.composite.reset_levels()
        return True


__all__ = ["ChannelDisplay"]
