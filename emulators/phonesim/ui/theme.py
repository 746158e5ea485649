"""Look of the simulated phone: colours, sizes in dp, fonts, and seeded domain randomisation.

A ``Look`` is fixed when a phone is made (seed, resolution, ``randomize``) and never changes; the light or
dark ``Palette`` is picked per frame from ``PhoneState.dark_theme``. Fonts are Pillow's bundled FreeType
font (``ImageFont.load_default(size=...)``), so rendering is identical on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]

RESOLUTIONS: dict[str, tuple[int, int]] = {"default": (1080, 2400), "small": (540, 1200)}
DP_WIDTH = 360  # the screen width in dp; density = width_px / DP_WIDTH

ACCENTS: tuple[RGB, ...] = (
    (26, 115, 232), (0, 121, 107), (103, 58, 183), (211, 47, 47), (239, 108, 0), (56, 142, 60),
)
WALLPAPERS: tuple[tuple[RGB, RGB], ...] = (
    ((28, 52, 94), (120, 160, 210)), ((40, 70, 60), (160, 200, 150)), ((70, 40, 90), (220, 150, 170)),
    ((20, 20, 30), (80, 90, 120)), ((90, 60, 30), (230, 190, 120)), ((30, 80, 110), (200, 230, 240)),
)


class UnknownResolution(ValueError):
    """A resolution name that is not one of ``RESOLUTIONS`` or a malformed (width, height)."""


def resolve_resolution(resolution: str | tuple[int, int]) -> tuple[int, int]:
    if isinstance(resolution, str):
        if resolution not in RESOLUTIONS:
            raise UnknownResolution(f"unknown resolution {resolution!r}; use one of {sorted(RESOLUTIONS)}"
                                    " or a (width, height) pair")
        return RESOLUTIONS[resolution]
    w, h = resolution
    if not (isinstance(w, int) and isinstance(h, int) and 240 <= w <= 4096 and 320 <= h <= 8192):
        raise UnknownResolution(f"resolution {resolution!r} must be integers, 240..4096 x 320..8192")
    return w, h


@dataclass(frozen=True)
class Palette:
    background: RGB
    surface: RGB  # cards, dialogs, bars
    on_background: RGB  # primary text
    secondary: RGB  # secondary text, inactive icons
    divider: RGB
    accent: RGB
    on_accent: RGB
    track_off: RGB
    pressed: RGB
    scrim: RGB
    keyboard: RGB
    key: RGB


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def make_palette(accent: RGB, dark: bool) -> Palette:
    if dark:
        return Palette(
            background=(18, 18, 20), surface=(36, 36, 40), on_background=(236, 236, 240),
            secondary=(170, 170, 178), divider=(60, 60, 66), accent=_mix(accent, (255, 255, 255), 0.35),
            on_accent=(16, 16, 16), track_off=(90, 90, 96), pressed=(56, 56, 62), scrim=(8, 8, 10),
            keyboard=(40, 40, 44), key=(70, 70, 76),
        )
    return Palette(
        background=(250, 250, 252), surface=(255, 255, 255), on_background=(28, 28, 30),
        secondary=(96, 96, 104), divider=(222, 222, 228), accent=accent, on_accent=(255, 255, 255),
        track_off=(190, 190, 196), pressed=(232, 232, 238), scrim=(120, 120, 124),
        keyboard=(226, 228, 234), key=(255, 255, 255),
    )


@dataclass(frozen=True)
class Look:
    """Per-phone constants: size, density, randomised accent, wallpaper, font scale, jitter, icon order."""

    width: int
    height: int
    density: float
    font_scale: float
    accent: RGB
    wallpaper: tuple[RGB, RGB]
    jitter: int  # px added to horizontal margins
    icon_seed: int  # launcher icon order

    @classmethod
    def make(cls, size: tuple[int, int], seed: int, randomize: bool) -> Look:
        w, h = size
        density = w / DP_WIDTH
        if not randomize:
            return cls(w, h, density, 1.0, ACCENTS[0], WALLPAPERS[0], 0, -1)
        rng = random.Random(seed * 7919 + 17)
        return cls(
            w, h, density,
            font_scale=rng.choice((0.92, 1.0, 1.0, 1.08)),
            accent=rng.choice(ACCENTS),
            wallpaper=rng.choice(WALLPAPERS),
            jitter=rng.randint(0, round(3 * density)),
            icon_seed=rng.randrange(1 << 30),
        )

    def px(self, dp: float) -> int:
        return round(dp * self.density)

    def sp(self, size: float) -> int:
        return max(8, round(size * self.density * self.font_scale))

    def palette(self, dark: bool) -> Palette:
        return make_palette(self.accent, dark)


@lru_cache(maxsize=64)
def font(size_px: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled FreeType font at ``size_px`` (cached: loading costs ~1 ms)."""
    loaded = ImageFont.load_default(size=size_px)
    assert isinstance(loaded, ImageFont.FreeTypeFont), "Pillow was built without FreeType"
    return loaded


@lru_cache(maxsize=4096)
def text_mask(text: str, size_px: int) -> tuple[Image.Image, int]:
    """An 'L' mask of ``text`` and its x advance; paste it with a fill colour (faster than re-rendering)."""
    f = font(size_px)
    ascent, descent = f.getmetrics()
    width = max(1, round(f.getlength(text)))
    mask = Image.new("L", (width + 2, ascent + descent))
    ImageDraw.Draw(mask).text((0, 0), text, font=f, fill=255)
    return mask, width


@lru_cache(maxsize=16384)
def text_width(text: str, size_px: int) -> int:
    return round(font(size_px).getlength(text))


@lru_cache(maxsize=256)
def line_height(size_px: int) -> int:
    ascent, descent = font(size_px).getmetrics()
    return ascent + descent


def ellipsize(text: str, size_px: int, max_width: int) -> str:
    """``text`` cut with '…' so it fits ``max_width`` px."""
    if max_width <= 0:
        return ""
    if text_width(text, size_px) <= max_width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(text[:mid] + "…", size_px) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…"


def wrap(text: str, size_px: int, max_width: int) -> list[str]:
    """Greedy word wrap; words longer than a line are cut."""
    lines: list[str] = []
    for para in text.split("\n"):
        current = ""
        for word in para.split(" "):
            trial = word if not current else current + " " + word
            if text_width(trial, size_px) <= max_width or not current:
                current = trial
            else:
                lines.append(current)
                current = word
        lines.append(current)
    return [ellipsize(line, size_px, max_width) for line in lines]
