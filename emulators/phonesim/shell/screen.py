"""What the Android-format dumps say about the screen, the foreground activity and the installed apps.

One place computes the facts every dump repeats, so ``dumpsys display``, ``dumpsys window``,
``dumpsys input``, ``wm`` and ``getprop`` agree with each other and with the phone: the size is the phone's
resolution, the density follows PhoneSim's layout (360 dp across, so 1080 px wide is 480 dpi), the rotation is
always 0 (PhoneSim does not rotate), and the focused window is ``UiHost.focused_window()``. Identifiers a real
device makes up (window hashes, uids, pids) are derived from names, so they are the same on every run.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from emulators.phonesim.shell.base import ShellContext, encode_text
from emulators.phonesim.system import LAUNCHER, NAV_DP, STATUS_DP, SYSTEMUI
from emulators.phonesim.ui.theme import DP_WIDTH

DISPLAY_UNIQUE_ID = "local:4619827259835644672"  # the id an emulator's built-in screen has
DISPLAY_NAME = "Built-in Screen"
DENSITY_DEFAULT = 160  # DisplayMetrics.DENSITY_DEFAULT: 1 dp = 1 px at 160 dpi
SYSTEM_UIDS = {"android": 1000, "com.android.shell": 2000}


@dataclass(frozen=True)
class ScreenFacts:
    """The built-in display: pixels, density, rotation (``Surface.ROTATION_0`` = 0) and the bars."""

    width: int
    height: int
    dpi: int
    rotation: int = 0

    def px(self, dp: int) -> int:
        """``dp`` in pixels, rounded as PhoneSim's layout rounds them."""
        return round(dp * self.width / DP_WIDTH)

    @property
    def status_px(self) -> int:
        return self.px(STATUS_DP)

    @property
    def nav_px(self) -> int:
        return self.px(NAV_DP)

    @property
    def app_height(self) -> int:
        """The app area's height: the screen less the navigation bar (apps draw under the status bar)."""
        return self.height - self.nav_px


def density_dpi(width: int) -> int:
    """The density in dpi of a PhoneSim ``width`` pixels wide: 360 dp across (1080 -> 480, 540 -> 240)."""
    return round(width * DENSITY_DEFAULT / DP_WIDTH)


def screen_dpi(ctx: ShellContext) -> int:
    """``ro.sf.lcd_density``: from the resolution, unless the shell was made with other props."""
    value = ctx.props.get("ro.sf.lcd_density", "")
    return int(value) if value.isascii() and value.isdigit() else density_dpi(ctx.host.screen_size[0])


def screen_facts(ctx: ShellContext) -> ScreenFacts:
    width, height = ctx.host.screen_size
    return ScreenFacts(width, height, screen_dpi(ctx))


def hex_id(text: str) -> str:
    """A 7-digit hex identity hash, as ``Window{...}`` and ``ActivityRecord{...}`` show, fixed per name."""
    return f"{zlib.crc32(encode_text(text)) & 0xFFFFFFF:07x}"


def focus(ctx: ShellContext) -> tuple[str, str]:
    """(package, full activity class) of the focused window."""
    package, _, cls = ctx.host.focused_window().partition("/")
    return package, cls


def short_component(package: str, cls: str) -> str:
    """``ComponentName.flattenToShortString``: ``pkg/.Rest`` when the class lives in the package."""
    return f"{package}/{cls[len(package):]}" if cls.startswith(package + ".") else f"{package}/{cls}"


def focused_short(ctx: ShellContext) -> str:
    package, cls = focus(ctx)
    return short_component(package, cls) if cls else package


def window_record(ctx: ShellContext) -> str:
    """``Window{hash u0 pkg/full.Class}`` of the focused window (WindowState.toString)."""
    component = ctx.host.focused_window()
    return f"Window{{{hex_id(component)} u0 {component}}}"


def activity_record(ctx: ShellContext, task_id: int = 1) -> str:
    """``ActivityRecord{hash u0 pkg/.Class tN}`` of the resumed activity (ActivityRecord.toString).

    PhoneSim lists one task, the resumed one, always with id 1.
    """
    token = hex_id(ctx.host.focused_window() + "#app")
    return f"ActivityRecord{{{token} u0 {focused_short(ctx)} t{task_id}}}"


def app_uid(ctx: ShellContext, package: str) -> int:
    """A Linux uid per package: 1000 for the framework, 2000 for the shell, 10000 + n for apps."""
    if package in SYSTEM_UIDS:
        return SYSTEM_UIDS[package]
    names = sorted(set(ctx.host.packages()) - set(SYSTEM_UIDS))
    return 10100 + (names.index(package) if package in names else len(names))


def app_pid(ctx: ShellContext, package: str) -> int:
    """A process id per package (fixed: PhoneSim does not restart processes)."""
    return 1400 + 37 * (app_uid(ctx, package) % 1000)


def user_id_name(uid: int) -> str:
    """``UserHandle.formatUid``: ``u0a105`` for app uids, the number for system uids."""
    return f"u0a{uid - 10000}" if uid >= 10000 else str(uid)


SYSTEM_WINDOWS = (("NavigationBar0", SYSTEMUI, "NAVIGATION_BAR"), ("StatusBar", SYSTEMUI, "STATUS_BAR"))
HOME_PACKAGE = LAUNCHER
