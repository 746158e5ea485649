"""Writing device state through the shell, for task setup: contacts and messages on their real providers.

A contact is inserted the way it is done over adb on a stock phone: an empty ``raw_contacts`` row, its id
read back, then one ``data`` row per field (name, phone, e-mail), then ``starred`` on the raw contact.
Deleting ``raw_contacts`` only marks them deleted on Android, so reads filter ``deleted=0``.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulators.device import AndroidDevice
from tasks.shell_reads import (
    CONTACTS_DATA,
    CONTACTS_RAW,
    MIME_EMAIL,
    MIME_NAME,
    MIME_PHONE,
    SMS,
    SMS_INBOX,
    SMS_SENT,
    ShellReadError,
    as_int,
    delete_cmd,
    insert_cmd,
    parse_rows,
    query_cmd,
    update_cmd,
)

PHONE_TYPE_MOBILE = 2
EMAIL_TYPE_HOME = 1
# Dates of preloaded messages: minutes before the simulator's default clock (2026-03-02 09:00 UTC).
MESSAGE_BASE_MS = 1_772_400_000_000


@dataclass(frozen=True)
class ContactSeed:
    """A contact a task preloads."""

    name: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    starred: bool = False


@dataclass(frozen=True)
class SmsSeed:
    """A message a task preloads: ``incoming`` goes to the inbox, otherwise to sent."""

    address: str
    body: str
    minute: int  # minutes after MESSAGE_BASE_MS; orders the conversation
    incoming: bool = True
    read: bool = True


def clear_contacts_cmd() -> str:
    return delete_cmd(CONTACTS_RAW)


def clear_sms_cmd() -> str:
    return delete_cmd(SMS)


def contact_data_cmds(raw_id: int, seed: ContactSeed) -> list[str]:
    """``data`` inserts for one contact whose raw contact row is ``raw_id`` (pure)."""
    cmds = [insert_cmd(CONTACTS_DATA, {"raw_contact_id": raw_id, "mimetype": MIME_NAME, "data1": seed.name})]
    for phone in seed.phones:
        cmds.append(
            insert_cmd(
                CONTACTS_DATA,
                {
                    "raw_contact_id": raw_id,
                    "mimetype": MIME_PHONE,
                    "data1": phone,
                    "data2": PHONE_TYPE_MOBILE,
                },
            )
        )
    for email in seed.emails:
        cmds.append(
            insert_cmd(
                CONTACTS_DATA,
                {"raw_contact_id": raw_id, "mimetype": MIME_EMAIL, "data1": email, "data2": EMAIL_TYPE_HOME},
            )
        )
    if seed.starred:
        cmds.append(update_cmd(CONTACTS_RAW, {"starred": 1}, where=f"_id={raw_id}"))
    return cmds


def newest_raw_contact_id(output: str) -> int:
    """The largest ``_id`` in a ``raw_contacts`` query with projection ``_id``."""
    ids = [as_int(row["_id"], -1) for row in parse_rows(output, ("_id",))]
    if not ids or max(ids) < 0:
        raise ShellReadError(f"no raw contact after inserting one: {output.strip()[:200]!r}")
    return max(ids)


def insert_contact(device: AndroidDevice, seed: ContactSeed) -> int:
    """Insert ``seed`` through the contacts provider; return its raw contact id."""
    device.check_shell(insert_cmd(CONTACTS_RAW, {"account_type": "", "account_name": ""}))
    raw_id = newest_raw_contact_id(device.check_shell(query_cmd(CONTACTS_RAW, ("_id",))))
    for cmd in contact_data_cmds(raw_id, seed):
        device.check_shell(cmd)
    return raw_id


def sms_insert_cmd(seed: SmsSeed) -> str:
    """Insert one message into ``content://sms/inbox`` or ``/sent`` (pure)."""
    values: dict[str, str | int | bool] = {
        "address": seed.address,
        "date": MESSAGE_BASE_MS + seed.minute * 60_000,
        "read": seed.read,
        "body": seed.body,
    }
    return insert_cmd(SMS_INBOX if seed.incoming else SMS_SENT, values)
