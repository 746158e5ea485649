"""The ADB transport message: a 24-byte little-endian header and an optional payload.

``command, arg0, arg1, data_length, data_checksum, magic`` with ``magic = command ^ 0xFFFFFFFF``. From
version 0x01000001 on, senders may put 0 in the checksum field and receivers skip the check; this module
always writes a valid checksum and leaves the decision to check it to the caller.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

import numpy as np

HEADER = struct.Struct("<6I")
HEADER_SIZE = HEADER.size


def _cmd(name: bytes) -> int:
    return int.from_bytes(name, "little")


A_SYNC = _cmd(b"SYNC")
A_CNXN = _cmd(b"CNXN")
A_AUTH = _cmd(b"AUTH")
A_OPEN = _cmd(b"OPEN")
A_OKAY = _cmd(b"OKAY")
A_CLSE = _cmd(b"CLSE")
A_WRTE = _cmd(b"WRTE")
A_STLS = _cmd(b"STLS")
KNOWN_COMMANDS = frozenset({A_SYNC, A_CNXN, A_AUTH, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_STLS})

VERSION_MIN = 0x01000000
VERSION_SKIP_CHECKSUM = 0x01000001
MAX_PAYLOAD = 1024 * 1024  # the most any version allows; the negotiated maxdata may be lower

AUTH_TOKEN = 1
AUTH_SIGNATURE = 2
AUTH_RSAPUBLICKEY = 3


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid ADB message; the connection must be dropped."""


class StreamClosed(Exception):
    """A stream was closed (by the peer or with its connection) while data was still to be written."""


class ConnectionClosed(Exception):
    """The peer closed the TCP connection."""


def checksum(data: bytes) -> int:
    if len(data) < 2048:
        return sum(data) & 0xFFFFFFFF
    # a Python-level sum costs ~8 ms per MiB, which would cap raw screenshots at a few frames/s
    return int(np.frombuffer(data, dtype=np.uint8).sum(dtype=np.uint64)) & 0xFFFFFFFF


def command_name(command: int) -> str:
    return command.to_bytes(4, "little").decode("latin-1")


@dataclass(frozen=True)
class Message:
    command: int
    arg0: int
    arg1: int
    data: bytes = b""
    received_checksum: int = 0  # the checksum field as read from the wire (ignored by ``pack``)

    def pack(self) -> bytes:
        header = HEADER.pack(self.command, self.arg0, self.arg1, len(self.data), checksum(self.data),
                             self.command ^ 0xFFFFFFFF)
        return header + self.data

    def __repr__(self) -> str:
        return f"Message({command_name(self.command)}, {self.arg0}, {self.arg1}, {self.data[:40]!r})"


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes, or ``ConnectionClosed`` when the peer hangs up first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionClosed(f"peer closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def read_message(sock: socket.socket, max_payload: int = MAX_PAYLOAD,
                 verify_checksum: bool = True) -> Message:
    """Read one message; raise ``ProtocolError`` on a bad magic, unknown command, size or checksum."""
    command, arg0, arg1, length, data_checksum, magic = HEADER.unpack(recv_exact(sock, HEADER_SIZE))
    if magic != command ^ 0xFFFFFFFF:
        raise ProtocolError(f"bad magic {magic:#010x} for command {command:#010x}")
    if command not in KNOWN_COMMANDS:
        raise ProtocolError(f"unknown command {command_name(command)!r}")
    if length > max_payload:
        raise ProtocolError(f"payload of {length} bytes exceeds the limit of {max_payload}")
    data = recv_exact(sock, length) if length else b""
    if verify_checksum and checksum(data) != data_checksum:
        raise ProtocolError(f"checksum {data_checksum:#x} does not match the payload ({checksum(data):#x})")
    return Message(command, arg0, arg1, data, data_checksum)
