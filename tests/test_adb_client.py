"""AdbDevice (adb-shell) against the in-process ADB server over real TCP on 127.0.0.1."""

from __future__ import annotations

import io
import os
import re
import socket
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from emulators.adb.auth import default_key_path, ensure_key
from emulators.adb.client import AdbDevice
from emulators.adb.devices import connect_devices
from emulators.adb.remote import MissingExitStatus, split_sentinel
from emulators.adb.screencap import BadScreenshot, decode_raw, encode_raw
from emulators.adb.server import AdbServer, serve_devices
from emulators.device import AndroidDevice, ShellResult
from emulators.errors import AuthRefused, DeviceTimeout, DeviceUnreachable, ForkUnsupported
from emulators.phonesim.state import PhoneState
from emulators.specs import parse_device_spec

SCREEN = Image.new("RGB", (48, 80), (10, 200, 30))
BLOB = bytes(range(256)) * 40
_SENTINEL = re.compile(r"^(.*); echo (\S+)\$\?$", re.S)


class ScriptedDevice(AndroidDevice):
    """A tiny `sh`: `echo`, `false`, `sleep S`, `exit N`, `wm size`, and `CMD; echo X$?` for the status."""

    def __init__(self) -> None:
        self.phone = SimpleNamespace(state=PhoneState())
        self.taps = 0

    def _run(self, cmd: str) -> ShellResult:
        words = cmd.split()
        if words[:1] == ["echo"]:
            return ShellResult(" ".join(words[1:]) + "\n", 0)
        if words[:1] == ["sleep"]:
            time.sleep(float(words[1]))
            return ShellResult("", 0)
        if words[:2] == ["input", "tap"]:
            self.taps += 1
            return ShellResult("", 0)
        if words == ["wm", "size"]:
            return ShellResult(f"Physical size: {SCREEN.width}x{SCREEN.height}\n", 0)
        if words[:1] == ["false"]:
            return ShellResult("", 1)
        return ShellResult(f"/system/bin/sh: {words[0]}: inaccessible or not found\n", 127)

    def shell(self, cmd: str, timeout: float | None = 30) -> ShellResult:
        m = _SENTINEL.match(cmd)
        if m is None:
            return self._run(cmd)
        if m.group(1).startswith("exit "):
            return ShellResult("", int(m.group(1).split()[1]))
        result = self._run(m.group(1))
        return ShellResult(f"{result.output}{m.group(2)}{result.exit_code}\n", result.exit_code)

    def exec_out(self, cmd: str) -> bytes:
        if cmd == "screencap -p":
            buf = io.BytesIO()
            SCREEN.save(buf, "PNG")
            return buf.getvalue()
        if cmd == "screencap":
            return encode_raw(SCREEN)
        if cmd == "screencap -p | head -c 100":
            return self.exec_out("screencap -p")[:100]
        return BLOB

    def screenshot(self) -> Image.Image:
        return SCREEN.copy()


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_key(tmp_path_factory.mktemp("keys") / "adbkey")


@pytest.fixture
def device() -> ScriptedDevice:
    return ScriptedDevice()


@pytest.fixture
def server(device: ScriptedDevice):
    with AdbServer(device, port=0) as s:
        yield s


@pytest.fixture
def client(server: AdbServer, key_path: Path):
    with AdbDevice(server.address, key_path=key_path, timeout_s=5) as d:
        yield d


def test_shell_returns_output_and_exit_status(client: AdbDevice) -> None:
    assert client.shell("echo hi there") == ShellResult("hi there\n", 0)
    assert client.shell("false") == ShellResult("", 1)
    result = client.shell("nosuchcmd")
    assert result.exit_code == 127 and "nosuchcmd" in result.output and "__gui_grpo" not in result.output
    with pytest.raises(MissingExitStatus, match="exit"):
        client.shell("exit 3")
    assert client.screen_size == (48, 80)
    with pytest.raises(ForkUnsupported):
        client.fork(2)


def test_exec_out_is_binary_clean_and_screenshots_decode(client: AdbDevice) -> None:
    assert client.exec_out("cat /blob") == BLOB
    assert client.screenshot().tobytes() == SCREEN.tobytes()
    assert client.screenshot_raw().tobytes() == SCREEN.tobytes()
    client.screenshot_format = "raw"
    assert client.screenshot().size == (48, 80)


def test_raw_header_of_each_android_version_and_truncation() -> None:
    for with_colorspace in (True, False):
        data = encode_raw(SCREEN, with_colorspace=with_colorspace)
        assert decode_raw(data).tobytes() == SCREEN.tobytes()
        with pytest.raises(BadScreenshot, match="truncated"):
            decode_raw(data[:-7])
    rgb565 = struct.pack("<3I", 1, 1, 4) + struct.pack("<H", 31 << 11)
    assert decode_raw(rgb565).getpixel((0, 0)) == (255, 0, 0)


def test_truncated_png_is_an_error_not_an_image(client: AdbDevice) -> None:
    from emulators.adb.screencap import decode_png

    with pytest.raises(BadScreenshot):
        decode_png(client.exec_out("screencap -p | head -c 100"), client.name)


def test_sentinel_split() -> None:
    assert split_sentinel("out\nN0\n", "N") == ("out\n", 0)
    assert split_sentinel("no newlineN12\n", "N") == ("no newline", 12)
    assert split_sentinel("nothing", "N") == ("nothing", None)


def test_a_slow_command_times_out_and_the_device_recovers(client: AdbDevice) -> None:
    start = time.monotonic()
    with pytest.raises(DeviceTimeout, match=re.escape(client.address)):
        client.shell("sleep 1.5", timeout=0.4)
    assert time.monotonic() - start < 1.2
    assert client.shell("echo back", timeout=5).output == "back\n"


def test_reconnects_after_the_server_drops_the_connection(client: AdbDevice, server: AdbServer,
                                                          device: ScriptedDevice) -> None:
    assert client.shell("echo one").output == "one\n"
    assert server.drop_connections() == 1
    time.sleep(0.05)
    assert client.shell("input tap 1 2").ok and device.taps == 1  # not repeated
    assert client.shell("echo two").output == "two\n"
    assert server.connection_count == 1


def test_unreachable_address_raises_a_named_error_quickly(key_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once the socket is closed
    start = time.monotonic()
    with pytest.raises(DeviceUnreachable, match=f"127.0.0.1:{port}"):
        AdbDevice(f"127.0.0.1:{port}", key_path=key_path, timeout_s=3, backoff_s=0.05).shell("echo")
    assert time.monotonic() - start < 3


def test_auth_with_a_trusted_key_and_refusal_of_an_unknown_one(device: ScriptedDevice, key_path: Path,
                                                                tmp_path: Path) -> None:
    trusted = tmp_path / "trusted_keys"
    trusted.write_text(Path(f"{key_path}.pub").read_text() + "\n")
    with serve_devices([device], port=0, trusted_keys_file=trusted) as served:
        with AdbDevice(served.addresses[0], key_path=key_path, timeout_s=5) as ok:
            assert ok.shell("echo in").output == "in\n"
        stranger = ensure_key(tmp_path / "stranger")
        with pytest.raises(AuthRefused, match="stranger.pub"):
            AdbDevice(served.addresses[0], key_path=stranger, timeout_s=5).connect()


def test_key_is_created_once_under_the_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   key_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert default_key_path() == tmp_path / "config" / "gui-grpo" / "adbkey"
    android = tmp_path / "home" / ".android" / "adbkey"
    android.parent.mkdir(parents=True)
    android.write_bytes(key_path.read_bytes())
    assert default_key_path() == android and ensure_key() == android


def test_connect_devices_for_an_adb_spec(key_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(key_path.parent))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(key_path.parent))
    (key_path.parent / "gui-grpo").mkdir(exist_ok=True)
    for suffix in ("", ".pub"):
        copy = key_path.parent / "gui-grpo" / f"adbkey{suffix}"
        copy.write_bytes(Path(f"{key_path}{suffix}").read_bytes())
    with serve_devices([ScriptedDevice(), ScriptedDevice()], port=0) as served:
        devices = connect_devices(parse_device_spec("adb:" + ",".join(served.addresses)), timeout_s=5)
        try:
            assert [d.shell("echo x").output for d in devices] == ["x\n", "x\n"]
        finally:
            for d in devices:
                d.close()


def test_first_use_in_an_empty_home_makes_one_whole_key_for_many_clients_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new user's first ``avd:NAME:N`` pool: N clients (threads) and other processes want a key at once."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    child = ("from emulators.adb.auth import ensure_key; from adb_shell.auth.sign_pythonrsa import "
             "PythonRSASigner; p = ensure_key(); PythonRSASigner.FromRSAKeyPath(str(p)); print(p)")
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    procs = [subprocess.Popen([sys.executable, "-c", child], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    with serve_devices([ScriptedDevice() for _ in range(6)], port=0) as served:
        clients = [AdbDevice(address, timeout_s=10) for address in served.addresses]
        with ThreadPoolExecutor(len(clients)) as pool:
            outputs = list(pool.map(lambda c: c.shell("echo up").output, clients))
        for c in clients:
            c.close()
    assert outputs == ["up\n"] * 6
    made = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    key = tmp_path / "home" / ".config" / "gui-grpo" / "adbkey"
    assert made == [str(key)] * 3
    assert key.stat().st_mode & 0o777 == 0o600
    assert Path(f"{key}.pub").read_text().startswith("QAAAA")  # 64 words, little-endian: an Android key
    assert sorted(p.name for p in key.parent.iterdir()) == [".adbkey.lock", "adbkey", "adbkey.pub"]
