"""An ADB device-side server: exposes any ``Device`` over TCP so `adb` and adb-shell can drive it.

One thread accepts connections; each connection has a reader thread, and each open stream a worker thread,
so several streams and connections run at once (calls into one device are serialised by a lock). Services:
``shell:CMD`` (legacy shell: raw output, no exit status), ``exec:CMD`` (binary-clean) and ``sync:``. No
``shell_v2`` is advertised, so clients use the plain services. Optional RSA auth lets in only a host that
signs the current token with a trusted key (``TrustedKeys``: a list, or a keys file reread on change); with
``accept_new_keys="pending"`` an offered key waits in ``KEYS_FILE.pending`` for a person to accept it.

Resources are bounded by ``ServerLimits``: connections beyond ``max_connections`` are closed as soon as they
are accepted, a host that has not finished its handshake (auth included) ``handshake_timeout_s`` after it
connected is dropped, streams per connection and sync pushes are capped (see ``Connection`` and ``sync``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.adb.connection import Connection
from emulators.adb.faults import FaultPlan, reset_connection
from emulators.adb.keys import TrustedKeys
from emulators.adb.protocol import MAX_PAYLOAD, VERSION_SKIP_CHECKSUM
from emulators.adb.stream import ServerConfig, ServerLimits
from emulators.device import AndroidDevice

log = logging.getLogger(__name__)

DEFAULT_PORT = 6555
PORT_STEP = 2  # as emulators space their adb ports
REAP_EVERY_S = 0.2  # how often connections past their handshake deadline are looked for
NEW_KEY_POLICIES = ("refuse", "pending")


@dataclass(frozen=True)
class Banner:
    """What the device says about itself in its CNXN reply."""

    product: str = "phonesim"
    model: str = "PhoneSim"
    device: str = "phonesim"

    def encode(self) -> bytes:
        return (f"device::ro.product.name={self.product};ro.product.model={self.model};"
                f"ro.product.device={self.device};features=\0").encode()


def _trusted(keys: Sequence[rsa.RSAPublicKey] | TrustedKeys | None) -> TrustedKeys | None:
    if keys is None or isinstance(keys, TrustedKeys):
        return keys
    return TrustedKeys(keys=list(keys))


class AdbServer:
    """Serves one device on ``host:port`` (port 0 picks a free one) until ``close``.

    ``trusted_keys`` (a list of public keys, or ``TrustedKeys``) turns auth on: only a host that signs the
    token with one of them connects. ``limits`` bounds what hosts may take (``ServerLimits``' defaults).
    """

    def __init__(self, device: AndroidDevice, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                 trusted_keys: Sequence[rsa.RSAPublicKey] | TrustedKeys | None = None,
                 limits: ServerLimits | None = None, maxdata: int = MAX_PAYLOAD,
                 version: int = VERSION_SKIP_CHECKSUM, banner: Banner | None = None,
                 io_timeout_s: float = 30.0, faults: FaultPlan | None = None) -> None:
        self.device = device
        self.config = ServerConfig(
            version=version, maxdata=min(maxdata, MAX_PAYLOAD), banner=(banner or Banner()).encode(),
            trusted_keys=_trusted(trusted_keys), io_timeout_s=io_timeout_s,
            faults=None if faults is None else faults.injector(), limits=limits or ServerLimits(),
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
        reaped_at = time.monotonic()
        while not self._closed.is_set():
            now = time.monotonic()
            if now - reaped_at >= REAP_EVERY_S:
                self._reap(now)
                reaped_at = now
            try:
                sock, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            if self.config.faults is not None and self.config.faults.refuse():
                reset_connection(sock)
                continue
            if self.connection_count >= self.config.limits.max_connections:
                log.info("refused ADB host %s:%s on %s: %d connections open (the limit)", peer[0], peer[1],
                         self.address, self.config.limits.max_connections)
                sock.close()
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

    def _reap(self, now: float) -> None:
        """Drop the connections that have not finished their handshake in time."""
        with self._lock:
            late = [c for c in self._connections if c.handshake_expired(now)]
        for conn in late:
            log.info("dropped ADB host %s: no handshake within %g s", conn.peer,
                     self.config.limits.handshake_timeout_s)
            conn.close()

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


def serve_devices(devices: Sequence[AndroidDevice], host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                  port_step: int = PORT_STEP, trusted_keys_file: str | os.PathLike[str] | None = None,
                  accept_new_keys: Literal["refuse", "pending"] = "refuse",
                  **server_options: Any) -> ServedDevices:
    """Serve ``devices[i]`` on ``port + i * port_step`` (every one on a free port when ``port`` is 0).

    With ``trusted_keys_file`` (``adbkey.pub`` lines, reread when it changes) a host must sign the token
    with one of those keys. A key a host offers instead is refused (``accept_new_keys="refuse"``) or, with
    ``"pending"``, written to ``KEYS_FILE.pending`` and logged, trusted only once a person accepts it
    (``gui-grpo sim keys accept``). Raises ``FileNotFoundError``/``BadPublicKey`` for a bad keys file,
    ``ValueError`` for ``"pending"`` without one, ``OSError`` when a port cannot be bound. Other options
    (``limits``, ``io_timeout_s``, ...) go to every ``AdbServer``.
    """
    if accept_new_keys not in NEW_KEY_POLICIES:
        raise ValueError(f"accept_new_keys is 'refuse' or 'pending', got {accept_new_keys!r}")
    if accept_new_keys == "pending" and trusted_keys_file is None:
        raise ValueError("accept_new_keys='pending' needs a trusted_keys_file (pending keys wait beside it)")
    trusted = None if trusted_keys_file is None else TrustedKeys(trusted_keys_file,
                                                                 accept_new=accept_new_keys == "pending")
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
