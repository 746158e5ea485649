"""``AdbDevice``: a Device over ADB/TCP through adb-shell (emulators, phones in tcpip mode, `sim serve`).

Every call has a timeout. A connection the device has closed is noticed before the next call and
reopened with bounded exponential backoff; a call that breaks after its request reached the device is
retried only when it has no side effects (screenshots), since a repeated ``input tap`` would tap twice.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from pathlib import Path

from adb_shell import exceptions as adb_errors
from adb_shell.adb_device import AdbDevice as _AdbShellDevice
from adb_shell.auth.sign_pythonrsa import PythonRSASigner
from adb_shell.transport.tcp_transport import TcpTransport

from emulators.adb.auth import ensure_key
from emulators.adb.remote import RemoteDevice, ScreenshotFormat
from emulators.device import DEFAULT_TIMEOUT_S
from emulators.errors import AuthRefused, DeviceTimeout, DeviceUnreachable

_TIMEOUTS = (adb_errors.AdbTimeoutError, adb_errors.TcpTimeoutException, TimeoutError)
_BROKEN = (OSError, adb_errors.AdbConnectionError, adb_errors.InvalidResponseError,
           adb_errors.InvalidCommandError, adb_errors.InvalidChecksumError)


class _Transport(TcpTransport):
    """adb-shell's TCP transport, but a closed peer raises at once instead of reading b'' until timeout."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.bytes_sent = 0

    def connect(self, transport_timeout_s: float | None) -> None:
        super().connect(transport_timeout_s)
        # acks and requests are small writes: without this, Nagle's algorithm holds the next one back until
        # the device's delayed ACK, ~40 ms per shell round trip
        self._connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def bulk_read(self, numbytes: int, transport_timeout_s: float | None) -> bytes:
        data = super().bulk_read(numbytes, transport_timeout_s)
        if not data:
            raise ConnectionResetError(f"{self._host}:{self._port} closed the connection")
        return data

    def bulk_write(self, data: bytes, transport_timeout_s: float | None) -> int:
        sent = super().bulk_write(data, transport_timeout_s)
        self.bytes_sent += sent
        return sent

    def alive(self) -> bool:
        """False when the peer has closed or reset the connection (nothing is consumed)."""
        conn = self._connection
        if conn is None:
            return False
        try:
            readable, _, _ = select.select([conn], [], [], 0)
            return not readable or conn.recv(1, socket.MSG_PEEK) != b""
        except OSError:
            return False


class AdbDevice(RemoteDevice):
    """A device at ``host:port`` speaking ADB over TCP."""

    def __init__(self, address: str, *, key_path: str | os.PathLike[str] | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, retries: int = 3, backoff_s: float = 0.1,
                 max_backoff_s: float = 2.0, screenshot_format: ScreenshotFormat = "png") -> None:
        super().__init__(f"adb:{address}", timeout_s, screenshot_format)
        host, _, port = address.rpartition(":")
        self.address = address
        self.host, self.port = host.strip("[]"), int(port)
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._key_path = key_path
        self._signer: PythonRSASigner | None = None
        self._adb: _AdbShellDevice | None = None
        self._transport: _Transport | None = None
        self._lock = threading.RLock()

    # -- connection ----------------------------------------------------------------------------------
    @property
    def key_path(self) -> Path:
        return ensure_key(self._key_path)

    def connect(self, timeout: float | None = None) -> None:
        """Open the connection now (otherwise the first call opens it), retrying refused connections."""
        deadline = time.monotonic() + self._timeout(timeout)
        with self._lock:
            for attempt in range(self.retries + 1):
                try:
                    self._ensure_connected(deadline)
                    return
                except DeviceUnreachable:
                    if attempt == self.retries or not self._backoff(attempt, deadline):
                        raise

    def _ensure_connected(self, deadline: float) -> _AdbShellDevice:
        if self._adb is not None and self._transport is not None and self._transport.alive():
            return self._adb
        self._disconnect()
        if self._signer is None:
            self._signer = PythonRSASigner.FromRSAKeyPath(str(self.key_path))
        transport = _Transport(self.host, self.port)
        adb = _AdbShellDevice(transport)
        sent_key: list[bool] = []
        t = max(0.05, deadline - time.monotonic())
        try:
            adb.connect(rsa_keys=[self._signer], transport_timeout_s=t, auth_timeout_s=t, read_timeout_s=t,
                        auth_callback=lambda _dev: sent_key.append(True))
        except adb_errors.DeviceAuthError as e:
            transport.close()
            raise self._auth_refused() from e
        except _TIMEOUTS as e:
            transport.close()
            if sent_key:
                raise self._auth_refused() from e
            raise DeviceTimeout(f"{self.address} did not complete the ADB handshake within {t:.1f}s; "
                                "check that an ADB device (not another service) listens there") from e
        except _BROKEN as e:
            transport.close()
            if sent_key:
                raise self._auth_refused() from e
            raise DeviceUnreachable(
                f"cannot connect to {self.address} ({e}); check that the device is up and in tcpip mode "
                "(`adb tcpip 5555`) or that `gui-grpo sim serve` runs there") from e
        self._adb, self._transport = adb, transport
        return adb

    def _auth_refused(self) -> AuthRefused:
        return AuthRefused(
            f"{self.address} refused this host's ADB key {self.key_path}.pub; add that line to the device's "
            "trusted keys (`sim serve --require-auth FILE`) or accept the prompt on the phone")

    def _disconnect(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._adb = self._transport = None

    def _backoff(self, attempt: int, deadline: float) -> bool:
        """Sleep before the next attempt; False when that would pass the deadline."""
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt)
        if time.monotonic() + delay >= deadline:
            return False
        time.sleep(delay)
        return True

    def close(self) -> None:
        with self._lock:
            self._disconnect()

    # -- services ------------------------------------------------------------------------------------
    def _service(self, destination: str, timeout: float, retry: bool) -> bytes:
        service, _, command = destination.partition(":")
        deadline = time.monotonic() + timeout
        with self._lock:
            for attempt in range(self.retries + 1):
                reached = False
                try:
                    adb = self._ensure_connected(deadline)
                    assert self._transport is not None
                    sent_before = self._transport.bytes_sent
                    remaining = max(0.05, deadline - time.monotonic())
                    run = adb.shell if service == "shell" else adb.exec_out
                    reached = True
                    out = run(command, transport_timeout_s=remaining, read_timeout_s=remaining,
                              timeout_s=remaining, decode=False)
                    return bytes(out)
                except _TIMEOUTS as e:
                    self._disconnect()
                    raise DeviceTimeout(
                        f"{self.address}: `{command[:80]}` did not finish within {timeout:.1f}s; "
                        "pass a longer timeout or check that the device responds") from e
                except (DeviceUnreachable, *_BROKEN) as e:
                    if reached and self._transport is not None:
                        reached = self._transport.bytes_sent > sent_before
                    self._disconnect()
                    last = attempt == self.retries or (reached and not retry)
                    if last or not self._backoff(attempt, deadline):
                        if isinstance(e, DeviceUnreachable):
                            raise
                        may_have_run = " (it may have run)" if reached else ""
                        raise DeviceUnreachable(
                            f"{self.address}: connection broke during `{command[:80]}`{may_have_run}: {e}; "
                            "check the device and the network, then retry") from e
        raise AssertionError("unreachable")
