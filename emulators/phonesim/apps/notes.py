"""Notes (com.phonesim.notes): a list of notes, newest first; write, edit and delete them.

Notes live in ``PhoneState.notes`` (the shell's ``content://com.phonesim.notes/notes``; simulator-only).
As in Google Keep, leaving the editor (Save, the back arrow or BACK) keeps what was typed; a note left
with neither title nor body is discarded.
"""

from __future__ import annotations

from collections.abc import Callable

from emulators.phonesim.apps.base import App, AppContext, register
from emulators.phonesim.state import Note
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
)

PKG = "com.phonesim.notes"


def _find(ctx: AppContext, note_id: object) -> Note | None:
    return next((n for n in ctx.state.notes if n.id == note_id), None)


def _snippet(body: str) -> str:
    first = body.strip().split("\n", 1)[0]
    return first[:60]


def _delete_note(ctx: AppContext, note_id: object) -> None:
    ctx.state.notes[:] = [n for n in ctx.state.notes if n.id != note_id]
    ctx.state.touch()
    ctx.toast("Note deleted")


def _delete_dialog(ctx: AppContext, on_delete: Callable[[], None]) -> Dialog:
    def delete() -> None:
        ctx.close_dialog()
        on_delete()

    buttons = [Button("Cancel", ctx.close_dialog, rid="android:id/button2"),
               Button("Delete", delete, rid="android:id/button1")]
    return Dialog("Delete this note?", [Text("It will be removed for good.", 15, "secondary")], buttons, PKG)


@register
class NotesApp(App):
    package = PKG
    label = "Notes"
    icon = "note"
    colour = (255, 179, 0)
    routes = {"main": ".NotesListActivity", "edit": ".NoteEditorActivity"}

    def page_main(self, ctx: AppContext) -> Page:
        notes = sorted(ctx.state.notes, key=lambda n: (-n.modified_ms, -n.id))
        rows: list[Widget] = [
            list_item(n.title or "Untitled", _snippet(n.body) or None, icon="note",
                      on_click=lambda n=n: ctx.push("edit", id=n.id),
                      on_long_click=lambda n=n: ctx.open_dialog("delete", target=n.id),
                      rid=f"{PKG}:id/note_item")
            for n in notes
        ]
        body: Widget = ListView(ctx.screen, "notes", rows, rid=f"{PKG}:id/notes_list")
        if not rows:
            body = Column([Text("No notes yet", 16, "secondary", align="center", rid=f"{PKG}:id/empty")],
                          pad=(16, 48, 16, 16))
        dialog = None
        if ctx.screen.dialog == "delete":
            target = ctx.screen.values.get("target")
            dialog = _delete_dialog(ctx, lambda: _delete_note(ctx, target))
        return self.page(ctx, "Notes", body, dialog=dialog,
                         fab=fab("add", "New note", lambda: ctx.push("edit"), rid=f"{PKG}:id/fab_new_note"))

    def page_edit(self, ctx: AppContext) -> Page:
        v = ctx.screen.values
        note = _find(ctx, ctx.screen.args.get("id"))
        if "loaded" not in v:
            v["loaded"] = True
            if note is not None:
                v.update(title=note.title, body=note.body)
        title = TextField(ctx.screen, "title", "Title", rid=f"{PKG}:id/note_title",
                          on_submit=lambda: setattr(ctx.screen, "focus", "body"))
        body = TextField(ctx.screen, "body", "Note", lines=8, rid=f"{PKG}:id/note_body")
        actions: list[Widget] = []
        if note is not None:
            actions.append(Icon("delete", 24, "primary", desc="Delete note", rid=f"{PKG}:id/action_delete",
                                on_click=lambda: ctx.open_dialog("delete")))
        actions.append(Icon("check", 24, "primary", desc="Save", rid=f"{PKG}:id/action_save",
                            on_click=lambda: self._close(ctx)))
        dialog = None
        if ctx.screen.dialog == "delete" and note is not None:
            dialog = _delete_dialog(ctx, lambda: self._delete_and_close(ctx, note.id))
        form = Column([title, body], pad=(16, 8, 16, 8), gap=8)
        return self.page(ctx, "Edit note" if note is not None else "New note",
                         ListView(ctx.screen, "form", [form]), actions=actions, back=lambda: self._close(ctx),
                         dialog=dialog)

    def on_back(self, ctx: AppContext) -> bool:
        if ctx.screen.dialog is not None:
            ctx.close_dialog()
            return True
        if ctx.screen.route == "edit":
            self._save(ctx)
        return False

    def _close(self, ctx: AppContext) -> None:
        self._save(ctx)
        ctx.pop()

    def _delete_and_close(self, ctx: AppContext, note_id: int) -> None:
        _delete_note(ctx, note_id)
        ctx.pop()

    def _save(self, ctx: AppContext) -> None:
        """Store the editor's text: update the note, create one, or discard an empty one."""
        title, body = ctx.screen.text("title").strip(), ctx.screen.text("body").rstrip()
        note = _find(ctx, ctx.screen.args.get("id"))
        if not title and not body:
            if note is not None:
                _delete_note(ctx, note.id)
            elif ctx.screen.values.get("title") or ctx.screen.values.get("body"):
                ctx.toast("Empty note discarded")
            return
        if note is None:
            created = ctx.state.add_note(title, body)
            ctx.screen.args["id"] = created.id  # a second save updates, never duplicates
            ctx.toast("Note saved")
        elif (note.title, note.body) != (title, body):
            note.title, note.body, note.modified_ms = title, body, ctx.state.now_ms
            ctx.state.touch()
            ctx.toast("Note saved")
