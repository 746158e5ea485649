"""The device-level action vocabulary, one validated type per action kind.

Device actions (``Tap`` … ``Wait``) are the only way a policy changes a device: ``GuiDevice.execute`` turns
each into fixed shell commands. Episode-control actions (``Terminate``, ``Answer``) end an episode; the
environment records them and they never reach a device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from emulators.errors import InvalidAction

# Android KeyEvent codes accepted by ``input keyevent``. Names are written without the KEYCODE_ prefix.
KEYCODES: dict[str, int] = {
    "HOME": 3,
    "BACK": 4,
    "CALL": 5,
    "ENDCALL": 6,
    "DPAD_UP": 19,
    "DPAD_DOWN": 20,
    "DPAD_LEFT": 21,
    "DPAD_RIGHT": 22,
    "DPAD_CENTER": 23,
    "VOLUME_UP": 24,
    "VOLUME_DOWN": 25,
    "POWER": 26,
    "CAMERA": 27,
    "TAB": 61,
    "SPACE": 62,
    "ENTER": 66,
    "DEL": 67,
    "MENU": 82,
    "SEARCH": 84,
    "MOVE_HOME": 122,
    "MOVE_END": 123,
    "FORWARD_DEL": 112,
    "ESCAPE": 111,
    "VOLUME_MUTE": 164,
    "APP_SWITCH": 187,
    "WAKEUP": 224,
    "SLEEP": 223,
}
KEYCODE_NAMES: dict[int, str] = {code: name for name, code in KEYCODES.items()}

MAX_WAIT_S = 60.0
MAX_TEXT_LEN = 1000


def keycode_number(key: str | int) -> int:
    """Resolve ``"BACK"``, ``"KEYCODE_BACK"``, ``"4"`` or ``4`` to a known keycode, or raise."""
    shown = repr(key) if len(str(key)) <= 40 else repr(str(key)[:40]) + "..."
    if isinstance(key, bool):
        raise InvalidAction(f"unknown keycode {shown}")
    if isinstance(key, int):
        code = key
    else:
        name = key.strip().upper()
        if name.isascii() and name.isdigit():
            code = int(name) if len(name) <= 6 else -1  # keycodes are small; int() of 5000 digits raises
        else:
            name = name.removeprefix("KEYCODE_")
            if name not in KEYCODES:
                raise InvalidAction(f"unknown keycode {shown}; known names: {', '.join(sorted(KEYCODES))}")
            return KEYCODES[name]
    if code not in KEYCODE_NAMES:
        raise InvalidAction(f"unknown keycode {shown}; known codes: {sorted(KEYCODE_NAMES)}")
    return code


def _check_point(x: object, y: object, what: str = "point") -> None:
    for v in (x, y):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidAction(f"{what} coordinates must be finite numbers, got ({x!r}, {y!r})")
        if v < 0:
            raise InvalidAction(f"{what} coordinates must not be negative, got ({x!r}, {y!r})")


def _check_duration(ms: object, lo: int, hi: int, what: str) -> None:
    if isinstance(ms, bool) or not isinstance(ms, int) or not lo <= ms <= hi:
        raise InvalidAction(f"{what} must be an integer number of ms in [{lo}, {hi}], got {ms!r}")


@dataclass(frozen=True)
class Tap:
    x: int
    y: int

    def __post_init__(self) -> None:
        _check_point(self.x, self.y, "tap")


@dataclass(frozen=True)
class LongPress:
    x: int
    y: int
    duration_ms: int = 1000

    def __post_init__(self) -> None:
        _check_point(self.x, self.y, "long press")
        _check_duration(self.duration_ms, 500, 10_000, "long press duration")


@dataclass(frozen=True)
class Swipe:
    x1: int
    y1: int
    x2: int
    y2: int
    duration_ms: int = 300

    def __post_init__(self) -> None:
        _check_point(self.x1, self.y1, "swipe start")
        _check_point(self.x2, self.y2, "swipe end")
        _check_duration(self.duration_ms, 1, 10_000, "swipe duration")


@dataclass(frozen=True)
class Type:
    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text:
            raise InvalidAction("type needs a non-empty text")
        if len(self.text) > MAX_TEXT_LEN:
            raise InvalidAction(f"type text is {len(self.text)} characters; the limit is {MAX_TEXT_LEN}")


@dataclass(frozen=True)
class Key:
    """A key event; ``key`` is a name from ``KEYCODES`` (normalised on construction)."""

    key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", KEYCODE_NAMES[keycode_number(self.key)])

    @property
    def code(self) -> int:
        return KEYCODES[self.key]


@dataclass(frozen=True)
class OpenApp:
    """Launch an app by its launcher label (``"Contacts"``) or package name."""

    app: str

    def __post_init__(self) -> None:
        if not isinstance(self.app, str) or not self.app.strip() or len(self.app) > 100:
            raise InvalidAction(f"open needs an app name, got {self.app!r}")


@dataclass(frozen=True)
class Wait:
    seconds: float = 1.0

    def __post_init__(self) -> None:
        s = self.seconds
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s):
            raise InvalidAction(f"wait needs a finite number of seconds, got {s!r}")
        if not 0 <= s <= MAX_WAIT_S:
            raise InvalidAction(f"wait must be between 0 and {MAX_WAIT_S:g} s, got {s!r}")


@dataclass(frozen=True)
class Terminate:
    """End the episode, claiming success or failure. Never reaches a device."""

    status: Literal["success", "failure"]

    def __post_init__(self) -> None:
        if self.status not in ("success", "failure"):
            raise InvalidAction(f"terminate status must be 'success' or 'failure', got {self.status!r}")


@dataclass(frozen=True)
class Answer:
    """Answer an information task with text; ends the episode. Never reaches a device."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or len(self.text) > MAX_TEXT_LEN:
            raise InvalidAction(f"answer needs a text of at most {MAX_TEXT_LEN} characters")


DeviceAction = Tap | LongPress | Swipe | Type | Key | OpenApp | Wait
ControlAction = Terminate | Answer
DEVICE_ACTION_TYPES = (Tap, LongPress, Swipe, Type, Key, OpenApp, Wait)
CONTROL_ACTION_TYPES = (Terminate, Answer)
