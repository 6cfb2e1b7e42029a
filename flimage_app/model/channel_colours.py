"""The colour each channel is shown and exported in.

A file may name a colour per channel, or none.  Where it names none (or black,
which would vanish in a composite) the channel's name may say the dye ("EGFP",
"Alexa Fluor 647"), whose emission colour is what a biologist expects; else the
channel takes Fiji's composite default for its place.  The app's composite view
and the ImageJ hyperstack export both use :func:`channel_colours`, so Fiji shows
an exported file in the colours the app showed.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Colours of channels whose file names none, in channel order (Fiji's composite defaults).
DEFAULT_COLOURS = ("#ff0000", "#00ff00", "#0000ff", "#808080", "#00ffff", "#ff00ff",
                   "#ffff00")

#: Colours of channels whose file names none but whose name says the dye: colour → dyes
#: (lower case, letters and digits only, "fluor" left out) found in the name.  A
#: biologist reads "GFP" in red as a mistake; the emission colour is what figures use.
DYE_COLOURS = {
    "#00ff00": ("gfp", "egfp", "fitc", "alexa488", "af488", "mneongreen", "fluo4", "calcein",
                "gcamp", "green"),
    "#ffff00": ("yfp", "eyfp", "venus", "citrine", "yellow"),
    "#ff0000": ("mcherry", "rfp", "tdtomato", "dsred", "tritc", "cy3", "alexa555",
                "alexa568", "alexa594", "af555", "af568", "af594", "mscarlet", "texasred",
                "red"),
    "#ff00ff": ("cy5", "alexa647", "af647", "farred", "mkate", "irfp"),
    "#00ffff": ("cfp", "ecfp", "cerulean", "turquoise", "cyan"),
    "#0000ff": ("dapi", "hoechst", "bfp", "ebfp", "blue"),
}

def parse_colour(colour: str | None) -> tuple[int, int, int] | None:
    """(r, g, b) of a ``"#rrggbb"`` text, or None when it is missing or not such a text."""
    if not isinstance(colour, str):
        return None
    text = colour.strip()
    if len(text) != 7 or not text.startswith("#"):
        return None
    try:
        return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    except ValueError:
        return None


def dye_colour(name: str) -> str | None:
    """The emission colour a channel's name says ("EGFP" → green), or None."""
    # "Alexa Fluor 488", "Alexa-488" and "AF488" name the same dye
    words = "".join(char for char in name.lower() if char.isalnum()).replace("fluor", "")
    for colour, dyes in DYE_COLOURS.items():
        if any(dye in words for dye in dyes):
            return colour
    return None


def channel_colours(colours: Sequence[str | None],
                    names: Sequence[str] | None = None) -> list[str]:
    """One ``"#rrggbb"`` per channel: the file's colour, else the one its dye's name says
    (:data:`DYE_COLOURS`), else Fiji's default for its place (red, green, blue, …).

    A black channel would be invisible in the composite, so it gets a default too.  A
    default already taken by another channel gives way to the next free one: two
    channels in one colour could not be told apart in the composite.
    """
    given: list[str | None] = []
    for number, colour in enumerate(colours):
        rgb = parse_colour(colour)
        if rgb is None or rgb == (0, 0, 0):
            given.append(dye_colour(names[number]) if names is not None else None)
        else:
            given.append("#{:02x}{:02x}{:02x}".format(*rgb))
    taken = {colour for colour in given if colour is not None}
    chosen = []
    for number, colour in enumerate(given):
        if colour is None:
            options = DEFAULT_COLOURS[number % len(DEFAULT_COLOURS):] + DEFAULT_COLOURS
            colour = next((c for c in options if c not in taken), options[0])
            taken.add(colour)
        chosen.append(colour)
    return chosen


__all__ = ["DEFAULT_COLOURS", "DYE_COLOURS", "channel_colours", "dye_colour", "parse_colour"]
