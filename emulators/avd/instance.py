"""One Android emulator process: launch, boot wait, snapshot reset through the console, health, stop.

Instance ``i`` of a pool uses console port ``base_port + 2i``, adb port one above it, serial
``emulator-<console port>``. The emulator runs in its own process group (the launcher starts a qemu child),
and stopping it asks the console to ``kill`` first, then signals the whole group, so nothing is left behind.

Boot is detected through the instance's own device (``getprop sys.boot_completed`` = 1), over the
configured transport: ``adb-port`` talks ADB straight to ``127.0.0.1:<adb port>`` with adb-shell (no adb
server needed; the default), ``adb-server`` goes through the local adb server as ``emulator-<port>`` (the
emulator registers itself with the server named by ``ANDROID_ADB_SERVER_PORT``).
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from emulators.adb.client import AdbDevice
from emulators.adb.host import AdbServerClient, SerialDevice
from emulators.adb.remote import MissingExitStatus, RemoteDevice
from emulators.avd.console import EmulatorConsole
from emulators.avd.process import stop_group
from emulators.device import DEFAULT_TIMEOUT_S
from emulators.errors import DeviceTimeout, DeviceUnreachable, EmulatorFailed

Transport = Literal["adb-port", "adb-server"]
EMULATOR_FLAGS = ("-no-window", "-no-audio", "-no-boot-anim", "-read-only", "-no-snapshot-save")
_NOT_READY = (DeviceUnreachable, DeviceTimeout, MissingExitStatus)


@dataclass
class PoolConfig:
    """How an emulator pool starts and drives its instances."""

    avd: str  # the AVD every instance starts from (``emulator -list-avds`` shows the names)
    count: int = 1  # how many instances
    base_port: int = 5554  # console port of instance 0; instance i uses base_port + 2i and the port above
    emulator: str | None = None  # None: $ANDROID_SDK_ROOT|$ANDROID_HOME/emulator/emulator, then PATH
    adb: str | None = None  # only the adb-server transport needs it (SDK platform-tools/adb, PATH)
    transport: Transport = "adb-port"  # how devices and the boot wait reach the instances (module docstring)
    adb_server_port: int | None = None  # for adb-server; None: ANDROID_ADB_SERVER_PORT or 5037
    snapshot: str = "default_boot"  # the snapshot ``reset`` loads
    token_path: str | None = None  # console auth token file; None: ~/.emulator_console_auth_token
    boot_timeout_s: float = 600.0  # launch to sys.boot_completed=1
    stop_timeout_s: float = 10.0  # after console kill, before SIGTERM; and SIGTERM before SIGKILL
    timeout_s: float = DEFAULT_TIMEOUT_S  # every device call
    extra_args: tuple[str, ...] = ()  # more emulator flags (e.g. "-gpu", "swiftshader_indirect")
    env: Mapping[str, str] | None = None  # the emulators' environment; None: this process's
    log_dir: str | None = None  # where each instance's output goes; None: a new temporary directory
    flags: tuple[str, ...] = field(default=EMULATOR_FLAGS)  # headless, shared read-only AVD, no snapshot save

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"count must be at least 1, got {self.count}")
        if not 1 <= self.base_port or self.base_port + 2 * self.count > 65535:
            raise ValueError(f"base_port {self.base_port} leaves no room for {self.count} instances "
                             "(each takes two ports); pick a base port from 5554 to 5682 for real emulators")
        if self.transport not in ("adb-port", "adb-server"):
            raise ValueError(f"transport must be 'adb-port' or 'adb-server', got {self.transport!r}")
        if self.boot_timeout_s <= 0 or self.timeout_s <= 0 or self.stop_timeout_s < 0:
            raise ValueError("boot_timeout_s and timeout_s must be positive, stop_timeout_s not negative")


def _port_free(port: int) -> bool:
    """Nothing listens on ``port`` (connections lingering in TIME_WAIT do not count, as for the emulator)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class EmulatorInstance:
    """Instance ``index`` of a pool: its ports, process and device."""

    def __init__(self, config: PoolConfig, index: int, emulator: Path, log_dir: Path,
                 server: AdbServerClient | None = None) -> None:
        self.config = config
        self.index = index
        self.emulator = emulator
        self.console_port = config.base_port + 2 * index
        self.adb_port = self.console_port + 1
        self.serial = f"emulator-{self.console_port}"
        self.log_path = log_dir / f"{self.serial}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.lock = threading.RLock()  # one lifecycle operation at a time
        self.device: RemoteDevice
        if server is None:
            self.device = AdbDevice(f"127.0.0.1:{self.adb_port}", timeout_s=config.timeout_s)
        else:
            self.device = SerialDevice(self.serial, server=server, timeout_s=config.timeout_s)

    def command(self) -> list[str]:
        return [str(self.emulator), "-avd", self.config.avd, "-port", str(self.console_port),
                *self.config.flags, *self.config.extra_args]

    @property
    def pid(self) -> int | None:
        """The launcher's pid, which is also the id of the instance's process group."""
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self, env: Mapping[str, str]) -> None:
        """Launch the emulator process (does not wait for boot)."""
        with self.lock:
            if self.running:
                return
            busy = [p for p in (self.console_port, self.adb_port) if not _port_free(p)]
            if busy:
                raise EmulatorFailed(f"{self.serial}: port {busy[0]} is already in use (another emulator or "
                                     "`sim serve`?); stop it or give the pool another base_port")
            with open(self.log_path, "ab") as log:
                try:
                    self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                                    stderr=subprocess.STDOUT, env=dict(env),
                                                    start_new_session=True)
                except OSError as e:
                    raise EmulatorFailed(f"{self.serial}: cannot run {self.emulator} ({e})") from e

    def _boot_completed(self, timeout: float) -> bool:
        try:
            return self.device.shell("getprop sys.boot_completed", timeout=timeout).output.strip() == "1"
        except _NOT_READY:
            return False

    def wait_booted(self, timeout_s: float | None = None) -> float:
        """Block until ``sys.boot_completed`` is 1; return the seconds waited. Raises if the process exits."""
        timeout_s = self.config.boot_timeout_s if timeout_s is None else timeout_s
        t0 = time.monotonic()
        deadline = t0 + timeout_s
        while True:
            if not self.running:
                code = None if self.process is None else self.process.returncode
                raise EmulatorFailed(f"{self.serial} exited (status {code}) before it booted; its output "
                                     f"({self.log_path}) ends:\n{self.log_tail()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeout(f"{self.serial} did not finish booting within {timeout_s:.0f}s; see "
                                    f"{self.log_path}, or raise boot_timeout_s (first boots are slow)")
            if self._boot_completed(min(5.0, max(0.1, remaining))):
                return time.monotonic() - t0
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def console(self, timeout_s: float = 10.0) -> EmulatorConsole:
        return EmulatorConsole(self.console_port, self.config.token_path, timeout_s=timeout_s)

    def reset(self, snapshot: str | None = None) -> float:
        """Load ``snapshot`` (default: the pool's) through the console and wait until the device answers."""
        name = snapshot or self.config.snapshot
        with self.lock:
            with self.console() as console:
                console.snapshot_load(name)
            self.device.close()  # the guest's adbd went back in time with the snapshot: reconnect
            return self.wait_booted()

    def save_snapshot(self, name: str) -> None:
        with self.lock, self.console() as console:
            console.snapshot_save(name)

    def healthy(self, timeout_s: float = 5.0) -> bool:
        """The process runs and the device says it has booted, within ``timeout_s``."""
        return self.running and self._boot_completed(timeout_s)

    def stop(self) -> None:
        """Console ``kill``, then SIGTERM and SIGKILL to the process group until none of it is left."""
        with self.lock:
            self.device.close()
            process, self.process = self.process, None
            if process is None:
                return
            asked = False
            if process.poll() is None:
                try:
                    with self.console(timeout_s=min(5.0, self.config.stop_timeout_s or 1.0)) as console:
                        console.kill()
                    asked = True
                except EmulatorFailed:
                    pass  # a hung or half-dead emulator: signals follow
            grace = self.config.stop_timeout_s
            if not stop_group(process, grace if asked else 0.0, grace):
                raise EmulatorFailed(f"{self.serial}: process group {process.pid} survived SIGKILL")

    def restart(self, env: Mapping[str, str]) -> float:
        """Stop whatever is left of this instance, launch it again and wait for boot."""
        with self.lock:
            self.stop()
            self.start(env)
            return self.wait_booted()
