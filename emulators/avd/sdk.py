"""Where the Android SDK tools are: a given path, else $ANDROID_SDK_ROOT or $ANDROID_HOME, else PATH."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from emulators.errors import SdkToolMissing

SDK_ENV_VARS = ("ANDROID_SDK_ROOT", "ANDROID_HOME")
# Where each tool lives inside an SDK.
_IN_SDK = {"emulator": ("emulator", "emulator"), "adb": ("platform-tools", "adb")}


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_tool(tool: str, explicit: str | os.PathLike[str] | None = None,
              environ: Mapping[str, str] | None = None) -> Path:
    """The path of ``emulator`` or ``adb``; raise ``SdkToolMissing`` saying every place that was tried."""
    if tool not in _IN_SDK:
        raise ValueError(f"unknown SDK tool {tool!r}; expected one of {sorted(_IN_SDK)}")
    env = os.environ if environ is None else environ
    if explicit is not None:
        path = Path(explicit).expanduser()
        if _executable(path):
            return path
        raise SdkToolMissing(f"{tool} path {str(path)!r} is not an executable file; pass the path of the "
                             f"SDK's {'/'.join(_IN_SDK[tool])}")
    tried: list[str] = []
    for var in SDK_ENV_VARS:
        root = env.get(var)
        if root:
            path = Path(root).expanduser().joinpath(*_IN_SDK[tool])
            if _executable(path):
                return path
            tried.append(f"{var}: {path}")
    found = shutil.which(tool, path=env.get("PATH"))
    if found:
        return Path(found)
    tried.append("PATH")
    raise SdkToolMissing(
        f"cannot find the Android `{tool}` tool (looked in {'; '.join(tried)}); install it with "
        f"`sdkmanager \"{'emulator' if tool == 'emulator' else 'platform-tools'}\"`, set ANDROID_SDK_ROOT to "
        f"the SDK directory, or pass its path explicitly")
