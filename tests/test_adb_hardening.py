"""The ADB server under hostile or careless hosts: auth only by signature, bounded resources, bad input.

Real TCP on 127.0.0.1; the real `adb` tool and our adb-shell client run in an empty HOME.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from test_adb_server import BLOB, FakeDevice, RawClient, _sign, _sync_request

from emulators.adb.auth import encode_android_pubkey, ensure_key
from emulators.adb.client import AdbDevice
from emulators.adb.host import server_port
from emulators.adb.keys import pending_keys
from emulators.adb.protocol import A_AUTH, A_CLSE, A_CNXN, A_OKAY, A_OPEN, A_WRTE, HEADER
from emulators.adb.remote import split_sentinel
from emulators.adb.server import AdbServer, serve_devices
from emulators.adb.stream import ServerLimits
from emulators.errors import AuthRefused, BadDeviceSpec
from emulators.specs import parse_device_spec
from gui_grpo.cli import main as cli

ADB = shutil.which("adb") or "/usr/bin/adb"
needs_adb = pytest.mark.skipif(not os.path.exists(ADB), reason="Debian's adb client is not installed")


@pytest.fixture
def device() -> FakeDevice:
    return FakeDevice()


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _offer(client: RawClient, key: rsa.RSAPublicKey, comment: str = "me@laptop") -> None:
    client.send(A_AUTH, 3, 0, encode_android_pubkey(key, comment).encode() + b"\0")


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the server has closed its end (nothing is consumed; never blocks)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _has_text(path: Path) -> bool:
    """The pending file exists and has its line (it is created a moment before the line is written)."""
    return path.exists() and bool(path.read_text().strip())


def _wait_for(condition, limit_s: float = 10.0) -> bool:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- auth: only a signature of the current token by a trusted key lets a host in ---------------------------

def test_a_trusted_public_key_without_a_signature_is_refused(device: FakeDevice) -> None:
    trusted = _new_key()
    with AdbServer(device, port=0, trusted_keys=[trusted.public_key()]) as server:
        bypass = RawClient(server.port)
        assert bypass.connect().command == A_AUTH
        _offer(bypass, trusted.public_key())
        assert bypass.closed()  # no CNXN: a public key is no secret

        replay = RawClient(server.port)  # a signature of an earlier token is no good either
        old_token = replay.connect().data
        other = RawClient(server.port)
        other.connect()
        other.send(A_AUTH, 2, 0, _sign(trusted, old_token))
        again = other.recv()
        assert (again.command, again.arg0) == (A_AUTH, 1)
        other.send(A_AUTH, 2, 0, _sign(trusted, again.data))
        assert other.recv().command == A_CNXN


def test_an_offered_key_waits_in_pending_until_a_person_accepts_it(
        device: FakeDevice, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    keys_file = tmp_path / "trusted_keys"
    keys_file.write_text("# hosts allowed to connect\n")
    host = _new_key()
    line = encode_android_pubkey(host.public_key(), "me@laptop")
    caplog.set_level(logging.WARNING, logger="emulators.adb")
    with serve_devices([device], port=0, trusted_keys_file=keys_file, accept_new_keys="pending",
                       limits=ServerLimits(handshake_timeout_s=8)) as served:
        port = int(served.addresses[0].rpartition(":")[2])
        first = RawClient(port)
        first.connect()
        _offer(first, host.public_key(), "me@laptop\nINJECTED")  # a comment cannot add a line
        pending = Path(f"{keys_file}.pending")
        assert _wait_for(lambda: _has_text(pending))
        second = RawClient(port)
        second.connect()
        _offer(second, host.public_key())
        time.sleep(0.3)
        assert pending.read_text().splitlines() == [line]  # once, however often it is offered
        assert "pending" in caplog.text and str(keys_file) in caplog.text
        first.sock.settimeout(0.5)
        with pytest.raises(TimeoutError):  # not trusted yet
            first.sock.recv(1)
        with open(keys_file, "a") as f:  # the person accepts
            f.write(pending.read_text())
        first.sock.settimeout(5)
        token = first.recv()  # accepted: now the host must prove it holds the private key
        assert (token.command, token.arg0) == (A_AUTH, 1)
        _offer(first, host.public_key())  # offering it again is still no proof
        assert first.closed()
        second.sock.settimeout(5)
        token = second.recv()
        assert (token.command, token.arg0) == (A_AUTH, 1)
        second.send(A_AUTH, 2, 0, _sign(host, token.data))
        assert second.recv().command == A_CNXN
        assert second.run(b"shell:echo accepted") == b"ran: echo accepted\n"
        later = RawClient(port)  # from now on its signature is enough
        token = later.connect()
        later.send(A_AUTH, 2, 0, _sign(host, token.data))
        assert later.recv().command == A_CNXN


class Adb:
    """The `adb` tool with a private server port and an empty HOME (it makes its key there)."""

    def __init__(self, home: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.home = home
        home.mkdir(parents=True, exist_ok=True)  # adb makes its key only in a HOME that exists
        self.env = {**os.environ, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(self.port)}
        self.env.pop("ADB_VENDOR_KEYS", None)

    def __call__(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run([ADB, "-P", str(self.port), *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout)


@needs_adb
def test_real_adb_in_an_empty_home_is_refused_then_pending_then_admitted(tmp_path: Path) -> None:
    adb = Adb(tmp_path / "home")
    adb("start-server")
    try:
        adb_pub = (adb.home / ".android" / "adbkey.pub").read_text().split()[0]
        keys_file = tmp_path / "trusted_keys"
        keys_file.write_text(Path(f"{ensure_key(tmp_path / 'other')}.pub").read_text())
        with serve_devices([FakeDevice()], port=0, trusted_keys_file=keys_file) as served:
            address = served.addresses[0]
            adb("connect", address)
            assert "ran: echo" not in adb("-s", address, "shell", "echo", "hi").stdout
            adb("disconnect", address)
        assert not Path(f"{keys_file}.pending").exists()  # refused outright by default
        with serve_devices([FakeDevice()], port=0, trusted_keys_file=keys_file, accept_new_keys="pending",
                           limits=ServerLimits(handshake_timeout_s=3)) as served:
            address = served.addresses[0]
            adb("connect", address)
            pending = Path(f"{keys_file}.pending")
            assert _wait_for(lambda: _has_text(pending))
            assert pending.read_text().split()[0] == adb_pub
            assert "ran: echo" not in adb("-s", address, "shell", "echo", "hi").stdout
            fp = pending_keys(keys_file)[0].fingerprint  # the person accepts it by its fingerprint
            assert cli.main(["sim", "keys", "accept", str(keys_file), fp.replace(":", "").lower()]) == 0
            assert not pending_keys(keys_file) and len(keys_file.read_text().splitlines()) == 2
            adb("disconnect", address)
            adb("connect", address)
            assert adb("-s", address, "shell", "echo", "hi").stdout == "ran: echo hi\n"
            adb("disconnect", address)
    finally:
        adb("kill-server")


def test_our_client_in_an_empty_home_is_pending_then_admitted(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    keys_file = tmp_path / "trusted_keys"
    keys_file.write_text("")
    with serve_devices([FakeDevice()], port=0, trusted_keys_file=keys_file, accept_new_keys="pending",
                       limits=ServerLimits(handshake_timeout_s=2)) as served:
        with pytest.raises(AuthRefused, match="adbkey.pub"):
            AdbDevice(served.addresses[0], timeout_s=3).connect()
        our_pub = Path(f"{ensure_key()}.pub").read_text().split()[0]
        pending = Path(f"{keys_file}.pending").read_text()
        assert pending.split()[0] == our_pub
        keys_file.write_text(pending)
        with AdbDevice(served.addresses[0], timeout_s=5) as client:
            assert client.exec_out("screencap -p") == BLOB  # admitted: the service answers


def test_sim_serve_accept_new_keys_needs_require_auth(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sim", "serve", "--port", "0", "--accept-new-keys", "pending"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--require-auth" in err[0]


# -- bad input: one clear error, no traceback ----------------------------------------------------------------

@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")  # no traceback in a thread
def test_sync_send_with_a_non_ascii_mode_fails_cleanly() -> None:
    device = FakeDevice()
    with AdbServer(device, port=0) as server:
        client = RawClient(server.port)
        client.connect()
        client.send(A_OPEN, 5, 0, b"sync:\0")
        remote = client.recv().arg0

        def push(spec: str) -> bytes:
            request = _sync_request(b"SEND", spec.encode())
            client.send(A_WRTE, 5, remote, request + _sync_request(b"DATA", b"x") + _sync_request(b"DONE"))
            assert client.recv().command == A_OKAY
            reply = client.recv()
            assert reply.command == A_WRTE, reply
            client.send(A_OKAY, 5, reply.arg0)
            return reply.data

        for mode in ("\u00b2", "\u0661\u0662", "9" * 50, "-1", "0x1ff"):  # the session goes on after each
            reply = push(f"/sdcard/x.bin,{mode}")
            assert reply[:4] == b"FAIL" and b"mode" in reply and len(reply) < 200, reply
        assert push("/sdcard/x.bin").startswith(b"FAIL")  # no mode at all
        assert "/sdcard/x.bin" not in device.phone.state.files
        assert push("/sdcard/y.bin,33188") == _sync_request(b"OKAY")
        assert device.phone.state.files["/sdcard/y.bin"].data == b"x"
        reply = push("/sdcard/x.bin," + "9" * 5000)  # longer than a path may be: FAIL, and the session ends
        assert reply[:4] == b"FAIL" and b"too long" in reply and len(reply) < 200
        assert client.recv().command == A_CLSE


@pytest.mark.parametrize("spec", ["sim:\u00b2", "sim:\u0661", "avd:Pixel_6:\u0662", "adb:127.0.0.1:\u00b2",
                                  "adb:127.0.0.1:\u0665\u0665\u0665\u0665", "sim:" + "9" * 5000,
                                  "adb:127.0.0.1:" + "9" * 5000])
def test_device_specs_take_ascii_digits_only(spec: str) -> None:
    with pytest.raises(BadDeviceSpec) as refused:  # ١ was taken as 1 and ² raised a bare ValueError
        parse_device_spec(spec)
    first = str(refused.value).splitlines()[0]
    assert "ASCII digits" in first and len(first) < 200
    assert parse_device_spec("sim:2").count == 2 and parse_device_spec("adb:127.0.0.1:6555").count == 1


@pytest.mark.parametrize("flag,value", [("--port", "\u0661"), ("--port", "\u00b2"), ("--count", "\u0662"),
                                        ("--port", "9" * 5000), ("--seed", "\u0661")])
def test_sim_serve_numbers_are_ascii_digits_only(flag: str, value: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.build_parser().parse_args(["sim", "serve", flag, value])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert flag in err.splitlines()[-1] and len(err.splitlines()[-1]) < 200


def test_foreign_digits_from_the_environment_or_a_device_are_not_numbers(monkeypatch) -> None:
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "\u00b2")
    assert server_port() == 5037
    assert split_sentinel("out\nNONCE\u00b2\n", "NONCE") == ("out\nNONCE\u00b2\n", None)


# -- bounded resources -------------------------------------------------------------------------------------

def test_connections_beyond_the_cap_are_refused_and_the_rest_served(device: FakeDevice) -> None:
    with AdbServer(device, port=0, limits=ServerLimits(max_connections=3)) as server:
        clients = [RawClient(server.port) for _ in range(3)]
        for client in clients:
            assert client.connect().command == A_CNXN
        extra = RawClient(server.port)
        assert _wait_for(lambda: _peer_closed(extra.sock), 5)
        for i, client in enumerate(clients):
            assert client.run(f"shell:echo {i}".encode()) == f"ran: echo {i}\n".encode()
        clients[0].sock.close()
        assert _wait_for(lambda: server.connection_count == 2)
        assert RawClient(server.port).connect().command == A_CNXN


def test_streams_beyond_the_cap_are_refused_and_the_rest_served(device: FakeDevice) -> None:
    with AdbServer(device, port=0, limits=ServerLimits(max_streams=2)) as server:
        client = RawClient(server.port)
        client.connect()
        for local_id in (1, 2, 3):
            client.send(A_OPEN, local_id, 0, f"shell:sleep 0.{local_id}\0".encode())
        replies: dict[int, list[int]] = {1: [], 2: [], 3: []}
        while replies[1][-1:] != [A_CLSE] or replies[2][-1:] != [A_CLSE] or not replies[3]:
            msg = client.recv()
            replies[msg.arg1].append(msg.command)
            if msg.command == A_WRTE:
                client.send(A_OKAY, msg.arg1, msg.arg0)
        assert replies[1] == replies[2] == [A_OKAY, A_WRTE, A_CLSE]
        assert replies[3] == [A_CLSE]
        assert client.run(b"shell:echo again", local_id=4) == b"ran: echo again\n"


def test_an_endless_send_is_cut_at_the_storage_limit(device: FakeDevice) -> None:
    with AdbServer(device, port=0, limits=ServerLimits(max_push_bytes=100_000)) as server:
        client = RawClient(server.port)
        client.connect()
        client.send(A_OPEN, 5, 0, b"sync:\0")
        remote = client.recv().arg0
        client.send(A_WRTE, 5, remote, _sync_request(b"SEND", b"/sdcard/big.bin,33188"))
        assert client.recv().command == A_OKAY
        chunk = _sync_request(b"DATA", bytes(60_000))
        seen: list[bytes] = []
        sent = 0
        while sent < 50:
            sent += 1
            client.send(A_WRTE, 5, remote, chunk)
            msg = client.recv()
            while msg.command == A_WRTE:
                seen.append(msg.data)
                client.send(A_OKAY, 5, msg.arg0)
                msg = client.recv()
            if msg.command == A_CLSE:
                break
        assert sent <= 3 and seen and seen[0].startswith(b"FAIL")
        assert b"No space left on device" in seen[0]
        assert "/sdcard/big.bin" not in device.phone.state.files
        assert client.run(b"shell:echo still here", local_id=6) == b"ran: echo still here\n"


def test_a_host_that_ignores_flow_control_is_dropped(device: FakeDevice) -> None:
    with AdbServer(device, port=0) as server:
        client = RawClient(server.port)
        client.connect()
        client.send(A_OPEN, 5, 0, b"sync:\0")
        remote = client.recv().arg0
        stat = _sync_request(b"STAT", b"/sdcard")
        client.send(A_WRTE, 5, remote, stat)
        assert client.recv().command == A_OKAY
        assert client.recv().command == A_WRTE  # the reply, never acknowledged: the service waits
        try:
            for _ in range(2000):  # and the host keeps writing without waiting for OKAY
                client.send(A_WRTE, 5, remote, stat)
        except OSError:
            pass
        assert _wait_for(lambda: _peer_closed(client.sock), 5)
        fresh = RawClient(server.port)
        assert fresh.connect().command == A_CNXN
        assert fresh.run(b"shell:echo ok") == b"ran: echo ok\n"


def test_a_dripping_handshake_is_cut_at_its_deadline(device: FakeDevice) -> None:
    with AdbServer(device, port=0, limits=ServerLimits(handshake_timeout_s=1.0)) as server:
        client = RawClient(server.port)
        cnxn = HEADER.pack(A_CNXN, 0x01000001, 4096, 64, 0, A_CNXN ^ 0xFFFFFFFF) + bytes(64)
        start = time.monotonic()
        for byte in cnxn:  # a byte every 0.25 s, well inside io_timeout_s each time: 22 s for the lot
            if _peer_closed(client.sock):
                break
            try:
                client.sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.25)
        assert time.monotonic() - start < 6
        assert _peer_closed(client.sock)
        assert RawClient(server.port).connect().command == A_CNXN


@needs_adb
def test_real_adb_push_over_the_storage_limit_fails_with_a_message(tmp_path: Path) -> None:
    adb = Adb(tmp_path / "home")
    adb("start-server")
    try:
        with AdbServer(FakeDevice(), port=0, limits=ServerLimits(max_push_bytes=200_000)) as server:
            adb("connect", server.address)
            big = tmp_path / "big.bin"
            big.write_bytes(os.urandom(1_000_000))
            done = adb("-s", server.address, "push", str(big), "/sdcard/big.bin")
            assert done.returncode != 0 and "No space left on device" in done.stdout + done.stderr
            small = tmp_path / "small.bin"
            small.write_bytes(os.urandom(1000))
            assert adb("-s", server.address, "push", str(small), "/sdcard/small.bin").returncode == 0
            adb("disconnect", server.address)
    finally:
        adb("kill-server")


def test_default_limits_are_sane() -> None:
    limits = ServerLimits()
    assert 8 <= limits.max_connections <= 1024 and 8 <= limits.max_streams <= 1024
    assert limits.max_push_bytes >= 64 << 20 and 1 <= limits.handshake_timeout_s <= 60
    with pytest.raises(ValueError, match="max_connections"):
        ServerLimits(max_connections=0)
    assert struct.calcsize("<4sI") == 8


def test_sim_keys_list_and_accept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys_file = tmp_path / "trusted_keys"
    keys_file.write_text("")
    assert cli.main(["sim", "keys", "list", str(keys_file)]) == 0
    assert "no keys are pending" in capsys.readouterr().out
    key = _new_key().public_key()
    Path(f"{keys_file}.pending").write_text(encode_android_pubkey(key, "me@laptop") + "\n")
    assert cli.main(["sim", "keys", "list", str(keys_file)]) == 0
    fp = pending_keys(keys_file)[0].fingerprint
    assert fp in capsys.readouterr().out
    assert cli.main(["sim", "keys", "accept", str(keys_file), "00:11"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fp in err[0] and not keys_file.read_text()
    assert cli.main(["sim", "keys", "accept", str(keys_file), fp]) == 0
    assert keys_file.read_text() == encode_android_pubkey(key, "me@laptop") + "\n"
    assert not pending_keys(keys_file)


def test_served_sims_listen_on_loopback_only_by_default(device: FakeDevice) -> None:
    with AdbServer(device, port=0) as server:
        assert server.address.startswith("127.0.0.1:")
        port = int(server.address.rsplit(":", 1)[1])
        lan = [a for a in _own_addresses() if not a.startswith("127.")]
        for address in lan:  # another interface of this machine gets no answer
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=1).close()
    with serve_devices([FakeDevice()], port=0) as served:
        assert all(a.startswith("127.0.0.1:") for a in served.addresses)


def _own_addresses() -> list[str]:
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except OSError:
        return []
    return [a for a in out.split() if "." in a]
