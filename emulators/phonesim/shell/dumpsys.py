"""``dumpsys SERVICE``: the services ADB tools read, in Android 14's format (trimmed to the lines they read).

Values come from the phone where it has them (focused window, screen size, battery level, radios) and are
fixed where PhoneSim has no such state (always awake, screen on, charging over USB, no lock screen).
docs/SHELL_FIDELITY.md lists each service's fields and where they differ from a real device.
"""

from __future__ import annotations

from collections.abc import Callable

from emulators.phonesim.shell.base import CommandIO, ShellContext
from emulators.phonesim.shell.dumpsys_display import dump_display, dump_input, dump_window
from emulators.phonesim.shell.errors import CommandFailed
from emulators.phonesim.shell.screen import (
    DISPLAY_UNIQUE_ID,
    HOME_PACKAGE,
    activity_record,
    app_pid,
    app_uid,
    focus,
    focused_short,
    hex_id,
    user_id_name,
)

BATTERY_STATUS_CHARGING, BATTERY_STATUS_FULL = 2, 5  # BatteryManager.BATTERY_STATUS_*
BATTERY_HEALTH_GOOD = 2
BATTERY_PLUGGED_USB = 2


def _battery_status(level: int) -> int:
    return BATTERY_STATUS_FULL if level >= 100 else BATTERY_STATUS_CHARGING


def dump_battery(ctx: ShellContext, args: list[str]) -> str:
    """BatteryService.dumpInternal: plugged into USB, charging (full at 100), the phone's level."""
    if args and args[0] != "-a":
        raise CommandFailed("PhoneSim's dumpsys battery only prints the state "
                            "(set, unplug and reset are not simulated)")
    level = ctx.state.battery_level
    lines = ["Current Battery Service state:", "  AC powered: false", "  USB powered: true",
             "  Wireless powered: false", "  Dock powered: false", "  Max charging current: 500000",
             "  Max charging voltage: 5000000", f"  Charge counter: {level * 40000}",
             f"  status: {_battery_status(level)}", f"  health: {BATTERY_HEALTH_GOOD}", "  present: true",
             f"  level: {level}", "  scale: 100", "  voltage: 4200", "  temperature: 250",
             "  technology: Li-ion",
             "  Charging state: 1", "  Charging policy: 1"]
    return "\n".join(lines) + "\n"


def dump_power(ctx: ShellContext, args: list[str]) -> str:
    """PowerManagerService.dumpInternal: awake, interactive, display on, powered over USB."""
    timeout = ctx.state.get_setting("system", "screen_off_timeout") or "60000"
    lines = [
        "POWER MANAGER (dumpsys power)", "", "Power Manager State:", "  mDirty=0x0", "  mWakefulness=Awake",
        "  mWakefulnessChanging=false", "  mInteractive=true", "  mIsPowered=true",
        f"  mPlugType={BATTERY_PLUGGED_USB}", f"  mBatteryLevel={ctx.state.battery_level}", "  mDockState=0",
        "  mStayOn=false", "  mProximityPositive=false", "  mBootCompleted=true", "  mSystemReady=true",
        "  mHalAutoSuspendModeEnabled=false", "  mHalInteractiveModeEnabled=true", "  mWakeLockSummary=0x0",
        "  mUserActivitySummary=0x1", "  mRequestWaitForNegativeProximity=false", "  mSandmanScheduled=false",
        "  mBatteryLevelLow=false", "  mLightDeviceIdleMode=false", "  mDeviceIdleMode=false",
        "  mScreenBrightnessBoostInProgress=false", "  mHoldingWakeLockSuspendBlocker=false",
        "  mHoldingDisplaySuspendBlocker=true", "", "Settings and Configuration:",
        f"  mScreenOffTimeoutSetting={timeout}", "  mStayOnWhilePluggedInSetting=0", "",
        "Wake Locks: size=0", "", "Suspend Blockers: size=4", "  PowerManagerService.WakeLocks: ref count=0",
        "  PowerManagerService.Display: ref count=1", "  PowerManagerService.Broadcasts: ref count=0",
        "  PowerManagerService.WirelessChargerDetector: ref count=0", "", "Display Power: state=ON",
    ]
    return "\n".join(lines) + "\n"


def _task_header(ctx: ShellContext) -> str:
    package, _ = focus(ctx)
    kind = "home" if package == HOME_PACKAGE else "standard"
    return (f"Task{{{hex_id(package + '#task')} #1 type={kind} A={app_uid(ctx, package)}:{package} U=0 "
            "visible=true visibleRequested=true mode=fullscreen translucent=false sz=1}")


def dump_activities(ctx: ShellContext) -> str:
    """ActivityTaskManagerService.dumpActivitiesLocked: the resumed task and its top activity.

    ``mResumedActivity:`` is Android 11's per-task line (Android 12+ print ``topResumedActivity=``); both are
    printed so tools written for either find the resumed activity.
    """
    package, _ = focus(ctx)
    record = activity_record(ctx)
    uid = app_uid(ctx, package)
    lines = [
        "ACTIVITY MANAGER ACTIVITIES (dumpsys activity activities)",
        "Display #0 (activities from top to bottom):",
        f"  * {_task_header(ctx)}", f"    mResumedActivity: {record}", "    isSleeping=false",
        f"    topResumedActivity={record}", f"    * Hist  #0: {record}",
        f"      packageName={package} processName={package}",
        f"      app=ProcessRecord{{{hex_id(package + '#proc')} "
        f"{app_pid(ctx, package)}:{package}/{user_id_name(uid)}}}",
        "      state=RESUMED", "      visible=true", "", f"  ResumedActivity: {record}",
    ]
    return "\n".join(lines) + "\n"


def dump_activity_top(ctx: ShellContext) -> str:
    """``dumpsys activity top``: the resumed activity with its pid (ActivityManagerService.dumpActivity)."""
    package, _ = focus(ctx)
    lines = [
        f"TASK {app_uid(ctx, package)}:{package} id=1 userId=0",
        f"  ACTIVITY {focused_short(ctx)} {hex_id(ctx.host.focused_window() + '#app')} "
        f"pid={app_pid(ctx, package)}",
        f"    Local Activity {hex_id(package + '#local')} State:",
        "      mResumed=true mStopped=false mFinished=false",
    ]
    return "\n".join(lines) + "\n"


def dump_activity(ctx: ShellContext, args: list[str]) -> str:
    which = next((a for a in args if not a.startswith("-")), "activities")
    if which in ("activities", "a"):
        return dump_activities(ctx)
    if which == "top":
        return dump_activity_top(ctx)
    raise CommandFailed(f"PhoneSim's dumpsys activity serves: activities, top (not {which!r})")


def _wifi(ctx: ShellContext, args: list[str]) -> str:
    return f"Wi-Fi is {'enabled' if ctx.state.wifi_radio else 'disabled'}\n"


def _bluetooth(ctx: ShellContext, args: list[str]) -> str:
    on = ctx.state.bluetooth_radio
    return f"Bluetooth Status\n  enabled: {str(on).lower()}\n  state: {'ON' if on else 'OFF'}\n"


def _surface_flinger(ctx: ShellContext, args: list[str]) -> str:
    if args != ["--display-id"]:
        raise CommandFailed("PhoneSim's dumpsys SurfaceFlinger serves only --display-id")
    port = DISPLAY_UNIQUE_ID.partition(":")[2]
    return f'Display {port} (HWC display 0): port=0 pnpId=GGL displayName="EMU_display_0"\n'


SERVICES: dict[str, Callable[[ShellContext, list[str]], str]] = {
    "activity": dump_activity, "battery": dump_battery, "bluetooth_manager": _bluetooth,
    "display": lambda ctx, args: dump_display(ctx), "input": lambda ctx, args: dump_input(ctx),
    "power": dump_power, "window": dump_window, "wifi": _wifi, "SurfaceFlinger": _surface_flinger,
}


def dumpsys(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    """``dumpsys SERVICE [ARGS]`` for the services in ``SERVICES``; ``dumpsys -l`` lists them."""
    if args == ["-l"]:
        io.out("Currently running services:\n" + "".join(f"  {name}\n" for name in sorted(SERVICES)))
        return 0
    service = args[0] if args else ""
    if service not in SERVICES:
        raise CommandFailed(f"Can't find service: {service}" if service else
                            "PhoneSim's dumpsys serves: " + ", ".join(sorted(SERVICES)))
    io.out(SERVICES[service](ctx, args[1:]))
    return 0
