"""EmulatorPool against real processes: tests/fake_emulator.py stands in for the SDK's `emulator` tool.

Each instance is a real process group serving PhoneSim over ADB on its adb port and a console on its
console port, so launch, boot wait, snapshot reset, crash, restart and stop all run for real. Ports are
picked outside 5554-5585 so no adb server mistakes the fakes for real emulators.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.adb.devices import connect_devices
from emulators.avd import EmulatorConsole, EmulatorPool, PoolConfig, find_tool
from emulators.avd.process import group_alive
from emulators.errors import DeviceTimeout, EmulatorFailed, SdkToolMissing
from emulators.specs import parse_device_spec

FAKE = Path(__file__).with_name("fake_emulator.py")
AVD = "Test_AVD"
ADB = shutil.which("adb")


def _free_base(count: int) -> int:
    """An even port P such that P .. P+2*count-1 are all free on 127.0.0.1."""
    for _ in range(200):
        base = random.randrange(20000, 60000, 2)
        socks = []
        try:
            for p in range(base, base + 2 * count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports")


class Sdk:
    """A private SDK root holding the fake `emulator`, a private HOME with the AVD and the console token."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        (self.home / ".android" / "avd").mkdir(parents=True)
        (self.home / ".android" / "avd" / f"{AVD}.ini").write_text("path=unused\n")
        self.token_path = self.home / ".emulator_console_auth_token"
        self.token_path.write_text("s3cret-token\n")
        tool = root / "sdk" / "emulator" / "emulator"
        tool.parent.mkdir(parents=True)
        tool.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
        tool.chmod(0o755)
        self.env = {**os.environ, "HOME": str(self.home), "ANDROID_SDK_ROOT": str(root / "sdk"),
                    "FAKE_EMULATOR_BOOT_DELAY_S": "0.3"}
        self.env.pop("ANDROID_ADB_SERVER_PORT", None)
        self.env.pop("ANDROID_AVD_HOME", None)

    def config(self, count: int = 1, **overrides: object) -> PoolConfig:
        options: dict = dict(avd=AVD, count=count, base_port=_free_base(count), env=self.env,
                             token_path=str(self.token_path), boot_timeout_s=20.0, stop_timeout_s=3.0,
                             timeout_s=5.0, log_dir=str(self.root / "logs"))
        options.update(overrides)
        return PoolConfig(**options)


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Sdk:
    return Sdk(tmp_path_factory.mktemp("android"))


@pytest.fixture(scope="module")
def pool(sdk: Sdk) -> Iterator[EmulatorPool]:
    with EmulatorPool(sdk.config(count=2)) as p:
        yield p
    for inst in p.instances:
        assert inst.process is None


def _airplane(device: object) -> str:
    return device.shell("settings get global airplane_mode_on").output.strip()  # type: ignore[attr-defined]


def test_missing_tools_raise_a_named_error_that_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(SdkToolMissing, match="ANDROID_SDK_ROOT"):
        find_tool("emulator", environ={"ANDROID_SDK_ROOT": str(tmp_path), "PATH": str(tmp_path)})
    with pytest.raises(SdkToolMissing, match="not an executable"):
        find_tool("adb", tmp_path / "adb", environ={})
    with pytest.raises(SdkToolMissing):
        EmulatorPool(PoolConfig(avd=AVD, env={"PATH": str(tmp_path)}))


def test_the_emulator_is_found_under_android_home_too(sdk: Sdk) -> None:
    env = {"ANDROID_HOME": sdk.env["ANDROID_SDK_ROOT"], "PATH": ""}
    assert find_tool("emulator", environ=env) == sdk.root / "sdk" / "emulator" / "emulator"


def test_start_waits_for_boot_and_gives_independent_devices(pool: EmulatorPool) -> None:
    a, b = pool.devices
    assert [d.name for d in pool.devices] == [inst.serial for inst in pool.instances]
    assert pool.instances[1].console_port == pool.instances[0].console_port + 2
    for device in pool.devices:
        assert device.shell("getprop sys.boot_completed").output.strip() == "1"
    assert b"-read-only" in Path(f"/proc/{pool.instances[0].pid}/cmdline").read_bytes()
    a.check_shell("settings put global airplane_mode_on 1")
    assert (_airplane(a), _airplane(b)) == ("1", "0")
    assert a.screenshot().size == a.screen_size
    a.check_shell("settings put global airplane_mode_on 0")


def test_boot_wait_really_waits(sdk: Sdk) -> None:
    env = {**sdk.env, "FAKE_EMULATOR_BOOT_DELAY_S": "1.5"}
    with EmulatorPool(sdk.config(env=env)) as p:
        inst = p.instances[0]
        assert inst.healthy()
        assert b"Boot completed in 1" in inst.log_path.read_bytes()
        # booting a second time measures the wait from a fresh launch
        assert 1.0 < p.restart(0) < 10


def test_reset_loads_the_snapshot_through_the_console(pool: EmulatorPool) -> None:
    device = pool.devices[0]
    device.check_shell("settings put global airplane_mode_on 1")
    device.reset()  # the pool's snapshot: default_boot
    assert _airplane(device) == "0"
    device.check_shell("settings put global airplane_mode_on 1")
    pool.save_snapshot(0, "flying")
    device.check_shell("settings put global airplane_mode_on 0")
    pool.reset(0, "flying")
    assert _airplane(device) == "1"
    pool.reset(0)
    assert _airplane(device) == "0"
    with pytest.raises(EmulatorFailed, match="not found"):
        pool.reset(0, "no_such_snapshot")


def test_the_console_demands_the_token(pool: EmulatorPool, sdk: Sdk, tmp_path: Path) -> None:
    port = pool.instances[0].console_port
    with EmulatorConsole(port, sdk.token_path) as console:
        assert AVD in console.command("avd name")
    wrong = tmp_path / "token"
    wrong.write_text("not-the-token")
    with pytest.raises(EmulatorFailed, match="does not match"):
        EmulatorConsole(port, wrong)


def test_a_crashed_instance_is_found_and_restarted(pool: EmulatorPool) -> None:
    inst = pool.instances[1]
    old = inst.pid
    assert old is not None
    os.kill(old, signal.SIGKILL)  # the launcher dies; its qemu child lives on
    deadline = time.monotonic() + 5
    while inst.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_alive(old)
    assert pool.health(timeout_s=2) == [True, False]
    assert pool.heal() == [1]
    assert not group_alive(old)
    assert inst.pid != old and inst.running
    assert pool.devices[1].shell("echo back").output == "back\n"  # the same device object works again
    assert pool.health() == [True, True]


def test_stop_leaves_no_process_and_frees_the_ports(sdk: Sdk) -> None:
    p = EmulatorPool(sdk.config(count=2))
    p.start()
    groups = [inst.pid for inst in p.instances]
    ports = [port for inst in p.instances for port in (inst.console_port, inst.adb_port)]
    p.stop()
    assert all(g is not None and not group_alive(g) for g in groups)
    for port in ports:
        with socket.create_server(("127.0.0.1", port)):  # SO_REUSEADDR: only a listener would block it
            pass
    p.stop()  # twice is fine


def test_stop_signals_an_emulator_whose_console_is_gone(sdk: Sdk) -> None:
    p = EmulatorPool(sdk.config(stop_timeout_s=1.0))
    p.start()
    inst = p.instances[0]
    pgid = inst.pid
    assert pgid is not None
    os.kill(pgid, signal.SIGSTOP)  # hung: the console cannot answer `kill`
    t0 = time.monotonic()
    p.stop()
    assert not group_alive(pgid)
    assert time.monotonic() - t0 < 15


def test_an_unknown_avd_fails_fast_with_the_emulator_output(sdk: Sdk) -> None:
    p = EmulatorPool(sdk.config(avd="No_Such_AVD"))
    t0 = time.monotonic()
    with pytest.raises(EmulatorFailed, match="Unknown AVD name"):
        p.start()
    assert time.monotonic() - t0 < 10
    assert p.instances[0].process is None


def test_boot_timeout_is_a_named_error_and_stops_everything(sdk: Sdk) -> None:
    env = {**sdk.env, "FAKE_EMULATOR_BOOT_DELAY_S": "60"}
    p = EmulatorPool(sdk.config(env=env, boot_timeout_s=1.0))
    with pytest.raises(DeviceTimeout, match="did not finish booting"):
        p.start()
    assert p.instances[0].process is None


def test_a_busy_port_is_refused_before_launch(sdk: Sdk) -> None:
    config = sdk.config()
    with socket.create_server(("127.0.0.1", config.base_port + 1)):
        with pytest.raises(EmulatorFailed, match="already in use"):
            EmulatorPool(config).start()


def test_avd_specs_connect_through_the_pool_and_closing_stops_it(sdk: Sdk) -> None:
    config = sdk.config()
    options = {k: getattr(config, k) for k in ("base_port", "env", "token_path", "boot_timeout_s",
                                                "stop_timeout_s", "log_dir")}
    devices = connect_devices(parse_device_spec(f"avd:{AVD}:1"), timeout_s=5.0, **options)
    assert [d.name for d in devices] == [f"emulator-{config.base_port}"]
    assert devices[0].shell("echo hi").output == "hi\n"
    pgid = devices[0].instance.pid  # type: ignore[attr-defined]
    for d in devices:
        d.close()
    assert not group_alive(pgid)


@pytest.mark.skipif(ADB is None, reason="Debian's adb client is not installed (apt-get install adb)")
def test_the_adb_server_transport_reaches_instances_by_serial(sdk: Sdk, tmp_path: Path) -> None:
    port = _free_base(1)
    env = {**sdk.env, "HOME": str(tmp_path)}
    adb = [ADB, "-P", str(port)]
    subprocess.run([*adb, "start-server"], env=env, check=True, capture_output=True, timeout=30)
    try:
        config = sdk.config(transport="adb-server", adb_server_port=port)
        with EmulatorPool(config) as p:
            device = p.devices[0]
            assert device.shell("getprop sys.boot_completed").output.strip() == "1"
            listed = subprocess.run([*adb, "devices"], env=env, capture_output=True, timeout=30)
            assert f"{device.name}\tdevice" in listed.stdout.decode()
            device.check_shell("settings put global airplane_mode_on 1")
            device.reset()
            assert _airplane(device) == "0"
    finally:
        subprocess.run([*adb, "kill-server"], env=env, capture_output=True, timeout=30)
