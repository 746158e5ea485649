"""Devices for ``adb:`` and ``serial:`` specs, connected concurrently so one slow device stalls no other."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from emulators.adb.client import AdbDevice
from emulators.adb.host import AdbServerClient, SerialDevice
from emulators.adb.remote import RemoteDevice
from emulators.device import DEFAULT_TIMEOUT_S, Device
from emulators.errors import BadDeviceSpec, DeviceError, DeviceUnreachable
from emulators.specs import DeviceSpec


def _ready(device: RemoteDevice, timeout: float) -> None:
    if isinstance(device, AdbDevice):
        device.connect(timeout)
    elif isinstance(device, SerialDevice):
        state = device.state(timeout)
        if state != "device":
            raise DeviceUnreachable(
                f"{device.name} is {state!r} in the adb server at {device.server.address}; "
                "wait for it to boot or accept the debugging prompt")


def connect_devices(spec: DeviceSpec, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Device]:
    """Connected devices for an ``adb:`` or ``serial:`` spec; if any fails, all are closed and it raises."""
    devices: list[RemoteDevice]
    if spec.kind == "adb":
        devices = [AdbDevice(target, timeout_s=timeout_s) for target in spec.targets]
    elif spec.kind == "serial":
        server = AdbServerClient()
        devices = [SerialDevice(target, server=server, timeout_s=timeout_s) for target in spec.targets]
    else:
        raise BadDeviceSpec(f"connect_devices takes adb: and serial: specs, not {spec}")
    with ThreadPoolExecutor(max_workers=min(32, len(devices))) as pool:
        futures = [pool.submit(_ready, d, timeout_s) for d in devices]
        errors = [f.exception() for f in futures]
    failed = [e for e in errors if e is not None]
    if failed:
        for device in devices:
            device.close()
        first = failed[0]
        if isinstance(first, DeviceError):
            raise first
        raise DeviceUnreachable(f"{spec}: {first}") from first
    return list(devices)
