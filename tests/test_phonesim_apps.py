"""PhoneSim's Messages, Calendar, Files, Clock, Notes and Calculator, driven as an agent would drive them.

Each test sets the phone up through shell commands, acts through the UI only (taps on element centres
from the accessibility dump, typed text, keys) and checks the outcome through the shell only.
"""

from __future__ import annotations

import re

import pytest

from emulators.elements import Element, number_elements
from emulators.phonesim.apps.calculator import evaluate, format_number, press
from emulators.phonesim.apps.calendar import BadEventForm, parse_form
from emulators.phonesim.apps.messages import same_number
from emulators.phonesim.device import SimDevice

# 2026-03-02 09:00 UTC is the simulated clock's start (a Monday).
MAR_2_MS = 1_772_442_000_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@pytest.fixture
def dev() -> SimDevice:
    return SimDevice(seed=3, resolution="small")


def find(dev: SimDevice, rid: str | None = None, label: str | None = None) -> Element:
    """The first element whose resource-id ends in ``/rid`` and/or whose text or content-desc is ``label``."""
    elements = number_elements(dev.ui_dump())
    for e in elements:
        rid_ok = rid is None or e.resource_id.endswith("/" + rid)
        if rid_ok and (label is None or label in (e.text, e.content_desc)):
            return e
    shown = [(e.resource_id, e.label) for e in elements]
    raise AssertionError(f"no element rid={rid!r} label={label!r} on screen; have {shown}")


def tap(dev: SimDevice, rid: str | None = None, label: str | None = None) -> None:
    dev.tap(*find(dev, rid, label).center)


def set_field(dev: SimDevice, rid: str, text: str) -> None:
    """Focus a text field, delete what it shows (or its hint), type ``text``."""
    field = find(dev, rid)
    dev.tap(*field.center)
    for _ in field.text:
        dev.key("DEL")
    dev.type_text(text)


def screen_texts(dev: SimDevice) -> list[str]:
    return re.findall(r' text="([^"]*)"', dev.ui_dump())


def query(dev: SimDevice, uri: str, projection: str = "") -> list[dict[str, str]]:
    """Rows of ``content query`` as dicts (values must not contain ", name=")."""
    cmd = f"content query --uri {uri}" + (f" --projection {projection}" if projection else "")
    out = dev.check_shell(cmd)
    rows = []
    for line in out.splitlines():
        m = re.match(r"Row: \d+ (.*)", line)
        if m:
            rows.append(dict(re.findall(r"(\w+)=(.*?)(?=, \w+=|$)", m.group(1))))
    return rows


def sh(dev: SimDevice, cmd: str) -> str:
    return dev.check_shell(cmd)


# -- Calculator ----------------------------------------------------------------------------------------

KEY_RIDS = {"+": "op_add", "−": "op_sub", "×": "op_mul", "÷": "op_div", "=": "eq", ".": "dec_point",
            "C": "clr", "⌫": "del"}


@pytest.mark.parametrize(("keys", "shown"), [
    ("12+3×4.5=", "25.5"),
    ("7÷0=", "Error"),
    ("0.1+0.2=", "0.3"),
    ("9−12=", "-3"),
    ("8÷3=", "2.66666666667"),
    ("5×⌫+2=", "7"),
])
def test_calculator_keys(dev: SimDevice, keys: str, shown: str) -> None:
    dev.open_app("calculator")
    for k in keys:
        tap(dev, KEY_RIDS.get(k, f"digit_{k}"))
    assert find_text(dev, "result") == shown


def find_text(dev: SimDevice, rid: str) -> str:
    m = re.search(rf' text="([^"]*)" resource-id="[\w.]+:id/{rid}"', dev.ui_dump())
    assert m, f"no {rid} on screen"
    return m.group(1)


def test_calculator_logic_chains_and_clears() -> None:
    values: dict[str, object] = {}
    for k in "2+3=×4=":
        press(values, k)
    assert values["result"] == "20"
    press(values, "C")
    assert values == {"expr": "", "result": "", "done": False}
    for k in "1..5+−2":
        press(values, k)
    assert values["expr"] == "1.5−2"
    assert evaluate("−3×2+10÷4") == pytest.approx(-3.5)
    assert format_number(-0.0) == "0" and format_number(1e20) == "1e+20"


# -- Clock ---------------------------------------------------------------------------------------------

ALARMS = "content://com.phonesim.deskclock/alarms"


def test_clock_add_toggle_edit_delete_alarm(dev: SimDevice) -> None:
    sh(dev, f"content insert --uri {ALARMS} --bind hour:i:6 --bind minutes:i:15 --bind label:s:Gym")
    dev.open_app("clock")
    tap(dev, "fab")
    set_field(dev, "hour", "7")
    set_field(dev, "minute", "30")
    set_field(dev, "label_input", "Wake up")
    tap(dev, "save")
    rows = query(dev, ALARMS, "hour:minutes:label:enabled")
    assert {"hour": "7", "minutes": "30", "label": "Wake up", "enabled": "1"} in rows

    tap(dev, "onoff", label="07:30 Wake up")  # the switch toggles without opening the alarm
    assert query(dev, ALARMS, "label:enabled") == [{"label": "Gym", "enabled": "1"},
                                                    {"label": "Wake up", "enabled": "0"}]
    assert "Edit alarm" not in screen_texts(dev)

    tap(dev, label="Alarm 06:15 Gym")
    set_field(dev, "hour", "25")
    tap(dev, "save")  # refused: stays on the form, nothing changes
    assert query(dev, ALARMS, "label:hour") == [{"label": "Gym", "hour": "6"},
                                                {"label": "Wake up", "hour": "7"}]
    tap(dev, "delete")
    assert query(dev, ALARMS, "label") == [{"label": "Wake up"}]


# -- Notes ---------------------------------------------------------------------------------------------

NOTES = "content://com.phonesim.notes/notes"


def test_notes_create_edit_delete(dev: SimDevice) -> None:
    sh(dev, f"content insert --uri {NOTES} --bind title:s:Groceries --bind body:s:milk")
    dev.open_app("notes")
    tap(dev, "fab_new_note")
    set_field(dev, "note_title", "Trip")
    set_field(dev, "note_body", "Pack bags")
    tap(dev, "action_save")
    assert {"title": "Trip", "body": "Pack bags"} in query(dev, NOTES, "title:body")

    tap(dev, label="Groceries")
    dev.tap(*find(dev, "note_body").center)
    dev.type_text(" and eggs")
    dev.key("BACK")  # hides the keyboard
    dev.key("BACK")  # leaves the editor, keeping the edit
    assert {"title": "Groceries", "body": "milk and eggs"} in query(dev, NOTES, "title:body")

    tap(dev, label="Trip")
    tap(dev, "action_delete")
    tap(dev, "button1")
    assert query(dev, NOTES, "title") == [{"title": "Groceries"}]
    assert "Trip" not in screen_texts(dev)


# -- Messages ------------------------------------------------------------------------------------------

def add_contact(dev: SimDevice, name: str, phone: str) -> None:
    sh(dev, "content insert --uri content://com.android.contacts/raw_contacts "
            f"--bind 'display_name:s:{name}'")
    contact_id = query(dev, "content://com.android.contacts/raw_contacts", "_id")[-1]["_id"]
    sh(dev, f"content insert --uri content://com.android.contacts/data --bind raw_contact_id:i:{contact_id} "
            f"--bind mimetype:s:vnd.android.cursor.item/phone_v2 --bind 'data1:s:{phone}'")


def test_messages_compose_to_contact_and_number_and_reply(dev: SimDevice) -> None:
    add_contact(dev, "Ana Diaz", "+34 600 111 222")
    add_contact(dev, "Bob Li", "555-0101")
    sh(dev, "content insert --uri content://sms/inbox --bind address:s:+34600111222 --bind 'body:s:Lunch?'")
    dev.open_app("messages")
    tap(dev, "start_new_conversation_button")
    dev.type_text("bo")  # the "To" field starts focused
    tap(dev, "contact_list_item", label="Bob Li 555-0101")
    dev.type_text("Hello Bob")
    tap(dev, "send_message_button")
    assert query(dev, "content://sms/sent", "address:body") == [{"address": "555-0101", "body": "Hello Bob"}]
    assert "Hello Bob" in screen_texts(dev)  # the new thread is shown

    dev.key("BACK")
    tap(dev, "start_new_conversation_button")
    dev.type_text("Nobody")
    set_field(dev, "compose_message_text", "hi")
    tap(dev, "send_message_button")  # neither a contact nor a number: nothing is sent
    assert len(query(dev, "content://sms/sent")) == 1
    set_field(dev, "recipient_text_view", "+1 650 555 0000")
    tap(dev, "send_message_button")
    assert {"address": "+1 650 555 0000", "body": "hi"} in query(dev, "content://sms/sent", "address:body")

    dev.key("BACK")
    tap(dev, label="Ana Diaz, 1 unread")
    set_field(dev, "compose_message_text", "Yes at noon")
    tap(dev, "send_message_button")
    rows = query(dev, "content://sms", "thread_id:address:type:read:body")
    ana = [r for r in rows if r["thread_id"] == rows[0]["thread_id"]]
    assert [(r["type"], r["read"], r["body"]) for r in ana] == [("1", "1", "Lunch?"),
                                                                ("2", "1", "Yes at noon")]


def test_same_number_is_loose_about_country_codes() -> None:
    assert same_number("+34 600 111 222", "600111222")
    assert not same_number("555-0101", "555-0199")


# -- Calendar ------------------------------------------------------------------------------------------

EVENTS = "content://com.android.calendar/events"


def test_calendar_add_event_then_delete_another(dev: SimDevice) -> None:
    start = MAR_2_MS + DAY_MS + 5 * HOUR_MS
    sh(dev, f"content insert --uri {EVENTS} --bind 'title:s:Dentist' --bind dtstart:l:{start} "
            f"--bind dtend:l:{start + HOUR_MS} --bind calendar_id:i:1 --bind eventTimezone:s:UTC")
    dev.open_app("calendar")
    tap(dev, "floating_action_button")
    dev.type_text("Team lunch")  # the title starts focused
    for rid, text in [("day", "5"), ("start_hour", "12"), ("start_minute", "30"), ("end_hour", "13"),
                      ("end_minute", "45")]:
        set_field(dev, rid, text)
    tap(dev, "action_done")
    rows = query(dev, EVENTS, "title:dtstart:dtend")
    lunch = MAR_2_MS + 3 * DAY_MS + 3 * HOUR_MS + 30 * 60_000  # 2026-03-05 12:30 UTC
    assert {"title": "Team lunch", "dtstart": str(lunch), "dtend": str(lunch + 75 * 60_000)} in rows

    tap(dev, "agenda_item", label="Dentist, Tomorrow - Tue, Mar 3, 2026, 14:00 - 15:00")
    tap(dev, "action_delete")
    tap(dev, "button1")
    assert [r["title"] for r in query(dev, EVENTS, "title")] == ["Team lunch"]


def test_calendar_form_rejects_bad_input(dev: SimDevice) -> None:
    ok = {"year": "2026", "month": "3", "day": "2", "start_hour": "10", "start_minute": "0",
          "end_hour": "11", "end_minute": "0"}
    assert parse_form(ok).start_ms == MAR_2_MS + HOUR_MS
    for bad in ({"day": "30", "month": "2"}, {"end_hour": "9"}, {"start_minute": "60"}, {"year": ""}):
        with pytest.raises(BadEventForm):
            parse_form({**ok, **bad})
    dev.open_app("calendar")
    tap(dev, "floating_action_button")
    tap(dev, "action_done")  # no title: nothing saved, the form stays
    assert query(dev, EVENTS) == [] and "New event" in screen_texts(dev)


# -- Files ---------------------------------------------------------------------------------------------

def test_files_create_rename_delete(dev: SimDevice) -> None:
    sh(dev, "echo hello world > /sdcard/Documents/readme.txt; mkdir /sdcard/Documents/Old; "
            "touch /sdcard/Documents/Old/x.txt")
    dev.open_app("files")
    tap(dev, "action_menu_create_dir")
    dev.type_text("Receipts")
    tap(dev, "button1")
    assert "Receipts" in sh(dev, "ls /sdcard").split()

    tap(dev, label="Documents")
    dev.long_press(*find(dev, label="Old").center)
    tap(dev, "action_menu_rename")
    set_field(dev, "edit", "Archive")
    tap(dev, "button1")
    assert sh(dev, "ls /sdcard/Documents").split() == ["Archive", "readme.txt"]
    assert sh(dev, "ls /sdcard/Documents/Archive").split() == ["x.txt"]

    tap(dev, label="readme.txt")
    assert "hello world" in "".join(screen_texts(dev))
    dev.key("BACK")
    tap(dev, label="More options for Archive")
    tap(dev, "action_menu_delete")
    tap(dev, "button1")
    assert sh(dev, "ls /sdcard/Documents").split() == ["readme.txt"]
    assert dev.shell("ls /sdcard/Documents/Archive").exit_code != 0


def test_files_refuses_duplicate_and_bad_names(dev: SimDevice) -> None:
    dev.open_app("files")
    for name in ("Music", "a/b"):
        tap(dev, "action_menu_create_dir")
        dev.type_text(name)
        tap(dev, "button1")
        dev.key("BACK")  # hide the keyboard
        dev.key("BACK")  # close the dialog
    tap(dev, "action_menu_create_file")
    dev.type_text("todo.txt")
    dev.key("ENTER")
    listed = set(sh(dev, "ls /sdcard").split()) - {"window_dump.xml"}  # ui_dump() writes that one
    assert listed == {"DCIM", "Documents", "Download", "Movies", "Music", "Pictures", "todo.txt"}
    assert sh(dev, "cat /sdcard/todo.txt") == ""
