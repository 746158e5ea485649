"""Reading device state through the shell: command builders, parsers of Android's output, typed records.

Parsers are pure functions over the text a real device prints, so checks are unit-tested without a device:

- ``content query`` prints ``Row: 0 _id=1, display_name=Ana Diaz, starred=0`` per row (``NULL`` for a
  null value, nothing after ``=`` for an empty string), or ``No result found.``. A value may itself contain
  ``", "`` or a newline; ``parse_rows`` splits fields only at the projection's column names in order, so put
  free-text columns (message bodies, titles) last in a projection and they are read whole.
- ``settings get`` prints the value or ``null``.

Tasks run the commands (their ``reads``); the parsers turn the outputs into records that checks use.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from tasks.base import TaskError

CONTACTS_RAW = "content://com.android.contacts/raw_contacts"
CONTACTS_DATA = "content://com.android.contacts/data"
CONTACTS = "content://com.android.contacts/contacts"
SMS = "content://sms"
SMS_INBOX = "content://sms/inbox"
SMS_SENT = "content://sms/sent"
CALENDAR_EVENTS = "content://com.android.calendar/events"

MIME_NAME = "vnd.android.cursor.item/name"
MIME_PHONE = "vnd.android.cursor.item/phone_v2"
MIME_EMAIL = "vnd.android.cursor.item/email_v2"

SMS_TYPE_INBOX = 1
SMS_TYPE_SENT = 2

_ROW = re.compile(r"^Row: (\d+) (.*)$")
_NO_RESULT = "No result found."


class ShellReadError(TaskError):
    """Shell output is not in the format the parser expects (a device error, or an unknown Android)."""


# -- parsing ---------------------------------------------------------------------------------------


def parse_rows(output: str, columns: Sequence[str]) -> list[dict[str, str | None]]:
    """Rows of a ``content query`` whose projection was ``columns`` (in that order)."""
    bodies: list[list[str]] = []
    for line in output.splitlines():
        m = _ROW.match(line)
        if m:
            bodies.append([m.group(2)])
        elif bodies:
            bodies[-1].append(line)  # a value with an embedded newline continues here
        elif line.strip() and line.strip() != _NO_RESULT:
            raise ShellReadError(f"unexpected `content query` output: {line.strip()[:200]!r}")
    return [_split_fields("\n".join(body), columns) for body in bodies]


def _split_fields(body: str, columns: Sequence[str]) -> dict[str, str | None]:
    if not columns:
        raise ShellReadError("parse_rows needs the projection's column names")
    if not body.startswith(f"{columns[0]}="):
        raise ShellReadError(f"row does not start with column {columns[0]!r}: {body[:200]!r}")
    starts = [0]
    pos = len(columns[0]) + 1
    for col in columns[1:]:
        at = body.find(f", {col}=", pos)
        if at < 0:
            raise ShellReadError(f"row has no column {col!r}: {body[:200]!r}")
        starts.append(at + 2)
        pos = at + len(col) + 3
    row: dict[str, str | None] = {}
    for i, col in enumerate(columns):
        end = starts[i + 1] - 2 if i + 1 < len(columns) else len(body)
        value = body[starts[i] + len(col) + 1 : end]
        row[col] = None if value == "NULL" else value
    return row


def parse_setting(output: str) -> str | None:
    """The value ``settings get`` printed; None for ``null`` (the key is unset)."""
    value = output.strip()
    return None if value in ("null", "") else value


def as_int(value: str | None, default: int = 0) -> int:
    """An integer column or setting; ``default`` when null or not an integer."""
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def wifi_enabled(wifi_on: str | None) -> bool:
    """``settings global wifi_on``: 1 on, 2 on while in airplane mode, 0 off (AndroidWorld reads it so)."""
    return wifi_on in ("1", "2")


# -- command builders ------------------------------------------------------------------------------


def query_cmd(uri: str, columns: Sequence[str], where: str | None = None) -> str:
    cmd = f"content query --uri {uri} --projection {':'.join(columns)}"
    if where:
        cmd += f" --where {shlex.quote(where)}"
    return cmd


def bind_args(values: dict[str, str | int | bool]) -> str:
    """``--bind`` arguments: bools and 32-bit ints as ``:i:``, larger ints (dates in ms) as ``:l:``,
    everything else as ``:s:`` (quoted for ``sh``)."""
    parts = []
    for key, value in values.items():
        if isinstance(value, bool | int):
            kind = "i" if -(2**31) <= int(value) < 2**31 else "l"
            parts.append(f"--bind {key}:{kind}:{int(value)}")
        else:
            parts.append(f"--bind {shlex.quote(f'{key}:s:{value}')}")
    return " ".join(parts)


def insert_cmd(uri: str, values: dict[str, str | int | bool]) -> str:
    return f"content insert --uri {uri} {bind_args(values)}"


def update_cmd(uri: str, values: dict[str, str | int | bool], where: str) -> str:
    return f"content update --uri {uri} {bind_args(values)} --where {shlex.quote(where)}"


def delete_cmd(uri: str, where: str | None = None) -> str:
    return f"content delete --uri {uri}" + (f" --where {shlex.quote(where)}" if where else "")


# -- records ---------------------------------------------------------------------------------------


@dataclass
class ContactRecord:
    raw_id: int
    name: str
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    starred: bool = False


@dataclass(frozen=True)
class SmsRecord:
    id: int
    thread_id: int
    address: str
    date_ms: int
    type: int
    body: str


RAW_COLUMNS = ("_id", "starred", "display_name")
DATA_COLUMNS = ("raw_contact_id", "mimetype", "data1")
SMS_COLUMNS = ("_id", "thread_id", "address", "date", "type", "body")


def contacts_from(raw_output: str, data_output: str) -> list[ContactRecord]:
    """Contacts from ``raw_contacts`` rows (RAW_COLUMNS) and their ``data`` rows (DATA_COLUMNS)."""
    by_id: dict[int, ContactRecord] = {}
    for row in parse_rows(raw_output, RAW_COLUMNS):
        raw_id = as_int(row["_id"], -1)
        by_id[raw_id] = ContactRecord(raw_id, row["display_name"] or "", starred=row["starred"] == "1")
    for row in parse_rows(data_output, DATA_COLUMNS):
        contact = by_id.get(as_int(row["raw_contact_id"], -1))
        value = row["data1"]
        if contact is None or value is None:
            continue
        if row["mimetype"] == MIME_PHONE:
            contact.phones.append(value)
        elif row["mimetype"] == MIME_EMAIL:
            contact.emails.append(value)
        elif row["mimetype"] == MIME_NAME and not contact.name:
            contact.name = value
    return sorted(by_id.values(), key=lambda c: c.raw_id)


def sms_from(output: str) -> list[SmsRecord]:
    """Messages from ``content://sms`` rows (SMS_COLUMNS), oldest first."""
    records = [
        SmsRecord(
            id=as_int(r["_id"]),
            thread_id=as_int(r["thread_id"]),
            address=r["address"] or "",
            date_ms=as_int(r["date"]),
            type=as_int(r["type"]),
            body=r["body"] or "",
        )
        for r in parse_rows(output, SMS_COLUMNS)
    ]
    return sorted(records, key=lambda m: (m.date_ms, m.id))


# -- contact queries -------------------------------------------------------------------------------


def contact_query_cmds() -> tuple[str, str]:
    """The two queries ``contacts_from`` parses: live raw contacts, and all data rows."""
    return (
        query_cmd(CONTACTS_RAW, RAW_COLUMNS, where="deleted=0"),
        query_cmd(CONTACTS_DATA, DATA_COLUMNS),
    )
