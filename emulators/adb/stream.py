"""A served connection's settings and its service streams (the device side of ``OPEN``).

A Stream only needs a few things from its connection (``StreamLink``), so services can use streams
without importing the connection that opens them.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field, fields
from typing import Protocol

from emulators.adb.faults import FaultInjector
from emulators.adb.keys import TrustedKeys
from emulators.adb.protocol import A_CLSE, A_OKAY, A_WRTE, Message, StreamClosed


@dataclass(frozen=True)
class ServerLimits:
    """What one served device gives its hosts at most; past a limit it refuses, and serves the rest."""

    max_connections: int = 64
    """Open host connections; one more is closed as soon as it is accepted."""
    max_streams: int = 32
    """Open streams per connection; one more OPEN is answered with CLSE, as for an unknown service."""
    max_push_bytes: int = 256 << 20
    """The served device's storage for one file pushed over sync: a SEND whose data goes past this fails
    with "No space left on device" at once and ends the sync session (nothing more of it is buffered)."""
    handshake_timeout_s: float = 20.0
    """From accept to CNXN (auth included, and a pending key's wait): one deadline, however the bytes drip."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"ServerLimits.{f.name} must be a positive number, got {value!r}")


@dataclass
class ServerConfig:
    version: int
    maxdata: int
    banner: bytes
    trusted_keys: TrustedKeys | None
    io_timeout_s: float
    faults: FaultInjector | None = None  # tests only: see emulators.adb.faults
    limits: ServerLimits = field(default_factory=ServerLimits)


class StreamLink(Protocol):
    """What a Stream uses of its connection (``emulators.adb.connection.Connection``)."""

    maxdata: int
    config: ServerConfig

    def send(self, msg: Message) -> None: ...

    def forget_stream(self, dev_id: int) -> bool: ...


class Stream:
    """One open service stream: ``dev_id`` is ours, ``host_id`` the host's local id."""

    def __init__(self, conn: StreamLink, dev_id: int, host_id: int) -> None:
        self.conn = conn
        self.dev_id = dev_id
        self.host_id = host_id
        self.inbox: queue.Queue[bytes | None] = queue.Queue()
        self.closed = False
        self.discard_input = True  # host data on shell/exec streams is acknowledged and dropped
        self._acked = threading.Event()

    def write(self, data: bytes) -> None:
        """Send ``data`` in chunks of at most maxdata, waiting for the host's OKAY after each."""
        step = self.conn.maxdata
        for start in range(0, len(data), step):
            if self.closed:
                raise StreamClosed(f"stream {self.dev_id} closed")
            if self.conn.config.faults is not None and self.conn.config.faults.truncate():
                raise StreamClosed(f"fault injection ended stream {self.dev_id} early")
            self._acked.clear()
            self.conn.send(Message(A_WRTE, self.dev_id, self.host_id, data[start:start + step]))
            if not self._acked.wait(self.conn.config.io_timeout_s):
                raise StreamClosed(f"host did not acknowledge stream {self.dev_id} in time")
            if self.closed:
                raise StreamClosed(f"stream {self.dev_id} closed")

    def unread_input(self) -> bool:
        """Whether host data is waiting that the service has not taken (and so not acknowledged) yet."""
        return not self.inbox.empty()

    def read(self) -> bytes | None:
        """The next WRTE payload from the host (acknowledged), or None once the stream is closed."""
        data = self.inbox.get()
        if data is not None and not self.closed:
            self.conn.send(Message(A_OKAY, self.dev_id, self.host_id))
        return data

    def on_okay(self) -> None:
        self._acked.set()

    def on_host_close(self) -> None:
        self.closed = True
        self.inbox.put(None)
        self._acked.set()

    def close(self) -> None:
        """Close from the device side (tells the host unless it already closed)."""
        if self.conn.forget_stream(self.dev_id) and not self.closed:
            self.closed = True
            self.conn.send(Message(A_CLSE, self.dev_id, self.host_id))
        self.closed = True
