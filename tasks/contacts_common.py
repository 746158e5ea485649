"""What Contacts and Messages templates share: the preloaded address book, its reads and comparisons.

A task's address book is drawn from its ``world`` parameter (an int), so parameters stay small and
validated while the preloaded contacts are still reproducible from the instance seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import ClassVar

from emulators.device import AndroidDevice
from tasks import answers, data
from tasks.base import Param
from tasks.shell_reads import ContactRecord, contact_query_cmds, contacts_from
from tasks.shell_task import ShellTask
from tasks.shell_writes import ContactSeed, clear_contacts_cmd, insert_contact

NAME = Param(str, pattern=r"[A-Z][a-z]+ [A-Z][a-z]+")
PHONE = Param(str, pattern=r"\+?[0-9][0-9 ]{6,18}[0-9]")
EMAIL = Param(str, pattern=r"[a-z0-9.]+@[a-z0-9.]+\.[a-z]+")
WORLD = Param(int, min=0, max=10**9)
TEXT = Param(str, pattern=r"[A-Za-z0-9 ,.?!']{1,80}")


def contact_reads() -> dict[str, str]:
    raw_cmd, data_cmd = contact_query_cmds()
    return {"raw": raw_cmd, "data": data_cmd}


def contacts_of(outputs: dict[str, str]) -> list[ContactRecord]:
    return contacts_from(outputs["raw"], outputs["data"])


def named(contacts: Iterable[ContactRecord], name: str) -> list[ContactRecord]:
    """Contacts whose display name equals ``name`` after text normalisation."""
    want = answers.normalize_text(name)
    return [c for c in contacts if answers.normalize_text(c.name) == want]


def has_phone(contact: ContactRecord, number: str) -> bool:
    return any(answers.same_number(p, number) for p in contact.phones)


def has_email(contact: ContactRecord, email: str) -> bool:
    return any(e.strip().casefold() == email.strip().casefold() for e in contact.emails)


def world_contacts(
    world: int, k: int, avoid: Iterable[str] = (), starred_p: float = 0.3
) -> list[ContactSeed]:
    """``k`` contacts drawn from ``world`` whose first names differ from those in ``avoid``."""
    rng = random.Random(f"contacts-world:{world}")
    taken = {n.split()[0] for n in avoid}
    firsts = rng.sample([f for f in data.FIRST_NAMES if f not in taken], k)
    phones = data.phone_numbers(rng, k)
    out = []
    for first, phone in zip(firsts, phones, strict=True):
        name = f"{first} {rng.choice(data.LAST_NAMES)}"
        emails = (data.email_for(rng, name),) if rng.random() < 0.5 else ()
        out.append(ContactSeed(name, (phone,), emails, starred=rng.random() < starred_p))
    return out


def place(world: int, others: list[ContactSeed], targets: list[ContactSeed]) -> list[ContactSeed]:
    """``others`` with ``targets`` inserted at positions drawn from ``world`` (not always first or last)."""
    rng = random.Random(f"contacts-place:{world}")
    out = list(others)
    for t in targets:
        out.insert(rng.randint(0, len(out)), t)
    return out


def contact_changes(before: list[ContactRecord], after: list[ContactRecord], allowed: set[str]) -> list[str]:
    """Contacts present at the start that were deleted or changed, except those named in ``allowed``."""
    allowed_norm = {answers.normalize_text(n) for n in allowed}
    now = {c.raw_id: c for c in after}
    out = []
    for c in before:
        if answers.normalize_text(c.name) in allowed_norm:
            continue
        if c.raw_id not in now:
            out.append(f"contact {c.name!r} was deleted")
        elif now[c.raw_id] != c:
            out.append(f"contact {c.name!r} was changed")
    return out


class ContactsBookTask(ShellTask):
    """Base of tasks that start from a preloaded address book (``seeds``) and read it back."""

    app: ClassVar[str] = "Contacts"

    def seeds(self) -> list[ContactSeed]:
        """The contacts to preload, in insertion order."""
        return []

    def allowed_changes(self) -> set[str]:
        """Names of contacts the task may change or delete (side effects ignore them)."""
        return set()

    def setup_commands(self) -> list[str]:
        return [clear_contacts_cmd()]

    def prepare(self, device: AndroidDevice) -> None:
        for seed in self.seeds():
            insert_contact(device, seed)

    def reads(self) -> dict[str, str]:
        return contact_reads()

    def side_effects_of(self, before: dict[str, str], after: dict[str, str]) -> list[str]:
        return contact_changes(contacts_of(before), contacts_of(after), self.allowed_changes())
