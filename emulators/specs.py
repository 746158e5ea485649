"""Device specs: one grammar for every command and config file.

sim:N                          N in-process PhoneSims
adb:HOST:PORT[,HOST:PORT...]   devices speaking ADB over TCP (emulators, phones in tcpip mode, sim serve)
serial:SERIAL[,SERIAL...]      devices known to the local adb server (emulator-5554, USB phones)
avd:NAME:N                     a pool of N Android emulators started from the AVD NAME
web:N[:WxH]                    N pages of one headless Chromium, W×H CSS pixels (default 160x210)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from emulators.errors import BadDeviceSpec

GRAMMAR = """device spec grammar:
  sim:N                          N in-process PhoneSims (e.g. sim:8)
  adb:HOST:PORT[,HOST:PORT...]   ADB over TCP (e.g. adb:127.0.0.1:6555,127.0.0.1:6557)
  serial:SERIAL[,SERIAL...]      through the local adb server (e.g. serial:emulator-5554)
  avd:NAME:N                     N emulators of one AVD (e.g. avd:Pixel_6_API_34:4)
  web:N[:WxH]                    N headless Chromium pages (e.g. web:8, web:2:1280x720)"""

MAX_DEVICES = 1024
_HOST = re.compile(r"[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]")
_SERIAL = re.compile(r"[A-Za-z0-9._:\-]+")
_AVD = re.compile(r"[A-Za-z0-9._\-]+")
MIN_PAGE, MAX_PAGE = 64, 4096  # page sides in CSS pixels


@dataclass(frozen=True)
class DeviceSpec:
    """A parsed device spec; ``targets`` lists one entry per device (address, serial or AVD name)."""

    kind: Literal["sim", "adb", "serial", "avd", "web"]
    count: int
    targets: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.kind == "sim":
            return f"sim:{self.count}"
        if self.kind == "avd":
            return f"avd:{self.targets[0]}:{self.count}"
        if self.kind == "web":
            return f"web:{self.count}" + (f":{self.targets[0]}" if self.targets else "")
        return f"{self.kind}:{','.join(self.targets)}"


def _fail(spec: str, why: str) -> BadDeviceSpec:
    shown = spec if len(spec) <= 60 else f"{spec[:40]}...({len(spec)} characters)"
    return BadDeviceSpec(f"bad device spec {shown!r}: {why}\n{GRAMMAR}")


def _digits(text: str, max_len: int) -> bool:
    """ASCII decimal digits only (``str.isdigit`` also takes ², ١ and other scripts' digits), not too many."""
    return text.isascii() and text.isdigit() and len(text) <= max_len


def _count(spec: str, text: str) -> int:
    if not _digits(text, 4) or not 1 <= int(text) <= MAX_DEVICES:
        raise _fail(spec, f"the count must be a whole number from 1 to {MAX_DEVICES} in ASCII digits, "
                          f"got {text[:20]!r}")
    return int(text)


def _address(spec: str, item: str) -> str:
    host, sep, port = item.rpartition(":")
    if not sep or not host or not _HOST.fullmatch(host):
        raise _fail(spec, f"{item!r} is not HOST:PORT")
    if not _digits(port, 5) or not 1 <= int(port) <= 65535:
        raise _fail(spec, f"port in {item[:40]!r} must be 1-65535 in ASCII digits")
    return f"{host}:{int(port)}"


def parse_device_spec(spec: str) -> DeviceSpec:
    """Parse a spec string or raise ``BadDeviceSpec`` with the grammar in the message."""
    if not isinstance(spec, str):
        raise _fail(repr(spec), "a device spec is a string")
    kind, sep, rest = spec.strip().partition(":")
    if not sep or not rest:
        raise _fail(spec, "expected KIND:VALUE")
    if kind == "sim":
        return DeviceSpec("sim", _count(spec, rest))
    if kind == "avd":
        name, sep, n = rest.rpartition(":")
        if not sep or not _AVD.fullmatch(name):
            raise _fail(spec, "expected avd:NAME:N")
        return DeviceSpec("avd", _count(spec, n), (name,))
    if kind == "web":
        count, sep, size = rest.partition(":")
        if not sep:
            return DeviceSpec("web", _count(spec, count))
        return DeviceSpec("web", _count(spec, count), (_page_size(spec, size),))
    if kind in ("adb", "serial"):
        items = rest.split(",")
        if any(not item for item in items):
            raise _fail(spec, "empty entry in the comma-separated list")
        if kind == "adb":
            targets = tuple(_address(spec, item) for item in items)
        else:
            bad = [item for item in items if not _SERIAL.fullmatch(item)]
            if bad:
                raise _fail(spec, f"{bad[0]!r} is not a device serial")
            targets = tuple(items)
        if len(set(targets)) != len(targets):
            raise _fail(spec, "the same device is listed twice")
        return DeviceSpec(kind, len(targets), targets)  # type: ignore[arg-type]
    raise _fail(spec, f"unknown kind {kind!r}; use sim, adb, serial, avd or web")


def _page_size(spec: str, text: str) -> str:
    width, sep, height = text.lower().partition("x")
    if not (sep and _digits(width, 4) and _digits(height, 4)):
        raise _fail(spec, f"the page size must be WxH in ASCII digits (e.g. 160x210), got {text[:20]!r}")
    if not all(MIN_PAGE <= int(v) <= MAX_PAGE for v in (width, height)):
        raise _fail(spec, f"page sides must be {MIN_PAGE}-{MAX_PAGE} CSS pixels, got {text[:20]!r}")
    return f"{int(width)}x{int(height)}"


def page_size(spec: DeviceSpec) -> tuple[int, int] | None:
    """The W×H of a ``web:`` spec, or None for the default size."""
    if spec.kind != "web" or not spec.targets:
        return None
    width, height = spec.targets[0].split("x")
    return int(width), int(height)
