"""Devices for ``adb:``, ``serial:`` and ``avd:`` specs, connected concurrently: a slow device stalls none."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from emulators.adb.client import AdbDevice
from emulators.adb.host import AdbServerClient, SerialDevice
from emulators.adb.remote import RemoteDevice
from emulators.device import DEFAULT_TIMEOUT_S, AndroidDevice
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


def _start_pool(spec: DeviceSpec, timeout_s: float, avd_options: dict[str, Any]) -> list[AndroidDevice]:
    from emulators.avd import EmulatorPool, PoolConfig  # the pool is only loaded for avd: specs

    config = PoolConfig(avd=spec.targets[0], count=spec.count, timeout_s=timeout_s, **avd_options)
    return list(EmulatorPool(config).start())


def connect_devices(spec: DeviceSpec, timeout_s: float = DEFAULT_TIMEOUT_S,
                    **avd_options: Any) -> list[AndroidDevice]:
    """Connected devices for an ``adb:``, ``serial:`` or ``avd:`` spec; if one fails, all close and it raises.

    ``avd:NAME:N`` starts an ``EmulatorPool`` (``avd_options`` are ``PoolConfig`` fields: base_port, emulator,
    transport, ...) and waits for every instance to boot; closing all its devices stops the emulators.
    """
    devices: list[RemoteDevice]
    if spec.kind == "avd":
        return _start_pool(spec, timeout_s, avd_options)
    if spec.kind == "adb":
        devices = [AdbDevice(target, timeout_s=timeout_s) for target in spec.targets]
    elif spec.kind == "serial":
        server = AdbServerClient()
        devices = [SerialDevice(target, server=server, timeout_s=timeout_s) for target in spec.targets]
    else:
        raise BadDeviceSpec(f"connect_devices takes adb:, serial: and avd: specs, not {spec}")
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
