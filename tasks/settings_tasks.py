"""Settings templates: radios, airplane mode, dark theme, brightness, device name.

Portable: checks read the keys stock Android keeps (``settings get global wifi_on`` … ``secure
ui_night_mode``); setup uses ``svc``, ``cmd connectivity airplane-mode`` and ``settings put``.
"""

from __future__ import annotations

import random
import shlex
from collections.abc import Iterator
from typing import Any, ClassVar

from emulators.actions import Answer, Terminate
from emulators.device import AndroidDevice
from tasks import answers, data
from tasks import oracle_utils as ou
from tasks.base import Episode, Param, register
from tasks.shell_reads import as_int, parse_setting, wifi_enabled
from tasks.shell_task import ShellTask

# The settings a Settings task may read, and where Android keeps them.
TRACKED: dict[str, tuple[str, str]] = {
    "wifi": ("global", "wifi_on"),
    "bluetooth": ("global", "bluetooth_on"),
    "airplane": ("global", "airplane_mode_on"),
    "dark": ("secure", "ui_night_mode"),
    "brightness": ("system", "screen_brightness"),
    "device_name": ("global", "device_name"),
}
# Switch-like settings: (start-state shell line for off, for on), the page that holds the switch, its label.
SWITCHES: dict[str, tuple[tuple[str, str], str, str]] = {
    "wifi": (("svc wifi disable", "svc wifi enable"), "Network & internet", "Wi-Fi"),
    "bluetooth": (("svc bluetooth disable", "svc bluetooth enable"), "Connected devices", "Bluetooth"),
    "airplane": (
        ("cmd connectivity airplane-mode disable", "cmd connectivity airplane-mode enable"),
        "Network & internet",
        "Airplane mode",
    ),
    "dark": (
        ("settings put secure ui_night_mode 1", "settings put secure ui_night_mode 2"),
        "Display",
        "Dark theme",
    ),
}
# The activity of each Settings page a switch lives on (stock Android's names), for the shaping potential.
PAGE_ACTIVITIES: dict[str, str] = {
    "Network & internet": "Settings$NetworkDashboardActivity",
    "Display": "Settings$DisplaySettingsActivity",
}
# The resumed activity: Android 11 prints ``mResumedActivity:``, 12+ ``topResumedActivity=``.
RESUMED_ACTIVITY = "dumpsys activity activities | grep ResumedActivity"
# What each switch setting's stored value means.
IS_ON = {
    "wifi": wifi_enabled,
    "bluetooth": lambda v: v == "1",
    "airplane": lambda v: v == "1",
    "dark": lambda v: v == "2",
}
BRIGHTNESS_TOLERANCE = 13  # about 5% of Android's 0-255 scale


def settings_reads() -> dict[str, str]:
    return {name: f"settings get {ns} {key}" for name, (ns, key) in TRACKED.items()}


def switch_states(outputs: dict[str, str]) -> dict[str, bool]:
    return {name: IS_ON[name](parse_setting(outputs[name])) for name in IS_ON}


def changed_settings(before: dict[str, str], after: dict[str, str], allowed: set[str]) -> list[str]:
    """Tracked settings that differ between two reads, except ``allowed`` (radios compared as on/off)."""
    b_sw, a_sw = switch_states(before), switch_states(after)
    out = []
    for name in TRACKED:
        if name in allowed:
            continue
        old, new = (
            (b_sw[name], a_sw[name])
            if name in IS_ON
            else (parse_setting(before[name]), parse_setting(after[name]))
        )
        if old != new:
            out.append(f"setting {name} changed from {old} to {new}")
    return out


def open_settings_page(device: AndroidDevice, page: str) -> Iterator[ou.Action]:
    """Open Settings on its main list and enter ``page``."""
    yield from ou.open_app("Settings")
    yield from ou.scroll_to(device, label=page)
    yield from ou.tap(device, label=page)


def settings_oracle_switch(device: AndroidDevice, name: str, want: bool) -> Iterator[ou.Action]:
    """Open Settings, go to the page holding switch ``name`` and set it to ``want``."""
    _, page, label = SWITCHES[name]
    yield from open_settings_page(device, page)
    yield from ou.set_row_toggle(device, label, want)


class _SettingsTask(ShellTask):
    app: ClassVar[str] = "Settings"
    touches: ClassVar[frozenset[str]] = frozenset()  # tracked settings the task may change

    def reads(self) -> dict[str, str]:
        return settings_reads()

    def side_effects_of(self, before: dict[str, str], after: dict[str, str]) -> list[str]:
        # Airplane mode switches the radios off with it, as on Android.
        allowed = set(self.touches) | ({"wifi", "bluetooth"} if "airplane" in self.touches else set())
        return changed_settings(before, after, allowed)


def background_commands(world: int, keep: frozenset[str]) -> list[str]:
    """Random start values, drawn from ``world``, for the switches and brightness not in ``keep``.

    Airplane mode is left off (it would switch the radios off again)."""
    rng = random.Random(f"settings-world:{world}")
    cmds = []
    for name in ("wifi", "bluetooth", "dark"):
        if name not in keep:
            cmds.append(SWITCHES[name][0][rng.random() < 0.5])
    if "brightness" not in keep:
        cmds.append(f"settings put system screen_brightness {rng.randint(20, 235)}")
    return cmds


class _SwitchTask(_SettingsTask):
    """Set one switch; the start state is the opposite, the other switches start at random."""

    difficulty = "easy"
    max_steps = 8
    switch: ClassVar[str]
    target: ClassVar[bool]
    params_schema = {"world": Param(int, min=0, max=10**9)}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "switch" in cls.__dict__:
            cls.touches = frozenset({cls.switch})

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"world": rng.randrange(10**9)}

    def setup_commands(self) -> list[str]:
        off_cmd, on_cmd = SWITCHES[self.switch][0]
        # Airplane off first: the radios are only switchable without it.
        cmds = [SWITCHES["airplane"][0][0], *background_commands(self.params["world"], self.touches)]
        return [*cmds, on_cmd if not self.target else off_cmd]

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(switch_states(outputs)[self.switch] == self.target)

    def reads(self) -> dict[str, str]:
        return {**settings_reads(), "activity": RESUMED_ACTIVITY}

    def potential(self, outputs: dict[str, str]) -> float:
        """1 when the switch is set; 1/2 while the Settings page that holds it is open (progress a
        reward-only template can be shaped with); else 0."""
        if switch_states(outputs)[self.switch] == self.target:
            return 1.0
        page = PAGE_ACTIVITIES.get(SWITCHES[self.switch][1], "")
        return 0.5 if page and page in outputs.get("activity", "") else 0.0

    def oracle(self, device: AndroidDevice) -> Iterator[ou.Action | Terminate]:
        yield from settings_oracle_switch(device, self.switch, self.target)
        yield Terminate("success")


@register
class WifiOn(_SwitchTask):
    name = "settings.wifi_on"
    switch, target = "wifi", True
    phrasings = (
        "Turn on Wi-Fi.",
        "Enable Wi-Fi on this phone.",
        "Switch Wi-Fi on.",
        "Connect the Wi-Fi radio.",
    )


@register
class WifiOff(_SwitchTask):
    name = "settings.wifi_off"
    switch, target = "wifi", False
    phrasings = ("Turn off Wi-Fi.", "Disable Wi-Fi.", "Switch the Wi-Fi off.")


@register
class BluetoothOn(_SwitchTask):
    name = "settings.bluetooth_on"
    switch, target = "bluetooth", True
    phrasings = ("Turn on Bluetooth.", "Enable Bluetooth.", "Switch Bluetooth on, please.")


@register
class BluetoothOff(_SwitchTask):
    name = "settings.bluetooth_off"
    switch, target = "bluetooth", False
    phrasings = ("Turn off Bluetooth.", "Disable Bluetooth.", "Switch Bluetooth off.")


@register
class AirplaneOn(_SwitchTask):
    name = "settings.airplane_on"
    switch, target = "airplane", True
    phrasings = ("Turn on airplane mode.", "Put the phone in airplane mode.", "Enable flight mode.")


@register
class AirplaneOff(_SwitchTask):
    name = "settings.airplane_off"
    switch, target = "airplane", False
    phrasings = ("Turn off airplane mode.", "Take the phone out of airplane mode.", "Disable flight mode.")


@register
class DarkThemeOn(_SwitchTask):
    name = "settings.dark_theme_on"
    switch, target = "dark", True
    phrasings = ("Turn on the dark theme.", "Switch the phone to dark mode.", "Enable dark theme.")


@register
class DarkThemeOff(_SwitchTask):
    name = "settings.dark_theme_off"
    switch, target = "dark", False
    phrasings = (
        "Turn off the dark theme.",
        "Switch the phone back to the light theme.",
        "Disable dark mode.",
    )


@register
class WifiAndBluetoothOff(_SettingsTask):
    name = "settings.wifi_and_bluetooth_off"
    difficulty = "medium"
    max_steps = 10
    touches = frozenset({"wifi", "bluetooth"})
    phrasings = (
        "Turn off both Wi-Fi and Bluetooth.",
        "Disable Wi-Fi and Bluetooth, but do not use airplane mode.",
        "Switch off Bluetooth and Wi-Fi.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {}

    def setup_commands(self) -> list[str]:
        return ["cmd connectivity airplane-mode disable", "svc wifi enable", "svc bluetooth enable"]

    def potential(self, outputs: dict[str, str]) -> float:
        states = switch_states(outputs)
        if states["airplane"]:
            return 0.0
        return (int(not states["wifi"]) + int(not states["bluetooth"])) / 2

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(self.potential(outputs) == 1.0)

    def oracle(self, device: AndroidDevice) -> Iterator[ou.Action | Terminate]:
        yield from open_settings_page(device, "Network & internet")
        yield from ou.set_row_toggle(device, "Wi-Fi", False)
        yield from ou.set_row_toggle(device, "Bluetooth", False)
        yield Terminate("success")


@register
class AirplaneKeepBluetooth(_SettingsTask):
    name = "settings.airplane_with_bluetooth"
    difficulty = "medium"
    max_steps = 10
    touches = frozenset({"airplane", "bluetooth"})
    phrasings = (
        "Turn on airplane mode but keep Bluetooth on.",
        "Enable airplane mode, then switch Bluetooth back on.",
        "I'm boarding: airplane mode on, Bluetooth on for my headphones.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {}

    def setup_commands(self) -> list[str]:
        return ["cmd connectivity airplane-mode disable", "svc bluetooth enable"]

    def potential(self, outputs: dict[str, str]) -> float:
        states = switch_states(outputs)
        return (int(states["airplane"]) + int(states["airplane"] and states["bluetooth"])) / 2

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(self.potential(outputs) == 1.0)

    def oracle(self, device: AndroidDevice) -> Iterator[ou.Action | Terminate]:
        yield from open_settings_page(device, "Network & internet")
        yield from ou.set_row_toggle(device, "Airplane mode", True)
        yield from ou.set_row_toggle(device, "Bluetooth", True)
        yield Terminate("success")


@register
class Brightness(_SettingsTask):
    name = "settings.brightness"
    difficulty = "medium"
    max_steps = 10
    touches = frozenset({"brightness"})
    params_schema = {"percent": Param(int, choices=tuple(range(10, 100, 10)))}
    phrasings = (
        "Set the screen brightness to {percent}%.",
        "Change the display brightness to about {percent} percent.",
        "Make the brightness level {percent}%.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"percent": rng.randrange(10, 100, 10)}

    @property
    def target(self) -> int:
        return round(self.params["percent"] * 255 / 100)

    def setup_commands(self) -> list[str]:
        start = 25 if self.params["percent"] >= 50 else 230  # far from the target
        return [
            "settings put system screen_brightness_mode 0",
            f"settings put system screen_brightness {start}",
        ]

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        value = as_int(parse_setting(outputs["brightness"]), -1000)
        return float(abs(value - self.target) <= BRIGHTNESS_TOLERANCE)

    def potential(self, outputs: dict[str, str]) -> float:
        value = as_int(parse_setting(outputs["brightness"]), 0)
        return max(0.0, 1.0 - abs(value - self.target) / 255)

    def oracle(self, device: AndroidDevice) -> Iterator[ou.Action | Terminate]:
        yield from open_settings_page(device, "Display")
        yield from ou.set_slider(device, self.target, 0, 255, rid="brightness_slider")
        yield Terminate("success")


@register
class RingVolume(_SettingsTask):
    """Sim-only: stock Android keeps stream volumes in AudioService, not in ``settings system``."""

    name = "settings.ring_volume"
    difficulty = "medium"
    sim_only = True
    max_steps = 10
    params_schema = {"level": Param(int, min=0, max=7), "start": Param(int, min=0, max=7)}
    phrasings = (
        "Set the ring volume to {level} out of 7.",
        "Change the ringer volume to level {level}.",
        "Make the ring volume {level} (on a scale from 0 to 7).",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        level = rng.randint(0, 7)
        return {"level": level, "start": rng.choice([v for v in range(8) if abs(v - level) >= 2])}

    def reads(self) -> dict[str, str]:
        return {**settings_reads(), "volume_ring": "settings get system volume_ring"}

    def setup_commands(self) -> list[str]:
        return [f"settings put system volume_ring {self.params['start']}"]

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(as_int(parse_setting(outputs["volume_ring"]), -1) == self.params["level"])

    def oracle(self, device: AndroidDevice) -> Iterator[ou.Action | Terminate]:
        yield from open_settings_page(device, "Sound & vibration")
        yield from ou.set_slider(device, self.params["level"], 0, 7, rid="volume_ring_seekbar")
        yield Terminate("success")


@register
class RenameDevice(_SettingsTask):
    name = "settings.rename_device"
    difficulty = "hard"
    max_steps = 40  # clearing the old name takes one DEL per character
    touches = frozenset({"device_name"})
    params_schema = {
        "old": Param(str, pattern=r"[A-Za-z0-9 ]{3,30}"),
        "new": Param(str, pattern=r"[A-Za-z0-9 ]{3,30}"),
    }
    phrasings = (
        "Rename this phone to {new}.",
        'Change the device name to "{new}".',
        "Call this device {new} from now on (set it in Settings).",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        old = data.device_name(rng)
        new = data.device_name(rng)
        while new == old:
            new = data.device_name(rng)
        return {"old": old, "new": new}

    def setup_commands(self) -> list[str]:
        return [f"settings put global device_name {shlex.quote(self.params['old'])}"]

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float((parse_setting(outputs["device_name"]) or "").strip() == self.params["new"])

    def oracle(self, device: AndroidDevice) -> Iterator[ou.Action | Terminate]:
        yield from open_settings_page(device, "About phone")
        yield from ou.tap(device, label="Device name")
        yield from ou.type_into(device, self.params["new"], clear=True, rid="android:id/edit")
        yield from ou.tap(device, rid="android:id/button1")
        yield Terminate("success")


@register
class DeviceNameInfo(_SettingsTask):
    name = "settings.device_name_info"
    difficulty = "easy"
    information = True
    max_steps = 8
    answer_guesses = ("PhoneSim", "Pixel 8", "My Phone", "Android")
    params_schema = {"device_name": Param(str, pattern=r"[A-Za-z0-9 ]{3,30}")}
    phrasings = (
        "What is the name of this device?",
        "Find out what this phone is called and tell me.",
        "What device name is set on this phone?",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"device_name": data.device_name(rng)}

    def setup_commands(self) -> list[str]:
        return [f"settings put global device_name {shlex.quote(self.params['device_name'])}"]

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        return self.params["device_name"]

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(answers.text_matches(episode.answer, self.params["device_name"]))

    def oracle(self, device: AndroidDevice) -> Iterator[ou.Action | Answer]:
        yield from open_settings_page(device, "About phone")
        texts = ou.row_texts(device, "Device name")
        if len(texts) < 2:
            raise ou.OracleError(f"the Device name row shows {texts}, expected a title and the name")
        yield Answer(texts[1])
