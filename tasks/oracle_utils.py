"""Building blocks for oracles: find what is on screen through the accessibility tree, and act on it.

Oracles are generators of actions; between two yielded actions the caller executes the first, so each
helper observes the device afresh. Helpers that locate something return it with ``yield from``::

    field = yield from scroll_to(device, rid="name")
    yield from type_into(device, "Ana Diaz", rid="name")

Elements are the numbered interactive elements of ``emulators.elements.number_elements`` (the same
numbering prompts use); ``screen_texts`` also reads non-interactive text (for information tasks).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Generator, Iterator

from emulators.actions import Key, OpenApp, Swipe, Tap, Type
from emulators.device import AndroidDevice
from emulators.elements import Element
from tasks.base import TaskError

Action = Tap | Swipe | Type | Key | OpenApp


class OracleError(TaskError):
    """The screen did not show what an oracle expected; the message lists what it did show."""


def _matches(el: Element, text: str | None, rid: str | None, desc: str | None, contains: bool) -> bool:
    if rid is not None and not (el.resource_id == rid or el.resource_id.endswith(f":id/{rid}")):
        return False
    for want, got in ((text, el.text), (desc, el.content_desc)):
        if want is None:
            continue
        if contains and want.casefold() not in got.casefold():
            return False
        if not contains and want.casefold() != got.casefold():
            return False
    return True


def find(
    device: AndroidDevice,
    *,
    text: str | None = None,
    rid: str | None = None,
    desc: str | None = None,
    contains: bool = False,
    label: str | None = None,
) -> Element | None:
    """The first element matching every given criterion (case-insensitive), or None.

    ``rid`` matches a full resource-id or its ``…:id/NAME`` suffix; ``label`` matches text or content-desc.
    """
    for el in device.elements():
        if label is not None and not (
            _matches(el, label, None, None, contains) or _matches(el, None, None, label, contains)
        ):
            continue
        if _matches(el, text, rid, desc, contains):
            return el
    return None


def describe_screen(device: AndroidDevice, limit: int = 25) -> str:
    return "; ".join(
        f"{el.label or '?'}[{el.resource_id.rsplit('/', 1)[-1]}]" for el in device.elements()[:limit]
    )


def require(device: AndroidDevice, **criteria: str | bool | None) -> Element:
    """Like ``find`` but raise ``OracleError`` (naming what the screen shows) when nothing matches."""
    el = find(device, **criteria)  # type: ignore[arg-type]
    if el is None:
        raise OracleError(f"no element {criteria} on screen; screen shows: {describe_screen(device)}")
    return el


def tap(device: AndroidDevice, **criteria: str | bool | None) -> Iterator[Action]:
    """Tap the centre of the element matching ``criteria``."""
    el = require(device, **criteria)
    yield Tap(*el.center)


def open_app(app: str) -> Iterator[Action]:
    yield OpenApp(app)


def type_into(
    device: AndroidDevice, text: str, clear: bool = False, **criteria: str | bool | None
) -> Iterator[Action]:
    """Focus the field matching ``criteria`` (tap unless focused) and type ``text``.

    With ``clear``, first move to the end and delete what the field shows, one DEL per character (an empty
    field reports its hint as text, so pass ``clear`` only for fields that hold a value).
    """
    field = require(device, **criteria)
    if not field.focused:
        yield Tap(*field.center)
        field = require(device, **criteria)
    if clear and field.text:
        yield Key("MOVE_END")
        for _ in field.text:
            yield Key("DEL")
    yield Type(text)


def scroll_to(
    device: AndroidDevice, max_swipes: int = 12, **criteria: str | bool | None
) -> Generator[Action, None, Element]:
    """Swipe the first scrollable list up until an element matching ``criteria`` shows; return it."""
    for _ in range(max_swipes + 1):
        el = find(device, **criteria)  # type: ignore[arg-type]
        if el is not None:
            return el
        lists = [e for e in device.elements() if e.scrollable]
        if not lists:
            break
        x1, y1, x2, y2 = lists[0].bounds
        x, top, bottom = (x1 + x2) // 2, y1 + (y2 - y1) // 5, y2 - (y2 - y1) // 5
        yield Swipe(x, bottom, x, top, 300)
    raise OracleError(f"no element {criteria} after scrolling; screen shows: {describe_screen(device)}")


def inside(inner: Element, outer: Element) -> bool:
    a, b = inner.bounds, outer.bounds
    return a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]


def row_toggle(device: AndroidDevice, label: str) -> tuple[Element, Element | None]:
    """A list row labelled ``label`` and the checkable widget (switch, checkbox) inside it, if any."""
    row = require(device, label=label)
    for el in device.elements():
        if el.checkable and inside(el, row):
            return row, el
    return row, None


def set_row_toggle(device: AndroidDevice, label: str, want: bool) -> Iterator[Action]:
    """Scroll to the row ``label`` and tap it unless its switch already shows ``want``."""
    yield from scroll_to(device, label=label)
    row, toggle = row_toggle(device, label)
    if toggle is None:
        raise OracleError(f"row {label!r} holds no switch; screen shows: {describe_screen(device)}")
    if toggle.checked != want:
        yield Tap(*row.center)


def screen_texts(device: AndroidDevice) -> list[str]:
    """Every non-empty text and content description on screen, in document order (any node)."""
    out: list[str] = []
    for node in _dump_root(device).iter("node"):
        for attr in ("text", "content-desc"):
            value = node.get(attr, "")
            if value:
                out.append(value)
    return out


def _dump_root(device: AndroidDevice) -> ET.Element:
    xml = device.ui_dump()
    start, end = xml.find("<hierarchy"), xml.rfind("</hierarchy>")
    if start < 0 or end < 0:
        raise OracleError("the accessibility dump has no <hierarchy>")
    return ET.fromstring(xml[start : end + len("</hierarchy>")])


def row_texts(device: AndroidDevice, label: str) -> list[str]:
    """Texts inside the first node whose content-desc or text is ``label`` (a list row's title, summary…)."""
    for node in _dump_root(device).iter("node"):
        if label in (node.get("content-desc"), node.get("text")):
            return [n.get("text", "") for n in node.iter("node") if n is not node and n.get("text")]
    raise OracleError(f"no node labelled {label!r}; screen shows: {describe_screen(device)}")


def set_slider(
    device: AndroidDevice, value: int, lo: int, hi: int, tries: int = 4, **criteria: str | bool | None
) -> Iterator[Action]:
    """Tap a SeekBar where ``value`` should be; where the bar reports its value as text, correct it."""
    bar = require(device, **criteria)
    x1, _, x2, _ = bar.bounds
    cy = bar.center[1]
    x = x1 + (value - lo) / (hi - lo) * (x2 - x1)
    for _ in range(tries):
        yield Tap(min(x2 - 1, max(x1, round(x))), cy)
        bar = require(device, **criteria)
        if not bar.text.strip().lstrip("-").isdigit() or int(bar.text) == value:
            return
        x += (value - int(bar.text)) / (hi - lo) * (x2 - x1)


def labelled_nodes(device: AndroidDevice, rid: str) -> list[tuple[str, set[str]]]:
    """Nodes whose resource-id is ``rid`` (or ends in ``/rid``): their label and every text and
    content-desc inside them."""
    out = []
    for node in _dump_root(device).iter("node"):
        res = node.get("resource-id", "")
        if res == rid or res.endswith(f":id/{rid}"):
            label = node.get("text") or node.get("content-desc") or ""
            inner = {
                n.get(a, "") for n in node.iter("node") if n is not node for a in ("text", "content-desc")
            }
            out.append((label, inner - {""}))
    return out


def node_text(device: AndroidDevice, rid: str) -> str | None:
    """The text of the first node (interactive or not) whose resource-id is ``rid`` or ends in ``/rid``."""
    for node in _dump_root(device).iter("node"):
        res = node.get("resource-id", "")
        if res == rid or res.endswith(f":id/{rid}"):
            return node.get("text", "")
    return None
