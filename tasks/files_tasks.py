"""Files templates: create, rename and delete files and folders in shared storage, and questions about them.

Portable: state is the file tree under ``/sdcard`` as ``ls -la`` prints it (toybox, also on a stock image);
setup empties ``Download`` and ``Documents`` with ``rm -rf``, removes the task's own names from ``/sdcard``
and writes its files with ``mkdir -p`` and ``echo > FILE``. The app is AOSP DocumentsUI
(``com.android.documentsui``). ``window_dump.xml`` (written by ``uiautomator dump``) is never a side effect.
"""

from __future__ import annotations

import posixpath
import random
import shlex
from collections.abc import Generator, Iterator
from typing import Any, ClassVar

from emulators.actions import Answer, Terminate
from emulators.device import AndroidDevice
from tasks import answers
from tasks import app_data as ad
from tasks import app_ui as ui
from tasks import oracle_utils as ou
from tasks.app_records import FileEntry, ls_cmd, parse_ls, write_file_cmd
from tasks.base import Episode, Param, register
from tasks.shell_task import ShellTask

ROOT, DOWNLOAD, DOCUMENTS = "/sdcard", "/sdcard/Download", "/sdcard/Documents"
TRACKED = (ROOT, DOWNLOAD, DOCUMENTS)
IGNORED = frozenset({"window_dump.xml"})
FOLDER = Param(str, choices=ad.FOLDER_NAMES)
FILE = Param(str, pattern=r"[a-z0-9_]+\.(pdf|txt|jpg|docx|zip)")
WORLD = Param(int, min=0, max=10**9)
ROW = "item_root"
Listing = dict[str, list[FileEntry]]


def entries(outputs: dict[str, str]) -> Listing:
    return parse_ls(outputs["ls"], TRACKED)


def has(listing: Listing, folder: str, name: str, is_dir: bool | None = None) -> bool:
    return any(e.name == name and is_dir in (None, e.is_dir) for e in listing.get(folder, []))


def tree_changes(before: Listing, after: Listing, allowed: set[str]) -> list[str]:
    """Entries that disappeared from, or appeared in, a tracked folder, except names in ``allowed``."""
    out = []
    for folder in TRACKED:
        old = {e.name for e in before.get(folder, [])} - allowed - IGNORED
        new = {e.name for e in after.get(folder, [])} - allowed - IGNORED
        out += [f"{folder}/{n} was removed" for n in sorted(old - new)]
        out += [f"{folder}/{n} was created" for n in sorted(new - old)]
    return out


# -- oracle steps -------------------------------------------------------------------------------------


def open_folder(device: AndroidDevice, folder: str) -> Iterator[ui.Action]:
    """Open Files (on Internal storage) and walk down to ``folder``."""
    yield from ou.open_app("Files")
    for part in folder.removeprefix(ROOT).strip("/").split("/"):
        if part:
            yield from ou.scroll_to(device, rid=ROW, desc=part)
            yield from ou.tap(device, rid=ROW, desc=part)


def item_menu(device: AndroidDevice, folder: str, name: str) -> Iterator[ui.Action]:
    yield from open_folder(device, folder)
    yield from ou.scroll_to(device, desc=f"More options for {name}")
    yield from ou.tap(device, desc=f"More options for {name}")


def create_item(device: AndroidDevice, folder: str, name: str, button: str) -> Iterator[ui.Action]:
    yield from open_folder(device, folder)
    yield from ou.tap(device, desc=button)
    yield from ou.type_into(device, name, rid="android:id/edit")
    yield from ou.tap(device, rid="android:id/button1")


def rename_item(device: AndroidDevice, folder: str, name: str, new_name: str) -> Iterator[ui.Action]:
    yield from item_menu(device, folder, name)
    yield from ou.tap(device, rid="action_menu_rename")
    yield from ui.set_field(device, "android:id/edit", new_name)
    yield from ou.tap(device, rid="android:id/button1")


def delete_item(device: AndroidDevice, folder: str, name: str) -> Iterator[ui.Action]:
    yield from item_menu(device, folder, name)
    yield from ou.tap(device, rid="action_menu_delete")
    yield from ou.tap(device, rid="android:id/button1")


def folder_items(device: AndroidDevice, folder: str) -> Generator[ui.Action, None, list[str]]:
    yield from open_folder(device, folder)
    rows = yield from ui.collect_rows(device, ROW)
    return [label for label, _ in rows]


# -- templates ------------------------------------------------------------------------------------


class _FilesTask(ShellTask):
    """Start: empty Download and Documents, then ``preload()``; reads ``ls -la`` of the tracked folders."""

    app: ClassVar[str] = "Files"
    difficulty = "medium"
    max_steps = 15
    params_schema = {"world": WORLD}

    def preload(self) -> dict[str, str | None]:
        """Paths to create: a file's text, or None for a folder."""
        rng = random.Random(f"files-world:{self.params['world']}")
        avoid = {v for v in self.params.values() if isinstance(v, str)}
        out: dict[str, str | None] = {}
        for name in [n for n in ad.file_names(rng, 5) if n not in avoid][:4]:
            out[f"{DOWNLOAD}/{name}"] = rng.choice(ad.FILE_TEXTS)
        for name in [n for n in rng.sample(ad.FOLDER_NAMES, 3) if n not in avoid][:2]:
            out[f"{DOCUMENTS}/{name}"] = None
        return out

    def allowed_changes(self) -> set[str]:
        return {v for v in self.params.values() if isinstance(v, str)}

    def setup_commands(self) -> list[str]:
        cmds = [f"mkdir -p {DOWNLOAD} {DOCUMENTS}", f"rm -rf {DOWNLOAD}/* {DOCUMENTS}/*"]
        cmds += [f"rm -rf {shlex.quote(posixpath.join(ROOT, n))}" for n in sorted(self.allowed_changes())]
        for path, text in self.preload().items():
            if text is None:
                cmds.append(f"mkdir -p {shlex.quote(path)}")
            else:
                cmds.append(write_file_cmd(path, text))
        return cmds

    def reads(self) -> dict[str, str]:
        return {"ls": ls_cmd(TRACKED)}

    def side_effects_of(self, before: dict[str, str], after: dict[str, str]) -> list[str]:
        return tree_changes(
            parse_ls(before["ls"], TRACKED), parse_ls(after["ls"], TRACKED), self.allowed_changes()
        )


@register
class CreateFolder(_FilesTask):
    name = "files.create_folder"
    params_schema = {"folder": FOLDER, "world": WORLD}
    phrasings = (
        "Create a folder named {folder} in internal storage.",
        "Make a new folder called {folder} at the top level of my files.",
        "In the Files app, add a folder {folder} to internal storage.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"folder": rng.choice(ad.FOLDER_NAMES), "world": rng.randrange(10**9)}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(has(entries(outputs), ROOT, self.params["folder"], is_dir=True))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from create_item(device, ROOT, self.params["folder"], "New folder")
        yield Terminate("success")


@register
class CreateFolderInDocuments(CreateFolder):
    name = "files.create_folder_in_documents"
    phrasings = (
        "Create a folder named {folder} inside Documents.",
        "In my Documents folder, make a new folder called {folder}.",
        "Add a subfolder {folder} to Documents.",
    )

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(has(entries(outputs), DOCUMENTS, self.params["folder"], is_dir=True))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from create_item(device, DOCUMENTS, self.params["folder"], "New folder")
        yield Terminate("success")


@register
class CreateTextFile(_FilesTask):
    name = "files.create_text_file"
    params_schema = {"file": Param(str, pattern=r"[a-z0-9_]+\.txt"), "world": WORLD}
    phrasings = (
        "Create an empty text file called {file} in Documents.",
        "In Documents, make a new text file named {file}.",
        "Add a text file {file} to my Documents folder.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"file": ad.file_names(rng, 1, ".txt")[0], "world": rng.randrange(10**9)}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(has(entries(outputs), DOCUMENTS, self.params["file"], is_dir=False))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from create_item(device, DOCUMENTS, self.params["file"], "New text file")
        yield Terminate("success")


class _DownloadFile(_FilesTask):
    """A task about the file ``file`` in Download, preloaded among others."""

    params_schema = {"file": FILE, "text": Param(str, choices=ad.FILE_TEXTS), "world": WORLD}

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {
            "file": ad.file_names(rng, 1)[0],
            "text": rng.choice(ad.FILE_TEXTS),
            "world": rng.randrange(10**9),
        }

    def preload(self) -> dict[str, str | None]:
        return {**super().preload(), f"{DOWNLOAD}/{self.params['file']}": self.params["text"]}


@register
class DeleteFile(_DownloadFile):
    name = "files.delete_file"
    phrasings = (
        "Delete the file {file} from my Download folder.",
        "Remove {file} from Downloads.",
        "I no longer need {file} in Download: delete it.",
    )

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        listing = entries(outputs)
        return float(not has(listing, DOWNLOAD, self.params["file"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from delete_item(device, DOWNLOAD, self.params["file"])
        yield Terminate("success")


@register
class RenameFile(_DownloadFile):
    name = "files.rename_file"
    difficulty = "hard"
    max_steps = 40
    params_schema = {**_DownloadFile.params_schema, "new_file": FILE}
    phrasings = (
        "Rename {file} in the Download folder to {new_file}.",
        "In Downloads, change the name of {file} to {new_file}.",
        "The file {file} in Download should be called {new_file}. Rename it.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        old, new = ad.file_names(rng, 2)
        return {
            "file": old,
            "new_file": new,
            "text": rng.choice(ad.FILE_TEXTS),
            "world": rng.randrange(10**9),
        }

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        listing = entries(outputs)
        ok = has(listing, DOWNLOAD, self.params["new_file"], is_dir=False)
        return float(ok and not has(listing, DOWNLOAD, self.params["file"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from rename_item(device, DOWNLOAD, self.params["file"], self.params["new_file"])
        yield Terminate("success")


@register
class ReadTextFile(_DownloadFile):
    name = "files.read_text"
    information = True
    answer_guesses = ("Hello", "It is empty", "Meeting at noon", "Nothing")
    params_schema = {**_DownloadFile.params_schema, "file": Param(str, pattern=r"[a-z0-9_]+\.txt")}
    phrasings = (
        "What does the text file {file} in my Download folder say?",
        "Open {file} in Downloads and tell me its contents.",
        "Read me the text in Download/{file}.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {**super().sample_params(rng), "file": ad.file_names(rng, 1, ".txt")[0]}

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        return self.params["text"]

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(answers.text_matches(episode.answer, self.params["text"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Answer]:
        yield from open_folder(device, DOWNLOAD)
        yield from ou.scroll_to(device, rid=ROW, desc=self.params["file"])
        yield from ou.tap(device, rid=ROW, desc=self.params["file"])
        yield Answer((ou.node_text(device, "text") or "").strip())


class _DocumentsFolder(_FilesTask):
    """A task about the folder ``folder`` in Documents, holding ``files`` files."""

    params_schema = {"folder": FOLDER, "files": Param(int, min=0, max=3), "world": WORLD}

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {
            "folder": rng.choice(ad.FOLDER_NAMES),
            "files": rng.randint(0, 3),
            "world": rng.randrange(10**9),
        }

    def preload(self) -> dict[str, str | None]:
        folder = f"{DOCUMENTS}/{self.params['folder']}"
        rng = random.Random(f"files-folder:{self.params['world']}")
        inside = {
            f"{folder}/{n}": rng.choice(ad.FILE_TEXTS) for n in ad.file_names(rng, self.params["files"])
        }
        return {**super().preload(), folder: None, **inside}


@register
class DeleteFolder(_DocumentsFolder):
    name = "files.delete_folder"
    phrasings = (
        "Delete the folder {folder} in Documents, with everything in it.",
        "Remove the {folder} folder from Documents.",
        "Get rid of Documents/{folder} and its contents.",
    )

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(not has(entries(outputs), DOCUMENTS, self.params["folder"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from delete_item(device, DOCUMENTS, self.params["folder"])
        yield Terminate("success")


@register
class RenameFolder(_DocumentsFolder):
    name = "files.rename_folder"
    difficulty = "hard"
    max_steps = 35
    params_schema = {**_DocumentsFolder.params_schema, "new_folder": FOLDER}
    phrasings = (
        "Rename the folder {folder} in Documents to {new_folder}.",
        "In Documents, change the folder name {folder} to {new_folder}.",
        "Documents/{folder} should be called {new_folder}. Rename the folder.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        old, new = rng.sample(ad.FOLDER_NAMES, 2)
        return {"folder": old, "new_folder": new, "files": rng.randint(0, 3), "world": rng.randrange(10**9)}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        listing = entries(outputs)
        ok = has(listing, DOCUMENTS, self.params["new_folder"], is_dir=True)
        return float(ok and not has(listing, DOCUMENTS, self.params["folder"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from rename_item(device, DOCUMENTS, self.params["folder"], self.params["new_folder"])
        yield Terminate("success")


@register
class CountDownloads(_FilesTask):
    name = "files.count_download"
    information = True
    answer_guesses = ("0", "1", "2")
    params_schema = {"count": Param(int, min=1, max=9), "world": WORLD}
    phrasings = (
        "How many files are in my Download folder?",
        "Count the files in Downloads and tell me the number.",
        "Tell me how many items the Download folder holds.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"count": rng.randint(1, 9), "world": rng.randrange(10**9)}

    def preload(self) -> dict[str, str | None]:
        rng = random.Random(f"files-count:{self.params['world']}")
        docs = {f"{DOCUMENTS}/{n}": "x" for n in ad.file_names(rng, 2)}
        return {
            **docs,
            **{
                f"{DOWNLOAD}/{n}": rng.choice(ad.FILE_TEXTS) for n in ad.file_names(rng, self.params["count"])
            },
        }

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        return str(self.params["count"])

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(answers.count_matches(episode.answer, self.params["count"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Answer]:
        names = yield from folder_items(device, DOWNLOAD)
        yield Answer(str(len(names)))
