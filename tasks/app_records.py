"""Shell reads and writes for Calendar, Clock, Notes and Files: command builders, parsers, typed records.

- Calendar (portable): ``content://com.android.calendar/events`` with ``dtstart`` / ``dtend`` in epoch ms,
  ``calendar_id`` 1 and ``eventTimezone`` UTC; reads keep ``deleted=0`` (Android marks deleted rows).
- Clock (simulator-only): ``content://com.phonesim.deskclock/alarms`` (``hour``, ``minutes``, ``label``,
  ``enabled``).
- Notes (simulator-only): ``content://com.phonesim.notes/notes`` (``title``, ``body``).
- Files (portable): ``ls -la DIR/ …`` as toybox prints it (a ``DIR:`` header per directory when several
  are listed, ``total N``, then one long line per entry); ``mkdir -p``, ``rm -rf`` and ``echo > FILE``.

Parsers are pure, so checks are unit-tested with hand-written output. Dates are UTC: PhoneSim's clock is
UTC, and on an emulator the image's time zone must be UTC for the calendar checks to agree.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from dataclasses import dataclass

from tasks import answers
from tasks.shell_reads import (
    CALENDAR_EVENTS,
    ShellReadError,
    as_int,
    delete_cmd,
    insert_cmd,
    parse_rows,
    query_cmd,
)

ALARMS = "content://com.phonesim.deskclock/alarms"
NOTES = "content://com.phonesim.notes/notes"
EVENT_COLUMNS = ("_id", "dtstart", "dtend", "title")
ALARM_COLUMNS = ("_id", "hour", "minutes", "enabled", "label")
NOTE_COLUMNS = ("_id", "title", "body")
MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
MINUTE_MS = 60_000


# -- records ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRecord:
    id: int
    start_ms: int
    end_ms: int
    title: str

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.start_ms / 1000, tz=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.end_ms / 1000, tz=dt.UTC)


@dataclass(frozen=True)
class AlarmRecord:
    id: int
    hour: int
    minutes: int
    enabled: bool
    label: str


@dataclass(frozen=True)
class NoteRecord:
    id: int
    title: str
    body: str


@dataclass(frozen=True)
class FileEntry:
    name: str
    is_dir: bool
    size: int


def events_from(output: str) -> list[EventRecord]:
    return [
        EventRecord(as_int(r["_id"]), as_int(r["dtstart"]), as_int(r["dtend"]), r["title"] or "")
        for r in parse_rows(output, EVENT_COLUMNS)
    ]


def alarms_from(output: str) -> list[AlarmRecord]:
    return [
        AlarmRecord(
            as_int(r["_id"]), as_int(r["hour"]), as_int(r["minutes"]), r["enabled"] == "1", r["label"] or ""
        )
        for r in parse_rows(output, ALARM_COLUMNS)
    ]


def notes_from(output: str) -> list[NoteRecord]:
    return [
        NoteRecord(as_int(r["_id"]), r["title"] or "", r["body"] or "")
        for r in parse_rows(output, NOTE_COLUMNS)
    ]


def parse_ls(output: str, dirs: tuple[str, ...]) -> dict[str, list[FileEntry]]:
    """Entries per directory of ``ls -la`` over ``dirs`` (one directory: no header is printed)."""
    out: dict[str, list[FileEntry]] = {d.rstrip("/") or "/": [] for d in dirs}
    current = next(iter(out))
    for line in output.splitlines():
        text = line.strip()
        if not text or text.startswith("total "):
            continue
        if text.endswith(":") and text.startswith("/"):
            current = text[:-1].rstrip("/") or "/"
            out.setdefault(current, [])
            continue
        parts = text.split(None, 7)
        if len(parts) < 8 or parts[0][0] not in "-dlcbps":
            raise ShellReadError(f"unexpected `ls -la` line: {text[:200]!r}")
        name = parts[7].split(" -> ", 1)[0]
        if name not in (".", ".."):
            out[current].append(FileEntry(name, parts[0][0] == "d", as_int(parts[4])))
    return out


# -- command builders ------------------------------------------------------------------------------


def events_query() -> str:
    return query_cmd(CALENDAR_EVENTS, EVENT_COLUMNS, where="deleted=0")


def event_insert_cmd(title: str, start_ms: int, end_ms: int) -> str:
    values: dict[str, str | int | bool] = {
        "calendar_id": 1,
        "title": title,
        "dtstart": start_ms,
        "dtend": end_ms,
        "eventTimezone": "UTC",
    }
    return insert_cmd(CALENDAR_EVENTS, values)


def clear_events_cmd() -> str:
    return delete_cmd(CALENDAR_EVENTS)


def alarms_query() -> str:
    return query_cmd(ALARMS, ALARM_COLUMNS)


def alarm_insert_cmd(hour: int, minutes: int, label: str, enabled: bool = True) -> str:
    return insert_cmd(ALARMS, {"hour": hour, "minutes": minutes, "label": label, "enabled": enabled})


def notes_query() -> str:
    return query_cmd(NOTES, NOTE_COLUMNS)


def note_insert_cmd(title: str, body: str) -> str:
    return insert_cmd(NOTES, {"title": title, "body": body})


def ls_cmd(dirs: tuple[str, ...]) -> str:
    """``ls -la`` over ``dirs``, each with a trailing slash so that ``/sdcard``'s symlink is followed; a
    folder the agent deleted is left out of the listing instead of failing the read."""
    return "ls -la " + " ".join(shlex.quote(d.rstrip("/") + "/") for d in dirs) + " 2>/dev/null; true"


def write_file_cmd(path: str, text: str) -> str:
    return f"echo {shlex.quote(text)} > {shlex.quote(path)}"


# -- dates and times -------------------------------------------------------------------------------


def utc_ms(day: dt.date, hour: int, minute: int) -> int:
    when = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
    return round(when.timestamp() * 1000)


def spoken_date(day: dt.date) -> str:
    """``Thursday, March 5`` (the year is the current one in every task)."""
    return f"{day:%A}, {day:%B} {day.day}"


_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_MONTH_DAY = re.compile(r"\b([a-z]{3,9})\.? (\d{1,2})(?:st|nd|rd|th)?\b")
_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)? (?:of )?([a-z]{3,9})\b")


def _month(word: str) -> int | None:
    for i, name in enumerate(MONTHS, start=1):
        if len(word) >= 3 and name.startswith(word):
            return i
    return None


def dates_in(text: str) -> set[tuple[int, int]]:
    """The (month, day) pairs written in ``text``: ``2026-03-05``, ``March 5``, ``Mar 5th``, ``5 March``."""
    norm = " ".join(answers.normalize_text(text).replace(",", " ").split())
    found = {(int(m), int(d)) for _, m, d in _ISO.findall(norm)}
    for word, day in _MONTH_DAY.findall(norm):
        month = _month(word)
        if month:
            found.add((month, int(day)))
    for day, word in _DAY_MONTH.findall(norm):
        month = _month(word)
        if month:
            found.add((month, int(day)))
    return found


def date_matches(answer: str | None, day: dt.date) -> bool:
    """Whether ``answer`` names exactly one date and it is ``day`` (month and day; the year is ignored)."""
    return answer is not None and dates_in(answer) == {(day.month, day.day)}


def mentions(answer: str | None, phrase: str) -> bool:
    """Whether ``phrase``'s words occur together, in order, in ``answer`` (both normalised)."""
    if answer is None:
        return False
    got = answers.normalize_text(answer.replace(",", " ")).split()
    want = answers.normalize_text(phrase).split()
    return bool(want) and any(got[i : i + len(want)] == want for i in range(len(got) - len(want) + 1))


def same_text(a: str, b: str) -> bool:
    return answers.normalize_text(a) == answers.normalize_text(b)
