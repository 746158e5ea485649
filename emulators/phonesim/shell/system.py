"""Commands that drive the UI host: input, screencap, uiautomator, am, monkey, pm, wm.

Output and errors follow Android 14's tools; where the real tool exits 0 after printing an error, PhoneSim
exits non-zero so callers can see the failure from the status alone.
"""

from __future__ import annotations

import io as _io
import math
import struct

from emulators.actions import keycode_number
from emulators.errors import InvalidAction, UntypeableText
from emulators.phonesim.shell.base import CommandIO, ShellContext
from emulators.phonesim.shell.errors import CommandFailed
from emulators.phonesim.shell.fs import FsError
from emulators.phonesim.shell.packages import pm
from emulators.phonesim.shell.screen import screen_dpi, short_component
from emulators.text_entry import check_typeable, decode_input_text

_INPUT_SOURCES = {"keyboard", "mouse", "joystick", "touchnavigation", "touchpad", "trackball", "stylus",
                  "dpad", "gamepad", "touchscreen", "rotaryencoder"}
_INPUT_USAGE = {
    "tap": "input [<source>] tap <x> <y>",
    "swipe": "input [<source>] swipe <x1> <y1> <x2> <y2> [duration(ms)]",
    "text": "input [<source>] text <string>",
    "keyevent": "input [<source>] keyevent [--longpress|--doubletap] <key code number or name> ...",
}
DEFAULT_SWIPE_MS = 300
RAW_FORMAT_RGBA_8888 = 1
RAW_DATASPACE_UNKNOWN = 0
UI_DUMP_DEFAULT = "/sdcard/window_dump.xml"
# Intent actions PhoneSim resolves, and URI schemes of ACTION_VIEW, to candidate packages.
_ACTION_PACKAGES = {"android.settings.": ("com.android.settings",)}
_SCHEME_PACKAGES = {
    "tel": ("com.android.dialer",), "sms": ("com.android.messaging",), "smsto": ("com.android.messaging",),
    "mailto": ("com.android.email",), "http": ("com.android.browser",), "https": ("com.android.browser",),
    "geo": ("com.android.maps",), "content": ("com.android.contacts",), "file": ("com.android.documentsui",),
}


def _input_usage_error(sub: str) -> CommandFailed:
    return CommandFailed(f"Error: Invalid arguments for command: {sub}\nUsage: {_INPUT_USAGE[sub]}")


def _coords(sub: str, values: list[str]) -> list[float]:
    try:
        numbers = [float(v) for v in values]
    except ValueError as e:
        raise _input_usage_error(sub) from e
    if not all(math.isfinite(n) for n in numbers):
        raise _input_usage_error(sub)
    return numbers


def _keyevent(ctx: ShellContext, args: list[str]) -> None:
    keys = [a for a in args if a not in ("--longpress", "--doubletap")]
    if not keys or any(a.startswith("--") for a in keys):
        raise _input_usage_error("keyevent")
    try:
        codes = [keycode_number(k) for k in keys]
    except InvalidAction as e:
        raise CommandFailed(f"Error: {e}") from e
    for code in codes:  # all validated first: an unknown key sends nothing
        ctx.host.keyevent(code)


def input_command(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    if args[:1] == ["-d"]:
        args = args[2:]
    if args and args[0] in _INPUT_SOURCES:
        args = args[1:]
    if not args:
        raise CommandFailed("Usage: input [<source>] [-d DISPLAY_ID] <command> [<arg>...]\n"
                            + "\n".join(f"      {u}" for u in _INPUT_USAGE.values()))
    sub, rest = args[0], args[1:]
    if sub == "tap":
        if len(rest) != 2:
            raise _input_usage_error(sub)
        x, y = _coords(sub, rest)
        ctx.host.tap(x, y)
    elif sub == "swipe":
        if len(rest) not in (4, 5):
            raise _input_usage_error(sub)
        x1, y1, x2, y2 = _coords(sub, rest[:4])
        duration = DEFAULT_SWIPE_MS
        if len(rest) == 5:
            if not rest[4].lstrip("-").isdigit():
                raise _input_usage_error(sub)
            duration = int(rest[4]) if int(rest[4]) >= 0 else DEFAULT_SWIPE_MS
        ctx.host.swipe(x1, y1, x2, y2, duration)
    elif sub == "text":
        if not rest:
            raise _input_usage_error(sub)
        text = decode_input_text(rest[0])  # Android types only the first argument
        try:
            check_typeable(text)
        except UntypeableText as e:
            raise CommandFailed(f"Error: {e}") from e
        if text:
            ctx.host.input_text(text)
    elif sub == "keyevent":
        _keyevent(ctx, rest)
    else:
        raise CommandFailed(f"Error: Unknown command: {sub}")
    return 0


def _png_bytes(ctx: ShellContext) -> bytes:
    buffer = _io.BytesIO()
    ctx.host.render().save(buffer, format="PNG")
    return buffer.getvalue()


def raw_screencap(ctx: ShellContext) -> list[bytes]:
    """``screencap`` without -p: a 16-byte header (width, height, format, dataspace), then RGBA pixels.

    Returned as two chunks so the 10 MB payload is not copied just to put the header in front of it.
    """
    width, height = ctx.host.screen_size
    raw_rgba = getattr(ctx.host, "raw_rgba", None)  # PhoneSim caches the payload of an unchanged screen
    pixels = raw_rgba() if raw_rgba is not None else ctx.host.render().convert("RGBA").tobytes()
    header = struct.pack("<4I", width, height, RAW_FORMAT_RGBA_8888, RAW_DATASPACE_UNKNOWN)
    return [header, pixels]


def _write_file(ctx: ShellContext, command: str, target: str, data: bytes) -> str:
    try:
        path = ctx.fs.resolve(ctx.cwd, target)
        ctx.fs.write(path, data)
    except FsError as e:
        raise CommandFailed(f"{command}: Error opening file: {target} ({e.reason})") from e
    return path


def screencap(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    png, target = False, None
    i = 0
    while i < len(args):
        if args[i] == "-p":
            png = True
        elif args[i] == "-d" and i + 1 < len(args):
            i += 1
        elif args[i] == "-h" or args[i].startswith("-"):
            raise CommandFailed("usage: screencap [-hp] [-d display-id] [FILENAME]\n"
                                "   -h: this message\n   -p: save the file as a png.\n"
                                "If FILENAME ends with .png it will be saved as a png.\n"
                                "If FILENAME is not given, the results will be printed to stdout.")
        elif target is None:
            target = args[i]
        i += 1
    if target is not None and target.endswith(".png"):
        png = True
    chunks = [_png_bytes(ctx)] if png else raw_screencap(ctx)
    if target is None:
        for chunk in chunks:
            io.out(chunk)
    else:
        _write_file(ctx, "screencap", target, b"".join(chunks))
    return 0


def uiautomator(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    if not args or args[0] != "dump":
        raise CommandFailed("Usage: uiautomator <subcommand> [options]\n\nAvailable subcommands:\n\n"
                            "dump: creates an XML dump of current UI hierarchy\n"
                            "    dump [--verbose][--compressed][file]")
    files = [a for a in args[1:] if not a.startswith("--")]
    target = files[0] if files else UI_DUMP_DEFAULT
    xml = ctx.host.dump_xml().encode("utf-8")
    if target in ("/dev/tty", "/dev/stdout"):
        io.out(xml)
    else:
        target = _write_file(ctx, "ERROR: could not write", target, xml)
    io.out(f"UI hierchary dumped to: {target}\n")
    return 0


def _start_options(args: list[str]) -> dict[str, str]:
    """The options of ``am start`` PhoneSim reads (-n, -a, -d, -W, -S); extras are skipped."""
    opts: dict[str, str] = {}
    takes_value = {"-n", "-a", "-d", "-c", "-t", "-f", "--user", "--display"}
    takes_two = {"-e", "--es", "--ei", "--ez", "--el", "--ef", "--eu", "--esa", "--eia"}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in takes_value and i + 1 < len(args):
            opts[arg] = args[i + 1]
            i += 2
        elif arg in takes_two and i + 2 < len(args):
            i += 3
        elif arg in ("-W", "-S", "-R", "--activity-clear-task", "--activity-new-task"):
            opts[arg] = "1"
            i += 1
        elif not arg.startswith("-") and "-n" not in opts:
            opts["uri"] = arg
            i += 1
        else:
            raise CommandFailed(f"Error: Unknown option: {arg}")
    return opts


def _intent_fields(opts: dict[str, str]) -> list[str]:
    """``Intent.toShortString`` fields from ``am start`` options: act, cat, dat, typ, flg (cmp goes last)."""
    fields = [f"act={opts['-a']}"] if "-a" in opts else []
    fields += [f"cat=[{opts['-c']}]"] if "-c" in opts else []
    fields += [f"dat={opts['-d']}"] if "-d" in opts else []
    fields += [f"typ={opts['-t']}"] if "-t" in opts else []
    if "-f" in opts:
        try:
            fields.append(f"flg=0x{int(opts['-f'], 0):x}")
        except ValueError as e:
            raise CommandFailed(f"Error: bad flags: {opts['-f']}") from e
    return fields


def _start_component(ctx: ShellContext, opts: dict[str, str], io: CommandIO) -> str:
    component = opts["-n"]
    package, _, cls = component.partition("/")
    if not package or not cls:
        raise CommandFailed(f"Error: Bad component name: {component}")
    full = package + cls if cls.startswith(".") else cls
    shown = short_component(package, full)
    io.out(f"Starting: Intent {{ {' '.join([*_intent_fields(opts), f'cmp={shown}'])} }}\n")
    if not ctx.host.start_activity(package, full):
        raise CommandFailed(f"Error type 3\nError: Activity class {{{package}/{full}}} does not exist.")
    return shown


def _start_intent(ctx: ShellContext, action: str, uri: str | None, io: CommandIO) -> str:
    described = " ".join(p for p in (f"act={action}" if action else "", f"dat={uri}" if uri else "") if p)
    io.out(f"Starting: Intent {{ {described} }}\n")
    candidates: tuple[str, ...] = ()
    for prefix, packages in _ACTION_PACKAGES.items():
        if action.startswith(prefix):
            candidates = packages
    if uri and action.rpartition(".")[2] in ("VIEW", "SENDTO", "DIAL"):
        candidates = _SCHEME_PACKAGES.get(uri.split(":", 1)[0].lower(), ())
    installed = set(ctx.host.packages())
    for package in candidates:
        if package in installed and ctx.host.launch(package):
            return f"{package}/{ctx.host.focused_window().partition('/')[2]}"
    raise CommandFailed(f"Error: Activity not started, unable to resolve Intent "
                        f"{{ {described} flg=0x10000000 }}")


def am(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    if not args:
        raise CommandFailed("usage: am [start|force-stop|kill] ...")
    sub, rest = args[0], args[1:]
    if sub in ("start", "start-activity"):
        opts = _start_options(rest)
        if "-S" in opts and "-n" in opts:
            ctx.host.force_stop(opts["-n"].partition("/")[0])
        if "-n" in opts:
            shown = _start_component(ctx, opts, io)
        elif "-a" in opts or "-d" in opts or "uri" in opts:
            shown = _start_intent(ctx, opts.get("-a", "android.intent.action.VIEW"),
                                  opts.get("-d", opts.get("uri")), io)
        else:
            raise CommandFailed("Error: Intent requires a component (-n) or an action (-a)")
        if "-W" in opts:
            io.out(f"Status: ok\nLaunchState: COLD\nActivity: {shown}\n"
                   "TotalTime: 250\nWaitTime: 260\nComplete\n")
        return 0
    if sub in ("force-stop", "kill"):
        packages = [a for a in rest if not a.startswith("--")]
        if not packages:
            raise CommandFailed(f"Error: am {sub} needs a package name")
        ctx.host.force_stop(packages[-1])
        return 0
    raise CommandFailed(f"Unknown command: {sub}")


def monkey(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    package, count = None, None
    i = 0
    while i < len(args):
        if args[i] in ("-p", "-c", "--throttle", "-s", "--pct-touch", "--pct-syskeys") and i + 1 < len(args):
            package = args[i + 1] if args[i] == "-p" else package
            i += 2
        elif args[i] in ("-v", "-vv", "-vvv", "--ignore-crashes"):
            i += 1
        elif args[i].isdigit() and count is None:
            count = int(args[i])
            i += 1
        else:
            raise CommandFailed(f"** Error: Unknown option: {args[i]}")
    if package is None or count is None:
        raise CommandFailed("usage: monkey -p PACKAGE -c android.intent.category.LAUNCHER 1 "
                            "(PhoneSim's monkey only launches apps)", 1)
    if count != 1:
        raise CommandFailed("** PhoneSim's monkey injects exactly 1 event (the app launch); use count 1", 1)
    if package not in ctx.host.packages() or not ctx.host.launch(package):
        raise CommandFailed("** No activities found to run, monkey aborted.", 251)
    io.out("".join(f"  bash arg: {a}\n" for a in args) + "Events injected: 1\n"
           "## Network stats: elapsed time=15ms (0ms mobile, 0ms wifi, 15ms not connected)\n")
    return 0


def wm(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    width, height = ctx.host.screen_size
    if args == ["size"]:
        io.out(f"Physical size: {width}x{height}\n")
    elif args == ["density"]:
        io.out(f"Physical density: {screen_dpi(ctx)}\n")
    else:
        raise CommandFailed("usage: wm size | wm density (PhoneSim cannot change them)")
    return 0


SYSTEM_COMMANDS = {
    "input": input_command, "screencap": screencap, "uiautomator": uiautomator, "am": am, "monkey": monkey,
    "pm": pm, "wm": wm,
}
