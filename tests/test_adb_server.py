"""The ADB device-side server spoken to byte by byte over a real TCP socket on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from PIL import Image

from emulators.adb.auth import encode_android_pubkey
from emulators.adb.protocol import (
    A_AUTH,
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_WRTE,
    HEADER,
    ConnectionClosed,
    Message,
    checksum,
    read_message,
)
from emulators.adb.server import AdbServer
from emulators.device import AndroidDevice, ShellResult
from emulators.phonesim.state import PhoneState

BLOB = bytes(range(256)) * 10


class FakeDevice(AndroidDevice):
    """A device whose shell echoes, whose exec_out returns fixed binary data, with PhoneSim's file table."""

    def __init__(self) -> None:
        self.phone = SimpleNamespace(state=PhoneState())
        self.commands: list[str] = []

    def shell(self, cmd: str, timeout: float | None = 30) -> ShellResult:
        self.commands.append(cmd)
        if cmd.startswith("sleep "):
            time.sleep(float(cmd.split()[1]))
        return ShellResult(f"ran: {cmd}\n", 0)

    def exec_out(self, cmd: str) -> bytes:
        return BLOB

    def screenshot(self) -> Image.Image:
        return Image.new("RGB", (4, 4))


class RawClient:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"", check: int | None = None) -> None:
        c = checksum(data) if check is None else check
        self.sock.sendall(HEADER.pack(command, arg0, arg1, len(data), c, command ^ 0xFFFFFFFF) + data)

    def recv(self) -> Message:
        return read_message(self.sock)  # the server must always send valid checksums

    def connect(self, version: int = 0x01000001, maxdata: int = 1 << 20) -> Message:
        self.send(A_CNXN, version, maxdata, b"host::features=\0")
        return self.recv()

    def closed(self) -> bool:
        try:
            self.sock.settimeout(2)
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def run(self, destination: bytes, local_id: int = 7) -> bytes:
        """Open a stream, acknowledge every WRTE, return the output."""
        self.send(A_OPEN, local_id, 0, destination + b"\0")
        okay = self.recv()
        assert okay.command == A_OKAY and okay.arg1 == local_id
        out = b""
        while True:
            msg = self.recv()
            if msg.command == A_CLSE:
                return out
            assert msg.command == A_WRTE
            out += msg.data
            self.send(A_OKAY, local_id, msg.arg0)


@pytest.fixture
def device() -> FakeDevice:
    return FakeDevice()


@pytest.fixture
def server(device: FakeDevice):
    with AdbServer(device, port=0) as s:
        yield s


def test_cnxn_negotiates_the_lower_version_and_maxdata(server: AdbServer) -> None:
    reply = RawClient(server.port).connect(version=0x01000000, maxdata=4096)
    assert (reply.command, reply.arg0, reply.arg1) == (A_CNXN, 0x01000000, 4096)
    assert reply.data.startswith(b"device::") and b"shell_v2" not in reply.data
    reply = RawClient(server.port).connect(version=0x01000001, maxdata=1 << 22)
    assert (reply.arg0, reply.arg1) == (0x01000001, 1 << 20)


def test_checksum_is_verified_below_version_1_0_1(server: AdbServer) -> None:
    old = RawClient(server.port)
    old.connect(version=0x01000000)
    old.send(A_OPEN, 1, 0, b"shell:echo hi\0", check=0)
    assert old.closed()


def test_checksum_is_ignored_from_version_1_0_1(server: AdbServer) -> None:
    new = RawClient(server.port)
    new.connect(version=0x01000001)
    new.send(A_OPEN, 1, 0, b"shell:echo hi\0", check=0)
    assert new.recv().command == A_OKAY
    assert new.recv().data == b"ran: echo hi\n"


@pytest.mark.parametrize("garbage", [
    b"\x00" * 24,  # bad magic
    HEADER.pack(A_OPEN, 1, 0, 2 << 20, 0, A_OPEN ^ 0xFFFFFFFF),  # oversized payload
    HEADER.pack(0x41414141, 0, 0, 0, 0, 0x41414141 ^ 0xFFFFFFFF),  # unknown command
])
def test_bad_messages_close_the_connection_and_the_server_survives(server: AdbServer, garbage: bytes) -> None:
    client = RawClient(server.port)
    client.connect()
    client.sock.sendall(garbage)
    assert client.closed()
    assert RawClient(server.port).connect().command == A_CNXN


def test_output_is_chunked_at_maxdata_with_flow_control(server: AdbServer) -> None:
    client = RawClient(server.port)
    client.connect(maxdata=256)
    client.send(A_OPEN, 3, 0, b"exec:screencap\0")
    assert client.recv().command == A_OKAY
    first = client.recv()
    assert first.command == A_WRTE and len(first.data) == 256
    client.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):  # nothing more until the host says OKAY
        client.sock.recv(1)
    client.sock.settimeout(5)
    client.send(A_OKAY, 3, first.arg0)
    out = first.data
    while (msg := client.recv()).command == A_WRTE:
        assert len(msg.data) <= 256
        out += msg.data
        client.send(A_OKAY, 3, msg.arg0)
    assert msg.command == A_CLSE and out == BLOB


def test_unknown_service_is_refused_with_clse(server: AdbServer) -> None:
    client = RawClient(server.port)
    client.connect()
    client.send(A_OPEN, 9, 0, b"jdwp:1234\0")
    reply = client.recv()
    assert (reply.command, reply.arg0, reply.arg1) == (A_CLSE, 0, 9)


def test_streams_and_connections_run_concurrently(server: AdbServer, device: FakeDevice) -> None:
    client = RawClient(server.port)
    client.connect()
    client.send(A_OPEN, 1, 0, b"shell:sleep 0.5\0")
    assert client.recv().command == A_OKAY
    start = time.monotonic()
    other = RawClient(server.port)
    other.connect()
    assert other.run(b"exec:x") == BLOB  # served meanwhile (device calls themselves are serialised)
    assert client.recv().data == b"ran: sleep 0.5\n"
    assert time.monotonic() - start < 5
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda i=i: results.append(_fresh_run(server.port, i)))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == sorted(f"ran: echo {i}\n".encode() for i in range(4))


def _fresh_run(port: int, i: int) -> bytes:
    client = RawClient(port)
    client.connect()
    return client.run(f"shell:echo {i}".encode(), local_id=100 + i)


def _sync_request(ident: bytes, payload: bytes = b"", arg: int | None = None) -> bytes:
    return struct.pack("<4sI", ident, len(payload) if arg is None else arg) + payload


def _sync_read(client: RawClient, local_id: int, n: int, buffer: bytearray) -> bytes:
    while len(buffer) < n:
        msg = client.recv()
        assert msg.command == A_WRTE, msg
        buffer += msg.data
        client.send(A_OKAY, local_id, msg.arg0)
    out = bytes(buffer[:n])
    del buffer[:n]
    return out


def _send_split(client: RawClient, local_id: int, remote: int, data: bytes, pieces: int) -> None:
    step = max(1, len(data) // pieces)
    for start in range(0, len(data), step):
        client.send(A_WRTE, local_id, remote, data[start:start + step])
        ack = client.recv()
        assert (ack.command, ack.arg1) == (A_OKAY, local_id)


def test_sync_push_stat_list_pull_split_across_packets(server: AdbServer, device: FakeDevice) -> None:
    client = RawClient(server.port)
    client.connect(maxdata=64)
    client.send(A_OPEN, 5, 0, b"sync:\0")
    remote = client.recv().arg0
    body = os.urandom(300)
    push = (_sync_request(b"SEND", b"/sdcard/Download/new/a.bin,33188") + _sync_request(b"DATA", body[:100])
            + _sync_request(b"DATA", body[100:]) + _sync_request(b"DONE", arg=1_700_000_000))
    _send_split(client, 5, remote, push, pieces=37)
    buffer = bytearray()
    assert _sync_read(client, 5, 8, buffer) == _sync_request(b"OKAY", arg=0)
    assert device.phone.state.files["/sdcard/Download/new/a.bin"].data == body
    _send_split(client, 5, remote, _sync_request(b"STAT", b"/sdcard/Download/new/a.bin"), pieces=16)
    ident, mode, size, mtime = struct.unpack("<4s3I", _sync_read(client, 5, 16, buffer))
    assert (ident, mode, size, mtime) == (b"STAT", 0o100644, 300, 1_700_000_000)
    _send_split(client, 5, remote, _sync_request(b"LIST", b"/sdcard/Download/new"), pieces=3)
    names = []
    while (dent := struct.unpack("<4s4I", _sync_read(client, 5, 20, buffer)))[0] == b"DENT":
        names.append(_sync_read(client, 5, dent[4], buffer).decode())
    assert names == [".", "..", "a.bin"]
    _send_split(client, 5, remote, _sync_request(b"RECV", b"/sdcard/Download/new/a.bin"), pieces=2)
    pulled = b""
    while (head := struct.unpack("<4sI", _sync_read(client, 5, 8, buffer)))[0] == b"DATA":
        pulled += _sync_read(client, 5, head[1], buffer)
    assert head[0] == b"DONE" and pulled == body
    _send_split(client, 5, remote, _sync_request(b"RECV", b"/nope"), pieces=1)
    fail, length = struct.unpack("<4sI", _sync_read(client, 5, 8, buffer))
    assert fail == b"FAIL" and b"No such file" in _sync_read(client, 5, length, buffer)
    _send_split(client, 5, remote, _sync_request(b"QUIT"), pieces=1)
    assert client.recv().command == A_CLSE


def _sign(key: rsa.RSAPrivateKey, token: bytes) -> bytes:
    return key.sign(token, padding.PKCS1v15(), Prehashed(hashes.SHA1()))


def test_auth_accepts_a_trusted_signature_and_refuses_unknown_keys(device: FakeDevice) -> None:
    trusted = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with AdbServer(device, port=0, trusted_keys=[trusted.public_key()]) as server:
        client = RawClient(server.port)
        token = client.connect()
        assert (token.command, token.arg0, len(token.data)) == (A_AUTH, 1, 20)
        client.send(A_AUTH, 2, 0, _sign(stranger, token.data))
        again = client.recv()
        assert again.command == A_AUTH and again.arg0 == 1 and again.data != token.data
        client.send(A_AUTH, 2, 0, _sign(trusted, again.data))
        assert client.recv().command == A_CNXN

        refused = RawClient(server.port)
        token = refused.connect()
        refused.send(A_AUTH, 3, 0, encode_android_pubkey(stranger.public_key()).encode() + b"\0")
        assert refused.closed()

        unsigned = RawClient(server.port)  # a trusted public key is no proof without a signature
        unsigned.connect()
        unsigned.send(A_AUTH, 3, 0, encode_android_pubkey(trusted.public_key()).encode() + b"\0")
        assert unsigned.closed()


def test_close_ends_every_server_thread(device: FakeDevice) -> None:
    before = threading.active_count()
    server = AdbServer(device, port=0)
    clients = [RawClient(server.port) for _ in range(3)]
    for c in clients:
        c.connect()
    clients[0].sock.sendall(b"garbage that is not a header at all")
    server.close()
    for c in clients:
        assert c.closed()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before
    with pytest.raises((ConnectionClosed, OSError)):
        RawClient(server.port).connect()


def test_fuzzed_input_never_kills_the_server(device: FakeDevice) -> None:
    import random

    rng = random.Random(1234)
    before = threading.active_count()
    with AdbServer(device, port=0, io_timeout_s=1.0) as server:
        for _ in range(40):
            client = RawClient(server.port)
            if rng.random() < 0.5:
                client.connect(version=rng.choice([0x01000000, 0x01000001]))
            kind = rng.randrange(3)
            if kind == 0:
                junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
            else:  # a valid header with a lying length or checksum
                command = rng.choice([A_OPEN, A_WRTE, A_OKAY, A_CLSE, A_CNXN])
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
                length = len(data) + (rng.randrange(1, 1 << 21) if kind == 1 else 0)
                junk = HEADER.pack(command, rng.randrange(4), rng.randrange(4), length,
                                   rng.randrange(1 << 32), command ^ 0xFFFFFFFF) + data
            client.sock.sendall(junk)
            client.sock.close()
        survivor = RawClient(server.port)
        survivor.connect()
        assert survivor.run(b"shell:echo alive") == b"ran: echo alive\n"
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before
