"""Oracle steps shared by the Calendar, Clock, Notes and Files templates, through the accessibility tree.

``collect_rows`` reads a whole list by scrolling it; ``set_field`` replaces a form field's value only when
it differs (a field's shown text is its value, or its hint when empty: pass ``empty_hint`` for those).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

from emulators.actions import Swipe
from emulators.device import AndroidDevice
from tasks import oracle_utils as ou

Action = ou.Action
MAX_PAGES = 10


def swipe_list_up(device: AndroidDevice) -> Iterator[Action]:
    """Scroll the first scrollable list by most of its height."""
    lists = [e for e in device.elements() if e.scrollable]
    if not lists:
        return
    x1, y1, x2, y2 = lists[0].bounds
    yield Swipe((x1 + x2) // 2, y2 - (y2 - y1) // 6, (x1 + x2) // 2, y1 + (y2 - y1) // 6, 300)


def collect_rows(device: AndroidDevice, rid: str) -> Generator[Action, None, list[tuple[str, set[str]]]]:
    """Every row ``rid`` of the on-screen list (label, inner texts), scrolling until no new row shows."""
    seen: dict[str, set[str]] = {}
    for _ in range(MAX_PAGES):
        rows = ou.labelled_nodes(device, rid=rid)
        new = [r for r in rows if r[0] not in seen]
        for label, inner in rows:
            seen.setdefault(label, inner)
        if not new or not any(e.scrollable for e in device.elements()):
            return list(seen.items())
        yield from swipe_list_up(device)
    raise ou.OracleError(f"the list of {rid!r} did not end after {MAX_PAGES} pages")


def set_field(device: AndroidDevice, rid: str, value: str, empty_hint: str | None = None) -> Iterator[Action]:
    """Make the form field ``rid`` hold ``value``: scroll to it, clear what it holds, type."""
    field = yield from ou.scroll_to(device, rid=rid)
    if field.text == value:
        return
    holds_value = bool(field.text) and field.text != empty_hint
    yield from ou.type_into(device, value, clear=holds_value, rid=rid)


def open_row(device: AndroidDevice, app: str, rid: str, **criteria: str | bool | None) -> Iterator[Action]:
    """Open ``app`` and tap the list row ``rid`` matching ``criteria`` (scrolling to it)."""
    yield from ou.open_app(app)
    yield from ou.scroll_to(device, rid=rid, **criteria)
    yield from ou.tap(device, rid=rid, **criteria)
