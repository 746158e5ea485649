"""Walking a placed widget tree: hit testing, finding widgets, and ``uiautomator dump`` XML nodes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from xml.sax.saxutils import quoteattr

from emulators.phonesim.ui.canvas import Box
from emulators.phonesim.ui.layout import ListView
from emulators.phonesim.ui.widgets import Divider, Spacer, Widget


def visible_kids(widget: Widget) -> Sequence[Widget]:
    """Children that are on screen (a list hides rows scrolled out of its viewport)."""
    if isinstance(widget, ListView):
        return widget.visible_kids()
    return widget.kids()


def walk(root: Widget) -> Iterator[Widget]:
    """Every on-screen widget, parents before children."""
    yield root
    for kid in visible_kids(root):
        yield from walk(kid)


def hit_path(root: Widget, x: float, y: float) -> list[Widget]:
    """The widgets under (x, y) from ``root`` down to the topmost, deepest one."""
    if not root.contains(x, y):
        return []
    path = [root]
    node = root
    while True:
        under = [k for k in visible_kids(node) if k.contains(x, y)]
        if not under:
            return path
        node = under[-1]  # later siblings are drawn on top
        path.append(node)


def click_target(path: Sequence[Widget], long: bool = False) -> Widget | None:
    """The widget a tap (or long press) at the end of ``path`` goes to; a disabled one swallows it."""
    for widget in reversed(path):
        if widget.clickable or widget.long_clickable:
            if not widget.enabled:
                return None
            if long and widget.long_clickable:
                return widget
            if widget.clickable:
                return widget
    return None


def scroll_target(path: Sequence[Widget]) -> ListView | None:
    for widget in reversed(path):
        if isinstance(widget, ListView) and widget.scrollable:
            return widget
    return None


def _clip(bounds: Box, clip: Box) -> Box:
    return (max(bounds[0], clip[0]), max(bounds[1], clip[1]),
            min(bounds[2], clip[2]), min(bounds[3], clip[3]))


def _flag(value: bool) -> str:
    return "true" if value else "false"


def dump_nodes(widget: Widget, package: str, index: int, clip: Box, out: list[str]) -> None:
    """Append ``widget``'s ``<node>`` (and its children's) to ``out``; bounds are clipped to ``clip``."""
    x1, y1, x2, y2 = _clip(widget.bounds, clip)
    x2, y2 = max(x1, x2), max(y1, y2)
    attrs = (
        f'index="{index}" text={quoteattr(widget.text)} resource-id={quoteattr(widget.rid)} '
        f'class="{widget.cls}" package="{package}" content-desc={quoteattr(widget.desc)} '
        f'checkable="{_flag(widget.checkable)}" checked="{_flag(widget.checked)}" '
        f'clickable="{_flag(widget.clickable)}" enabled="{_flag(widget.enabled)}" '
        f'focusable="{_flag(widget.focusable or widget.clickable)}" focused="{_flag(widget.focused)}" '
        f'scrollable="{_flag(widget.scrollable)}" long-clickable="{_flag(widget.long_clickable)}" '
        f'password="{_flag(widget.password)}" selected="{_flag(widget.selected)}" '
        f'bounds="[{x1},{y1}][{x2},{y2}]"'
    )
    kids = [k for k in visible_kids(widget) if not isinstance(k, (Spacer, Divider))]
    if not kids:
        out.append(f"<node {attrs} />")
        return
    out.append(f"<node {attrs}>")
    inner = _clip(clip, widget.bounds) if isinstance(widget, ListView) else clip
    for i, kid in enumerate(kids):
        dump_nodes(kid, package, i, inner, out)
    out.append("</node>")
