"""PhoneSim's persistent state: settings, radios, providers' rows, files, alarms, notes and the clock.

Plain data only. The UI (apps) and the shell interpreter both read and change it; every change goes through
a method here or is followed by ``touch()`` so ``version`` grows and caches (rendered frames, dumps) know
to refresh. Copying a ``PhoneState`` with ``copy.deepcopy`` gives a fully independent phone state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# 2026-03-02 09:00:00 UTC, a Monday: the simulated clock's default start.
DEFAULT_EPOCH_MS = 1_772_442_000_000
MS_PER_ACTION = 1_000


@dataclass
class Contact:
    id: int
    name: str
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    starred: bool = False


@dataclass
class Sms:
    id: int
    thread_id: int
    address: str
    body: str
    date_ms: int
    type: int  # 1 inbox (received), 2 sent, as in content://sms
    read: bool = True


@dataclass
class Event:
    id: int
    title: str
    dtstart_ms: int
    dtend_ms: int
    description: str = ""
    location: str = ""
    all_day: bool = False


@dataclass
class Alarm:
    id: int
    hour: int
    minutes: int
    label: str = ""
    enabled: bool = True


@dataclass
class Note:
    id: int
    title: str
    body: str
    modified_ms: int


@dataclass
class FileNode:
    is_dir: bool
    data: bytes = b""
    mtime_ms: int = DEFAULT_EPOCH_MS
    mode: int = 0o660


def _default_settings() -> dict[str, dict[str, str]]:
    return {
        "global": {
            "airplane_mode_on": "0",
            "wifi_on": "1",
            "bluetooth_on": "0",
            "mobile_data": "1",
            "device_name": "PhoneSim",
            "auto_time": "1",
            "adb_enabled": "1",
            "device_provisioned": "1",
            "stay_on_while_plugged_in": "0",
            "window_animation_scale": "1.0",
            "transition_animation_scale": "1.0",
            "animator_duration_scale": "1.0",
        },
        "system": {
            "screen_brightness": "128",
            "screen_brightness_mode": "0",
            "volume_ring": "5",
            "volume_music": "8",
            "volume_alarm": "6",
            "vibrate_when_ringing": "0",
            "font_scale": "1.0",
            "screen_off_timeout": "60000",
            "accelerometer_rotation": "0",  # auto-rotate off; PhoneSim never rotates
            "user_rotation": "0",
        },
        "secure": {
            "ui_night_mode": "1",  # 1 = light, 2 = dark, as UiModeManager stores it
            "location_mode": "3",
            "android_id": "a1b2c3d4e5f60718",
            "user_setup_complete": "1",
            "default_input_method": "com.android.inputmethod.latin/.LatinIME",
            "enabled_input_methods": "com.android.inputmethod.latin/.LatinIME",
        },
    }


def _default_files() -> dict[str, FileNode]:
    dirs = ["/", "/sdcard", "/sdcard/Download", "/sdcard/Documents", "/sdcard/Pictures", "/sdcard/DCIM",
            "/sdcard/Music", "/sdcard/Movies", "/data", "/data/local", "/data/local/tmp", "/system",
            "/system/bin", "/dev"]
    return {d: FileNode(is_dir=True, mode=0o771) for d in dirs}


@dataclass
class PhoneState:
    """Everything that persists across app launches; UI-only state lives in the apps."""

    now_ms: int = DEFAULT_EPOCH_MS
    ms_per_action: int = MS_PER_ACTION
    battery_level: int = 87
    wifi_radio: bool = True
    bluetooth_radio: bool = False
    settings: dict[str, dict[str, str]] = field(default_factory=_default_settings)
    contacts: list[Contact] = field(default_factory=list)
    sms: list[Sms] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    files: dict[str, FileNode] = field(default_factory=_default_files)
    next_id: int = 1
    version: int = 0

    # -- bookkeeping --------------------------------------------------------------------------------
    def touch(self) -> None:
        self.version += 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def advance(self, ms: int | None = None) -> None:
        """Move the simulated clock (once per action by default); never reads the wall clock."""
        self.now_ms += self.ms_per_action if ms is None else ms

    @property
    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now_ms / 1000, tz=dt.UTC)

    # -- settings and radios -------------------------------------------------------------------------
    def get_setting(self, namespace: str, key: str) -> str | None:
        return self.settings[namespace].get(key)

    def put_setting(self, namespace: str, key: str, value: str) -> None:
        """Store a value. As on Android, writing wifi_on / bluetooth_on does not switch a radio."""
        self.settings[namespace][key] = value
        self.touch()

    @property
    def airplane_mode(self) -> bool:
        return self.settings["global"].get("airplane_mode_on") == "1"

    def set_wifi(self, on: bool) -> None:
        self.wifi_radio = on
        # Android: 0 off, 1 on, 2 on while airplane mode is on.
        self.settings["global"]["wifi_on"] = ("2" if self.airplane_mode else "1") if on else "0"
        self.touch()

    def set_bluetooth(self, on: bool) -> None:
        self.bluetooth_radio = on
        self.settings["global"]["bluetooth_on"] = "1" if on else "0"
        self.touch()

    def set_airplane_mode(self, on: bool) -> None:
        """Airplane mode turns the radios off; turning it off brings Wi-Fi back as Android does."""
        self.settings["global"]["airplane_mode_on"] = "1" if on else "0"
        if on:
            self.wifi_radio = False
            self.bluetooth_radio = False
            self.settings["global"]["wifi_on"] = "0"
            self.settings["global"]["bluetooth_on"] = "0"
        else:
            self.wifi_radio = True
            self.settings["global"]["wifi_on"] = "1"
        self.touch()

    @property
    def dark_theme(self) -> bool:
        return self.settings["secure"].get("ui_night_mode") == "2"

    # -- records -------------------------------------------------------------------------------------
    def add_contact(self, name: str, phones: list[str] | None = None, emails: list[str] | None = None,
                    starred: bool = False) -> Contact:
        c = Contact(self.new_id(), name, list(phones or []), list(emails or []), starred)
        self.contacts.append(c)
        self.touch()
        return c

    def thread_id_for(self, address: str) -> int:
        """The conversation id for an address (digits compared, as Android's threads are)."""
        key = normalize_number(address)
        for m in self.sms:
            if normalize_number(m.address) == key:
                return m.thread_id
        return max((m.thread_id for m in self.sms), default=0) + 1

    def add_sms(self, address: str, body: str, type: int = 2, read: bool = True) -> Sms:
        m = Sms(self.new_id(), self.thread_id_for(address), address, body, self.now_ms, type, read)
        self.sms.append(m)
        self.touch()
        return m

    def add_event(self, title: str, dtstart_ms: int, dtend_ms: int, description: str = "",
                  location: str = "", all_day: bool = False) -> Event:
        e = Event(self.new_id(), title, dtstart_ms, dtend_ms, description, location, all_day)
        self.events.append(e)
        self.touch()
        return e

    def add_alarm(self, hour: int, minutes: int, label: str = "", enabled: bool = True) -> Alarm:
        a = Alarm(self.new_id(), hour, minutes, label, enabled)
        self.alarms.append(a)
        self.touch()
        return a

    def add_note(self, title: str, body: str) -> Note:
        n = Note(self.new_id(), title, body, self.now_ms)
        self.notes.append(n)
        self.touch()
        return n


def normalize_number(number: str) -> str:
    """Digits of a phone number (a leading + kept), for comparing addresses."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return ("+" + digits) if number.strip().startswith("+") else digits
