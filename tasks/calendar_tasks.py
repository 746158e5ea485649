"""Calendar templates: add, delete, rename and move events, questions about the agenda, and one two-app
task with Notes.

Portable (except ``calendar.event_from_note``, which needs the simulator's Notes): events live in
``content://com.android.calendar/events``; setup deletes every event and inserts its own into calendar 1
(UTC). Checks read ``_id, dtstart, dtend, title`` of rows with ``deleted=0``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Generator, Iterator
from typing import Any, ClassVar

from emulators.actions import Answer, Terminate
from emulators.device import AndroidDevice
from tasks import answers
from tasks import app_data as ad
from tasks import app_ui as ui
from tasks import oracle_utils as ou
from tasks.app_records import (
    EventRecord,
    clear_events_cmd,
    date_matches,
    event_insert_cmd,
    events_from,
    events_query,
    mentions,
    note_insert_cmd,
    notes_query,
    same_text,
    spoken_date,
    utc_ms,
)
from tasks.base import Episode, Param, register
from tasks.shell_task import ShellTask

TITLE = Param(str, choices=ad.EVENT_TITLES)
DAY = Param(str, pattern=r"2026-03-(0[3-9]|[12][0-9])")
HOUR = Param(int, min=7, max=20)
MINUTE = Param(int, choices=(0, 15, 30, 45))
LENGTH = Param(int, choices=(30, 45, 60, 90))
WORLD = Param(int, min=0, max=10**9)
ROW = "agenda_item"
Planned = tuple[str, int, int]  # title, start ms, end ms


def span(day: str, hour: int, minute: int, length: int) -> tuple[int, int]:
    start = utc_ms(ad.day_of(day), hour, minute)
    return start, start + length * 60_000


def world_events(world: int, k: int, avoid: list[str], avoid_day: str | None = None) -> list[Planned]:
    """``k`` background events drawn from ``world`` with titles not in ``avoid`` (nor on ``avoid_day``)."""
    rng = random.Random(f"calendar-world:{world}")
    titles = rng.sample([t for t in ad.EVENT_TITLES if t not in avoid], k)
    out = []
    for title in titles:
        day = ad.task_day(rng).isoformat()
        while day == avoid_day:
            day = ad.task_day(rng).isoformat()
        out.append((title, *span(day, rng.randint(7, 20), rng.choice((0, 15, 30, 45)), rng.choice((30, 60)))))
    return out


def titled(events: list[EventRecord], title: str) -> list[EventRecord]:
    return [e for e in events if same_text(e.title, title)]


def event_changes(before: list[EventRecord], after: list[EventRecord], allowed: set[str]) -> list[str]:
    """Events present at the start that were deleted or changed, except those titled in ``allowed``."""
    now = {e.id: e for e in after}
    out = []
    for e in before:
        if any(same_text(e.title, a) for a in allowed):
            continue
        if e.id not in now:
            out.append(f"event {e.title!r} was deleted")
        elif now[e.id] != e:
            out.append(f"event {e.title!r} was changed")
    return out


# -- oracle steps -------------------------------------------------------------------------------------


def open_event(device: AndroidDevice, title: str) -> Iterator[ui.Action]:
    yield from ui.open_row(device, "Calendar", ROW, desc=f"{title}, ", contains=True)


def fill_times(
    device: AndroidDevice, day: dt.date, start: tuple[int, int], end: tuple[int, int]
) -> Iterator[ui.Action]:
    """Set the form's date and start / end fields (end first when moving later, so the form stays valid)."""
    yield from ui.set_field(device, "year", str(day.year))
    yield from ui.set_field(device, "month", f"{day.month:02d}")
    yield from ui.set_field(device, "day", f"{day.day:02d}")
    yield from ui.set_field(device, "start_hour", f"{start[0]:02d}")
    yield from ui.set_field(device, "start_minute", f"{start[1]:02d}")
    yield from ui.set_field(device, "end_hour", f"{end[0]:02d}")
    yield from ui.set_field(device, "end_minute", f"{end[1]:02d}")


def add_event(device: AndroidDevice, title: str, start_ms: int, end_ms: int) -> Iterator[ui.Action]:
    start, end = EventRecord(0, start_ms, end_ms, title).start, EventRecord(0, start_ms, end_ms, title).end
    yield from ou.open_app("Calendar")
    yield from ou.tap(device, rid="floating_action_button")
    yield from ui.set_field(device, "title", title, empty_hint="Title")
    yield from fill_times(device, start.date(), (start.hour, start.minute), (end.hour, end.minute))
    yield from ou.tap(device, rid="action_done")


# -- templates ------------------------------------------------------------------------------------


class _CalendarTask(ShellTask):
    """Start: the events of ``planned()`` and nothing else; reads the events table."""

    app: ClassVar[str] = "Calendar"
    difficulty = "medium"
    max_steps = 15

    def planned(self) -> list[Planned]:
        return world_events(self.params["world"], 5, avoid=self.titles())

    def titles(self) -> list[str]:
        return [v for k, v in self.params.items() if k.endswith("title")]

    def allowed_changes(self) -> set[str]:
        return set(self.titles())

    def derived(self) -> dict[str, str]:
        """Extra fields for the phrasings (spoken dates, times)."""
        p = self.params
        out = {}
        if "day" in p:
            out["date"] = spoken_date(ad.day_of(p["day"]))
        if "hour" in p:
            out["time"] = f"{p['hour']:02d}:{p['minute']:02d}"
        return out

    @property
    def instruction(self) -> str:
        return self.phrasings[self.phrasing].format(**self.params, **self.derived())

    def setup_commands(self) -> list[str]:
        return [clear_events_cmd()] + [event_insert_cmd(*e) for e in self.planned()]

    def reads(self) -> dict[str, str]:
        return {"events": events_query()}

    def side_effects_of(self, before: dict[str, str], after: dict[str, str]) -> list[str]:
        return event_changes(
            events_from(before["events"]), events_from(after["events"]), self.allowed_changes()
        )


class _TargetEvent(_CalendarTask):
    """A task about one preloaded event ``title`` among others."""

    params_schema = {
        "title": TITLE,
        "day": DAY,
        "hour": HOUR,
        "minute": MINUTE,
        "length": LENGTH,
        "world": WORLD,
    }

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {
            "title": rng.choice(ad.EVENT_TITLES),
            "day": ad.task_day(rng).isoformat(),
            "hour": rng.randint(7, 20),
            "minute": rng.choice((0, 15, 30, 45)),
            "length": rng.choice((30, 45, 60, 90)),
            "world": rng.randrange(10**9),
        }

    def target(self) -> Planned:
        p = self.params
        return (p["title"], *span(p["day"], p["hour"], p["minute"], p["length"]))

    def planned(self) -> list[Planned]:
        return super().planned() + [self.target()]


@register
class AddEvent(_TargetEvent):
    name = "calendar.add_event"
    difficulty = "hard"
    max_steps = 40
    phrasings = (
        "Add an event called {title} to my calendar on {date} at {time}, lasting {length} minutes.",
        "Create a calendar event '{title}' on {date} from {time} for {length} minutes.",
        "Put {title} in my calendar: {date}, starting {time}, {length} minutes long.",
    )

    def planned(self) -> list[Planned]:
        return _CalendarTask.planned(self)

    def wanted(self) -> tuple[int, int]:
        p = self.params
        return span(p["day"], p["hour"], p["minute"], p["length"])

    def potential(self, outputs: dict[str, str]) -> float:
        start, end = self.wanted()
        found = titled(events_from(outputs["events"]), self.params["title"])
        return max(((1 + (e.start_ms == start) + (e.end_ms == end)) / 3 for e in found), default=0.0)

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(self.potential(outputs) == 1.0)

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from add_event(device, self.params["title"], *self.wanted())
        yield Terminate("success")


@register
class DeleteEvent(_TargetEvent):
    name = "calendar.delete_event"
    phrasings = (
        "Delete the event {title} from my calendar.",
        "Remove {title} on {date} from the calendar.",
        "Cancel my {title}: delete it from the calendar.",
    )

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(not titled(events_from(outputs["events"]), self.params["title"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from open_event(device, self.params["title"])
        yield from ou.tap(device, rid="action_delete")
        yield from ou.tap(device, rid="android:id/button1")
        yield Terminate("success")


@register
class RenameEvent(_TargetEvent):
    name = "calendar.rename_event"
    difficulty = "hard"
    max_steps = 45
    params_schema = {**_TargetEvent.params_schema, "new_title": TITLE}
    phrasings = (
        "Rename the calendar event {title} to {new_title}.",
        "Change the title of my {title} event to '{new_title}'.",
        "In the calendar, {title} should be called {new_title}. Update it.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        params = _TargetEvent.sample_params(rng)
        params["new_title"] = rng.choice([t for t in ad.EVENT_TITLES if t != params["title"]])
        return params

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        events = events_from(outputs["events"])
        _, start, end = self.target()
        renamed = [
            e for e in titled(events, self.params["new_title"]) if (e.start_ms, e.end_ms) == (start, end)
        ]
        return float(len(renamed) == 1 and not titled(events, self.params["title"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from open_event(device, self.params["title"])
        yield from ou.tap(device, rid="action_edit")
        yield from ui.set_field(device, "title", self.params["new_title"])
        yield from ou.tap(device, rid="action_done")
        yield Terminate("success")


@register
class MoveEvent(_TargetEvent):
    name = "calendar.move_event"
    difficulty = "hard"
    max_steps = 30
    params_schema = {**_TargetEvent.params_schema, "new_hour": HOUR}
    phrasings = (
        "Move my {title} event to start at {new_hour}:{minute:02d} on the same day, keeping its length.",
        "Reschedule {title} to {new_hour}:{minute:02d}; same day, same duration.",
        "{title} now starts at {new_hour}:{minute:02d} instead of {time}. Update the calendar event.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        params = _TargetEvent.sample_params(rng)
        params["new_hour"] = rng.choice([h for h in range(7, 21) if h != params["hour"]])
        return params

    def moved(self) -> tuple[int, int]:
        p = self.params
        return span(p["day"], p["new_hour"], p["minute"], p["length"])

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        found = titled(events_from(outputs["events"]), self.params["title"])
        return float(len(found) == 1 and (found[0].start_ms, found[0].end_ms) == self.moved())

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        start_ms, end_ms = self.moved()
        start, end = EventRecord(0, start_ms, end_ms, "").start, EventRecord(0, start_ms, end_ms, "").end
        yield from open_event(device, self.params["title"])
        yield from ou.tap(device, rid="action_edit")
        for rid, value in (("start_hour", start.hour), ("end_hour", end.hour), ("end_minute", end.minute)):
            yield from ui.set_field(device, rid, f"{value:02d}")
        yield from ou.tap(device, rid="action_done")
        yield Terminate("success")


@register
class WhenIsEvent(_TargetEvent):
    name = "calendar.when_is"
    information = True
    answer_guesses = ("Tomorrow at 10:00", "March 3 at 09:00", "Today", "Monday, March 2 at 10:00")
    phrasings = (
        "When is my {title}? Tell me the date and start time.",
        "On what day and at what time does {title} start?",
        "Check my calendar: when is {title}?",
    )

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        day, p = ad.day_of(self.params["day"]), self.params
        return f"{day:%B} {day.day} at {p['hour']:02d}:{p['minute']:02d}"

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        p = self.params
        ok = date_matches(episode.answer, ad.day_of(p["day"])) and answers.time_matches(
            episode.answer, p["hour"], p["minute"]
        )
        return float(ok)

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Answer]:
        yield from open_event(device, self.params["title"])
        date, times = ou.node_text(device, "when_date") or "", ou.node_text(device, "when_time") or ""
        yield Answer(f"{date} at {times.split(' - ')[0]}")


class _DayTask(_CalendarTask):
    """A day with ``count`` events (drawn from ``world``) among events on other days."""

    params_schema = {"day": DAY, "count": Param(int, min=1, max=4), "world": WORLD}

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {
            "day": ad.task_day(rng).isoformat(),
            "count": rng.randint(1, 4),
            "world": rng.randrange(10**9),
        }

    def on_day(self) -> list[Planned]:
        rng = random.Random(f"calendar-day:{self.params['world']}")
        titles = rng.sample(ad.EVENT_TITLES, self.params["count"])
        hours = sorted(rng.sample(range(7, 21), self.params["count"]))
        return [
            (t, *span(self.params["day"], h, rng.choice((0, 30)), 30))
            for t, h in zip(titles, hours, strict=True)
        ]

    def planned(self) -> list[Planned]:
        mine = self.on_day()
        others = world_events(
            self.params["world"], 7, avoid=[t for t, _, _ in mine], avoid_day=self.params["day"]
        )
        return others + mine

    def day_rows(self, device: AndroidDevice) -> Generator[ui.Action, None, list[str]]:
        """Open the agenda and return the titles listed under the task's day."""
        yield from ou.open_app("Calendar")
        rows = yield from ui.collect_rows(device, ROW)
        day = ad.day_of(self.params["day"])
        heading = f"{day:%a, %b} {day.day}, {day.year}"
        return [label.split(", ")[0] for label, _ in rows if heading in label]


@register
class EventsOnDay(_DayTask):
    name = "calendar.events_on"
    information = True
    answer_guesses = ("Nothing", "No events", "Meeting", "Lunch")
    phrasings = (
        "What is on my calendar on {date}? List the event titles.",
        "Which events do I have on {date}?",
        "Tell me everything scheduled for {date}.",
    )

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        return ", ".join(t for t, _, _ in self.on_day())

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        mine = {t for t, _, _ in self.on_day()}
        others = {t for t, _, _ in self.planned()} - mine
        ok = all(mentions(episode.answer, t) for t in mine) and not any(
            mentions(episode.answer, t) for t in others
        )
        return float(ok)

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Answer]:
        titles = yield from self.day_rows(device)
        yield Answer(", ".join(titles))


@register
class CountEventsOnDay(_DayTask):
    name = "calendar.count_on"
    information = True
    answer_guesses = ("0", "1", "2")
    phrasings = (
        "How many events do I have on {date}?",
        "Count the calendar events on {date} and tell me the number.",
        "How busy am I on {date}? Give me the number of events.",
    )

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        return str(self.params["count"])

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(answers.count_matches(episode.answer, self.params["count"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Answer]:
        titles = yield from self.day_rows(device)
        yield Answer(str(len(titles)))


@register
class EventFromNote(_TargetEvent):
    """Two apps: read an appointment's date and time in Notes, add it to the Calendar."""

    name = "calendar.event_from_note"
    apps = ("Calendar", "Notes")
    sim_only = True
    difficulty = "hard"
    max_steps = 45
    phrasings = (
        "My note '{title}' describes an appointment. Add it to my calendar with the note's title.",
        "Read the note {title} and create a calendar event for it, titled {title}.",
        "Put the appointment from my note '{title}' in the calendar under the same name.",
    )

    def planned(self) -> list[Planned]:
        return _CalendarTask.planned(self)

    def note_body(self) -> str:
        p = self.params
        end = EventRecord(0, *span(p["day"], p["hour"], p["minute"], p["length"]), "").end
        return f"On {spoken_date(ad.day_of(p['day']))} from {p['hour']:02d}:{p['minute']:02d} to {end:%H:%M}"

    def setup_commands(self) -> list[str]:
        return super().setup_commands() + [
            "content delete --uri content://com.phonesim.notes/notes",
            note_insert_cmd("Groceries", "Milk, eggs, rice"),
            note_insert_cmd(self.params["title"], self.note_body()),
        ]

    def reads(self) -> dict[str, str]:
        return {**super().reads(), "notes": notes_query()}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        _, start, end = self.target()
        found = titled(events_from(outputs["events"]), self.params["title"])
        return float(any((e.start_ms, e.end_ms) == (start, end) for e in found))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from ui.open_row(device, "Notes", "note_item", label=self.params["title"])
        if self.note_body() not in (ou.node_text(device, "note_body") or ""):
            raise ou.OracleError(f"note {self.params['title']!r} does not show the appointment")
        yield from add_event(device, *self.target())
        yield Terminate("success")
