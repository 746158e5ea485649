"""Clock (com.android.deskclock): alarms (list, on/off switch, add, edit, delete) and the current time.

Alarms live in ``PhoneState.alarms`` (read by the shell as ``content://com.phonesim.deskclock/alarms``;
stock Android has no alarm provider, so tasks on this app are simulator-only). Hours are 24-hour. As in
AOSP's DeskClock, saving an alarm switches it on and a toast says how long until it rings.
"""

from __future__ import annotations

from emulators.phonesim.apps.base import App, AppContext, register
from emulators.phonesim.state import Alarm
from emulators.phonesim.ui import (
    Button,
    Column,
    ListView,
    NavItems,
    Page,
    Row,
    Switch,
    Text,
    TextField,
    Widget,
    fab,
)

PKG = "com.android.deskclock"
TABS = (("Alarm", "clock"), ("Clock", "clock"))


class BadAlarmTime(ValueError):
    """Hour or minute fields that do not give a 24-hour time."""


def parse_time(hour: str, minute: str) -> tuple[int, int]:
    """(hour, minute) from the form's text; raise ``BadAlarmTime`` naming the field to fix."""
    h, m = hour.strip(), minute.strip()
    if not h.isdigit() or not 0 <= int(h) <= 23:
        raise BadAlarmTime("Enter an hour from 0 to 23")
    if not m.isdigit() or not 0 <= int(m) <= 59:
        raise BadAlarmTime("Enter minutes from 0 to 59")
    return int(h), int(m)


def until_text(now_minutes: int, hour: int, minute: int) -> str:
    """The toast after saving: "Alarm set for 9 h 30 min from now" (a time equal to now means tomorrow)."""
    delta = (hour * 60 + minute - now_minutes) % (24 * 60) or 24 * 60
    hours, minutes = divmod(delta, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    return "Alarm set for " + " ".join(parts) + " from now"


def _find(ctx: AppContext, alarm_id: object) -> Alarm | None:
    return next((a for a in ctx.state.alarms if a.id == alarm_id), None)


@register
class ClockApp(App):
    package = PKG
    label = "Clock"
    icon = "clock"
    colour = (38, 50, 56)
    routes = {"main": ".DeskClock", "edit": ".AlarmEditActivity"}

    # -- main: tabs -----------------------------------------------------------------------------------
    def page_main(self, ctx: AppContext) -> Page:
        tab = int(str(ctx.screen.values.get("tab", 0)))
        nav = NavItems(TABS, tab, lambda i: ctx.screen.values.update(tab=i), PKG)
        if tab == 1:
            return self.page(ctx, "Clock", self._clock_tab(ctx), bottom=nav)
        return self.page(ctx, "Alarm", self._alarm_tab(ctx), bottom=nav,
                         fab=fab("add", "Add alarm", lambda: ctx.push("edit"), rid=f"{PKG}:id/fab"))

    def _alarm_tab(self, ctx: AppContext) -> Widget:
        alarms = sorted(ctx.state.alarms, key=lambda a: (a.hour, a.minutes, a.id))
        if not alarms:
            empty = Text("No alarms", 16, "secondary", align="center", rid=f"{PKG}:id/alarms_empty_view")
            return Column([empty], pad=(16, 48, 16, 16))
        return ListView(ctx.screen, "alarms", [self._alarm_row(ctx, a) for a in alarms],
                        rid=f"{PKG}:id/alarm_recycler_view")

    def _alarm_row(self, ctx: AppContext, alarm: Alarm) -> Widget:
        time = f"{alarm.hour:02d}:{alarm.minutes:02d}"

        def toggle(on: bool) -> None:
            alarm.enabled = on
            ctx.state.touch()

        texts: list[Widget] = [Text(time, 34, "primary" if alarm.enabled else "secondary",
                                    rid=f"{PKG}:id/digital_clock")]
        texts.append(Text(alarm.label or "Alarm", 14, "secondary", rid=f"{PKG}:id/label"))
        switch = Switch(alarm.enabled, toggle, rid=f"{PKG}:id/onoff",
                        desc=f"{time} {alarm.label}".strip())
        return Row([Column(texts, weight=1), switch], pad=(20, 10, 16, 10), gap=12, min_height=88,
                   on_click=lambda: ctx.push("edit", id=alarm.id), rid=f"{PKG}:id/alarm_item",
                   desc=f"Alarm {time} {alarm.label}".strip())

    def _clock_tab(self, ctx: AppContext) -> Widget:
        now = ctx.state.now
        return Column([
            Text(now.strftime("%H:%M"), 64, "primary", align="center", rid=f"{PKG}:id/digital_clock"),
            Text(now.strftime("%a, %b %-d"), 18, "secondary", align="center", rid=f"{PKG}:id/date"),
            Text("Coordinated Universal Time", 14, "secondary", align="center"),
        ], pad=(16, 48, 16, 16), gap=8)

    # -- edit: new or existing alarm ---------------------------------------------------------------------
    def page_edit(self, ctx: AppContext) -> Page:
        v = ctx.screen.values
        alarm = _find(ctx, ctx.screen.args.get("id"))
        if "loaded" not in v:
            v["loaded"] = True
            if alarm is not None:
                v.update(hour=f"{alarm.hour:02d}", minute=f"{alarm.minutes:02d}", label=alarm.label)
        hour = TextField(ctx.screen, "hour", "HH", rid=f"{PKG}:id/hour", weight=1)
        minute = TextField(ctx.screen, "minute", "MM", rid=f"{PKG}:id/minute", weight=1)
        label = TextField(ctx.screen, "label", "Label", rid=f"{PKG}:id/label_input",
                          on_submit=lambda: self._save(ctx))
        buttons: list[Widget] = [Column([], weight=1)]
        if alarm is not None:
            buttons.append(Button("Delete", lambda: self._delete(ctx), style="outlined",
                                  rid=f"{PKG}:id/delete"))
        buttons += [Button("Cancel", ctx.pop, style="text", rid=f"{PKG}:id/cancel"),
                    Button("Save", lambda: self._save(ctx), rid=f"{PKG}:id/save")]
        body = Column([
            Text("Time (24-hour)", 14, "secondary"),
            Row([hour, Text(":", 28, align="center"), minute], gap=8),
            Text("Label", 14, "secondary"),
            label,
            Row(buttons, gap=8),
        ], pad=(16, 16, 16, 16), gap=10)
        title = "Edit alarm" if alarm is not None else "Add alarm"
        return self.page(ctx, title, ListView(ctx.screen, "form", [body]))

    def _save(self, ctx: AppContext) -> None:
        v = ctx.screen
        try:
            hour, minute = parse_time(v.text("hour"), v.text("minute"))
        except BadAlarmTime as e:
            ctx.toast(str(e))
            return
        label = v.text("label").strip()
        alarm = _find(ctx, ctx.screen.args.get("id"))
        if alarm is None:
            ctx.state.add_alarm(hour, minute, label)
        else:
            alarm.hour, alarm.minutes, alarm.label, alarm.enabled = hour, minute, label, True
            ctx.state.touch()
        now = ctx.state.now
        ctx.toast(until_text(now.hour * 60 + now.minute, hour, minute))
        ctx.pop()

    def _delete(self, ctx: AppContext) -> None:
        alarm_id = ctx.screen.args.get("id")
        ctx.state.alarms[:] = [a for a in ctx.state.alarms if a.id != alarm_id]
        ctx.state.touch()
        ctx.toast("Alarm deleted")
        ctx.pop()
