"""Device-wide commands: getprop, settings, svc, cmd, dumpsys.

``settings put`` only stores a value, exactly as on Android: writing ``wifi_on`` or ``airplane_mode_on``
switches nothing. ``svc`` and ``cmd connectivity airplane-mode`` switch the radios.
"""

from __future__ import annotations

import zlib

from emulators.phonesim.shell.base import CommandIO, ShellContext, encode_text
from emulators.phonesim.shell.errors import CommandFailed
from emulators.phonesim.shell.system import pm, short_component
from emulators.phonesim.ui_host import UiHost

NAMESPACES = ("global", "system", "secure")
_SETTINGS_USAGE = ("usage:  settings [--user <USER_ID> | current] get namespace key\n"
                   "        settings [--user <USER_ID> | current] put namespace key value\n"
                   "        settings [--user <USER_ID> | current] delete namespace key\n"
                   "        settings [--user <USER_ID> | current] list namespace\n"
                   "'namespace' is one of {system, secure, global}, case-insensitive")


def default_props(host: UiHost) -> dict[str, str]:
    """System properties of a PhoneSim (an Android 14, API 34 device)."""
    width, height = host.screen_size
    return {
        "sys.boot_completed": "1", "dev.bootcomplete": "1", "init.svc.bootanim": "stopped",
        "ro.product.model": "PhoneSim", "ro.product.name": "phonesim", "ro.product.device": "phonesim",
        "ro.product.brand": "phonesim", "ro.product.manufacturer": "PhoneSim",
        "ro.product.cpu.abi": "x86_64", "ro.build.version.sdk": "34", "ro.build.version.release": "14",
        "ro.build.type": "userdebug", "ro.build.id": "UP1A.231005.007", "ro.debuggable": "1",
        "ro.build.fingerprint": "phonesim/phonesim/phonesim:14/UP1A.231005.007/1:userdebug/test-keys",
        "ro.serialno": "PHONESIM0001", "ro.boot.serialno": "PHONESIM0001", "ro.hardware": "phonesim",
        "ro.sf.lcd_density": "420", "persist.sys.timezone": "UTC", "persist.sys.locale": "en-US",
        "ro.phonesim.screen": f"{width}x{height}",
    }


def getprop(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    if not args:
        io.out("".join(f"[{k}]: [{v}]\n" for k, v in sorted(ctx.props.items())))
        return 0
    if len(args) > 2:
        raise CommandFailed("usage: getprop [NAME [DEFAULT]]")
    io.out(ctx.props.get(args[0], args[1] if len(args) == 2 else "") + "\n")
    return 0


def settings(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    if args[:1] == ["--user"]:
        args = args[2:]
    if len(args) < 2:
        raise CommandFailed(_SETTINGS_USAGE)
    verb, namespace, rest = args[0], args[1].lower(), args[2:]
    if namespace not in NAMESPACES:
        raise CommandFailed(f"Invalid namespace '{args[1]}'\n{_SETTINGS_USAGE}")
    table = ctx.state.settings[namespace]
    if verb == "get" and len(rest) == 1:
        value = table.get(rest[0])
        io.out(("null" if value is None else value) + "\n")
    elif verb == "put" and len(rest) in (2, 3, 4):
        ctx.state.put_setting(namespace, rest[0], rest[1])
    elif verb == "delete" and len(rest) == 1:
        deleted = table.pop(rest[0], None) is not None
        ctx.state.touch()
        io.out(f"Deleted {int(deleted)} rows\n")
    elif verb == "list" and not rest:
        io.out("".join(f"{k}={v}\n" for k, v in sorted(table.items())))
    else:
        raise CommandFailed(_SETTINGS_USAGE)
    return 0


def _on_off(value: str, usage: str) -> bool:
    if value in ("enable", "enabled"):
        return True
    if value in ("disable", "disabled"):
        return False
    raise CommandFailed(usage)


def svc(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    usage = "usage: svc [wifi|bluetooth|data] [enable|disable]"
    if len(args) != 2:
        raise CommandFailed(usage)
    on = _on_off(args[1], usage)
    if args[0] == "wifi":
        ctx.state.set_wifi(on)
    elif args[0] == "bluetooth":
        ctx.state.set_bluetooth(on)
    elif args[0] == "data":
        ctx.state.put_setting("global", "mobile_data", "1" if on else "0")
    else:
        raise CommandFailed(f"Unknown command '{args[0]}'\n{usage}")
    return 0


def _airplane(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    if not args:
        io.out(("enabled" if ctx.state.airplane_mode else "disabled") + "\n")
        return 0
    ctx.state.set_airplane_mode(_on_off(args[0], "usage: cmd connectivity airplane-mode [enable|disable]"))
    return 0


def cmd(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    service, rest = (args[0], args[1:]) if args else ("", [])
    if service == "connectivity" and rest[:1] == ["airplane-mode"]:
        return _airplane(ctx, rest[1:], io)
    if service == "wifi" and rest[:1] == ["set-wifi-enabled"] and len(rest) == 2:
        ctx.state.set_wifi(_on_off(rest[1], "usage: cmd wifi set-wifi-enabled enabled|disabled"))
        return 0
    if service == "wifi" and rest == ["status"]:
        io.out(f"Wifi is {'enabled' if ctx.state.wifi_radio else 'disabled'}\n")
        return 0
    if service == "bluetooth_manager" and len(rest) == 1 and rest[0] in ("enable", "disable"):
        ctx.state.set_bluetooth(rest[0] == "enable")
        return 0
    if service == "package":
        return pm(ctx, rest, io)
    raise CommandFailed(f"cmd: Can't find service: {service}" if service else "usage: cmd SERVICE ARGS")


def _window_id(component: str) -> str:
    return f"{zlib.crc32(encode_text(component)) & 0xFFFFFFF:x}"


def _short_focus(ctx: ShellContext) -> str:
    package, _, cls = ctx.host.focused_window().partition("/")
    return short_component(package, cls) if cls else package


def _dumpsys_window(ctx: ShellContext) -> str:
    focus = ctx.host.focused_window()
    width, height = ctx.host.screen_size
    wid = _window_id(focus)
    return (
        "WINDOW MANAGER WINDOWS (dumpsys window windows)\n"
        f"  Window #0 Window{{{wid} u0 {focus}}}:\n"
        "    mDisplayId=0 rootTaskId=1 mSession=Session{1f2e3d 4242:u0a10100}\n"
        f"    mFrame=[0,0][{width},{height}]\n\n"
        f"  mCurrentFocus=Window{{{wid} u0 {focus}}}\n"
        f"  mFocusedApp=ActivityRecord{{{_window_id(focus + 'app')} u0 {_short_focus(ctx)} t1}}\n"
        f"  mDisplayInfo: init={width}x{height} 420dpi cur={width}x{height} app={width}x{height}\n"
    )


def _dumpsys_battery(ctx: ShellContext) -> str:
    lines = ["Current Battery Service state:", "  AC powered: false", "  USB powered: true",
             "  Wireless powered: false", "  Max charging current: 500000", "  status: 2", "  health: 2",
             "  present: true", f"  level: {ctx.state.battery_level}", "  scale: 100", "  voltage: 4000",
             "  temperature: 250", "  technology: Li-ion"]
    return "\n".join(lines) + "\n"


def _dumpsys_activity(ctx: ShellContext) -> str:
    record = f"ActivityRecord{{{_window_id(ctx.host.focused_window() + 'app')} u0 {_short_focus(ctx)} t1}}"
    return (
        "ACTIVITY MANAGER ACTIVITIES (dumpsys activity activities)\n"
        "Display #0 (activities from top to bottom):\n"
        f"  * Task{{1 #1 type=standard A=10100:{ctx.host.focused_window().partition('/')[0]}}}\n"
        f"    mResumedActivity: {record}\n"
        f"  ResumedActivity:{record}\n"
    )


def dumpsys(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    service = args[0] if args else ""
    if service == "window":
        io.out(_dumpsys_window(ctx))
    elif service == "battery":
        io.out(_dumpsys_battery(ctx))
    elif service == "activity" and args[1:2] in ([], ["activities"], ["a"]):
        io.out(_dumpsys_activity(ctx))
    elif service == "wifi":
        io.out(f"Wi-Fi is {'enabled' if ctx.state.wifi_radio else 'disabled'}\n")
    elif service == "bluetooth_manager":
        on = ctx.state.bluetooth_radio
        io.out(f"Bluetooth Status\n  enabled: {str(on).lower()}\n  state: {'ON' if on else 'OFF'}\n")
    else:
        raise CommandFailed(f"Can't find service: {service}" if service else
                            "PhoneSim's dumpsys serves: window, battery, activity, wifi, bluetooth_manager")
    return 0


DEVICE_COMMANDS = {"getprop": getprop, "settings": settings, "svc": svc, "cmd": cmd, "dumpsys": dumpsys}
