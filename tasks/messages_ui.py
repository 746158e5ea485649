"""Oracle steps for the Messages app, through its accessibility tree.

Ids follow AOSP Messaging as PhoneSim renders it: conversation rows (``swipeableContent``, labelled by
the contact's name or the bare number, ", N unread" appended while unread), "Start chat"
(``start_new_conversation_button``), the "To" field ``recipient_text_view`` (focused on open; ENTER moves
on to the message), ``compose_message_text`` and "Send SMS" (``send_message_button``); in a thread each
bubble (``message_content``) is labelled "Received: …" or "Sent: …".
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

from emulators.actions import Key
from emulators.device import AndroidDevice
from tasks import oracle_utils as ou

Action = ou.Action
ROW = "swipeableContent"
RECEIVED = "Received: "


def open_conversation(device: AndroidDevice, who: str) -> Iterator[Action]:
    """Open Messages and the conversation with ``who`` (a contact name or a number)."""
    yield from ou.open_app("Messages")
    yield from ou.scroll_to(device, label=who, contains=True, rid=ROW)
    yield from ou.tap(device, label=who, contains=True, rid=ROW)


def send_message(device: AndroidDevice, recipient: str, text: str) -> Iterator[Action]:
    """Start a chat with ``recipient`` (name or number), type ``text`` and send it."""
    yield from ou.open_app("Messages")
    yield from ou.tap(device, desc="Start chat")
    yield from ou.type_into(device, recipient, rid="recipient_text_view")
    yield Key("ENTER")
    yield from ou.type_into(device, text, rid="compose_message_text")
    yield from ou.tap(device, rid="send_message_button")


def reply_to_latest(device: AndroidDevice, text: str) -> Iterator[Action]:
    """Open the newest conversation (the list's first row) and send ``text`` in it."""
    yield from ou.open_app("Messages")
    yield from ou.tap(device, rid=ROW)  # the list is newest first
    yield from ou.type_into(device, text, rid="compose_message_text")
    yield from ou.tap(device, rid="send_message_button")


def last_incoming(device: AndroidDevice, who: str) -> Generator[Action, None, str]:
    """Open the conversation with ``who`` and return its newest received message."""
    yield from open_conversation(device, who)
    incoming = [
        label for label, _ in ou.labelled_nodes(device, rid="message_content") if label.startswith(RECEIVED)
    ]
    if not incoming:
        raise ou.OracleError(f"no received messages from {who!r}; screen shows: {ou.describe_screen(device)}")
    return incoming[-1].removeprefix(RECEIVED)


def sender_of(device: AndroidDevice, text: str) -> Generator[Action, None, str]:
    """Find the conversation whose snippet is ``text`` and return its title (the sender's number)."""
    yield from ou.open_app("Messages")
    for label, inner in ou.labelled_nodes(device, rid=ROW):
        if text in inner:
            return label
    raise ou.OracleError(f"no conversation shows {text!r}; screen shows: {ou.describe_screen(device)}")
