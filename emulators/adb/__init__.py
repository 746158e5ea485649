"""ADB for gui-grpo: a device-side server that serves any Device, and clients for ADB devices.

- ``serve_devices`` / ``AdbServer``: expose Devices over the ADB wire protocol (`adb connect`, adb-shell).
- ``AdbDevice``: a device at ``HOST:PORT`` through adb-shell (``adb:`` specs).
- ``SerialDevice``: a device known to the local adb server (``serial:`` specs).
- ``connect_devices``: connected devices for an ``adb:``, ``serial:`` or ``avd:`` spec (the last via
  ``emulators.avd.EmulatorPool``).
"""

from emulators.adb.client import AdbDevice
from emulators.adb.devices import connect_devices
from emulators.adb.host import AdbServerClient, SerialDevice
from emulators.adb.server import AdbServer, ServedDevices, serve_devices

__all__ = ["AdbDevice", "AdbServer", "AdbServerClient", "SerialDevice", "ServedDevices", "connect_devices",
           "serve_devices"]
