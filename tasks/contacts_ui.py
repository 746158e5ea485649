"""Oracle steps for the Contacts app, through its accessibility tree.

Resource ids and labels are those of the AOSP Contacts app as PhoneSim renders it: the list rows
(``contact_row``, labelled by name), the "Create contact" button, the editor fields (``name_field``,
``phone_field``, ``email_field``, ``editor_menu_save_button``) and the detail page's actions
(``menu_star``, ``menu_edit``, ``menu_delete``; phone and e-mail rows ``phone`` / ``email``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

from emulators.actions import Swipe
from emulators.device import AndroidDevice
from tasks import oracle_utils as ou

Action = ou.Action
MAX_PAGES = 10


def open_contact(device: AndroidDevice, name: str) -> Iterator[Action]:
    """Open Contacts and the detail page of ``name``."""
    yield from ou.open_app("Contacts")
    yield from ou.scroll_to(device, label=name, rid="contact_row")
    yield from ou.tap(device, label=name, rid="contact_row")


def add_contact(device: AndroidDevice, name: str, phone: str | None, email: str | None) -> Iterator[Action]:
    yield from ou.open_app("Contacts")
    yield from ou.tap(device, desc="Create contact")
    yield from ou.type_into(device, name, rid="name_field")
    if phone:
        yield from ou.type_into(device, phone, rid="phone_field")
    if email:
        yield from ou.type_into(device, email, rid="email_field")
    yield from ou.tap(device, rid="editor_menu_save_button")


def delete_contact(device: AndroidDevice, name: str) -> Iterator[Action]:
    yield from open_contact(device, name)
    yield from ou.tap(device, rid="menu_delete")
    yield from ou.tap(device, rid="android:id/button1")


def set_favourite(device: AndroidDevice, name: str, want: bool) -> Iterator[Action]:
    yield from open_contact(device, name)
    star = ou.require(device, rid="menu_star")
    if (star.content_desc == "Remove from favorites") != want:
        yield from ou.tap(device, rid="menu_star")


def edit_contact(
    device: AndroidDevice, name: str, *, phone: str | None = None, new_name: str | None = None
) -> Iterator[Action]:
    """Open ``name`` in the editor, replace the given fields, save."""
    yield from open_contact(device, name)
    yield from ou.tap(device, rid="menu_edit")
    if new_name is not None:
        yield from ou.type_into(device, new_name, clear=True, rid="name_field")
    if phone is not None:
        yield from ou.type_into(device, phone, clear=True, rid="phone_field")
    yield from ou.tap(device, rid="editor_menu_save_button")


def read_contact_field(device: AndroidDevice, name: str, kind: str) -> Generator[Action, None, str]:
    """Open ``name`` and return the first ``phone`` or ``email`` shown on its detail page."""
    yield from open_contact(device, name)
    shown = ou.labelled_nodes(device, rid=kind)
    if not shown:
        raise ou.OracleError(f"{name!r} shows no {kind}; screen shows: {ou.describe_screen(device)}")
    return shown[0][0]


def count_favourites(device: AndroidDevice) -> Generator[Action, None, int]:
    """Scroll the whole list and count the distinct contacts that show a favourite star."""
    yield from ou.open_app("Contacts")
    seen: set[str] = set()
    starred: set[str] = set()
    for _ in range(MAX_PAGES):
        rows = ou.labelled_nodes(device, rid="contact_row")
        new = [r for r in rows if r[0] not in seen]
        seen.update(label for label, _ in rows)
        starred.update(label for label, inner in rows if "Favorite" in inner)
        if not new:
            return len(starred)
        lists = [e for e in device.elements() if e.scrollable]
        if not lists:
            return len(starred)
        x1, y1, x2, y2 = lists[0].bounds
        yield Swipe((x1 + x2) // 2, y2 - (y2 - y1) // 6, (x1 + x2) // 2, y1 + (y2 - y1) // 6, 300)
    raise ou.OracleError(f"the contact list did not end after {MAX_PAGES} pages")
