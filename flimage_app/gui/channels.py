"""What the browser shows of a multi-channel / Z document: one channel or the composite, one plane.

Qt-free, as the rest of the session's state: a :class:`ChannelView` belongs to a
hyperstack document (:class:`~flimage_app.gui.hyperstack_document.HyperstackDocument`)
and emits :attr:`ChannelView.changed` when the user picks another channel, the
composite, another Z plane, or changes which channels the composite adds up or
their levels.  The channel bar (:mod:`flimage_app.gui.browser.channel_bar`)
shows it and changes it; the main window shows the frames it asks for.

The composite is what Fiji's "Composite" display mode shows: every active
channel scaled by its own display levels to 0…1, coloured with its channel's
colour, added up and clipped (:func:`composite_rgb`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flimage_app.gui.events import Event
from flimage_app.model.channel_colours import channel_colours, parse_colour

#: The channel choice that shows every channel at once.
COMPOSITE = "composite"

Levels = tuple[float, float]


def composite_rgb(images: Sequence[np.ndarray], colours: Sequence[str],
                  levels: Sequence[Levels]) -> np.ndarray:
    """The additive colour blend of `images`, as an (rows, columns, 3) uint8 image.

    Each image is mapped linearly from its levels (black, white) to 0…1 (clipped),
    multiplied by its colour and added; the sum is clipped at white.  Non-finite
    pixels count as black.

    Raises
    ------
    ValueError
        No image, images of different shapes, or not one colour and one pair of
        levels per image.
    """
    if not images:
        raise ValueError("A composite needs at least one channel")
    if not len(images) == len(colours) == len(levels):
        raise ValueError(f"{len(images)} images, {len(colours)} colours and "
                         f"{len(levels)} levels: one of each per channel")
    shape = np.shape(images[0])
    total = np.zeros((*shape, 3), dtype=np.float32)
    for image, colour, (low, high) in zip(images, colours, levels, strict=True):
        if np.shape(image) != shape:
            raise ValueError(f"Channel images of shapes {shape} and {np.shape(image)} "
                             "cannot be blended")
        rgb = parse_colour(colour) or (255, 255, 255)
        span = float(high) - float(low)
        scaled = (np.asarray(image, dtype=np.float32) - np.float32(low)) / np.float32(
            span if span > 0 else 1.0)
        scaled = np.clip(np.nan_to_num(scaled, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        for axis, value in enumerate(rgb):
            if value:
                total[..., axis] += scaled * np.float32(value)
    return np.clip(np.rint(total), 0, 255).astype(np.uint8)


class ChannelView:
    """The channel (or the composite) and the Z plane a hyperstack document shows.

    Parameters
    ----------
    names
        One name per channel.
    colours
        One ``"#rrggbb"`` (or None: a default is used) per channel.
    planes
        Number of Z planes (1: no Z axis).
    z_step
        Distance between the planes [m], or None.

    Events
    ------
    changed(str)
        What changed: "channel" (another channel or the composite), "plane",
        "active" (channels added up in the composite) or "levels".
    """

    def __init__(self, names: Sequence[str], colours: Sequence[str | None],
                 planes: int = 1, z_step: float | None = None) -> None:
        if not names:
            raise ValueError("A channel view needs at least one channel")
        if len(colours) != len(names):
            raise ValueError(f"{len(names)} channel names but {len(colours)} colours")
        if int(planes) < 1:
            raise ValueError(f"A stack has at least one plane, not {planes}")
        self.names = [str(name) for name in names]
        self.colours = channel_colours(colours, self.names)
        self.planes = int(planes)
        self.z_step = z_step
        #: the channel whose frames the panels work on (also in composite mode)
        self.channel = 0
        self.composite = False
        self.plane = 0
        #: channels the composite adds up
        self.active = [True] * len(self.names)
        #: display levels per channel, None: scaled to each frame (auto)
        self.levels: list[Levels | None] = [None] * len(self.names)
        self.changed = Event()

    @property
    def n_channels(self) -> int:
        return len(self.names)

    @property
    def choice(self) -> int | str:
        """The channel on display, or :data:`COMPOSITE`."""
        return COMPOSITE if self.composite else self.channel

    def choose(self, choice: int | str) -> None:
        """Show channel `choice` (an index) or :data:`COMPOSITE`.

        Choosing the composite keeps the current channel as the one the panels
        work on.

        Raises
        ------
        ValueError
            Not a channel of the stack, nor the composite.
        """
        if choice == COMPOSITE:
            if self.composite:
                return
            self.composite = True
        else:
            channel = self._check_channel(choice)
            if channel == self.channel and not self.composite:
                return
            self.channel, self.composite = channel, False
        self.changed.emit("channel")

    def set_plane(self, plane: int) -> None:
        """Show Z plane `plane` (0-based).

        Raises
        ------
        ValueError
            Not a plane of the stack.
        """
        if isinstance(plane, bool) or not isinstance(plane, int | np.integer) \
                or not 0 <= plane < self.planes:
            raise ValueError(f"Z plane {plane!r} does not exist; the stack has planes "
                             f"0 to {self.planes - 1}")
        if int(plane) != self.plane:
            self.plane = int(plane)
            self.changed.emit("plane")

    def set_active(self, channel: int, active: bool) -> None:
        """Add channel `channel` up in the composite or leave it out (one stays at least)."""
        channel = self._check_channel(channel)
        active = bool(active)
        if self.active[channel] == active:
            return
        if not active and sum(self.active) == 1:
            return  # an empty composite is a black image: keep the last channel
        self.active[channel] = active
        self.changed.emit("active")

    def set_levels(self, channel: int, levels: Levels | None) -> None:
        """Display levels (black, white) of `channel`; None scales each frame to itself."""
        channel = self._check_channel(channel)
        if levels is not None:
            low, high = float(levels[0]), float(levels[1])
            if not (np.isfinite(low) and np.isfinite(high) and high > low):
                raise ValueError(f"Levels must be two finite numbers, black below white; "
                                 f"got {levels!r}")
            levels = (low, high)
        if self.levels[channel] != levels:
            self.levels[channel] = levels
            self.changed.emit("levels")

    def composite_channels(self) -> list[int]:
        """The channels the composite adds up, in order."""
        return [channel for channel, active in enumerate(self.active) if active]

    def describe(self) -> str:
        """What is on display, for the image caption ("GFP", "Composite   z 1 of 3").

        Planes are counted from 0, as frames are ("frame 5 of 20") and as the
        command line's ``--plane N`` and the frames' identifiers count them.
        """
        parts = ["Composite" if self.composite else self.names[self.channel]]
        if self.planes > 1:
            where = f"z {self.plane} of {self.planes}"
            if self.z_step:
                where += f" ({self.plane * self.z_step * 1e6:.3g} µm)"
            parts.append(where)
        return "   ".join(parts)

    def _check_channel(self, channel) -> int:
        if isinstance(channel, bool) or not isinstance(channel, int | np.integer) \
                or not 0 <= channel < self.n_channels:
            raise ValueError(f"Channel {channel!r} does not exist; the stack has channels "
                             f"0 to {self.n_channels - 1}")
        return int(channel)


__all__ = ["COMPOSITE", "ChannelView", "composite_rgb"]
