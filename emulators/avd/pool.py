"""``EmulatorPool``: N instances of one AVD for ``avd:NAME:N`` specs.

``start`` launches every instance and waits for all to boot (concurrently); ``devices`` are ``Device``s on
them (adb-shell underneath, or the adb server's serial path). ``reset`` loads a snapshot through the
console, ``health``/``heal`` find and restart crashed instances, ``stop`` ends every process group.
Closing every device of the pool stops the pool, so callers that close what ``connect_devices`` returned
leave no emulator behind; an ``atexit`` hook stops a pool the program forgot.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from PIL import Image

from emulators.adb.host import AdbServerClient
from emulators.avd.instance import EmulatorInstance, PoolConfig
from emulators.avd.sdk import find_tool
from emulators.device import AndroidDevice, ShellResult
from emulators.errors import DeviceError, EmulatorFailed

T = TypeVar("T")


class EmulatorDevice(AndroidDevice):
    """A pool instance as a Device; ``reset`` reloads the pool's snapshot, ``close`` hands it back."""

    def __init__(self, pool: EmulatorPool, instance: EmulatorInstance) -> None:
        self.pool = pool
        self.instance = instance
        self.name = instance.serial
        self.closed = False

    def shell(self, cmd: str, timeout: float | None = None) -> ShellResult:
        return self.instance.device.shell(cmd, timeout)

    def screenshot(self) -> Image.Image:
        return self.instance.device.screenshot()

    def exec_out(self, cmd: str, timeout: float | None = None) -> bytes:
        return self.instance.device.exec_out(cmd, timeout)

    def reset(self, snapshot: str | None = None) -> None:
        self.pool.reset(self.instance.index, snapshot)

    def close(self) -> None:
        self.pool.release(self)


class EmulatorPool:
    """N emulators of one AVD; see the module docstring. Use as a context manager or call ``stop``."""

    def __init__(self, config: PoolConfig) -> None:
        self.config = config
        env = dict(os.environ if config.env is None else config.env)
        self.emulator = find_tool("emulator", config.emulator, env)
        server = None
        if config.transport == "adb-server":
            self.adb: Path | None = find_tool("adb", config.adb, env)
            server = AdbServerClient(config.adb_server_port)
            env["ANDROID_ADB_SERVER_PORT"] = str(server.port)  # where the emulators register themselves
        else:
            self.adb = find_tool("adb", config.adb, env) if config.adb else None
        self.server = server
        self.env = env
        self.log_dir = Path(config.log_dir or tempfile.mkdtemp(prefix="gui-grpo-avd-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.instances = [EmulatorInstance(config, i, self.emulator, self.log_dir, server)
                          for i in range(config.count)]
        self.devices = [EmulatorDevice(self, inst) for inst in self.instances]
        self._lock = threading.Lock()
        self._started = False

    def _each(self, fn: Callable[[EmulatorInstance], T], indices: Sequence[int] | None = None) -> list[T]:
        """``fn`` on the chosen instances in parallel; the first error is raised after all have finished."""
        chosen = [self.instances[i] for i in (range(len(self.instances)) if indices is None else indices)]
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(chosen)))) as ex:
            futures = [ex.submit(fn, inst) for inst in chosen]
            errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error
        return [f.result() for f in futures]

    def _start_adb_server(self) -> None:
        assert self.adb is not None and self.server is not None
        done = subprocess.run([str(self.adb), "-P", str(self.server.port), "start-server"], env=self.env,
                              capture_output=True, timeout=60, check=False)
        if done.returncode != 0:
            raise EmulatorFailed(f"`adb -P {self.server.port} start-server` failed: "
                                 f"{done.stderr.decode(errors='replace')[-500:]}")

    def start(self) -> list[EmulatorDevice]:
        """Launch every instance and wait until all have booted; on any failure stop them all and raise."""
        with self._lock:
            if self._started:
                return self.devices
            self._started = True
            atexit.register(self.stop)
        try:
            if self.server is not None:
                self._start_adb_server()
            for inst in self.instances:
                inst.start(self.env)
            self._each(lambda inst: inst.wait_booted())
        except (DeviceError, OSError, subprocess.SubprocessError):
            self.stop()
            raise
        return self.devices

    def reset(self, index: int, snapshot: str | None = None) -> float:
        """Load ``snapshot`` (default ``config.snapshot``) on instance ``index``; seconds until it answers."""
        return self.instances[index].reset(snapshot)

    def save_snapshot(self, index: int, name: str) -> None:
        self.instances[index].save_snapshot(name)

    def health(self, timeout_s: float = 5.0) -> list[bool]:
        """Per instance: is the process up and is the device answering as booted?"""
        return self._each(lambda inst: inst.healthy(timeout_s))

    def restart(self, index: int) -> float:
        """Stop what is left of instance ``index`` and boot it again; the same device object works after."""
        return self.instances[index].restart(self.env)

    def heal(self, timeout_s: float = 5.0) -> list[int]:
        """Restart every unhealthy instance; return their indices."""
        sick = [i for i, ok in enumerate(self.health(timeout_s)) if not ok]
        if sick:
            self._each(lambda inst: inst.restart(self.env), sick)
        return sick

    def release(self, device: EmulatorDevice) -> None:
        """Close ``device``'s connection; once every device is released the pool stops."""
        with self._lock:
            device.closed = True
            device.instance.device.close()
            done = all(d.closed for d in self.devices)
        if done:
            self.stop()

    def stop(self) -> None:
        """Stop every instance (console kill, then the process group's signals). Safe to call twice."""
        atexit.unregister(self.stop)
        errors = []
        for inst in self.instances:
            try:
                inst.stop()
            except EmulatorFailed as e:
                errors.append(e)
        if errors:
            raise errors[0]

    def __enter__(self) -> EmulatorPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
