"""Retained-mode widgets: layout, drawing, hit testing and the accessibility attributes of each node.

A widget tree is built by an app from ``PhoneState`` and a ``Screen``; ``place`` gives every widget its
device-pixel ``bounds``, ``draw`` paints it, and ``emulators.phonesim.ui.tree`` walks it for hit testing
and the ``uiautomator dump`` XML. Sizes are given in dp (text in sp) and scaled by the phone's ``Look``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from emulators.phonesim.ui.canvas import Box, Canvas
from emulators.phonesim.ui.theme import RGB, Look, Palette, ellipsize, line_height, text_width, wrap

Action = Callable[[], None]


def role_colour(pal: Palette, role: str) -> RGB:
    return {"primary": pal.on_background, "secondary": pal.secondary, "accent": pal.accent,
            "on_accent": pal.on_accent}[role]


class Widget:
    """Base node: bounds, click handlers and the accessibility flags ``uiautomator dump`` reports."""

    cls: ClassVar[str] = "android.view.View"
    text: str = ""
    checkable: bool = False
    checked: bool = False
    scrollable: bool = False
    focusable: bool = False
    focused: bool = False
    password: bool = False
    selected: bool = False

    def __init__(self, *, rid: str = "", desc: str = "", on_click: Action | None = None,
                 on_long_click: Action | None = None, enabled: bool = True, weight: int = 0) -> None:
        self.rid = rid
        self.desc = desc
        self.on_click = on_click
        self.on_long_click = on_long_click
        self.enabled = enabled
        self.weight = weight  # share of spare space in a Row / Column; 0 = natural size
        self.bounds: Box = (0, 0, 0, 0)

    @property
    def clickable(self) -> bool:
        return self.on_click is not None

    @property
    def long_clickable(self) -> bool:
        return self.on_long_click is not None

    def kids(self) -> Sequence[Widget]:
        return ()

    def natural_width(self, look: Look) -> int:
        return 0

    def measure(self, look: Look, width: int) -> int:
        return 0

    def place(self, look: Look, box: Box) -> None:
        self.bounds = box

    def draw(self, cv: Canvas) -> None:
        for kid in self.kids():
            kid.draw(cv)

    def contains(self, x: float, y: float) -> bool:
        x1, y1, x2, y2 = self.bounds
        return x1 <= x < x2 and y1 <= y < y2


class Spacer(Widget):
    def __init__(self, height_dp: float = 8, weight: int = 0) -> None:
        super().__init__(weight=weight)
        self.height_dp = height_dp

    def measure(self, look: Look, width: int) -> int:
        return look.px(self.height_dp)


class Divider(Widget):
    def measure(self, look: Look, width: int) -> int:
        return max(1, look.px(1))

    def draw(self, cv: Canvas) -> None:
        cv.rect(self.bounds, cv.pal.divider)


class Text(Widget):
    cls = "android.widget.TextView"

    def __init__(self, text: str, size: float = 14, role: str = "primary", *, wrap_lines: bool = False,
                 align: str = "left", **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.text = text
        self.size = size
        self.role = role
        self.wrap_lines = wrap_lines
        self.align = align

    def _lines(self, look: Look, width: int) -> list[str]:
        size = look.sp(self.size)
        if self.wrap_lines:
            return wrap(self.text, size, width)
        return [ellipsize(self.text, size, width)]

    def natural_width(self, look: Look) -> int:
        return text_width(self.text, look.sp(self.size)) + 2

    def measure(self, look: Look, width: int) -> int:
        lines = len(self._lines(look, width)) if self.wrap_lines else 1
        return line_height(look.sp(self.size)) * lines

    def draw(self, cv: Canvas) -> None:
        size = cv.look.sp(self.size)
        colour = role_colour(cv.pal, self.role) if self.enabled else cv.pal.track_off
        x1, y1, x2, _ = self.bounds
        lh = line_height(size)
        for i, line in enumerate(self._lines(cv.look, x2 - x1)):
            x = x1
            if self.align == "center":
                x = (x1 + x2 - text_width(line, size)) // 2
            cv.text(x, y1 + i * lh, line, size, colour)


class Icon(Widget):
    """A vector glyph; with ``on_click`` it is an ImageButton with a 48 dp touch target."""

    def __init__(self, name: str, size: float = 24, role: str = "secondary", *, box_dp: float | None = None,
                 **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.name = name
        self.size = size
        self.role = role
        self.box_dp = box_dp if box_dp is not None else (48 if self.on_click else size)

    @property
    def cls(self) -> str:  # type: ignore[override]
        return "android.widget.ImageButton" if self.on_click else "android.widget.ImageView"

    def natural_width(self, look: Look) -> int:
        return look.px(self.box_dp)

    def measure(self, look: Look, width: int) -> int:
        return look.px(self.box_dp)

    def draw(self, cv: Canvas) -> None:
        x1, y1, x2, y2 = self.bounds
        colour = role_colour(cv.pal, self.role) if self.enabled else cv.pal.track_off
        cv.icon(self.name, (x1 + x2) // 2, (y1 + y2) // 2, cv.look.px(self.size), colour)


class Button(Widget):
    cls = "android.widget.Button"

    def __init__(self, text: str, on_click: Action | None, *, style: str = "filled", **kw: object) -> None:
        super().__init__(on_click=on_click, **kw)  # type: ignore[arg-type]
        self.text = text
        self.style = style  # filled | outlined | text

    def natural_width(self, look: Look) -> int:
        return text_width(self.text, look.sp(14)) + look.px(32)

    def measure(self, look: Look, width: int) -> int:
        return look.px(44)

    def draw(self, cv: Canvas) -> None:
        pal = cv.pal
        x1, y1, x2, y2 = self.bounds
        inner = (x1, y1 + cv.look.px(2), x2, y2 - cv.look.px(2))
        accent = pal.accent if self.enabled else pal.track_off
        if self.style == "filled":
            cv.rrect(inner, cv.look.px(20), fill=accent)
            fg = pal.on_accent
        else:
            if self.style == "outlined":
                cv.rrect(inner, cv.look.px(20), outline=pal.divider, width=max(1, cv.look.px(1)))
            fg = accent
        cv.text_centered(inner, self.text, cv.look.sp(14), fg)


class Toggle(Widget):
    """Switch, CheckBox or RadioButton: a checkable mark with an optional label on its left."""

    kind: ClassVar[str] = "switch"

    def __init__(self, checked: bool, on_change: Callable[[bool], None] | None = None, text: str = "",
                 **kw: object) -> None:
        action = (lambda: on_change(not self.checked)) if on_change else None
        super().__init__(on_click=action, **kw)  # type: ignore[arg-type]
        self.checked = checked
        self.checkable = True
        self.focusable = True
        self.text = text

    def _mark_width(self, look: Look) -> int:
        return look.px(52 if self.kind == "switch" else 40)

    def natural_width(self, look: Look) -> int:
        label = text_width(self.text, look.sp(15)) + look.px(12) if self.text else 0
        return label + self._mark_width(look)

    def measure(self, look: Look, width: int) -> int:
        return look.px(40)

    def draw(self, cv: Canvas) -> None:
        x1, y1, x2, y2 = self.bounds
        look, pal = cv.look, cv.pal
        cy = (y1 + y2) // 2
        if self.text:
            lh = line_height(look.sp(15))
            label = ellipsize(self.text, look.sp(15), x2 - x1 - self._mark_width(look))
            cv.text(x1, cy - lh // 2, label, look.sp(15), pal.on_background)
        on = pal.accent if self.enabled else pal.track_off
        if self.kind == "switch":
            tx2 = x2 - look.px(4)
            track = (tx2 - look.px(44), cy - look.px(12), tx2, cy + look.px(12))
            cv.rrect(track, look.px(12), fill=on if self.checked else pal.track_off)
            r = look.px(9)
            cx = track[2] - look.px(12) if self.checked else track[0] + look.px(12)
            cv.circle(cx, cy, r, fill=(255, 255, 255))
            return
        cx, r = x2 - look.px(20), look.px(9)
        if self.kind == "checkbox":
            box = (cx - r, cy - r, cx + r, cy + r)
            if self.checked:
                cv.rrect(box, look.px(2), fill=on)
                cv.icon("check", cx, cy, look.px(16), pal.on_accent)
            else:
                cv.rrect(box, look.px(2), outline=pal.secondary, width=look.px(2))
        else:
            cv.circle(cx, cy, r, outline=on if self.checked else pal.secondary, width=look.px(2))
            if self.checked:
                cv.circle(cx, cy, look.px(5), fill=on)


class Switch(Toggle):
    cls = "android.widget.Switch"
    kind = "switch"


class CheckBox(Toggle):
    cls = "android.widget.CheckBox"
    kind = "checkbox"


class RadioButton(Toggle):
    cls = "android.widget.RadioButton"
    kind = "radio"


class Slider(Widget):
    """A SeekBar: a tap sets the value under the finger, a horizontal drag moves the thumb."""

    cls = "android.widget.SeekBar"

    def __init__(self, value: int, lo: int, hi: int, on_change: Callable[[int], None], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.value = max(lo, min(hi, value))
        self.lo, self.hi = lo, hi
        self.on_change = on_change
        self.focusable = True
        self.on_click = self._noop  # reported clickable; taps go through ``set_from_x``

    def _noop(self) -> None:
        return None

    def measure(self, look: Look, width: int) -> int:
        return look.px(40)

    def _track(self) -> tuple[int, int]:
        x1, _, x2, _ = self.bounds
        pad = max(1, (x2 - x1) // 24)
        return x1 + pad, x2 - pad

    def set_from_x(self, x: float) -> None:
        t1, t2 = self._track()
        frac = min(1.0, max(0.0, (x - t1) / max(1, t2 - t1)))
        value = self.lo + round(frac * (self.hi - self.lo))
        if value != self.value:
            self.on_change(value)

    def draw(self, cv: Canvas) -> None:
        look, pal = cv.look, cv.pal
        t1, t2 = self._track()
        cy = (self.bounds[1] + self.bounds[3]) // 2
        frac = (self.value - self.lo) / max(1, self.hi - self.lo)
        tx = t1 + round(frac * (t2 - t1))
        h = look.px(2)
        cv.rect((t1, cy - h, t2, cy + h), pal.track_off)
        cv.rect((t1, cy - h, tx, cy + h), pal.accent)
        cv.circle(tx, cy, look.px(9), fill=pal.accent)
