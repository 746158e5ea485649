"""Faults injected into the ADB server, and a fuzzed parser, over real TCP on 127.0.0.1.

Under faults, ``AdbDevice`` must recover within its retry budget or raise a named error within its
timeout: never hang, never hand back a truncated screenshot as if it were whole. Under fuzzing, the server
must keep serving and end every thread it started.
"""

from __future__ import annotations

import io
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from PIL import Image

from emulators.adb.client import AdbDevice
from emulators.adb.faults import FaultPlan
from emulators.adb.protocol import A_CLSE, A_CNXN, A_OKAY, A_OPEN, A_WRTE, HEADER, Message
from emulators.adb.screencap import encode_raw
from emulators.adb.server import AdbServer
from emulators.device import AndroidDevice, ShellResult
from emulators.errors import DeviceError, DeviceTimeout, DeviceUnreachable

T = TypeVar("T")
SCREEN = Image.frombytes("RGB", (64, 96), random.Random(7).randbytes(64 * 96 * 3))
NAMED = (DeviceError,)  # every error of the device layer; anything else is a bug


class Phone(AndroidDevice):
    """A device with a fixed, incompressible screen (raw and PNG both span many 1 KiB chunks)."""

    def __init__(self) -> None:
        self.commands = 0

    def shell(self, cmd: str, timeout: float | None = 30) -> ShellResult:
        self.commands += 1
        body, _, nonce = cmd.rpartition("; echo ")
        text = body.removeprefix("echo ") + "\n" if body.startswith("echo ") else ""
        return ShellResult(text + nonce.replace("$?", "0") + "\n", 0)

    def exec_out(self, cmd: str) -> bytes:
        if cmd == "screencap":
            return encode_raw(SCREEN)
        buf = io.BytesIO()
        SCREEN.save(buf, "PNG")
        return buf.getvalue()

    def screenshot(self) -> Image.Image:
        return SCREEN.copy()


@pytest.fixture
def no_thread_leaks() -> Iterator[list[BaseException]]:
    """Fails the test if a thread it started outlives it, or if any thread died of an exception."""
    before = set(threading.enumerate())
    died: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: died.append(args.exc_value or RuntimeError(str(args)))
    try:
        yield died
    finally:
        threading.excepthook = previous
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(threading.enumerate()) - before, f"leaked threads: {set(threading.enumerate()) - before}"
    assert not died, f"server threads died: {died!r}"


def _server(plan: FaultPlan | None) -> AdbServer:
    return AdbServer(Phone(), port=0, maxdata=1024, faults=plan, io_timeout_s=2.0)


def _client(server: AdbServer, key: str, timeout_s: float = 3.0, retries: int = 4) -> AdbDevice:
    return AdbDevice(server.address, key_path=key, timeout_s=timeout_s, retries=retries, backoff_s=0.01,
                     max_backoff_s=0.05)


def _bounded(fn: Callable[[], T], limit_s: float) -> T | BaseException:
    """``fn()``'s result or the exception it raised; fails the test if it runs past ``limit_s``."""
    box: list[T | BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as e:  # noqa: BLE001 - handed back to the test, which checks its type
            box.append(e)

    worker = threading.Thread(target=run, daemon=True)
    t0 = time.monotonic()
    worker.start()
    worker.join(limit_s)
    assert not worker.is_alive(), f"call hung for more than {limit_s}s"
    assert time.monotonic() - t0 <= limit_s
    return box[0]


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("keys") / "adbkey")


def test_a_plan_replays_the_same_faults_for_the_same_seed() -> None:
    plan = FaultPlan(seed=3, drop_rate=0.3, delay_rate=0.5, refuse_rate=0.2)
    a, b, c = plan.injector(), plan.injector(), FaultPlan(seed=4, drop_rate=0.3).injector()
    seq_a = [(a.drop(), a.delay(), a.refuse()) for _ in range(50)]
    assert seq_a == [(b.drop(), b.delay(), b.refuse()) for _ in range(50)]
    assert [x[0] for x in seq_a] != [c.drop() for _ in range(50)]
    assert a.injected["drop"] == sum(x[0] for x in seq_a) > 0
    with pytest.raises(ValueError, match="drop_rate"):
        FaultPlan(drop_rate=1.5)


def test_refused_connections_are_retried_within_the_budget(key: str, no_thread_leaks: list) -> None:
    with _server(FaultPlan(seed=1, refuse_rate=0.5)) as server:
        device = _client(server, key, retries=8)
        for i in range(12):
            device.close()  # every call opens a new connection, so refusals can hit each of them
            assert device.shell(f"echo {i}").output == f"{i}\n"
        assert server.config.faults is not None and server.config.faults.injected["refuse"] >= 3
        device.close()


def test_a_device_that_refuses_everything_fails_by_name_in_time(key: str, no_thread_leaks: list) -> None:
    with _server(FaultPlan(refuse_rate=1.0)) as server:
        device = _client(server, key, timeout_s=1.0, retries=20)
        result = _bounded(lambda: device.shell("echo x"), 3.0)
        assert isinstance(result, DeviceUnreachable), result
        assert server.address in str(result)


@pytest.mark.parametrize("fmt", ["raw", "png"])
def test_dropped_screenshots_are_retried_or_refused_never_truncated(fmt: str, key: str,
                                                                    no_thread_leaks: list) -> None:
    with _server(FaultPlan(seed=5, drop_rate=0.03)) as server:
        device = _client(server, key)
        device.screenshot_format = fmt  # type: ignore[assignment]
        outcomes = [_bounded(device.screenshot, 5.0) for _ in range(25)]
        device.close()
        assert server.config.faults is not None and server.config.faults.injected["drop"] > 3
    whole = [o for o in outcomes if isinstance(o, Image.Image)]
    failed = [o for o in outcomes if not isinstance(o, Image.Image)]
    assert all(isinstance(o, DeviceUnreachable) for o in failed), failed
    assert len(whole) > len(failed)
    assert all(image.tobytes() == SCREEN.tobytes() for image in whole)


def test_a_shell_cut_mid_stream_is_not_repeated_and_says_so(key: str, no_thread_leaks: list) -> None:
    phone = Phone()
    with AdbServer(phone, port=0, faults=FaultPlan(drop_rate=1.0), io_timeout_s=2.0) as server:
        device = _client(server, key)
        result = _bounded(lambda: device.shell("echo tap"), 5.0)
        assert isinstance(result, DeviceUnreachable) and "may have run" in str(result)
        assert phone.commands == 1  # a side-effecting command is never sent twice
        device.close()


def test_slow_replies_end_in_a_timeout_error_in_time(key: str, no_thread_leaks: list) -> None:
    with _server(FaultPlan(delay_rate=1.0, delay_s=1.5)) as server:
        device = _client(server, key, timeout_s=0.5)
        t0 = time.monotonic()
        result = _bounded(lambda: device.shell("echo late"), 2.0)
        assert isinstance(result, DeviceTimeout), result
        assert time.monotonic() - t0 < 1.4
        device.close()


def test_occasional_delays_only_slow_things_down(key: str, no_thread_leaks: list) -> None:
    with _server(FaultPlan(seed=2, delay_rate=0.2, delay_s=0.01)) as server:
        device = _client(server, key)
        for i in range(5):
            assert device.shell(f"echo {i}").output == f"{i}\n"
            assert device.screenshot().tobytes() == SCREEN.tobytes()
        assert server.config.faults is not None and server.config.faults.injected["delay"] > 0
        device.close()


@pytest.mark.parametrize("fmt", ["raw", "png"])
def test_a_stream_ended_early_never_passes_as_a_whole_screenshot(fmt: str, key: str,
                                                                 no_thread_leaks: list) -> None:
    with _server(FaultPlan(seed=9, truncate_rate=0.05)) as server:
        device = _client(server, key)
        device.screenshot_format = fmt  # type: ignore[assignment]
        outcomes = [_bounded(device.screenshot, 5.0) for _ in range(10)]
        device.close()
    failed = [o for o in outcomes if not isinstance(o, Image.Image)]
    assert failed and all(isinstance(o, DeviceError) and "screencap" in str(o) for o in failed), failed
    assert all(o.tobytes() == SCREEN.tobytes() for o in outcomes if isinstance(o, Image.Image))


def test_every_fault_at_once_gives_right_answers_or_named_errors(key: str, no_thread_leaks: list) -> None:
    plan = FaultPlan(seed=11, refuse_rate=0.2, drop_rate=0.01, delay_rate=0.01, delay_s=0.05,
                     truncate_rate=0.01)
    with _server(plan) as server:
        device = _client(server, key)
        good = 0
        for i in range(30):
            call = (lambda i=i: device.shell(f"echo {i}").output) if i % 2 else device.screenshot
            result = _bounded(call, 5.0)
            if isinstance(result, BaseException):
                assert isinstance(result, NAMED), repr(result)
            elif isinstance(result, str):
                assert result == f"{i}\n"
                good += 1
            else:
                assert result.tobytes() == SCREEN.tobytes()
                good += 1
        device.close()
        assert good >= 20


# -- fuzzing the server's parser -----------------------------------------------------------------------


def _header(command: int, arg0: int, arg1: int, length: int, check: int, magic: int | None = None) -> bytes:
    return HEADER.pack(command, arg0, arg1, length, check, command ^ 0xFFFFFFFF if magic is None else magic)


def _cnxn(version: int = 0x01000001) -> bytes:
    return Message(A_CNXN, version, 4096, b"host::fuzz\0").pack()


def _fuzz_session(rng: random.Random) -> bytes:
    """One connection's worth of hostile bytes."""
    kind = rng.randrange(8)
    if kind == 0:  # pure garbage
        return rng.randbytes(rng.randrange(1, 300))
    if kind == 1:  # a header with a wrong magic
        return _header(A_CNXN, 0x01000001, 4096, 0, 0, magic=rng.getrandbits(32))
    if kind == 2:  # an oversized length: must be refused, not allocated or awaited
        return _cnxn() + _header(A_WRTE, 1, 1, rng.choice([2 ** 31, 0xFFFFFFFF, 1024 * 1024 + 1]), 0)
    if kind == 3:  # old protocol version, then a wrong checksum
        return _cnxn(0x01000000) + _header(A_OPEN, 1, 0, 8, 12345) + b"shell:x\0"
    if kind == 4:  # a header that promises more than arrives (the peer then hangs up)
        return _cnxn() + _header(A_WRTE, 1, 1, 1000, 0) + rng.randbytes(rng.randrange(0, 999))
    if kind == 5:  # valid framing, random commands, ids and destinations
        out = _cnxn()
        for _ in range(rng.randrange(1, 12)):
            command = rng.choice([A_OPEN, A_OKAY, A_WRTE, A_CLSE])
            data = rng.choice([b"shell:echo\0", b"exec:\xff\xfe\0", b"sync:\0", b"", rng.randbytes(40)])
            host_id = rng.choice([0, 1, 2, rng.getrandbits(32)])
            out += Message(command, rng.getrandbits(32), host_id, data).pack()
        return out
    if kind == 6:  # a sync stream fed random requests
        out = _cnxn() + Message(A_OPEN, 7, 0, b"sync:\0").pack()
        for _ in range(rng.randrange(1, 6)):
            blob = rng.choice([b"STAT", b"LIST", b"RECV", b"SEND", b"DATA", b"DONE", b"QUIT"])
            blob += struct.pack("<I", rng.choice([0, 5, 70000, 2 ** 31])) + rng.randbytes(rng.randrange(40))
            out += Message(A_WRTE, 7, 1, blob).pack()
        return out
    return _cnxn()[: rng.randrange(1, 40)]  # cut inside the handshake


def _hang_up(sock: socket.socket, rng: random.Random) -> None:
    if rng.random() < 0.5:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    sock.close()


def test_fuzzed_bytes_neither_crash_the_server_nor_leak_threads(key: str, no_thread_leaks: list) -> None:
    rng = random.Random(2024)
    with AdbServer(Phone(), port=0, io_timeout_s=1.0) as server:
        for _ in range(160):
            sock = socket.create_connection((server.host, server.port), timeout=2)
            try:
                sock.sendall(_fuzz_session(rng))
                if rng.random() < 0.3:
                    sock.settimeout(0.05)
                    try:
                        sock.recv(65536)
                    except (TimeoutError, ConnectionError):
                        pass
            except ConnectionError:
                pass  # the server hung up on us first, as it should on garbage
            _hang_up(sock, rng)
        device = _client(server, key)
        assert device.shell("echo still here").output == "still here\n"
        assert device.screenshot().tobytes() == SCREEN.tobytes()
        device.close()
        deadline = time.monotonic() + 5
        while server.connection_count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.connection_count == 0


def test_a_wrong_checksum_below_version_1000001_drops_only_that_connection(key: str,
                                                                           no_thread_leaks: list) -> None:
    with AdbServer(Phone(), port=0, io_timeout_s=1.0) as server:
        with socket.create_connection((server.host, server.port), timeout=2) as sock:
            sock.sendall(_cnxn(0x01000000))
            reply = sock.recv(24)
            assert HEADER.unpack(reply)[0] == A_CNXN
            sock.sendall(_header(A_OPEN, 1, 0, 8, 1) + b"shell:x\0")
            sock.settimeout(2)
            rest = b""
            while chunk := sock.recv(4096):  # the server closes: no OKAY for a corrupted OPEN
                rest += chunk
            assert A_OKAY not in [HEADER.unpack_from(rest, i)[0] for i in range(0, len(rest) - 23, 24)]
            assert A_CLSE not in [HEADER.unpack_from(rest, i)[0] for i in range(0, len(rest) - 23, 24)]
        device = _client(server, key)
        assert device.shell("echo ok").output == "ok\n"
        device.close()
