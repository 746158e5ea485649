"""Clock templates: add, switch, move and delete alarms, questions about them, and one two-app task with
the Calendar.

Simulator-only: stock Android has no alarm provider, so state is read from PhoneSim's
``content://com.phonesim.deskclock/alarms`` (``hour``, ``minutes``, ``enabled``, ``label``); the app
mirrors AOSP DeskClock (``com.android.deskclock``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any, ClassVar

from emulators.actions import Answer, Terminate
from emulators.device import AndroidDevice
from tasks import answers
from tasks import app_data as ad
from tasks import app_ui as ui
from tasks import oracle_utils as ou
from tasks.app_records import (
    ALARMS,
    AlarmRecord,
    alarm_insert_cmd,
    alarms_from,
    alarms_query,
    same_text,
)
from tasks.base import Episode, Param, register
from tasks.calendar_tasks import WORLD, _TargetEvent, open_event
from tasks.shell_reads import delete_cmd
from tasks.shell_task import ShellTask

LABEL = Param(str, choices=ad.ALARM_LABELS)
HOUR = Param(int, min=0, max=23)
MINUTE = Param(int, min=0, max=59)
Planned = tuple[int, int, str, bool]  # hour, minutes, label, enabled


def world_alarms(world: int, k: int, avoid: list[str], avoid_times: set[tuple[int, int]]) -> list[Planned]:
    """``k`` background alarms with labels not in ``avoid`` and times not in ``avoid_times``."""
    rng = random.Random(f"clock-world:{world}")
    labels = rng.sample([lb for lb in ad.ALARM_LABELS if lb not in avoid], k)
    out: list[Planned] = []
    taken = set(avoid_times)
    for label in labels:
        when = (rng.randint(5, 22), rng.choice((0, 10, 15, 20, 30, 40, 45, 50)))
        while when in taken:
            when = (rng.randint(5, 22), rng.choice((0, 15, 30, 45)))
        taken.add(when)
        out.append((*when, label, rng.random() < 0.6))
    return out


def labelled(alarms: list[AlarmRecord], label: str) -> list[AlarmRecord]:
    return [a for a in alarms if same_text(a.label, label)]


def alarm_changes(before: list[AlarmRecord], after: list[AlarmRecord], allowed: set[str]) -> list[str]:
    now = {a.id: a for a in after}
    out = []
    for a in before:
        if any(same_text(a.label, x) for x in allowed):
            continue
        if a.id not in now:
            out.append(f"alarm {a.label!r} was deleted")
        elif now[a.id] != a:
            out.append(f"alarm {a.label!r} was changed")
    return out


# -- oracle steps -------------------------------------------------------------------------------------


def clock_text(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


def open_alarm(device: AndroidDevice, hour: int, minute: int, label: str) -> Iterator[ui.Action]:
    yield from ui.open_row(device, "Clock", "alarm_item", desc=f"Alarm {clock_text(hour, minute)} {label}")


def fill_alarm(device: AndroidDevice, hour: int, minute: int, label: str | None) -> Iterator[ui.Action]:
    """Fill the alarm form (hint ``HH`` / ``MM`` / ``Label`` when empty) and save."""
    yield from ui.set_field(device, "hour", f"{hour:02d}", empty_hint="HH")
    yield from ui.set_field(device, "minute", f"{minute:02d}", empty_hint="MM")
    if label is not None:
        yield from ui.set_field(device, "label_input", label, empty_hint="Label")
    yield from ou.scroll_to(device, rid="save")
    yield from ou.tap(device, rid="save")


def add_alarm(device: AndroidDevice, hour: int, minute: int, label: str) -> Iterator[ui.Action]:
    yield from ou.open_app("Clock")
    yield from ou.tap(device, rid="fab")
    yield from fill_alarm(device, hour, minute, label)


# -- templates ------------------------------------------------------------------------------------


class _ClockTask(ShellTask):
    """Start: the alarms of ``planned()`` only; reads the alarms table."""

    app: ClassVar[str] = "Clock"
    sim_only = True
    difficulty = "medium"
    max_steps = 15
    params_schema = {"label": LABEL, "hour": HOUR, "minute": MINUTE, "world": WORLD}
    target_enabled: ClassVar[bool | None] = None  # the target alarm's start state; None: not preloaded

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {
            "label": rng.choice(ad.ALARM_LABELS),
            "hour": rng.randint(5, 22),
            "minute": rng.randrange(0, 60, 5),
            "world": rng.randrange(10**9),
        }

    @property
    def instruction(self) -> str:
        p = self.params
        return self.phrasings[self.phrasing].format(**p, time=clock_text(p["hour"], p["minute"]))

    def planned(self) -> list[Planned]:
        p = self.params
        mine = (
            [] if self.target_enabled is None else [(p["hour"], p["minute"], p["label"], self.target_enabled)]
        )
        return world_alarms(p["world"], 3, [p["label"]], {(p["hour"], p["minute"])}) + mine

    def setup_commands(self) -> list[str]:
        return [delete_cmd(ALARMS)] + [alarm_insert_cmd(*a) for a in self.planned()]

    def reads(self) -> dict[str, str]:
        return {"alarms": alarms_query()}

    def mine(self, outputs: dict[str, str]) -> list[AlarmRecord]:
        return labelled(alarms_from(outputs["alarms"]), self.params["label"])

    def side_effects_of(self, before: dict[str, str], after: dict[str, str]) -> list[str]:
        return alarm_changes(
            alarms_from(before["alarms"]), alarms_from(after["alarms"]), {self.params["label"]}
        )


@register
class AddAlarm(_ClockTask):
    name = "clock.add_alarm"
    difficulty = "hard"
    max_steps = 20
    phrasings = (
        "Set an alarm for {time} labelled {label}.",
        "Add a {time} alarm called '{label}'.",
        "Wake me at {time} with an alarm named {label}.",
    )

    def potential(self, outputs: dict[str, str]) -> float:
        p = self.params
        return max(
            (
                (1 + ((a.hour, a.minutes) == (p["hour"], p["minute"])) + a.enabled) / 3
                for a in self.mine(outputs)
            ),
            default=0.0,
        )

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(self.potential(outputs) == 1.0)

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from add_alarm(device, self.params["hour"], self.params["minute"], self.params["label"])
        yield Terminate("success")


class _SwitchAlarm(_ClockTask):
    difficulty = "easy"
    max_steps = 8
    want: ClassVar[bool]

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        found = self.mine(outputs)
        p = self.params
        return float(
            len(found) == 1
            and found[0].enabled == self.want
            and (found[0].hour, found[0].minutes) == (p["hour"], p["minute"])
        )

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        desc = f"{clock_text(self.params['hour'], self.params['minute'])} {self.params['label']}"
        yield from ou.open_app("Clock")
        switch = yield from ou.scroll_to(device, rid="onoff", desc=desc)
        if switch.checked != self.want:
            yield from ou.tap(device, rid="onoff", desc=desc)
        yield Terminate("success")


@register
class AlarmOff(_SwitchAlarm):
    name = "clock.alarm_off"
    target_enabled = True
    want = False
    phrasings = (
        "Turn off my {label} alarm.",
        "Switch off the {time} alarm ({label}).",
        "Disable the alarm labelled {label}, but do not delete it.",
    )


@register
class AlarmOn(_SwitchAlarm):
    name = "clock.alarm_on"
    target_enabled = False
    want = True
    phrasings = (
        "Turn on my {label} alarm.",
        "Switch the {time} alarm ({label}) back on.",
        "Enable the alarm labelled {label}.",
    )


@register
class DeleteAlarm(_ClockTask):
    name = "clock.delete_alarm"
    target_enabled = True
    phrasings = (
        "Delete my {label} alarm.",
        "Remove the {time} alarm labelled {label}.",
        "I don't need the {label} alarm any more: delete it.",
    )

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(not self.mine(outputs))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from open_alarm(device, self.params["hour"], self.params["minute"], self.params["label"])
        yield from ou.scroll_to(device, rid="delete")
        yield from ou.tap(device, rid="delete")
        yield Terminate("success")


@register
class MoveAlarm(_ClockTask):
    name = "clock.change_time"
    difficulty = "hard"
    max_steps = 20
    target_enabled = True
    params_schema = {**_ClockTask.params_schema, "new_hour": HOUR, "new_minute": MINUTE}
    phrasings = (
        "Change my {label} alarm from {time} to {new_hour:02d}:{new_minute:02d}.",
        "Move the {label} alarm to {new_hour:02d}:{new_minute:02d}.",
        "The {label} alarm should ring at {new_hour:02d}:{new_minute:02d} instead. Update it.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        p = super().sample_params(rng)
        new = (p["hour"], p["minute"])
        while new == (p["hour"], p["minute"]):
            new = (rng.randint(5, 22), rng.randrange(0, 60, 5))
        return {**p, "new_hour": new[0], "new_minute": new[1]}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        found = self.mine(outputs)
        want = (self.params["new_hour"], self.params["new_minute"])
        return float(len(found) == 1 and (found[0].hour, found[0].minutes) == want and found[0].enabled)

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        p = self.params
        yield from open_alarm(device, p["hour"], p["minute"], p["label"])
        yield from fill_alarm(device, p["new_hour"], p["new_minute"], None)
        yield Terminate("success")


@register
class AlarmTimeOf(_ClockTask):
    name = "clock.time_of"
    difficulty = "easy"
    information = True
    target_enabled = True
    answer_guesses = ("07:00", "06:30", "08:00", "7 am")
    phrasings = (
        "What time is my {label} alarm set for?",
        "When does the {label} alarm ring?",
        "Check the Clock app: at what time is the alarm labelled {label}?",
    )

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        return f"{self.params['hour']:02d}:{self.params['minute']:02d}"

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(answers.time_matches(episode.answer, self.params["hour"], self.params["minute"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Answer]:
        yield from ou.open_app("Clock")
        rows = yield from ui.collect_rows(device, "alarm_item")
        found = [label for label, _ in rows if label.endswith(f" {self.params['label']}")]
        if len(found) != 1:
            raise ou.OracleError(
                f"expected one alarm labelled {self.params['label']!r}, the list shows {rows}"
            )
        yield Answer(found[0].split()[1])


@register
class AlarmForEvent(_TargetEvent):
    """Two apps: read an event's start time in the Calendar, set an alarm for it in the Clock."""

    name = "clock.alarm_for_event"
    app = "Clock"
    apps = ("Clock", "Calendar")
    sim_only = True
    difficulty = "hard"
    max_steps = 25
    phrasings = (
        "Set an alarm for the time my {title} event starts, labelled {title}.",
        "Look up when {title} begins in my calendar and add an alarm at that time named {title}.",
        "I need an alarm called '{title}' at the start time of the {title} event on {date}.",
    )

    def setup_commands(self) -> list[str]:
        return super().setup_commands() + [delete_cmd(ALARMS), alarm_insert_cmd(7, 0, "Wake up")]

    def reads(self) -> dict[str, str]:
        return {**super().reads(), "alarms": alarms_query()}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        p = self.params
        found = labelled(alarms_from(outputs["alarms"]), p["title"])
        return float(any((a.hour, a.minutes) == (p["hour"], p["minute"]) and a.enabled for a in found))

    def oracle(self, device: AndroidDevice) -> Iterator[ui.Action | Terminate]:
        yield from open_event(device, self.params["title"])
        start = (ou.node_text(device, "when_time") or "").split(" - ")[0]
        hour, minute = (int(x) for x in start.split(":"))
        yield from add_alarm(device, hour, minute, self.params["title"])
        yield Terminate("success")
