"""Contacts (com.android.contacts): list sorted by name with search, create / edit form, detail page
with favourite star, edit and delete (confirmed in a dialog).

Rows live in ``PhoneState.contacts`` (what ``content://com.android.contacts`` serves).
"""

from __future__ import annotations

from emulators.phonesim.apps.base import App, AppContext, register
from emulators.phonesim.state import Contact, PhoneState, normalize_number
from emulators.phonesim.ui import (
    Button,
    Column,
    Dialog,
    Icon,
    ListView,
    Page,
    Text,
    TextField,
    Widget,
    fab,
    list_item,
    section_header,
)

PKG = "com.android.contacts"


def find_contact(state: PhoneState, contact_id: object) -> Contact | None:
    return next((c for c in state.contacts if c.id == contact_id), None)


def matches(contact: Contact, query: str) -> bool:
    """Search as the Contacts app does: name substring (any case) or phone digits."""
    q = query.strip().casefold()
    if not q:
        return True
    if q in contact.name.casefold():
        return True
    if any(ch.isalpha() for ch in q):
        return False
    digits = normalize_number(q).lstrip("+")
    return bool(digits) and any(digits in normalize_number(p) for p in contact.phones)


@register
class ContactsApp(App):
    package = PKG
    label = "Contacts"
    icon = "person"
    colour = (26, 115, 232)
    routes = {
        "main": ".activities.PeopleActivity",
        "detail": ".quickcontact.QuickContactActivity",
        "editor": ".activities.ContactEditorActivity",
    }

    def page_main(self, ctx: AppContext) -> Page:
        query = ctx.screen.text("query")
        people = sorted((c for c in ctx.state.contacts if matches(c, query)),
                        key=lambda c: (c.name.casefold(), c.id))
        rows: list[Widget] = []
        favourites = [c for c in people if c.starred]
        if favourites and not query:
            rows.append(section_header("Favorites"))
            rows += [self._row(ctx, c) for c in favourites]
            rows.append(section_header("All contacts"))
        rows += [self._row(ctx, c) for c in people]
        if not people:
            rows.append(Column([Text("No contacts" if not query else "No matches", 16, "secondary",
                                     align="center", rid=f"{PKG}:id/empty")], pad=(16, 48, 16, 16)))
        search = TextField(ctx.screen, "query", "Search contacts", rid=f"{PKG}:id/search_view",
                           on_change=lambda _: ctx.screen.values.pop("list#scroll", None))
        body = Column([Column([search], pad=(16, 0, 16, 8)), ListView(ctx.screen, "list", rows)])
        add = fab("add", "Create contact", lambda: ctx.push("editor"), rid=f"{PKG}:id/floating_action_button")
        return self.page(ctx, "Contacts", body, fab=add)

    def _row(self, ctx: AppContext, c: Contact) -> Widget:
        star = Icon("star", 20, "accent", desc="Favorite") if c.starred else None
        return list_item(c.name, c.phones[0] if c.phones else None, icon="person", trailing=star,
                         on_click=lambda: ctx.push("detail", id=c.id), rid=f"{PKG}:id/contact_row")

    def page_detail(self, ctx: AppContext) -> Page:
        c = find_contact(ctx.state, ctx.screen.args.get("id"))
        if c is None:
            gone = Column([Text("This contact no longer exists", 16, "secondary", align="center")], pad=24)
            return self.page(ctx, "", gone)
        star = Icon("star" if c.starred else "star_outline", 24, "accent" if c.starred else "primary",
                    desc="Remove from favorites" if c.starred else "Add to favorites",
                    on_click=lambda: self._toggle_star(ctx, c), rid=f"{PKG}:id/menu_star")
        edit = Icon("edit", 24, "primary", desc="Edit contact", rid=f"{PKG}:id/menu_edit",
                    on_click=lambda: ctx.push("editor", id=c.id))
        delete = Icon("delete", 24, "primary", desc="Delete", rid=f"{PKG}:id/menu_delete",
                      on_click=lambda: ctx.open_dialog("delete"))
        rows: list[Widget] = [
            Column([Icon("person", 64, "accent", box_dp=96),
                    Text(c.name, 26, align="center", rid=f"{PKG}:id/large_title")], pad=16, gap=8),
        ]
        rows += [list_item(p, "Mobile", icon="phone", rid=f"{PKG}:id/phone") for p in c.phones]
        rows += [list_item(e, "Email", icon="email", rid=f"{PKG}:id/email") for e in c.emails]
        dialog = None
        if ctx.screen.dialog == "delete":
            dialog = Dialog("Delete this contact?", [Text(f"{c.name} will be removed.", 15, "secondary",
                                                          wrap_lines=True)],
                            [Button("Cancel", ctx.close_dialog, rid="android:id/button2"),
                             Button("Delete", lambda: self._delete(ctx, c), rid="android:id/button1")], PKG)
        return self.page(ctx, "", ListView(ctx.screen, "detail", rows), actions=[star, edit, delete],
                         dialog=dialog)

    def _toggle_star(self, ctx: AppContext, c: Contact) -> None:
        c.starred = not c.starred
        ctx.state.touch()

    def _delete(self, ctx: AppContext, c: Contact) -> None:
        ctx.state.contacts.remove(c)
        ctx.state.touch()
        ctx.close_dialog()
        ctx.pop()
        ctx.toast("Contact deleted")

    def page_editor(self, ctx: AppContext) -> Page:
        v = ctx.screen.values
        existing = find_contact(ctx.state, ctx.screen.args.get("id"))
        if "loaded" not in v:
            v["loaded"] = True
            if existing is not None:
                v.update(name=existing.name, phone=existing.phones[0] if existing.phones else "",
                         email=existing.emails[0] if existing.emails else "")
        fields: list[Widget] = [
            TextField(ctx.screen, "name", "Name", rid=f"{PKG}:id/name_field"),
            TextField(ctx.screen, "phone", "Phone", rid=f"{PKG}:id/phone_field"),
            TextField(ctx.screen, "email", "Email", rid=f"{PKG}:id/email_field"),
        ]
        save = Button("Save", lambda: self._save(ctx, existing), rid=f"{PKG}:id/editor_menu_save_button")
        title = "Edit contact" if existing is not None else "Create contact"
        body = ListView(ctx.screen, "form", [Column(fields, pad=16, gap=8)])
        return self.page(ctx, title, body, actions=[save], back=ctx.pop)

    def _save(self, ctx: AppContext, existing: Contact | None) -> None:
        name, phone = ctx.screen.text("name").strip(), ctx.screen.text("phone").strip()
        email = ctx.screen.text("email").strip()
        if not name and not phone:
            ctx.toast("Enter a name or a phone number")
            return
        if existing is None:
            contact = ctx.state.add_contact(name or phone, [phone] if phone else [], [email] if email else [])
            ctx.pop()
            ctx.push("detail", id=contact.id)
            ctx.toast("Contact saved")
            return
        existing.name = name or phone
        existing.phones[:1] = [phone] if phone else []
        existing.emails[:1] = [email] if email else []
        ctx.state.touch()
        ctx.pop()
        ctx.toast("Contact saved")
