"""Messages templates: send texts, answer questions about conversations, and two-app tasks with Contacts.

Portable: messages live in ``content://sms`` (``type`` 1 inbox, 2 sent) and contacts in
``content://com.android.contacts``. On a stock phone only the default SMS app may write ``content://sms``,
so preloading messages there needs the shell to be allowed (emulator images allow it through
``appops set com.android.shell WRITE_SMS allow``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any, ClassVar

from emulators.actions import Answer, Terminate
from emulators.device import AndroidDevice
from tasks import answers, contacts_ui, data
from tasks import messages_ui as ui
from tasks.base import Episode, register
from tasks.contacts_common import (
    NAME,
    PHONE,
    TEXT,
    WORLD,
    ContactsBookTask,
    contact_reads,
    contacts_of,
    has_phone,
    named,
    place,
    world_contacts,
)
from tasks.shell_reads import SMS, SMS_COLUMNS, SMS_TYPE_SENT, SmsRecord, query_cmd, sms_from
from tasks.shell_writes import ContactSeed, SmsSeed, clear_contacts_cmd, clear_sms_cmd, sms_insert_cmd


def sent_since(outputs: dict[str, str], episode: Episode) -> list[SmsRecord]:
    """Sent messages that were not there at the start of the episode."""
    before = (
        {m.id for m in sms_from(episode.initial_state["reads"]["sms"])} if episode.initial_state else set()
    )
    return [m for m in sms_from(outputs["sms"]) if m.type == SMS_TYPE_SENT and m.id not in before]


def sent_to(outputs: dict[str, str], episode: Episode, number: str, text: str) -> bool:
    """Whether a message with ``text`` was sent to ``number`` during the episode."""
    return any(
        answers.same_number(m.address, number) and same_text(m.body, text)
        for m in sent_since(outputs, episode)
    )


def same_text(a: str, b: str) -> bool:
    return answers.normalize_text(a) == answers.normalize_text(b)


def background_sms(world: int, book: list[ContactSeed], k: int = 3) -> list[SmsSeed]:
    """``k`` older messages with contacts of ``book`` (minutes 0..k-1), so no inbox starts empty."""
    rng = random.Random(f"sms-world:{world}")
    texts = data.message_texts(rng, k)
    return [
        SmsSeed(rng.choice(book).phones[0], texts[i], minute=i, incoming=rng.random() < 0.7) for i in range(k)
    ]


class _MessagesTask(ContactsBookTask):
    """Start: an address book (``seeds``) and a message history (``messages``); reads both."""

    app: ClassVar[str] = "Messages"
    apps: ClassVar[tuple[str, ...]] = ("Messages", "Contacts")
    difficulty = "medium"
    max_steps = 15

    def others(self, k: int = 3) -> list[ContactSeed]:
        avoid = [self.params[key] for key, spec in self.params_schema.items() if spec is NAME]
        return world_contacts(self.params["world"], k, avoid=avoid)

    def seeds(self) -> list[ContactSeed]:
        return self.others()

    def messages(self) -> list[SmsSeed]:
        return background_sms(self.params["world"], self.others())

    def setup_commands(self) -> list[str]:
        return [clear_contacts_cmd(), clear_sms_cmd()] + [sms_insert_cmd(m) for m in self.messages()]

    def reads(self) -> dict[str, str]:
        return {**contact_reads(), "sms": query_cmd(SMS, SMS_COLUMNS)}

    def side_effects_of(self, before: dict[str, str], after: dict[str, str]) -> list[str]:
        out = super().side_effects_of(before, after)
        now = {m.id for m in sms_from(after["sms"])}
        out += [f"message {m.body!r} was deleted" for m in sms_from(before["sms"]) if m.id not in now]
        return out


class _TextOnePerson(_MessagesTask):
    """Templates about sending one text to one person among seeded others."""

    params_schema = {"name": NAME, "phone": PHONE, "text": TEXT, "world": WORLD}

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {
            "name": data.person_names(rng, 1)[0],
            "phone": data.phone_number(rng),
            "text": rng.choice(data.MESSAGE_TEXTS),
            "world": rng.randrange(10**9),
        }

    def seeds(self) -> list[ContactSeed]:
        target = ContactSeed(self.params["name"], (self.params["phone"],))
        return place(self.params["world"], self.others(), [target])


@register
class SendToContact(_TextOnePerson):
    name = "messages.send_to_contact"
    phrasings = (
        'Send a text message to {name} saying "{text}".',
        "Text {name}: {text}",
        'Message {name} with the words "{text}".',
    )

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(sent_to(outputs, episode, self.params["phone"], self.params["text"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from ui.send_message(device, self.params["name"], self.params["text"])
        yield Terminate("success")


@register
class SendToNumber(_MessagesTask):
    name = "messages.send_to_number"
    params_schema = {"number": PHONE, "text": TEXT, "world": WORLD}
    phrasings = (
        'Send "{text}" by SMS to {number}.',
        "Text the number {number}: {text}",
        'Write a text message to {number} that says "{text}".',
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {
            "number": data.phone_number(rng),
            "text": rng.choice(data.MESSAGE_TEXTS),
            "world": rng.randrange(10**9),
        }

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(sent_to(outputs, episode, self.params["number"], self.params["text"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from ui.send_message(device, self.params["number"], self.params["text"])
        yield Terminate("success")


@register
class LastMessageFrom(_MessagesTask):
    name = "messages.last_from"
    information = True
    answer_guesses = ("On my way", "See you soon", "OK", "Hello")
    params_schema = {"name": NAME, "phone": PHONE, "world": WORLD}
    phrasings = (
        "What did {name} say in their last text message?",
        "Read me the most recent message from {name}.",
        "What is the last SMS I received from {name}?",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {
            "name": data.person_names(rng, 1)[0],
            "phone": data.phone_number(rng),
            "world": rng.randrange(10**9),
        }

    def seeds(self) -> list[ContactSeed]:
        target = ContactSeed(self.params["name"], (self.params["phone"],))
        return place(self.params["world"], self.others(), [target])

    def messages(self) -> list[SmsSeed]:
        """Background, then three texts from the target (the last is the answer), one reply, and a later
        text from someone else, so neither the newest message nor the first from the target is it."""
        rng = random.Random(f"last-from:{self.params['world']}")
        texts = data.message_texts(rng, 5)
        other = self.others()[0].phones[0]
        mine = self.params["phone"]
        return self.background() + [
            SmsSeed(mine, texts[0], minute=10),
            SmsSeed(mine, texts[1], minute=11),
            SmsSeed(mine, texts[2], minute=12, incoming=False),
            SmsSeed(mine, texts[3], minute=13),
            SmsSeed(other, texts[4], minute=14),
        ]

    def background(self) -> list[SmsSeed]:
        return background_sms(self.params["world"], self.others())

    def expected(self) -> str:
        return [m for m in self.messages() if m.incoming and m.address == self.params["phone"]][-1].body

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        return self.expected()

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(answers.text_matches(episode.answer, self.expected()))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Answer]:
        body = yield from ui.last_incoming(device, self.params["name"])
        yield Answer(body)


@register
class ReplyLatest(_TextOnePerson):
    name = "messages.reply_latest"
    phrasings = (
        'Reply "{text}" to the most recent text message I received.',
        "Answer my latest SMS with: {text}",
        'Whoever texted me last, send them "{text}".',
    )

    def messages(self) -> list[SmsSeed]:
        rng = random.Random(f"reply-latest:{self.params['world']}")
        incoming = data.message_texts(rng, 1)[0]
        return background_sms(self.params["world"], self.others()) + [
            SmsSeed(self.params["phone"], incoming, minute=20)
        ]

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(sent_to(outputs, episode, self.params["phone"], self.params["text"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from ui.reply_to_latest(device, self.params["text"])
        yield Terminate("success")


@register
class SendNumberOf(_MessagesTask):
    """Two apps: read a number in Contacts (or the conversation list), write it in Messages."""

    name = "messages.send_number_of"
    difficulty = "hard"
    max_steps = 20
    params_schema = {"name": NAME, "phone": PHONE, "friend": NAME, "friend_phone": PHONE, "world": WORLD}
    phrasings = (
        "Send {friend}'s phone number to {name} by text message.",
        "{name} needs {friend}'s number: text it to them.",
        "Look up {friend} in Contacts and send their phone number to {name} in an SMS.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        name, friend = data.person_names(rng, 2)
        phone, friend_phone = data.phone_numbers(rng, 2)
        return {
            "name": name,
            "phone": phone,
            "friend": friend,
            "friend_phone": friend_phone,
            "world": rng.randrange(10**9),
        }

    def seeds(self) -> list[ContactSeed]:
        targets = [
            ContactSeed(self.params["name"], (self.params["phone"],)),
            ContactSeed(self.params["friend"], (self.params["friend_phone"],)),
        ]
        return place(self.params["world"], self.others(), targets)

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(
            any(
                answers.same_number(m.address, self.params["phone"])
                and answers.phone_matches(m.body, self.params["friend_phone"])
                for m in sent_since(outputs, episode)
            )
        )

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        number = yield from contacts_ui.read_contact_field(device, self.params["friend"], "phone")
        yield from ui.send_message(device, self.params["name"], number)
        yield Terminate("success")


@register
class SaveSender(_MessagesTask):
    """Two apps: read an unknown sender's number in Messages, save it in Contacts."""

    name = "messages.save_sender"
    difficulty = "hard"
    max_steps = 20
    params_schema = {"new_name": NAME, "number": PHONE, "text": TEXT, "world": WORLD}
    phrasings = (
        'Someone texted me "{text}". Save their number as a new contact named {new_name}.',
        'The message "{text}" is from {new_name}: add that number to my contacts under this name.',
        'Create a contact {new_name} with the phone number that sent me "{text}".',
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {
            "new_name": data.person_names(rng, 1)[0],
            "number": data.phone_number(rng),
            "text": rng.choice(data.MESSAGE_TEXTS),
            "world": rng.randrange(10**9),
        }

    def messages(self) -> list[SmsSeed]:
        background = [
            m
            for m in background_sms(self.params["world"], self.others())
            if not same_text(m.body, self.params["text"])
        ]
        return background + [SmsSeed(self.params["number"], self.params["text"], minute=20)]

    def allowed_changes(self) -> set[str]:
        return {self.params["new_name"]}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        found = named(contacts_of(outputs), self.params["new_name"])
        return float(any(has_phone(c, self.params["number"]) for c in found))

    def potential(self, outputs: dict[str, str]) -> float:
        return 0.5 * bool(named(contacts_of(outputs), self.params["new_name"])) + 0.5 * self.judge(
            outputs, Episode(initial_state=None)
        )

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        number = yield from ui.sender_of(device, self.params["text"])
        yield from contacts_ui.add_contact(device, self.params["new_name"], number, None)
        yield Terminate("success")
