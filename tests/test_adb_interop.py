"""The real Debian `adb` client against PhoneSims served over ADB, on a private adb server port.

The same scenarios also run through ``AdbDevice`` (adb-shell) and ``SerialDevice`` (the adb server's host
protocol), and `gui-grpo sim serve` runs as a real subprocess.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from emulators.adb.auth import ensure_key
from emulators.adb.client import AdbDevice
from emulators.adb.host import AdbServerClient, SerialDevice
from emulators.adb.remote import RemoteDevice
from emulators.adb.server import AdbServer, serve_devices
from emulators.device import AndroidDevice, ShellResult
from emulators.errors import DeviceUnreachable
from emulators.phonesim import SimDevice

ADB = shutil.which("adb") or "/usr/bin/adb"
pytestmark = pytest.mark.skipif(not os.path.exists(ADB), reason="Debian's adb client is not installed "
                                                                  "(apt-get install adb)")
# `gui-grpo` with the `sim` command group registered (in case the CLI does not list it yet).
_CLI = ("import sys\nfrom gui_grpo.cli import main as cli\n"
        "cli.COMMAND_MODULES += () if 'sim' in cli.COMMAND_MODULES else ('sim',)\n"
        "sys.exit(cli.main(sys.argv[1:]))")

Served = tuple[AdbServer, AndroidDevice]


def _new_device() -> SimDevice:
    return SimDevice(seed=0, resolution="small")


def _something_to_tap(device: AndroidDevice) -> tuple[int, int]:
    """The centre of the first clickable element on the screen."""
    target = next(e for e in device.elements() if e.clickable)
    x1, y1, x2, y2 = target.bounds
    return (x1 + x2) // 2, (y1 + y2) // 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Adb:
    """The `adb` tool bound to a private server port and a private HOME (its key lives there)."""

    def __init__(self, port: int, home: Path) -> None:
        self.port = port
        self.env = {**os.environ, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(port)}

    def __call__(self, *args: str, timeout: float = 20, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([ADB, "-P", str(self.port), *args], capture_output=True, env=self.env,
                              timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"adb {' '.join(args)} failed: {done.stdout!r} {done.stderr!r}")
        return done


@pytest.fixture(scope="module")
def adb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Adb]:
    tool = Adb(_free_port(), tmp_path_factory.mktemp("adbhome"))
    tool("start-server")
    try:
        yield tool
    finally:
        tool("kill-server", check=False)


@pytest.fixture(scope="module")
def served(adb: Adb) -> Iterator[tuple[AdbServer, AndroidDevice]]:
    device = _new_device()
    with AdbServer(device, port=0) as server:
        out = adb("connect", server.address).stdout.decode()
        assert f"connected to {server.address}" in out
        yield server, device
        adb("disconnect", server.address, check=False)


def test_adb_shell_and_input_tap(adb: Adb, served: Served) -> None:
    server, device = served
    assert adb("-s", server.address, "shell", "echo", "hi").stdout == b"hi\n"
    before = device.screenshot().tobytes()
    x, y = _something_to_tap(device)
    adb("-s", server.address, "shell", "input", "tap", str(x), str(y))
    assert device.screenshot().tobytes() != before


def test_exec_out_screencap_is_a_png_of_wm_size(adb: Adb, served: Served) -> None:
    server, _ = served
    size = adb("-s", server.address, "shell", "wm", "size").stdout.decode()
    w, h = map(int, re.search(r"(\d+)x(\d+)", size).groups())
    png = adb("-s", server.address, "exec-out", "screencap", "-p").stdout
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.size == (w, h)


def test_push_then_ls_and_pull_round_trip(adb: Adb, served: Served, tmp_path: Path) -> None:
    server, _ = served
    local = tmp_path / "payload.bin"
    local.write_bytes(os.urandom(200_000))
    adb("-s", server.address, "push", str(local), "/sdcard/Download/payload.bin")
    listing = adb("-s", server.address, "shell", "ls", "/sdcard/Download").stdout.decode()
    assert "payload.bin" in listing.split()
    back = tmp_path / "back.bin"
    adb("-s", server.address, "pull", "/sdcard/Download/payload.bin", str(back))
    assert back.read_bytes() == local.read_bytes()


def test_uiautomator_dump_then_pull(adb: Adb, served: Served, tmp_path: Path) -> None:
    server, _ = served
    adb("-s", server.address, "shell", "uiautomator", "dump", "/sdcard/window_dump.xml")
    adb("-s", server.address, "pull", "/sdcard/window_dump.xml", str(tmp_path / "dump.xml"))
    assert (tmp_path / "dump.xml").read_text().lstrip().startswith("<?xml")


def test_serial_device_through_the_adb_server(adb: Adb, served: Served) -> None:
    server, _ = served
    with SerialDevice(server.address, server=AdbServerClient(adb.port), timeout_s=10) as device:
        assert device.state() == "device"
        assert device.shell("echo via serial") == ShellResult("via serial\n", 0)
        assert device.shell("nosuchcommand").exit_code != 0
        assert device.screenshot().size == device.screen_size


def test_sim_serve_subprocess(adb: Adb) -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", _CLI, "sim", "serve", "--port", str(port),
                             "--resolution", "small"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == f"serving sim 0 on 127.0.0.1:{port} (adb connect 127.0.0.1:{port})"
        adb("connect", f"127.0.0.1:{port}")
        assert adb("-s", f"127.0.0.1:{port}", "shell", "echo", "served").stdout == b"served\n"
        adb("disconnect", f"127.0.0.1:{port}", check=False)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_require_auth_admits_adbs_key_and_refuses_others(adb: Adb, tmp_path: Path) -> None:
    adb_key = Path(adb.env["HOME"]) / ".android" / "adbkey.pub"  # made by the adb server at start
    stranger = ensure_key(tmp_path / "stranger")
    for trusted, admitted in ((adb_key, True), (Path(f"{stranger}.pub"), False)):
        with serve_devices([_new_device()], port=0, trusted_keys_file=trusted) as served:
            address = served.addresses[0]
            out = adb("connect", address).stdout.decode()
            try:
                assert ("failed to authenticate" not in out) == admitted
                shell = adb("-s", address, "shell", "echo", "hi", check=False)
                assert (shell.stdout == b"hi\n") == admitted
            finally:
                adb("disconnect", address, check=False)


def test_serial_device_errors_name_the_serial(adb: Adb) -> None:
    with pytest.raises(DeviceUnreachable, match="no-such-serial"):
        SerialDevice("no-such-serial", server=AdbServerClient(adb.port), timeout_s=5).shell("echo")
    with pytest.raises(DeviceUnreachable, match="start-server"):
        SerialDevice("x", server=AdbServerClient(_free_port()), timeout_s=5).shell("echo")


@pytest.mark.parametrize("kind", ["adb", "serial"])
def test_same_scenarios_through_adb_device_and_serial_device(adb: Adb, served: Served,
                                                             kind: str, tmp_path: Path) -> None:
    server, device = served
    client: RemoteDevice
    if kind == "adb":
        client = AdbDevice(server.address, key_path=ensure_key(tmp_path / "adbkey"), timeout_s=10)
    else:
        client = SerialDevice(server.address, server=AdbServerClient(adb.port), timeout_s=10)
    with client:
        assert client.shell("echo a; false") == ShellResult("a\n", 1)
        assert client.screenshot_png().size == client.screen_size == device.screen_size
        assert client.screenshot_raw().size == client.screen_size
        device.key("HOME")  # the served device is shared by the module's tests: start from the launcher
        before = device.screenshot().tobytes()
        client.tap(*_something_to_tap(device))
        assert device.screenshot().tobytes() != before
        assert client.ui_dump().lstrip().startswith("<?xml")
