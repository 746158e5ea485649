"""Contacts templates: add, delete, favourite, edit, and questions about the address book.

Portable: state lives in ``content://com.android.contacts`` (raw_contacts + data rows with the stock
mimetypes), which the AOSP and Google Contacts apps both use.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any, ClassVar

from emulators.actions import Answer, Terminate
from emulators.device import AndroidDevice
from tasks import answers, data
from tasks import contacts_ui as ui
from tasks.base import Episode, Param, register
from tasks.contacts_common import (
    EMAIL,
    NAME,
    PHONE,
    WORLD,
    ContactsBookTask,
    contacts_of,
    has_email,
    has_phone,
    named,
    place,
    world_contacts,
)
from tasks.shell_writes import ContactSeed

PHONE_GUESSES = ("+1 555 0100", "555 123 4567", "0", "I don't know")


def _fresh(rng: random.Random) -> tuple[str, str, int]:
    """A new contact's name and phone, and a world for the rest of the book."""
    name = data.person_names(rng, 1)[0]
    return name, data.phone_number(rng), rng.randrange(10**9)


class _AddContact(ContactsBookTask):
    """Create a new contact; the book starts with a few others and without it."""

    max_steps = 15
    fields: ClassVar[tuple[str, ...]]  # of "phone", "email"

    def seeds(self) -> list[ContactSeed]:
        return world_contacts(self.params["world"], 3, avoid=[self.params["name"]])

    def allowed_changes(self) -> set[str]:
        return {self.params["name"]}

    def _satisfied(self, outputs: dict[str, str]) -> float:
        """The best fraction of (name, fields…) any contact with the name has."""
        best = 0.0
        for c in named(contacts_of(outputs), self.params["name"]):
            got = 1 + sum(
                has_phone(c, self.params["phone"]) if f == "phone" else has_email(c, self.params["email"])
                for f in self.fields
            )
            best = max(best, got / (1 + len(self.fields)))
        return best

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(self._satisfied(outputs) == 1.0)

    def potential(self, outputs: dict[str, str]) -> float:
        return self._satisfied(outputs)

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from ui.add_contact(
            device, self.params["name"], self.params.get("phone"), self.params.get("email")
        )
        yield Terminate("success")


@register
class AddContactPhone(_AddContact):
    name = "contacts.add_with_phone"
    difficulty = "medium"
    fields = ("phone",)
    params_schema = {"name": NAME, "phone": PHONE, "world": WORLD}
    phrasings = (
        "Add a contact named {name} with phone number {phone}.",
        "Create a new contact: {name}, {phone}.",
        "Save {phone} in my contacts as {name}.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        name, phone, world = _fresh(rng)
        return {"name": name, "phone": phone, "world": world}


@register
class AddContactEmail(_AddContact):
    name = "contacts.add_with_email"
    difficulty = "medium"
    fields = ("email",)
    params_schema = {"name": NAME, "email": EMAIL, "world": WORLD}
    phrasings = (
        "Add a contact named {name} with the e-mail address {email}.",
        "Create a contact for {name}, e-mail {email}.",
        "Save {email} as the e-mail of a new contact called {name}.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        name, _, world = _fresh(rng)
        return {"name": name, "email": data.email_for(rng, name), "world": world}


@register
class AddContactFull(_AddContact):
    name = "contacts.add_full"
    difficulty = "hard"
    fields = ("phone", "email")
    params_schema = {"name": NAME, "phone": PHONE, "email": EMAIL, "world": WORLD}
    phrasings = (
        "Add {name} to my contacts with phone {phone} and e-mail {email}.",
        "Create a contact {name}: phone number {phone}, e-mail address {email}.",
        "New contact please: {name}, {phone}, {email}.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        name, phone, world = _fresh(rng)
        return {"name": name, "phone": phone, "email": data.email_for(rng, name), "world": world}


class _ExistingContact(ContactsBookTask):
    """A task about one contact, ``name``, preloaded among others."""

    difficulty = "medium"
    max_steps = 12
    target_starred: ClassVar[bool] = False
    params_schema = {"name": NAME, "phone": PHONE, "world": WORLD}

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        name, phone, world = _fresh(rng)
        return {"name": name, "phone": phone, "world": world}

    def target_seed(self) -> ContactSeed:
        return ContactSeed(self.params["name"], (self.params["phone"],), starred=self.target_starred)

    def seeds(self) -> list[ContactSeed]:
        others = world_contacts(self.params["world"], 4, avoid=[self.params["name"]])
        return place(self.params["world"], others, [self.target_seed()])

    def allowed_changes(self) -> set[str]:
        return {self.params["name"]}


@register
class DeleteContact(_ExistingContact):
    name = "contacts.delete"
    phrasings = (
        "Delete the contact {name}.",
        "Remove {name} from my contacts.",
        "Get rid of {name}'s contact.",
    )

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(not named(contacts_of(outputs), self.params["name"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from ui.delete_contact(device, self.params["name"])
        yield Terminate("success")


@register
class FavouriteContact(_ExistingContact):
    name = "contacts.favourite"
    phrasings = (
        "Add {name} to my favourites.",
        "Mark {name} as a favourite contact.",
        "Star the contact {name}.",
    )

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        found = named(contacts_of(outputs), self.params["name"])
        return float(bool(found) and all(c.starred for c in found))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from ui.set_favourite(device, self.params["name"], True)
        yield Terminate("success")


@register
class UnfavouriteContact(_ExistingContact):
    name = "contacts.unfavourite"
    target_starred = True
    phrasings = (
        "Remove {name} from my favourites.",
        "Unstar the contact {name}.",
        "{name} should no longer be a favourite contact.",
    )

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        found = named(contacts_of(outputs), self.params["name"])
        return float(bool(found) and not any(c.starred for c in found))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from ui.set_favourite(device, self.params["name"], False)
        yield Terminate("success")


@register
class EditContactPhone(_ExistingContact):
    name = "contacts.edit_phone"
    difficulty = "hard"
    max_steps = 40  # clearing the old number takes one DEL per character
    params_schema = {"name": NAME, "phone": PHONE, "new_phone": PHONE, "world": WORLD}
    phrasings = (
        "Change {name}'s phone number to {new_phone}.",
        "{name} has a new number: {new_phone}. Update the contact.",
        "Edit the contact {name} so that the phone number is {new_phone}.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        name, phone, world = _fresh(rng)
        new_phone = data.phone_numbers(rng, 2)
        new = new_phone[0] if not answers.same_number(new_phone[0], phone) else new_phone[1]
        return {"name": name, "phone": phone, "new_phone": new, "world": world}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        found = named(contacts_of(outputs), self.params["name"])
        ok = [
            c
            for c in found
            if has_phone(c, self.params["new_phone"]) and not has_phone(c, self.params["phone"])
        ]
        return float(len(found) == 1 and len(ok) == 1)

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from ui.edit_contact(device, self.params["name"], phone=self.params["new_phone"])
        yield Terminate("success")


@register
class RenameContact(_ExistingContact):
    name = "contacts.rename"
    difficulty = "hard"
    max_steps = 40
    params_schema = {"name": NAME, "phone": PHONE, "new_name": NAME, "world": WORLD}
    phrasings = (
        "Rename the contact {name} to {new_name}.",
        "Change the name of {name} in my contacts to {new_name}.",
        "{name} is now called {new_name}; update the contact.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        old, new = data.person_names(rng, 2)
        return {"name": old, "phone": data.phone_number(rng), "new_name": new, "world": rng.randrange(10**9)}

    def seeds(self) -> list[ContactSeed]:
        others = world_contacts(self.params["world"], 4, avoid=[self.params["name"], self.params["new_name"]])
        return place(self.params["world"], others, [self.target_seed()])

    def allowed_changes(self) -> set[str]:
        return {self.params["name"], self.params["new_name"]}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        book = contacts_of(outputs)
        renamed = [c for c in named(book, self.params["new_name"]) if has_phone(c, self.params["phone"])]
        return float(len(renamed) == 1 and not named(book, self.params["name"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from ui.edit_contact(device, self.params["name"], new_name=self.params["new_name"])
        yield Terminate("success")


@register
class PhoneOfContact(_ExistingContact):
    name = "contacts.phone_of"
    information = True
    answer_guesses = PHONE_GUESSES
    phrasings = (
        "What is {name}'s phone number?",
        "Look up the phone number of {name} and tell me.",
        "Which number do I have saved for {name}?",
    )

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        return self.params["phone"]

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(answers.phone_matches(episode.answer, self.params["phone"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Answer]:
        number = yield from ui.read_contact_field(device, self.params["name"], "phone")
        yield Answer(number)


@register
class EmailOfContact(_ExistingContact):
    name = "contacts.email_of"
    information = True
    answer_guesses = ("ana.diaz@example.com", "info@example.com", "none", "I don't know")
    params_schema = {"name": NAME, "phone": PHONE, "email": EMAIL, "world": WORLD}
    phrasings = (
        "What is {name}'s e-mail address?",
        "Find the e-mail address saved for {name}.",
        "Tell me which e-mail I have for {name}.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        name, phone, world = _fresh(rng)
        return {"name": name, "phone": phone, "email": data.email_for(rng, name), "world": world}

    def target_seed(self) -> ContactSeed:
        return ContactSeed(self.params["name"], (self.params["phone"],), (self.params["email"],))

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        return self.params["email"]

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(answers.text_matches(episode.answer, self.params["email"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Answer]:
        email = yield from ui.read_contact_field(device, self.params["name"], "email")
        yield Answer(email)


@register
class CountFavourites(ContactsBookTask):
    name = "contacts.count_favourites"
    difficulty = "medium"
    information = True
    max_steps = 12
    answer_guesses = ("0", "1", "2", "3", "4")
    params_schema = {
        "favourites": Param(int, min=1, max=7),
        "others": Param(int, min=1, max=5),
        "world": WORLD,
    }
    phrasings = (
        "How many favourite contacts do I have?",
        "Count the starred contacts and tell me the number.",
        "How many of my contacts are marked as favourites?",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"favourites": rng.randint(1, 7), "others": rng.randint(1, 5), "world": rng.randrange(10**9)}

    def seeds(self) -> list[ContactSeed]:
        n, k = self.params["favourites"], self.params["others"]
        book = world_contacts(self.params["world"], n + k, starred_p=0.0)
        rng = random.Random(f"favourites:{self.params['world']}")
        starred = set(rng.sample(range(n + k), n))
        return [ContactSeed(c.name, c.phones, c.emails, i in starred) for i, c in enumerate(book)]

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        return str(self.params["favourites"])

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(answers.count_matches(episode.answer, self.params["favourites"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Answer]:
        count = yield from ui.count_favourites(device)
        yield Answer(str(count))
