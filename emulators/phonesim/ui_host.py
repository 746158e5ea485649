"""What PhoneSim's shell interpreter needs from the phone's UI side.

The shell (``emulators/phonesim/shell/``) parses Android commands and calls these methods; the UI side
(window manager, apps, renderer) implements them. Keeping this seam narrow lets each side be read alone.
"""

from __future__ import annotations

from typing import Protocol

from PIL import Image

from emulators.phonesim.state import PhoneState


class UiHost(Protocol):
    state: PhoneState

    @property
    def screen_size(self) -> tuple[int, int]: ...

    # input: coordinates in device pixels; events outside the screen are ignored, as on a phone
    def tap(self, x: float, y: float) -> None: ...
    def swipe(self, x1: float, y1: float, x2: float, y2: float, duration_ms: int) -> None: ...
    def input_text(self, text: str) -> None: ...  # already decoded (%s -> space)
    def keyevent(self, code: int) -> None: ...  # a known Android keycode

    # output
    def render(self) -> Image.Image: ...  # RGB, screen_size
    def dump_xml(self) -> str: ...  # uiautomator dump XML of the current screen

    # activity manager
    def packages(self) -> list[str]: ...  # installed package names
    def launch(self, package: str) -> bool: ...  # launcher intent; False if not installed
    def start_activity(self, package: str, activity: str | None) -> bool: ...
    def force_stop(self, package: str) -> None: ...
    def focused_window(self) -> str: ...  # "com.android.settings/com.android.settings.Settings"
