"""Vector icons drawn with ImageDraw on a 24-unit grid, cached as masks per (name, size).

Each glyph is a short list of strokes and fills; ``glyph_mask`` renders it once at 4x and downsamples so
edges are smooth, then callers paste the mask with any colour.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

from PIL import Image, ImageDraw

SS = 4  # supersampling factor


class UnknownGlyph(KeyError):
    """An icon name with no drawing."""


Pen = Callable[[ImageDraw.ImageDraw, Callable[[float], float]], None]


def _poly(*pts: float) -> list[tuple[float, float]]:
    return [(pts[i], pts[i + 1]) for i in range(0, len(pts), 2)]


def _star(d: ImageDraw.ImageDraw, u: Callable[[float], float], filled: bool) -> None:
    pts = []
    for i in range(10):
        r = 10 if i % 2 == 0 else 4.2
        a = -math.pi / 2 + i * math.pi / 5
        pts.append((u(12 + r * math.cos(a)), u(12.5 + r * math.sin(a))))
    if filled:
        d.polygon(pts, fill=255)
    else:
        d.line(pts + [pts[0]], fill=255, width=round(u(1.8)), joint="curve")


def _gear(d: ImageDraw.ImageDraw, u: Callable[[float], float]) -> None:
    for i in range(8):
        a = i * math.pi / 4
        x, y = 12 + 8.5 * math.cos(a), 12 + 8.5 * math.sin(a)
        d.ellipse((u(x - 2.2), u(y - 2.2), u(x + 2.2), u(y + 2.2)), fill=255)
    d.ellipse((u(5), u(5), u(19), u(19)), fill=255)
    d.ellipse((u(9), u(9), u(15), u(15)), fill=0)


def _wifi(d: ImageDraw.ImageDraw, u: Callable[[float], float]) -> None:
    d.pieslice((u(1), u(3), u(23), u(25)), 225, 315, fill=255)


def _battery_frame(d: ImageDraw.ImageDraw, u: Callable[[float], float]) -> None:
    d.rectangle((u(9), u(2), u(15), u(4)), fill=255)
    d.rectangle((u(6), u(4), u(18), u(22)), outline=255, width=round(u(1.8)))


def _calculator(d: ImageDraw.ImageDraw, u: Callable[[float], float]) -> None:
    d.rounded_rectangle((u(5), u(2), u(19), u(22)), radius=u(2), outline=255, width=round(u(2)))
    d.rectangle((u(8), u(5), u(16), u(9)), fill=255)
    for r in range(3):
        for c in range(3):
            x, y = 8.5 + c * 3.5, 12 + r * 3.3
            d.rectangle((u(x - 0.9), u(y - 0.9), u(x + 0.9), u(y + 0.9)), fill=255)


W2 = 2.0  # default stroke width in grid units


def line(*pts: float, width: float = W2) -> Pen:
    return lambda d, u: d.line([(u(x), u(y)) for x, y in _poly(*pts)], fill=255, width=round(u(width)),
                               joint="curve")


def both(*pens: Pen) -> Pen:
    def pen(d: ImageDraw.ImageDraw, u: Callable[[float], float]) -> None:
        for p in pens:
            p(d, u)
    return pen


def ring(x1: float, y1: float, x2: float, y2: float, width: float = W2) -> Pen:
    return lambda d, u: d.ellipse((u(x1), u(y1), u(x2), u(y2)), outline=255, width=round(u(width)))


def disc(x1: float, y1: float, x2: float, y2: float) -> Pen:
    return lambda d, u: d.ellipse((u(x1), u(y1), u(x2), u(y2)), fill=255)


def box(x1: float, y1: float, x2: float, y2: float, width: float = W2) -> Pen:
    return lambda d, u: d.rectangle((u(x1), u(y1), u(x2), u(y2)), outline=255, width=round(u(width)))


def fill(*pts: float) -> Pen:
    return lambda d, u: d.polygon([(u(x), u(y)) for x, y in _poly(*pts)], fill=255)


def _glyphs() -> dict[str, Pen]:
    return {
        "back": both(line(20, 12, 5, 12), line(11, 5, 4, 12, 11, 19)),
        "nav_back": fill(17, 4, 17, 20, 5, 12),
        "nav_home": ring(5, 5, 19, 19, 2.2),
        "nav_recents": box(5, 5, 19, 19, 2.2),
        "wifi": _wifi,
        "wifi_off": both(line(3, 3, 21, 21), ring(4, 6, 20, 22, 1.6)),
        "bluetooth": line(7, 7, 17, 16, 12, 21, 12, 3, 17, 8, 7, 17),
        "airplane": fill(11, 2, 13, 2, 13.5, 9, 22, 14, 22, 16, 13.5, 13.5, 13, 19, 16, 21, 16, 22.5,
                         12, 21.5, 8, 22.5, 8, 21, 11, 19, 10.5, 13.5, 2, 16, 2, 14, 10.5, 9),
        "battery": _battery_frame,
        "search": both(ring(3, 3, 16, 16), line(14.5, 14.5, 21, 21, width=2.6)),
        "add": both(line(12, 4, 12, 20), line(4, 12, 20, 12)),
        "close": both(line(5, 5, 19, 19), line(19, 5, 5, 19)),
        "check": line(4, 12.5, 9.5, 18, 20, 6.5, width=2.4),
        "star": lambda d, u: _star(d, u, True),
        "star_outline": lambda d, u: _star(d, u, False),
        "edit": fill(4, 20, 5, 15.5, 15.5, 5, 19, 8.5, 8.5, 19),
        "delete": both(box(6, 7, 18, 21), line(4, 6, 20, 6), line(9.5, 3.5, 14.5, 3.5)),
        "more": both(disc(10.5, 4, 13.5, 7), disc(10.5, 10.5, 13.5, 13.5), disc(10.5, 17, 13.5, 20)),
        "chevron": line(9, 5, 16, 12, 9, 19),
        "settings": _gear,
        "person": both(disc(8, 3, 16, 11), lambda d, u: d.pieslice((u(4), u(13), u(20), u(29)), 180, 360,
                                                                    fill=255)),
        "phone": fill(5, 3, 9, 3, 11, 8, 8.5, 10, 14, 15.5, 16, 13, 21, 15, 21, 19, 18, 21, 3, 6),
        "email": both(box(3, 5, 21, 19), line(3, 6, 12, 13, 21, 6)),
        "message": fill(3, 4, 21, 4, 21, 16, 8, 16, 3, 21),
        "calendar": both(box(3, 5, 21, 21), lambda d, u: d.rectangle((u(3), u(5), u(21), u(9)), fill=255),
                         line(7, 2, 7, 6), line(17, 2, 17, 6), disc(14, 13, 18, 17)),
        "folder": fill(2, 5, 9, 5, 11, 7, 22, 7, 22, 20, 2, 20),
        "clock": both(ring(2, 2, 22, 22), line(12, 6, 12, 12, 16, 15)),
        "note": both(box(5, 3, 19, 21), line(8, 8, 16, 8), line(8, 12, 16, 12), line(8, 16, 13, 16)),
        "calculator": _calculator,
        "display": both(disc(7, 7, 17, 17), *[line(12 + 7 * math.cos(a), 12 + 7 * math.sin(a),
                                                   12 + 10 * math.cos(a), 12 + 10 * math.sin(a))
                                              for a in [i * math.pi / 4 for i in range(8)]]),
        "sound": both(fill(3, 9, 7, 9, 13, 4, 13, 20, 7, 15, 3, 15),
                      lambda d, u: d.arc((u(10), u(6), u(21), u(18)), 300, 60, fill=255, width=round(u(2)))),
        "info": both(ring(2, 2, 22, 22), line(12, 10.5, 12, 17.5, width=2.2), disc(10.8, 6, 13.2, 8.4)),
        "network": fill(2, 21, 21, 2, 21, 21),
        "apps": both(*[disc(4 + 6.5 * c, 4 + 6.5 * r, 7.5 + 6.5 * c, 7.5 + 6.5 * r)
                       for r in range(3) for c in range(3)]),
    }


GLYPHS: dict[str, Pen] = _glyphs()


@lru_cache(maxsize=512)
def glyph_mask(name: str, size_px: int) -> Image.Image:
    """An 'L' mask of icon ``name``, ``size_px`` square, anti-aliased by supersampling."""
    if name not in GLYPHS:
        raise UnknownGlyph(f"no icon {name!r}; known: {', '.join(sorted(GLYPHS))}")
    big = size_px * SS
    mask = Image.new("L", (big, big))
    draw = ImageDraw.Draw(mask)
    scale = big / 24

    def u(v: float) -> float:
        return v * scale

    GLYPHS[name](draw, u)
    return mask.resize((size_px, size_px), Image.Resampling.BOX)
