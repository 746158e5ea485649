"""An ADB device-side server: exposes any ``Device`` over TCP so `adb` and adb-shell can drive it.

One thread accepts connections; each connection has a reader thread, and each open stream a worker thread,
so several streams and connections run at once (calls into one device are serialised by a lock). Services:
``shell:CMD`` (legacy shell: raw output, no exit status), ``exec:CMD`` (binary-clean) and ``sync:``. No
``shell_v2`` is advertised, so clients use the plain services. Optional RSA auth accepts only keys listed in
a trusted-keys file.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.adb.auth import load_trusted_keys
from emulators.adb.connection import Connection
from emulators.adb.faults import FaultPlan, reset_connection
from emulators.adb.protocol import MAX_PAYLOAD, VERSION_SKIP_CHECKSUM
from emulators.adb.stream import ServerConfig
from emulators.device import Device

log = logging.getLogger(__name__)

DEFAULT_PORT = 6555
PORT_STEP = 2  # as emulators space their adb ports


@dataclass(frozen=True)
class Banner:
    """What the device says about itself in its CNXN reply."""

    product: str = "phonesim"
    model: str = "PhoneSim"
    device: str = "phonesim"

    def encode(self) -> bytes:
        return (f"device::ro.product.name={self.product};ro.product.model={self.model};"
                f"ro.product.device={self.device};features=\0").encode()


class AdbServer:
    """Serves one device on ``host:port`` (port 0 picks a free one) until ``close``."""

    def __init__(self, device: Device, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                 trusted_keys: Sequence[rsa.RSAPublicKey] | None = None, maxdata: int = MAX_PAYLOAD,
                 version: int = VERSION_SKIP_CHECKSUM, banner: Banner | None = None,
                 io_timeout_s: float = 30.0, faults: FaultPlan | None = None) -> None:
        self.device = device
        self.config = ServerConfig(
            version=version, maxdata=min(maxdata, MAX_PAYLOAD), banner=(banner or Banner()).encode(),
            trusted_keys=None if trusted_keys is None else list(trusted_keys), io_timeout_s=io_timeout_s,
            faults=None if faults is None else faults.injector(),
        )
        self.device_lock = threading.Lock()
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                               name=f"adb-accept-{self.port}")
        self._accept_thread.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                sock, _peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            if self.config.faults is not None and self.config.faults.refuse():
                reset_connection(sock)
                continue
            # replies are several small messages (OKAY, WRTE, CLSE): without this, Nagle's algorithm holds
            # each one back until the host's delayed ACK, ~40 ms per shell round trip
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock, self.device, self.device_lock, self.config, on_close=self._forget)
            with self._lock:
                if self._closed.is_set():
                    conn.close()
                    break
                self._connections.add(conn)
            conn.start()

    def _forget(self, conn: Connection) -> None:
        with self._lock:
            self._connections.discard(conn)

    @property
    def connection_count(self) -> int:
        with self._lock:
            return len(self._connections)

    def drop_connections(self) -> int:
        """Close every open connection abruptly (the listener stays up); return how many were dropped."""
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            conn.close()
        return len(conns)

    def close(self, join_timeout_s: float = 5.0) -> None:
        """Stop accepting, drop every connection and wait for the server's threads to end."""
        self._closed.set()
        self._listener.close()
        self._accept_thread.join(join_timeout_s)
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            conn.close()
        for conn in conns:
            conn.join(join_timeout_s)

    def __enter__(self) -> AdbServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ServedDevices:
    """Handle on several ``AdbServer``s; ``close`` stops them all."""

    def __init__(self, servers: list[AdbServer]) -> None:
        self.servers = servers

    @property
    def addresses(self) -> list[str]:
        return [s.address for s in self.servers]

    def close(self) -> None:
        for server in self.servers:
            server.close()

    def __enter__(self) -> ServedDevices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_devices(devices: Sequence[Device], host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                  port_step: int = PORT_STEP, trusted_keys_file: str | os.PathLike[str] | None = None,
                  **server_options: Any) -> ServedDevices:
    """Serve ``devices[i]`` on ``port + i * port_step`` (every one on a free port when ``port`` is 0).

    With ``trusted_keys_file`` (``adbkey.pub`` lines) hosts must authenticate with one of those keys.
    """
    trusted = None if trusted_keys_file is None else load_trusted_keys(trusted_keys_file)
    servers: list[AdbServer] = []
    try:
        for i, device in enumerate(devices):
            p = 0 if port == 0 else port + i * port_step
            servers.append(AdbServer(device, host, p, trusted_keys=trusted, **server_options))
    except OSError:
        for server in servers:
            server.close()
        raise
    return ServedDevices(servers)
