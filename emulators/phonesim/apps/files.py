"""Files (com.android.documentsui): browse /sdcard, create folders and text files, rename, delete.

Files live in ``PhoneState.files`` (absolute path -> ``FileNode``), the same tree the shell's ``ls``,
``cat``, ``mkdir`` and ``rm`` see. Folders are listed first, then files, each by name (case-insensitive).
Long-pressing an item, or its "More options" button, opens a menu with Rename and Delete; deleting asks
first and removes a folder with everything in it. Tapping a text file shows its contents.
"""

from __future__ import annotations

import datetime as dt
import posixpath

from emulators.phonesim.apps.base import App, AppContext, register
from emulators.phonesim.state import FileNode, PhoneState
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
    list_item,
)

PKG = "com.android.documentsui"
ROOT = "/sdcard"
ROOT_TITLE = "Internal storage"


class BadFileName(ValueError):
    """A name that cannot be given to a new or renamed file or folder."""


def children(state: PhoneState, folder: str) -> list[str]:
    """Paths directly inside ``folder``: folders first, then files, each by name."""
    kids = [p for p in state.files if p != folder and posixpath.dirname(p) == folder]
    return sorted(kids, key=lambda p: (not state.files[p].is_dir, posixpath.basename(p).lower()))


def check_name(state: PhoneState, folder: str, name: str, current: str | None = None) -> str:
    """The path ``name`` would have in ``folder``; raise ``BadFileName`` saying what is wrong."""
    name = name.strip()
    if not name:
        raise BadFileName("Enter a name")
    if "/" in name or name in (".", ".."):
        raise BadFileName(f"{name!r} is not a valid name")
    path = posixpath.join(folder, name)
    if path != current and path in state.files:
        raise BadFileName(f"{name} already exists")
    return path


def move_tree(state: PhoneState, src: str, dst: str) -> None:
    """Rename ``src`` (and everything under it) to ``dst``."""
    moved = {p: n for p, n in state.files.items() if p == src or p.startswith(src + "/")}
    for p in moved:
        del state.files[p]
    for p, node in moved.items():
        state.files[dst + p[len(src):]] = node
    state.files[dst].mtime_ms = state.now_ms
    state.touch()


def delete_tree(state: PhoneState, path: str) -> None:
    for p in [p for p in state.files if p == path or p.startswith(path + "/")]:
        del state.files[p]
    state.touch()


def describe(state: PhoneState, path: str) -> str:
    """The list row's second line: "3 items" for a folder, "12 B, Mar 2" for a file."""
    node = state.files[path]
    if node.is_dir:
        count = len(children(state, path))
        return f"{count} item" + ("" if count == 1 else "s")
    when = dt.datetime.fromtimestamp(node.mtime_ms / 1000, tz=dt.UTC)
    size = len(node.data)
    shown = f"{size} B" if size < 1024 else f"{size / 1024:.1f} kB"
    return f"{shown}, {when:%b} {when.day}"


def _folder(ctx: AppContext) -> str:
    return str(ctx.screen.args.get("path", ROOT))


def _ask_name(ctx: AppContext, kind: str, name: str) -> None:
    """Open a dialog with a name field, focused so the keyboard comes up."""
    ctx.open_dialog(kind, filename=name)
    ctx.screen.focus = "filename"


@register
class FilesApp(App):
    package = PKG
    label = "Files"
    icon = "folder"
    colour = (0, 137, 123)
    routes = {"main": ".files.FilesActivity", "view": ".viewer.TextViewerActivity"}

    # -- a folder -------------------------------------------------------------------------------------
    def page_main(self, ctx: AppContext) -> Page:
        s, folder = ctx.state, _folder(ctx)
        if folder not in s.files:
            gone = Column([Text("This folder no longer exists", 16, "secondary")], pad=16)
            return self.page(ctx, posixpath.basename(folder), gone)
        rows = [self._row(ctx, p) for p in children(s, folder)]
        crumb = Text(folder.replace(ROOT, ROOT_TITLE, 1), 13, "secondary", rid=f"{PKG}:id/breadcrumb")
        parts: list[Widget] = [Column([crumb], pad=(16, 0, 16, 6))]
        if rows:
            parts.append(ListView(ctx.screen, "files", rows, rid=f"{PKG}:id/dir_list"))
        else:
            parts.append(Column([Text("No items", 16, "secondary", align="center",
                                      rid=f"{PKG}:id/message")], pad=(16, 48, 16, 16)))
        actions = [
            Icon("add", 24, "primary", desc="New folder", rid=f"{PKG}:id/action_menu_create_dir",
                 on_click=lambda: _ask_name(ctx, "new_folder", "")),
            Icon("edit", 24, "primary", desc="New text file", rid=f"{PKG}:id/action_menu_create_file",
                 on_click=lambda: _ask_name(ctx, "new_file", "")),
        ]
        title = ROOT_TITLE if folder == ROOT else posixpath.basename(folder)
        return self.page(ctx, title, Column(parts), actions=actions, dialog=self._dialog(ctx))

    def _row(self, ctx: AppContext, path: str) -> Widget:
        name = posixpath.basename(path)
        node = ctx.state.files[path]
        more = Icon("more", 24, desc=f"More options for {name}", rid=f"{PKG}:id/action_icon",
                    on_click=lambda: ctx.open_dialog("menu", target=path))
        route = "main" if node.is_dir else "view"
        return list_item(name, describe(ctx.state, path), icon="folder" if node.is_dir else "note",
                         trailing=more, on_click=lambda: ctx.push(route, path=path),
                         on_long_click=lambda: ctx.open_dialog("menu", target=path),
                         rid=f"{PKG}:id/item_root", desc=name)

    # -- dialogs --------------------------------------------------------------------------------------
    def _dialog(self, ctx: AppContext) -> Dialog | None:
        kind = ctx.screen.dialog
        target = str(ctx.screen.values.get("target", ""))
        if kind == "menu" and target in ctx.state.files:
            name = posixpath.basename(target)
            items = [
                list_item("Rename", icon="edit", rid=f"{PKG}:id/action_menu_rename",
                          on_click=lambda: _ask_name(ctx, "rename", name)),
                list_item("Delete", icon="delete", rid=f"{PKG}:id/action_menu_delete",
                          on_click=lambda: ctx.open_dialog("delete")),
            ]
            return Dialog(name, items, [Button("Cancel", ctx.close_dialog, rid="android:id/button2")], PKG)
        if kind == "delete" and target in ctx.state.files:
            name = posixpath.basename(target)
            what = "folder and everything in it" if ctx.state.files[target].is_dir else "file"
            buttons = [Button("Cancel", ctx.close_dialog, rid="android:id/button2"),
                       Button("Delete", lambda: self._delete(ctx, target), rid="android:id/button1")]
            return Dialog(f"Delete {name}?", [Text(f"This {what} will be deleted.", 15, "secondary",
                                                   wrap_lines=True)], buttons, PKG)
        titles = {"new_folder": ("New folder", "Create"), "new_file": ("New text file", "Create"),
                  "rename": ("Rename", "Rename")}
        if kind in titles:
            title, ok = titles[kind]
            field = TextField(ctx.screen, "filename", "Name", rid="android:id/edit",
                              on_submit=lambda: self._submit(ctx, kind))
            buttons = [Button("Cancel", ctx.close_dialog, rid="android:id/button2"),
                       Button(ok, lambda: self._submit(ctx, kind), rid="android:id/button1")]
            return Dialog(title, [field], buttons, PKG)
        return None

    def _submit(self, ctx: AppContext, kind: str) -> None:
        s, folder = ctx.state, _folder(ctx)
        target = str(ctx.screen.values.get("target", ""))
        current = target if kind == "rename" else None
        try:
            path = check_name(s, folder, ctx.screen.text("filename"), current=current)
        except BadFileName as e:
            ctx.toast(str(e))
            return
        if kind == "rename":
            if target in s.files and path != target:
                move_tree(s, target, path)
        else:
            is_dir = kind == "new_folder"
            s.files[path] = FileNode(is_dir=is_dir, mtime_ms=s.now_ms, mode=0o771 if is_dir else 0o660)
            s.touch()
        ctx.close_dialog()

    def _delete(self, ctx: AppContext, target: str) -> None:
        delete_tree(ctx.state, target)
        ctx.close_dialog()
        ctx.toast(f"{posixpath.basename(target)} deleted")

    # -- a text file ----------------------------------------------------------------------------------
    def page_view(self, ctx: AppContext) -> Page:
        path = str(ctx.screen.args.get("path", ""))
        node = ctx.state.files.get(path)
        if node is None or node.is_dir:
            text = "This file no longer exists"
        else:
            text = node.data.decode("utf-8", errors="replace") or "(empty file)"
        body = ListView(ctx.screen, "text", [Column([Text(text, 15, wrap_lines=True, rid=f"{PKG}:id/text")],
                                                    pad=16)])
        return self.page(ctx, posixpath.basename(path), body)
