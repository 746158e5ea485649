"""Content providers behind ``content query|insert|update|delete``, backed by ``PhoneState``'s lists.

Real authorities: ``com.android.contacts`` (raw_contacts, contacts, data, data/phones, data/emails),
``sms`` (sms, sms/inbox, sms/sent), ``com.android.calendar`` (events). Simulator-only authorities (stock
Android has no such providers): ``com.phonesim.deskclock`` (alarms) and ``com.phonesim.notes`` (notes).

Contacts: a PhoneSim ``Contact`` is one raw contact and one aggregate contact with the same ``_id``. Its data
rows get ids derived from the contact id (name ``id*1000``, phones ``id*1000+100+k``, emails
``id*1000+500+k``) so a row id always leads back to the record it shows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.phonesim.shell.errors import ShellError
from emulators.phonesim.shell.sql import Row, Value
from emulators.phonesim.state import Alarm, Contact, Event, Note, PhoneState, Sms

MIME_NAME = "vnd.android.cursor.item/name"
MIME_PHONE = "vnd.android.cursor.item/phone_v2"
MIME_EMAIL = "vnd.android.cursor.item/email_v2"
PHONE_TYPE_MOBILE = 2
_PHONE_BASE, _EMAIL_BASE, _ROW_SPAN = 100, 500, 1000


class ProviderError(ShellError):
    """The provider refused an operation (read-only column, missing value, unsupported insert …)."""


def to_int(column: str, value: Value) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise ProviderError(f"datatype mismatch: column {column} needs an integer, got {value!r}")


def to_text(column: str, value: Value) -> str:
    return "" if value is None else str(value)


@dataclass
class Provider(ABC):
    """One table: its columns (in projection order), which of them callers may write, and its rows."""

    columns: tuple[str, ...]
    writable: frozenset[str] = field(default_factory=frozenset)
    insertable: bool = True

    def check_columns(self, values: Row, verb: str) -> None:
        for name in values:
            if name not in self.columns and name not in self.writable:
                raise ProviderError(f"table has no column named {name}")
            if name not in self.writable:
                raise ProviderError(f"column {name} cannot be written by {verb}")

    @abstractmethod
    def rows(self, state: PhoneState) -> list[Row]:
        """Every row of this URI, columns in ``columns`` order."""

    def insert(self, state: PhoneState, values: Row) -> int:
        raise ProviderError("insert is not supported on this URI")

    def update(self, state: PhoneState, row: Row, values: Row) -> None:
        raise ProviderError("update is not supported on this URI")

    def delete(self, state: PhoneState, rows: list[Row]) -> None:
        raise ProviderError("delete is not supported on this URI")


def _contact(state: PhoneState, contact_id: Value) -> Contact:
    wanted = to_int("raw_contact_id", contact_id)
    for c in state.contacts:
        if c.id == wanted:
            return c
    raise ProviderError(f"no raw contact with _id {wanted}")


def _delete_contacts(state: PhoneState, rows: list[Row]) -> None:
    doomed = {row["_id"] for row in rows}
    state.contacts[:] = [c for c in state.contacts if c.id not in doomed]
    state.touch()


@dataclass
class RawContacts(Provider):
    columns: tuple[str, ...] = ("_id", "display_name", "starred", "deleted", "account_name", "account_type")
    writable: frozenset[str] = frozenset({"display_name", "starred", "account_name", "account_type"})

    def rows(self, state: PhoneState) -> list[Row]:
        return [{"_id": c.id, "display_name": c.name or None, "starred": int(c.starred), "deleted": 0,
                 "account_name": None, "account_type": None} for c in state.contacts]

    def insert(self, state: PhoneState, values: Row) -> int:
        name = to_text("display_name", values.get("display_name"))
        starred = bool(to_int("starred", values.get("starred", 0)))
        return state.add_contact(name, starred=starred).id

    def update(self, state: PhoneState, row: Row, values: Row) -> None:
        c = _contact(state, row["_id"])
        if "display_name" in values:
            c.name = to_text("display_name", values["display_name"])
        if "starred" in values:
            c.starred = bool(to_int("starred", values["starred"]))
        state.touch()

    def delete(self, state: PhoneState, rows: list[Row]) -> None:
        _delete_contacts(state, rows)


@dataclass
class Contacts(Provider):
    columns: tuple[str, ...] = ("_id", "display_name", "starred", "has_phone_number")
    writable: frozenset[str] = frozenset({"starred"})

    def rows(self, state: PhoneState) -> list[Row]:
        return [{"_id": c.id, "display_name": c.name or None, "starred": int(c.starred),
                 "has_phone_number": int(bool(c.phones))} for c in state.contacts]

    def insert(self, state: PhoneState, values: Row) -> int:
        raise ProviderError("Aggregate contacts are created automatically")

    def update(self, state: PhoneState, row: Row, values: Row) -> None:
        _contact(state, row["_id"]).starred = bool(to_int("starred", values["starred"]))
        state.touch()

    def delete(self, state: PhoneState, rows: list[Row]) -> None:
        _delete_contacts(state, rows)


def _data_row(c: Contact, row_id: int, mimetype: str, data1: str, data2: Value, data3: Value) -> Row:
    return {"_id": row_id, "raw_contact_id": c.id, "contact_id": c.id, "mimetype": mimetype, "data1": data1,
            "data2": data2, "data3": data3, "display_name": c.name or None}


def _locate(row_id: int) -> tuple[int, str, int]:
    """(contact id, "name" | "phone" | "email", index) of a data row id."""
    contact_id, offset = divmod(row_id, _ROW_SPAN)
    if offset == 0:
        return contact_id, "name", 0
    if offset < _EMAIL_BASE:
        return contact_id, "phone", offset - _PHONE_BASE
    return contact_id, "email", offset - _EMAIL_BASE


@dataclass
class Data(Provider):
    columns: tuple[str, ...] = ("_id", "raw_contact_id", "contact_id", "mimetype", "data1", "data2", "data3",
                                "display_name")
    writable: frozenset[str] = frozenset({"raw_contact_id", "mimetype", "data1", "data2", "data3",
                                          "is_primary", "is_super_primary"})
    only_mimetype: str | None = None

    def rows(self, state: PhoneState) -> list[Row]:
        out: list[Row] = []
        for c in state.contacts:
            base = c.id * _ROW_SPAN
            if c.name:
                given, _, family = c.name.partition(" ")
                out.append(_data_row(c, base, MIME_NAME, c.name, given, family or None))
            out += [_data_row(c, base + _PHONE_BASE + k, MIME_PHONE, p, PHONE_TYPE_MOBILE, None)
                    for k, p in enumerate(c.phones)]
            out += [_data_row(c, base + _EMAIL_BASE + k, MIME_EMAIL, e, None, None)
                    for k, e in enumerate(c.emails)]
        return [r for r in out if self.only_mimetype in (None, r["mimetype"])]

    def insert(self, state: PhoneState, values: Row) -> int:
        if self.only_mimetype is not None:
            raise ProviderError("insert data rows through content://com.android.contacts/data")
        if "raw_contact_id" not in values or "mimetype" not in values:
            raise ProviderError("data rows need raw_contact_id and mimetype")
        c = _contact(state, values["raw_contact_id"])
        mimetype = to_text("mimetype", values["mimetype"])
        data1 = to_text("data1", values.get("data1"))
        if mimetype == MIME_NAME:
            parts = [to_text("data2", values.get("data2")), to_text("data3", values.get("data3"))]
            c.name = data1 or " ".join(p for p in parts if p)
            row_id = c.id * _ROW_SPAN
        elif mimetype == MIME_PHONE:
            c.phones.append(data1)
            row_id = c.id * _ROW_SPAN + _PHONE_BASE + len(c.phones) - 1
        elif mimetype == MIME_EMAIL:
            c.emails.append(data1)
            row_id = c.id * _ROW_SPAN + _EMAIL_BASE + len(c.emails) - 1
        else:
            raise ProviderError(f"PhoneSim stores only name, phone_v2 and email_v2 data rows, not {mimetype}")
        state.touch()
        return row_id

    def update(self, state: PhoneState, row: Row, values: Row) -> None:
        if set(values) - {"data1"}:
            raise ProviderError("PhoneSim updates only data1 of data rows")
        contact_id, kind, index = _locate(to_int("_id", row["_id"]))
        c = _contact(state, contact_id)
        text = to_text("data1", values["data1"])
        if kind == "name":
            c.name = text
        else:
            (c.phones if kind == "phone" else c.emails)[index] = text
        state.touch()

    def delete(self, state: PhoneState, rows: list[Row]) -> None:
        for row in sorted(rows, key=lambda r: -to_int("_id", r["_id"])):  # highest index first
            contact_id, kind, index = _locate(to_int("_id", row["_id"]))
            c = _contact(state, contact_id)
            if kind == "name":
                c.name = ""
            else:
                del (c.phones if kind == "phone" else c.emails)[index]
        state.touch()


@dataclass
class Records(Provider):
    """A table over one of ``PhoneState``'s record lists; ``fields`` maps column -> (attribute, kind)."""

    attr: str = ""
    fields: dict[str, tuple[str, str]] = field(default_factory=dict)
    fixed: dict[str, Value] = field(default_factory=dict)  # columns every row has (calendar_id=1)
    defaults: dict[str, Value] = field(default_factory=dict)  # insert values when not given
    view: dict[str, Value] = field(default_factory=dict)  # this URI's rows have these values (sms/inbox)
    required: tuple[str, ...] = ()
    factory: Callable[[PhoneState, dict[str, Any]], Any] | None = None

    def records(self, state: PhoneState) -> list[Any]:
        return getattr(state, self.attr)

    def rows(self, state: PhoneState) -> list[Row]:
        out = []
        for rec in self.records(state):
            row: Row = {}
            for column in self.columns:
                if column in self.fixed:
                    row[column] = self.fixed[column]
                else:
                    attr, kind = self.fields[column]
                    value = getattr(rec, attr)
                    row[column] = int(value) if kind == "bool" else value
            out.append(row)
        return [r for r in out if all(r.get(k) == v for k, v in self.view.items())]

    def _convert(self, column: str, value: Value) -> Any:
        if column in self.fixed:
            if isinstance(self.fixed[column], int) and to_int(column, value) != self.fixed[column]:
                raise ProviderError(f"{column} must be {self.fixed[column]} on PhoneSim")
            return None
        _, kind = self.fields[column]
        if kind == "int":
            return to_int(column, value)
        if kind == "bool":
            return bool(to_int(column, value))
        return to_text(column, value)

    def insert(self, state: PhoneState, values: Row) -> int:
        merged = {**self.defaults, **values, **self.view}
        missing = [c for c in self.required if merged.get(c) is None]
        if missing:
            raise ProviderError(f"values must include {', '.join(missing)}")
        converted = {c: self._convert(c, v) for c, v in merged.items()}
        kwargs = {self.fields[c][0]: v for c, v in converted.items() if c in self.fields}
        if self.factory is None:
            raise ProviderError("insert is not supported on this URI")
        rec = self.factory(state, kwargs)
        self.records(state).append(rec)
        state.touch()
        return rec.id

    def update(self, state: PhoneState, row: Row, values: Row) -> None:
        for rec in self.records(state):
            if rec.id == row["_id"]:
                for column, value in values.items():
                    converted = self._convert(column, value)
                    if column in self.fields:
                        setattr(rec, self.fields[column][0], converted)
                if hasattr(rec, "modified_ms"):
                    rec.modified_ms = state.now_ms
        state.touch()

    def delete(self, state: PhoneState, rows: list[Row]) -> None:
        doomed = {row["_id"] for row in rows}
        self.records(state)[:] = [r for r in self.records(state) if r.id not in doomed]
        state.touch()


def _new_sms(state: PhoneState, kw: dict[str, Any]) -> Sms:
    address = kw.get("address", "")
    kind = kw.get("type", 1)
    read = kw.get("read", kind == 2)
    thread = kw["thread_id"] if "thread_id" in kw else state.thread_id_for(address)
    date_ms = kw.get("date_ms", state.now_ms)
    return Sms(state.new_id(), thread, address, kw.get("body", ""), date_ms, kind, read)


def _new_event(state: PhoneState, kw: dict[str, Any]) -> Event:
    if kw["dtend_ms"] < kw["dtstart_ms"]:
        raise ProviderError("dtend must not be before dtstart")
    return Event(state.new_id(), kw.get("title", ""), kw["dtstart_ms"], kw["dtend_ms"],
                 kw.get("description", ""), kw.get("location", ""), kw.get("all_day", False))


def _new_alarm(state: PhoneState, kw: dict[str, Any]) -> Alarm:
    if not (0 <= kw["hour"] <= 23 and 0 <= kw["minutes"] <= 59):
        raise ProviderError(f"no such time of day: {kw['hour']}:{kw['minutes']}")
    return Alarm(state.new_id(), kw["hour"], kw["minutes"], kw.get("label", ""), kw.get("enabled", True))


def _new_note(state: PhoneState, kw: dict[str, Any]) -> Note:
    return Note(state.new_id(), kw.get("title", ""), kw.get("body", ""), state.now_ms)


_SMS_FIELDS = {"_id": ("id", "int"), "thread_id": ("thread_id", "int"), "address": ("address", "text"),
               "body": ("body", "text"), "date": ("date_ms", "int"), "type": ("type", "int"),
               "read": ("read", "bool")}
_EVENT_FIELDS = {"_id": ("id", "int"), "title": ("title", "text"), "dtstart": ("dtstart_ms", "int"),
                 "dtend": ("dtend_ms", "int"), "description": ("description", "text"),
                 "eventLocation": ("location", "text"), "allDay": ("all_day", "bool")}


def _sms(view: dict[str, Value]) -> Records:
    return Records(columns=tuple(_SMS_FIELDS), writable=frozenset(_SMS_FIELDS) - {"_id"}, attr="sms",
                   fields=_SMS_FIELDS, view=view, factory=_new_sms)


def _events() -> Records:
    fixed: dict[str, Value] = {"calendar_id": 1, "deleted": 0, "eventTimezone": "UTC"}
    return Records(columns=(*_EVENT_FIELDS, *fixed), writable=frozenset({*_EVENT_FIELDS, *fixed}) - {"_id"},
                   attr="events", fields=_EVENT_FIELDS, fixed=fixed, factory=_new_event,
                   required=("calendar_id", "dtstart", "dtend", "eventTimezone"))


def _alarms() -> Records:
    fields = {"_id": ("id", "int"), "hour": ("hour", "int"), "minutes": ("minutes", "int"),
              "label": ("label", "text"), "enabled": ("enabled", "bool")}
    return Records(columns=tuple(fields), writable=frozenset(fields) - {"_id"}, attr="alarms", fields=fields,
                   required=("hour", "minutes"), factory=_new_alarm)


def _notes() -> Records:
    fields = {"_id": ("id", "int"), "title": ("title", "text"), "body": ("body", "text"),
              "modified": ("modified_ms", "int")}
    return Records(columns=tuple(fields), writable=frozenset({"title", "body"}), attr="notes", fields=fields,
                   factory=_new_note)


def providers() -> dict[str, Provider]:
    """URI (without ``content://`` and without a trailing row id) -> provider."""
    return {
        "com.android.contacts/raw_contacts": RawContacts(),
        "com.android.contacts/contacts": Contacts(),
        "com.android.contacts/data": Data(),
        "com.android.contacts/data/phones": Data(only_mimetype=MIME_PHONE),
        "com.android.contacts/data/emails": Data(only_mimetype=MIME_EMAIL),
        "sms": _sms({}),
        "sms/inbox": _sms({"type": 1}),
        "sms/sent": _sms({"type": 2}),
        "com.android.calendar/events": _events(),
        "com.phonesim.deskclock/alarms": _alarms(),
        "com.phonesim.notes/notes": _notes(),
    }
