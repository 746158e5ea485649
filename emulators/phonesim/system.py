"""System UI of PhoneSim: activity stacks, launcher, recents, status bar, navigation bar and toasts.

``SystemUi`` is plain data (deep-copied on fork). The functions here build the launcher and recents pages
and draw the bars; ``Phone`` wires them to input.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image

from emulators.phonesim.apps.base import App
from emulators.phonesim.state import PhoneState
from emulators.phonesim.ui import Box, Canvas, Column, Icon, ListView, Look, Page, Row, Screen, Text, Widget
from emulators.phonesim.ui.chrome import Button
from emulators.phonesim.ui.theme import line_height, text_width

LAUNCHER = "com.android.launcher3"
LAUNCHER_ACTIVITY = "com.android.launcher3.uioverrides.QuickstepLauncher"
RECENTS_ACTIVITY = "com.android.quickstep.RecentsActivity"
SYSTEMUI = "com.android.systemui"
SYSTEM_PACKAGES = ("android", LAUNCHER, SYSTEMUI, "com.android.inputmethod.latin", "com.android.shell")
TOAST_MS = 2_500
STATUS_DP, NAV_DP = 28, 48


@dataclass
class Task:
    """One app's activity stack (bottom first)."""

    package: str
    screens: list[Screen] = field(default_factory=list)


@dataclass
class SystemUi:
    tasks: dict[str, Task] = field(default_factory=dict)
    recents: list[str] = field(default_factory=list)  # packages, most recently used last
    foreground: str | None = None  # None: the launcher
    overview: bool = False  # the recents screen is showing
    toast: str | None = None
    toast_until_ms: int = 0
    launcher_screen: Screen = field(
        default_factory=lambda: Screen(activity=LAUNCHER_ACTIVITY, route="home"))

    def top(self) -> Screen | None:
        if self.overview or self.foreground is None:
            return None
        task = self.tasks.get(self.foreground)
        return task.screens[-1] if task and task.screens else None

    def bring_to_front(self, package: str) -> None:
        self.foreground = package
        self.overview = False
        if package in self.recents:
            self.recents.remove(package)
        self.recents.append(package)


def launcher_order(apps: Sequence[App], look: Look) -> list[App]:
    """Apps in launcher order: by label, or shuffled by the look's seed when randomised."""
    ordered = sorted(apps, key=lambda a: a.label)
    if look.icon_seed >= 0:
        random.Random(look.icon_seed).shuffle(ordered)
    return ordered


class LauncherIcon(Widget):
    """A home-screen shortcut: coloured round icon with a glyph, label below (a TextView, as Launcher3)."""

    cls = "android.widget.TextView"

    def __init__(self, app: App, open_app: Callable[[str], None]) -> None:
        super().__init__(desc=app.label, on_click=lambda: open_app(app.package), weight=1)
        self.app = app
        self.text = app.label

    def natural_width(self, look: Look) -> int:
        return 0

    def measure(self, look: Look, width: int) -> int:
        return look.px(64) + line_height(look.sp(12)) + look.px(12)

    def draw(self, cv: Canvas) -> None:
        x1, y1, x2, _ = self.bounds
        cx, r = (x1 + x2) // 2, cv.look.px(28)
        cy = y1 + cv.look.px(6) + r
        cv.circle(cx, cy, r, fill=self.app.colour)
        cv.icon(self.app.icon, cx, cy, cv.look.px(30), (255, 255, 255))
        size = cv.look.sp(12)
        x = cx - text_width(self.text, size) // 2
        cv.text(x, cy + r + cv.look.px(6), self.text, size, (255, 255, 255))


def launcher_page(apps: Sequence[App], state: PhoneState, look: Look,
                  open_app: Callable[[str], None]) -> Page:
    """The home screen: date and time, then a 4-column grid of every installed app."""
    now = state.now
    clock = Text(now.strftime("%H:%M"), 56, "on_accent", align="center", rid=f"{LAUNCHER}:id/clock")
    date = Text(now.strftime("%A, %B %-d"), 16, "on_accent", align="center", rid=f"{LAUNCHER}:id/date")
    rows: list[Widget] = [clock, date, Column([], weight=1)]
    ordered = launcher_order(apps, look)
    for i in range(0, len(ordered), 4):
        cells: list[Widget] = [LauncherIcon(a, open_app) for a in ordered[i:i + 4]]
        cells += [Column([], weight=1) for _ in range(4 - len(cells))]
        rows.append(Row(cells, gap=4))
    body = Column(rows, pad=(12, 48, 12, 24), gap=16, cls="android.widget.FrameLayout",
                  rid=f"{LAUNCHER}:id/workspace")
    return Page(None, body, package=LAUNCHER)


def recents_page(ui: SystemUi, apps: dict[str, App], screen: Screen, resume: Callable[[str], None],
                 remove: Callable[[str], None], clear: Callable[[], None]) -> Page:
    """The overview: one card per recent task (newest first), a close button on each, "Clear all"."""
    cards: list[Widget] = []
    for package in reversed(ui.recents):
        app = apps[package]
        title = Row([Icon(app.icon, 24, "accent", box_dp=40), Text(app.label, 18, weight=1),
                     Icon("close", 20, desc=f"Close {app.label}", on_click=lambda p=package: remove(p))],
                    pad=(12, 4, 4, 4), gap=12)
        top = ui.tasks[package].screens[-1] if ui.tasks.get(package) else None
        where = Text(top.route.replace("_", " ").capitalize() if top else "", 14, "secondary")
        cards.append(Column([title, Column([where], pad=(64, 0, 16, 16))], bg="surface", radius=16,
                            on_click=lambda p=package: resume(p), desc=app.label,
                            rid=f"{LAUNCHER}:id/snapshot"))
    if not cards:
        cards.append(Column([Text("No recent items", 16, "secondary", align="center")], pad=(0, 48, 0, 0)))
    clear_all = Row([Column([], weight=1), Button("Clear all", clear, style="outlined")], pad=(0, 8, 0, 8))
    body = Column([ListView(screen, "recents", cards, gap=12), clear_all], pad=(16, 8, 16, 0))
    return Page("Recent apps", body, package=LAUNCHER)


@lru_cache(maxsize=8)
def wallpaper(look: Look) -> Image.Image:
    """A vertical gradient in the look's wallpaper colours (built once per look, never modified)."""
    top, bottom = look.wallpaper
    column = Image.new("RGB", (1, 256))
    column.putdata([tuple(round(a + (b - a) * i / 255) for a, b in zip(top, bottom, strict=True))
                    for i in range(256)])
    return column.resize((look.width, look.height), Image.Resampling.BILINEAR)


def bar_heights(look: Look) -> tuple[int, int]:
    return look.px(STATUS_DP), look.px(NAV_DP)


def draw_status_bar(cv: Canvas, state: PhoneState, on_wallpaper: bool) -> None:
    """Clock on the left; airplane / Wi-Fi / Bluetooth icons, battery level on the right."""
    look, pal = cv.look, cv.pal
    h = look.px(STATUS_DP)
    if not on_wallpaper:
        cv.rect((0, 0, look.width, h), pal.background)
    fg = (255, 255, 255) if on_wallpaper else pal.on_background
    size = look.sp(13)
    top = (h - line_height(size)) // 2
    cv.text(look.px(16), top, state.now.strftime("%H:%M"), size, fg)
    battery = f"{state.battery_level}%"
    x = look.width - look.px(12) - text_width(battery, size)
    cv.text(x, top, battery, size, fg)
    icon, cy = look.px(16), h // 2
    x -= look.px(12)
    icons = ["battery"]
    if state.wifi_radio:
        icons.append("wifi")
    if state.bluetooth_radio:
        icons.append("bluetooth")
    if state.airplane_mode:
        icons.append("airplane")
    for name in icons:
        cv.icon(name, x, cy, icon, fg)
        x -= icon + look.px(6)


class Frame(Widget):
    """A FrameLayout whose children were placed by hand."""

    cls = "android.widget.FrameLayout"

    def __init__(self, children: Sequence[Widget], bounds: Box, rid: str = "") -> None:
        super().__init__(rid=rid)
        self.children = list(children)
        self.bounds = bounds

    def kids(self) -> Sequence[Widget]:
        return self.children


def nav_bar(look: Look, press: Callable[[int], None]) -> Frame:
    """The navigation bar (Back, Home, Overview) as placed widgets; ``press`` gets the keycode."""
    _, nav = bar_heights(look)
    y1, third = look.height - nav, look.width // 3
    buttons: list[Widget] = []
    specs = [("Back", "back", "nav_back", 4), ("Home", "home", "nav_home", 3),
             ("Overview", "recent_apps", "nav_recents", 187)]
    for i, (desc, rid, glyph, code) in enumerate(specs):
        button = Icon(glyph, 20, desc=desc, rid=f"{SYSTEMUI}:id/{rid}", on_click=lambda c=code: press(c))
        button.bounds = (i * third, y1, (i + 1) * third if i < 2 else look.width, look.height)
        buttons.append(button)
    return Frame(buttons, (0, y1, look.width, look.height), rid=f"{SYSTEMUI}:id/navigation_bar_frame")


def draw_nav_bar(cv: Canvas, bar: Frame, on_wallpaper: bool) -> None:
    if not on_wallpaper:
        cv.rect(bar.bounds, cv.pal.background)
    fg = (255, 255, 255) if on_wallpaper else cv.pal.secondary
    for button in bar.children:
        assert isinstance(button, Icon)
        x1, y1, x2, y2 = button.bounds
        cv.icon(button.name, (x1 + x2) // 2, (y1 + y2) // 2, cv.look.px(button.size), fg)


def draw_toast(cv: Canvas, text: str, above: int) -> None:
    look, pal = cv.look, cv.pal
    size = look.sp(14)
    w = min(look.width - look.px(48), text_width(text, size) + look.px(32))
    h = line_height(size) + look.px(20)
    x1, y2 = (look.width - w) // 2, above - look.px(24)
    dark = pal.background[0] < 128
    cv.rrect((x1, y2 - h, x1 + w, y2), look.px(h // 2 // max(1, look.density)), fill=pal.surface if dark
             else (60, 60, 64))
    cv.text_centered((x1, y2 - h, x1 + w, y2), text, size, pal.on_background if dark else (255, 255, 255))
