"""Notes templates: write, extend, rename and delete notes, a question about a note, and one two-app task
with Files.

Simulator-only: stock Android has no notes provider, so state is read from PhoneSim's
``content://com.phonesim.notes/notes`` (``title``, ``body``). The app behaves like Google Keep: leaving the
editor keeps what was typed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any, ClassVar

from emulators.actions import Answer, Key, Terminate
from emulators.device import AndroidDevice
from tasks import answers
from tasks import app_data as ad
from tasks import app_ui as ui
from tasks import oracle_utils as ou
from tasks.app_records import NOTES, NoteRecord, note_insert_cmd, notes_from, notes_query, same_text
from tasks.base import Episode, Param, register
from tasks.files_tasks import DOWNLOAD, _FilesTask, open_folder
from tasks.shell_reads import delete_cmd
from tasks.shell_task import ShellTask

TITLE = Param(str, choices=ad.NOTE_TITLES)
BODY = Param(str, choices=ad.NOTE_BODIES)
WORLD = Param(int, min=0, max=10**9)
ROW = "note_item"


def world_notes(world: int, k: int, avoid: list[str]) -> list[tuple[str, str]]:
    rng = random.Random(f"notes-world:{world}")
    titles = rng.sample([t for t in ad.NOTE_TITLES if t not in avoid], k)
    bodies = rng.sample([b for b in ad.NOTE_BODIES if b not in avoid], k)
    return list(zip(titles, bodies, strict=True))


def titled(notes: list[NoteRecord], title: str) -> list[NoteRecord]:
    return [n for n in notes if same_text(n.title, title)]


def note_changes(before: list[NoteRecord], after: list[NoteRecord], allowed: set[str]) -> list[str]:
    now = {n.id: n for n in after}
    out = []
    for n in before:
        if any(same_text(n.title, a) for a in allowed):
            continue
        if n.id not in now:
            out.append(f"note {n.title!r} was deleted")
        elif (now[n.id].title, now[n.id].body) != (n.title, n.body):
            out.append(f"note {n.title!r} was changed")
    return out


# -- oracle steps -------------------------------------------------------------------------------------


def open_note(device: AndroidDevice, title: str) -> Iterator[ui.Action]:
    yield from ui.open_row(device, "Notes", ROW, desc=title)


def write_note(device: AndroidDevice, title: str, body: str | None) -> Iterator[ui.Action]:
    yield from ou.open_app("Notes")
    yield from ou.tap(device, rid="fab_new_note")
    yield from ui.set_field(device, "note_title", title, empty_hint="Title")
    if body is not None:
        yield from ui.set_field(device, "note_body", body, empty_hint="Note")
    yield from ou.tap(device, rid="action_save")


# -- templates ------------------------------------------------------------------------------------


class _NotesTask(ShellTask):
    """Start: the notes of ``planned()`` only; reads the notes table."""

    app: ClassVar[str] = "Notes"
    sim_only = True
    difficulty = "medium"
    max_steps = 15
    params_schema = {"title": TITLE, "body": BODY, "world": WORLD}
    preload_target: ClassVar[bool] = True

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {
            "title": rng.choice(ad.NOTE_TITLES),
            "body": rng.choice(ad.NOTE_BODIES),
            "world": rng.randrange(10**9),
        }

    def titles(self) -> list[str]:
        return [v for k, v in self.params.items() if "title" in k]

    def planned(self) -> list[tuple[str, str]]:
        p = self.params
        others = world_notes(p["world"], 3, self.titles() + [p.get("body", "")])
        rng = random.Random(f"notes-place:{p['world']}")
        if self.preload_target:
            others.insert(rng.randint(0, len(others)), (p["title"], p["body"]))
        return others

    def setup_commands(self) -> list[str]:
        return [delete_cmd(NOTES)] + [note_insert_cmd(t, b) for t, b in self.planned()]

    def reads(self) -> dict[str, str]:
        return {"notes": notes_query()}

    def mine(self, outputs: dict[str, str]) -> list[NoteRecord]:
        return titled(notes_from(outputs["notes"]), self.params["title"])

    def side_effects_of(self, before: dict[str, str], after: dict[str, str]) -> list[str]:
        return note_changes(notes_from(before["notes"]), notes_from(after["notes"]), set(self.titles()))


@register
class CreateNote(_NotesTask):
    name = "notes.create"
    difficulty = "hard"
    max_steps = 20
    preload_target = False
    phrasings = (
        "Create a note titled {title} that says: {body}",
        "Write a new note. Title: {title}. Text: {body}",
        "Make a note called '{title}' with the text '{body}'.",
    )

    def potential(self, outputs: dict[str, str]) -> float:
        found = self.mine(outputs)
        return max((0.5 + 0.5 * same_text(n.body, self.params["body"]) for n in found), default=0.0)

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(self.potential(outputs) == 1.0)

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from write_note(device, self.params["title"], self.params["body"])
        yield Terminate("success")


@register
class CreateTitledNote(_NotesTask):
    name = "notes.create_titled"
    preload_target = False
    params_schema = {"title": TITLE, "world": WORLD}
    phrasings = (
        "Create an empty note titled {title}.",
        "Start a new note called {title}; it needs no text yet.",
        "Add a note named '{title}' to my notes.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"title": rng.choice(ad.NOTE_TITLES), "world": rng.randrange(10**9)}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(bool(self.mine(outputs)))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from write_note(device, self.params["title"], None)
        yield Terminate("success")


@register
class AppendToNote(_NotesTask):
    name = "notes.append"
    difficulty = "hard"
    max_steps = 20
    params_schema = {**_NotesTask.params_schema, "extra": Param(str, choices=ad.NOTE_ADDITIONS)}
    phrasings = (
        "Add the line '{extra}' at the end of my note {title}.",
        "Append '{extra}' to the note called {title}.",
        "In the note {title}, add a new last line: {extra}",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {**super().sample_params(rng), "extra": rng.choice(ad.NOTE_ADDITIONS)}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        found = self.mine(outputs)
        if len(found) != 1:
            return 0.0
        body = answers.normalize_text(found[0].body)
        start, end = answers.normalize_text(self.params["body"]), answers.normalize_text(self.params["extra"])
        return float(body.startswith(start) and body.endswith(end) and len(body) > len(start))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from open_note(device, self.params["title"])
        yield from ou.tap(device, rid="note_body")
        yield Key("MOVE_END")
        yield Key("ENTER")
        yield from ou.type_into(device, self.params["extra"], rid="note_body")
        yield from ou.tap(device, rid="action_save")
        yield Terminate("success")


@register
class DeleteNote(_NotesTask):
    name = "notes.delete"
    phrasings = (
        "Delete my note {title}.",
        "Remove the note called '{title}'.",
        "I don't need the {title} note any more. Delete it.",
    )

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(not self.mine(outputs))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from open_note(device, self.params["title"])
        yield from ou.tap(device, rid="action_delete")
        yield from ou.tap(device, rid="android:id/button1")
        yield Terminate("success")


@register
class RenameNote(_NotesTask):
    name = "notes.rename"
    difficulty = "hard"
    max_steps = 35
    params_schema = {**_NotesTask.params_schema, "new_title": TITLE}
    phrasings = (
        "Rename my note {title} to {new_title}.",
        "Change the title of the note '{title}' to '{new_title}', keeping its text.",
        "The note {title} should be titled {new_title}. Update it.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        old, new = rng.sample(ad.NOTE_TITLES, 2)
        return {**super().sample_params(rng), "title": old, "new_title": new}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        notes = notes_from(outputs["notes"])
        renamed = [
            n for n in titled(notes, self.params["new_title"]) if same_text(n.body, self.params["body"])
        ]
        return float(len(renamed) == 1 and not titled(notes, self.params["title"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from open_note(device, self.params["title"])
        yield from ui.set_field(device, "note_title", self.params["new_title"])
        yield from ou.tap(device, rid="action_save")
        yield Terminate("success")


@register
class NoteBody(_NotesTask):
    name = "notes.body_of"
    information = True
    answer_guesses = ("Buy milk", "Nothing", "Shopping list", "Call mom")
    phrasings = (
        "What does my note {title} say?",
        "Read me the text of the note called '{title}'.",
        "Open the note {title} and tell me what is written in it.",
    )

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        return self.params["body"]

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(answers.text_matches(episode.answer, self.params["body"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Answer]:
        yield from open_note(device, self.params["title"])
        yield Answer(ou.node_text(device, "note_body") or "")


@register
class NoteFromFile(_FilesTask):
    """Two apps: read a text file in Files, write its text into a new note."""

    name = "notes.note_from_file"
    app = "Notes"
    apps = ("Notes", "Files")
    sim_only = True
    difficulty = "hard"
    max_steps = 20
    params_schema = {
        "file": Param(str, pattern=r"[a-z0-9_]+\.txt"),
        "text": Param(str, choices=ad.FILE_TEXTS),
        "title": TITLE,
        "world": WORLD,
    }
    phrasings = (
        "Copy the text of {file} in my Download folder into a new note titled {title}.",
        "Make a note called {title} whose text is what Download/{file} says.",
        "Open {file} in Downloads and save its contents as a note named '{title}'.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {
            "file": ad.file_names(rng, 1, ".txt")[0],
            "text": rng.choice(ad.FILE_TEXTS),
            "title": rng.choice(ad.NOTE_TITLES),
            "world": rng.randrange(10**9),
        }

    def preload(self) -> dict[str, str | None]:
        return {**super().preload(), f"{DOWNLOAD}/{self.params['file']}": self.params["text"]}

    def setup_commands(self) -> list[str]:
        notes = world_notes(self.params["world"], 2, [self.params["title"]])
        return super().setup_commands() + [delete_cmd(NOTES)] + [note_insert_cmd(t, b) for t, b in notes]

    def reads(self) -> dict[str, str]:
        return {**super().reads(), "notes": notes_query()}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        found = titled(notes_from(outputs["notes"]), self.params["title"])
        return float(any(same_text(n.body, self.params["text"]) for n in found))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from open_folder(device, DOWNLOAD)
        yield from ou.scroll_to(device, rid="item_root", desc=self.params["file"])
        yield from ou.tap(device, rid="item_root", desc=self.params["file"])
        text = (ou.node_text(device, "text") or "").strip()
        yield from write_note(device, self.params["title"], text)
        yield Terminate("success")
