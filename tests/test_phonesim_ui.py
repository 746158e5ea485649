"""PhoneSim's UI side: toolkit, system UI, Settings and Contacts, driven the way an agent drives them.

Elements are found through ``number_elements`` on the accessibility dump and tapped at their centres.
Where the shell interpreter is importable, actions go through the shell (``input tap`` …) as on a real
device; otherwise straight to the ``Phone``.
"""

from __future__ import annotations

import importlib
import time

import pytest

from emulators.elements import Element, number_elements
from emulators.phonesim import Phone, SimDevice
from emulators.phonesim.ui import Button, Column, ListView, Look, Screen, Text
from emulators.phonesim.ui.tree import click_target, hit_path


def _shell_ready() -> bool:
    """Whether the shell interpreter (written alongside this UI) can be imported yet."""
    try:
        importlib.import_module("emulators.phonesim.shell.interpreter")
    except ImportError:
        return False
    return True


SHELL = _shell_ready()


class Driver:
    """Acts on a SimDevice through its shell when available, else through its Phone."""

    def __init__(self, seed: int = 0, randomize: bool = True) -> None:
        self.dev = SimDevice(seed=seed, resolution="small", randomize=randomize)
        self.phone = self.dev.phone

    def elements(self) -> list[Element]:
        return number_elements(self.dev.ui_dump() if SHELL else self.phone.dump_xml())

    def find(self, label: str, kind: str = "") -> Element:
        found = [e for e in self.elements() if e.label == label and e.class_name.endswith(kind)]
        assert found, f"no element {label!r} ({kind}) in {[e.describe() for e in self.elements()]}"
        return found[0]

    def tap(self, label: str, kind: str = "") -> None:
        x, y = self.find(label, kind).center
        self.dev.tap(x, y) if SHELL else self.phone.tap(x, y)

    def type(self, text: str) -> None:
        self.dev.type_text(text) if SHELL else self.phone.input_text(text)

    def key(self, name: str, code: int) -> None:
        self.dev.key(name) if SHELL else self.phone.keyevent(code)

    def open(self, package: str) -> None:
        assert self.phone.launch(package)

    def labels(self) -> list[str]:
        return [e.label for e in self.elements()]


# -- toolkit -------------------------------------------------------------------------------------------

def test_hit_testing_picks_deepest_enabled_clickable() -> None:
    look = Look.make((540, 1200), 0, randomize=False)
    hits: list[str] = []
    ok = Button("OK", lambda: hits.append("ok"))
    off = Button("Off", lambda: hits.append("off"), enabled=False)
    row = Column([ok, off, Text("plain")], on_click=lambda: hits.append("row"))
    row.place(look, (0, 0, 540, 600))
    for widget in (ok, off, row.children[2]):
        x1, y1, x2, y2 = widget.bounds
        target = click_target(hit_path(row, (x1 + x2) / 2, (y1 + y2) / 2))
        if target is not None and target.on_click is not None:
            target.on_click()
    assert hits == ["ok", "row"]  # the disabled button swallows its tap; plain text falls to the row
    assert hit_path(row, 600, 10) == []


def test_long_press_goes_to_long_click_handler_or_falls_back_to_tap() -> None:
    phone = Phone(resolution="small", randomize=False)
    phone.launch("com.android.settings")
    el = next(e for e in number_elements(phone.dump_xml()) if e.label == "Display")
    phone.swipe(el.center[0], el.center[1], el.center[0] + 3, el.center[1], 1000)  # no long-click: a tap
    assert phone.focused_window().endswith("DisplaySettingsActivity")
    look = Look.make((540, 1200), 0, randomize=False)
    hits: list[str] = []
    both = Button("x", lambda: hits.append("tap"), on_long_click=lambda: hits.append("long"))
    both.place(look, (0, 0, 100, 100))
    for long in (False, True):
        target = click_target(hit_path(both, 50, 50), long)
        assert target is both
        (target.on_long_click if long else target.on_click)()  # type: ignore[misc]
    assert hits == ["tap", "long"]


def test_list_scrolls_by_swipe_distance_and_hides_offscreen_rows() -> None:
    look = Look.make((540, 1200), 0, randomize=False)
    screen = Screen("a.Main", "main")
    rows = [Text(f"row {i}", 16) for i in range(100)]
    lst = ListView(screen, "l", rows)
    lst.place(look, (0, 100, 540, 700))
    assert lst.scrollable and rows[0] in lst.visible_kids() and rows[99] not in lst.visible_kids()
    assert lst.scroll_by(250)
    assert screen.values["l#scroll"] == 250
    lst.place(look, (0, 100, 540, 700))
    assert rows[0].bounds[1] == 100 - 250
    lst.scroll_by(10**6)
    lst.place(look, (0, 100, 540, 700))
    assert rows[99] in lst.visible_kids() and lst.bounds[3] == rows[99].bounds[3]


# -- system UI -----------------------------------------------------------------------------------------

def test_launcher_shows_apps_and_opens_them() -> None:
    d = Driver()
    labels = d.labels()
    assert {"Settings", "Contacts"} <= set(labels)
    assert {"Back", "Home", "Overview"} <= set(labels)
    d.tap("Contacts")
    assert d.phone.focused_window() == "com.android.contacts/com.android.contacts.activities.PeopleActivity"


def test_back_stack_home_and_recents() -> None:
    d = Driver()
    d.tap("Settings")
    d.tap("Display")
    assert d.phone.focused_window().endswith("DisplaySettingsActivity")
    d.tap("Back")  # navigation bar button
    assert d.phone.focused_window() == "com.android.settings/com.android.settings.Settings"
    d.tap("Sound & vibration")
    d.tap("Navigate up")  # app bar arrow
    d.key("BACK", 4)
    assert "launcher3" in d.phone.focused_window()
    d.tap("Settings")  # the task kept its state (Android 12+ root back)
    d.tap("Network & internet")
    d.key("HOME", 3)
    assert "launcher3" in d.phone.focused_window()
    d.key("APP_SWITCH", 187)
    assert "Settings" in d.labels() and "Clear all" in d.labels()
    d.tap("Settings", "LinearLayout")
    assert d.phone.focused_window().endswith("NetworkDashboardActivity")


def test_taps_outside_screen_are_ignored() -> None:
    phone = Phone(resolution="small")
    before = (phone.state.now_ms, phone.render().tobytes())
    phone.tap(-5, 10)
    phone.tap(540, 100)
    phone.swipe(100, 1200, 100, 300, 300)
    assert (phone.state.now_ms, phone.render().tobytes()) == before
    phone.tap(10, 600)
    assert phone.state.now_ms == before[0] + phone.state.ms_per_action


# -- Settings ------------------------------------------------------------------------------------------

def test_settings_switches_follow_taps() -> None:
    d = Driver()
    d.open("com.android.settings")
    d.tap("Network & internet")
    state = d.phone.state
    assert state.wifi_radio and not state.airplane_mode
    status_before = d.phone.render().crop((0, 0, 540, 40)).tobytes()
    d.tap("Airplane mode")
    assert d.phone.render().crop((0, 0, 540, 40)).tobytes() != status_before  # status bar icons
    assert state.airplane_mode and not state.wifi_radio and state.settings["global"]["wifi_on"] == "0"
    switches = [e for e in d.elements() if e.class_name == "android.widget.Switch"]
    assert [e.checked for e in switches[:3]] == [False, False, True]
    d.tap("Bluetooth")
    assert state.bluetooth_radio and state.settings["global"]["bluetooth_on"] == "1"
    x, y = switches[0].center  # the Wi-Fi switch itself
    d.phone.tap(x, y)
    assert state.wifi_radio and state.settings["global"]["wifi_on"] == "2"
    d.tap("Airplane mode")
    assert not state.airplane_mode and state.wifi_radio


def test_display_dark_theme_brightness_and_rendering() -> None:
    d = Driver()
    d.open("com.android.settings")
    d.tap("Display")
    light = d.phone.render()
    d.tap("Dark theme")
    assert d.phone.state.settings["secure"]["ui_night_mode"] == "2"
    dark = d.phone.render()
    assert light.getpixel((270, 600))[0] > 200 and dark.getpixel((270, 600))[0] < 60
    bar = d.find("Brightness level", "SeekBar")
    d.phone.tap(bar.bounds[2] - 1, bar.center[1])
    assert d.phone.state.settings["system"]["screen_brightness"] == "255"
    d.phone.swipe(bar.center[0], bar.center[1], bar.bounds[0], bar.center[1], 300)
    assert d.phone.state.settings["system"]["screen_brightness"] == "0"


def test_sound_sliders_and_device_name_dialog() -> None:
    d = Driver()
    d.open("com.android.settings")
    d.tap("Sound & vibration")
    bar = d.find("Media volume", "SeekBar")
    d.phone.tap(bar.center[0], bar.center[1])
    assert d.phone.state.settings["system"]["volume_music"] in ("7", "8")
    d.key("BACK", 4)
    d.tap("About phone")
    d.tap("Device name")
    field = [e for e in d.elements() if e.editable][0]
    assert field.text == "PhoneSim"
    d.phone.tap(*field.center)
    for _ in range(len("PhoneSim")):
        d.key("DEL", 67)
    d.type("Ana's phone")
    d.tap("OK")
    assert d.phone.state.settings["global"]["device_name"] == "Ana's phone"
    assert d.find("Device name").label == "Device name"  # the dialog closed, the page shows again
    assert "Ana&apos;s phone" in d.phone.dump_xml() or "Ana's phone" in d.phone.dump_xml()


# -- Contacts ------------------------------------------------------------------------------------------

def _add_contact(d: Driver, name: str, phone: str, email: str) -> None:
    d.tap("Create contact")
    for hint, value in (("Name", name), ("Phone", phone), ("Email", email)):
        d.tap(hint, "EditText")
        d.type(value)
    d.tap("Save")


def test_contacts_add_edit_favourite_delete_through_the_ui() -> None:
    d = Driver()
    d.open("com.android.contacts")
    _add_contact(d, "Ana Diaz", "+34 600 111 222", "ana@example.com")
    state = d.phone.state
    assert [(c.name, c.phones, c.emails) for c in state.contacts] == [
        ("Ana Diaz", ["+34 600 111 222"], ["ana@example.com"])]
    assert d.phone.focused_window().endswith("QuickContactActivity")
    d.tap("Add to favorites")
    assert state.contacts[0].starred
    d.tap("Edit contact")
    d.tap("+34 600 111 222", "EditText")
    for _ in range(3):
        d.key("DEL", 67)
    d.type("333")
    d.key("ENTER", 66)
    d.tap("Save")
    assert state.contacts[0].phones == ["+34 600 111 333"]
    d.tap("Delete")
    assert "Delete this contact?" in d.phone.dump_xml()
    d.tap("Cancel")
    assert state.contacts
    d.tap("Delete")
    d.tap("Delete", "Button")
    assert state.contacts == []
    assert d.phone.focused_window().endswith("PeopleActivity")


def test_contacts_sorted_search_and_scroll() -> None:
    d = Driver()
    for i in range(30):
        d.phone.state.add_contact(f"Person {29 - i:02d}", [f"555-01{i:02d}"])
    d.open("com.android.contacts")
    names = [e.label for e in d.elements() if e.label.startswith("Person")]
    assert names == sorted(names) and names[0] == "Person 00" and "Person 29" not in names
    lst = [e for e in d.elements() if e.scrollable][0]
    x, y1, _, y2 = lst.bounds
    d.phone.swipe(x + 50, y2 - 10, x + 50, y1 + 10, 300)
    after = [e.label for e in d.elements() if e.label.startswith("Person")]
    assert after[0] > names[0] and after != names
    d.tap("Search contacts", "EditText")
    d.type("person 1")
    found = [e.label for e in d.elements() if e.label.startswith("Person")]
    assert len(found) >= 3 and found == [f"Person 1{i}" for i in range(len(found))]
    d.key("BACK", 4)  # hide the keyboard: the whole list shows
    shown = [e.label for e in d.elements() if e.label.startswith("Person")]
    assert shown == [f"Person 1{i}" for i in range(10)]


def test_keyboard_keys_type_into_focused_field() -> None:
    d = Driver()
    d.open("com.android.contacts")
    d.tap("Search contacts", "EditText")
    kb_top = d.phone.window().keyboard
    assert kb_top is not None
    for label in ("a", "n", "a"):
        key = next(k for row in kb_top.children for k in row.kids() if getattr(k, "label", "") == label)
        d.phone.tap(*((key.bounds[0] + key.bounds[2]) // 2, (key.bounds[1] + key.bounds[3]) // 2))
        kb_top = d.phone.window().keyboard
        assert kb_top is not None
    assert d.phone.ui.top().values["query"] == "ana"
    d.key("BACK", 4)
    assert d.phone.window().keyboard is None


# -- determinism, randomisation, fork, speed ----------------------------------------------------------

def _script(d: Driver) -> bytes:
    d.tap("Settings")
    d.tap("Network & internet")
    d.tap("Bluetooth")
    d.key("HOME", 3)
    d.tap("Contacts")
    return d.dev.screenshot().tobytes()


def test_same_seed_same_actions_identical_screens() -> None:
    assert _script(Driver(seed=3)) == _script(Driver(seed=3))
    shots = {Driver(seed=s).dev.screenshot().tobytes() for s in range(4)}
    assert len(shots) > 1  # domain randomisation changes the look
    plain = {Driver(seed=s, randomize=False).dev.screenshot().tobytes() for s in range(2)}
    assert len(plain) == 1


def test_fork_copies_are_independent() -> None:
    d = Driver()
    d.open("com.android.settings")
    d.tap("Network & internet")
    a, b = d.dev.fork(2)
    assert isinstance(a, SimDevice) and isinstance(b, SimDevice)
    assert a.screenshot().tobytes() == d.dev.screenshot().tobytes()
    x, y = next(e for e in number_elements(a.phone.dump_xml()) if e.label == "Airplane mode").center
    a.phone.tap(x, y)
    assert a.phone.state.airplane_mode and not b.phone.state.airplane_mode and not d.phone.state.airplane_mode
    b.phone.keyevent(4)
    assert a.phone.focused_window().endswith("NetworkDashboardActivity")
    assert b.phone.focused_window().endswith(".Settings")
    assert a.screenshot().tobytes() != b.screenshot().tobytes()
    start = time.perf_counter()
    d.dev.fork(20)
    assert (time.perf_counter() - start) / 20 < 0.02


def test_step_latency_small() -> None:
    phone = Phone(resolution="small")
    phone.launch("com.android.settings")
    phone.render()
    start = time.perf_counter()
    for _ in range(20):
        phone.swipe(270, 900, 270, 500, 300)
        phone.render()
    assert (time.perf_counter() - start) / 20 < 0.05  # generous: CI machines are shared


@pytest.mark.skipif(not SHELL, reason="needs emulators/phonesim/shell/")
def test_shell_sees_ui_changes() -> None:
    d = Driver()
    d.open("com.android.settings")
    d.tap("Network & internet")
    d.tap("Airplane mode")
    assert d.dev.shell("settings get global airplane_mode_on").output.strip() == "1"
    assert "com.android.settings" in d.dev.shell("dumpsys window").output
    assert d.dev.screen_size == (540, 1200)
    png = d.dev.exec_out("screencap -p")
    assert png.startswith(b"\x89PNG")
