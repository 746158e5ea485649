"""A served connection's settings and its service streams (the device side of ``OPEN``).

A Stream only needs a few things from its connection (``StreamLink``), so services can use streams
without importing the connection that opens them.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.adb.faults import FaultInjector
from emulators.adb.protocol import A_CLSE, A_OKAY, A_WRTE, Message, StreamClosed


@dataclass
class ServerConfig:
    version: int
    maxdata: int
    banner: bytes
    trusted_keys: list[rsa.RSAPublicKey] | None
    io_timeout_s: float
    faults: FaultInjector | None = None  # tests only: see emulators.adb.faults


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
