#!/usr/bin/env python3
"""A test-only stand-in for the Android ``emulator`` tool, so the emulator pool runs against real processes.

It takes the flags the pool passes (``-avd NAME -port P -no-window ...``), refuses an AVD that has no
``NAME.ini`` under ``$ANDROID_AVD_HOME`` (or ``$HOME/.android/avd``) as the real tool does, and then:

- serves a PhoneSim over the ADB protocol on port P+1 (``emulators.adb.serve_devices``); until the boot
  delay (``FAKE_EMULATOR_BOOT_DELAY_S``, default 0.3 s) has passed, ``getprop sys.boot_completed`` prints
  nothing; at boot it keeps the state as the ``default_boot`` snapshot, as a quick-boot AVD has one;
- serves a console on port P that demands ``auth <token>`` from ``$HOME/.emulator_console_auth_token``
  (written with a random token if missing, as the real emulator does) and answers ``avd snapshot
  save|load|list NAME``, ``avd name`` and ``kill``; ``load`` puts a copy of the saved PhoneSim in place
  behind the same ADB port (open connections stay, as the emulator's host-side adb socket does);
- starts a child process standing for qemu, in the launcher's process group, so that killing only the launcher
  (a crash) leaves a process behind for the pool to clean up;
- registers with the adb server as the real emulator does (``host:emulator:<adb port>``), but only when
  ``ANDROID_ADB_SERVER_PORT`` is set, so tests never touch a developer's adb server on 5037.

Snapshots live in memory: PhoneSim's ``fork`` copies the whole device state.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from PIL import Image

from emulators.adb.server import ServedDevices, serve_devices
from emulators.device import AndroidDevice, ShellResult
from emulators.phonesim import SimDevice

BANNER = ("Android Console: Authentication required\r\n"
          "Android Console: type 'auth <auth_token>' to authenticate\r\n"
          "Android Console: you can find your <auth_token> in \r\n'{path}'\r\nOK\r\n")


class SwappableSim(AndroidDevice):
    """The device the ADB server sees: whichever PhoneSim the last snapshot load put in place."""

    def __init__(self, sim: SimDevice) -> None:
        self.sim = sim
        self.name = "fake-emulator"

    @property
    def phone(self) -> object:  # the sync service reads files through device.phone.state
        return self.sim.phone

    def shell(self, cmd: str, timeout: float | None = None) -> ShellResult:
        return self.sim.shell(cmd)

    def exec_out(self, cmd: str) -> bytes:
        return self.sim.exec_out(cmd)

    def screenshot(self) -> Image.Image:
        return self.sim.screenshot()


class FakeEmulator:
    def __init__(self, avd: str, port: int, boot_delay_s: float, token_path: Path) -> None:
        self.avd = avd
        self.port = port
        self.token_path = token_path
        self.stopping = threading.Event()
        sim = SimDevice(seed=0, resolution=os.environ.get("FAKE_EMULATOR_RESOLUTION", "small"))
        sim.shell_interpreter.props.pop("sys.boot_completed", None)
        self.device = SwappableSim(sim)
        self.snapshots: dict[str, SimDevice] = {}
        self.console = socket.create_server(("127.0.0.1", port))
        self.served: ServedDevices = serve_devices([self.device], port=port + 1)
        self.lock = self.served.servers[0].device_lock
        self.qemu = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        threading.Thread(target=self._boot, args=(boot_delay_s,), daemon=True).start()
        threading.Thread(target=self._accept, daemon=True).start()

    def _boot(self, delay_s: float) -> None:
        t0 = time.monotonic()
        if self.stopping.wait(delay_s):
            return
        with self.lock:
            self.device.sim.shell_interpreter.props["sys.boot_completed"] = "1"
            self.snapshots["default_boot"] = self.device.sim.fork(1)[0]
        print(f"INFO    | Boot completed in {int((time.monotonic() - t0) * 1000)} ms", flush=True)

    def register_with_adb_server(self) -> None:
        port = os.environ.get("ANDROID_ADB_SERVER_PORT")
        if not port:
            return
        request = f"host:emulator:{self.port + 1}".encode()
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=2) as s:
                s.sendall(f"{len(request):04x}".encode() + request)
        except OSError as e:
            print(f"WARNING | cannot reach the adb server on {port}: {e}", flush=True)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.console.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        token = self.token_path.read_text().strip()
        authed = not token
        with conn, conn.makefile("rwb", buffering=0) as f:
            f.write(BANNER.format(path=self.token_path).encode() if token else b"Android Console\r\nOK\r\n")
            for raw in f:
                line = raw.decode(errors="replace").strip()
                if line in ("quit", "exit"):
                    return
                if line.startswith("auth "):
                    authed = line[5:].strip() == token
                    f.write(b"Android Console: type 'help' for a list of commands\r\nOK\r\n" if authed else
                            b"KO: authentication token does not match ~/.emulator_console_auth_token\r\n")
                    continue
                if not authed:
                    f.write(b"KO: unknown command, try 'help'\r\n")
                    continue
                f.write(self._command(line.split()).encode())
                if line == "kill":
                    self.stopping.set()
                    return

    def _command(self, words: list[str]) -> str:
        if words == ["kill"]:
            return "OK: killing emulator, bye bye\r\n"
        if words == ["avd", "name"]:
            return f"{self.avd}\r\nOK\r\n"
        if words[:2] != ["avd", "snapshot"] or len(words) < 3:
            return "KO: unknown command, try 'help'\r\n"
        verb, names = words[2], words[3:]
        if verb == "list":
            return "".join(f"{name}\r\n" for name in sorted(self.snapshots)) + "OK\r\n"
        if verb not in ("save", "load") or len(names) != 1:
            return "KO: bad snapshot command\r\n"
        name = names[0]
        with self.lock:
            if verb == "save":
                self.snapshots[name] = self.device.sim.fork(1)[0]
                return "OK\r\n"
            if name not in self.snapshots:
                return f"KO: snapshot '{name}' not found\r\n"
            self.device.sim = self.snapshots[name].fork(1)[0]
        return "OK\r\n"

    def close(self) -> None:
        self.stopping.set()
        self.console.close()
        self.served.close()
        self.qemu.terminate()
        self.qemu.wait(10)


def _avd_exists(name: str) -> bool:
    home = os.environ.get("ANDROID_AVD_HOME") or str(Path.home() / ".android" / "avd")
    return (Path(home) / f"{name}.ini").is_file()


def _token_path() -> Path:
    path = Path.home() / ".emulator_console_auth_token"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="emulator", prefix_chars="-")
    parser.add_argument("-avd", required=True)
    parser.add_argument("-port", type=int, default=5554)
    for flag in ("-no-window", "-no-audio", "-no-boot-anim", "-read-only", "-no-snapshot-save"):
        parser.add_argument(flag, action="store_true")
    args = parser.parse_args(argv)
    if not _avd_exists(args.avd):
        print(f"PANIC: Unknown AVD name [{args.avd}], use -list-avds to see valid list.", flush=True)
        return 1
    try:
        delay = float(os.environ.get("FAKE_EMULATOR_BOOT_DELAY_S", "0.3"))
        emulator = FakeEmulator(args.avd, args.port, delay, _token_path())
    except OSError as e:
        print(f"ERROR   | cannot listen on ports {args.port}/{args.port + 1}: {e}", flush=True)
        return 1

    def on_term(signum: int, frame: FrameType | None) -> None:
        emulator.stopping.set()

    signal.signal(signal.SIGTERM, on_term)
    emulator.register_with_adb_server()
    print(f"INFO    | emulator {args.avd}: console on {args.port}, adb on {args.port + 1}", flush=True)
    while not emulator.stopping.wait(0.5):
        pass
    emulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
