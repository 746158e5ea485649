"""Containers and the stateful widgets: Column, Row, scrollable ListView, RadioGroup, TextField.

State that must outlive a rebuild (scroll offset, field text, focus) is read from and written to the
``Screen`` the widget was built for, under the widget's ``key``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from emulators.phonesim.ui.canvas import Box, Canvas
from emulators.phonesim.ui.screen import Screen
from emulators.phonesim.ui.theme import RGB, Look, Palette, ellipsize, line_height, text_width, wrap
from emulators.phonesim.ui.widgets import Action, RadioButton, Widget

Pad = tuple[float, float, float, float]  # left, top, right, bottom in dp


def _pad(pad: float | Pad) -> Pad:
    return (pad, pad, pad, pad) if isinstance(pad, (int, float)) else pad


def bg_colour(pal: Palette, bg: str | None) -> RGB | None:
    return None if bg is None else {"surface": pal.surface, "background": pal.background,
                                    "accent": pal.accent, "keyboard": pal.keyboard, "key": pal.key}[bg]


class Column(Widget):
    """A vertical LinearLayout; children with ``weight`` share the height left over."""

    cls = "android.widget.LinearLayout"

    def __init__(self, children: Sequence[Widget], *, pad: float | Pad = 0, gap: float = 0,
                 bg: str | None = None, radius: float = 0, cls: str | None = None, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.children = [c for c in children if c is not None]
        self.pad, self.gap, self.bg, self.radius = _pad(pad), gap, bg, radius
        if cls:
            self.cls = cls  # type: ignore[misc]

    def kids(self) -> Sequence[Widget]:
        return self.children

    def _inner(self, look: Look, box: Box) -> Box:
        left, top, right, bottom = (look.px(p) for p in self.pad)
        return box[0] + left, box[1] + top, box[2] - right, box[3] - bottom

    def natural_width(self, look: Look) -> int:
        left, _, right, _ = (look.px(p) for p in self.pad)
        return max((c.natural_width(look) for c in self.children), default=0) + left + right

    def measure(self, look: Look, width: int) -> int:
        left, top, right, bottom = (look.px(p) for p in self.pad)
        heights = [c.measure(look, width - left - right) for c in self.children]
        return sum(heights) + look.px(self.gap) * max(0, len(heights) - 1) + top + bottom

    def place(self, look: Look, box: Box) -> None:
        self.bounds = box
        x1, y1, x2, y2 = self._inner(look, box)
        heights = [0 if c.weight else c.measure(look, x2 - x1) for c in self.children]
        gap = look.px(self.gap)
        spare = (y2 - y1) - sum(heights) - gap * max(0, len(heights) - 1)
        weights = sum(c.weight for c in self.children)
        y = y1
        for child, h in zip(self.children, heights, strict=True):
            if child.weight:
                h = max(0, spare * child.weight // weights)
            child.place(look, (x1, y, x2, y + h))
            y += h + gap

    def draw(self, cv: Canvas) -> None:
        fill = bg_colour(cv.pal, self.bg)
        if fill is not None:
            cv.rrect(self.bounds, cv.look.px(self.radius), fill=fill)
        for child in self.children:
            child.draw(cv)


class Row(Widget):
    """A horizontal LinearLayout; children are centred vertically, weighted ones share spare width."""

    cls = "android.widget.LinearLayout"

    def __init__(self, children: Sequence[Widget], *, pad: float | Pad = 0, gap: float = 0,
                 bg: str | None = None, min_height: float = 0, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.children = [c for c in children if c is not None]
        self.pad, self.gap, self.bg, self.min_height = _pad(pad), gap, bg, min_height

    def kids(self) -> Sequence[Widget]:
        return self.children

    def natural_width(self, look: Look) -> int:
        left, _, right, _ = (look.px(p) for p in self.pad)
        gaps = look.px(self.gap) * max(0, len(self.children) - 1)
        return sum(c.natural_width(look) for c in self.children) + gaps + left + right

    def _widths(self, look: Look, inner_w: int) -> list[int]:
        widths = [0 if c.weight else c.natural_width(look) for c in self.children]
        spare = inner_w - sum(widths) - look.px(self.gap) * max(0, len(widths) - 1)
        weights = sum(c.weight for c in self.children)
        return [max(0, spare * c.weight // weights) if c.weight else w
                for c, w in zip(self.children, widths, strict=True)]

    def measure(self, look: Look, width: int) -> int:
        left, top, right, bottom = (look.px(p) for p in self.pad)
        widths = self._widths(look, width - left - right)
        tallest = max((c.measure(look, w) for c, w in zip(self.children, widths, strict=True)), default=0)
        return max(look.px(self.min_height), tallest + top + bottom)

    def place(self, look: Look, box: Box) -> None:
        self.bounds = box
        left, top, right, bottom = (look.px(p) for p in self.pad)
        x1, y1, x2, y2 = box[0] + left, box[1] + top, box[2] - right, box[3] - bottom
        x = x1
        for child, w in zip(self.children, self._widths(look, x2 - x1), strict=True):
            h = min(y2 - y1, child.measure(look, w))
            cy = (y1 + y2 - h) // 2
            child.place(look, (x, cy, x + w, cy + h))
            x += w + look.px(self.gap)

    def draw(self, cv: Canvas) -> None:
        fill = bg_colour(cv.pal, self.bg)
        if fill is not None:
            cv.rect(self.bounds, fill)
        for child in self.children:
            child.draw(cv)


class ListView(Widget):
    """A vertically scrolling list; a swipe scrolls it by the swipe distance. Give it ``weight=1``."""

    cls = "androidx.recyclerview.widget.RecyclerView"

    def __init__(self, screen: Screen, key: str, children: Sequence[Widget], *, gap: float = 0,
                 bg: str | None = None, **kw: object) -> None:
        kw.setdefault("weight", 1)
        super().__init__(**kw)  # type: ignore[arg-type]
        self.screen, self.key = screen, key
        self.children = [c for c in children if c is not None]
        self.gap, self.bg = gap, bg
        self.content_height = 0

    @property
    def scroll_key(self) -> str:
        return f"{self.key}#scroll"

    @property
    def max_offset(self) -> int:
        return max(0, self.content_height - (self.bounds[3] - self.bounds[1]))

    @property
    def offset(self) -> int:
        raw = self.screen.values.get(self.scroll_key, 0)
        return max(0, min(self.max_offset, raw if isinstance(raw, int) else 0))

    def kids(self) -> Sequence[Widget]:
        return self.children

    def visible_kids(self) -> list[Widget]:
        _, y1, _, y2 = self.bounds
        return [c for c in self.children if c.bounds[3] > y1 and c.bounds[1] < y2]

    def measure(self, look: Look, width: int) -> int:
        heights = [c.measure(look, width) for c in self.children]
        return sum(heights) + look.px(self.gap) * max(0, len(heights) - 1)

    def place(self, look: Look, box: Box) -> None:
        self.bounds = box
        x1, y1, x2, _ = box
        heights = [c.measure(look, x2 - x1) for c in self.children]
        gap = look.px(self.gap)
        self.content_height = sum(heights) + gap * max(0, len(heights) - 1)
        self.scrollable = self.max_offset > 0
        y = y1 - self.offset
        for child, h in zip(self.children, heights, strict=True):
            child.place(look, (x1, y, x2, y + h))
            y += h + gap

    def scroll_by(self, dy: float) -> bool:
        """Scroll the content up by ``dy`` px (a finger moving up); return whether it moved."""
        new = max(0, min(self.max_offset, self.offset + round(dy)))
        if new == self.offset:
            return False
        self.screen.values[self.scroll_key] = new
        return True

    def draw(self, cv: Canvas) -> None:
        background = bg_colour(cv.pal, self.bg) or cv.pal.background
        if self.bg is not None:
            cv.rect(self.bounds, background)
        _, y1, _, y2 = self.bounds
        for child in self.visible_kids():
            if child.bounds[1] >= y1 and child.bounds[3] <= y2:
                child.draw(cv)
            else:  # partly scrolled out: draw alone, then copy only the part inside the viewport
                sub = cv.sub(child.bounds, background)
                child.draw(sub)
                cv.paste_clipped(sub, self.bounds)


class RadioGroup(Column):
    """Radio buttons, one per option; tapping one calls ``on_select(index)``."""

    def __init__(self, options: Sequence[str], selected: int | None, on_select: Callable[[int], None],
                 *, rid: str = "", **kw: object) -> None:
        buttons: list[Widget] = [
            RadioButton(i == selected, (lambda _c, i=i: on_select(i)), text=label, rid=rid)
            for i, label in enumerate(options)
        ]
        super().__init__(buttons, cls="android.widget.RadioGroup", **kw)


class TextField(Widget):
    """An EditText bound to ``screen.values[key]``; tapping focuses it and brings up the keyboard."""

    cls = "android.widget.EditText"

    def __init__(self, screen: Screen, key: str, hint: str = "", *, password: bool = False,
                 lines: int = 1, on_submit: Action | None = None,
                 on_change: Callable[[str], None] | None = None, **kw: object) -> None:
        super().__init__(on_click=self.focus, **kw)  # type: ignore[arg-type]
        self.screen, self.key, self.hint = screen, key, hint
        self.password, self.lines = password, lines
        self.on_submit, self.on_change = on_submit, on_change
        self.value = screen.text(key)
        self.focusable = True
        self.focused = screen.focus == key
        self.on_long_click = self.focus
        # As in uiautomator dumps, an empty field reports its hint as text; a password shows dots.
        self.text = ("•" * len(self.value) if password else self.value) or hint

    def focus(self) -> None:
        self.screen.focus = self.key

    def _set(self, value: str) -> None:
        self.screen.values[self.key] = value
        self.value = value
        if self.on_change is not None:
            self.on_change(value)

    def insert(self, text: str) -> None:
        self._set(self.value + text)

    def delete(self) -> None:
        if self.value:
            self._set(self.value[:-1])

    def enter(self) -> None:
        """ENTER: a new line in a multi-line field; otherwise submit and drop focus."""
        if self.lines > 1:
            self.insert("\n")
            return
        self.screen.focus = None
        if self.on_submit is not None:
            self.on_submit()

    def measure(self, look: Look, width: int) -> int:
        return look.px(24) + line_height(look.sp(16)) * self.lines + look.px(8)

    def draw(self, cv: Canvas) -> None:
        look, pal = cv.look, cv.pal
        x1, y1, x2, y2 = self.bounds
        box = (x1, y1 + look.px(4), x2, y2 - look.px(4))
        colour = pal.accent if self.focused else pal.secondary
        cv.rrect(box, look.px(6), fill=pal.surface, outline=colour, width=look.px(2 if self.focused else 1))
        size, pad = look.sp(16), look.px(12)
        shown = "•" * len(self.value) if self.password else self.value
        room = x2 - x1 - 2 * pad
        lines = wrap(shown, size, room) if self.lines > 1 else [ellipsize(shown, size, room)]
        lines = lines[-self.lines:] if shown else [ellipsize(self.hint, size, room)]
        lh = line_height(size)
        top = box[1] + look.px(10) if self.lines > 1 else (box[1] + box[3] - lh) // 2
        for i, line in enumerate(lines):
            cv.text(x1 + pad, top + i * lh, line, size, pal.on_background if shown else pal.secondary)
        if self.focused:
            cx = x1 + pad + (text_width(lines[-1], size) if shown else 0) + look.px(1)
            cy = top + lh * (len(lines) - 1)
            cv.rect((cx, cy + look.px(2), cx + max(1, look.px(1.5)), cy + lh - look.px(2)), pal.accent)
