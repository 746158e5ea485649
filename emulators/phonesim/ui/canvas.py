"""Drawing surface handed to widgets: the frame image, ImageDraw, the look and the palette of this frame."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw

from emulators.phonesim.ui.glyphs import glyph_mask
from emulators.phonesim.ui.theme import RGB, Look, Palette, line_height, text_mask

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive end), device pixels


@dataclass
class Canvas:
    image: Image.Image
    draw: ImageDraw.ImageDraw
    look: Look
    pal: Palette
    ox: int = 0  # device coordinates of this canvas's top-left pixel (non-zero for clipped sub-canvases)
    oy: int = 0

    @classmethod
    def blank(cls, look: Look, pal: Palette, colour: RGB | None = None) -> Canvas:
        image = Image.new("RGB", (look.width, look.height), colour or pal.background)
        return cls(image, ImageDraw.Draw(image), look, pal)

    def sub(self, box: Box, colour: RGB) -> Canvas:
        """A canvas covering ``box`` only; draw on it, then ``paste_clipped`` it back."""
        image = Image.new("RGB", (box[2] - box[0], box[3] - box[1]), colour)
        return Canvas(image, ImageDraw.Draw(image), self.look, self.pal, box[0], box[1])

    def paste_clipped(self, sub: Canvas, clip: Box) -> None:
        """Copy the part of ``sub`` inside ``clip`` (device coordinates) onto this canvas."""
        x1, y1 = max(clip[0], sub.ox), max(clip[1], sub.oy)
        x2, y2 = min(clip[2], sub.ox + sub.image.width), min(clip[3], sub.oy + sub.image.height)
        if x2 > x1 and y2 > y1:
            part = sub.image.crop((x1 - sub.ox, y1 - sub.oy, x2 - sub.ox, y2 - sub.oy))
            self.image.paste(part, (x1 - self.ox, y1 - self.oy))

    def _box(self, box: Box) -> Box:
        return box[0] - self.ox, box[1] - self.oy, box[2] - self.ox, box[3] - self.oy

    def rect(self, box: Box, colour: RGB) -> None:
        x1, y1, x2, y2 = self._box(box)
        if x2 > x1 and y2 > y1:
            self.draw.rectangle((x1, y1, x2 - 1, y2 - 1), fill=colour)

    def rrect(self, box: Box, radius: int, fill: RGB | None = None, outline: RGB | None = None,
              width: int = 1) -> None:
        x1, y1, x2, y2 = self._box(box)
        if x2 > x1 and y2 > y1:
            r = max(0, min(radius, (x2 - x1) // 2, (y2 - y1) // 2))
            self.draw.rounded_rectangle((x1, y1, x2 - 1, y2 - 1), radius=r, fill=fill, outline=outline,
                                        width=width)

    def circle(self, cx: int, cy: int, r: int, fill: RGB | None = None, outline: RGB | None = None,
               width: int = 1) -> None:
        cx, cy = cx - self.ox, cy - self.oy
        self.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=outline, width=width)

    def line(self, points: list[tuple[int, int]], colour: RGB, width: int = 1) -> None:
        self.draw.line([(x - self.ox, y - self.oy) for x, y in points], fill=colour, width=width)

    def text(self, x: int, y: int, text: str, size_px: int, colour: RGB) -> None:
        """Draw ``text`` with its line box's top-left at (x, y)."""
        if not text:
            return
        mask, _ = text_mask(text, size_px)
        x, y = x - self.ox, y - self.oy
        self.image.paste(colour, (x, y, x + mask.width, y + mask.height), mask)

    def text_centered(self, box: Box, text: str, size_px: int, colour: RGB) -> None:
        if not text:
            return
        mask, width = text_mask(text, size_px)
        x = (box[0] + box[2] - width) // 2
        y = (box[1] + box[3] - line_height(size_px)) // 2 - self.oy
        x -= self.ox
        self.image.paste(colour, (x, y, x + mask.width, y + mask.height), mask)

    def icon(self, name: str, cx: int, cy: int, size_px: int, colour: RGB) -> None:
        """Icon ``name`` centred on (cx, cy)."""
        mask = glyph_mask(name, size_px)
        x, y = cx - size_px // 2 - self.ox, cy - size_px // 2 - self.oy
        self.image.paste(colour, (x, y, x + size_px, y + size_px), mask)
