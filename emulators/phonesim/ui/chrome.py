"""Page furniture: list items, top app bar, bottom navigation / tabs, dialogs, the page itself, keyboard."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from emulators.phonesim.ui.canvas import Box, Canvas
from emulators.phonesim.ui.layout import Column, Row
from emulators.phonesim.ui.theme import Look
from emulators.phonesim.ui.widgets import Action, Button, Icon, Spacer, Text, Widget


def list_item(title: str, subtitle: str | None = None, *, icon: str | None = None,
              trailing: Widget | None = None, on_click: Action | None = None,
              on_long_click: Action | None = None, rid: str = "", desc: str = "",
              enabled: bool = True) -> Row:
    """A one- or two-line list row (clickable as a whole), optional leading icon and trailing widget."""
    texts: list[Widget] = [Text(title, 16, enabled=enabled, rid="android:id/title")]
    if subtitle:
        texts.append(Text(subtitle, 13, "secondary", enabled=enabled, rid="android:id/summary"))
    kids: list[Widget] = []
    if icon:
        kids.append(Icon(icon, 24, "accent" if enabled else "secondary", box_dp=40))
    kids.append(Column(texts, weight=1, cls="android.widget.RelativeLayout"))
    if trailing is not None:
        kids.append(trailing)
    return Row(kids, pad=(16, 8, 16, 8), gap=16, min_height=64 if subtitle else 56, on_click=on_click,
               on_long_click=on_long_click, rid=rid, desc=desc or title, enabled=enabled)


def section_header(title: str) -> Widget:
    return Column([Text(title, 13, "accent")], pad=(16, 16, 16, 4))


class AppBar(Row):
    """The top app bar: optional back arrow ("Navigate up"), title, action icons."""

    cls = "android.view.ViewGroup"

    def __init__(self, title: str, package: str, back: Action | None, actions: Sequence[Widget] = ()) -> None:
        kids: list[Widget] = []
        if back is not None:
            kids.append(Icon("back", 24, "primary", desc="Navigate up", on_click=back))
        else:
            kids.append(Spacer(0))
        kids.append(Text(title, 22, weight=1))
        kids.extend(actions)
        super().__init__(kids, pad=(4, 0, 4, 0), gap=8, min_height=64, rid=f"{package}:id/toolbar")


class NavItems(Row):
    """Bottom navigation (icon over label) or tabs (label, underlined when selected)."""

    def __init__(self, items: Sequence[tuple[str, str]], selected: int, on_select: Callable[[int], None],
                 package: str, *, tabs: bool = False) -> None:
        cells: list[Widget] = []
        for i, (label, icon) in enumerate(items):
            cell = _NavCell(label, icon, i == selected, (lambda i=i: on_select(i)), tabs,
                            rid=f"{package}:id/{'tab' if tabs else 'navigation_bar_item'}")
            cells.append(cell)
        super().__init__(cells, min_height=48 if tabs else 72, bg=None if tabs else "surface")


class _NavCell(Column):
    cls = "android.widget.FrameLayout"

    def __init__(self, label: str, icon: str, selected: bool, action: Action, tabs: bool, rid: str) -> None:
        role = "accent" if selected else "secondary"
        kids: list[Widget] = [Text(label, 14 if tabs else 12, role, align="center")]
        if not tabs:
            kids.insert(0, Icon(icon, 24, role, box_dp=32))
        super().__init__(kids, pad=(0, 10, 0, 8), gap=2, weight=1, on_click=action, rid=rid, desc=label)
        self.selected = selected
        self.tabs = tabs

    def natural_width(self, look: Look) -> int:
        return 0

    def place(self, look: Look, box: Box) -> None:
        super().place(look, box)
        for kid in self.children:  # centre the icon
            x1, y1, x2, y2 = kid.bounds
            if isinstance(kid, Icon):
                w = x2 - x1
                cx = (box[0] + box[2]) // 2
                kid.bounds = (cx - w // 2, y1, cx - w // 2 + w, y2)

    def draw(self, cv: Canvas) -> None:
        super().draw(cv)
        if self.tabs and self.selected:
            x1, _, x2, y2 = self.bounds
            cv.rect((x1 + cv.look.px(12), y2 - cv.look.px(3), x2 - cv.look.px(12), y2), cv.pal.accent)


class Dialog(Column):
    """A modal dialog: title, body widgets, a row of text buttons at the bottom right."""

    cls = "android.widget.FrameLayout"

    def __init__(self, title: str, body: Sequence[Widget], buttons: Sequence[Button], package: str) -> None:
        for b in buttons:
            b.style = "text"
        kids: list[Widget] = [Text(title, 20, wrap_lines=True, rid="android:id/alertTitle"), *body,
                              Row([Spacer(0, weight=1), *buttons], gap=8)]
        super().__init__(kids, pad=(24, 24, 16, 12), gap=14, bg="surface", radius=24,
                         rid=f"{package}:id/parentPanel")

    def place_centered(self, look: Look, screen_box: Box) -> None:
        x1, y1, x2, y2 = screen_box
        w = x2 - x1 - look.px(48)
        h = self.measure(look, w)
        top = max(y1, (y1 + y2 - h) // 2)
        self.place(look, (x1 + look.px(24), top, x1 + look.px(24) + w, top + h))


class Page(Widget):
    """What an app's ``build`` returns: app bar, body (fills the middle), bottom bar, FAB and dialog."""

    cls = "android.widget.FrameLayout"

    def __init__(self, title: str | None, body: Widget, *, package: str, back: Action | None = None,
                 actions: Sequence[Widget] = (), bottom: Widget | None = None, fab: Widget | None = None,
                 dialog: Dialog | None = None) -> None:
        super().__init__(rid="android:id/content")
        self.bar = AppBar(title, package, back, actions) if title is not None else None
        self.body, self.bottom, self.fab, self.dialog = body, bottom, fab, dialog

    def kids(self) -> Sequence[Widget]:
        return [w for w in (self.bar, self.body, self.bottom, self.fab) if w is not None]

    def place(self, look: Look, box: Box) -> None:
        self.bounds = box
        x1, y1, x2, y2 = box
        top = y1
        if self.bar is not None:
            h = self.bar.measure(look, x2 - x1) + look.jitter
            self.bar.place(look, (x1, y1, x2, y1 + h))
            top += h
        bottom = y2
        if self.bottom is not None:
            bottom -= self.bottom.measure(look, x2 - x1)
            self.bottom.place(look, (x1, bottom, x2, y2))
        self.body.place(look, (x1 + look.jitter, top, x2 - look.jitter, bottom))
        if self.fab is not None:
            size = look.px(56)
            fx2, fy2 = x2 - look.px(16), bottom - look.px(16)
            self.fab.place(look, (fx2 - size, fy2 - size, fx2, fy2))
        if self.dialog is not None:
            self.dialog.place_centered(look, box)

    def draw(self, cv: Canvas) -> None:
        self.body.draw(cv)  # first, so bars paint over anything a list draws beyond its viewport
        if self.bar is not None:
            cv.rect(self.bar.bounds, cv.pal.background)
            self.bar.draw(cv)
        if self.bottom is not None:
            self.bottom.draw(cv)
        if self.fab is not None:
            x1, y1, x2, y2 = self.fab.bounds
            cv.rrect(self.fab.bounds, cv.look.px(16), fill=cv.pal.accent)
            if isinstance(self.fab, Icon):
                cv.icon(self.fab.name, (x1 + x2) // 2, (y1 + y2) // 2, cv.look.px(24), cv.pal.on_accent)


def fab(icon: str, desc: str, on_click: Action, rid: str = "") -> Icon:
    """A floating action button (drawn by ``Page``)."""
    return Icon(icon, 24, "on_accent", box_dp=56, desc=desc, on_click=on_click, rid=rid)


KEY_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")


class Key(Widget):
    cls = "android.widget.Button"

    def __init__(self, label: str, action: Action, wide: int = 1) -> None:
        super().__init__(on_click=action, weight=wide, desc=label)
        self.label = label

    def measure(self, look: Look, width: int) -> int:
        return look.px(46)

    def draw(self, cv: Canvas) -> None:
        x1, y1, x2, y2 = self.bounds
        m = cv.look.px(3)
        cv.rrect((x1 + m, y1 + m, x2 - m, y2 - m), cv.look.px(6), fill=cv.pal.key)
        name = {"⌫": "back", "⏎": "check"}.get(self.label)
        if name:
            cv.icon(name, (x1 + x2) // 2, (y1 + y2) // 2, cv.look.px(20), cv.pal.on_background)
        else:
            cv.text_centered(self.bounds, self.label, cv.look.sp(18), cv.pal.on_background)


class Keyboard(Column):
    """The on-screen keyboard shown while a field has focus; its keys type like ``input text`` does."""

    def __init__(self, type_text: Callable[[str], None], delete: Action, enter: Action) -> None:
        rows: list[Widget] = []
        for chars in KEY_ROWS:
            keys: list[Widget] = [Key(c, (lambda c=c: type_text(c))) for c in chars]
            if chars == "zxcvbnm":
                keys.append(Key("⌫", delete, wide=2))
            rows.append(Row(keys))
        rows.append(Row([Key(",", lambda: type_text(",")), Key("space", lambda: type_text(" "), wide=5),
                         Key(".", lambda: type_text(".")), Key("⏎", enter, wide=2)]))
        super().__init__(rows, pad=(4, 6, 4, 6), bg="keyboard", rid="com.android.inputmethod:id/keyboard")
