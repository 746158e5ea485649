"""``SerialDevice``: a device known to the local adb server (``emulator-5554``, USB phones).

The adb server's host protocol is small: each request is its length as four hex digits then the text;
the server answers ``OKAY`` or ``FAIL`` + four hex digits + a message. ``host:transport:SERIAL`` binds the
socket to a device, after which ``shell:CMD`` / ``exec:CMD`` stream the output until the server closes.
Each call uses a fresh socket, as the adb tool does.
"""

from __future__ import annotations

import os
import socket
import time

from emulators.adb.remote import RemoteDevice, ScreenshotFormat
from emulators.device import DEFAULT_TIMEOUT_S
from emulators.errors import AuthRefused, DeviceError, DeviceTimeout, DeviceUnreachable

DEFAULT_SERVER_PORT = 5037


class HostProtocolError(DeviceError):
    """The adb server answered something other than OKAY/FAIL."""


def server_port() -> int:
    """The local adb server's port: ``ANDROID_ADB_SERVER_PORT`` or 5037."""
    value = os.environ.get("ANDROID_ADB_SERVER_PORT", "")
    ok = value.isascii() and value.isdigit() and len(value) <= 5 and 1 <= int(value) <= 65535
    return int(value) if ok else DEFAULT_SERVER_PORT


class AdbServerClient:
    """Requests to the adb server at 127.0.0.1:``port``."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = server_port() if port is None else port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _open(self, timeout: float) -> socket.socket:
        try:
            return socket.create_connection((self.host, self.port), timeout=timeout)
        except TimeoutError as e:
            raise DeviceTimeout(f"adb server at {self.address} did not accept within {timeout:.1f}s") from e
        except OSError as e:
            raise DeviceUnreachable(f"no adb server at {self.address} ({e}); start one with `adb -P "
                                    f"{self.port} start-server` or set ANDROID_ADB_SERVER_PORT") from e

    def _request(self, sock: socket.socket, text: str) -> None:
        payload = text.encode()
        sock.sendall(f"{len(payload):04x}".encode() + payload)
        status = _recv_exact(sock, 4)
        if status == b"OKAY":
            return
        if status != b"FAIL":
            raise HostProtocolError(f"adb server at {self.address} answered {status!r} to {text!r}")
        message = _recv_exact(sock, int(_recv_exact(sock, 4), 16)).decode(errors="replace")
        if "unauthorized" in message:
            raise AuthRefused(f"{message} (adb server {self.address}): accept this computer's key on the "
                              "device, then retry")
        raise DeviceUnreachable(f"adb server {self.address}: {message} (for {text!r}); see `adb devices`")

    def query(self, request: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        """A ``host:`` request whose reply is one length-prefixed string (``host:devices``, ``get-state``)."""
        with self._open(timeout) as sock:
            try:
                self._request(sock, request)
                return _recv_exact(sock, int(_recv_exact(sock, 4), 16)).decode(errors="replace")
            except TimeoutError as e:
                raise DeviceTimeout(f"adb server {self.address}: no answer to {request!r} in {timeout}s"
                                    ) from e

    def device_service(self, serial: str, service: str, timeout: float) -> bytes:
        """Everything ``service`` on device ``serial`` writes before it closes, within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._open(timeout) as sock:
            try:
                self._request(sock, f"host:transport:{serial}")
                self._request(sock, service)
                out = bytearray()
                while True:
                    sock.settimeout(max(0.01, deadline - time.monotonic()))
                    chunk = sock.recv(65536)
                    if not chunk:
                        return bytes(out)
                    out += chunk
            except TimeoutError as e:
                raise DeviceTimeout(f"{serial} via adb server {self.address}: `{service[:80]}` did not "
                                    f"finish within {timeout:.1f}s; pass a longer timeout") from e
            except (ConnectionError, HostProtocolError) as e:
                raise DeviceUnreachable(f"{serial} via adb server {self.address}: {e}; check `adb devices`"
                                        ) from e


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionResetError(f"the adb server closed the socket after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


class SerialDevice(RemoteDevice):
    """A device the local adb server knows by ``serial``."""

    def __init__(self, serial: str, *, server: AdbServerClient | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, screenshot_format: ScreenshotFormat = "png") -> None:
        super().__init__(f"serial:{serial}", timeout_s, screenshot_format)
        self.serial = serial
        self.server = server or AdbServerClient()

    def state(self, timeout: float | None = None) -> str:
        """The adb server's state for this device: ``device``, ``offline``, ``unauthorized`` …"""
        return self.server.query(f"host-serial:{self.serial}:get-state", self._timeout(timeout)).strip()

    def _service(self, destination: str, timeout: float, retry: bool) -> bytes:
        return self.server.device_service(self.serial, destination, timeout)
