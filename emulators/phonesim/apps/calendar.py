"""Calendar (com.android.calendar): an agenda of events by day, event details, and an event form.

Events live in ``PhoneState.events`` (the shell's ``content://com.android.calendar/events``), with
``dtstart`` / ``dtend`` in epoch milliseconds. The phone's time zone is UTC, so the times typed in the form
are UTC. A new event's form starts on today's date at the next full hour, lasting one hour; the date is
typed as year / month / day and the times as 24-hour hour / minute fields.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from emulators.phonesim.apps.base import App, AppContext, register
from emulators.phonesim.state import Event
from emulators.phonesim.ui import (
    Button,
    Column,
    Dialog,
    Icon,
    ListView,
    Page,
    Row,
    Text,
    TextField,
    Widget,
    fab,
    list_item,
    section_header,
)

PKG = "com.android.calendar"
DATE_KEYS = ("year", "month", "day")
TIME_KEYS = ("start_hour", "start_minute", "end_hour", "end_minute")


class BadEventForm(ValueError):
    """The event form holds a missing title, an impossible date or time, or an end before the start."""


@dataclass(frozen=True)
class EventTimes:
    start_ms: int
    end_ms: int


def to_ms(when: dt.datetime) -> int:
    return round(when.timestamp() * 1000)


def from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _field_int(text: str, name: str, lo: int, hi: int) -> int:
    t = text.strip()
    if not t.isdigit() or not lo <= int(t) <= hi:
        raise BadEventForm(f"Enter a {name} from {lo} to {hi}")
    return int(t)


def parse_form(values: dict[str, str]) -> EventTimes:
    """Start and end (UTC ms) from the form's text; raise ``BadEventForm`` saying what to fix."""
    year = _field_int(values.get("year", ""), "year", 1970, 2100)
    month = _field_int(values.get("month", ""), "month", 1, 12)
    day = _field_int(values.get("day", ""), "day", 1, 31)
    try:
        date = dt.date(year, month, day)
    except ValueError as e:
        raise BadEventForm(f"{year}-{month:02d}-{day:02d} is not a date") from e
    sh = _field_int(values.get("start_hour", ""), "start hour", 0, 23)
    sm = _field_int(values.get("start_minute", ""), "start minute", 0, 59)
    eh = _field_int(values.get("end_hour", ""), "end hour", 0, 23)
    em = _field_int(values.get("end_minute", ""), "end minute", 0, 59)
    start = dt.datetime(date.year, date.month, date.day, sh, sm, tzinfo=dt.UTC)
    end = dt.datetime(date.year, date.month, date.day, eh, em, tzinfo=dt.UTC)
    if end < start:
        raise BadEventForm("The end time is before the start time")
    return EventTimes(to_ms(start), to_ms(end))


def form_values(start: dt.datetime, end: dt.datetime) -> dict[str, str]:
    """The form's text for an event from ``start`` to ``end`` (the end clipped to the start's day)."""
    if end.date() != start.date():
        end = start.replace(hour=23, minute=59)
    return {"year": str(start.year), "month": f"{start.month:02d}", "day": f"{start.day:02d}",
            "start_hour": f"{start.hour:02d}", "start_minute": f"{start.minute:02d}",
            "end_hour": f"{end.hour:02d}", "end_minute": f"{end.minute:02d}"}


def time_range(event: Event) -> str:
    if event.all_day:
        return "All day"
    return f"{from_ms(event.dtstart_ms):%H:%M} - {from_ms(event.dtend_ms):%H:%M}"


def day_heading(day: dt.date, today: dt.date) -> str:
    label = f"{day:%a, %b} {day.day}, {day.year}"
    relative = {0: "Today", 1: "Tomorrow", -1: "Yesterday"}.get((day - today).days)
    return f"{relative} - {label}" if relative else label


def _find(ctx: AppContext, event_id: object) -> Event | None:
    return next((e for e in ctx.state.events if e.id == event_id), None)


def _labelled(label: str, field: TextField) -> Widget:
    return Column([Text(label, 12, "secondary"), field], gap=2, weight=1)


@register
class CalendarApp(App):
    package = PKG
    label = "Calendar"
    icon = "calendar"
    colour = (66, 133, 244)
    routes = {"main": ".AllInOneActivity", "detail": ".EventInfoActivity", "edit": ".EditEventActivity"}

    # -- agenda -------------------------------------------------------------------------------------
    def page_main(self, ctx: AppContext) -> Page:
        today = ctx.state.now.date()
        events = sorted(ctx.state.events, key=lambda e: (e.dtstart_ms, e.dtend_ms, e.id))
        rows: list[Widget] = []
        shown_day: dt.date | None = None
        for e in events:
            day = from_ms(e.dtstart_ms).date()
            if day != shown_day:
                rows.append(section_header(day_heading(day, today)))
                shown_day = day
            subtitle = time_range(e) + (f", {e.location}" if e.location else "")
            rows.append(list_item(e.title or "(No title)", subtitle, icon="calendar",
                                  on_click=lambda e=e: ctx.push("detail", id=e.id),
                                  rid=f"{PKG}:id/agenda_item",
                                  desc=f"{e.title}, {day_heading(day, today)}, {subtitle}"))
        header = Text(f"{ctx.state.now:%B %Y}", 15, "accent", rid=f"{PKG}:id/month_label")
        parts: list[Widget] = [Column([header], pad=(16, 0, 16, 4))]
        if rows:
            parts.append(ListView(ctx.screen, "agenda", rows, rid=f"{PKG}:id/agenda_events_list"))
        else:
            parts.append(Column([Text("No events", 16, "secondary", align="center", rid=f"{PKG}:id/empty")],
                                pad=(16, 48, 16, 16)))
        return self.page(ctx, "Calendar", Column(parts),
                         fab=fab("add", "Create new event", lambda: ctx.push("edit"),
                                 rid=f"{PKG}:id/floating_action_button"))

    # -- one event ------------------------------------------------------------------------------------
    def page_detail(self, ctx: AppContext) -> Page:
        event = _find(ctx, ctx.screen.args.get("id"))
        if event is None:
            gone = Column([Text("This event no longer exists", 16, "secondary")], pad=16)
            return self.page(ctx, "Event", gone)
        start = from_ms(event.dtstart_ms)
        lines: list[Widget] = [
            Text(event.title or "(No title)", 24, wrap_lines=True, rid=f"{PKG}:id/title"),
            Text(f"{start:%A, %B} {start.day}, {start.year}", 16, rid=f"{PKG}:id/when_date"),
            Text(time_range(event), 16, "secondary", rid=f"{PKG}:id/when_time"),
        ]
        if event.location:
            lines.append(Text(event.location, 15, "secondary", wrap_lines=True, rid=f"{PKG}:id/where"))
        if event.description:
            lines.append(Text(event.description, 15, wrap_lines=True, rid=f"{PKG}:id/description"))
        actions = [
            Icon("edit", 24, "primary", desc="Edit event", rid=f"{PKG}:id/action_edit",
                 on_click=lambda: ctx.push("edit", id=event.id)),
            Icon("delete", 24, "primary", desc="Delete event", rid=f"{PKG}:id/action_delete",
                 on_click=lambda: ctx.open_dialog("delete")),
        ]
        dialog = None
        if ctx.screen.dialog == "delete":
            buttons = [Button("Cancel", ctx.close_dialog, rid="android:id/button2"),
                       Button("Delete", lambda: self._delete(ctx, event.id), rid="android:id/button1")]
            dialog = Dialog("Delete this event?", [Text(event.title, 15, "secondary", wrap_lines=True)],
                            buttons, PKG)
        body = ListView(ctx.screen, "detail", [Column(lines, pad=(20, 8, 20, 16), gap=10)])
        return self.page(ctx, "", body, actions=actions, dialog=dialog)

    def _delete(self, ctx: AppContext, event_id: int) -> None:
        ctx.close_dialog()
        ctx.state.events[:] = [e for e in ctx.state.events if e.id != event_id]
        ctx.state.touch()
        ctx.toast("Event deleted")
        ctx.pop()

    # -- the form -------------------------------------------------------------------------------------
    def _load_form(self, ctx: AppContext, event: Event | None) -> None:
        v = ctx.screen.values
        if "loaded" in v:
            return
        v["loaded"] = True
        if event is not None:
            v.update(form_values(from_ms(event.dtstart_ms), from_ms(event.dtend_ms)),
                     title=event.title, location=event.location)
            return
        now = ctx.state.now
        start = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
        v.update(form_values(start, start + dt.timedelta(hours=1)))
        ctx.screen.focus = "title"

    def page_edit(self, ctx: AppContext) -> Page:
        event = _find(ctx, ctx.screen.args.get("id"))
        self._load_form(ctx, event)
        sc = ctx.screen

        def field(key: str, hint: str) -> TextField:
            return TextField(sc, key, hint, rid=f"{PKG}:id/{key}")

        form = Column([
            TextField(sc, "title", "Title", rid=f"{PKG}:id/title"),
            Text("Date", 14, "accent"),
            Row([_labelled("Year", field("year", "YYYY")), _labelled("Month", field("month", "MM")),
                 _labelled("Day", field("day", "DD"))], gap=8),
            Text("Starts", 14, "accent"),
            Row([_labelled("Hour", field("start_hour", "HH")),
                 _labelled("Minute", field("start_minute", "MM"))], gap=8),
            Text("Ends", 14, "accent"),
            Row([_labelled("Hour", field("end_hour", "HH")), _labelled("Minute", field("end_minute", "MM"))],
                gap=8),
            TextField(sc, "location", "Location", rid=f"{PKG}:id/location"),
        ], pad=(16, 8, 16, 16), gap=8)
        save = Button("Save", lambda: self._save(ctx), rid=f"{PKG}:id/action_done")
        return self.page(ctx, "Edit event" if event is not None else "New event",
                         ListView(ctx.screen, "form", [form]), actions=[save])

    def _save(self, ctx: AppContext) -> None:
        sc = ctx.screen
        title = sc.text("title").strip()
        try:
            if not title:
                raise BadEventForm("Enter a title")
            times = parse_form({k: sc.text(k) for k in DATE_KEYS + TIME_KEYS})
        except BadEventForm as e:
            ctx.toast(str(e))
            return
        location = sc.text("location").strip()
        event = _find(ctx, sc.args.get("id"))
        if event is None:
            ctx.state.add_event(title, times.start_ms, times.end_ms, location=location)
            ctx.toast("Event saved")
        else:
            event.title, event.location = title, location
            event.dtstart_ms, event.dtend_ms, event.all_day = times.start_ms, times.end_ms, False
            ctx.state.touch()
            ctx.toast("Event updated")
        ctx.pop()
