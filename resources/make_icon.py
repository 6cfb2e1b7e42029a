"""Draw the application icon (PNG, ICO, ICNS) from scratch.

    python resources/make_icon.py

A fluorescent cell glowing on a dark rounded tile, with the decaying
bleach curve that the app corrects drawn across it.  Run it again after a
change; the outputs are committed so that builds need no drawing step.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 1024  # drawn large, then scaled down for each output
HERE = Path(__file__).resolve().parent


def rounded_tile(size: int) -> Image.Image:
    """Dark blue tile with rounded corners and a soft vertical gradient."""
    rows = np.linspace(0, 1, size)[:, None]
    top, bottom = np.array([22, 36, 64]), np.array([8, 14, 30])
    rgb = (top * (1 - rows[..., None]) + bottom * rows[..., None]) * np.ones((1, size, 1))
    tile = Image.fromarray(rgb.astype(np.uint8), "RGB").convert("RGBA")
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle([0, 0, size - 1, size - 1], radius=size // 5,
                                           fill=255)
    tile.putalpha(mask)
    return tile


def glowing_cell(size: int) -> Image.Image:
    """A green fluorescent cell: bright cytoplasm, darker nucleus, soft glow."""
    rows, cols = np.indices((size, size)) / size
    centre_r, centre_c = 0.40, 0.52
    # slightly elongated, rotated cell body
    dr, dc = rows - centre_r, cols - centre_c
    angle = np.deg2rad(-25)
    u = dr * np.cos(angle) - dc * np.sin(angle)
    v = dr * np.sin(angle) + dc * np.cos(angle)
    body = np.exp(-((u / 0.20) ** 2 + (v / 0.28) ** 2) ** 2.5)
    nucleus = np.exp(-(((rows - 0.42) / 0.09) ** 2 + ((cols - 0.55) / 0.11) ** 2) ** 2)
    glow = np.exp(-((u / 0.30) ** 2 + (v / 0.40) ** 2))
    intensity = np.clip(0.95 * body - 0.45 * nucleus + 0.35 * glow, 0, 1)
    colour = np.array([70, 255, 140])
    rgba = np.zeros((size, size, 4))
    rgba[..., :3] = colour * (0.35 + 0.65 * intensity[..., None])
    rgba[..., 3] = 255 * np.clip(1.3 * intensity, 0, 1)
    return Image.fromarray(rgba.astype(np.uint8), "RGBA")


def bleach_curve(size: int) -> Image.Image:
    """The decaying intensity trace with a few measured points."""
    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    t = np.linspace(0, 1, 800)
    left, right, top, bottom = 0.14, 0.88, 0.58, 0.86
    y = 0.15 + 0.85 * np.exp(-3.2 * t)
    points = [(size * (left + (right - left) * ti), size * (bottom - (bottom - top) * yi))
              for ti, yi in zip(t, y, strict=True)]
    # a chain of discs gives a smooth, evenly thick stroke with round ends
    half_width = size / 80
    for x, yy in points:
        draw.ellipse([x - half_width, yy - half_width, x + half_width, yy + half_width],
                     fill=(255, 176, 59, 255))
    for ti in np.linspace(0.05, 0.95, 6):
        yi = 0.15 + 0.85 * np.exp(-3.2 * ti)
        x = size * (left + (right - left) * ti)
        yy = size * (bottom - (bottom - top) * yi)
        radius = size // 38
        draw.ellipse([x - radius, yy - radius, x + radius, yy + radius],
                     fill=(255, 255, 255, 255))
    return layer


def make_icon() -> Image.Image:
    tile = rounded_tile(SIZE)
    cell = glowing_cell(SIZE).filter(ImageFilter.GaussianBlur(SIZE / 300))
    icon = Image.alpha_composite(tile, cell)
    icon = Image.alpha_composite(icon, bleach_curve(SIZE))
    # keep the rounded corners transparent after compositing
    icon.putalpha(tile.getchannel("A"))
    return icon


def main() -> None:
    icon = make_icon()
    icon.resize((512, 512), Image.LANCZOS).save(HERE / "flimage-app.png")
    icon.resize((256, 256), Image.LANCZOS).save(
        HERE / "flimage-app.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128),
                                         (256, 256)])
    icon.resize((512, 512), Image.LANCZOS).save(HERE / "flimage-app.icns")


if __name__ == "__main__":
    main()
