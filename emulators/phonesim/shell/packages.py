"""``pm list packages`` and ``pm path`` (also reached as ``cmd package``), in Android 14's format.

Every package is installed for user 0 and enabled. The AOSP apps (``android``, ``com.android.*``) are system
packages under ``/system``; the others (PhoneSim's own apps) are third-party, under ``/data/app``, so
``pm list packages -3`` / ``-s`` split them as on a phone.
"""

from __future__ import annotations

import base64
import zlib

from emulators.phonesim.shell.base import CommandIO, ShellContext, encode_text
from emulators.phonesim.shell.errors import CommandFailed
from emulators.phonesim.shell.screen import app_uid

USAGE = ("usage: pm list packages [-f] [-d] [-e] [-s] [-3] [-i] [-l] [-u] [-U] [--show-versioncode] "
         "[--user USER_ID] [FILTER]\n       pm path [--user USER_ID] PACKAGE")
PM_ERROR = 255  # PackageManagerShellCommand returns -1
_PRIVILEGED = {"com.android.settings", "com.android.systemui", "com.android.launcher3", "com.android.shell"}
_APK_NAMES = {"systemui": "SystemUI", "latin": "LatinIME", "documentsui": "DocumentsUI",
"deskclock": "DeskClock"}
_FLAGS = {"-f", "-d", "-e", "-s", "-3", "-i", "-l", "-u", "-U", "--show-versioncode"}


def is_system(package: str) -> bool:
    return package == "android" or package.startswith("com.android.")


def apk_path(package: str) -> str:
    """Where the package's base APK lives (``ApplicationInfo.sourceDir``)."""
    if package == "android":
        return "/system/framework/framework-res.apk"
    if is_system(package):
        last = package.rsplit(".", 1)[-1]
        name = _APK_NAMES.get(last, last[:1].upper() + last[1:])
        return f"/system/{'priv-app' if package in _PRIVILEGED else 'app'}/{name}/{name}.apk"
    digest = zlib.crc32(encode_text(package)).to_bytes(4, "big") * 4
    token = base64.urlsafe_b64encode(digest).decode("ascii")[:22]
    return f"/data/app/~~{token}==/{package}-{token[::-1]}==/base.apk"


def _list_options(args: list[str]) -> tuple[set[str], str]:
    flags: set[str] = set()
    operands: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--user" and i + 1 < len(args):
            i += 1
        elif arg in _FLAGS:
            flags.add(arg)
        elif arg.startswith("-"):
            raise CommandFailed(f"Error: Unknown option: {arg}", PM_ERROR)
        else:
            operands.append(arg)
        i += 1
    if len(operands) > 1:
        raise CommandFailed(f"Error: Unknown option: {operands[1]}", PM_ERROR)
    return flags, operands[0] if operands else ""


def _package_line(ctx: ShellContext, package: str, flags: set[str]) -> str:
    line = "package:" + (f"{apk_path(package)}=" if "-f" in flags else "") + package
    if "--show-versioncode" in flags:
        line += f" versionCode:{34 if is_system(package) else 1}"
    if "-i" in flags:
        line += "  installer=null"
    if "-U" in flags:
        line += f" uid:{app_uid(ctx, package)}"
    return line


def list_packages(ctx: ShellContext, args: list[str]) -> str:
    flags, wanted = _list_options(args)
    if "-d" in flags:  # every package is enabled
        return ""
    packages = [p for p in sorted(ctx.host.packages()) if wanted in p]
    if "-s" in flags:
        packages = [p for p in packages if is_system(p)]
    if "-3" in flags:
        packages = [p for p in packages if not is_system(p)]
    return "".join(_package_line(ctx, p, flags) + "\n" for p in packages)


def pm(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    """``pm list packages ...`` and ``pm path PACKAGE``; other verbs are a usage error."""
    if args[:2] == ["list", "packages"]:
        io.out(list_packages(ctx, args[2:]))
        return 0
    if args[:1] == ["path"]:
        rest = args[3:] if args[1:2] == ["--user"] else args[1:]
        if len(rest) != 1:
            raise CommandFailed(USAGE, PM_ERROR)
        if rest[0] not in ctx.host.packages():
            return 1  # as Android: nothing printed, status 1
        io.out(f"package:{apk_path(rest[0])}\n")
        return 0
    raise CommandFailed(USAGE, PM_ERROR if args else 1)
