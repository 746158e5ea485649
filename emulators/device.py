"""The device contracts: what every GUI device offers, and what Android devices add.

``GuiDevice`` is every screen an agent can drive: a screenshot, its size in device pixels, the numbered
interactive elements, and the device actions (tap, long press, swipe, type, key, wait; open app where the
device has apps), dispatched by ``execute``. The rollout, evaluation and deployment code needs nothing more.

``AndroidDevice`` adds ``shell`` (Android ``sh`` semantics, exit status) and writes every action in shell
commands (``input``, ``monkey``, ``uiautomator``) once, so it behaves the same on PhoneSim, an emulator and a
phone; implementations provide ``shell`` and ``screenshot`` (and ``fork`` where they can copy their state).
A web page (``emulators.web``) is a ``GuiDevice`` without a shell.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Self

from PIL import Image

from emulators.actions import (
    CONTROL_ACTION_TYPES,
    DeviceAction,
    Key,
    LongPress,
    OpenApp,
    Swipe,
    Tap,
    Type,
    Wait,
    keycode_number,
)
from emulators.elements import Element, number_elements
from emulators.errors import DeviceError, ForkUnsupported, InvalidAction, ShellCommandFailed
from emulators.text_entry import input_text_commands

DEFAULT_TIMEOUT_S = 30.0
UI_DUMP_PATH = "/sdcard/window_dump.xml"

# Launcher labels of the apps tasks use, and the packages that provide them on AOSP / Google images
# (first installed candidate wins). PhoneSim installs the AOSP names.
APP_PACKAGES: dict[str, tuple[str, ...]] = {
    "settings": ("com.android.settings",),
    "contacts": ("com.android.contacts", "com.google.android.contacts"),
    "messages": ("com.android.messaging", "com.google.android.apps.messaging", "com.android.mms"),
    "calendar": ("com.android.calendar", "com.google.android.calendar", "org.fossify.calendar"),
    "files": ("com.android.documentsui", "com.google.android.documentsui"),
    "clock": ("com.android.deskclock", "com.google.android.deskclock"),
    "notes": ("com.phonesim.notes",),
    "calculator": ("com.android.calculator2", "com.google.android.calculator"),
}

_WM_SIZE = re.compile(r"(?:Override|Physical) size:\s*(\d+)x(\d+)")


@dataclass(frozen=True)
class ShellResult:
    """What a shell command printed (stdout and stderr together) and its exit status."""

    output: str
    exit_code: int

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class GuiDevice(ABC):
    """A screen an agent drives: screenshot, size, numbered elements and the device actions."""

    name: str = "device"
    can_fork: bool = False
    restarts_itself: bool = False
    """True when a device that lost an episode brings itself back (a web page's browser is restarted):
    callers keep using it instead of dropping it."""
    settle_s: float = 1.0
    """How long a screen needs after an action before a screenshot shows its effect (emulators, phones);
    devices whose screenshot waits for the new frame set 0."""

    @abstractmethod
    def screenshot(self) -> Image.Image:
        """The current screen as an RGB image of ``screen_size``."""

    @property
    @abstractmethod
    def screen_size(self) -> tuple[int, int]:
        """(width, height) in device pixels: the coordinate space of every action."""

    @abstractmethod
    def elements(self) -> list[Element]:
        """The numbered interactive elements of the current screen."""

    @abstractmethod
    def tap(self, x: int, y: int) -> None:
        """A tap (a left click on a page) at device pixels."""

    @abstractmethod
    def long_press(self, x: int, y: int, duration_ms: int = 1000) -> None:
        """Press at device pixels, hold for ``duration_ms``, release."""

    @abstractmethod
    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        """A drag from (x1, y1) to (x2, y2) over ``duration_ms``."""

    @abstractmethod
    def type_text(self, text: str) -> None:
        """Type exactly ``text`` into the focused field; the text is data, never a command."""

    @abstractmethod
    def key(self, key: str | int) -> None:
        """Press one named key (``emulators.actions.KEYCODES``: back, home, enter, …)."""

    def open_app(self, app: str) -> None:
        """Open an app by launcher label; devices without apps refuse."""
        raise InvalidAction(f"{self.name} has no apps to open ({app!r}); act on the screen instead")

    def fork(self, n: int) -> list[Self]:
        """``n`` independent devices in this device's exact state."""
        raise ForkUnsupported(
            f"{self.name} cannot copy its state; give the group G devices that each replay the setup"
        )

    def close(self) -> None:  # noqa: B027 - most devices hold nothing to release
        """Release connections; the device object is unusable afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def execute(self, action: DeviceAction) -> None:
        """Carry out one device action; episode-control actions are refused."""
        if isinstance(action, CONTROL_ACTION_TYPES):
            raise InvalidAction(f"{type(action).__name__} ends an episode and never reaches a device")
        if isinstance(action, Tap):
            self.tap(action.x, action.y)
        elif isinstance(action, LongPress):
            self.long_press(action.x, action.y, action.duration_ms)
        elif isinstance(action, Swipe):
            self.swipe(action.x1, action.y1, action.x2, action.y2, action.duration_ms)
        elif isinstance(action, Type):
            self.type_text(action.text)
        elif isinstance(action, Key):
            self.key(action.key)
        elif isinstance(action, OpenApp):
            self.open_app(action.app)
        elif isinstance(action, Wait):
            self.wait(action.seconds)
        else:
            raise InvalidAction(f"not a device action: {action!r}")


class AndroidDevice(GuiDevice):
    """An Android device driven through its shell: PhoneSim, an emulator or a phone."""

    @abstractmethod
    def shell(self, cmd: str, timeout: float | None = DEFAULT_TIMEOUT_S) -> ShellResult:
        """Run ``cmd`` in the device ``sh``; return its output and exit status."""

    # -- shell helpers -------------------------------------------------------------------------------

    def check_shell(self, cmd: str, timeout: float | None = DEFAULT_TIMEOUT_S) -> str:
        """Run ``cmd`` and return its output; raise ``ShellCommandFailed`` on a non-zero status."""
        result = self.shell(cmd, timeout)
        if not result.ok:
            raise ShellCommandFailed(cmd, result.exit_code, result.output, self.name)
        return result.output

    @property
    def screen_size(self) -> tuple[int, int]:
        """(width, height) in device pixels, from ``wm size`` (an override wins over physical)."""
        cached = getattr(self, "_screen_size", None)
        if cached is None:
            out = self.check_shell("wm size")
            found = {m.group(0).split()[0]: m for m in _WM_SIZE.finditer(out)}
            m = found.get("Override") or found.get("Physical")
            if m is None:
                raise DeviceError(f"{self.name}: cannot read the screen size from `wm size`: {out!r}")
            cached = (int(m.group(1)), int(m.group(2)))
            self._screen_size = cached
        return cached

    def ui_dump(self) -> str:
        """The accessibility tree as ``uiautomator dump`` writes it."""
        out = self.check_shell(f"uiautomator dump {UI_DUMP_PATH} >/dev/null && cat {UI_DUMP_PATH}")
        return out

    def elements(self) -> list[Element]:
        """The numbered interactive elements of the current screen."""
        return number_elements(self.ui_dump())

    # -- actions -------------------------------------------------------------------------------------

    def tap(self, x: int, y: int) -> None:
        self.check_shell(f"input tap {int(x)} {int(y)}")

    def long_press(self, x: int, y: int, duration_ms: int = 1000) -> None:
        self.check_shell(f"input swipe {int(x)} {int(y)} {int(x)} {int(y)} {int(duration_ms)}")

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        self.check_shell(f"input swipe {int(x1)} {int(y1)} {int(x2)} {int(y2)} {int(duration_ms)}")

    def type_text(self, text: str) -> None:
        """Type exactly ``text`` into the focused field (see ``emulators.text_entry``)."""
        for cmd in input_text_commands(text):
            self.check_shell(cmd)

    def key(self, key: str | int) -> None:
        self.check_shell(f"input keyevent {keycode_number(key)}")

    def installed_packages(self) -> set[str]:
        out = self.check_shell("pm list packages")
        return {line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("package:")}

    def resolve_app(self, app: str) -> str:
        """Package name for a launcher label or package name; raise if the device lacks it."""
        installed = self.installed_packages()
        if app in installed:
            return app
        for package in APP_PACKAGES.get(app.strip().lower(), ()):
            if package in installed:
                return package
        known = ", ".join(sorted(APP_PACKAGES))
        raise InvalidAction(f"{self.name} has no app {app!r}; known app names: {known}")

    def open_app(self, app: str) -> None:
        package = self.resolve_app(app)
        self.check_shell(f"monkey -p {package} -c android.intent.category.LAUNCHER 1")
