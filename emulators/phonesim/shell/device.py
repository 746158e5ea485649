"""Device-wide commands: getprop, settings, svc, cmd (``dumpsys`` is in ``dumpsys.py``).

``settings put`` only stores a value, exactly as on Android: writing ``wifi_on`` or ``airplane_mode_on``
switches nothing. ``svc`` and ``cmd connectivity airplane-mode`` switch the radios.
"""

from __future__ import annotations

from emulators.phonesim.shell.base import CommandIO, ShellContext
from emulators.phonesim.shell.dumpsys import dumpsys
from emulators.phonesim.shell.errors import CommandFailed
from emulators.phonesim.shell.packages import pm
from emulators.phonesim.shell.screen import density_dpi
from emulators.phonesim.ui_host import UiHost

NAMESPACES = ("global", "system", "secure")
_SETTINGS_USAGE = ("usage:  settings [--user <USER_ID> | current] get namespace key\n"
                   "        settings [--user <USER_ID> | current] put namespace key value\n"
                   "        settings [--user <USER_ID> | current] delete namespace key\n"
                   "        settings [--user <USER_ID> | current] list namespace\n"
                   "'namespace' is one of {system, secure, global}, case-insensitive")


def default_props(host: UiHost) -> dict[str, str]:
    """System properties of a PhoneSim: an Android 14 (API 34) x86_64 userdebug build.

    ``ro.sf.lcd_density`` follows the resolution (360 dp across), as ``wm density`` and ``dumpsys display``
    do.
    """
    width, height = host.screen_size
    build = "UP1A.231005.007"
    return {
        "sys.boot_completed": "1", "dev.bootcomplete": "1", "init.svc.bootanim": "stopped",
        "ro.product.model": "PhoneSim", "ro.product.name": "phonesim", "ro.product.device": "phonesim",
        "ro.product.brand": "phonesim", "ro.product.manufacturer": "PhoneSim", "ro.product.board": "phonesim",
        "ro.product.cpu.abi": "x86_64", "ro.product.cpu.abilist": "x86_64,arm64-v8a",
        "ro.product.cpu.abilist64": "x86_64,arm64-v8a", "ro.product.cpu.abilist32": "",
        "ro.product.locale": "en-US", "ro.product.first_api_level": "34",
        "ro.build.version.sdk": "34", "ro.build.version.release": "14",
        "ro.build.version.release_or_codename": "14",
        "ro.build.version.codename": "REL", "ro.build.version.preview_sdk": "0",
        "ro.build.version.security_patch": "2023-10-05", "ro.build.version.incremental": "1",
        "ro.build.type": "userdebug", "ro.build.tags": "test-keys", "ro.build.id": build,
        "ro.build.display.id": f"phonesim-userdebug 14 {build} 1 test-keys",
        "ro.build.characteristics": "default",
        "ro.build.fingerprint": f"phonesim/phonesim/phonesim:14/{build}/1:userdebug/test-keys",
        "ro.debuggable": "1", "ro.secure": "1", "ro.adb.secure": "0", "service.adb.root": "0",
        "ro.serialno": "PHONESIM0001", "ro.boot.serialno": "PHONESIM0001", "ro.hardware": "phonesim",
        "ro.sf.lcd_density": str(density_dpi(width)), "ro.opengles.version": "196610",
        "persist.sys.timezone": "UTC", "persist.sys.locale": "en-US", "wifi.interface": "wlan0",
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


DEVICE_COMMANDS = {"getprop": getprop, "settings": settings, "svc": svc, "cmd": cmd, "dumpsys": dumpsys}
